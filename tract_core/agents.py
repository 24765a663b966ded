"""Sub-agents: child tracts spawned from a parent, and their work summarised back into it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import InvalidInputError, shown
from .objects import Priority
from .refs import DEFAULT_BRANCH, check_branch_name
from .store.base import Session

if TYPE_CHECKING:
    from .compile import Compiler

__all__ = ["INCLUDE_CHOICES", "check_include", "child_id", "create_child", "seed_messages", "provenance"]

INCLUDE_CHOICES = ("nothing", "pinned", "all")
"""What a spawned child starts with: nothing, the parent's pinned messages (its instructions), or
the parent's whole compiled context; an integer N means the pinned messages plus the last N."""


def check_include(include: Any) -> str | int:
    """Validate what a child starts with (None means ``"nothing"``); return it."""
    if include is None:
        return "nothing"
    if isinstance(include, str) and include in INCLUDE_CHOICES:
        return include
    if isinstance(include, int) and not isinstance(include, bool) and include >= 0:
        return include
    raise InvalidInputError(
        f"include must be one of {', '.join(INCLUDE_CHOICES)} or a number of recent messages, not {shown(include)}"
    )


def child_id(parent_id: str, name: str) -> str:
    """The tract id of ``parent_id``'s child called ``name``."""
    check_branch_name(name)
    return f"{parent_id}/{name}"


def create_child(session: Session, parent_id: str, name: str, config_json: str) -> tuple[str, str | None]:
    """Create the child tract row linked to the parent's current HEAD; return (child id, spawn commit)."""
    tract_id = child_id(parent_id, name)
    head = session.refs.head(parent_id)
    if not session.tracts.create(tract_id, config_json, parent_id, head.commit):
        raise InvalidInputError(f"a tract {tract_id!r} already exists; give the sub-agent another name")
    session.refs.init_head(tract_id, DEFAULT_BRANCH)
    return tract_id, head.commit


def seed_messages(
    session: Session, compiler: Compiler, parent_id: str, head: str | None, include: Any
) -> list[tuple[str, dict[str, Any], Priority]]:
    """The parent's messages a child starts with: (origin commit, message, priority) in order."""
    include = check_include(include)
    if include == "nothing" or head is None:
        return []
    marker = session.refs.head_with_marker(parent_id)[1]
    state = compiler.state(session, head, marker)
    visible = set(state.context.commit_hashes)
    slots = [s for s in state.slots if s.key in visible]
    if include == "all":
        chosen = slots
    else:
        recent = {s.key for s in slots[-include:]} if isinstance(include, int) and include else set()
        chosen = [s for s in slots if s.priority is Priority.PINNED or s.key in recent]
    return [(s.key, dict(s.message), s.priority) for s in chosen]


def provenance(child_tract: str, child_head: str | None, messages: int) -> dict[str, Any]:
    """The metadata linking a parent's summary commit back to the child's work."""
    return {"subagent": {"tract": child_tract, "head": child_head, "messages": messages}}
