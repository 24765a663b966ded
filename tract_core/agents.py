"""Sub-agents: child tracts spawned from a parent, and their work summarised back into it.

Spawning creates the child's tract row linked to the parent's HEAD and commits the messages it
starts with (:func:`seed_messages`, :func:`plant_seeds`), all in one transaction. Absorbing reads
the child's own work (:func:`subagent_work`: its context without what it was seeded with) and
summarises it (:func:`summarize_work`) into one message on the parent, whose metadata
(:func:`provenance`) links back to the child.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .annotations import write_annotation
from .commits import write_commit
from .errors import InvalidInputError, shown
from .history import walk_log
from .objects import ContentType, Operation, Priority
from .refs import DEFAULT_BRANCH, check_branch_name
from .store.base import Session
from .summarize import summarize
from .tokens import TokenCounter

if TYPE_CHECKING:
    from .compile import Compiler

__all__ = [
    "INCLUDE_CHOICES",
    "Seed",
    "check_include",
    "child_id",
    "create_child",
    "seed_messages",
    "plant_seeds",
    "subagent_work",
    "summarize_work",
    "provenance",
]

Seed = tuple[str, dict[str, Any], Priority]
"""A message a child starts with: (the parent's commit it comes from, the message, its priority)."""

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


def seed_messages(session: Session, compiler: Compiler, parent_id: str, head: str | None, include: Any) -> list[Seed]:
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


def plant_seeds(session: Session, compiler: Compiler, tract_id: str, seeds: Sequence[Seed]) -> None:
    """Commit the seeds on the child's checked-out branch, with their priorities (caller's transaction).

    A seed remembers its origin in its metadata (``from_parent``); a SKIP keeps its annotation, and
    so does a PINNED message that is not pinned by default (instructions are).
    """
    for origin, message, priority in seeds:
        stored, blob, tokens = write_commit(
            session,
            compiler,
            tract_id,
            message,
            role=None,
            content_type=None,
            operation=Operation.APPEND,
            response_to=None,
            generation_config=None,
            metadata={"from_parent": origin},
            commit_message=None,
        )
        compiler.remember(stored, blob, tokens)
        kept_by_default = priority is Priority.PINNED and stored.commit.content_type == ContentType.INSTRUCTION
        if priority is Priority.SKIP or (priority is Priority.PINNED and not kept_by_default):
            write_annotation(session, compiler, tract_id, stored.commit.hash, priority, None)


def subagent_work(session: Session, compiler: Compiler, tract_id: str) -> tuple[list[dict[str, Any]], str | None]:
    """A child's own work: the messages of its compiled context it was not seeded with, and its HEAD."""
    head, marker = session.refs.head_with_marker(tract_id)
    context = compiler.compile(session, head.commit, marker)
    seeded: set[str] = set()
    if head.commit is not None:
        log = walk_log(session, compiler, tract_id, head.commit, None)
        seeded = {c.hash for c in log if c.metadata and "from_parent" in c.metadata}
    messages = [m for m, h in zip(context.messages, context.commit_hashes, strict=True) if h not in seeded]
    return messages, head.commit


def summarize_work(
    messages: Sequence[dict[str, Any]],
    *,
    llm: Any,
    default_llm: Any,
    counter: TokenCounter,
    target_tokens: int | None,
    prompt: str | None,
) -> str:
    """A summary of a child's work by ``llm`` (else ``default_llm``) within ``target_tokens`` (default 500).

    Raises:
        InvalidInputError: Neither model is set.
    """
    model = llm if llm is not None else default_llm
    if model is None:
        raise InvalidInputError("absorb needs content= or an llm= (or TractConfig(llm=...)) to summarise with")
    return summarize(model, messages, counter=counter, target_tokens=target_tokens or 500, prompt=prompt).text
