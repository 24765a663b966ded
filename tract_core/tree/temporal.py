"""Temporal addresses: naming a context by how many provider calls ago the model was sent it.

- ``@t0``: HEAD's current context.
- ``@t-k``: what the model was sent ``k`` cycles ago, i.e. the context just before the ``k``-th most
  recent assistant commit on HEAD's first-parent line (that commit's parent).
- ``@t-a..@t-b`` (``a >= b``): every one of them from ``@t-a`` to ``@t-b``, oldest first.
- ``@history``: every cycle from the first one to ``@t0``.

An assistant commit (an APPEND with role ``assistant``) seals a cycle; EDITs and other commits do
not. A single address is accepted wherever a commit is named (:func:`tract_core.refs.resolve`);
ranges only where several snapshots are taken (``Tract.snapshot``). Resolving walks HEAD's
first-parent line back only as far as the address asks (``@t-k`` reads the commits of the last
``k`` cycles); a bad address raises :class:`~tract_core.TemporalAddressError` before any write.

Example:
    >>> parse_temporal("@t-3..@t0")
    TemporalAddress(text='@t-3..@t0', oldest=3, newest=0, every=False)
    >>> parse_temporal("@t-2").single
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import CommitNotFoundError, TemporalAddressError, damaged, shown
from ..objects import Operation
from ..store.base import Head, Session

__all__ = [
    "HISTORY",
    "MAX_CYCLES_BACK",
    "TemporalAddress",
    "is_temporal",
    "parse_temporal",
    "cycle_label",
    "resolve_temporal",
    "resolve_points",
]

HISTORY = "@history"
"""The address of every cycle, from the first one to ``@t0``."""
MAX_CYCLES_BACK = 10**9 - 1
"""The most cycles an address may go back (nine digits)."""
_ONE = r"@t(?:0|-[1-9][0-9]{0,8})"
_ADDRESS = re.compile(rf"^({_ONE})(?:\.\.({_ONE}))?$")
_HINT = "write @t0 (now), @t-K (K cycles ago, K >= 1), a range @t-A..@t-B with A >= B, or @history"


@dataclass(frozen=True, slots=True)
class TemporalAddress:
    """A parsed temporal address.

    Attributes:
        text: The address as written.
        oldest: Cycles back of the oldest context named (``@t-5..@t0``: 5).
        newest: Cycles back of the newest context named (``@t-5..@t0``: 0).
        every: ``@history``: ``oldest`` is decided by the history itself.
    """

    text: str
    oldest: int
    newest: int
    every: bool = False

    @property
    def single(self) -> bool:
        """Whether the address names one context (``@t0``, ``@t-k``), not a range or ``@history``."""
        return not self.every and self.oldest == self.newest and ".." not in self.text


def is_temporal(ref: Any) -> bool:
    """Whether ``ref`` is meant as a temporal address: a string starting with ``@`` (no branch name,
    hash or ``HEAD`` can). Cheap enough for every ref :func:`~tract_core.refs.resolve` sees.

    Example:
        >>> is_temporal("@t-1"), is_temporal("main"), is_temporal(None)
        (True, False, False)
    """
    if not isinstance(ref, str):
        return False
    first = ref[:1]
    return first == "@" or first.isspace() and ref.lstrip()[:1] == "@"


def _back(part: str) -> int:
    return 0 if part == "@t0" else int(part[3:])


def parse_temporal(text: Any) -> TemporalAddress:
    """Parse a temporal address without touching any database.

    Raises:
        TemporalAddressError: Not a temporal address, or a range whose first end is the newer one.
    """
    if not isinstance(text, str):
        raise TemporalAddressError(f"{shown(text)} is not a temporal address; {_HINT}")
    address = text.strip()
    if address == HISTORY:
        return TemporalAddress(address, 0, 0, every=True)
    found = _ADDRESS.match(address)
    if found is None:
        raise TemporalAddressError(f"{shown(address)} is not a temporal address; {_HINT}")
    oldest = _back(found.group(1))
    newest = _back(found.group(2)) if found.group(2) else oldest
    if newest > oldest:
        raise TemporalAddressError(
            f"range {address!r} goes from newer to older; write the older end first (@t-{newest}..{found.group(1)})"
        )
    return TemporalAddress(address, oldest, newest)


def cycle_label(back: int) -> str:
    """The address of the context ``back`` cycles ago (``@t0``, ``@t-3``).

    Example:
        >>> cycle_label(0), cycle_label(3)
        ('@t0', '@t-3')
    """
    return "@t0" if back == 0 else f"@t-{back}"


def _seals(stored: Any) -> bool:
    commit = stored.commit
    return commit.role == "assistant" and commit.operation is Operation.APPEND


def _head_commit(session: Session, tract_id: str, head: Head | None) -> str | None:
    return (session.refs.head(tract_id) if head is None else head).commit


def _cycle_starts(session: Session, tract_id: str, head: str, back: int | None) -> list[str | None]:
    """Walk HEAD's first-parent line: for k = 1, 2, ... the parent of the k-th most recent assistant
    commit (None when that commit is the first one), up to ``back`` of them (None: all)."""
    starts: list[str | None] = []
    current: str | None = head
    while current is not None and (back is None or len(starts) < back):
        stored = session.commits.get(tract_id, current)
        if stored is None:
            raise damaged(f"commit {current[:12]} of tract {tract_id!r}", "it is missing from HEAD's history")
        parent = stored.commit.parents[0] if stored.commit.parents else None
        if _seals(stored):
            starts.append(parent)
        current = parent
    return starts


def _too_far(address: str, back: int, cycles: int) -> TemporalAddressError:
    have = "no cycle yet (no assistant commit)" if cycles == 0 else f"{cycles} cycle{'s' if cycles != 1 else ''}"
    reach = "only @t0 exists" if cycles == 0 else f"@t-{cycles}..@t0 exist"
    return TemporalAddressError(
        f"{address!r} goes back {back} cycles, but HEAD's history has {have}: {reach}; nothing was written"
    )


def resolve_points(
    session: Session, tract_id: str, address: TemporalAddress, head: Head | None = None
) -> list[tuple[str, str | None]]:
    """Every context a temporal address names, oldest first: ``(label, commit)`` pairs, where
    ``commit`` is None for an empty context (``@t0`` of a tract with no commits yet, or the one
    before a first commit that is an assistant's).

    Raises:
        TemporalAddressError: The address goes back past the first cycle.
    """
    tip = _head_commit(session, tract_id, head)
    wanted = None if address.every else address.oldest
    starts = _cycle_starts(session, tract_id, tip, wanted) if tip is not None else []
    if wanted is not None and len(starts) < wanted:
        raise _too_far(address.text, wanted, len(starts))
    oldest = len(starts) if address.every else address.oldest
    commits: list[str | None] = [tip, *starts]
    return [(cycle_label(back), commits[back]) for back in range(oldest, address.newest - 1, -1)]


def resolve_temporal(session: Session, tract_id: str, ref: str, head: Head | None = None) -> str:
    """The commit a single temporal address names (``@t0``, ``@t-k``).

    Raises:
        TemporalAddressError: Malformed, a range or ``@history``, or back past the first cycle.
        CommitNotFoundError: The tract has no commits yet, or the context named is the empty one
            before a first commit that is an assistant reply.
    """
    address = parse_temporal(ref)
    if not address.single:
        raise TemporalAddressError(
            f"{address.text!r} names several contexts; use it with Tract.snapshot(at=...) (or `tract snapshot "
            "--at`), or name one with @t0 or @t-K"
        )
    if _head_commit(session, tract_id, head) is None:
        raise CommitNotFoundError(
            f"{address.text!r}: HEAD of tract {tract_id!r} has no commits yet; commit a message first"
        )
    [(label, commit)] = resolve_points(session, tract_id, address, head)
    if commit is None:
        raise CommitNotFoundError(
            f"{label!r} is the empty context before the first commit (an assistant reply): no commit holds it"
        )
    return commit
