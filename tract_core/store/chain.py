"""The annotation chain: evidence that annotation rows were not changed, added or removed outside tract.

Annotations are rows beside the commits, not part of them, so annotating never changes a commit id.
For damage to them to be found all the same, each row stores a digest: the SHA-256 of the canonical
JSON of its stored fields and of the digest of the tract's previous row (by id). A head row per
tract keeps the newest digest tract wrote and how many rows the chain holds. Re-computing the chain
finds a changed or reordered row, a row added without the chain, a row deleted from the middle (the
link of the row after it breaks) and rows deleted from the end (the head no longer matches).

When tract itself deletes rows (gc and hard resets drop the annotations of the commits they delete),
:func:`relink` re-links the rows after them, but only those that were intact: a damaged row keeps
its wrong digest, so a deletion never hides damage.

The chain holds no secret: it finds damage and edits made without tract's code, not a forger who
recomputes it with this code.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

from ..errors import TractError
from ..objects import canonical_json, sha256_hex

__all__ = ["CHAIN_VERSION", "ChainRow", "annotation_digest", "digest_of", "chain_problems", "relink"]

CHAIN_VERSION = 1
"""Version of the digest encoding; part of every digest."""


class ChainRow(NamedTuple):
    """An annotation row as stored (``excluded`` is the stored JSON text)."""

    id: int
    target: Any
    priority: Any
    reason: Any
    anchor: Any
    excluded: Any
    created_at: Any
    digest: str | None
    lifecycle: Any = None


def annotation_digest(
    prev: str | None,
    target: str,
    priority: str,
    reason: str | None,
    anchor: str,
    excluded: str | None,
    created_at: float,
    lifecycle: str | None = None,
) -> str:
    """The digest of an annotation row whose predecessor's digest is ``prev`` (None for the first).

    Args:
        prev: The digest of the tract's previous annotation row.
        target: The annotated message's commit.
        priority: The priority, as stored (``pinned``, ``skip``, ``normal``).
        reason: The reason, as stored.
        anchor: The commit HEAD was on.
        excluded: The stored JSON text of the excluded children (None if there are none).
        created_at: The stored timestamp.
        lifecycle: The stored lifecycle of a lifecycle row; None for a priority row, whose digest then
            is what it was before lifecycle rows existed.
    """
    payload = {
        "v": CHAIN_VERSION,
        "prev": prev,
        "target": target,
        "priority": priority,
        "reason": reason,
        "anchor": anchor,
        "excluded": excluded,
        "created_at": created_at,
    }
    if lifecycle is not None:
        payload["lifecycle"] = lifecycle
    return sha256_hex(canonical_json(payload))


def digest_of(prev: str | None, row: ChainRow) -> str | None:
    """The digest ``row`` should have after a row whose digest is ``prev``, or None if its stored
    values cannot be encoded (the row is damaged)."""
    try:
        return annotation_digest(
            prev, row.target, row.priority, row.reason, row.anchor, row.excluded, row.created_at, row.lifecycle
        )
    except (TractError, TypeError, ValueError):
        return None


def chain_problems(tract_id: str, rows: Sequence[ChainRow], head: tuple[str | None, int] | None) -> list[str]:
    """Every break in a tract's chain: ``rows`` are all its annotation rows by id, ``head`` the stored
    (newest digest, row count), None if there is no head row."""
    problems = []
    prev: str | None = None
    for row in rows:
        what = f"annotation {row.id} of tract {tract_id!r}"
        if row.digest is None:
            problems.append(f"{what}: it has no chain digest, so it was added outside tract")
        elif row.digest != digest_of(prev, row):
            problems.append(
                f"{what}: it does not match the annotation chain (it was changed or reordered outside tract, "
                "or the row before it was deleted)"
            )
        prev = row.digest
    if head is None:
        if rows:
            problems.append(f"tract {tract_id!r}: the head of its annotation chain is missing")
        return problems
    digest, count = head
    if count != len(rows) or digest != prev:
        problems.append(
            f"tract {tract_id!r}: tract wrote {count} annotation row(s) and {len(rows)} are stored, or the newest "
            "differs: annotation rows were deleted or added outside tract"
        )
    return problems


def relink(
    rows: Sequence[ChainRow], doomed: Collection[int], before: str | None
) -> tuple[list[tuple[int, str]], str | None]:
    """Re-link the rows that remain after deleting ``doomed``.

    Args:
        rows: The tract's rows from the first doomed one on, by id (doomed ones included).
        doomed: Ids of the rows being deleted.
        before: The digest of the row before ``rows`` (None if there is none).

    Returns:
        The new digests of the remaining rows that change (id, digest), and the digest the chain
        then ends with (that of its last remaining row).
    """
    changes = []
    old_prev = new_prev = before
    for row in rows:
        if row.id in doomed:
            old_prev = row.digest
            continue
        intact = row.digest is not None and row.digest == digest_of(old_prev, row)
        new = digest_of(new_prev, row) if intact else row.digest
        old_prev = row.digest
        if new is not None and new != row.digest:
            changes.append((row.id, new))
        new_prev = new
    return changes, new_prev
