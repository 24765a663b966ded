"""The ``tract`` commands for the orchestrator (DESIGN §13): ``health`` (the health report, one row
per finding) and ``orchestrate`` (one run now, or a dry run of the plan; ``pause`` and ``resume``).

Both open the tract with its stored settings, the orchestrator's thresholds and triggers (and its
policies: the orchestrator's commits set them off as the application's would). No model is stored
with a tract, so the command line runs the deterministic rules; a compression or fold they choose
then waits as a proposal, for ``tract approve ID --set content='<the summary>'``.

The parser imports this module only when one of these commands runs.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from .. import Tract
from ..errors import PolicyWarning
from ..orchestrator import HealthItem, HealthReport, OrchestratorConfig, OrchestratorRun, OrchestratorStep
from ..policies import PolicyAction
from .options import UsageError
from .policies import DECISION_STYLES, _open, proposal_dict, warning_line
from .render import Column, counted, dumps, fitted_table, short

__all__ = [
    "cmd_health",
    "cmd_orchestrate",
    "health_dict",
    "run_dict",
    "SEVERITY_STYLES",
    "STOP_TEXT",
]

SEVERITY_STYLES = {"ok": "green", "warn": "yellow", "act": "bold red"}
"""The color of each finding's severity."""

STOP_TEXT = {
    "done": "nothing more to do",
    "max_steps": "it reached its max_steps ({max_steps} actions); run it again to go on",
    "loop": "the model repeated the same call",
    "errors": "the model made three bad calls in a row",
    "paused": "the orchestrator is paused (`tract orchestrate resume` lets it run again)",
    "dry_run": "a dry run executes nothing (`tract orchestrate` carries the plan out)",
}
"""Why a run ended, said for a person (one entry per :data:`~tract_core.orchestrator.STOP_REASONS`)."""

_HASH = re.compile(r"[0-9a-f]{64}\Z")
_ORCHESTRATOR_FAILURE = "policy 'orchestrator': "


# -- rendering helpers ----------------------------------------------------------------------------


