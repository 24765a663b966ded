"""Which tract a ``tract`` command works on: the ``--db`` and ``--tract`` options (or ``$TRACT_DB``),
opened without ever creating anything; and :class:`UsageError`, for a command called wrongly.
"""

from __future__ import annotations

import argparse
import os

from .. import Tract
from ..tract import DEFAULT_TRACT_ID

__all__ = ["UsageError", "open_tract", "tract_id_from", "open_from"]

DB_ENV = "TRACT_DB"
"""Environment variable naming the database when ``--db`` is not given."""

URL_PREFIXES = ("sqlite://", "postgresql")
"""How a database URL starts (anything else is a SQLite file path)."""


class UsageError(Exception):
    """A mistake in how the command was called (reported like a :class:`TractError`)."""


def open_tract(db: str, tract_id: str = DEFAULT_TRACT_ID) -> Tract:
    """Open an existing tract, never creating anything.

    Args:
        db: A SQLite file path, or a URL starting with ``sqlite://`` or ``postgresql``.
        tract_id: Which tract of the database.

    Raises:
        DatabaseNotFoundError: The file or server does not exist.
        TractNotFoundError: The database has no such tract (the message lists those it has).
    """
    if db.startswith(URL_PREFIXES):
        return Tract.open(url=db, tract_id=tract_id, create=False)
    return Tract.open(path=db, tract_id=tract_id, create=False)


def _database(args: argparse.Namespace) -> str:
    db = getattr(args, "db", None) or os.environ.get(DB_ENV)
    if not db:
        raise UsageError(f"no database given: pass --db PATH_OR_URL (or set {DB_ENV}); `tract demo` writes one")
    return db


def tract_id_from(args: argparse.Namespace) -> str:
    """The tract named by ``--tract`` (default: the default tract)."""
    return getattr(args, "tract", None) or DEFAULT_TRACT_ID


def open_from(args: argparse.Namespace) -> Tract:
    """Open the tract the arguments name (see :func:`open_tract`).

    Raises:
        UsageError: Neither ``--db`` nor ``$TRACT_DB`` names a database.
    """
    return open_tract(_database(args), tract_id_from(args))
