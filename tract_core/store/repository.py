"""The base of the SQL repositories: one connection, the dialect's prebuilt statements."""

from __future__ import annotations

import time

from sqlalchemy.engine import Connection

from .statements import Statements

__all__ = ["Repository", "CHUNK", "now"]

CHUNK = 500
"""Most values in one ``IN (...)`` list."""


def now() -> float:
    """The time stored beside rows (UNIX seconds; never hashed)."""
    return time.time()


class Repository:
    """One concept's queries over a unit of work's connection."""

    __slots__ = ("conn", "q")

    def __init__(self, conn: Connection, q: Statements) -> None:
        self.conn = conn
        self.q = q