def _plain(value: Any) -> str:
    """A parameter or outcome value on one line: commit ids cut to 12 characters."""
    if isinstance(value, str):
        return short(value) if _HASH.match(value) else value
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _pairs(params: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={_plain(value)}" for key, value in params.items())


def _outcome(outcome: Any) -> str:
    """What an action did, on one line: a token change first, then the rest."""
    if not isinstance(outcome, Mapping):
        return "" if outcome is None else _plain(outcome)
    rest = dict(outcome)
    parts = []
    if "tokens_before" in rest and "tokens_after" in rest:
        parts.append(f"tokens {rest.pop('tokens_before'):,} -> {rest.pop('tokens_after'):,}")
    if "error" in rest:
        parts.append(str(rest.pop("error")))
    parts.extend(f"{key} {_plain(value)}" for key, value in rest.items() if value is not None)
    return "; ".join(parts)


def _value(item: HealthItem, report: HealthReport) -> str:
    if item.name == "budget_pressure":
        return f"{item.value:.0%}" if report.token_budget else "-"
    return f"{item.value:g}"


def _settings(t: Tract) -> tuple[OrchestratorConfig, bool]:
    """The orchestrator's settings and whether they are stored with the tract (else the defaults)."""
    config = t.orchestrator_config
    return (config, True) if config is not None else (OrchestratorConfig(), False)


def _triggers(config: OrchestratorConfig) -> str:
    triggers = config.triggers
    found = []
    if triggers.on_commit_count is not None:
        found.append(f"every {counted(triggers.on_commit_count, 'commit')}")
    if triggers.on_token_threshold is not None:
        found.append(f"at {triggers.on_token_threshold:.0%} of the budget")
    return " and ".join(found) if found else "none (it runs when asked)"


def _orchestrator_line(t: Tract, config: OrchestratorConfig, stored: bool, paused: bool) -> Text:
    if stored:
        line = Text(f"Orchestrator: triggers {_triggers(config)}; autonomy {config.effective_autonomy}; ")
    else:
        line = Text("Orchestrator: not configured (default thresholds; t.configure_orchestrator(...) sets them); ")
    if paused:
        line.append("paused", style="bold red")
    else:
        line.append("running", style="green")
    return line


# -- tract health ---------------------------------------------------------------------------------


def health_dict(t: Tract, report: HealthReport, config: OrchestratorConfig, stored: bool, paused: bool) -> dict:
    """The health report as plain JSON data, with the tract and the orchestrator's state."""
    return {
        "tract": t.tract_id,
        **report.to_json(),
        "healthy": report.healthy,
        "orchestrator": {
            "configured": stored,
            "paused": paused,
            "settings": config.to_stored(),
        },
    }


def _render_health(
    out: Console, t: Tract, report: HealthReport, config: OrchestratorConfig, stored: bool, paused: bool
) -> Group:
    where = report.branch or "a detached HEAD"
    head = Text(f"Health of tract {t.tract_id!r} on {where}", style="bold")
    if report.head is None:
        head.append(": no commits yet", style="")
    else:
        head.append(" at ", style="").append(short(report.head), style="yellow")
        budget = f" of {report.token_budget:,}" if report.token_budget else " (no token budget)"
        head.append(f": {report.token_count:,} tokens{budget}", style="")
    columns = [
        Column("finding", whole=True),
        Column("value", drop=1, whole=True, rigid=True, justify="right"),
        Column("severity", whole=True),
        Column("reason", min_width=16),
    ]
    rows = [
        [
            Text(item.name, style="bold"),
            _value(item, report),
            Text(item.severity, style=SEVERITY_STYLES.get(item.severity, "")),
            item.reason,
        ]
        for item in report
    ]
    table = fitted_table(out, columns, rows, box=box.SIMPLE_HEAD)
    acting = [i.name for i in report if i.severity == "act"]
    if acting:
        verb = "calls" if len(acting) == 1 else "call"
        verdict = Text(
            f"{counted(len(acting), 'finding')} {verb} for action ({', '.join(acting)}): "
            "`tract orchestrate --dry-run` shows what the orchestrator would do.",
            style="yellow",
        )
    else:
        verdict = Text("Nothing calls for action.", style="green")
    return Group(head, _orchestrator_line(t, config, stored, paused), table, verdict)


def cmd_health(args: argparse.Namespace, out: Console) -> None:
    """``tract health [--json]``: the context's health, one row per finding (read-only)."""
    t, _ = _open(args)
    with t:
        config, stored = _settings(t)
        report = t.health()
        paused = t.orchestrator_paused
        if args.json:
            sys.stdout.write(dumps(health_dict(t, report, config, stored, paused)) + "\n")
        else:
            out.print(_render_health(out, t, report, config, stored, paused))


# -- tract orchestrate ----------------------------------------------------------------------------


def _step_status(step: OrchestratorStep) -> str:
    if step.proposal is not None:
        return step.proposal.status
    return "error" if step.is_error else "done"


def _step_dict(step: OrchestratorStep) -> dict[str, Any]:
    return {
        "tool": step.tool,
        "arguments": step.arguments,
        "reason": step.reason,
        "status": _step_status(step),
        "is_error": step.is_error,
        "result": step.result,
        "proposal": None if step.proposal is None else proposal_dict(step.proposal),
    }


def _planned_dict(action: PolicyAction) -> dict[str, Any]:
    return {"kind": action.kind, "params": dict(action.params), "reason": action.reason, "risk": str(action.risk)}


def run_dict(t: Tract, run: OrchestratorRun, config: OrchestratorConfig, stored: bool) -> dict[str, Any]:
    """One run as plain JSON data: what it started from, each step and why it stopped."""
    return {
        "tract": t.tract_id,
        "trigger": run.trigger,
        "mode": run.mode,
        "autonomy": config.effective_autonomy,
        "configured": stored,
        "stopped": run.stopped,
        "health": None if run.health is None else run.health.to_json(),
        "steps": [_step_dict(s) for s in run.steps],
        "planned": [_planned_dict(a) for a in run.planned],
        "pending": [p.id for p in run.pending],
    }


def _findings(report: HealthReport) -> Text:
    line = Text("Health: ", style="bold")
    found = report.findings
    if not found:
        return line.append("every finding ok", style="green")
    for n, item in enumerate(found):
        if n:
            line.append(" · ")
        line.append(f"{item.name} {_value(item, report)} ").append(
            f"[{item.severity}]", style=SEVERITY_STYLES.get(item.severity, "")
        )
    return line


def _steps_table(out: Console, steps: Sequence[OrchestratorStep]) -> Table:
    columns = [
        Column("#", whole=True, rigid=True, justify="right"),
        Column("action", whole=True),
        Column("status", whole=True),
        Column("proposal", drop=1, whole=True, rigid=True, justify="right"),
        Column("reason", min_width=16),
        Column("outcome", min_width=12),
    ]
    rows = []
    for n, step in enumerate(steps, 1):
        status = _step_status(step)
        reason = Text(step.reason)
        if step.arguments:
            reason.append(("\n" if step.reason else "") + _pairs(step.arguments), style="dim")
        outcome = _outcome(step.proposal.outcome if step.proposal is not None else step.result)
        if status == "pending" and step.proposal is not None:
            needs_summary = step.tool in ("compress", "fold") and step.proposal.params.get("content") is None
            outcome = (
                f"waits for a summary: tract approve {step.proposal.id} --set content='...'"
                if needs_summary
                else f"waits for approval: tract approve {step.proposal.id}"
            )
        rows.append(
            [
                str(n),
                step.tool,
                Text(status, style=DECISION_STYLES.get(status, "red" if step.is_error else "")),
                "-" if step.proposal is None else f"#{step.proposal.id}",
                reason,
                Text(outcome, style="red" if step.is_error else ""),
            ]
        )
    return fitted_table(out, columns, rows, box=box.SIMPLE_HEAD, show_lines=True)


def _planned_table(out: Console, planned: Sequence[PolicyAction]) -> Table:
    columns = [
        Column("#", whole=True, rigid=True, justify="right"),
        Column("action", whole=True),
        Column("risk", drop=1, whole=True),
        Column("reason", min_width=16),
        Column("parameters", min_width=12),
    ]
    rows = []
    for n, action in enumerate(planned, 1):
        risk = str(action.risk)
        rows.append(
            [
                str(n),
                action.kind,
                Text(risk, style="red" if risk == "high" else "green"),
                action.reason,
                Text(_pairs(action.params), style="dim"),
            ]
        )
    return fitted_table(out, columns, rows, box=box.SIMPLE_HEAD, show_lines=True)


def _render_run(out: Console, t: Tract, run: OrchestratorRun, config: OrchestratorConfig, stored: bool) -> Group:
    settings = "stored settings" if stored else "default settings: none configured"
    if run.stopped == "dry_run":
        title = f"Dry run of the orchestrator of tract {t.tract_id!r}: {run.mode} ({settings})"
    else:
        title = (
            f"Orchestrator run on tract {t.tract_id!r}: {run.mode}, autonomy {config.effective_autonomy} ({settings})"
        )
    parts: list[RenderableType] = [Text(title, style="bold")]
    if run.health is not None:
        parts.append(_findings(run.health))
    if run.stopped == "dry_run":
        if run.planned:
            parts.append(_planned_table(out, run.planned))
        else:
            parts.append(Text("The rules would do nothing.", style="dim"))
    elif run.steps:
        parts.append(_steps_table(out, run.steps))
    elif run.stopped != "paused":
        parts.append(Text("No action was taken.", style="dim"))
    why = STOP_TEXT.get(run.stopped, run.stopped).format(max_steps=config.max_steps)
    parts.append(Text("Stopped: ", style="bold").append(f"{run.stopped}, {why}.", style=""))
    pending = run.pending
    if pending:
        ids = ", ".join(f"#{p.id}" for p in pending)
        verb = "waits" if len(pending) == 1 else "wait"
        hint = (
            f"{counted(len(pending), 'proposal')} ({ids}) {verb} for a decision: `tract approve ID` "
            "(a compression or fold needs its summary: --set content='...') or `tract reject ID`."
        )
        parts.append(Text(hint, style="yellow"))
    return Group(*parts)


def _pause_or_resume(t: Tract, action: str, out: Console) -> None:
    if action == "pause":
        t.pause_orchestrator()
        message = (
            f"Paused the orchestrator of tract {t.tract_id!r}: in every process its triggers do not fire, "
            "runs do nothing and the tract's policies wait too, until `tract orchestrate resume`."
        )
    else:
        t.resume_orchestrator()
        message = (
            f"Resumed the orchestrator of tract {t.tract_id!r}: its triggers fire again after the next commit "
            "(and the policies run again, unless they are paused on their own)."
        )
    out.print(Text(message, style="bold"))


def cmd_orchestrate(args: argparse.Namespace, out: Console) -> int | None:
    """``tract orchestrate [--dry-run] [--json]``: run the orchestrator once and show each step;
    ``tract orchestrate pause|resume``. Exits 1 when an action failed."""
    if args.action is not None and (args.dry_run or args.json):
        raise UsageError(f"tract orchestrate {args.action} takes no --dry-run or --json")
    t, _ = _open(args)
    with t:
        if args.action is not None:
            _pause_or_resume(t, args.action, out)
            return None
        config, stored = _settings(t)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PolicyWarning)
            run = t.orchestrate(dry_run=args.dry_run)
        for warning in caught:
            message = str(warning.message)
            if issubclass(warning.category, PolicyWarning) and message.startswith(_ORCHESTRATOR_FAILURE):
                continue  # the orchestrator's own failed action: its row in the table says so
            if issubclass(warning.category, PolicyWarning):
                sys.stderr.write(warning_line(message))
            else:
                warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
        if args.json:
            sys.stdout.write(dumps(run_dict(t, run, config, stored)) + "\n")
        else:
            out.print(_render_run(out, t, run, config, stored))
    return 1 if any(step.is_error for step in run.steps) else None
