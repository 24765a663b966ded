"""Prebuilt SQL statements, one set per dialect.

Building a SQLAlchemy statement and computing its cache key costs more than running it on SQLite,
so the hot statements (HEAD reads, commit and blob inserts, ref compare-and-swap, reflog) are built
once with bound parameters and executed with plain parameter dicts.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import and_, bindparam, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .schema import AnnotationRow, BlobRow, CommitRow, RefRow, ReflogRow, TractRow

__all__ = ["HEAD", "T", "B", "C", "R", "L", "A", "COMMIT_COLUMNS", "Statements", "statements"]

HEAD = "HEAD"
T = TractRow.__table__
B = BlobRow.__table__
C = CommitRow.__table__
R = RefRow.__table__
L = ReflogRow.__table__
A = AnnotationRow.__table__

COMMIT_COLUMNS = (
    C.c.hash,
    C.c.parent,
    C.c.extra_parents,
    C.c.depth,
    C.c.blob_hash,
    C.c.role,
    C.c.content_type,
    C.c.operation,
    C.c.response_to,
    C.c.metadata,
    C.c.generation_config,
    C.c.message,
    C.c.created_at,
    C.c.usage,
)

_tract = bindparam("tract_id")


class Statements:
    """The statements of one dialect."""

    def __init__(self, dialect: str) -> None:
        module = postgresql if dialect == "postgresql" else sqlite
        self.insert_ignore = lambda table: module.insert(table).on_conflict_do_nothing()
        self.insert_blob = self.insert_ignore(B)
        self.insert_commit = self.insert_ignore(C)
        self.insert_ref = self.insert_ignore(R).returning(R.c.name)
        self.insert_tract = self.insert_ignore(T).returning(T.c.tract_id)
        self.insert_reflog = L.insert()

        branch = R.alias("branch")
        tip = func.coalesce(branch.c.commit_hash, R.c.commit_hash)
        joined = R.outerjoin(branch, and_(branch.c.tract_id == R.c.tract_id, branch.c.name == R.c.symbolic))
        self.head = (
            select(R.c.symbolic, tip.label("tip")).select_from(joined).where(R.c.tract_id == _tract, R.c.name == HEAD)
        )
        self.head_locked = self.head.with_for_update(of=R) if dialect == "postgresql" else self.head
        marker = select(func.coalesce(func.max(A.c.id), 0)).where(A.c.tract_id == _tract).scalar_subquery()
        self.head_with_marker = (
            select(R.c.symbolic, tip.label("tip"), marker.label("marker"))
            .select_from(joined)
            .where(R.c.tract_id == _tract, R.c.name == HEAD)
        )
        self.get_ref = select(R.c.name, R.c.commit_hash).where(R.c.tract_id == _tract, R.c.name == bindparam("name"))
        self.cas_ref = (
            update(R)
            .where(R.c.tract_id == bindparam("ref_tract"), R.c.name == bindparam("ref_name"), R.c.commit_hash == bindparam("old"))
            .values(commit_hash=bindparam("new"))
        )
        self.cas_ref_from_null = (
            update(R)
            .where(R.c.tract_id == bindparam("ref_tract"), R.c.name == bindparam("ref_name"), R.c.commit_hash.is_(None))
            .values(commit_hash=bindparam("new"))
        )
        self.get_commit = select(*COMMIT_COLUMNS).where(C.c.tract_id == _tract, C.c.hash == bindparam("hash"))
        self.get_blob = select(B.c.hash, B.c.content, B.c.token_count, B.c.tokenizer).where(
            B.c.hash == bindparam("hash")
        )
        chain = (
            select(C.c.hash, C.c.parent, C.c.usage, literal(0).label("n"))
            .where(C.c.tract_id == _tract, C.c.hash == bindparam("head"))
            .cte("chain", recursive=True)
        )
        step = select(C.c.hash, C.c.parent, C.c.usage, (chain.c.n + 1).label("n")).where(
            C.c.tract_id == _tract, C.c.hash == chain.c.parent, chain.c.n < bindparam("within")
        )
        chain = chain.union_all(step)
        self.latest_usage = select(chain.c.usage).where(chain.c.usage.is_not(None)).order_by(chain.c.n).limit(1)


@cache
def statements(dialect: str) -> Statements:
    """The (cached) statements for ``dialect``."""
    return Statements(dialect)
