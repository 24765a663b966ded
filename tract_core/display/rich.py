"""The terminal views: the ``__rich__`` renderables of tract's objects, for ``rich.print(obj)`` or a
``rich.console.Console``.

They show what the notebook views show (:mod:`.messages`, :mod:`.records`) with rich's panels,
tables and styled text. Every piece of user data goes into a :class:`rich.text.Text` (never into a
string rich would read as markup), so ``[bold]`` or ``[link=...]`` in a message is printed as typed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..errors import InvalidInputError, TractError
from .graph import branched, graph_rows, lane_layout, recent_history, ref_labels
from .html import BUBBLE_CHARS, MESSAGE_LIMIT, clip, number, short, shown_indexes, to_json
from .messages import call_text, content_text, message_text
from .records import GRAPH_COMMITS, JSON_CHARS, when

__all__ = [
    "budget_bar",
    "context_view",
    "snapshot_view",
    "diff_view",
    "commit_view",
    "log_view",
    "status_view",
    "tract_view",
    "proposal_view",
    "health_view",
]

ROLE_STYLES = {"system": "magenta", "developer": "magenta", "user": "cyan", "assistant": "green", "tool": "yellow"}
LANE_STYLES = ("red", "green", "yellow", "blue", "magenta", "cyan")
SEVERITY_STYLES = {"ok": "green", "warn": "yellow", "act": "red"}
STATUS_STYLES = {"pending": "yellow", "approved": "blue", "executed": "green", "failed": "red"}


def _badge(text: str, style: str) -> Text:
    return Text(f" {text} ", style=f"bold white on {style}")


def _clipped(text: str, limit: int = BUBBLE_CHARS, style: str = "") -> Text:
    shown, more = clip(text, limit)
    out = Text(shown, style=style)
    if more:
        out.append(f" … {more:,} more chars", style="dim")
    return out


def budget_bar(used: int, budget: int | None, width: int = 30) -> Text:
    """A budget bar of ``width`` cells, green / yellow / red by fill, then ``used / budget tokens (n%)``."""
    if not budget:
        return Text(f"{number(used)} tokens ") + Text("(no budget set)", style="dim")
    ratio = used / budget
    filled = round(max(0.0, min(ratio, 1.0)) * width)
    style = "green" if ratio < 0.6 else "yellow" if ratio < 0.85 else "red"
    out = Text("█" * filled, style=style) + Text("░" * (width - filled), style="dim")
    out.append(f" {number(used)} / {number(budget)} tokens ({ratio:.0%})")
    if used > budget:
        out.append(" ")
        out.append_text(_badge("OVER BUDGET", "red"))
    return out


def _priority(priority: Any, edited: bool = False) -> Text:
    value = getattr(priority, "value", priority)
    out = Text()
    if value == "pinned":
        out.append_text(_badge("PINNED", "blue"))
    elif value == "skip":
        out.append_text(_badge("SKIP", "grey50"))
    if edited:
        out.append(" ")
        out.append_text(_badge("EDITED", "purple"))
    return out


def _message(
    message: Mapping[str, Any],
    *,
    index: int | None = None,
    tokens: int | None = None,
    commit: str | None = None,
    badges: Text | None = None,
    notes: Sequence[str] = (),
) -> Panel:
    role = str(message.get("role", "?"))
    style = ROLE_STYLES.get(role, "white")
    title = Text(role, style=f"bold {style}")
    facts = [f"#{index}"] if index is not None else []
    if tokens is not None:
        facts.append(f"{number(tokens)} tok")
    if role == "tool" and message.get("tool_call_id"):
        facts.append(f"result of {message.get('tool_call_id')}")
    facts.extend(notes)
    if commit:
        facts.append(short(commit))
    for fact in facts:
        title.append(f" · {fact}", style="dim")
    if badges is not None and badges.plain:
        title.append(" ")
        title.append_text(badges)
    body = _clipped(content_text(message.get("content")))
    calls = message.get("tool_calls")
    if isinstance(calls, Sequence) and not isinstance(calls, str):
        for call in calls:
            if body.plain:
                body.append("\n")
            body.append("⚙ ", style="yellow")
            body.append_text(_clipped(call_text(call), 300, "yellow"))
    return Panel(body, title=title, title_align="left", border_style=style, box=box.ROUNDED)


def _listed(total: int, draw: Any, what: str) -> list[RenderableType]:
    head, tail = shown_indexes(total)
    out: list[RenderableType] = [draw(i) for i in head]
    if tail:
        out.append(Text(f"… {total - len(head) - len(tail):,} more {what} …", style="dim", justify="center"))
        out.extend(draw(i) for i in tail)
    return out


def context_view(context: Any) -> RenderableType:
    """A :class:`~tract_core.CompiledContext`: a panel per message with its tokens and badges."""
    messages = context.messages
    hashes = context.commit_hashes

    def draw(i: int) -> Panel:
        try:
            entry = context.entry(i)
        except InvalidInputError:  # built by hand: no tokens, no priorities
            return _message(messages[i], index=i, commit=hashes[i])
        badges = _priority(entry.priority, entry.edited)
        return _message(messages[i], index=i, tokens=entry.tokens, commit=entry.commit, badges=badges)

    header = Text("CompiledContext", style="bold")
    header.append(f" · {number(len(messages))} messages · {number(context.token_count)} tokens · head ")
    header.append(short(context.head), style="yellow")
    return Group(header, *_listed(len(messages), draw, "messages"))


def snapshot_view(snapshot: Any) -> RenderableType:
    """A :class:`~tract_core.tree.Snapshot`: a panel per node with its region, coordinate, tags and key."""
    nodes, messages = snapshot.nodes, snapshot.messages

    def draw(i: int) -> Panel:
        node = nodes[i]
        notes = [node.region, "(" + ", ".join(str(n) for n in node.coordinate) + ")"]
        if node.key:
            notes.append(f"key {node.key}")
        if node.lifecycle:
            notes.append(f"lifecycle {to_json(node.lifecycle)}")
        notes.extend(f"+{tag}" for tag in node.tags)
        return _message(messages[i], tokens=node.tokens, commit=node.id, badges=_priority(node.priority), notes=notes)

    header = Text("Snapshot ", style="bold")
    header.append(snapshot.at, style="yellow")
    header.append(
        f" · {number(len(nodes))} nodes · {number(snapshot.token_count)} tokens · head {short(snapshot.head)}"
    )
    return Group(header, *_listed(len(nodes), draw, "nodes"))


def _side(change_role: str, index: int | None, text: Text) -> Text:
    out = Text(change_role, style=f"bold {ROLE_STYLES.get(change_role, 'white')}")
    if index is not None:
        out.append(f" #{index}", style="dim")
    out.append("\n")
    return out + text


def _changed_lines(before: str, after: str) -> tuple[Text, Text]:
    a, b = before.splitlines() or [""], after.splitlines() or [""]
    left, right = Text(), Text()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        for line in a[i1:i2]:
            left.append_text(_clipped(line, BUBBLE_CHARS, "" if tag == "equal" else "red"))
            left.append("\n")
        for line in b[j1:j2]:
            right.append_text(_clipped(line, BUBBLE_CHARS, "" if tag == "equal" else "green"))
            right.append("\n")
    left.rstrip()
    right.rstrip()
    return left, right


def diff_view(diff: Any) -> RenderableType:
    """A :class:`~tract_core.ContextDiff`: before and after side by side, removed red, added green."""
    sign = "+" if diff.token_delta >= 0 else ""
    title = Text(f"ContextDiff {short(diff.a)} → {short(diff.b)} · ", style="bold")
    title.append(f"+{len(diff.added)} added", style="green")
    title.append(" ")
    title.append(f"-{len(diff.removed)} removed", style="red")
    title.append(" ")
    title.append(f"~{len(diff.changed)} changed", style="yellow")
    title.append(f" · {sign}{number(diff.token_delta)} tokens")
    if not diff.changes:
        return Group(title, Text("no differences", style="dim"))
    table = Table("", f"before ({short(diff.a)})", f"after ({short(diff.b)})", box=box.SIMPLE, show_lines=True)
    changes = diff.changes

    def row(i: int) -> None:
        change = changes[i]
        empty = Text("")
        if change.kind == "added":
            text = _clipped(message_text(change.after or {}), style="green")
            table.add_row(Text("+", style="bold green"), empty, _side(change.role, change.index_b, text))
        elif change.kind == "removed":
            text = _clipped(message_text(change.before or {}), style="red")
            table.add_row(Text("-", style="bold red"), _side(change.role, change.index_a, text), empty)
        else:
            left, right = _changed_lines(message_text(change.before or {}), message_text(change.after or {}))
            before_role = str((change.before or {}).get("role", change.role))
            table.add_row(
                Text("~", style="bold yellow"),
                _side(before_role, change.index_a, left),
                _side(change.role, change.index_b, right),
            )

    head, tail = shown_indexes(len(changes))
    for i in head:
        row(i)
    if tail:
        table.add_row(
            Text(""), Text(f"… {len(changes) - len(head) - len(tail):,} more changes …", style="dim"), Text("")
        )
        for i in tail:
            row(i)
    return Group(title, table)


def _grid(rows: Sequence[tuple[str, RenderableType]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    for label, value in rows:
        grid.add_row(Text(label), value)
    return grid


def _hash(hash: str | None) -> Text:
    return Text(short(hash), style="yellow") if hash else Text("-", style="dim")


def _role(role: str | None) -> Text:
    return Text(role or "-", style=ROLE_STYLES.get(role or "", "dim"))


def commit_view(commit: Any) -> RenderableType:
    """A :class:`~tract_core.CommitInfo`: its fields, annotations and the message it holds."""
    rows: list[tuple[str, RenderableType]] = [
        ("hash", Text(commit.hash, style="yellow")),
        ("parents", Text(", ".join(short(p) for p in commit.parents) or "none (root)")),
        ("created", Text(when(commit.created_at))),
        ("operation", Text(str(getattr(commit.operation, "value", commit.operation)))),
    ]
    if commit.response_to:
        rows.append(("edits", _hash(commit.response_to)))
    if commit.message:
        rows.append(("message", _clipped(commit.message, JSON_CHARS)))
    rows.append(("tokens", Text(number(commit.token_count))))
    if commit.key:
        rows.append(("key", Text(commit.key)))
    if commit.lifecycle is not None:
        rows.append(("lifecycle", Text(to_json(commit.lifecycle.to_dict()))))
    if commit.metadata:
        rows.append(("metadata", _clipped(to_json(dict(commit.metadata)), JSON_CHARS)))
    if commit.generation_config:
        rows.append(("generation", _clipped(to_json(dict(commit.generation_config)), JSON_CHARS)))
    for note in commit.annotations:
        text = _priority(note.priority) or Text(str(getattr(note.priority, "value", note.priority)))
        if note.reason:
            text.append(f" {note.reason}")
        rows.append(("annotated", text))
    parts: list[RenderableType] = [_grid(rows)]
    if commit.body is not None and commit.role is not None:
        parts.append(_message({"role": commit.role, **dict(commit.body)}))
    title = Text("Commit ", style="bold") + _hash(commit.hash)
    if commit.role is not None:
        title += Text(" ") + _role(commit.role)
    return Panel(
        Group(*parts), title=title, title_align="left", border_style=ROLE_STYLES.get(commit.role or "", "white")
    )


def _labels(names: Sequence[str]) -> Text:
    out = Text()
    for index, name in enumerate(names):
        if index:
            out.append(", ")
        out.append(name, style="bold cyan" if name.startswith("HEAD") else "bold green")
    return out


def _lanes(graph: str) -> Text:
    text = Text(no_wrap=True)
    for index, char in enumerate(graph):
        text.append(char, style="bold" if char == "*" else LANE_STYLES[index // 2 % len(LANE_STYLES)])
    return text


def log_view(log: Sequence[Any], labels: Mapping[str, Sequence[str]]) -> RenderableType:
    """A list of commits (``Tract.log``) as a table, with the lanes of the branch graph when it forks or merges."""
    if not log:
        return Text("no commits", style="dim")
    shown = log[:MESSAGE_LIMIT]
    by_hash = {commit.hash: commit for commit in shown}
    pairs = [(c.hash, tuple(c.parents)) for c in shown]
    graph = branched(lane_layout(pairs))
    lines = graph_rows(pairs) if graph else []
    table = Table(box=box.SIMPLE_HEAD, title=Text(f"Log · {number(len(log))} commits, newest first"))
    if graph:
        table.add_column("", no_wrap=True, min_width=max(len(row.graph) for row in lines))
    table.add_column("commit", no_wrap=True, min_width=12)
    table.add_column("refs", overflow="fold")
    table.add_column("role", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("preview", ratio=1, min_width=16, no_wrap=True, overflow="ellipsis")
    table.add_column("created", no_wrap=True, style="dim")

    def cells(commit: Any) -> list[RenderableType]:
        role = _role(commit.role)
        if commit.annotations:
            role.append(" ")
            role.append_text(_priority(commit.annotations[-1].priority))
        return [
            _hash(commit.hash),
            _labels(labels.get(commit.hash, ())),
            role,
            Text(number(commit.token_count)),
            Text(commit.preview(60)),
            Text(when(commit.created_at)[5:16]),  # MM-DD HH:MM
        ]

    if graph:
        for row in lines:  # a commit's line, or a line that only connects lanes
            more = cells(by_hash[row.commit]) if row.commit is not None else []
            table.add_row(_lanes(row.graph), *more)
    else:
        for commit in shown:
            table.add_row(*cells(commit))
    if len(log) > len(shown):
        table.caption = f"… {len(log) - len(shown):,} older commits not drawn"
    return table


def _head_rows(branch: str | None, head: str | None) -> list[tuple[str, RenderableType]]:
    where = Text(branch, style="bold green") if branch else _badge("DETACHED", "yellow")
    return [("branch", where), ("HEAD", _hash(head) if head else Text("no commits yet", style="dim"))]


def status_view(status: Any) -> RenderableType:
    """A :class:`~tract_core.TractStatus`: where HEAD is and the budget bar of its compiled context."""
    rows = _head_rows(status.branch, status.head)
    rows += [
        ("commits", Text(number(status.commit_count))),
        ("messages", Text(number(status.message_count))),
        ("tokens", budget_bar(status.token_count, status.token_budget)),
        ("cache-friendly", Text(f"{number(status.cached_prefix_tokens)} tokens of prefix unchanged")),
        ("tokenizer", Text(status.tokenizer) + Text(f" {status.tokenizer_note or ''}", style="dim")),
    ]
    usage = status.last_usage
    if usage is not None:
        rows.append(
            ("last usage", Text(f"prompt {number(usage.prompt_tokens)} · completion {number(usage.completion_tokens)}"))
        )
    title = Text("Status · tract ", style="bold") + Text(status.tract_id, style="bold cyan")
    return Panel(_grid(rows), title=title, title_align="left", border_style="cyan")


def tract_view(tract: Any) -> RenderableType:
    """A :class:`~tract_core.Tract`: name, branch, HEAD, message count, budget bar, branches and graph."""
    title = Text("Tract ", style="bold") + Text(tract.tract_id, style="bold cyan")
    if tract.closed:  # reading would reconnect a closed handle's database
        return Panel(
            Text("this handle was closed; open it again with Tract.open(...)", style="dim"),
            title=title + Text(" (closed)"),
            title_align="left",
        )
    try:
        status = tract.status()
        branches = tract.list_branches()
        commits, more = recent_history(tract, GRAPH_COMMITS)
    except TractError as exc:
        return Panel(Text(str(exc), style="dim"), title=title + Text(" (unavailable)"), title_align="left")
    listed = Text()
    for index, branch in enumerate(branches):
        if index:
            listed.append(", ")
        listed.append(branch.name, style="bold green" if branch.current else "")
    rows = _head_rows(status.branch, status.head)
    rows += [
        ("commits", Text(number(status.commit_count))),
        ("messages", Text(number(status.message_count))),
        ("tokens", budget_bar(status.token_count, status.token_budget)),
        ("branches", listed),
    ]
    parts: list[RenderableType] = [_grid(rows)]
    if commits:
        labels = ref_labels(branches, status.head)
        by_hash = {commit.hash: commit for commit in commits}
        for row in graph_rows((c.hash, tuple(c.parents)) for c in commits):
            line = _lanes(row.graph)
            if row.commit is not None:
                commit = by_hash[row.commit]
                line.append_text(_hash(commit.hash))
                if commit.hash in labels:
                    line.append(" (")
                    line.append_text(_labels(labels[commit.hash]))
                    line.append(")")
                if commit.role is not None:
                    line.append(" ")
                    line.append_text(_role(commit.role))
                line.append(f" {commit.preview(60)}", style="" if commit.role is not None else "dim")
            parts.append(line)
        if more:
            parts.append(Text("… older commits", style="dim"))
    return Panel(Group(*parts), title=title, title_align="left", border_style="cyan")


def proposal_view(proposal: Any) -> RenderableType:
    """A :class:`~tract_core.policies.Proposal`: what a policy proposes, why, and where it stands."""
    rows: list[tuple[str, RenderableType]] = [
        ("policy", Text(proposal.policy)),
        ("status", Text(proposal.status, style=STATUS_STYLES.get(proposal.status, "dim"))),
        ("risk", Text(proposal.risk, style="red" if proposal.risk == "high" else "")),
        ("reason", _clipped(proposal.reason, JSON_CHARS)),
        ("params", _clipped(to_json(dict(proposal.params)), JSON_CHARS)),
        ("made against", _hash(proposal.basis)),
        ("created", Text(when(proposal.created_at))),
    ]
    if proposal.decided_by or proposal.decided_at is not None:
        rows.append(("decided", Text(f"{proposal.decided_by or '-'} {when(proposal.decided_at)}")))
    if proposal.outcome is not None:
        rows.append(("outcome", _clipped(to_json(proposal.outcome), JSON_CHARS)))
    title = Text(f"Proposal #{proposal.id} · ", style="bold") + Text(proposal.kind, style="bold")
    return Panel(_grid(rows), title=title, title_align="left", border_style=STATUS_STYLES.get(proposal.status, "white"))


def health_view(report: Any) -> RenderableType:
    """A :class:`~tract_core.orchestrator.HealthReport`: the budget bar and one row per finding."""
    table = Table("severity", "measure", "value", "reason", box=box.SIMPLE_HEAD)
    for item in report.items:
        table.add_row(
            Text(item.severity.upper(), style=f"bold {SEVERITY_STYLES.get(item.severity, 'white')}"),
            Text(item.name),
            Text(f"{item.value:g}"),
            _clipped(item.reason, JSON_CHARS),
        )
    title = Text("Health · ", style="bold") + Text(report.branch or "detached HEAD", style="bold")
    title.append(" ")
    title.append_text(_badge("HEALTHY", "green") if report.healthy else _badge("NEEDS ACTION", "red"))
    body = Group(budget_bar(report.token_count, report.token_budget), table)
    return Panel(body, title=title, title_align="left", border_style="green" if report.healthy else "red")
