"""A comparable dump of everything one tract owns in its store, for "this changed nothing" assertions.

Example:
    >>> from tract_core import Tract
    >>> from tract_core.testing.snapshot import store_snapshot
    >>> with Tract.open() as t:
    ...     _ = t.user("hello")
    ...     before = store_snapshot(t)
    ...     try:
    ...         t.commit("no role given")
    ...     except ValueError:
    ...         pass
    ...     store_snapshot(t) == before
    True
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, select

from ..store.schema import ANNOTATION_CHAINS, ANNOTATIONS, BLOBS, COMMITS, REFLOG, REFS, TRACTS

if TYPE_CHECKING:
    from ..store.sql import SqlStore
    from ..tract import Tract

__all__ = ["store_snapshot", "database_digest"]

_OWNED = {
    "tract": TRACTS,
    "commits": COMMITS,
    "refs": REFS,
    "reflog": REFLOG,
    "annotations": ANNOTATIONS,
    "annotation_chain": ANNOTATION_CHAINS,
}


def store_snapshot(tract: Tract) -> dict[str, list[dict[str, Any]]]:
    """Every stored row that belongs to ``tract``, as plain data that compares with ``==``.

    Contract:
        - Keys: ``"tract"`` (its row in ``tract_tracts``), ``"commits"``, ``"refs"`` (branches and
          HEAD), ``"reflog"``, ``"annotations"``, ``"annotation_chain"`` (the head of its annotation
          chain), and ``"blobs"`` (the blob rows its commits
          reference; blobs are shared between tracts, so unreferenced ones are not included).
        - Values: lists of ``{column name: value}`` dicts holding every column (timestamps, usage and
          token counts included), sorted by primary key, read in one transaction.
        - Two snapshots are equal exactly when none of those rows was added, removed or changed;
          other tracts of the same database do not affect the result.
        - Read-only. Call it outside any open ``batch()`` of a tract on the same in-memory store
          (such a store has a single connection).
    """
    engine = tract.store.engine
    snapshot: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn, conn.begin() as transaction:
        for name, table in _OWNED.items():
            query = select(table).where(table.c.tract_id == tract.tract_id).order_by(*table.primary_key.columns)
            snapshot[name] = [dict(row._mapping) for row in conn.execute(query)]
        used = select(COMMITS.c.blob_hash).where(COMMITS.c.tract_id == tract.tract_id)
        blobs = select(BLOBS).where(BLOBS.c.hash.in_(used)).order_by(BLOBS.c.hash)
        snapshot["blobs"] = [dict(row._mapping) for row in conn.execute(blobs)]
        transaction.rollback()
    return snapshot


def database_digest(store: SqlStore) -> str:
    """A SHA-256 over every row of every table in the store's database (tract's and the adapters').

    Equal digests mean no row anywhere was added, removed or changed: the check that a refused
    call wrote nothing, whichever tract or table it could have touched. Read in one transaction;
    call it outside any open ``batch()`` on the same in-memory store.
    """
    digest = hashlib.sha256()
    with store.read() as session:
        tables = MetaData()
        tables.reflect(session.conn)
        for table in sorted(tables.tables.values(), key=lambda t: t.name):
            rows = sorted(repr(tuple(row)) for row in session.conn.execute(select(table)))
            digest.update(f"{table.name}:{len(rows)}\n".encode())
            for row in rows:
                digest.update(row.encode("utf-8", "backslashreplace") + b"\n")
    return digest.hexdigest()
