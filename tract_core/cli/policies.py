"""The ``tract`` commands for a tract's policies: ``policies`` (what is configured, the policy log,
pause and resume), ``proposals`` (what waits for a decision), ``approve`` and ``reject``.

These are the only commands that load a tract's configured policies (see
:mod:`tract_core.cli.options`). A stored custom policy this process cannot import is reported as a
warning line, never a traceback; approving an action only such a policy can carry out (or a
compression that needs an LLM this process does not have) is refused before anything changes, so
the proposal stays pending for the application to decide.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.text import Text

from .. import Tract
from ..clock import now
from ..errors import PolicyWarning, ProposalDecidedError, ProposalNotFoundError, StaleProposalError
from ..policies import Policy, PolicyLogEntry, Proposal
from ..policies.config import policy_path
from ..policies.execute import COMMIT_PARAMS
from ..policies.policy import BUILTIN_KINDS
from .options import CommandFailed, UsageError, open_from
from .render import Column, counted, dumps, fitted_table, short, tip_line, when

__all__ = [
    "cmd_policies",
    "cmd_proposals",
    "cmd_approve",
    "cmd_reject",
    "parse_changes",
    "proposal_dict",
    "age",
    "decider",
    "warning_line",
]

DECISION_STYLES = {
    "executed": "green",
    "approved": "green",
    "proposed": "yellow",
    "pending": "yellow",
    "rejected": "magenta",
    "stale": "dim",
    "failed": "red",
    "error": "red",
    "paused": "red",
}
"""The color of each log decision and proposal status."""

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_HASH = re.compile(r"[0-9a-f]{64}\Z")


def warning_line(message: str) -> str:
    """A warning as ``tract: warning: ...`` on one line."""
    return f"tract: warning: {' '.join(message.split())}\n"


def age(timestamp: float) -> str:
    """How long ago ``timestamp`` was, by the clock in use: ``12s``, ``5m``, ``3h``, ``2d``."""
    seconds = max(0.0, now() - timestamp)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def decider() -> str:
    """Who decides, by default: ``cli:<login name>`` (``cli`` when the login name is unknown)."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in this environment (getpass raises OSError or KeyError)
        return "cli"


