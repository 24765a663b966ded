"""Annotating messages, as append-only rows anchored at HEAD: a priority (PINNED, SKIP or NORMAL) or,
with ``set_lifecycle``, a new lifecycle (see :mod:`tract_core.tree.lifecycle`)."""

from __future__ import annotations

from typing import Any

from .compile import Compiler
from .errors import CommitNotFoundError, InvalidInputError, shown
from .objects import Operation, Priority, check_text
from .records import AnnotationInfo, LifecycleInfo
from .refs import Ref, resolve
from .store.base import AnnotationEntry, Session
from .tree.lifecycle import LIFECYCLE_ROW, Lifecycle, coerce_lifecycle, lifecycle_of_row, lifecycle_row_json

__all__ = [
    "coerce_priority",
    "write_annotation",
    "annotation_info",
    "lifecycle_info",
    "write_lifecycle",
    "carry_lifecycle",
]


def coerce_priority(priority: Any) -> Priority:
    """Accept ``PINNED``/``SKIP``/``NORMAL`` (or their string values, any case)."""
    if isinstance(priority, Priority):
        return priority
    if isinstance(priority, str) and priority.lower() in {p.value for p in Priority}:
        return Priority(priority.lower())
    raise InvalidInputError(f"priority must be PINNED, SKIP or NORMAL, not {shown(priority)}")


def annotation_info(row: AnnotationEntry) -> AnnotationInfo:
    """The public record of a stored annotation (priority) row."""
    return AnnotationInfo(row.target, Priority(row.priority), row.reason, row.anchor, row.created_at)


def lifecycle_info(row: AnnotationEntry) -> LifecycleInfo:
    """The public record of a stored lifecycle row."""
    assert row.lifecycle is not None
    return LifecycleInfo(row.target, lifecycle_of_row(row.lifecycle)[0], row.reason, row.anchor, row.created_at)


def _write_row(
    session: Session,
    compiler: Compiler,
    tract_id: str,
    target: Ref,
    priority: str,
    reason: str | None,
    lifecycle: str | None,
) -> AnnotationEntry:
    """Write one row about the message ``target`` names, anchored at the current HEAD; return it.

    An EDIT names the message it edits. The row applies to HEAD's compile and to everything
    committed on top of it; branches that already went on from HEAD's commit are not affected.
    """
    if reason is not None:
        check_text(reason, "reason")
    session.refs.head(tract_id, lock=True)  # PostgreSQL: wait for a writer rewriting HEAD's line (a compression)
    head, marker = session.refs.head_with_marker(tract_id)
    what = "annotate" if lifecycle is None else "change the lifecycle of"
    if head.commit is None:
        raise CommitNotFoundError(f"tract {tract_id!r} has no commits to {what} yet")
    key = resolve(session, tract_id, target, head=head)
    stored = session.commits.get(tract_id, key)
    if stored is not None and stored.commit.operation is Operation.EDIT and stored.commit.response_to:
        key = stored.commit.response_to
    state = compiler.state(session, head.commit, marker)
    if state.index_of(key) is None:
        raise CommitNotFoundError(
            f"commit {key[:12]} carries no message in the current history (HEAD {head.commit[:12]}); "
            f"{what} a message HEAD can reach"
        )
    excluded = session.commits.children(tract_id, head.commit)
    row_id = session.annotations.add(tract_id, key, priority, reason, head.commit, excluded, lifecycle)
    return next(r for r in reversed(session.annotations.for_target(tract_id, key)) if r.id == row_id)


def write_annotation(
    session: Session, compiler: Compiler, tract_id: str, target: Ref, priority: Any, reason: str | None
) -> AnnotationInfo:
    """Record a priority for the message ``target`` names, anchored at the current HEAD.

    Annotating an EDIT annotates the message it edits. The annotation applies to HEAD's compile
    and to everything committed on top of it; branches that already went on from HEAD's commit
    are not affected.
    """
    level = coerce_priority(priority)
    return annotation_info(_write_row(session, compiler, tract_id, target, level.value, reason, None))


def write_lifecycle(
    session: Session, compiler: Compiler, tract_id: str, target: Ref, lifecycle: Any, reason: str | None
) -> LifecycleInfo:
    """Record a new lifecycle for the message ``target`` names, anchored at the current HEAD (like an
    annotation); its ages count from the cycle HEAD is in. ``lifecycle``: a Lifecycle, a dict of its
    fields, or None (permanent)."""
    life = coerce_lifecycle(lifecycle)
    row = _write_row(session, compiler, tract_id, target, LIFECYCLE_ROW, reason, lifecycle_row_json(life))
    return lifecycle_info(row)


def carry_lifecycle(
    session: Session, tract_id: str, target: str, lifecycle: Lifecycle | None, age: int, anchor: str, reason: str
) -> None:
    """Write a lifecycle row at ``anchor`` that gives ``target`` ``lifecycle``, already ``age`` cycles old
    there (rebase, cherry-pick, merge and compression keep a changed lifecycle's count going)."""
    json_text = lifecycle_row_json(lifecycle, max(age, 0))
    session.annotations.add(tract_id, target, LIFECYCLE_ROW, reason, anchor, (), json_text)
