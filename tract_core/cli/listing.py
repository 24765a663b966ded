"""``tract list``: every tract of a database, with the name its framework knows it by.

A database written by an adapter holds one tract per conversation, named as
:mod:`tract_core.names` maps the framework's name: a LangGraph thread (``TractSaver``), a LangChain
chat history or a LlamaIndex ``TractMemory`` session, a LlamaIndex chat store key. Each tract's
kind is read from that naming, then from the database: the LangGraph saver's own table
(``tract_lg_channels``, when the database has it) names the thread and namespace of each of its
tracts, even one whose id is hashed; the messages' metadata tells a LangChain session from a
LlamaIndex one. A tract none of that matches is a plain tract (``--tract ID``).
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.text import Text

from .. import Tract
from ..names import ARCHIVED_CHAT_PREFIX, CHAT_PREFIX, SEPARATOR
from .options import database
from .render import Column, counted, dumps, fitted_table, when

__all__ = ["TractEntry", "KINDS", "cmd_list", "list_entries", "describe", "entry_dict"]

KINDS = {
    "langgraph-thread": "LangGraph thread",
    "langchain-session": "LangChain session",
    "llamaindex-session": "LlamaIndex session",
    "llamaindex-chat": "LlamaIndex chat",
    "llamaindex-chat-archived": "LlamaIndex archived chat",
    "tract": "tract",
}
"""Each kind of tract ``tract list`` tells apart, and how it says it."""

SAVER_TABLE = "tract_lg_channels"
"""The LangGraph saver's table that records the tract of each thread's messages."""

_HASHED = re.compile(r"\|\|[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class TractEntry:
    """One tract of a database, as ``tract list`` shows it (and ``--json`` prints it).

    Attributes:
        tract: The tract id (``--tract ID``).
        kind: A key of :data:`KINDS`.
        name: The name its framework knows it by: the thread id, session id or chat store key
            (None for a LangGraph thread whose long id was hashed and the saver's table is missing).
        namespace: A LangGraph subgraph's checkpoint namespace (None for the root graph and the rest).
        select: The command-line options that pick it, e.g. ``["--thread", "support-42"]``.
        messages: Messages in HEAD's compiled context.
        commits: Commits in HEAD's history.
        branches: Its branches.
        branch: The checked-out branch (None when HEAD is detached).
        head: The commit HEAD points at (None for an empty tract).
        last_activity: When it last changed (UNIX time: its newest commit or ref move; None if empty).
    """

    tract: str
    kind: str
    name: str | None
    namespace: str | None
    select: list[str]
    messages: int
    commits: int
    branches: int
    branch: str | None
    head: str | None
    last_activity: float | None


def _thread_of(tract_id: str) -> tuple[str, str] | None:
    """The (thread id, namespace) a LangGraph tract id spells, if it spells one (not a hashed id)."""
    if tract_id.startswith(SEPARATOR) and not tract_id.startswith(SEPARATOR * 2):
        escaped, sep, namespace = tract_id[1:].partition(SEPARATOR)
        if sep:
            return escaped.replace("%7C", SEPARATOR).replace("%25", "%"), namespace
        return None
    thread, sep, namespace = tract_id.partition(SEPARATOR)
    return (thread, namespace) if sep and thread else None


def describe(
    tract_id: str, threads: Mapping[str, tuple[str, str]], metadata_keys: set[str]
) -> tuple[str, str | None, str | None, list[str]]:
    """A tract's kind, the name its framework knows it by, its namespace and the options that pick it.

    Args:
        tract_id: The tract.
        threads: For the tracts the LangGraph saver recorded, their (thread id, namespace).
        metadata_keys: The keys of its messages' metadata (``langchain``, ``llamaindex``, ...).
    """
    if tract_id.startswith(ARCHIVED_CHAT_PREFIX):
        return "llamaindex-chat-archived", tract_id[len(ARCHIVED_CHAT_PREFIX) :], None, ["--tract", tract_id]
    if tract_id.startswith(CHAT_PREFIX):
        key = tract_id[len(CHAT_PREFIX) :]
        return "llamaindex-chat", key, None, ["--chat", key]
    thread = threads.get(tract_id) or _thread_of(tract_id)
    if thread is not None:
        thread_id, namespace = thread
        select = ["--thread", thread_id] + (["--ns", namespace] if namespace else [])
        return "langgraph-thread", thread_id, namespace or None, select
    if _HASHED.match(tract_id):
        return "langgraph-thread", None, None, ["--tract", tract_id]
    if "llamaindex" in metadata_keys:
        return "llamaindex-session", tract_id, None, ["--session", tract_id]
    if "langchain" in metadata_keys:
        return "langchain-session", tract_id, None, ["--session", tract_id]
    return "tract", tract_id, None, ["--tract", tract_id]


def _saver_threads(store: Any) -> dict[str, tuple[str, str]]:
    """The LangGraph saver's record of which thread and namespace each tract holds (empty if the
    database has no saver tables)."""
    from sqlalchemy import inspect, text

    from .. import storage

    with storage.read(store) as tx:
        if not inspect(tx.connection).has_table(SAVER_TABLE):
            return {}
        rows = tx.execute(
            text(f"SELECT DISTINCT tract_id, thread_id, checkpoint_ns FROM {SAVER_TABLE} WHERE tract_id IS NOT NULL")
        ).all()
    return {str(tract_id): (str(thread), str(namespace or "")) for tract_id, thread, namespace in rows}


def _entry(t: Tract, threads: Mapping[str, tuple[str, str]]) -> TractEntry:
    status = t.status()
    history = t.log(limit=None)
    keys = {key for commit in history for key in (commit.metadata or {})}
    kind, name, namespace, select = describe(t.tract_id, threads, keys)
    moved = t.reflog(limit=1)
    times = [entry.created_at for entry in moved] + [commit.created_at for commit in history[:1]]
    return TractEntry(
        tract=t.tract_id,
        kind=kind,
        name=name,
        namespace=namespace,
        select=select,
        messages=status.message_count,
        commits=status.commit_count,
        branches=len(t.list_branches()),
        branch=status.branch,
        head=status.head,
        last_activity=max(times) if times else None,
    )


def list_entries(db: str) -> list[TractEntry]:
    """Every tract of the database ``db`` (a SQLite path or a database URL), most recently active first.

    Raises:
        DatabaseNotFoundError: No such database.
    """
    from .. import storage

    store = storage.open_store(db, create=False)
    try:
        threads = _saver_threads(store)
        with storage.read(store) as tx:
            ids = tx.tract_ids()
        entries = []
        for tract_id in ids:
            with Tract.open(store=store, tract_id=tract_id, create=False, policies=False) as t:
                entries.append(_entry(t, threads))
    finally:
        store.close()
    return sorted(entries, key=lambda e: (-(e.last_activity or 0.0), e.tract))


def _label(entry: TractEntry) -> Text:
    if entry.name is None:
        return Text("(hashed: a long thread id or namespace)", style="dim")
    text = Text(entry.name, style="bold")
    if entry.namespace:
        text.append(f" ns={entry.namespace}", style="")
    return text


def _render(out: Console, db: str, entries: Sequence[TractEntry]) -> Any:
    if not entries:
        return Text(f"{db} holds no tracts yet", style="dim")
    columns = [
        Column("kind", whole=True),
        Column("name", whole=True, cap=40),
        Column("messages", drop=2, whole=True, rigid=True, justify="right"),
        Column("branches", drop=3, whole=True, rigid=True, justify="right"),
        Column("last activity", drop=1, whole=True),
        Column("open it with", drop=4, min_width=16),
    ]
    rows = [
        [
            KINDS[entry.kind],
            _label(entry),
            f"{entry.messages:,}",
            str(entry.branches),
            when(entry.last_activity) if entry.last_activity is not None else "-",
            Text(" ".join(_quoted(entry.select)), style="cyan"),
        ]
        for entry in entries
    ]
    caption = f"{counted(len(entries), 'tract')}, most recently active first"
    return fitted_table(out, columns, rows, box=box.SIMPLE_HEAD, caption=caption)


def _quoted(words: Sequence[str]) -> list[str]:
    return [shlex.quote(word) for word in words]


def entry_dict(entry: TractEntry) -> dict[str, Any]:
    """An entry as plain JSON data (``head`` in full)."""
    return asdict(entry)


def cmd_list(args: argparse.Namespace, out: Console) -> None:
    """``tract list [--json]``: every tract of the database, most recently active first."""
    db = database(args)
    entries = list_entries(db)
    if args.json:
        sys.stdout.write(dumps([entry_dict(e) for e in entries]) + "\n")
    else:
        out.print(_render(out, db, entries))
        if entries:
            example = " ".join(_quoted(["--db", db, *entries[0].select]))
            out.print(Text(f"Open one with its options, e.g. tract {example} log", style="dim"))
