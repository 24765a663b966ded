"""The notebook views of tract's records: a tract, its status, a commit, a log, a proposal and a health
report. Each function takes the object and returns HTML (see :mod:`.html` for the rules it follows)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import TractError
from .graph import ROW, branched, graph_svg, lane_layout, recent_history, ref_labels, row_svgs
from .html import (
    AMBER,
    GREEN,
    GREY,
    MESSAGE_LIMIT,
    RED,
    ROLE_COLOURS,
    badge,
    bar,
    clipped_html,
    esc,
    fields,
    mono,
    muted,
    number,
    panel,
    short,
    table,
    to_json,
)
from .messages import message_html, priority_badges

__all__ = [
    "GRAPH_COMMITS",
    "when",
    "usage_html",
    "commit_html",
    "log_html",
    "status_html",
    "tract_html",
    "proposal_html",
    "health_html",
]

GRAPH_COMMITS = 30
"""A tract's view draws the newest this many commits of HEAD and of each branch."""
JSON_CHARS = 600
"""At most this many characters of metadata, parameters or outcomes are shown."""
SEVERITY_COLOURS = {"ok": GREEN, "warn": AMBER, "act": RED}
STATUS_COLOURS = {
    "pending": AMBER,
    "approved": "#2563eb",
    "executed": GREEN,
    "failed": RED,
    "rejected": GREY,
    "stale": GREY,
}


def when(timestamp: float | None) -> str:
    """A UNIX timestamp as ``YYYY-MM-DD HH:MM:SS UTC`` (``-`` for none)."""
    if timestamp is None:
        return "-"
    moment = _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _json_html(data: Any) -> str:
    return f'<span style="white-space:pre-wrap;font-family:monospace">{clipped_html(to_json(data), JSON_CHARS)}</span>'


def usage_html(usage: Any) -> str:
    """A provider's token usage on one line (``none recorded`` for None)."""
    if usage is None:
        return muted("none recorded")
    text = (
        f"prompt {number(usage.prompt_tokens)} · completion {number(usage.completion_tokens)} · "
        f"total {number(usage.total_tokens)}"
    )
    if usage.cache_read_tokens or usage.cache_write_tokens:
        text += f" · cache read {number(usage.cache_read_tokens)} / written {number(usage.cache_write_tokens)}"
    return f"{esc(text)} {muted(f'({usage.source})')}"


def _role_html(role: str | None) -> str:
    if role is None:
        return muted("-")
    return f'<b style="color:{ROLE_COLOURS.get(role, GREY)}">{esc(role)}</b>'


def _latest_priority(commit: Any) -> Any:
    return commit.annotations[-1].priority if commit.annotations else None


def commit_html(commit: Any) -> str:
    """A :class:`~tract_core.CommitInfo`: its fields, annotations and the message it holds."""
    operation = str(getattr(commit.operation, "value", commit.operation))
    title = (
        f"Commit {mono(commit.short_hash, commit.hash)} · {_role_html(commit.role)}"
        f"{' ' + badge(operation.upper(), '#7c3aed') if operation != 'append' else ''}"
        f" {priority_badges(_latest_priority(commit))}"
    )
    rows: list[tuple[str, str]] = [
        ("hash", mono(commit.hash)),
        ("parents", ", ".join(mono(short(p), p) for p in commit.parents) or muted("none (root)")),
        ("created", esc(when(commit.created_at))),
    ]
    if commit.response_to:
        rows.append(("edits", mono(short(commit.response_to), commit.response_to)))
    if commit.message:
        rows.append(("message", clipped_html(commit.message, JSON_CHARS)))
    rows.append(("tokens", esc(number(commit.token_count))))
    rows.append(("content type", esc(commit.content_type)))
    if commit.key:
        rows.append(("key", esc(commit.key)))
    if commit.lifecycle is not None:
        rows.append(("lifecycle", _json_html(commit.lifecycle.to_dict())))
    if commit.placement is not None:
        placement = commit.placement
        rows.append(
            ("placement", f"offset {esc(placement.offset)} of {mono(short(placement.attach_to), placement.attach_to)}")
        )
    if commit.metadata:
        rows.append(("metadata", _json_html(dict(commit.metadata))))
    if commit.generation_config:
        rows.append(("generation", _json_html(dict(commit.generation_config))))
    if commit.usage is not None:
        rows.append(("usage", usage_html(commit.usage)))
    for note in commit.annotations:
        reason = f" {esc(note.reason)}" if note.reason else ""
        rows.append(("annotated", (priority_badges(note.priority) or badge("NORMAL")) + reason))
    for change in commit.lifecycle_changes:
        life = to_json(change.lifecycle.to_dict()) if change.lifecycle is not None else "permanent"
        reason = f" ({change.reason})" if change.reason else ""
        rows.append(("lifecycle set", esc(life + reason)))
    body = fields(rows)
    if commit.body is not None and commit.role is not None:
        body += message_html({"role": commit.role, **dict(commit.body)})
    return panel(title, body, ROLE_COLOURS.get(commit.role or "", GREY))


