"""The ``tract`` command line: inspect a tract store from a terminal.

A thin layer over the public :class:`~tract_core.Tract` API: each command opens an existing tract
(``create=False``), calls one or two API methods and renders the result with rich.
``tract compile --json`` prints plain JSON, ready for a pipe.

Example:
    $ tract demo
    $ tract --db tract-demo.db log
    $ tract --db tract-demo.db compile --json | python -m json.tool
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
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
    ContextDiff,
    MessageChange,
    Priority,
    TokenizerFallbackWarning,
    Tract,
    TractError,
    TractStatus,
    Usage,
    __version__,
)
from .demo import DEFAULT_DEMO_PATH, DemoStore, build_demo
from .tract import DEFAULT_TRACT_ID

__all__ = ["main", "build_parser", "open_tract"]

EXIT_ERROR = 2
"""Exit status of every failed command (as for command-line usage errors)."""

DB_ENV = "TRACT_DB"
"""Environment variable naming the database when ``--db`` is not given."""

DIFF_LINES = 12
"""Lines of an added or removed message that ``tract diff`` prints."""

Handler = Callable[[argparse.Namespace, Console], None]
"""A command: runs with the parsed arguments and prints to the console."""

_URL_PREFIXES = ("sqlite://", "postgresql")
_ROLE_STYLES = {"system": "magenta", "developer": "magenta", "user": "cyan", "assistant": "green", "tool": "yellow"}


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


def _render_status(status: TractStatus) -> Panel:
    """Branch, HEAD, counts, tokens against the budget, tokenizer and the last provider usage."""
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
    with _open(args) as t:
        _print_log(t, out, args.limit or None)


def _cmd_show(args: argparse.Namespace, out: Console) -> None:
    with _open(args) as t:
        out.print(_render_commit(t.show(args.ref)))


def _cmd_status(args: argparse.Namespace, out: Console) -> None:
    with _open(args) as t:
        out.print(_render_status(t.status()))


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


# -- parser and entry point ---------------------------------------------------------------------


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
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
        prog="tract", description="Inspect tract stores: version control for what an LLM sees."
    )
    parser.add_argument("--version", action="version", version=f"tract {__version__}")
    _add_globals(parser, db_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary)
        _add_globals(sub, db_help)
        sub.set_defaults(handler=handler)
        return sub

    log = command("log", _cmd_log, "List the commits of HEAD's history, newest first.")
    log.add_argument(
        "--limit", type=_non_negative, default=20, metavar="N", help="at most N commits; 0 for all (default: 20)"
    )
    show = command("show", _cmd_show, "Show one commit in full.")
    show.add_argument("ref", metavar="REF", help="a hash, a unique prefix, a branch, HEAD or HEAD~N")
    command("status", _cmd_status, "Show the branch, HEAD, tokens against the budget and the last usage.")
    compiled = command("compile", _cmd_compile, "Print the messages the next LLM call gets.")
    compiled.add_argument("--at", metavar="REF", help="compile at this commit instead of HEAD (time travel)")
    compiled.add_argument("--json", action="store_true", help="print plain JSON: head, digest, token_count, messages")
    diff = command("diff", _cmd_diff, "Compare the compiled contexts of two commits, message by message.")
    diff.add_argument("a", metavar="A", help="the earlier commit")
    diff.add_argument("b", metavar="B", nargs="?", default="HEAD", help="the later commit (default: HEAD)")
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
        The exit status: 0 on success, 2 on any error (reported in one line on stderr).
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
            args.handler(args, out)
        except (TractError, _UsageError, ImportError, OSError) as error:
            message = " ".join(str(error).split()) or type(error).__name__
            sys.stderr.write(f"tract: error: {message}\n")
            return EXIT_ERROR
    return 0
