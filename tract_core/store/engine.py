"""Creating SQLAlchemy engines for the three backends: SQLite in memory, SQLite file, PostgreSQL.

SQLite runs in WAL mode with a busy timeout and foreign keys on. Write transactions begin with
``BEGIN IMMEDIATE`` so concurrent writers queue on the database lock instead of failing midway.
Durability: ``synchronous=NORMAL`` by default (a committed transaction survives a crash of the
process; a power cut may lose the last few); pass ``durability="full"`` to fsync every commit.

PostgreSQL URLs may carry ``prepare_threshold`` in their query string (``none``, or a whole number):
psycopg's setting for preparing statements on the server (by default after 5 executions of the same
statement on a connection). ``?prepare_threshold=none`` turns that off, which a connection pooler in
transaction mode needs when it cannot track prepared statements (PgBouncer before 1.21, or without
``max_prepared_statements``): it hands each transaction whichever server connection is free, where a
statement prepared on another one does not exist. Tract keeps no other session state (its advisory
locks are transaction-level, it sets no session parameters).

Every engine hides SQL parameters from SQLAlchemy's exception text, turns driver errors into
:class:`~tract_core.errors.StorageError` subclasses (:mod:`.driver_errors`), and refuses text
parameters PostgreSQL cannot store (NUL) or no encoding can (lone surrogates) before they reach
the driver, on every backend, whichever code path sent them.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine as _sa_create_engine
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool, StaticPool

from ..errors import DatabaseNotFoundError, InvalidInputError, shown
from ..objects import check_text
from . import driver_errors

__all__ = [
    "DURABILITY",
    "WRITE_OPTION",
    "READ_OPTION",
    "make_engine",
    "probe_engine",
    "guard_engine",
    "check_parameters",
    "raw_driver_error",
    "normalise_url",
    "display_url",
    "strip_password",
    "has_password",
    "DEFERRED_KEY",
    "pipelined_connection",
    "deferred_queue",
    "send_deferred",
    "flush_deferred",
    "commit_deferred",
    "discard_deferred",
    "transaction_open",
    "ping_after_idle",
    "PREPARE_THRESHOLD",
    "prepare_threshold",
]

DURABILITY = {"normal": "NORMAL", "full": "FULL"}
PING_AFTER_IDLE_S = 1.0
BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "tract_write"
READ_OPTION = "tract_read"
_MIN_INT, _MAX_INT = -(2**63), 2**63 - 1
PREPARE_THRESHOLD = "prepare_threshold"


def prepare_threshold(value: str) -> int | None:
    """psycopg's ``prepare_threshold`` from the text of a URL's query option: ``none`` (never prepare
    statements on the server) or a whole number (prepare after that many executions; 0: always).

    Raises:
        InvalidInputError: Any other text.
    """
    text = value.strip()
    if text.lower() == "none":
        return None
    if text.isdigit():
        return int(text)
    raise InvalidInputError(
        f"{PREPARE_THRESHOLD}={shown(value)} in the database URL is not valid: use {PREPARE_THRESHOLD}=none "
        "(never prepare statements on the server, for a pooler in transaction mode such as PgBouncer before "
        "1.21) or a whole number of executions after which psycopg prepares a statement (its default is 5)"
    )


def _url_prepare_threshold(url: URL) -> None:
    """Check the URL's ``prepare_threshold`` option, if it has one (one value)."""
    values = url.query.get(PREPARE_THRESHOLD)
    if values is None:
        return
    if not isinstance(values, str):
        raise InvalidInputError(f"the database URL gives {PREPARE_THRESHOLD} more than once; give it once")
    prepare_threshold(values)


