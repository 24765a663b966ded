"""Annotating messages: PINNED, SKIP or NORMAL, as append-only rows anchored at HEAD."""

from __future__ import annotations

from typing import Any

from .compile import Compiler
from .errors import CommitNotFoundError, InvalidInputError, shown
from .objects import Operation, Priority, check_text
from .records import AnnotationInfo
from .refs import Ref, resolve
from .store.base import AnnotationEntry, Session

__all__ = ["coerce_priority", "write_annotation", "annotation_info"]


def coerce_priority(priority: Any) -> Priority:
    """Accept ``PINNED``/``SKIP``/``NORMAL`` (or their string values, any case)."""
    if isinstance(priority, Priority):
        return priority
    if isinstance(priority, str) and priority.lower() in {p.value for p in Priority}:
        return Priority(priority.lower())
    raise InvalidInputError(f"priority must be PINNED, SKIP or NORMAL, not {shown(priority)}")


def annotation_info(row: AnnotationEntry) -> AnnotationInfo:
    """The public record of a stored annotation row."""
    return AnnotationInfo(row.target, Priority(row.priority), row.reason, row.anchor, row.created_at)


def write_annotation(
    session: Session, compiler: Compiler, tract_id: str, target: Ref, priority: Any, reason: str | None
) -> AnnotationInfo:
    """Record a priority for the message ``target`` names, anchored at the current HEAD.

    Annotating an EDIT annotates the message it edits. The annotation applies to HEAD's compile
    and to everything committed on top of it; branches that already went on from HEAD's commit
    are not affected.
    """
    level = coerce_priority(priority)
    if reason is not None:
        check_text(reason, "reason")
    session.refs.head(tract_id, lock=True)  # PostgreSQL: wait for a writer rewriting HEAD's line (a compression)
    head, marker = session.refs.head_with_marker(tract_id)
    if head.commit is None:
        raise CommitNotFoundError(f"tract {tract_id!r} has no commits to annotate yet")
    key = resolve(session, tract_id, target, head=head)
    stored = session.commits.get(tract_id, key)
    if stored is not None and stored.commit.operation is Operation.EDIT and stored.commit.response_to:
        key = stored.commit.response_to
    state = compiler.state(session, head.commit, marker)
    if state.index_of(key) is None:
        raise CommitNotFoundError(
            f"commit {key[:12]} carries no message in the current history (HEAD {head.commit[:12]}); "
            "annotate a message HEAD can reach"
        )
    excluded = session.commits.children(tract_id, head.commit)
    session.annotations.add(tract_id, key, level.value, reason, head.commit, excluded)
    rows = session.annotations.for_target(tract_id, key)
    return annotation_info(rows[-1])
