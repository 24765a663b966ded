"""Garbage collection: remove what no line of history needs any more, after its retention window.

Two kinds of commits can go: *orphans* (left unreachable by resets, deleted branches, rebases) once
older than ``orphan_retention_days``, and *archived* commits (taken out of the history by a
compression) once archived longer than ``archive_retention_days``. Nothing goes that a branch,
HEAD, a pending compression, a hold (a saved checkpoint) or a spawned child's starting point reaches (through parents or
an EDIT's target), nor an orphan a reflog entry inside the orphan window reaches; a commit another
kept commit builds on stays too. Then blobs no commit of any tract carries are removed, and reflog
entries older than the orphan window expire. ``dry_run=True`` reports without changing anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from .clock import now as clock_now
from .errors import InvalidInputError, shown
from .store.base import HistoryEntry, Session

__all__ = ["GCResult", "collect_garbage", "DAY", "VACUUM_MODES", "check_vacuum", "reclaim_space"]

VACUUM_MODES = ("incremental", "full", None)
"""How a gc gives freed space back to the file system (see :meth:`tract_core.Tract.gc`)."""

DAY = 86_400.0
"""Seconds in a day (retention windows are in days; fractions are fine)."""


@dataclass(frozen=True)
class GCResult:
    """What a gc removed (or, with ``dry_run``, would remove).

    Attributes:
        dry_run: Whether anything was actually removed.
        commits: The commits removed.
        orphans: How many of them were orphans.
        archived: How many were archived by compressions.
        blobs: Blobs removed (no commit of any tract carried them any more).
        blob_bytes: Bytes of those blobs' content.
        reflog_entries: Reflog entries expired.
        kept_unreachable: Unreachable commits kept because they are still inside their window (or
            something kept builds on them).
        file_bytes_before: SQLite file size (with WAL) before (None elsewhere).
        file_bytes_after: And after reclaiming space (None elsewhere, or with ``dry_run``).
    """

    dry_run: bool
    commits: tuple[str, ...]
    orphans: int
    archived: int
    blobs: int
    blob_bytes: int
    reflog_entries: int
    kept_unreachable: int
    file_bytes_before: int | None = None
    file_bytes_after: int | None = None


def _closure(starts: Iterable[str], history: Mapping[str, HistoryEntry]) -> set[str]:
    """Every commit reachable from ``starts`` through parents and EDIT targets."""
    found: set[str] = set()
    stack = [h for h in starts if h in history]
    while stack:
        commit = stack.pop()
        if commit in found:
            continue
        found.add(commit)
        entry = history[commit]
        stack.extend(p for p in entry.parents if p in history)
        if entry.response_to is not None and entry.response_to in history:
            stack.append(entry.response_to)
    return found


def _check_days(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidInputError(f"{name} must be a non-negative number of days, not {value!r}")
    return float(value)


def collect_garbage(
    session: Session,
    tract_id: str,
    *,
    orphan_retention_days: float,
    archive_retention_days: float,
    dry_run: bool,
    now: float | None = None,
    roots: Iterable[str] = (),
) -> GCResult:
    """Remove unreachable commits past their windows, then unreferenced blobs (in the caller's transaction).

    The tract's lock is taken exclusively first (:class:`~tract_core.store.repository.TractLocks`):
    no writer can move the history between the reads reachability is computed on and the deletes.
    ``roots`` adds commits to keep (e.g. a detached handle's HEAD).
    """
    now = clock_now() if now is None else now
    orphan_cutoff = now - _check_days(orphan_retention_days, "orphan_retention_days") * DAY
    archive_cutoff = now - _check_days(archive_retention_days, "archive_retention_days") * DAY
    session.locks.exclusive(tract_id)
    history = session.commits.history(tract_id)
    ages = session.commits.ages(tract_id)
    roots = [*roots, *(r.commit for r in session.refs.list(tract_id) if r.commit)]
    head = session.refs.stored_head(tract_id)
    if head.commit:
        roots.append(head.commit)
    for record in session.compressions.list(tract_id, "pending"):
        roots += [h for h in (record.old_head, record.range_from, record.range_to) if h]
    roots += [child.parent_commit for child in session.tracts.children(tract_id) if child.parent_commit]
    roots += session.holds.held(tract_id)  # e.g. commits saved LangGraph checkpoints point at
    archived = session.compressions.archived(tract_id)
    expiring = 0
    for entry in session.reflog.read(tract_id):  # recent ref moves protect orphans, not archived commits
        if entry.created_at >= orphan_cutoff:
            roots += [h for h in (entry.old, entry.new) if h and h not in archived]
        else:
            expiring += 1
    reachable = _closure(roots, history)
    removable = {
        h
        for h in history
        if h not in reachable
        and (archived[h][1] < archive_cutoff if h in archived else ages.get(h, now) < orphan_cutoff)
    }
    survivors = [h for h in history if h not in removable]
    removable -= _closure(survivors, history)
    unreachable = len(history) - len(reachable)
    blob_candidates = {blob for h in removable if (blob := history[h].blob)}
    still_used = {blob for h in history if h not in removable and (blob := history[h].blob)}
    still_used |= session.commits.blobs_used_elsewhere(tract_id, blob_candidates - still_used)
    doomed_blobs = blob_candidates - still_used
    sizes = session.blobs.sizes(doomed_blobs)
    removed = tuple(sorted(removable))
    if not dry_run:
        if removed:
            session.commits.delete_many(tract_id, removed)
            session.compressions.unarchive(tract_id, removed)
            session.compressions.compact(tract_id)
            session.blobs.delete_unreferenced(doomed_blobs)
        expiring = session.reflog.expire(tract_id, orphan_cutoff)
    return GCResult(
        dry_run=dry_run,
        commits=removed,
        orphans=sum(1 for h in removed if h not in archived),
        archived=sum(1 for h in removed if h in archived),
        blobs=len(doomed_blobs),
        blob_bytes=sum(sizes.values()),
        reflog_entries=expiring,
        kept_unreachable=unreachable - len(removed),
    )


def check_vacuum(vacuum: Any) -> str | None:
    """Validate a vacuum mode (one of :data:`VACUUM_MODES`); return it."""
    if vacuum not in VACUUM_MODES:
        raise InvalidInputError(f"vacuum must be 'incremental', 'full' or None, not {shown(vacuum)}")
    return vacuum


class _FileStore(Protocol):
    """What reclaiming space needs of a store (:class:`~tract_core.store.SqlStore`)."""

    def join_batch(self) -> Session | None: ...
    def reclaim(self, mode: str) -> None: ...
    def file_bytes(self) -> int | None: ...


def reclaim_space(store: _FileStore, result: GCResult, before: int | None, vacuum: str | None) -> GCResult:
    """Give what a gc freed back to the file system (not inside a batch), and report the file sizes.

    Args:
        store: The store the gc ran on.
        result: What the gc did (a dry run reclaims nothing and reports no size after).
        before: The file size measured before the gc.
        vacuum: ``"incremental"``, ``"full"`` or None (leave the file as it is).
    """
    after = None
    if not result.dry_run:
        if vacuum is not None and store.join_batch() is None:
            store.reclaim(vacuum)
        after = store.file_bytes()
    return replace(result, file_bytes_before=before, file_bytes_after=after)