def _typed_prepare_threshold(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
    """Hand psycopg the URL's ``prepare_threshold`` as the number (or None) it expects, not as text."""
    value = cparams.get(PREPARE_THRESHOLD)
    if isinstance(value, str):
        cparams[PREPARE_THRESHOLD] = prepare_threshold(value)


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` URLs and route them to the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_SECRET_QUERY_KEYS = ("password", "sslpassword")
_USERINFO_PASSWORD = re.compile(r"(//[^/@:?#]*:)[^/@?#]*@")
_QUERY_PASSWORD = re.compile(r"((?:^|[?&])(?:ssl)?password=)[^&#]*", re.IGNORECASE)


def _parse(url: str) -> URL | None:
    try:
        return make_url(url)
    except Exception:  # malformed: callers fall back to masking the text
        return None


def display_url(url: str) -> str:
    """The URL with its password (in the user info or the query string) shown as ``***``, for
    messages and ``repr``. A URL that does not parse is masked as text."""
    parsed = _parse(url)
    if parsed is None:
        return _QUERY_PASSWORD.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1***@", url))
    secret = [k for k in parsed.query if k.lower() in _SECRET_QUERY_KEYS]
    shown = parsed.difference_update_query(secret).render_as_string(hide_password=True)
    return shown + "".join(f"{'&' if '?' in shown or i else '?'}{k}=***" for i, k in enumerate(secret))


def strip_password(url: str) -> str:
    """The URL without any password (user info or query string), still usable to connect.

    PostgreSQL then takes the password from libpq's own sources: the ``PGPASSWORD`` environment
    variable or the password file (``~/.pgpass``, or the file named by ``PGPASSFILE``).

    Raises:
        InvalidInputError: The URL does not parse.
    """
    parsed = _parse(url)
    if parsed is None:
        raise InvalidInputError(f"{display_url(url)!r} is not a database URL; use e.g. postgresql://user@host/db")
    query = {k: v for k, v in parsed.query.items() if k.lower() not in _SECRET_QUERY_KEYS}
    bare = URL.create(parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, query)
    return bare.render_as_string(hide_password=False)


def has_password(url: str) -> bool:
    """Whether the URL carries a password (in the user info or the query string)."""
    parsed = _parse(url)
    if parsed is None:
        return bool(_USERINFO_PASSWORD.search(url) or _QUERY_PASSWORD.search(url))
    return parsed.password is not None or any(k.lower() in _SECRET_QUERY_KEYS for k in parsed.query)


def _sqlite_pragmas(engine: Engine, *, memory: bool, durability: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if cur.execute("PRAGMA page_count").fetchone()[0] == 0:  # a new file: let gc shrink it later
            cur.execute("PRAGMA auto_vacuum=INCREMENTAL")  # (setting it on an existing file writes to it)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not memory:
            cur.execute("PRAGMA cache_size=-32768")  # up to 32 MiB, so a cold compile reads each page once
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={DURABILITY[durability]}")
        cur.close()

    url = display_url(str(engine.url))

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        try:
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as exc:  # SQLAlchemy does not translate errors raised in this event
            raise driver_errors.storage_error(exc, url, database=engine.url.database) from exc


def ping_after_idle(engine: Engine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Check a pooled PostgreSQL connection with a ping when it has been idle for ``idle_s`` seconds.

    What ``pool_pre_ping`` guards against (a server restart, a pooler or firewall closing idle
    connections) happens to connections that sat in the pool; pinging before every checkout would
    add a round trip to every unit of work of a busy thread. A connection that fails the ping is
    replaced by a new one (the pool retries), as with ``pool_pre_ping``; one whose failure the
    driver already knows (closed, broken) is replaced without a ping.
    """

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["tract_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if getattr(dbapi_conn, "closed", False) or getattr(dbapi_conn, "broken", False):
            raise sa_exc.DisconnectionError("the pooled connection is closed")
        since = record.info.get("tract_idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return  # new, or back in the pool a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise sa_exc.DisconnectionError(f"the pooled connection failed its ping ({type(exc).__name__})") from exc


def check_parameters(parameters: Any, executemany: bool = False) -> None:
    """Refuse parameters no backend stores faithfully, before the driver sees them: text with NUL
    (PostgreSQL cannot store it and would fail; SQLite would store it and the history could not
    move) or lone surrogates, and integers beyond 64 bits."""
    if not parameters:
        return
    for row in parameters if executemany else (parameters,):
        for value in row.values() if isinstance(row, Mapping) else row:
            if isinstance(value, str):
                if "\x00" in value or not value.isascii():
                    check_text(value, "a text value sent to the database")
            elif isinstance(value, int) and not _MIN_INT <= value <= _MAX_INT:
                raise InvalidInputError(f"the number {shown(value)} does not fit the database's 64-bit integers")


def _refuse_unstorable(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, executemany: bool
) -> None:
    check_parameters(parameters, executemany)


def guard_engine(engine: Engine) -> Engine:
    """Install tract's error translation and parameter checks on ``engine`` (sync, or an async
    engine's ``sync_engine``); return it."""
    driver_errors.install(engine, display_url(str(engine.url)))
    event.listen(engine, "before_cursor_execute", _refuse_unstorable)
    if engine.dialect.name == "postgresql":
        # statements deferred on a connection (see below) run before any other, and never
        # outlive their transaction
        event.listen(engine, "before_cursor_execute", lambda conn, *_: flush_deferred(conn))
        event.listen(engine, "commit", _flush_before_commit)
        event.listen(engine, "rollback", discard_deferred)
        event.listen(engine, "do_connect", _typed_prepare_threshold)
    return engine


def raw_driver_error(conn: Any, exc: BaseException) -> BaseException:
    """The error to raise for ``exc``, raised by a DBAPI cursor used directly on ``conn`` (a
    SQLAlchemy connection): a StorageError for a driver error, ``exc`` itself otherwise."""
    if not driver_errors.is_driver_error(exc):
        return exc
    engine = conn.engine
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    return driver_errors.storage_error(exc, display_url(str(engine.url)), database=database)


# -- statements deferred on a PostgreSQL connection (queued by Prepared.defer in .statements) --------

DEFERRED_KEY = "_tract_deferred"
_pipelines: dict[type, bool] = {}


def pipelined_connection(conn: Connection) -> Any:
    """The sync psycopg connection under ``conn`` when it can pipeline, else None."""
    dbapi = conn.connection.dbapi_connection
    kind = type(dbapi)
    able = _pipelines.get(kind)
    if able is None:
        able = False
        if kind.__module__.startswith("psycopg") and callable(getattr(kind, "pipeline", None)):
            try:
                from psycopg import Capabilities

                able = Capabilities().has_pipeline()
            except Exception:  # an older psycopg: no pipelining
                able = False
        _pipelines[kind] = able
    return dbapi if able else None


def deferred_queue(conn: Connection) -> list[tuple[str, Any]] | None:
    return conn.__dict__.get(DEFERRED_KEY)


def _lone_begin(queued: list[tuple[str, Any]]) -> bool:
    """Whether the queue holds only the transaction's own BEGIN (nothing ran in it yet)."""
    return len(queued) == 1 and queued[0][1] is None


def send_deferred(conn: Connection, dbapi: Any, queued: list[tuple[str, Any]]) -> None:
    """Send the queued statements (in pipeline mode: no wait). Statements without parameters (the
    transaction's BEGIN) are never prepared on the server."""
    conn.__dict__.pop(DEFERRED_KEY, None)
    cursor = dbapi.cursor()
    for sql, values in queued:
        if values is None:
            cursor.execute(sql, prepare=False)
        else:
            cursor.execute(sql, values)


def flush_deferred(conn: Connection) -> None:
    """Send the statements deferred on ``conn`` (one round trip) before anything else runs on it."""
    queued = deferred_queue(conn)
    if not queued:
        return
    dbapi: Any = conn.connection.dbapi_connection
    try:
        with dbapi.pipeline():
            send_deferred(conn, dbapi, queued)
    except Exception as exc:
        error = raw_driver_error(conn, exc)
        if error is exc:
            raise
        raise error from exc


def _flush_before_commit(conn: Connection) -> None:
    """At a commit: a transaction that never ran a statement was never begun on the server (its BEGIN
    is dropped, no round trip); anything else deferred is sent first."""
    queued = deferred_queue(conn)
    if queued and _lone_begin(queued):
        discard_deferred(conn)
        return
    flush_deferred(conn)


def _begin_statement(dbapi: Any) -> str:
    """The BEGIN for the connection's settings (READ ONLY for tract's reads)."""
    parts = ["BEGIN"]
    if dbapi.isolation_level is not None:
        parts.append("ISOLATION LEVEL " + dbapi.isolation_level.name.replace("_", " "))
    if dbapi.read_only is not None:
        parts.append("READ ONLY" if dbapi.read_only else "READ WRITE")
    return " ".join(parts)


def commit_deferred(conn: Connection) -> None:
    """Send the deferred statements and the COMMIT in one round trip (nothing if none are queued:
    the caller's commit then commits as usual; nothing at all if the transaction never ran a
    statement)."""
    queued = deferred_queue(conn)
    if not queued:
        return
    if _lone_begin(queued):
        discard_deferred(conn)
        return
    dbapi: Any = conn.connection.dbapi_connection
    try:
        with dbapi.pipeline():
            send_deferred(conn, dbapi, queued)
            dbapi.cursor().execute("COMMIT", prepare=False)
    except Exception as exc:
        error = raw_driver_error(conn, exc)
        if error is exc:
            raise
        raise error from exc


def transaction_open(conn: Connection) -> bool:
    """Whether ``conn`` (PostgreSQL) runs in a server transaction, or begins one with its next
    statement: False for tract's reads, whose statements run each on its own."""
    if deferred_queue(conn):
        return True
    return int(conn.connection.driver_connection.info.transaction_status) != 0  # type: ignore[union-attr]


def discard_deferred(conn: Connection) -> None:
    """Drop what was deferred on ``conn`` (its transaction rolls back)."""
    conn.__dict__.pop(DEFERRED_KEY, None)


def _own_transactions(engine: Engine) -> None:
    """On a sync psycopg engine: the driver in autocommit mode, and each transaction's BEGIN written
    by tract and deferred, so it travels in one round trip with the transaction's first statement
    (psycopg would send its own BEGIN and wait for the answer). COMMIT and ROLLBACK still go through
    the driver, which sends them whenever the server has a transaction open.

    Reads (the ``READ_OPTION`` execution option) begin no transaction at all: under PostgreSQL's
    READ COMMITTED every statement sees what was committed when it started, in a transaction or
    not, so a read's BEGIN and COMMIT would only cost a round trip."""

    def _autocommit(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.autocommit = True

    # before SQLAlchemy's first-connect queries (server version, default schema...), so they run
    # without a BEGIN and a ROLLBACK of their own; and on every later connection
    event.listen(engine, "first_connect", _autocommit, insert=True)
    event.listen(engine, "connect", _autocommit)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_OPTION):
            return  # a read: each statement on its own (what READ COMMITTED gives a transaction anyway)
        dbapi = conn.connection.dbapi_connection
        if pipelined_connection(conn) is None:  # no pipelining: BEGIN at once (never expected)
            dbapi.execute(_begin_statement(dbapi))  # type: ignore[union-attr]
            return
        conn.__dict__[DEFERRED_KEY] = [(_begin_statement(dbapi), None)]


def _server_version(number: int) -> tuple[int, ...]:
    """libpq's server version number as SQLAlchemy's dialect parses ``version()``: 160004 -> (16, 4),
    90624 -> (9, 6, 24)."""
    if number >= 100_000:
        return number // 10_000, number % 10_000
    return number // 10_000, number // 100 % 100, number % 100


def _first_connect_in_one_query(engine: Engine) -> None:
    """On a psycopg engine: what SQLAlchemy's PostgreSQL dialect asks a new engine's first connection
    (server version, default schema, default isolation level, ``standard_conforming_strings``: four
    round trips) from one query and from what the server reported at connection time.

    The dialect's own hooks for this (the ones third-party dialects override) are replaced on this
    engine's dialect only; the values are those the stock questions give (tested)."""
    dialect: Any = engine.dialect
    answers: dict[str, str] = {}

    def ask(dbapi_connection: Any) -> dict[str, str]:
        if not answers:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("select current_schema(), current_setting('transaction_isolation')")
                schema, isolation = cursor.fetchone()
            answers.update(schema=schema, isolation=isolation.upper())
        return answers

    def info(connection: Connection) -> Any:
        return connection.connection.driver_connection.info  # type: ignore[union-attr]

    dialect._get_server_version_info = lambda connection: _server_version(info(connection).server_version)
    dialect._get_default_schema_name = lambda connection: ask(connection.connection.dbapi_connection)["schema"]
    dialect.get_default_isolation_level = lambda dbapi_connection: ask(dbapi_connection)["isolation"]

    def backslash_escapes(connection: Connection) -> None:
        dialect._backslash_escapes = info(connection).parameter_status("standard_conforming_strings") == "off"

    dialect._set_backslash_escapes = backslash_escapes


def _create(url: str | URL, **kwargs: Any) -> Engine:
    return guard_engine(_sa_create_engine(url, hide_parameters=True, **kwargs))


def probe_engine(url: str | URL) -> Engine:
    """An engine that sets nothing on the connections it opens (no WAL switch, no pragmas): for
    checking a database read-only before deciding to use it. Dispose it after use."""
    return _create(url, poolclass=NullPool)


def make_engine(
    *,
    path: str | os.PathLike[str] | None = None,
    url: str | None = None,
    create: bool = True,
    durability: str = "normal",
) -> tuple[Engine, str, threading.RLock | None]:
    """Create an engine for a SQLite path, a database URL, or (neither) a private in-memory SQLite.

    Returns:
        The engine, the backend's dialect name, and a lock that must guard every use of the engine
        (only for in-memory SQLite, whose single connection threads must share).

    Raises:
        DatabaseNotFoundError: ``create`` is False and the SQLite file does not exist.
        InvalidInputError: both ``path`` and ``url`` were given, or the durability is unknown.
    """
    if path is not None and url is not None:
        raise InvalidInputError("pass either path= (a SQLite file) or url= (a database URL), not both")
    if not isinstance(durability, str) or durability not in DURABILITY:
        raise InvalidInputError(f"durability must be one of {sorted(DURABILITY)}, not {durability!r}")
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidInputError(f"path must be a file path (a str or os.PathLike), not {type(path).__name__}")
        file = Path(check_text(os.fspath(path), "path")).expanduser()
        if not create and not file.exists():
            raise DatabaseNotFoundError(
                f"no tract database at {str(file)!r}; check the path, or create one with "
                "Tract.open(path=...) (or run `tract demo`)"
            )
        if file.parent and not file.parent.exists():
            raise DatabaseNotFoundError(f"the folder {str(file.parent)!r} does not exist; create it first")
        url = f"sqlite:///{file}"
    if url is None:
        engine = _create("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        _sqlite_pragmas(engine, memory=True, durability=durability)
        return engine, "sqlite", threading.RLock()
    url = normalise_url(check_text(url, "url"))
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018  (a port that is not a number only fails here)
        backend = parsed.get_backend_name()
    except Exception as exc:
        raise InvalidInputError(
            f"{display_url(url)!r} is not a valid database URL ({type(exc).__name__}); "
            "use a SQLite path or a URL such as postgresql://user@host:5432/db"
        ) from None
    if backend == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            engine = _create(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
            _sqlite_pragmas(engine, memory=True, durability=durability)
            return engine, "sqlite", threading.RLock()
        if not create and not Path(database).exists():
            raise DatabaseNotFoundError(f"no tract database at {database!r}; check the path")
        engine = _create(url, connect_args={"check_same_thread": False})
        _sqlite_pragmas(engine, memory=False, durability=durability)
        return engine, "sqlite", None
    if backend == "postgresql":
        _url_prepare_threshold(parsed)
        try:
            engine = _create(url, use_native_hstore=False)  # tract stores no hstore: no type lookup at connect
        except ModuleNotFoundError as exc:
            raise ImportError("PostgreSQL support needs psycopg: pip install 'tract-context[postgres]'") from exc
        ping_after_idle(engine)
        _own_transactions(engine)
        _first_connect_in_one_query(engine)
        return engine, "postgresql", None
    raise InvalidInputError(f"unsupported database URL {display_url(url)!r}; use a SQLite path or a postgresql:// URL")