def _labels_html(names: Sequence[str]) -> str:
    return "".join(badge(name, "#0891b2" if name.startswith("HEAD") else GREEN) for name in names)


def log_html(log: Sequence[Any], labels: Mapping[str, Sequence[str]]) -> str:
    """A list of commits (``Tract.log``) as a table, with the branch graph beside it when it forks or merges.

    Args:
        log: Commits, newest first (each before its parents).
        labels: Ref names per commit (``{hash: ["HEAD -> main"]}``).
    """
    count = len(log)
    title = f"Log · {number(count)} commit{'s' if count != 1 else ''}, newest first"
    if not count:
        return panel(title, muted("no commits"))
    shown = log[:MESSAGE_LIMIT]
    layout = lane_layout((c.hash, tuple(c.parents)) for c in shown)
    graph = branched(layout)
    heads = [h for h, names in labels.items() if any(n.startswith("HEAD") for n in names)]
    svgs = row_svgs(layout, heads) if graph else []
    headers = (["graph"] if graph else []) + ["commit", "refs", "role", "tokens", "preview", "created"]
    rows = []
    for index, commit in enumerate(shown):
        row = [svgs[index]] if graph else []
        row += [
            mono(commit.short_hash, commit.hash),
            _labels_html(labels.get(commit.hash, ())),
            _role_html(commit.role) + " " + priority_badges(_latest_priority(commit)),
            esc(number(commit.token_count)),
            esc(commit.preview(72)),
            muted(when(commit.created_at)[:16]),  # to the minute
        ]
        rows.append(row)
    # one line per row, exactly ROW pixels high, so the graph's slices meet from row to row
    style = "white-space:nowrap;vertical-align:middle"
    if graph:  # rows exactly ROW pixels high and no borders between them: the slices join up
        style += f";height:{ROW}px;line-height:{ROW - 4}px;padding-top:0;padding-bottom:0;border-bottom:none"
    body = table(headers, rows, cell_style=style)
    if count > len(shown):
        body += muted(f"… {count - len(shown):,} older commits not drawn")
    return panel(title, body, GREY)


def _head_html(branch: str | None, head: str | None) -> list[tuple[str, str]]:
    where = esc(branch) if branch else badge("DETACHED", AMBER)
    return [("branch", where), ("HEAD", mono(short(head), head) if head else muted("no commits yet"))]


def status_html(status: Any) -> str:
    """A :class:`~tract_core.TractStatus`: where HEAD is and the budget bar of its compiled context."""
    rows = _head_html(status.branch, status.head)
    rows += [
        ("commits", esc(number(status.commit_count))),
        ("messages", esc(number(status.message_count))),
        ("tokens", bar(status.token_count, status.token_budget)),
        ("cache-friendly", esc(f"{number(status.cached_prefix_tokens)} tokens of prefix unchanged")),
        ("tokenizer", esc(status.tokenizer) + (f" {muted(status.tokenizer_note)}" if status.tokenizer_note else "")),
        ("last usage", usage_html(status.last_usage)),
    ]
    title = f"Status · tract {mono(status.tract_id)}"
    return panel(title, fields(rows), "#0891b2")


