"""The ``tract`` commands that read history: log, show, status, compile, diff and reflog; and
``tract demo``, which writes the demo store and tours it with the same views.

Each command opens the tract, calls one or two methods of the public API and prints what they return.
``tract compile --json`` prints plain JSON, ready for a pipe.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .. import (
    AnnotationInfo,
    CommitInfo,
    CompiledContext,
    ContextDiff,
    MessageChange,
    Priority,
    ReflogEntry,
    Tract,
    TractStatus,
)
from ..demo import DEFAULT_DEMO_PATH, DemoStore, build_demo
from ..tract import DEFAULT_TRACT_ID
from .graph import print_graph
from .jsonout import commit_dict, diff_dict, reflog_dict, status_dict
from .options import URL_PREFIXES, UsageError, open_from, open_tract, tract_id_from
from .render import (
    ROLE_STYLES,
    Column,
    counted,
    dumps,
    field_grid,
    fitted_table,
    json_block,
    message_body,
    print_whole,
    role_text,
    short,
    usage_text,
    when,
)

__all__ = ["cmd_log", "cmd_show", "cmd_status", "cmd_compile", "cmd_diff", "cmd_reflog", "cmd_demo"]

DIFF_LINES = 12
"""Lines of an added or removed message that ``tract diff`` prints."""


# -- log --------------------------------------------------------------------------------------


def _render_log(
    out: Console,
    commits: Sequence[CommitInfo],
    context: CompiledContext,
    skip_reasons: Mapping[str, str],
    more: bool,
) -> Table:
    """The log table, newest first, noting edits and messages missing from HEAD's context; on a
    narrow console the creation time, the operation and then the role are left out.

    Args:
        out: The console it is printed on.
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
    columns = [
        Column("commit", whole=True, rigid=True, style="yellow"),
        Column("role / type", drop=2, whole=True),
        Column("op", drop=3, whole=True),
        Column("created", drop=4, whole=True),
        Column("message", min_width=16),
    ]
    rows = []
    for commit in commits:
        role = role_text(commit.role).append(f"\n{commit.content_type}", style="dim")
        created = when(commit.created_at).replace(" ", "\n")
        message = Group(
            Text(commit.preview(80), no_wrap=True, overflow="ellipsis"),
            _log_note(commit, visible, edited_by, skip_reasons),
        )
        rows.append([commit.short_hash, role, str(commit.operation), created, message])
    return fitted_table(out, columns, rows, box=box.SIMPLE_HEAD, show_lines=True, caption=caption)


def _log_note(commit: CommitInfo, visible: set[str], edited_by: Mapping[str, str], hidden: Mapping[str, str]) -> Text:
    if commit.response_to:
        return Text(f"edits {short(commit.response_to)}", style="cyan")
    if commit.hash in edited_by:
        return Text(f"edited by {short(edited_by[commit.hash])}", style="cyan")
    if commit.role is not None and commit.hash not in visible:
        return Text(hidden.get(commit.hash, "not in context"), style="red")
    return Text("")


def _print_log(t: Tract, out: Console, limit: int | None, start: str | None = None) -> None:
    commits: list[CommitInfo] = t.log(limit=None if limit is None else limit + 1, start=start or "HEAD")
    more = limit is not None and len(commits) > limit
    commits = commits[:limit] if more else commits
    if not commits:
        out.print(Text(f"tract {t.tract_id!r} has no commits yet", style="dim"))
        return
    context = t.compile(at_commit=start)
    visible = set(context.commit_hashes)
    hidden = [c.hash for c in commits if c.role is not None and not c.response_to and c.hash not in visible]
    out.print(_render_log(out, commits, context, _skip_reasons(t, hidden), more))


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


def _print_commit(out: Console, commit: CommitInfo) -> None:
    """One commit in full: its hash, parents and the message it edits, each whole on one line (to
    copy), then its fields, content, settings, metadata, usage and annotation history."""
    print_whole(out, Text("commit ", style="bold").append(commit.hash, style="yellow"))
    for parent in commit.parents:
        print_whole(out, Text("parent ", style="bold").append(parent, style="yellow"))
    if commit.response_to:
        print_whole(out, Text("edit of ", style="bold").append(commit.response_to, style="yellow"))
    fields = field_grid(
        [
            ("role", role_text(commit.role)),
            ("content type", Text(commit.content_type)),
            ("operation", Text(str(commit.operation))),
            ("parents", Text(str(len(commit.parents)) if commit.parents else "none (first commit)")),
            ("created", Text(when(commit.created_at))),
            ("tokens", Text("-" if commit.token_count is None else str(commit.token_count))),
            ("message", Text(commit.message or "-")),
        ]
    )
    whose = f" of message {commit.response_to[:12]}" if commit.response_to else ""
    out.print(
        Group(
            Panel(fields, title=f"commit {commit.short_hash}", title_align="left"),
            Panel(message_body(commit.body or {}), title="message", title_align="left"),
            Panel(json_block(commit.generation_config), title="generation_config", title_align="left"),
            Panel(json_block(commit.metadata), title="metadata", title_align="left"),
            Panel(usage_text(commit.usage), title="usage", title_align="left"),
            Panel(_annotations(commit.annotations), title=f"annotations{whose}", title_align="left"),
        )
    )