def parse_changes(items: Sequence[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` options as parameter changes: a value that parses as JSON is that JSON
    value (``keep_recent=10`` is the number 10), anything else is the text itself. Commit
    parameters (``target``, ``from_commit``, ``to_commit``, ``start``, ``head``) stay text, to be
    resolved as commit references.

    Raises:
        UsageError: An item without ``=``, a key that is not a parameter name, or a key given twice.

    >>> parse_changes(["keep_recent=10", "content=Weeks 1-4: stress.", "to_commit=1234abcd"])
    {'keep_recent': 10, 'content': 'Weeks 1-4: stress.', 'to_commit': '1234abcd'}
    """
    changes: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise UsageError(f"--set takes KEY=VALUE with KEY a parameter name (e.g. keep_recent=10), not {item!r}")
        if key == "decided_by":
            raise UsageError("--by NAME says who decides; --set changes the action's parameters")
        if key in changes:
            raise UsageError(f"--set {key} is given twice")
        if key in COMMIT_PARAMS:
            changes[key] = text
            continue
        try:
            changes[key] = json.loads(text)
        except ValueError:
            changes[key] = text
    return changes


# -- opening --------------------------------------------------------------------------------------


def _open(args: argparse.Namespace) -> tuple[Tract, list[str]]:
    """The tract with its configured policies, and the warnings restoring them gave (a stored
    policy this process cannot import), already printed on stderr as one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PolicyWarning)
        t = open_from(args, policies=True)
    messages = []
    for warning in caught:
        if issubclass(warning.category, PolicyWarning):
            messages.append(" ".join(str(warning.message).split()))
            sys.stderr.write(warning_line(str(warning.message)))
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return t, messages


def _tract_autonomy(t: Tract) -> str:
    return t.policy_autonomy


# -- tract policies -------------------------------------------------------------------------------


def _class_name(policy: Policy) -> str:
    """A built-in's class name, or a custom policy's import path."""
    path = policy_path(policy)
    module, _, name = path.partition(":")
    return name if module.startswith("tract_core.policies.") and "." not in name else path


def _settings(policy: Policy) -> dict[str, Any]:
    to_config = getattr(policy, "to_config", None)
    config = to_config() if callable(to_config) else {}
    return {k: v for k, v in dict(config).items() if k not in ("name", "priority")}


def _value(value: Any) -> str:
    """A parameter value on one line: text as it is, commit ids cut to 12 characters, the rest as JSON."""
    if isinstance(value, str):
        return value[:12] if _HASH.match(value) else value
    if isinstance(value, list) and value and all(isinstance(v, str) and _HASH.match(v) for v in value):
        return "[" + ", ".join(v[:12] for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, default=str)


def _inline(params: Mapping[str, Any]) -> str:
    """Parameters as ``key=value`` pairs on one line."""
    return " ".join(f"{key}={_value(value)}" for key, value in params.items())


def _policy_rows(t: Tract) -> list[dict[str, Any]]:
    tract_level = _tract_autonomy(t)
    rows = []
    for policy in sorted(t.policies, key=lambda p: p.priority):
        own = getattr(policy, "autonomy", None)
        rows.append(
            {
                "name": policy.name,
                "class": _class_name(policy),
                "trigger": policy.trigger,
                "priority": policy.priority,
                "autonomy": own or tract_level,
                "own_autonomy": own is not None,
                "settings": _settings(policy),
            }
        )
    return rows


def _render_policies(
    out: Console, t: Tract, rows: Sequence[Mapping[str, Any]], paused: bool, unavailable: int
) -> Group:
    level = _tract_autonomy(t)
    head = Text(f"Policies of tract {t.tract_id!r}: autonomy {level}, ", style="bold")
    if paused:
        head.append("paused", style="bold red").append(
            " (none is evaluated, in any process, until `tract policies resume`)", style=""
        )
    else:
        head.append("running", style="bold green")
    parts: list[RenderableType] = [head]
    if not rows:
        if unavailable:
            parts.append(Text("None of them can be loaded in this process (see the warnings above).", style="dim"))
        else:
            parts.append(
                Text(
                    "No policies are configured; configure them in Python: t.configure_policies([...]) "
                    "(docs/policies.md).",
                    style="dim",
                )
            )
        return Group(*parts)
    last: dict[str, PolicyLogEntry] = {}
    for logged in t.policy_log(limit=200):
        last.setdefault(logged.policy, logged)
    columns = [
        Column("name", whole=True),
        Column("class", drop=3, whole=True),
        Column("trigger", drop=4, whole=True),
        Column("priority", drop=5, whole=True, rigid=True),
        Column("autonomy", drop=2, whole=True),
        Column("settings", min_width=16),
        Column("last", drop=1, whole=True),
    ]
    cells = []
    for row in rows:
        autonomy = Text(row["autonomy"]) if row["own_autonomy"] else Text(f"{row['autonomy']} (tract)", style="dim")
        entry = last.get(row["name"])
        latest = (
            Text(entry.decision, style=DECISION_STYLES.get(entry.decision, "")).append(
                f" {age(entry.created_at)} ago", style="dim"
            )
            if entry is not None
            else Text("-", style="dim")
        )
        cells.append(
            [
                Text(row["name"], style="bold"),
                row["class"],
                row["trigger"],
                str(row["priority"]),
                autonomy,
                _inline(row["settings"]),
                latest,
            ]
        )
    parts.append(fitted_table(out, columns, cells, box=box.SIMPLE_HEAD))
    pending = len(t.proposals(status="pending"))
    if pending:
        parts.append(Text(f"{counted(pending, 'proposal')} pending: `tract proposals` lists them.", style="yellow"))
    return Group(*parts)


def _log_dict(entry: PolicyLogEntry) -> dict[str, Any]:
    return dataclasses.asdict(entry)


def _render_log(out: Console, t: Tract, entries: Sequence[PolicyLogEntry], more: bool) -> RenderableType:
    if not entries:
        return Text(f"the policy log of tract {t.tract_id!r} is empty", style="dim")
    caption = "older entries exist: -n 0 lists all" if more else None
    columns = [
        Column("#", whole=True, rigid=True, justify="right"),
        Column("when", drop=4, whole=True),
        Column("policy", whole=True),
        Column("trigger", drop=3, whole=True),
        Column("decision", whole=True),
        Column("kind", drop=2, whole=True),
        Column("proposal", drop=1, whole=True, rigid=True, justify="right"),
        Column("reason", min_width=16),
    ]
    rows = []
    for entry in entries:
        reason = Text(entry.reason or "")
        if entry.detail is not None:
            detail = entry.detail if not isinstance(entry.detail, Mapping) else _inline(entry.detail)
            reason.append(("\n" if entry.reason else "") + str(detail), style="dim")
        rows.append(
            [
                str(entry.id),
                when(entry.created_at),
                entry.policy,
                entry.trigger,
                Text(entry.decision, style=DECISION_STYLES.get(entry.decision, "")),
                entry.kind or "-",
                "-" if entry.proposal_id is None else f"#{entry.proposal_id}",
                reason,
            ]
        )
    return fitted_table(out, columns, rows, box=box.SIMPLE_HEAD, caption=caption)


def cmd_policies(args: argparse.Namespace, out: Console) -> None:
    """``tract policies``: the configured policies; ``--log``: the policy log; ``pause``/``resume``."""
    if args.action is not None and (args.log or args.limit is not None or args.json):
        raise UsageError(f"tract policies {args.action} takes no --log, -n or --json")
    if args.limit is not None and not args.log:
        raise UsageError("-n N limits the policy log: use it with --log")
    t, unavailable = _open(args)
    with t:
        if args.action == "pause":
            t.pause_policies()
            out.print(
                Text(
                    f"Paused the policies of tract {t.tract_id!r}: no process evaluates them until "
                    "`tract policies resume`. Pending proposals can still be approved or rejected.",
                    style="bold",
                )
            )
        elif args.action == "resume":
            t.resume_policies()
            out.print(
                Text(
                    f"Resumed the policies of tract {t.tract_id!r}: they are evaluated again after the "
                    "next commit or compile of every process that has them configured.",
                    style="bold",
                )
            )
        elif args.log:
            limit = 20 if args.limit is None else args.limit or None
            entries = t.policy_log(None if limit is None else limit + 1)
            more = limit is not None and len(entries) > limit
            entries = entries[:limit] if more else entries
            if args.json:
                sys.stdout.write(dumps([_log_dict(e) for e in entries]) + "\n")
            else:
                out.print(_render_log(out, t, entries, more))
        else:
            rows = _policy_rows(t)
            paused = t.policies_paused
            if args.json:
                data = {
                    "tract": t.tract_id,
                    "autonomy": _tract_autonomy(t),
                    "paused": paused,
                    "policies": [{k: v for k, v in row.items() if k != "own_autonomy"} for row in rows],
                    "warnings": unavailable,
                }
                sys.stdout.write(dumps(data) + "\n")
            else:
                out.print(_render_policies(out, t, rows, paused, len(unavailable)))


# -- tract proposals ------------------------------------------------------------------------------


def proposal_dict(proposal: Proposal) -> dict[str, Any]:
    """A proposal as plain JSON data: what ``to_dict()`` gives, and how it was decided."""
    return {
        **proposal.to_dict(),
        "decided_by": proposal.decided_by,
        "outcome": proposal.outcome,
        "created_at": proposal.created_at,
        "decided_at": proposal.decided_at,
    }


def _render_proposals(
    out: Console, t: Tract, proposals: Sequence[Proposal], statuses: bool, what: str
) -> RenderableType:
    if not proposals:
        return Text(f"no {what} in tract {t.tract_id!r}", style="dim")
    columns = [
        Column("#", whole=True, rigid=True, justify="right"),
        Column("policy", drop=3, whole=True),
        Column("kind", whole=True),
        Column("risk", drop=2, whole=True),
        *([Column("status", whole=True)] if statuses else []),
        Column("basis", drop=4, whole=True, rigid=True, style="yellow"),
        Column("age", drop=1, whole=True),
        Column("reason", min_width=16),
    ]
    rows = []
    for proposal in proposals:
        reason = Text(proposal.reason).append(f"\n{_inline(proposal.params)}", style="dim")
        if proposal.status != "pending":
            decided = f"\n{proposal.status}" + (f" by {proposal.decided_by}" if proposal.decided_by else "")
            if proposal.outcome is not None:
                outcome = proposal.outcome
                decided += ": " + (_inline(outcome) if isinstance(outcome, Mapping) else str(outcome))
            reason.append(decided, style=DECISION_STYLES.get(proposal.status, ""))
        cells: list[RenderableType] = [
            f"#{proposal.id}",
            proposal.policy,
            proposal.kind,
            Text(proposal.risk, style="red" if proposal.risk == "high" else "green"),
        ]
        if statuses:
            cells.append(Text(proposal.status, style=DECISION_STYLES.get(proposal.status, "")))
        cells += [short(proposal.basis), age(proposal.created_at), reason]
        rows.append(cells)
    table = fitted_table(out, columns, rows, box=box.SIMPLE_HEAD, show_lines=True)
    if not any(p.status == "pending" for p in proposals):
        return table
    hint = Text(
        "Approve one with `tract approve ID` (--set KEY=VALUE changes a parameter), or reject it with "
        "`tract reject ID [--reason TEXT]`.",
        style="dim",
    )
    return Group(table, hint)


def cmd_proposals(args: argparse.Namespace, out: Console) -> None:
    """``tract proposals``: the pending proposals (``--all``: every one; ``--status S``: those in S)."""
    if args.all and args.status is not None:
        raise UsageError("--all lists every proposal, --status those in one status: give one of them")
    t, _ = _open(args)
    with t:
        if args.all:
            proposals, what = t.proposals(), "proposals"
        elif args.status is not None:
            proposals, what = t.proposals(status=args.status), f"{args.status} proposals"
        else:
            proposals, what = t.pending_proposals(), "pending proposals"  # marks the stale ones stale
    if args.json:
        sys.stdout.write(dumps([proposal_dict(p) for p in proposals]) + "\n")
    else:
        out.print(_render_proposals(out, t, proposals, args.all or args.status not in (None, "pending"), what))


# -- tract approve / reject -----------------------------------------------------------------------


def _pending(t: Tract, proposal_id: int) -> Proposal | None:
    return next((p for p in t.proposals(status="pending") if p.id == proposal_id), None)


def _refuse_unrunnable(t: Tract, proposal: Proposal, params: Mapping[str, Any]) -> None:
    """Refuse, before anything changes, an approval this process could only turn into a failure."""
    policy = next((p for p in t.policies if p.name == proposal.policy), None)
    still = f"The proposal stays pending (the application can approve it: t.approve_proposal({proposal.id}))."
    if proposal.kind not in BUILTIN_KINDS and not callable(getattr(policy, "execute", None)):
        why = (
            "is not configured in this process"
            if policy is None
            else f"({_class_name(policy)}) has no execute(tract, action) method"
        )
        raise CommandFailed(
            f"proposal {proposal.id} is a {proposal.kind!r} action, which only its policy "
            f"{proposal.policy!r} can carry out, and that policy {why} (a custom policy's module must be "
            f"importable here: check the warnings and PYTHONPATH). {still}"
        )
    llm = getattr(policy, "llm", None) or t.config.llm
    if proposal.kind == "compress" and params.get("content") is None and llm is None:
        raise CommandFailed(
            f"proposal {proposal.id} compresses with an LLM, and this process has none (an LLM is not "
            f"stored with the tract): write the summary yourself with --set content='...'. {still}"
        )


def _resolved(t: Tract, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes with commit references (prefixes, branches, ``HEAD~N``) resolved to full hashes."""
    resolved = dict(changes)
    for key in COMMIT_PARAMS:
        if isinstance(resolved.get(key), str):
            resolved[key] = t.show(resolved[key]).hash
    return resolved


def _what(proposal: Proposal) -> str:
    return f"proposal #{proposal.id} ({proposal.kind}, by policy {proposal.policy!r})"


def _render_outcome(t: Tract, proposal: Proposal, changes: Mapping[str, Any]) -> Group:
    title = Text(f"Approved {_what(proposal)}", style="bold")
    if changes:
        title.append(f" with {_inline(changes)}", style="")
    title.append(f": {proposal.status}.", style=DECISION_STYLES.get(proposal.status, "bold"))
    parts: list[RenderableType] = [title]
    outcome = proposal.outcome
    if isinstance(outcome, Mapping):
        for key, value in outcome.items():
            parts.append(Text(f"  {key}: ").append(_value(value), style="cyan"))
    elif outcome is not None:
        parts.append(Text(f"  {outcome}"))
    parts.append(tip_line(t, "HEAD is now at ", t.head, style=""))
    return Group(*parts)


def cmd_approve(args: argparse.Namespace, out: Console) -> None:
    """``tract approve ID [--set KEY=VALUE ...]``: approve a pending proposal and execute it."""
    changes = parse_changes(args.set)
    t, _ = _open(args)
    with t:
        changes = _resolved(t, changes)
        found = _pending(t, args.id)
        if found is not None:
            _refuse_unrunnable(t, found, {**found.params, **changes})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PolicyWarning)  # a failure is reported below, once
                decided = t.approve_proposal(args.id, decided_by=args.by or decider(), **changes)
        except (ProposalNotFoundError, ProposalDecidedError, StaleProposalError):
            raise
        except Exception as error:  # the execution failed: the proposal is now "failed"
            message = " ".join(str(error).split()) or type(error).__name__
            after = next((p for p in t.proposals() if p.id == args.id), None)
            status = after.status if after is not None else "unknown"
            raise CommandFailed(
                f"proposal {args.id} was approved but executing it failed ({type(error).__name__}: {message}); "
                f"it is now {status} (`tract policies --log` has the details)"
            ) from error
        if args.json:
            sys.stdout.write(dumps(proposal_dict(decided)) + "\n")
        else:
            out.print(_render_outcome(t, decided, changes))


def cmd_reject(args: argparse.Namespace, out: Console) -> None:
    """``tract reject ID [--reason TEXT]``: reject a pending proposal; nothing changes."""
    t, _ = _open(args)
    with t:
        decided = t.reject_proposal(args.id, reason=args.reason, decided_by=args.by or decider())
    if args.json:
        sys.stdout.write(dumps(proposal_dict(decided)) + "\n")
        return
    out.print(
        Text(
            f"Rejected {_what(decided)}; nothing was changed, and the same action is not proposed again.",
            style="bold",
        )
    )
