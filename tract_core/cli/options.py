"""Which tract a ``tract`` command works on: the ``--db`` option (or ``$TRACT_DB``) and ``--tract``, or a
framework's name for the conversation (``--thread ID [--ns NS]``, ``--session ID``, ``--chat KEY``, mapped
by :mod:`tract_core.names`), opened without ever creating anything; and :class:`UsageError`, for a
command called wrongly.

Only the policy and orchestrator commands (``tract policies``, ``proposals``, ``approve``, ``reject``,
``health``, ``orchestrate``) load a tract's configured policies (and orchestrator) into their handle.
Every other command opens the tract with none, so it never evaluates them: ``tract log`` or
``tract compile`` compile the context, and a compile-triggered policy would otherwise act on the
store from a command that only reads.
"""

from __future__ import annotations

import argparse
import os
import warnings
from typing import TYPE_CHECKING

from ..errors import PolicyWarning, TractNotFoundError
from ..names import chat_tract_id, session_tract_id, thread_tract_id

if TYPE_CHECKING:
    from .. import Tract

__all__ = ["UsageError", "CommandFailed", "open_tract", "tract_id_from", "open_from", "database", "read_text_file"]

DEFAULT_TRACT_ID = "default"
"""The tract a command uses when none is named: :data:`tract_core.tract.DEFAULT_TRACT_ID` (written
out, so that building the parser imports no store code)."""

DB_ENV = "TRACT_DB"
"""Environment variable naming the database when ``--db`` is not given."""

URL_PREFIXES = ("sqlite://", "postgresql")
"""How a database URL starts (anything else is a SQLite file path)."""


EXIT_ERROR = 2
"""Exit status of every failed command (as for command-line usage errors)."""


class UsageError(Exception):
    """A mistake in how the command was called (reported like a :class:`TractError`)."""


class CommandFailed(Exception):
    """What the command was asked to do failed, or cannot be done from this process (reported like
    a :class:`TractError`)."""


def open_tract(db: str, tract_id: str = DEFAULT_TRACT_ID, *, policies: bool = False) -> Tract:
    """Open an existing tract, never creating anything.

    Args:
        db: A SQLite file path, or a URL starting with ``sqlite://`` or ``postgresql``.
        tract_id: Which tract of the database.
        policies: Load the tract's configured policies into the handle (restoring them warns, with
            a :class:`~tract_core.PolicyWarning`, about any this process cannot import). False:
            the handle has no policies, so nothing it does evaluates them.

    Raises:
        DatabaseNotFoundError: The file or server does not exist.
        TractNotFoundError: The database has no such tract (the message lists those it has).
    """
    from .. import Tract

    with warnings.catch_warnings():
        if not policies:
            warnings.simplefilter("ignore", PolicyWarning)
        if db.startswith(URL_PREFIXES):
            t = Tract.open(url=db, tract_id=tract_id, create=False, policies=policies)
        else:
            t = Tract.open(path=db, tract_id=tract_id, create=False, policies=policies)
    return t


def database(args: argparse.Namespace) -> str:
    """The database the arguments name: ``--db``, else ``$TRACT_DB``.

    Raises:
        UsageError: Neither names one.
    """
    db = getattr(args, "db", None) or os.environ.get(DB_ENV)
    if not db:
        raise UsageError(f"no database given: pass --db PATH_OR_URL (or set {DB_ENV}); `tract demo` writes one")
    return db


NAMING_OPTIONS = ("tract", "thread", "session", "chat")
"""The options that name the tract (at most one of them is given)."""


def tract_id_from(args: argparse.Namespace) -> str:
    """The tract the arguments name: ``--tract ID``; the tract of a LangGraph thread (``--thread ID``,
    with ``--ns NS`` for a subgraph's namespace), of a LangChain chat history or LlamaIndex
    ``TractMemory`` session (``--session ID``) or of a LlamaIndex chat store key (``--chat KEY``);
    default: the default tract.

    Raises:
        UsageError: More than one of them, or ``--ns`` without ``--thread``.
        InvalidInputError: A name the framework's adapter would refuse too.
    """
    given = [name for name in NAMING_OPTIONS if getattr(args, name, None) is not None]
    if len(given) > 1:
        raise UsageError(f"pass one of --{', --'.join(given)}: each names the tract to use")
    namespace = getattr(args, "ns", None)
    if namespace is not None and given != ["thread"]:
        raise UsageError("--ns names a subgraph's checkpoint namespace of a LangGraph thread: use it with --thread")
    if given == ["thread"]:
        return thread_tract_id(args.thread, namespace or "")
    if given == ["session"]:
        return session_tract_id(args.session)
    if given == ["chat"]:
        return chat_tract_id(args.chat)
    return getattr(args, "tract", None) or DEFAULT_TRACT_ID


def open_from(args: argparse.Namespace, *, policies: bool = False) -> Tract:
    """Open the tract the arguments name (see :func:`open_tract`). When none is named and the
    database has no default tract, its only tract is opened.

    Raises:
        UsageError: Neither ``--db`` nor ``$TRACT_DB`` names a database; or no tract is named, the
            database has no default tract and several others (the message lists them).
    """
    db = database(args)
    tract_id = tract_id_from(args)
    named = any(getattr(args, name, None) is not None for name in NAMING_OPTIONS)
    try:
        return open_tract(db, tract_id, policies=policies)
    except TractNotFoundError:
        if named:
            raise
        from .. import Tract

        ids = Tract.list_tracts(url=db) if db.startswith(URL_PREFIXES) else Tract.list_tracts(db)
        if len(ids) == 1:
            return open_tract(db, ids[0], policies=policies)
        if not ids:
            raise
        shown = ", ".join(repr(i) for i in ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
        raise UsageError(
            f"{db} has no {DEFAULT_TRACT_ID!r} tract but {len(ids)} others ({shown}): name one with --tract ID, "
            "--thread ID, --session ID or --chat KEY; `tract list` shows each with its name and options"
        ) from None


def read_text_file(path: str, what: str = "") -> str:
    """The UTF-8 text of the file a ``--file`` option names (``-``: standard input).

    Args:
        path: The file.
        what: What the file holds, for error messages (e.g. ``"the summary file"``).

    Raises:
        UsageError: The file cannot be read or is not UTF-8 text.
    """
    import sys

    named = f"{what} {path!r}".strip()
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise UsageError(f"cannot read {named}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{named} is not UTF-8 text") from None
