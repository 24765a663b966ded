"""The ``tract`` command line: inspect a tract store; branch, merge, reset, compress and gc it, from a terminal.

A thin layer over the public :class:`~tract_core.Tract` API: each command opens an existing tract
(``create=False``), calls one or two API methods and renders the result with rich.
``tract compile --json`` prints plain JSON, ready for a pipe. :func:`graph_lines` draws the commit
graph of ``tract log --graph``.

Example:
    $ tract demo
    $ tract --db tract-demo.db log --graph
    $ tract --db tract-demo.db compile --json | python -m json.tool
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import shlex
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from . import (
    AnnotationInfo,
    CommitInfo,
    CompiledContext,
    Conflict,
    ContextDiff,
    MergeConflict,
    MergeResult,
    MessageChange,
    Operation,
    Priority,
    ReflogEntry,
    TokenizerFallbackWarning,
    Tract,
    TractError,
    TractStatus,
    Usage,
    __version__,
)
from .compress import DEFAULT_KEEP_RECENT, CompressionResult, PendingCompression
from .demo import DEFAULT_DEMO_PATH, DemoStore, build_demo
from .gc import GCResult
from .merge import STRATEGIES
from .tract import DEFAULT_TRACT_ID

__all__ = ["main", "build_parser", "open_tract", "graph_lines"]

EXIT_ERROR = 2
"""Exit status of every failed command (as for command-line usage errors)."""

EXIT_CONFLICT = 1
"""Exit status of ``tract merge`` when the merge has conflicts (an outcome, not a usage error)."""

DB_ENV = "TRACT_DB"
"""Environment variable naming the database when ``--db`` is not given."""

DIFF_LINES = 12
"""Lines of an added or removed message that ``tract diff`` prints."""

Handler = Callable[[argparse.Namespace, Console], int | None]
"""A command: runs with the parsed arguments and prints to the console; returns its exit status
(None for success)."""

_URL_PREFIXES = ("sqlite://", "postgresql")
_ROLE_STYLES = {"system": "magenta", "developer": "magenta", "user": "cyan", "assistant": "green", "tool": "yellow"}
_LANE_STYLES = ("red", "green", "yellow", "blue", "magenta", "cyan")


class _UsageError(Exception):
    """A mistake in how the command was called (reported like a :class:`TractError`)."""


# -- opening --------------------------------------------------------------------------------


def open_tract(db: str, tract_id: str = DEFAULT_TRACT_ID) -> Tract:
    """Open an existing tract, never creating anything.

    Args:
        db: A SQLite file path, or a URL starting with ``sqlite://`` or ``postgresql``.
        tract_id: Which tract of the database.

    Raises:
        DatabaseNotFoundError: The file or server does not exist.
        TractNotFoundError: The database has no such tract (the message lists those it has).
    """
    if db.startswith(_URL_PREFIXES):
        return Tract.open(url=db, tract_id=tract_id, create=False)
    return Tract.open(path=db, tract_id=tract_id, create=False)


def _database(args: argparse.Namespace) -> str:
    db = getattr(args, "db", None) or os.environ.get(DB_ENV)
    if not db:
        raise _UsageError(f"no database given: pass --db PATH_OR_URL (or set {DB_ENV}); `tract demo` writes one")
    return db


def _tract_id(args: argparse.Namespace) -> str:
    return getattr(args, "tract", None) or DEFAULT_TRACT_ID


def _open(args: argparse.Namespace) -> Tract:
    return open_tract(_database(args), _tract_id(args))


# -- small renderers ------------------------------------------------------------------------


def _short(hash: str | None) -> str:
    return hash[:12] if hash else "-"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _role(role: str | None) -> Text:
    return Text(role or "-", style=_ROLE_STYLES.get(role or "", "white"))


def _json(data: Any) -> RenderableType:
    if data is None:
        return Text("none", style="dim")
    return JSON(_dumps(data), indent=2)


def _usage(usage: Usage | None) -> Text:
    if usage is None:
        return Text("none recorded", style="dim")
    text = f"prompt {usage.prompt_tokens:,} · completion {usage.completion_tokens:,} · total {usage.total_tokens:,}"
    if usage.cache_read_tokens or usage.cache_write_tokens:
        text += f" · cache read {usage.cache_read_tokens:,} / written {usage.cache_write_tokens:,}"
    return Text(f"{text} ({usage.source})")


def _message_body(message: Mapping[str, Any]) -> RenderableType:
    """A message's content as text (or JSON for content parts), then its other fields as JSON."""
    content = message.get("content")
    parts: list[RenderableType] = []
    if isinstance(content, str):
        parts.append(Text(content))
    elif content is not None:
        parts.append(_json(content))
    extras = {k: v for k, v in message.items() if k not in ("role", "content")}
    if extras:
        parts.append(_json(extras))
    return Group(*parts) if parts else Text("(empty)", style="dim")