def tract_html(tract: Any) -> str:
    """A :class:`~tract_core.Tract`: name, branch, HEAD, message count, budget bar, branches and the
    graph of the newest commits of every branch."""
    title = f"Tract {mono(tract.tract_id)}"
    if tract.closed:  # reading would reconnect a closed handle's database: show what it is, no more
        return panel(
            f"{title} {badge('CLOSED', GREY)}", muted("this handle was closed; open it again with Tract.open(...)")
        )
    try:
        status = tract.status()
        branches = tract.list_branches()
        commits, more = recent_history(tract, GRAPH_COMMITS)
        labels = ref_labels(branches, status.head)
    except TractError as exc:  # closed, or its store cannot be read: say so instead of failing
        return panel(title + " " + badge("UNAVAILABLE", GREY), esc(exc), GREY)
    listed = ", ".join(f"<b>{esc(b.name)}</b> {muted('(current)')}" if b.current else esc(b.name) for b in branches)
    rows = _head_html(status.branch, status.head)
    rows += [
        ("commits", esc(number(status.commit_count))),
        ("messages", esc(number(status.message_count))),
        ("tokens", bar(status.token_count, status.token_budget)),
        ("branches", listed or muted("none")),
    ]
    body = fields(rows)
    if commits:
        body += '<div style="margin-top:6px;opacity:0.75">recent commits</div>' + graph_svg(commits, labels, more=more)
    return panel(title, body, "#0891b2")


def proposal_html(proposal: Any) -> str:
    """A :class:`~tract_core.policies.Proposal`: what a policy proposes, why, and where it stands."""
    title = (
        f"Proposal #{esc(proposal.id)} · {esc(proposal.kind)} "
        f"{badge(proposal.status.upper(), STATUS_COLOURS.get(proposal.status, GREY))}"
        f"{badge(f'{proposal.risk} risk'.upper(), RED if proposal.risk == 'high' else GREY)}"
    )
    rows = [
        ("policy", esc(proposal.policy)),
        ("reason", clipped_html(proposal.reason, JSON_CHARS)),
        ("params", _json_html(dict(proposal.params))),
        ("made against", mono(short(proposal.basis), proposal.basis) if proposal.basis else muted("-")),
        ("created", esc(when(proposal.created_at))),
    ]
    if proposal.decided_by or proposal.decided_at is not None:
        rows.append(("decided", f"{esc(proposal.decided_by or '-')} {muted(when(proposal.decided_at))}"))
    if proposal.outcome is not None:
        rows.append(("outcome", _json_html(proposal.outcome)))
    return panel(title, fields(rows), STATUS_COLOURS.get(proposal.status, GREY))


def health_html(report: Any) -> str:
    """A :class:`~tract_core.orchestrator.HealthReport`: the budget bar and one row per finding."""
    verdict = badge("HEALTHY", GREEN) if report.healthy else badge("NEEDS ACTION", RED)
    title = f"Health · {esc(report.branch) if report.branch else 'detached HEAD'} {verdict}"
    rows = [
        [
            badge(item.severity.upper(), SEVERITY_COLOURS.get(item.severity, GREY)),
            mono(item.name),
            esc(f"{item.value:g}"),
            clipped_html(item.reason, JSON_CHARS),
        ]
        for item in report.items
    ]
    body = fields([("tokens", bar(report.token_count, report.token_budget))])
    body += table(["severity", "measure", "value", "reason"], rows)
    colour = RED if not report.healthy else AMBER if report.findings else GREEN
    return panel(title, body, colour)
