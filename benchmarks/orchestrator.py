"""Benchmark of what the agent toolkit and the orchestrator cost in the agent loop (DESIGN §13, issue 13).

At a history of 4,000 messages by default (``--quick``: 1,000), on SQLite files:

* **The trigger check.** Three tracts get the same history and a token budget of 10,000,000, and
  differ only in their orchestrator: ``none``; ``count``, configured with
  ``TriggerConfig(on_commit_count=10**9)``; ``count+tokens``, with
  ``TriggerConfig(on_commit_count=10**9, on_token_threshold=0.99)``. No trigger ever fires (the
  script checks that nothing ran), so what is measured is the check after every commit: the
  commit counter, and for the token threshold the size of the compiled context at HEAD (the
  incremental compile the agent's next ``compile()`` then finds cached). They run the core loop of
  ``core.py`` (commit the user message, compile, commit the reply) in interleaved rounds, the order
  rotating, so a busy machine slows all of them alike. Figures: commit p50/p90, the whole turn,
  and the difference to ``none`` in milliseconds (target: under 1 ms per commit).
* **Health.** ``t.health()`` p50 with nothing new since the last look (the compiled context
  cached), and right after a commit (the incremental compile included); target under 20 ms.
  ``compile()`` at HEAD is timed alongside, as the reference of the ratios.
* **The toolkit.** ``as_tools()`` the first time in the process (schemas generated from the
  operations' signatures and docstrings) and then (cached), for the ``self`` and ``full`` profiles
  in OpenAI and Anthropic form; one ``execute_tool`` of ``context_status`` p50 against calling
  ``t.status()`` directly (the ratio is the dispatcher's share: reading the call, validating the
  arguments, shaping the result).

Run ``python benchmarks/orchestrator.py`` (about 15 seconds) or ``--quick``. ``--json PATH`` writes
every figure. See ``benchmarks/README.md``. The script reports; it never fails on a missed target.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import SYSTEM_PROMPT, environment, make_turns, p50, percentile, timed

from tract_core import TokenizerFallbackWarning, Tract, TractConfig
from tract_core.orchestrator import OrchestratorConfig, TriggerConfig

FULL_SIZE = 4000
QUICK_SIZE = 1000
TURNS = 150
"""Measured turns (two commits each) per tract."""
QUICK_TURNS = 60
WARMUP = 5
REPEAT = 200
"""Calls per figure for the reading measures."""
QUICK_REPEAT = 60
BUDGET = 10_000_000
"""The token budget of every tract: far above any context here, so the token trigger never fires."""
NEVER = 10**9
"""The commit-count trigger: checked after every commit, never reached."""
KINDS = ("none", "count", "count+tokens")

TARGET_CHECK_MS = 1.0
TARGET_HEALTH_MS = 20.0


def orchestrator_for(kind: str) -> OrchestratorConfig | None:
    """The orchestrator of each kind (None: no orchestrator)."""
    if kind == "count":
        return OrchestratorConfig(triggers=TriggerConfig(on_commit_count=NEVER))
    if kind == "count+tokens":
        return OrchestratorConfig(triggers=TriggerConfig(on_commit_count=NEVER, on_token_threshold=0.99))
    return None


# -- the trigger check --------------------------------------------------------------------------


@dataclass
class Subject:
    """One tract of the trigger-check comparison and what was measured on it."""

    kind: str
    tract: Tract
    messages: int
    commit_ns: list[int] = field(default_factory=list)
    turn_ns: list[int] = field(default_factory=list)


def prepare(
    kind: str, size: int, history: Sequence[tuple[str, str]], warmup: Sequence[tuple[str, str]], path: Path
) -> Subject:
    """A tract with ``size`` messages (written in one batch), its orchestrator, then ``warmup`` turns."""
    tract = Tract.open(path=path, config=TractConfig(token_budget=BUDGET))
    config = orchestrator_for(kind)
    if config is not None:
        tract.configure_orchestrator(config)
    with tract.batch():
        tract.system(SYSTEM_PROMPT)
        for user_text, assistant_text in history[: (size - 1) // 2]:
            tract.user(user_text)
            tract.assistant(assistant_text)
    subject = Subject(kind, tract, len(tract.compile()))
    for user_text, assistant_text in warmup:
        one_turn(subject, user_text, assistant_text, measured=False)
    return subject


def one_turn(subject: Subject, user_text: str, assistant_text: str, *, measured: bool = True) -> None:
    """user, compile, assistant; the commits and the whole turn timed."""
    tract = subject.tract
    user_ns, _ = timed(lambda: tract.user(user_text))
    compile_ns, context = timed(tract.compile)
    assistant_ns, _ = timed(lambda: tract.assistant(assistant_text))
    if len(context) != subject.messages + 1:
        raise RuntimeError(f"{subject.kind}: compiled {len(context)} messages, expected {subject.messages + 1}")
    subject.messages += 2
    if measured:
        subject.commit_ns += [user_ns, assistant_ns]
        subject.turn_ns.append(user_ns + compile_ns + assistant_ns)


def check_quiet(subject: Subject) -> None:
    """No trigger may have fired: the benchmark measures the check, not a run."""
    tract = subject.tract
    if tract.proposals() or tract.policy_log(None) or tract.compressions():
        raise RuntimeError(f"{subject.kind}: the orchestrator acted during the benchmark")


def measure_checks(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The three kinds in interleaved rounds; commit and turn figures per kind."""
    history = make_turns(args.size // 2, args.seed)
    later = make_turns(WARMUP + args.turns, args.seed + 1)
    warmup, measured = later[:WARMUP], later[WARMUP:]
    subjects = [prepare(kind, args.size, history, warmup, workdir / f"{kind.replace('+', '_')}.db") for kind in KINDS]
    try:
        gc.collect()
        gc.freeze()  # the tracts' compiled histories: out of the collector's walks (a cost of holding three)
        try:
            for i, (user_text, assistant_text) in enumerate(measured):
                k = i % len(subjects)
                for subject in [*subjects[k:], *subjects[:k]]:
                    one_turn(subject, user_text, assistant_text)
        finally:
            gc.unfreeze()
        for subject in subjects:
            check_quiet(subject)
        figures = {
            s.kind: {
                "messages": s.messages,
                "commit_p50_ms": p50(s.commit_ns),
                "commit_p90_ms": percentile(s.commit_ns, 90),
                "turn_p50_ms": p50(s.turn_ns),
            }
            for s in subjects
        }
    finally:
        for subject in subjects:
            subject.tract.close()
    base = figures["none"]
    for kind in KINDS:
        row = figures[kind]
        row["commit_delta_ms"] = row["commit_p50_ms"] - base["commit_p50_ms"]
        row["turn_delta_ms"] = row["turn_p50_ms"] - base["turn_p50_ms"]
        row["commit_ratio"] = row["commit_p50_ms"] / base["commit_p50_ms"]
        row["turn_ratio"] = row["turn_p50_ms"] / base["turn_p50_ms"]
    worst = max(figures[kind]["commit_delta_ms"] for kind in KINDS[1:])
    return {
        "figures": figures,
        "target": {"value": worst, "limit": TARGET_CHECK_MS, "status": "PASS" if worst < TARGET_CHECK_MS else "MISS"},
    }


# -- health and the toolkit ---------------------------------------------------------------------


def repeated(fn: Callable[[], Any], times: int) -> list[int]:
    return [timed(fn)[0] for _ in range(times)]


def peer_check(messages: list[Any]) -> Callable[[], Any]:
    """LangChain's ``SummarizationMiddleware`` deciding, before a model call, that the conversation is
    under its token trigger: the same per-turn job as the orchestrator's trigger check."""
    from langchain.agents.middleware import SummarizationMiddleware
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    middleware = SummarizationMiddleware(GenericFakeChatModel(messages=iter(())), trigger=("tokens", 10**9))
    state = {"messages": messages}

    def check() -> None:
        if middleware.before_model(state, None) is not None:  # type: ignore[arg-type]
            raise RuntimeError("the peer should not summarise under its trigger")

    return check


def measure_reading(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """health(), compile(), as_tools() and execute_tool(context_status) on a tract of ``size`` messages."""
    history = make_turns(args.size // 2 + args.repeat, args.seed)
    tract = Tract.open(path=workdir / "reading.db", config=TractConfig(token_budget=BUDGET))
    try:
        tract.configure_orchestrator(OrchestratorConfig(triggers=TriggerConfig(on_token_threshold=0.99)))
        with tract.batch():
            tract.system(SYSTEM_PROMPT)
            for user_text, assistant_text in history[: (args.size - 1) // 2]:
                tract.user(user_text)
                tract.assistant(assistant_text)
        messages = len(tract.compile())
        cold_ns = {}
        for profile, fmt in (("self", "openai"), ("full", "openai"), ("full", "anthropic")):
            cold_ns[f"{profile}/{fmt}"], tools = timed(lambda p=profile, f=fmt: tract.as_tools(profile=p, format=f))
        report = tract.health()
        if not report.healthy or report.token_count != tract.compile().token_count:
            raise RuntimeError("the benchmark tract should be healthy")
        figures: dict[str, list[int]] = {
            "compile() at HEAD, unchanged": repeated(tract.compile, args.repeat),
            "health(), unchanged": repeated(tract.health, args.repeat),
            "as_tools('self', 'openai')": repeated(lambda: tract.as_tools(profile="self"), args.repeat),
            "as_tools('full', 'anthropic')": repeated(
                lambda: tract.as_tools(profile="full", format="anthropic"), args.repeat
            ),
            "status()": repeated(tract.status, args.repeat),
            "execute_tool(context_status)": repeated(
                lambda: tract.execute_tool({"name": "context_status", "arguments": {}}), args.repeat
            ),
        }
        figures["peer: SummarizationMiddleware.before_model check"] = repeated(
            peer_check(tract.compile().to_langchain()), args.repeat
        )
        after_commit: list[int] = []
        for user_text, _ in history[(args.size - 1) // 2 : (args.size - 1) // 2 + args.repeat]:
            tract.user(user_text)
            after_commit.append(timed(tract.health)[0])
        figures["health(), right after a commit"] = after_commit
        result = tract.execute_tool({"name": "context_status", "arguments": {}})
        if result["is_error"] or json.loads(result["content"])["messages"] != messages + args.repeat:
            raise RuntimeError(f"execute_tool(context_status) gave {result}")
    finally:
        tract.close()
    rows = {name: {"p50_ms": p50(ns), "p90_ms": percentile(ns, 90)} for name, ns in figures.items()}
    reference = {
        "health(), unchanged": "compile() at HEAD, unchanged",
        "health(), right after a commit": "compile() at HEAD, unchanged",
        "execute_tool(context_status)": "status()",
        "as_tools('full', 'anthropic')": "as_tools('self', 'openai')",
    }
    for name, other in reference.items():
        rows[name]["ratio"] = rows[name]["p50_ms"] / rows[other]["p50_ms"]
        rows[name]["ratio_to"] = other
    health = max(rows["health(), unchanged"]["p50_ms"], rows["health(), right after a commit"]["p50_ms"])
    return {
        "messages": messages,
        "tools": len(tools),
        "as_tools_first_call_ms": {key: ns / 1e6 for key, ns in cold_ns.items()},
        "figures": rows,
        "target": {
            "value": health,
            "limit": TARGET_HEALTH_MS,
            "status": "PASS" if health < TARGET_HEALTH_MS else "MISS",
        },
    }


# -- output -------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 100 else f"{value:,.1f}"


def checks_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    result = report["checks"]
    table = Table(
        title=f"trigger check: commit latency at {report['size']:,} messages ({report['turns']} measured turns = "
        f"{2 * report['turns']} commits per tract, interleaved)",
        title_justify="left",
    )
    for header in (
        "orchestrator",
        "commit p50",
        "commit p90",
        "turn p50",
        "commit +ms",
        "turn +ms",
        "commit ratio",
        "turn ratio",
    ):
        table.add_column(header, justify="left" if header == "orchestrator" else "right")
    for kind in KINDS:
        row = result["figures"][kind]
        table.add_row(
            kind,
            _ms(row["commit_p50_ms"]),
            _ms(row["commit_p90_ms"]),
            _ms(row["turn_p50_ms"]),
            f"{row['commit_delta_ms']:+.3f}",
            f"{row['turn_delta_ms']:+.3f}",
            f"{row['commit_ratio']:.2f}x",
            f"{row['turn_ratio']:.2f}x",
        )
    target = result["target"]
    table.caption = (
        f"times in ms; none: no orchestrator; count: TriggerConfig(on_commit_count=10**9); count+tokens: also "
        f"on_token_threshold=0.99 (budget {BUDGET:,}: never fires). Check cost, the larger commit +ms: "
        f"{target['value']:.3f} ms (target < {TARGET_CHECK_MS:g} ms: {target['status']})"
    )
    return table


def reading_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    result = report["reading"]
    table = Table(
        title=f"health and the toolkit at {result['messages']:,} messages ({report['repeat']} calls each)",
        title_justify="left",
    )
    for header in ("call", "p50 ms", "p90 ms", "ratio (p50)"):
        table.add_column(header, justify="left" if header == "call" else "right")
    for name, row in result["figures"].items():
        ratio = f"{row['ratio']:.2f}x {row['ratio_to']}" if "ratio" in row else ""
        table.add_row(name, _ms(row["p50_ms"]), _ms(row["p90_ms"]), ratio)
    first = ", ".join(f"{key} {value:.1f} ms" for key, value in result["as_tools_first_call_ms"].items())
    target = result["target"]
    table.caption = (
        f"as_tools() the first time in the process (schemas built): {first}. health() p50, the larger: "
        f"{target['value']:.3f} ms (target < {TARGET_HEALTH_MS:g} ms: {target['status']})"
    )
    return table


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(width=max(132, shutil.get_terminal_size().columns))
    env = report["environment"]
    console.print(
        f"[bold]tract agent toolkit and orchestrator[/]  python {env['python']}  sqlite {env['sqlite']}  "
        f"{env['platform']}  seed {report['seed']}  (SQLite: WAL, synchronous=NORMAL)"
    )
    console.print(checks_table(report))
    console.print(reading_table(report))


# -- driver -------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tract-bench-orchestrator-") as tmp:
        workdir = Path(tmp)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a failing orchestrator run would be a PolicyWarning
            warnings.simplefilter("ignore", TokenizerFallbackWarning)  # offline: counts are estimates, still comparable
            reading = measure_reading(workdir, args)
            checks = measure_checks(workdir, args)
    return {
        "seed": args.seed,
        "quick": args.quick,
        "size": args.size,
        "turns": args.turns,
        "repeat": args.repeat,
        "environment": environment(),
        "checks": checks,
        "reading": reading,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZE:,} messages, {QUICK_TURNS} turns")
    parser.add_argument("--size", type=int, help=f"history size in messages (default {FULL_SIZE:,})")
    parser.add_argument("--turns", type=int, help=f"measured turns per tract (default {TURNS})")
    parser.add_argument("--repeat", type=int, help=f"calls per reading figure (default {REPEAT})")
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated texts")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure as JSON")
    args = parser.parse_args(argv)
    args.size = args.size or (QUICK_SIZE if args.quick else FULL_SIZE)
    args.turns = args.turns or (QUICK_TURNS if args.quick else TURNS)
    args.repeat = args.repeat or (QUICK_REPEAT if args.quick else REPEAT)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the tables, optionally write JSON. Always exits 0 on completion."""
    args = parse_args(argv)
    report = run(args)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
