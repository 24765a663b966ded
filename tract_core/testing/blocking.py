"""Catching blocking I/O on a running event loop: :func:`no_blocking_io`.

Built on ``blockbuster`` (the detector langchain-core's own tests use): while the context is
active, a blocking call (file and socket I/O, ``sqlite3``, ``time.sleep``, waiting on a held
lock, ...) made on the thread of a running event loop raises ``blockbuster.BlockingError`` when
tract's code is on the stack. Work handed to a worker thread (``asyncio.to_thread``) is not
affected. ``blockbuster`` cannot see libpq's sockets, so the synchronous entry points of psycopg
(connecting, executing, committing) are watched as blocking calls too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["SCANNED_PACKAGES", "no_blocking_io"]

SCANNED_PACKAGES = ("tract_core", "tract_langchain", "tract_llamaindex")
"""The packages whose blocking calls on the event loop are reported."""

_PSYCOPG_SYNC = (
    "psycopg.Connection.connect",
    "psycopg.Connection.commit",
    "psycopg.Connection.rollback",
    "psycopg.Cursor.execute",
    "psycopg.Cursor.executemany",
)


@contextmanager
def no_blocking_io(*packages: str) -> Iterator[Any]:
    """Within the block, tract code (and ``packages``) blocking a running event loop raises ``BlockingError``.

    Yields the active ``blockbuster.BlockBuster`` (``bb.functions[name].can_block_in(file, func)``
    allows a known call).

    Raises:
        ImportError: ``blockbuster`` is not installed (``pip install 'tract-context[test]'``).
    """
    try:
        from blockbuster import BlockBuster, BlockBusterFunction
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("no_blocking_io needs blockbuster: pip install 'tract-context[test]'") from exc
    scanned = [*SCANNED_PACKAGES, *packages]
    detector = BlockBuster(scanned)
    try:
        import psycopg  # noqa: F401
    except ImportError:  # pragma: no cover - PostgreSQL support not installed
        pass
    else:
        for name in _PSYCOPG_SYNC:
            detector.functions[name] = BlockBusterFunction(None, name, scanned_modules=scanned)
    detector.activate()
    try:
        yield detector
    finally:
        detector.deactivate()