def _annotations(annotations: Sequence[AnnotationInfo]) -> RenderableType:
    if not annotations:
        return Text("none: the default priority of its content type applies", style="dim")
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("when", "priority", "reason", "made at HEAD"):
        table.add_column(name)
    for note in annotations:
        table.add_row(when(note.created_at), str(note.priority), Text(note.reason or "-"), short(note.anchor))
    return table


# -- status -------------------------------------------------------------------------------------


def _render_status(status: TractStatus, pending: int = 0, archived: int = 0) -> Panel:
    """Branch, HEAD, counts, tokens against the budget, tokenizer and the last provider usage; then
    pending compressions and archived commits, if any."""
    branch = Text(f"detached at {short(status.head)}", style="red") if status.detached else Text(str(status.branch))
    tokenizer = Text(status.tokenizer)
    if status.tokenizer_note:
        tokenizer.append(f"\n{status.tokenizer_note}", style="yellow")
    rows = [
        ("tract", Text(status.tract_id)),
        ("branch", branch),
        ("HEAD", Text(short(status.head), style="yellow")),
        ("commits", Text(f"{status.commit_count} in HEAD's history")),
        ("messages", Text(f"{status.message_count} in the compiled context")),
        ("tokens", _tokens(status)),
        ("cache prefix", _cache_prefix(status)),
        ("tokenizer", tokenizer),
        ("last usage", usage_text(status.last_usage)),
    ]
    if pending or archived:
        notes = Text()
        if pending:
            notes.append(f"{counted(pending, 'pending draft')} (tract compress --pending)", style="yellow")
        if archived:
            notes.append(" · " if pending else "")
            notes.append(f"{counted(archived, 'archived commit')} (until tract gc)")
        rows.append(("compression", notes))
    return Panel(field_grid(rows), title="status", title_align="left")


def _cache_prefix(status: TractStatus) -> Text:
    """How much of the context a provider's prompt cache can still serve since HEAD's last move."""
    if not status.token_count:
        return Text("nothing compiled yet")
    share = status.cached_prefix_tokens / status.token_count
    style = "green" if share >= 0.8 else "yellow" if share >= 0.3 else "red"
    return Text(f"{status.cached_prefix_tokens:,} tokens unchanged since HEAD's last move ({share:.0%})", style=style)


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
                message_body(message),
                title=f"[{index}] {role}",
                title_align="left",
                subtitle=short(hash),
                subtitle_align="right",
                border_style=ROLE_STYLES.get(str(role), "white"),
            )
        )
    footer = (
        f"{len(context)} messages · {context.token_count:,} tokens · "
        f"compiled at {short(context.head)} · digest {context.digest[:16]}"
    )
    panels.append(Text(footer, style="dim"))
    return Group(*panels)


# -- diff ---------------------------------------------------------------------------------------


def _render_diff(diff: ContextDiff) -> Group:
    """Each added, removed and changed message; unified diffs of changed text, colored."""
    header = Text(f"diff {short(diff.a)} → {short(diff.b)}", style="bold")
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
        title = f"~ changed [{change.index_a}→{change.index_b}] {change.role} {short(change.hash_b)}"
        return Panel(_colored_unified(change.unified), title=title, title_align="left", border_style="yellow")
    if change.kind == "added":
        title = f"+ added [{change.index_b}] {change.role} {short(change.hash_b)}"
        body = _signed_lines(change.after or {}, "+", "green", change.hash_b)
        return Panel(body, title=title, title_align="left", border_style="green")
    title = f"- removed [{change.index_a}] {change.role} {short(change.hash_a)}"
    body = _signed_lines(change.before or {}, "-", "red", change.hash_a)
    return Panel(body, title=title, title_align="left", border_style="red")


def _signed_lines(message: Mapping[str, Any], sign: str, style: str, hash: str | None) -> Text:
    """A whole added or removed message as diff lines, cut after :data:`DIFF_LINES` lines."""
    content = message.get("content")
    lines = [] if content is None else (content if isinstance(content, str) else dumps(content)).splitlines()
    extras = {k: v for k, v in message.items() if k not in ("role", "content")}
    if extras:
        lines += dumps(extras).splitlines()
    text = Text()
    for line in lines[:DIFF_LINES]:
        text.append(f"{sign} {line}\n", style=style)
    if len(lines) > DIFF_LINES:
        text.append(f"… {len(lines) - DIFF_LINES} more lines: tract show {short(hash)}", style="dim")
    text.rstrip()
    return text


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


