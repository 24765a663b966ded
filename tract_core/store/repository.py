"""The base of the SQL repositories: one connection, the dialect's prebuilt statements, tract locks."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..clock import now as _clock_now
from .statements import Prepared, Statements

__all__ = ["Repository", "TractLocks", "CHUNK", "now"]

CHUNK = 500
"""Most values in one ``IN (...)`` list."""


def now() -> float:
    """The time stored beside rows (UNIX seconds; never hashed)."""
    return _clock_now()


def _lock_key(tract_id: str) -> int:
    """A signed 64-bit advisory-lock key for a tract (a collision only makes two tracts wait for each other)."""
    return int.from_bytes(
        hashlib.sha256(b"tract-gc\0" + tract_id.encode("utf-8", "surrogatepass")).digest()[:8], "big", signed=True
    )


_SHARED = text("SELECT pg_advisory_xact_lock_shared(:key)")
_shared_prepared: list[Prepared] = []  # compiled on first use (PostgreSQL only)
_EXCLUSIVE = text("SELECT pg_advisory_xact_lock(:key)")


class TractLocks:
    """The per-tract lock that keeps garbage collection and writers apart, for one transaction.

    Every write to a tract's history (commits, refs, holds, compression records, annotations) takes
    the tract's lock *shared* before its first statement; gc takes it *exclusive* before it reads
    anything, so the history it computes reachability on cannot move until it has deleted and
    committed. Writers never wait for each other on it. On PostgreSQL it is a transaction-level
    advisory lock (released at commit or rollback); SQLite needs none, because a write transaction
    there (``BEGIN IMMEDIATE``) already excludes every other writer.
    """

    __slots__ = ("_conn", "_active", "_held")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._active = conn.dialect.name == "postgresql"
        self._held: dict[str, bool] = {}  # tract -> exclusive?

    def share(self, tract_id: str) -> None:
        """Hold the tract's lock shared until the transaction ends (a no-op if already held)."""
        if self._active and tract_id not in self._held:
            if not _shared_prepared:
                _shared_prepared.append(Prepared(_SHARED, self._conn.dialect))
            # deferred: taken in the round trip of the transaction's next statement, before it runs
            _shared_prepared[0].defer(self._conn, {"key": _lock_key(tract_id)})
            self._held[tract_id] = False

    def exclusive(self, tract_id: str) -> None:
        """Hold the tract's lock exclusively until the transaction ends (waits for its writers)."""
        if self._active and not self._held.get(tract_id):
            self._conn.execute(_EXCLUSIVE, {"key": _lock_key(tract_id)})
            self._held[tract_id] = True


class Repository:
    """One concept's queries over a unit of work's connection."""

    __slots__ = ("conn", "q", "locks")

    def __init__(self, conn: Connection, q: Statements, locks: TractLocks | None = None) -> None:
        self.conn = conn
        self.q = q
        self.locks = locks if locks is not None else TractLocks(conn)
