"""A unit of work on the SQL store: one connection (in one transaction) and its repositories.

Shared by the blocking store (:mod:`.sql`) and the asyncio runner (:mod:`.aio`), which opens its
sessions on async connections.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from .integrity import page_problems
from .repository import TractLocks
from .sql_compressions import SqlCompressions
from .sql_events import SqlEvents
from .sql_objects import SqlBlobs, SqlCommits, SqlTracts
from .sql_policies import SqlPolicies
from .sql_refs import SqlAnnotations, SqlHolds, SqlReflog, SqlRefs
from .statements import statements

__all__ = ["SqlSession"]


class SqlSession:
    """A unit of work over one connection; repositories are created on first use."""

    def __init__(self, conn: Connection, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect
        q = statements(conn.dialect)
        self.locks = locks = TractLocks(conn)
        self.tracts = SqlTracts(conn, q, locks)
        self.blobs = SqlBlobs(conn, q, locks)
        self.commits = SqlCommits(conn, q, locks)
        self.refs = SqlRefs(conn, q, locks)
        self.reflog = SqlReflog(conn, q, locks)
        self.annotations = SqlAnnotations(conn, q, locks)
        self.compressions = SqlCompressions(conn, q, locks)
        self.holds = SqlHolds(conn, q, locks)
        self.policies = SqlPolicies(conn, q, locks)
        self.events = SqlEvents(conn, q, locks)

    def check_pages(self) -> list[str] | None:
        """SQLite: ``PRAGMA integrity_check``, one line per damaged table (none if every page is
        sound). None on PostgreSQL, which checks its own pages (data checksums, ``amcheck``)."""
        if self.dialect != "sqlite":
            return None
        return page_problems(self.conn.connection.dbapi_connection)