def _grid(rows: Sequence[tuple[str, RenderableType]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, value)
    return grid


# -- log --------------------------------------------------------------------------------------


def _render_log(
    commits: Sequence[CommitInfo], context: CompiledContext, skip_reasons: Mapping[str, str], more: bool
) -> Table:
    """The log table, newest first, noting edits and messages missing from HEAD's context.

    Args:
        commits: The commits to list, newest first.
        context: HEAD's compiled context (tells which messages the model sees).
        skip_reasons: For messages hidden from the context by a SKIP, a note saying why.
        more: Whether older commits exist beyond ``commits``.
    """
    visible = set(context.commit_hashes)
    edited_by: dict[str, str] = {}
    for commit in commits:
        if commit.response_to:
            edited_by.setdefault(commit.response_to, commit.hash)
    caption = "older commits exist: --limit 0 lists all" if more else None
    table = Table(box=box.SIMPLE_HEAD, show_lines=True, caption=caption)
    table.add_column("commit", style="yellow", no_wrap=True)
    table.add_column("role / type", no_wrap=True)
    table.add_column("op", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("message", min_width=20)
    for commit in commits:
        role = _role(commit.role).append(f"\n{commit.content_type}", style="dim")
        created = _when(commit.created_at).replace(" ", "\n")
        message = Group(
            Text(commit.preview(80), no_wrap=True, overflow="ellipsis"),
            _log_note(commit, visible, edited_by, skip_reasons),
        )
        table.add_row(commit.short_hash, role, str(commit.operation), created, message)
    return table


def _log_note(commit: CommitInfo, visible: set[str], edited_by: Mapping[str, str], hidden: Mapping[str, str]) -> Text:
    if commit.response_to:
        return Text(f"edits {_short(commit.response_to)}", style="cyan")
    if commit.hash in edited_by:
        return Text(f"edited by {_short(edited_by[commit.hash])}", style="cyan")
    if commit.role is not None and commit.hash not in visible:
        return Text(hidden.get(commit.hash, "not in context"), style="red")
    return Text("")


def _print_log(t: Tract, out: Console, limit: int | None) -> None:
    commits = t.log(limit=None if limit is None else limit + 1)
    more = limit is not None and len(commits) > limit
    commits = commits[:limit] if more else commits
    if not commits:
        out.print(Text(f"tract {t.tract_id!r} has no commits yet", style="dim"))
        return
    context = t.compile()
    visible = set(context.commit_hashes)
    hidden = [c.hash for c in commits if c.role is not None and not c.response_to and c.hash not in visible]
    out.print(_render_log(commits, context, _skip_reasons(t, hidden), more))


def _skip_reasons(t: Tract, hashes: Sequence[str]) -> dict[str, str]:
    """Why each of these messages is hidden, for those whose latest annotation is SKIP."""
    reasons = {}
    for hash in hashes:
        annotations = t.show(hash).annotations
        if annotations and annotations[-1].priority is Priority.SKIP:
            reason = annotations[-1].reason
            reasons[hash] = f"skipped: {reason}" if reason else "skipped"
    return reasons


# -- log --graph ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _GraphRow:
    """One line of the commit graph: lane characters, and the commit drawn on it (None for a
    line that only connects lanes)."""

    graph: str
    commit: str | None = None


def _graph_rows(commits: Iterable[tuple[str, Sequence[str]]]) -> list[_GraphRow]:
    """Lay out the lanes of a commit graph, as ``git log --graph`` does.

    Each lane (two characters wide) waits for one commit. A commit is drawn as ``*`` in its lane
    (a new lane on the right if nothing waits for it); its lane then waits for its parents, the
    first parent in place and any further parent in a lane inserted to its right. A parent that a
    lane further left already waits for is joined there (``/``), so a fork point is drawn once.
    Lines of ``/`` and ``\\`` connect the lanes of one commit line to those of the next; a lane
    that moves several columns takes one line per column, all leftward moves before rightward ones
    (so no two moves share a character).

    Args:
        commits: ``(hash, parents)`` pairs, every commit before its parents (log order).
    """
    rows: list[_GraphRow] = []
    lanes: list[str] = []
    for commit, parents in commits:
        column = _lane_for(lanes, commit)
        following: list[str] = []
        edges: list[tuple[int, int]] = []  # (lane on the commit line, lane on the next commit line)
        for index, waiting_for in enumerate(lanes):
            if index == column:
                edges.extend((index, _lane_for(following, parent)) for parent in dict.fromkeys(parents))
            else:
                edges.append((index, _lane_for(following, waiting_for)))
        cells = "".join("* " if index == column else "| " for index in range(len(lanes)))
        rows.append(_GraphRow(cells.ljust(2 * max(len(lanes), len(following))), commit))
        rows.extend(_GraphRow(line) for line in _connecting_lines(edges))
        lanes = following
    return rows


def _lane_for(lanes: list[str], commit: str) -> int:
    """The lane waiting for ``commit``, added on the right if none is."""
    if commit not in lanes:
        lanes.append(commit)
    return lanes.index(commit)


def _connecting_lines(edges: Sequence[tuple[int, int]]) -> list[str]:
    """The lines that move each edge from its lane to its next lane, one column per line."""
    if all(start == end for start, end in edges):
        return []
    at = [start for start, _ in edges]
    lines: list[str] = []
    for step, mark in ((-1, "/"), (1, "\\")):
        while any((end - position) * step > 0 for position, (_, end) in zip(at, edges, strict=True)):
            chars: dict[int, str] = {}
            for index, (_, end) in enumerate(edges):
                if (end - at[index]) * step > 0:
                    chars[2 * at[index] + step] = mark
                    at[index] += step
                else:
                    chars[2 * at[index]] = "|"
            lines.append("".join(chars.get(i, " ") for i in range(max(chars) + 1)))
    return lines


def graph_lines(
    commits: Iterable[tuple[str, Sequence[str]]],
    labels: Mapping[str, Sequence[str]] | None = None,
    messages: Mapping[str, str] | None = None,
) -> list[str]:
    """The commit graph as plain lines, like ``git log --graph --oneline``.

    Args:
        commits: ``(hash, parents)`` pairs in log order: every commit before its parents.
        labels: Ref names to show beside a commit, e.g. ``{hash: ["HEAD -> main", "feature"]}``.
        messages: A one-line message per commit.

    Returns:
        One line per commit (graph, short hash, labels in parentheses, message), with lines of
        ``|``, ``/`` and ``\\`` between them where lanes fork, merge or move.

    Example:
        >>> for line in graph_lines([("m", ["b", "f"]), ("f", ["a"]), ("b", ["a"]), ("a", [])],
        ...                         labels={"m": ["HEAD -> main"], "f": ["feature"]}):
        ...     print(line)
        *   m (HEAD -> main)
        |\\
        | * f (feature)
        * | b
        |/
        * a
    """
    lines = []
    for row in _graph_rows(commits):
        if row.commit is None:
            lines.append(row.graph)
            continue
        line = row.graph + _short(row.commit)
        names = (labels or {}).get(row.commit)
        if names:
            line += f" ({', '.join(names)})"
        message = (messages or {}).get(row.commit)
        if message:
            line += f" {message}"
        lines.append(line)
    return lines


def _merge_logs(logs: Iterable[Sequence[CommitInfo]]) -> list[CommitInfo]:
    """One log of several: every commit once, each before its parents, otherwise in the given order.

    A stable topological sort: of the commits whose children have all been listed, the one met
    first in ``logs`` (read in order) comes next. Each log must list its commits before their
    parents (as :meth:`Tract.log` does); a log already in that order comes out unchanged.
    """
    found: dict[str, CommitInfo] = {}
    for log in logs:
        for commit in log:
            found.setdefault(commit.hash, commit)
    order = list(found)
    rank = {hash: index for index, hash in enumerate(order)}
    children = dict.fromkeys(order, 0)
    for commit in found.values():
        for parent in set(commit.parents):
            if parent in children:
                children[parent] += 1
    ready = [rank[hash] for hash, count in children.items() if count == 0]
    heapq.heapify(ready)
    merged: list[CommitInfo] = []
    while ready:
        commit = found[order[heapq.heappop(ready)]]
        merged.append(commit)
        for parent in set(commit.parents):
            if parent in children:
                children[parent] -= 1
                if children[parent] == 0:
                    heapq.heappush(ready, rank[parent])
    return merged


def _ref_labels(t: Tract) -> dict[str, list[str]]:
    """The names to show beside each commit: ``HEAD -> branch`` (or ``HEAD``), then the branches."""
    labels: dict[str, list[str]] = {}
    branches = t.list_branches()
    head = t.head
    if head is not None and not any(branch.current for branch in branches):
        labels.setdefault(head, []).append("HEAD")
    for branch in sorted(branches, key=lambda b: not b.current):
        if branch.commit is not None:
            labels.setdefault(branch.commit, []).append(f"HEAD -> {branch.name}" if branch.current else branch.name)
    return labels


def _graph_message(commit: CommitInfo) -> str:
    if commit.role is None:
        return commit.preview(72)
    edit = " (edit)" if commit.operation is Operation.EDIT else ""
    return f"{commit.role}{edit}: {commit.preview(72)}"


def _graph_history(t: Tract, limit: int | None, every_branch: bool) -> tuple[list[CommitInfo], bool]:
    """The commits to draw (HEAD's history, or every branch's) and whether older ones exist."""
    if every_branch:
        logs: list[list[CommitInfo]] = []
        seen: set[str] = set()
        tips = [t.head, *(branch.commit for branch in t.list_branches())]
        for tip in tips:
            if tip is not None and tip not in seen:  # a commit seen brings its whole history
                logs.append(t.log(limit=None, start=tip))
                seen.update(commit.hash for commit in logs[-1])
        commits = _merge_logs(logs)
    else:
        commits = t.log(limit=None if limit is None else limit + 1)
    more = limit is not None and len(commits) > limit
    return (commits[:limit] if more else commits), more


def _render_graph(commits: Sequence[CommitInfo], labels: Mapping[str, Sequence[str]]) -> list[Text]:
    """The lines of :func:`graph_lines`, colored: lanes by column, hashes, refs and roles."""
    by_hash = {commit.hash: commit for commit in commits}
    lines = []
    for row in _graph_rows((commit.hash, commit.parents) for commit in commits):
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, char in enumerate(row.graph):
            style = "bold" if char == "*" else _LANE_STYLES[index // 2 % len(_LANE_STYLES)]
            text.append(char, style=style if char != " " else "")
        if row.commit is not None:
            commit = by_hash[row.commit]
            text.append(commit.short_hash, style="yellow")
            names = labels.get(commit.hash)
            if names:
                text.append(" (", style="yellow")
                for index, name in enumerate(names):
                    if index:
                        text.append(", ", style="yellow")
                    if name.startswith("HEAD"):
                        text.append(name, style="bold cyan")
                    else:
                        text.append(name, style="bold green")
                text.append(")", style="yellow")
            message = _graph_message(commit)
            if commit.role is not None:
                text.append(" ")
                text.append(message[: len(commit.role)], style=_ROLE_STYLES.get(commit.role, "white"))
                text.append(message[len(commit.role) :])
            else:
                text.append(f" {message}", style="dim")
        lines.append(text)
    return lines


def _print_graph(t: Tract, out: Console, limit: int | None, every_branch: bool) -> None:
    commits, more = _graph_history(t, limit, every_branch)
    if not commits:
        out.print(Text(f"tract {t.tract_id!r} has no commits yet", style="dim"))
        return
    for line in _render_graph(commits, _ref_labels(t)):
        out.print(line, crop=True)
    if more:
        out.print(Text("older commits exist: --limit 0 lists all", style="dim"))


# -- show ---------------------------------------------------------------------------------------


def _render_commit(commit: CommitInfo) -> Group:
    """One commit in full: fields, content, settings, metadata, usage and annotation history."""
    operation = str(commit.operation)
    if commit.response_to:
        operation += f" of {commit.response_to}"
    fields = _grid(
        [
            ("hash", Text(commit.hash, style="yellow", overflow="fold")),
            ("parents", Text(", ".join(commit.parents) or "none (first commit)", overflow="fold")),
            ("role", _role(commit.role)),
            ("content type", Text(commit.content_type)),
            ("operation", Text(operation, overflow="fold")),
            ("created", Text(_when(commit.created_at))),
            ("tokens", Text("-" if commit.token_count is None else str(commit.token_count))),
            ("message", Text(commit.message or "-")),
        ]
    )
    whose = f" of message {commit.response_to[:12]}" if commit.response_to else ""
    return Group(
        Panel(fields, title=f"commit {commit.short_hash}", title_align="left"),
        Panel(_message_body(commit.body or {}), title="message", title_align="left"),
        Panel(_json(commit.generation_config), title="generation_config", title_align="left"),
        Panel(_json(commit.metadata), title="metadata", title_align="left"),
        Panel(_usage(commit.usage), title="usage", title_align="left"),
        Panel(_annotations(commit.annotations), title=f"annotations{whose}", title_align="left"),
    )


def _annotations(annotations: Sequence[AnnotationInfo]) -> RenderableType:
    if not annotations:
        return Text("none: the default priority of its content type applies", style="dim")
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("when", "priority", "reason", "made at HEAD"):
        table.add_column(name)
    for note in annotations:
        table.add_row(_when(note.created_at), str(note.priority), Text(note.reason or "-"), _short(note.anchor))
    return table


# -- status -------------------------------------------------------------------------------------


def _render_status(status: TractStatus, pending: int = 0, archived: int = 0) -> Panel:
    """Branch, HEAD, counts, tokens against the budget, tokenizer and the last provider usage; then
    pending compressions and archived commits, if any."""
    branch = Text(f"detached at {_short(status.head)}", style="red") if status.detached else Text(str(status.branch))
    tokenizer = Text(status.tokenizer)
    if status.tokenizer_note:
        tokenizer.append(f"\n{status.tokenizer_note}", style="yellow")
    rows = [
        ("tract", Text(status.tract_id)),
        ("branch", branch),
        ("HEAD", Text(_short(status.head), style="yellow")),
        ("commits", Text(f"{status.commit_count} in HEAD's history")),
        ("messages", Text(f"{status.message_count} in the compiled context")),
        ("tokens", _tokens(status)),
        ("tokenizer", tokenizer),
        ("last usage", _usage(status.last_usage)),
    ]
    if pending or archived:
        notes = Text()
        if pending:
            notes.append(f"{_plural(pending, 'pending draft')} (tract compress --pending)", style="yellow")
        if archived:
            notes.append(" · " if pending else "")
            notes.append(f"{_plural(archived, 'archived commit')} (until tract gc)")
        rows.append(("compression", notes))
    return Panel(_grid(rows), title="status", title_align="left")


def _tokens(status: TractStatus) -> Text:
    if status.token_budget is None or status.budget_ratio is None:
        return Text(f"{status.token_count:,} (no budget set)")
    ratio = status.budget_ratio
    style = "red" if ratio >= 0.9 else "yellow" if ratio >= 0.7 else "green"
    return Text(f"{status.token_count:,} / {status.token_budget:,} ({ratio:.1%} of the budget)", style=style)


# -- compile ------------------------------------------------------------------------------------


def _compiled_json(context: CompiledContext) -> str:
    """The compiled context as a JSON object: ``head``, ``digest``, ``token_count``, ``messages``."""
    data = {
        "head": context.head,
        "digest": context.digest,
        "token_count": context.token_count,
        "messages": context.messages,
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


def _render_compiled(context: CompiledContext) -> Group:
    """One panel per message, then the head, token count and digest."""
    if not len(context):
        return Group(Text("no messages: the context is empty", style="dim"))
    panels: list[RenderableType] = []
    for index, (message, hash) in enumerate(zip(context.messages, context.commit_hashes, strict=True)):
        role = message.get("role")
        panels.append(
            Panel(
                _message_body(message),
                title=f"[{index}] {role}",
                title_align="left",
                subtitle=_short(hash),
                subtitle_align="right",
                border_style=_ROLE_STYLES.get(str(role), "white"),
            )
        )
    footer = (
        f"{len(context)} messages · {context.token_count:,} tokens · "
        f"compiled at {_short(context.head)} · digest {context.digest[:16]}"
    )
    panels.append(Text(footer, style="dim"))
    return Group(*panels)


# -- diff ---------------------------------------------------------------------------------------


def _render_diff(diff: ContextDiff) -> Group:
    """Each added, removed and changed message; unified diffs of changed text, colored."""
    header = Text(f"diff {_short(diff.a)} → {_short(diff.b)}", style="bold")
    if diff.is_empty:
        return Group(header, Text("no differences", style="dim"))
    parts: list[RenderableType] = [header]
    parts.extend(_change(change) for change in diff.changes)
    sign = "+" if diff.token_delta >= 0 else ""
    summary = (
        f"{len(diff.changed)} changed, {len(diff.removed)} removed, {len(diff.added)} added · "
        f"tokens {sign}{diff.token_delta}"
    )
    parts.append(Text(summary, style="dim"))
    return Group(*parts)


def _change(change: MessageChange) -> Panel:
    if change.kind == "changed":
        title = f"~ changed [{change.index_a}→{change.index_b}] {change.role} {_short(change.hash_b)}"
        return Panel(_colored_unified(change.unified), title=title, title_align="left", border_style="yellow")
    if change.kind == "added":
        title = f"+ added [{change.index_b}] {change.role} {_short(change.hash_b)}"
        body = _signed_lines(change.after or {}, "+", "green", change.hash_b)
        return Panel(body, title=title, title_align="left", border_style="green")
    title = f"- removed [{change.index_a}] {change.role} {_short(change.hash_a)}"
    body = _signed_lines(change.before or {}, "-", "red", change.hash_a)
    return Panel(body, title=title, title_align="left", border_style="red")


def _signed_lines(message: Mapping[str, Any], sign: str, style: str, hash: str | None) -> Text:
    """A whole added or removed message as diff lines, cut after :data:`DIFF_LINES` lines."""
    content = message.get("content")
    lines = [] if content is None else (content if isinstance(content, str) else _dumps(content)).splitlines()
    extras = {k: v for k, v in message.items() if k not in ("role", "content")}
    if extras:
        lines += _dumps(extras).splitlines()
    text = Text()
    for line in lines[:DIFF_LINES]:
        text.append(f"{sign} {line}\n", style=style)
    if len(lines) > DIFF_LINES:
        text.append(f"… {len(lines) - DIFF_LINES} more lines: tract show {_short(hash)}", style="dim")
    text.rstrip()
    return text


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def _colored_unified(unified: str) -> Text:
    text = Text()
    for line in unified.splitlines():
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        else:
            style = ""
        text.append(line + "\n", style=style)
    text.rstrip()
    return text


# -- commands -----------------------------------------------------------------------------------


def _cmd_log(args: argparse.Namespace, out: Console) -> None:
    if args.all and not args.graph:
        raise _UsageError("--all draws every branch in the graph: use it with --graph")
    with _open(args) as t:
        if args.graph:
            _print_graph(t, out, args.limit or None, every_branch=args.all)
        else:
            _print_log(t, out, args.limit or None)


def _cmd_show(args: argparse.Namespace, out: Console) -> None:
    with _open(args) as t:
        out.print(_render_commit(t.show(args.ref)))


def _cmd_status(args: argparse.Namespace, out: Console) -> None:
    with _open(args) as t:
        out.print(_render_status(t.status(), len(t.pending_compressions()), len(t.archived())))


def _cmd_compile(args: argparse.Namespace, out: Console) -> None:
    with _open(args) as t:
        context = t.compile(at_commit=args.at)
    if args.json:
        sys.stdout.write(_compiled_json(context) + "\n")
    else:
        out.print(_render_compiled(context))


def _cmd_diff(args: argparse.Namespace, out: Console) -> None:
    with _open(args) as t:
        out.print(_render_diff(t.diff(args.a, args.b)))


def _cmd_demo(args: argparse.Namespace, out: Console) -> None:
    db = getattr(args, "db", None) or DEFAULT_DEMO_PATH
    if db.startswith(_URL_PREFIXES):
        raise _UsageError("tract demo writes a SQLite file: give --db a file path, not a URL")
    demo = build_demo(db, tract_id=_tract_id(args))
    if demo.replaced:
        out.print(Text(f"Replaced the existing {db}.", style="yellow"))
    out.print(Text(f"Wrote a customer-support conversation to {db} (tract {demo.tract_id!r}).", style="bold"))
    with open_tract(db, demo.tract_id) as t:
        out.rule("tract log: every commit, the mistake and the noise included")
        _print_log(t, out, None)
        out.rule("tract status: tokens against the budget, the provider's numbers")
        out.print(_render_status(t.status()))
        out.rule("tract diff: before the correction → HEAD (the edit, the skipped tool round-trip)")
        out.print(_render_diff(t.diff(demo.before_fix)))
        out.rule("tract compile: what the model sees next")
        out.print(_render_compiled(t.compile()))
    out.print(_next_steps(db, demo))


def _next_steps(db: str, demo: DemoStore) -> Panel:
    base = f"tract --db {shlex.quote(db)}"
    if demo.tract_id != DEFAULT_TRACT_ID:
        base += f" --tract {shlex.quote(demo.tract_id)}"
    steps = [
        ("the history, newest first", "log"),
        ("tokens, budget and usage", "status"),
        ("the hallucinated answer and its recorded usage", f"show {demo.wrong_answer[:12]}"),
        ("the correction (an EDIT)", "show HEAD"),
        ("the skipped tool output and why", f"show {demo.tool_result[:12]}"),
        ("what the model saw when it said 60 days", f"compile --at {demo.question[:12]}"),
        ("everything that changed since then", f"diff {demo.question[:12]}"),
        ("the next LLM call's messages, as JSON", "compile --json | python -m json.tool"),
    ]
    lines = Text()
    for purpose, command in steps:
        lines.append(f"# {purpose}\n", style="dim")
        lines.append(f"{base} {command}\n", style="bold")
    lines.rstrip()
    return Panel(lines, title="inspect it yourself", title_align="left", border_style="cyan")


# -- branches, merge and history surgery ---------------------------------------------------------


def _current(t: Tract) -> str:
    """The checked-out branch, or ``HEAD`` when detached."""
    return next((branch.name for branch in t.list_branches() if branch.current), "HEAD")


def _tip(t: Tract, hash: str | None) -> Text:
    """A commit as ``short-hash  preview``."""
    if hash is None:
        return Text("no commits yet", style="dim")
    return Text(_short(hash), style="yellow").append(f"  {_graph_message(t.show(hash))}", style="")


def _tip_line(t: Tract, prefix: str, hash: str | None, style: str = "bold") -> Text:
    """``prefix`` followed by a commit as ``short-hash  preview``, on one line (cut to fit)."""
    return Text(prefix, style=style, no_wrap=True, overflow="ellipsis").append(_tip(t, hash))


def _clip(value: Any, width: int = 60) -> str:
    """A conflict side (text, content parts or a priority) on one line."""
    text = value if isinstance(value, str) else str(value) if not isinstance(value, (list, dict)) else _dumps(value)
    text = " ".join(text.split())
    return repr(text if len(text) <= width else text[: width - 1] + "…")


def _render_branches(t: Tract) -> RenderableType:
    branches = t.list_branches()
    head = t.head
    if not branches and head is None:
        return Text(f"tract {t.tract_id!r} has no branches yet: the first commit creates one", style="dim")
    table = Table(box=None, show_header=False, padding=(0, 1), collapse_padding=True, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(overflow="ellipsis", no_wrap=True)
    if not any(branch.current for branch in branches):
        table.add_row(Text("*", style="bold green"), Text("(HEAD detached)", style="red"), _tip(t, head))
    for branch in branches:
        marker = Text("*" if branch.current else " ", style="bold green")
        name = Text(branch.name, style="bold green" if branch.current else "")
        table.add_row(marker, name, _tip(t, branch.commit))
    return table


def _cmd_branch(args: argparse.Namespace, out: Console) -> None:
    if args.delete and args.name is None:
        raise _UsageError("tract branch -d needs the name of the branch to delete")
    if args.delete and (args.start is not None or args.switch):
        raise _UsageError("tract branch -d deletes a branch: --from and --switch do not apply")
    if args.force and not args.delete:
        raise _UsageError("--force goes with -d (delete a branch whose commits no other branch reaches)")
    if args.name is None and (args.start is not None or args.switch):
        raise _UsageError("--from and --switch need the name of the branch to create")
    with _open(args) as t:
        if args.name is None:
            out.print(_render_branches(t))
        elif args.delete:
            deleted = t.delete_branch(args.name, force=args.force)
            out.print(Text(f"Deleted branch {deleted.name!r} (was {_short(deleted.commit)}).", style="bold"))
        else:
            created = t.branch(args.name, args.start, switch=args.switch)
            done = "Created branch and switched to" if args.switch else "Created branch"
            out.print(_tip_line(t, f"{done} {created.name!r} at ", created.commit))


def _cmd_switch(args: argparse.Namespace, out: Console) -> None:
    with _open(args) as t:
        branch = t.switch(args.name)
        out.print(_tip_line(t, f"Switched to branch {branch.name!r} at ", branch.commit))


def _render_merge(t: Tract, source: str, into: str, before: str | None, result: MergeResult) -> Group:
    if result.kind == "up-to-date":
        return Group(Text(f"Already up to date: {into!r} contains {source!r}.", style="bold"))
    if result.kind == "fast-forward":
        line = _tip_line(t, f"Fast-forward {into!r}: {_short(before)} → ", result.head)
        return Group(line)
    assert result.merge_commit is not None
    parents = t.show(result.merge_commit).parents
    parts: list[RenderableType] = [
        Text(f"Merged {source!r} into {into!r}: merge commit ", style="bold")
        .append(_short(result.merge_commit), style="yellow")
        .append(f" (parents {', '.join(_short(p) for p in parents)})")
    ]
    if result.resolved:
        parts.append(Text(f"Resolved {len(result.resolved)} conflict(s):"))
        for conflict, resolution in result.resolved:
            side = "ours" if resolution == conflict.ours else "theirs" if resolution == conflict.theirs else "given"
            parts.append(
                Text(f"  {conflict.kind} of {conflict.role} message {_short(conflict.target)}: took {side} ").append(
                    _clip(resolution), style="cyan"
                )
            )
    if result.head != result.merge_commit:
        parts.append(_tip_line(t, "HEAD is now at ", result.head, style=""))
    return Group(*parts)


def _conflict_report(source: str, into: str, conflicts: Sequence[Conflict]) -> str:
    """What ``tract merge`` prints on stderr when the merge has conflicts: both versions of each."""
    lines = [
        f"tract: merge conflict: merging {source!r} into {into!r} conflicts on {len(conflicts)} message(s); "
        "nothing was written"
    ]
    for conflict in conflicts:
        lines.append(
            f"  {conflict.kind} of {conflict.role} message {_short(conflict.target)}: "
            f"ours {_clip(conflict.ours)} vs theirs {_clip(conflict.theirs)}"
        )
    example = _short(conflicts[0].target) if conflicts else "HASH"
    lines.append(
        f"hint: take one side for every conflict with --strategy ours or --strategy theirs, or resolve each "
        f"message in Python: t.merge({source!r}, resolutions={{{example!r}: ...}})"
    )
    return "\n".join(lines) + "\n"


def _cmd_merge(args: argparse.Namespace, out: Console) -> int | None:
    with _open(args) as t:
        into, before = _current(t), t.head
        try:
            result = t.merge(args.source, strategy=args.strategy)
        except MergeConflict as conflict:
            sys.stderr.write(_conflict_report(args.source, into, conflict.conflicts))
            return EXIT_CONFLICT
        assert isinstance(result, MergeResult)
        out.print(_render_merge(t, args.source, into, before, result))
    return None


def _cmd_reset(args: argparse.Namespace, out: Console) -> None:
    mode = "hard" if args.hard else "soft"
    with _open(args) as t:
        result = t.reset(args.ref, mode=mode)
        out.print(_tip_line(t, f"Reset {result.ref!r} ({mode}): {_short(result.old)} → ", result.new))
    dropped = len(result.dropped)
    if not dropped:
        out.print(Text("No commit was dropped: every one is still reachable from a branch or HEAD."))
    elif mode == "hard":
        line = Text(f"{dropped} commit(s) dropped; {result.deleted} deleted from the store.", style="red")
        if result.deleted < dropped:
            line.append(
                f" {dropped - result.deleted} kept: commits left behind earlier (still in the reflog) build on them.",
                style="yellow",
            )
        out.print(line)
    else:
        where = f" --ref {result.ref}" if result.ref != "HEAD" else ""
        out.print(
            Text(f"{dropped} commit(s) dropped, kept in the store until gc. ")
            .append("To get them back: ")
            .append(f"tract reflog{where}", style="bold")
            .append(" shows where it was; ")
            .append(f"tract reset {_short(result.old)}", style="bold")
            .append(" returns there.")
        )


def _render_reflog(entries: Sequence[ReflogEntry], more: bool) -> RenderableType:
    if not entries:
        return Text("the reflog is empty: nothing has moved yet", style="dim")
    caption = "older entries exist: --limit 0 lists all" if more else None
    table = Table(box=box.SIMPLE_HEAD, caption=caption)
    table.add_column("new", style="yellow", no_wrap=True)
    table.add_column("ref", no_wrap=True)
    table.add_column("action")
    table.add_column("when", no_wrap=True)
    for entry in entries:
        table.add_row(_short(entry.new), Text(entry.ref, style="cyan"), Text(entry.action), _when(entry.created_at))
    return table


def _cmd_reflog(args: argparse.Namespace, out: Console) -> None:
    limit = args.limit or None
    with _open(args) as t:
        entries = t.reflog(limit=None if limit is None else limit + 1, ref=args.ref)
    more = limit is not None and len(entries) > limit
    out.print(_render_reflog(entries[:limit] if more else entries, more))


def _print_warnings(out: Console, warnings: Sequence[str]) -> None:
    for warning in warnings:
        out.print(Text(f"warning: {warning}", style="yellow"))


def _cmd_cherry_pick(args: argparse.Namespace, out: Console) -> None:
    with _open(args) as t:
        result = t.cherry_pick(args.ref, strict=args.strict)
        ((source, copy),) = result.mapping.items()
        out.print(_tip_line(t, f"Cherry-picked {_short(source)} onto {_current(t)!r} as ", copy))
    _print_warnings(out, result.warnings)


def _cmd_rebase(args: argparse.Namespace, out: Console) -> None:
    with _open(args) as t:
        result = t.rebase(args.onto, strict=args.strict)
        current = _current(t)
        if not result.mapping:
            out.print(Text(f"Nothing to rebase: {args.onto!r} is already in the history of {current!r}.", style="bold"))
            return
        done = f"Rebased {len(result.mapping)} commit(s) of {current!r} onto {args.onto!r}: HEAD is now at "
        out.print(_tip_line(t, done, result.head))
        for old, new in result.mapping.items():
            out.print(Text(f"  {_short(old)} → ").append(_short(new), style="yellow"))
    _print_warnings(out, result.warnings)


# -- compression and gc ---------------------------------------------------------------------------


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def _days_text(days: float) -> str:
    return "1 day" if days == 1 else f"{days:g} days"


def _summary_text(args: argparse.Namespace) -> str | None:
    """The summary given with ``--content`` or read from ``--file`` (``-``: standard input), or None."""
    if args.content is not None and args.file is not None:
        raise _UsageError("give the summary with --content or with --file, not both")
    if args.file is None:
        text = args.content
    else:
        try:
            if args.file == "-":
                text = sys.stdin.read()
            else:
                with open(args.file, encoding="utf-8") as handle:
                    text = handle.read()
        except OSError as error:
            raise _UsageError(f"cannot read the summary file {args.file!r}: {error.strerror or error}") from None
        except UnicodeDecodeError:
            raise _UsageError(f"the summary file {args.file!r} is not UTF-8 text") from None
    if text is not None and not text.strip():
        raise _UsageError("the summary is empty: give the text that replaces the compressed messages")
    return None if text is None else text.strip()


def _compress_action(args: argparse.Namespace) -> str | None:
    """Which of ``--pending``, ``--approve``, ``--reject`` was given (None: a new compression)."""
    given = [
        flag
        for flag, present in (
            ("--pending", args.pending),
            ("--approve", args.approve is not None),
            ("--reject", args.reject is not None),
        )
        if present
    ]
    if len(given) > 1:
        raise _UsageError(f"{' and '.join(given)} do not go together: give one")
    action = given[0] if given else None
    ranging = [
        flag
        for flag, value in (("--from", args.start), ("--to", args.end), ("--keep-recent", args.keep_recent))
        if value is not None
    ]
    if action is not None and ranging:
        raise _UsageError(f"{', '.join(ranging)}: only for a new compression, not with {action}")
    if args.end is not None and args.keep_recent is not None:
        raise _UsageError("--keep-recent sets where the default range ends: not with --to")
    if action in ("--pending", "--reject") and (args.content is not None or args.file is not None):
        raise _UsageError(f"--content and --file give a summary: not for {action}")
    return action


def _find_pending(t: Tract, record_id: int) -> PendingCompression:
    pending = t.pending_compressions()
    for draft in pending:
        if draft.id == record_id:
            return draft
    decided = next((entry for entry in t.compressions() if entry.id == record_id), None)
    if decided is not None:
        raise _UsageError(f"compression {record_id} is already {decided.status}, not pending")
    known = ", ".join(str(draft.id) for draft in pending) or "none"
    raise _UsageError(
        f"no pending compression {record_id} in tract {t.tract_id!r} (pending: {known}); "
        "`tract compress --pending` lists them"
    )


def _render_compression(t: Tract, result: CompressionResult) -> Group:
    """The summary commit, what went into it and what stayed, the tokens, and what was archived."""
    record = next((entry for entry in t.compressions() if entry.id == result.id), None)
    skipped = len(record.details.get("skipped", ())) if record is not None else 0
    summarised = _plural(len(result.replaced), "message")
    parts: list[RenderableType] = [_tip_line(t, f"Compressed {summarised} into the summary ", result.summary.hash)]
    kept = Text(f"Kept {_plural(len(result.kept), 'pinned message')} verbatim after the summary")
    if result.kept:
        kept.append(": ").append(", ".join(_short(h) for h in result.kept), style="yellow")
    parts.append(kept.append("."))
    if skipped:
        parts.append(Text(f"Left out {_plural(skipped, 'skipped message')}."))
    delta = result.tokens_after - result.tokens_before
    parts.append(Text(f"Tokens: {result.tokens_before:,} → {result.tokens_after:,} ({delta:+,})."))
    parts.append(_tip_line(t, "HEAD is now at ", result.head, style=""))
    parts.append(
        Text(
            f"Archived {_plural(len(result.archived), 'commit')} (compression #{result.id}): `tract show` still "
            "finds them; `tract gc` removes them once the archive window (30 days by default) has passed."
        )
    )
    return Group(*parts)


def _render_pending(t: Tract, pending: Sequence[PendingCompression]) -> Group:
    """Each stored draft: id, range, where it was drafted, how, and the first line of its text."""
    if not pending:
        return Group(Text(f"no pending compressions in tract {t.tract_id!r}", style="dim"))
    head = t.head
    parts: list[RenderableType] = []
    for draft in pending:
        messages = draft.details.get("messages")
        line = Text(f"#{draft.id}", style="bold").append(
            f"  {_plural(messages, 'message') if isinstance(messages, int) else 'messages'} from "
        )
        line.append(_short(draft.range_from), style="yellow").append(" to ")
        line.append(_short(draft.range_to), style="yellow").append(", drafted at HEAD ")
        line.append(_short(draft.old_head), style="yellow")
        attempts = draft.details.get("attempts")
        if attempts:
            line.append(f" by an LLM ({_plural(attempts, 'attempt')}")
            line.append(", trimmed to fit)" if draft.details.get("trimmed") else ")")
        parts.append(line)
        if draft.old_head != head:
            parts.append(Text("    stale: HEAD has moved since, so approving is refused; reject it", style="red"))
        first = next((text for text in draft.draft.splitlines() if text.strip()), "")
        parts.append(Text(f"    {first}", no_wrap=True, overflow="ellipsis"))
    parts.append(
        Text(
            "Approve one with `tract compress --approve ID` (--content or --file replaces the draft), "
            "or drop it with `tract compress --reject ID`.",
            style="dim",
        )
    )
    return Group(*parts)


def _cmd_compress(args: argparse.Namespace, out: Console) -> None:
    action = _compress_action(args)
    summary = _summary_text(args)
    if action is None and summary is None:
        raise _UsageError(
            "tract compress needs the summary: --content TEXT or --file PATH "
            "(to have an LLM write it, use the Python API: t.compress(llm=...))"
        )
    with _open(args) as t:
        if action == "--pending":
            out.print(_render_pending(t, t.pending_compressions()))
        elif action == "--reject":
            t.reject_compression(_find_pending(t, args.reject))
            out.print(Text(f"Rejected compression #{args.reject}; the history is unchanged.", style="bold"))
        elif action == "--approve":
            draft = _find_pending(t, args.approve)
            result = t.approve_compression(draft, content=summary)
            edited = " with the summary given" if summary is not None else " with its draft"
            out.print(Text(f"Approved compression #{draft.id}{edited}.", style="bold"))
            out.print(_render_compression(t, result))
        else:
            keep_recent = DEFAULT_KEEP_RECENT if args.keep_recent is None else args.keep_recent
            result = t.compress(summary, from_commit=args.start, to_commit=args.end, keep_recent=keep_recent)
            assert isinstance(result, CompressionResult)
            out.print(_render_compression(t, result))


def _render_gc(t: Tract, result: GCResult, args: argparse.Namespace, archived_left: int) -> Group:
    """What gc removed (or would remove), what it kept, and the file size."""
    dry = result.dry_run
    orphan_window, archive_window = _days_text(args.orphan_days), _days_text(args.archive_days)
    title = (
        f"gc of tract {t.tract_id!r}: orphans older than {orphan_window}, archived commits older than {archive_window}"
    )
    parts: list[RenderableType] = [Text(title + (" (dry run: nothing was removed)" if dry else ""), style="bold")]
    removed, expired = ("Would remove", "Would expire") if dry else ("Removed", "Expired")
    parts.append(
        Text(
            f"{removed} {_plural(len(result.commits), 'commit')}: {_plural(result.orphans, 'orphan')}, "
            f"{result.archived:,} archived by compressions."
        )
    )
    parts.append(
        Text(f"{removed} {_plural(result.blobs, 'blob')} no commit uses any more ({result.blob_bytes:,} bytes).")
    )
    parts.append(Text(f"{expired} {_plural(result.reflog_entries, 'reflog entry', 'reflog entries')}."))
    if result.kept_unreachable:
        parts.append(Text(f"Kept {_plural(result.kept_unreachable, 'unreachable commit')} still inside their window."))
    if archived_left:
        parts.append(
            Text(
                f"Kept {_plural(archived_left, 'archived commit')}: inside the archive window, or still "
                "reached by a branch or HEAD."
            )
        )
    before, after = result.file_bytes_before, result.file_bytes_after
    if before is not None and after is not None:
        parts.append(Text(f"File size: {before:,} → {after:,} bytes ({after - before:+,})."))
    elif before is not None:
        parts.append(Text(f"File size: {before:,} bytes."))
    return Group(*parts)


def _cmd_gc(args: argparse.Namespace, out: Console) -> None:
    vacuum = None if args.vacuum == "none" else args.vacuum
    with _open(args) as t:
        result = t.gc(args.orphan_days, args.archive_days, dry_run=args.dry_run, vacuum=vacuum)
        archived_left = len(t.archived()) - (result.archived if result.dry_run else 0)
        out.print(_render_gc(t, result, args, archived_left))


# -- parser and entry point ---------------------------------------------------------------------


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a non-negative number of days")
    return value


def _add_globals(parser: argparse.ArgumentParser, db_help: str) -> None:
    # SUPPRESS defaults: a value given before the command is not reset by the command's parser.
    parser.add_argument("--db", metavar="PATH_OR_URL", default=argparse.SUPPRESS, help=db_help)
    parser.add_argument(
        "--tract", metavar="ID", default=argparse.SUPPRESS, help=f"the tract to use (default: {DEFAULT_TRACT_ID!r})"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tract`` and its commands."""
    db_help = f"SQLite file, or a sqlite:// or postgresql URL (default: ${DB_ENV})"
    parser = argparse.ArgumentParser(
        prog="tract",
        description="Inspect tract stores; branch, merge, reset, compress and gc them: version control for what an "
        "LLM sees.",
    )
    parser.add_argument("--version", action="version", version=f"tract {__version__}")
    _add_globals(parser, db_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary)
        _add_globals(sub, db_help)
        sub.set_defaults(handler=handler)
        return sub

    log = command("log", _cmd_log, "List the commits of HEAD's history (or draw the commit graph), newest first.")
    log.add_argument(
        "--limit", type=_non_negative, default=20, metavar="N", help="at most N commits; 0 for all (default: 20)"
    )
    log.add_argument("--graph", action="store_true", help="draw the commit graph, one line per commit")
    log.add_argument("--all", action="store_true", help="with --graph: every branch, not only HEAD's history")
    show = command("show", _cmd_show, "Show one commit in full.")
    show.add_argument("ref", metavar="REF", help="a hash, a unique prefix, a branch, HEAD or HEAD~N")
    command("status", _cmd_status, "Show the branch, HEAD, tokens against the budget and the last usage.")
    compiled = command("compile", _cmd_compile, "Print the messages the next LLM call gets.")
    compiled.add_argument("--at", metavar="REF", help="compile at this commit instead of HEAD (time travel)")
    compiled.add_argument("--json", action="store_true", help="print plain JSON: head, digest, token_count, messages")
    diff = command("diff", _cmd_diff, "Compare the compiled contexts of two commits, message by message.")
    diff.add_argument("a", metavar="A", help="the earlier commit")
    diff.add_argument("b", metavar="B", nargs="?", default="HEAD", help="the later commit (default: HEAD)")
    branch = command(
        "branch", _cmd_branch, "List the branches, create one (tract branch NAME) or delete one (tract branch -d NAME)."
    )
    branch.add_argument("name", metavar="NAME", nargs="?", help="the branch to create (or, with -d, to delete)")
    branch.add_argument("--from", dest="start", metavar="REF", help="create it at this commit (default: HEAD)")
    branch.add_argument("--switch", action="store_true", help="also switch to the new branch")
    branch.add_argument("-d", "--delete", action="store_true", help="delete the branch NAME")
    branch.add_argument(
        "--force", action="store_true", help="with -d: delete even if no other branch reaches its commits"
    )
    switch = command("switch", _cmd_switch, "Attach HEAD to a branch.")
    switch.add_argument("name", metavar="NAME", help="an existing branch")
    merge = command("merge", _cmd_merge, "Merge a branch (or commit) into the current branch.")
    merge.add_argument("source", metavar="SOURCE", help="the branch or commit to merge")
    merge.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help="auto: fast-forward when possible; no-ff: always a merge commit; ff-only: refuse to merge diverged "
        "branches; ours/theirs: a merge commit whose conflicts take that side (default: auto)",
    )
    reset = command("reset", _cmd_reset, "Move the current branch (or a detached HEAD) to another commit.")
    reset.add_argument("ref", metavar="REF", help="where to move it")
    reset.add_argument(
        "--hard",
        action="store_true",
        help="delete the commits nothing reaches any more (default: soft, which keeps them until gc)",
    )
    reflog = command("reflog", _cmd_reflog, "List the recorded moves of HEAD and the branches, newest first.")
    reflog.add_argument(
        "--limit", type=_non_negative, default=20, metavar="N", help="at most N entries; 0 for all (default: 20)"
    )
    reflog.add_argument("--ref", metavar="NAME", help="only the moves of this branch (or HEAD)")
    pick = command("cherry-pick", _cmd_cherry_pick, "Copy one commit onto HEAD.")
    pick.add_argument("ref", metavar="REF", help="the commit to copy (from any branch, or one found with reflog)")
    rebase = command("rebase", _cmd_rebase, "Replay the current branch's own commits on top of another commit.")
    rebase.add_argument("onto", metavar="ONTO", help="the branch or commit to replay onto")
    for replaying in (pick, rebase):
        replaying.add_argument(
            "--strict",
            action="store_true",
            help="refuse (writing nothing) when an EDIT or a tool result would point outside the new history",
        )
    compress = command(
        "compress",
        _cmd_compress,
        "Replace a stretch of history with a summary you wrote (the originals are archived, not lost), "
        "or review the pending drafts made with the Python API.",
    )
    compress.add_argument("--content", metavar="TEXT", help="the summary")
    compress.add_argument("--file", metavar="PATH", help="read the summary from a UTF-8 file (- for standard input)")
    compress.add_argument(
        "--from", dest="start", metavar="REF", help="first commit to compress (default: after the leading pinned ones)"
    )
    compress.add_argument(
        "--to", dest="end", metavar="REF", help="last commit to compress (default: all but the --keep-recent newest)"
    )
    compress.add_argument(
        "--keep-recent",
        type=_non_negative,
        metavar="N",
        help=f"without --to: leave the N most recent messages alone (default: {DEFAULT_KEEP_RECENT})",
    )
    compress.add_argument("--pending", action="store_true", help="list the drafts waiting for approval")
    compress.add_argument(
        "--approve",
        type=_non_negative,
        metavar="ID",
        help="commit pending compression ID (with --content or --file: that summary instead of the draft)",
    )
    compress.add_argument("--reject", type=_non_negative, metavar="ID", help="drop pending compression ID")
    gc = command(
        "gc",
        _cmd_gc,
        "Remove unreachable commits past their retention windows, and the content no commit uses any more.",
    )
    gc.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    gc.add_argument(
        "--orphan-days",
        type=_days,
        default=7.0,
        metavar="D",
        help="remove commits left behind by resets, deleted branches and rebases after D days, and expire "
        "reflog entries older than that (default: 7)",
    )
    gc.add_argument(
        "--archive-days",
        type=_days,
        default=30.0,
        metavar="D",
        help="remove commits archived by compressions after D days (default: 30)",
    )
    gc.add_argument(
        "--vacuum",
        choices=("incremental", "full", "none"),
        default="incremental",
        help="SQLite: give freed space back to the file system (full: rewrite the file; none: leave the file as "
        "it is) (default: incremental)",
    )
    demo = commands.add_parser(
        "demo",
        help="Write a demo store and tour it.",
        description="Write a customer-support conversation to a SQLite file (replacing it) and tour it.",
    )
    _add_globals(demo, f"the SQLite file to write (default: {DEFAULT_DEMO_PATH}; replaced if it exists)")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``tract`` command line.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when ``tract merge`` has conflicts (listed on stderr),
        2 on any error (reported in one line on stderr).
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version and usage errors
        return stop.code if isinstance(stop.code, int) else EXIT_ERROR
    out = Console()
    with warnings.catch_warnings():
        # `tract status` reports the offline-tokenizer fallback; no need to warn on every command.
        warnings.simplefilter("ignore", TokenizerFallbackWarning)
        try:
            status = args.handler(args, out)
        except (TractError, _UsageError, ImportError, OSError) as error:
            message = " ".join(str(error).split()) or type(error).__name__
            sys.stderr.write(f"tract: error: {message}\n")
            return EXIT_ERROR
    return status or 0
