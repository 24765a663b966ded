"""Taking snapshots from a store: resolving what ``Tract.snapshot(at=...)`` names and compiling it.

Kept apart from :mod:`.snapshot` (pure data) because it resolves refs, and :mod:`tract_core.refs`
itself builds on :mod:`.temporal`.
"""

from __future__ import annotations

from typing import Any

from ..compile import Compiler
from ..formats import CompiledContext
from ..refs import Ref, check_ref, resolve
from ..store.base import Session
from .snapshot import Snapshot, snapshot_of
from .temporal import is_temporal, parse_temporal, resolve_points

__all__ = ["check_snapshot_at", "take_contexts", "take_snapshots"]


def check_snapshot_at(at: Ref) -> bool:
    """Refuse a malformed ``at`` before any database work; return whether it names several contexts
    (a range or ``@history``).

    Raises:
        TemporalAddressError: A malformed temporal address.
        InvalidInputError: A malformed ref.
    """
    if is_temporal(at):
        return not parse_temporal(at).single
    check_ref(at)
    return False


def _label(at: Any) -> str:
    hash_attr = getattr(at, "hash", None)
    return hash_attr if isinstance(hash_attr, str) else str(at).strip()


def take_contexts(session: Session, compiler: Compiler, tract_id: str, at: Ref) -> list[tuple[str, CompiledContext]]:
    """The compiled context(s) ``at`` names, oldest first, each with its label (``"@t-2"``, a hash...).

    Same arguments and errors as :func:`take_snapshots`.
    """
    head, marker = session.refs.head_with_marker(tract_id)
    if is_temporal(at):  # a range, @history, or @t-k (@t0 of a tract with no commits is the empty context)
        points = resolve_points(session, tract_id, parse_temporal(at), head)
    else:
        points = [(_label(at), resolve(session, tract_id, at, head=head))]
    return [(label, compiler.compile(session, commit, marker)) for label, commit in points]


def take_snapshots(session: Session, compiler: Compiler, tract_id: str, at: Ref) -> list[Snapshot]:
    """The snapshot(s) ``at`` names, oldest first, as the session sees HEAD.

    Args:
        session: A read unit of work (its ``refs`` answer with the handle's HEAD).
        compiler: The handle's compiler (its cache is shared with ``compile()``).
        tract_id: The tract.
        at: A temporal address or range, or anything that names a commit.

    Raises:
        TemporalAddressError: A malformed address, or one back past the first cycle.
        NotFoundError: ``at`` names no commit.
    """
    return [snapshot_of(context, label) for label, context in take_contexts(session, compiler, tract_id, at)]