# -- reflog ---------------------------------------------------------------------------------------


def _render_reflog(out: Console, entries: Sequence[ReflogEntry], more: bool) -> RenderableType:
    if not entries:
        return Text("the reflog is empty: nothing has moved yet", style="dim")
    caption = "older entries exist: --limit 0 lists all" if more else None
    columns = [
        Column("new", whole=True, rigid=True, style="yellow"),
        Column("ref", whole=True, cap=40, style="cyan"),
        Column("action", min_width=12),
        Column("when", drop=1, whole=True),
    ]
    rows = [[short(entry.new), entry.ref, Text(entry.action), when(entry.created_at)] for entry in entries]
    return fitted_table(out, columns, rows, box=box.SIMPLE_HEAD, caption=caption)


# -- commands -----------------------------------------------------------------------------------


def cmd_log(args: argparse.Namespace, out: Console) -> None:
    """``tract log [REF]``: HEAD's (or REF's) history as a table, newest first; or, with ``--graph``,
    the commit graph."""
    if args.all and not args.graph:
        raise UsageError("--all draws every branch in the graph: use it with --graph")
    if args.all and args.ref is not None:
        raise UsageError(f"--all draws every branch: give no REF ({args.ref!r}) with it")
    if args.json and args.graph:
        raise UsageError("--graph draws the commits for a person; --json lists them for a program: give one")
    with open_from(args) as t:
        if args.json:
            limit = args.limit or None
            commits = t.log(limit=limit, start=args.ref or "HEAD")
            sys.stdout.write(dumps([commit_dict(c) for c in commits]) + "\n")
        elif args.graph:
            print_graph(t, out, args.limit or None, every_branch=args.all, start=args.ref)
        else:
            _print_log(t, out, args.limit or None, args.ref)


def cmd_show(args: argparse.Namespace, out: Console) -> None:
    """``tract show REF``: one commit in full."""
    with open_from(args) as t:
        commit = t.show(args.ref)
    if args.json:
        sys.stdout.write(dumps(commit_dict(commit, full=True)) + "\n")
    else:
        _print_commit(out, commit)


def cmd_status(args: argparse.Namespace, out: Console) -> None:
    """``tract status``: branch, HEAD, tokens against the budget and the last usage."""
    with open_from(args) as t:
        status, pending, archived = t.status(), len(t.pending_compressions()), len(t.archived())
    if args.json:
        sys.stdout.write(dumps(status_dict(status, pending, archived)) + "\n")
    else:
        out.print(_render_status(status, pending, archived))


def cmd_compile(args: argparse.Namespace, out: Console) -> None:
    """``tract compile``: the messages the next LLM call gets (``--json``: as plain JSON)."""
    with open_from(args) as t:
        context = t.compile(at_commit=args.at)
    if args.json:
        sys.stdout.write(_compiled_json(context) + "\n")
    else:
        out.print(_render_compiled(context))


def cmd_diff(args: argparse.Namespace, out: Console) -> None:
    """``tract diff A [B]``: the compiled contexts of two commits compared, message by message
    (``--pact``: PACT's JSON diff of their snapshots)."""
    with open_from(args) as t:
        if getattr(args, "pact", False):
            sys.stdout.write(json.dumps(t.diff(args.a, args.b, format="pact"), indent=2) + "\n")
            return
        diff = t.diff(args.a, args.b)
    if args.json:
        sys.stdout.write(dumps(diff_dict(diff)) + "\n")
    else:
        out.print(_render_diff(diff))


def cmd_demo(args: argparse.Namespace, out: Console) -> None:
    """``tract demo``: write the demo store (replacing the file) and tour it."""
    db = getattr(args, "db", None) or DEFAULT_DEMO_PATH
    if db.startswith(URL_PREFIXES):
        raise UsageError("tract demo writes a SQLite file: give --db a file path, not a URL")
    demo = build_demo(db, tract_id=tract_id_from(args))
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


def cmd_reflog(args: argparse.Namespace, out: Console) -> None:
    """``tract reflog``: the recorded moves of HEAD and the branches, newest first."""
    limit = args.limit or None
    with open_from(args) as t:
        entries = t.reflog(limit=None if limit is None else limit + 1, ref=args.ref)
    if args.json:
        sys.stdout.write(dumps([reflog_dict(e) for e in entries[:limit]]) + "\n")
        return
    more = limit is not None and len(entries) > limit
    out.print(_render_reflog(out, entries[:limit] if more else entries, more))
