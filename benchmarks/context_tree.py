"""Benchmark of what lifecycles and keyed nodes cost in the agent loop (DESIGN §14, issue 14).

At histories of 4,000 and 16,000 messages (``--quick``: 1,000 and 4,000), on SQLite files, two tracts
get the same texts and differ only in their nodes:

* ``plain``: every message permanent, as before the context tree.
* ``live``: every turn adds one context node besides the user message and the reply: on even turns
  a keyed state node (``key="state:K"``, K cycling over 25 keys, so 25 live instances supersede
  their predecessors), on odd turns a ``Temporary(49)`` note (about 25 alive at any time). So 50
  nodes are live at every cycle, and hundreds of expired or superseded ones lie in the history.
  The ``plain`` tract commits the same extra message without a key or lifecycle.

The loop per turn is the one of ``core.py`` with the extra node: ``user``, the node, ``compile()``
at HEAD (the incremental path: the reply of the previous turn sealed a cycle, so every live node's
visibility is recomputed), then ``assistant``. The two tracts run in interleaved turns so a busy
machine slows both alike. Figures: commit p50 (each of the three commits of a turn), compile@HEAD
p50 after the new commits, and ``compile()`` with nothing new. Targets: compile@HEAD under 0.5 ms
and flat from 4,000 to 16,000 messages; commit p50 of ``live`` within 1.2x of ``plain``.

Run ``python benchmarks/context_tree.py`` (about a minute) or ``--quick``; ``--json PATH`` writes
every figure. The script reports; it never fails on a missed target.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import SYSTEM_PROMPT, environment, make_turns, p50, timed

from tract_core import TokenizerFallbackWarning, Tract
from tract_core.tree import Temporary

SIZES = (4000, 16000)
QUICK_SIZES = (1000, 4000)
TURNS = 300
QUICK_TURNS = 100
WARMUP = 10
KEYS = 25
TTL = 49
TARGET_COMPILE_MS = 0.5
TARGET_COMMIT_RATIO = 1.2
KINDS = ("plain", "live")


@dataclass
class Subject:
    """One tract of the comparison and what was measured on it."""

    kind: str
    tract: Tract
    turn: int = 0
    commit_ns: list[int] = field(default_factory=list)
    compile_ns: list[int] = field(default_factory=list)


def node(kind: str, turn: int) -> tuple[str, dict[str, Any]]:
    """The extra message of a turn and its commit options (none for ``plain``)."""
    if turn % 2 == 0:
        k = (turn // 2) % KEYS
        text = f"state {k}: value {turn}"
        return text, ({"key": f"state:{k}"} if kind == "live" else {})
    return f"note of turn {turn}", ({"lifecycle": Temporary(TTL)} if kind == "live" else {})


def add_turn(subject: Subject, user_text: str, assistant_text: str, *, measured: bool) -> None:
    """user, the node, compile at HEAD, assistant."""
    tract = subject.tract
    text, options = node(subject.kind, subject.turn)
    subject.turn += 1
    user_ns, _ = timed(lambda: tract.user(user_text))
    node_ns, _ = timed(lambda: tract.user(text, **options))
    compile_ns, _ = timed(tract.compile)
    assistant_ns, _ = timed(lambda: tract.assistant(assistant_text))
    if measured:
        subject.commit_ns += [user_ns, node_ns, assistant_ns]
        subject.compile_ns.append(compile_ns)


def prepare(kind: str, size: int, history: Sequence[tuple[str, str]], path: Path) -> Subject:
    """A tract of about ``size`` messages (three per turn, written in one batch)."""
    tract = Tract.open(path=path)
    subject = Subject(kind, tract)
    with tract.batch():
        tract.system(SYSTEM_PROMPT)
        for user_text, assistant_text in history[: (size - 1) // 3]:
            text, options = node(kind, subject.turn)
            subject.turn += 1
            tract.user(user_text)
            tract.user(text, **options)
            tract.assistant(assistant_text)
    return subject


def live_count(tract: Tract) -> int:
    """How many keyed or lifecycled messages the compiled context at HEAD shows."""
    return sum(1 for n in tract.snapshot().nodes if n.key is not None or n.lifecycle is not None)


def measure_size(workdir: Path, size: int, turns: int, seed: int) -> dict[str, Any]:
    """Both kinds at one size, in interleaved turns."""
    history = make_turns(size // 3 + 1, seed)
    later = make_turns(WARMUP + turns, seed + 1)
    subjects = [prepare(kind, size, history, workdir / f"{kind}-{size}.db") for kind in KINDS]
    try:
        for user_text, assistant_text in later[:WARMUP]:
            for subject in subjects:
                add_turn(subject, user_text, assistant_text, measured=False)
        gc.collect()
        gc.freeze()
        try:
            for user_text, assistant_text in later[WARMUP:]:
                for subject in subjects:
                    add_turn(subject, user_text, assistant_text, measured=True)
        finally:
            gc.unfreeze()
        figures: dict[str, Any] = {}
        for subject in subjects:
            tract = subject.tract
            tract.compile()
            unchanged = [timed(tract.compile)[0] for _ in range(200)]
            figures[subject.kind] = {
                "messages": len(tract.log(limit=None)),
                "shown": len(tract.compile()),
                "live_nodes": live_count(tract),
                "commit_p50_ms": p50(subject.commit_ns),
                "compile_p50_ms": p50(subject.compile_ns),
                "compile_unchanged_p50_ms": p50(unchanged),
            }
        figures["commit_ratio"] = figures["live"]["commit_p50_ms"] / figures["plain"]["commit_p50_ms"]
        figures["compile_ratio"] = figures["live"]["compile_p50_ms"] / figures["plain"]["compile_p50_ms"]
        return figures
    finally:
        for subject in subjects:
            subject.tract.close()


def print_report(report: dict[str, Any]) -> None:
    """The figures as a table per size, then the verdicts."""
    print(f"context tree benchmark: {report['environment']}")
    for size, figures in report["sizes"].items():
        print(f"\n{size} messages at the start, {report['turns']} measured turns (3 commits each)")
        print(f"{'':10}{'messages':>10}{'shown':>8}{'live':>6}{'commit p50':>12}{'compile p50':>13}{'unchanged':>11}")
        for kind in KINDS:
            f = figures[kind]
            print(
                f"{kind:10}{f['messages']:>10}{f['shown']:>8}{f['live_nodes']:>6}"
                f"{f['commit_p50_ms']:>10.3f}ms{f['compile_p50_ms']:>11.3f}ms{f['compile_unchanged_p50_ms']:>9.4f}ms"
            )
        print(f"live/plain: commit {figures['commit_ratio']:.2f}x, compile {figures['compile_ratio']:.2f}x")
    sizes = list(report["sizes"].values())
    compile_ms = [f["live"]["compile_p50_ms"] for f in sizes]
    ratios = [f["commit_ratio"] for f in sizes]
    flat = compile_ms[-1] / compile_ms[0]
    print("\ntargets")
    ok = max(compile_ms) < TARGET_COMPILE_MS
    verdict = "PASS" if ok else "MISS"
    print(f"  compile@HEAD with 50 live nodes < {TARGET_COMPILE_MS} ms: {max(compile_ms):.3f} ms  {verdict}")
    print(f"  compile@HEAD largest/smallest size: {flat:.2f}x  {'PASS (flat)' if flat < 1.5 else 'MISS'}")
    ok = max(ratios) <= TARGET_COMMIT_RATIO
    print(f"  commit p50 live/plain <= {TARGET_COMMIT_RATIO}x: {max(ratios):.2f}x  {'PASS' if ok else 'MISS'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 4,000 messages, fewer turns")
    parser.add_argument("--sizes", help="comma-separated message counts (default 4000,16000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", TokenizerFallbackWarning)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(QUICK_SIZES if args.quick else SIZES)
    turns = QUICK_TURNS if args.quick else TURNS
    workdir = Path(tempfile.mkdtemp(prefix="tract-tree-bench-"))
    try:
        report = {
            "environment": environment(),
            "turns": turns,
            "sizes": {str(size): measure_size(workdir, size, turns, args.seed) for size in sizes},
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
