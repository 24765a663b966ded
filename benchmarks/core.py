"""Benchmark of tract's core agent loop on a SQLite file, measured side by side with two peers.

Each turn of the loop commits a user message (about 130 characters), compiles the context at HEAD
(what an agent sends to the model) and commits the assistant's reply (about 340 characters). The
same loop runs against:

* ``tract``: :class:`tract_core.Tract` on a SQLite file (WAL, ``synchronous=NORMAL`` by default).
* ``in-memory``: LangChain's ``InMemoryChatMessageHistory`` (a Python list; no persistence).
* ``sqlite rows``: a hand-rolled store of one row per message, as most chat-history stores work
  (e.g. LangChain's ``SQLChatMessageHistory``): ``INSERT`` + ``COMMIT`` per message and
  ``SELECT ... ORDER BY id`` of every row on each read, with the stdlib :mod:`sqlite3` module.

A second table times history surgery on the largest size: ``branch`` + ``switch`` + ``compile``
on the long tract (against copying the conversation to a new session id in the ``sqlite rows``
store, which is how stores without branches fork a conversation), merging a 100-commit branch
(fast-forward and with a merge commit) and rebasing 100 commits. A third table compresses 1,001
commits with a manual summary, runs gc with a zero archive window, and weighs the file before and
after. A fourth times what an LLM call pays to get the messages after the per-turn compile
(``ctx.to_openai()``) at 2,000 and 8,000 messages (500 and 2,000 with ``--quick``), next to a copy
of every message (what ``to_openai()`` did before compiled messages became read-only and shared).

Run ``python benchmarks/core.py`` (sizes 500 and 2000 turns) or ``--quick`` (100 and 300 turns,
a few seconds). ``--json PATH`` writes every figure. See ``benchmarks/README.md``.

The script reports; it never fails on a missed target.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tract_core import Tract
from tract_core.formats import copy_message

FULL_SIZES = (500, 2000)
QUICK_SIZES = (100, 300)
USER_CHARS = 130
ASSISTANT_CHARS = 340
SYSTEM_PROMPT = "You are a helpful support assistant. Answer briefly, cite the order number, and stay polite."

TARGET_COMMIT_MS = 1.0
TARGET_COMPILE_MS = 0.5
TARGET_COLD_MS = 50.0
TARGET_FLAT_RATIO = 1.5
TARGET_MATERIALISE_MS = 0.2
MATERIALISE_SIZES = (2_000, 8_000)
MATERIALISE_QUICK_SIZES = (500, 2_000)
MATERIALISE_TURNS = 100

_FRESH_PROCESS_SCRIPT = """
import json, sys, time
t0 = time.perf_counter_ns()
from tract_core import Tract
t1 = time.perf_counter_ns()
t = Tract.open(path=sys.argv[1], create=False)
t2 = time.perf_counter_ns()
n = len(t.compile())
t3 = time.perf_counter_ns()
t.close()
print(json.dumps({"import_ms": (t1 - t0) / 1e6, "open_ms": (t2 - t1) / 1e6,
                  "compile_ms": (t3 - t2) / 1e6, "messages": n}))
"""


# -- workload ---------------------------------------------------------------------------------


def _vocabulary(rng: random.Random, size: int = 600) -> list[str]:
    """Pseudo-words built from syllables, so texts look like prose to the tokenizer."""
    syllables = ["ra", "to", "ven", "mi", "sel", "ka", "dor", "pe", "lin", "stu", "or", "an", "ex", "qui", "bar"]
    return ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(size)]


def _text(rng: random.Random, words: Sequence[str], chars: int) -> str:
    """A sentence-like text of about ``chars`` characters."""
    parts: list[str] = []
    length = 0
    while length < chars:
        word = rng.choice(words)
        parts.append(word)
        length += len(word) + 1
    return (" ".join(parts)[:chars].rstrip() + ".").capitalize()


def make_turns(turns: int, seed: int) -> list[tuple[str, str]]:
    """Deterministic (user, assistant) texts for ``turns`` turns; every text differs.

    Args:
        turns: Number of turns.
        seed: Seed of the random generator (the same seed yields the same texts).

    Returns:
        One ``(user_text, assistant_text)`` pair per turn.
    """
    rng = random.Random(seed)
    words = _vocabulary(rng)
    return [
        (f"[{i}] " + _text(rng, words, USER_CHARS - 8), f"[{i}] " + _text(rng, words, ASSISTANT_CHARS - 8))
        for i in range(turns)
    ]


# -- statistics -------------------------------------------------------------------------------


def percentile(values_ns: Sequence[int], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of nanosecond values, in milliseconds."""
    if not values_ns:
        return float("nan")
    ordered = sorted(values_ns)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank] / 1e6


def p50(values_ns: Sequence[int]) -> float:
    """Median of nanosecond values, in milliseconds."""
    return statistics.median(values_ns) / 1e6 if values_ns else float("nan")


def timed(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Call ``fn`` and return (elapsed nanoseconds, result)."""
    start = time.perf_counter_ns()
    result = fn()
    return time.perf_counter_ns() - start, result


def repeat_ns(fn: Callable[[], Any], times: int) -> list[int]:
    """Elapsed nanoseconds of ``times`` calls of ``fn``."""
    return [timed(fn)[0] for _ in range(times)]


def database_bytes(path: Path) -> int:
    """Size of a closed SQLite database with its WAL, after a truncating checkpoint."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


# -- subjects: the same loop against tract and the peers --------------------------------------


class TractSubject:
    """tract on a SQLite file."""

    name = "tract"

    def __init__(self, path: Path, durability: str = "normal") -> None:
        self.path = path
        self.durability = durability
        self.tract = Tract.open(path=path, durability=durability)
        self._writers = {"system": self.tract.system, "user": self.tract.user, "assistant": self.tract.assistant}

    def add(self, role: str, text: str) -> None:
        self._writers[role](text)

    def compile(self) -> Any:
        return self.tract.compile()

    def close(self) -> None:
        self.tract.close()

    def reopen(self) -> tuple[int, int, int]:
        """Open the file again and compile once; return (open ns, compile ns, messages)."""
        open_ns, tract = timed(lambda: Tract.open(path=self.path, durability=self.durability, create=False))
        try:
            compile_ns, context = timed(tract.compile)
            return open_ns, compile_ns, len(context)
        finally:
            tract.close()


class InMemorySubject:
    """LangChain's ``InMemoryChatMessageHistory``: ``add_message`` per message, ``.messages`` to read."""

    name = "in-memory"
    path = None

    def __init__(self) -> None:
        from langchain_core.chat_history import InMemoryChatMessageHistory
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        with warnings.catch_warnings():  # deprecated in langchain-core 1.x, still the stock in-memory history
            warnings.simplefilter("ignore")
            self.history = InMemoryChatMessageHistory()
        self._types = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}

    def add(self, role: str, text: str) -> None:
        self.history.add_message(self._types[role](content=text))

    def compile(self) -> Any:
        return self.history.messages

    def close(self) -> None:
        pass


_ROWS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS message_store ("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, message TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_message_store_session ON message_store (session_id)",
)
_ROWS_INSERT = "INSERT INTO message_store (session_id, message) VALUES (?, ?)"
_ROWS_SELECT = "SELECT message FROM message_store WHERE session_id = ? ORDER BY id"


def _connect_rows(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


class SqliteRowsSubject:
    """One row per message in a SQLite table (the shape of LangChain's ``SQLChatMessageHistory``)."""

    name = "sqlite rows"
    session_id = "default"

    def __init__(self, path: Path, durability: str = "normal") -> None:
        self.path = path
        self.synchronous = durability.upper()
        self.conn = _connect_rows(path, self.synchronous)
        for statement in _ROWS_SCHEMA:
            self.conn.execute(statement)

    def add(self, role: str, text: str) -> None:
        payload = json.dumps({"role": role, "content": text})
        self.conn.execute("BEGIN")
        self.conn.execute(_ROWS_INSERT, (self.session_id, payload))
        self.conn.execute("COMMIT")

    def compile(self) -> Any:
        rows = self.conn.execute(_ROWS_SELECT, (self.session_id,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def close(self) -> None:
        self.conn.close()

    def reopen(self) -> tuple[int, int, int]:
        """Connect again and read every message once; return (open ns, read ns, messages)."""
        open_ns, conn = timed(lambda: _connect_rows(self.path, self.synchronous))
        try:
            read_ns, rows = timed(
                lambda: [json.loads(r[0]) for r in conn.execute(_ROWS_SELECT, (self.session_id,)).fetchall()]
            )
            return open_ns, read_ns, len(rows)
        finally:
            conn.close()


# -- measurements -----------------------------------------------------------------------------


@dataclass
class LoopTimes:
    """Nanosecond timings of one run of the agent loop."""

    commit_ns: list[int] = field(default_factory=list)
    compile_ns: list[int] = field(default_factory=list)
    turn_ns: list[int] = field(default_factory=list)
    messages: int = 0


def run_loop(subject: Any, turns: Sequence[tuple[str, str]]) -> LoopTimes:
    """Run the agent loop (system prompt, then user/compile/assistant per turn) on ``subject``."""
    times = LoopTimes()
    subject.add("system", SYSTEM_PROMPT)
    gc.collect()
    for user_text, assistant_text in turns:
        user_ns, _ = timed(lambda text=user_text: subject.add("user", text))
        compile_ns, context = timed(subject.compile)
        assistant_ns, _ = timed(lambda text=assistant_text: subject.add("assistant", text))
        times.commit_ns += [user_ns, assistant_ns]
        times.compile_ns.append(compile_ns)
        times.turn_ns.append(user_ns + compile_ns + assistant_ns)
    times.messages = 1 + 2 * len(turns)
    final = len(subject.compile())
    if final != times.messages:
        raise RuntimeError(f"{subject.name}: compiled {final} messages, expected {times.messages}")
    return times


def loop_figures(times: LoopTimes) -> dict[str, float]:
    """Commit and compile percentiles of a loop, first and last 10% of turns."""
    tenth = max(1, len(times.compile_ns) // 10)
    first, last = p50(times.compile_ns[:tenth]), p50(times.compile_ns[-tenth:])
    turn_first, turn_last = p50(times.turn_ns[:tenth]), p50(times.turn_ns[-tenth:])
    return {
        "commit_p50_ms": p50(times.commit_ns),
        "commit_p99_ms": percentile(times.commit_ns, 99),
        "compile_first10_p50_ms": first,
        "compile_last10_p50_ms": last,
        "compile_last_first_ratio": last / first,
        "turn_first10_p50_ms": turn_first,
        "turn_last10_p50_ms": turn_last,
        "turn_last_first_ratio": turn_last / turn_first,
    }


def warm_figures(subject: Any, repetitions: int) -> dict[str, float]:
    """Repeated compile with nothing changed (and, for tract, materialising the messages)."""
    figures = {"warm_compile_p50_ms": p50(repeat_ns(subject.compile, repetitions))}
    if isinstance(subject, TractSubject):
        tract = subject.tract
        figures["warm_compile_to_openai_p50_ms"] = p50(repeat_ns(lambda: tract.compile().to_openai(), repetitions))
    return figures


def at_commit_figures(tract: Tract, messages: int, repetitions: int) -> dict[str, Any]:
    """``compile(at_commit="HEAD~N")`` of mid-history commits that no cache holds.

    Each repetition names an older commit than the one before, so neither the compiled state of
    the target nor any state reachable by walking back from it is cached.
    """
    middle = messages // 2
    stride = max(1, messages // (10 * repetitions))
    offsets = [middle + k * stride for k in range(repetitions)]
    samples = []
    for n in offsets:
        elapsed, context = timed(lambda n=n: tract.compile(at_commit=f"HEAD~{n}"))
        if len(context) != messages - n:
            raise RuntimeError(f"HEAD~{n} compiled {len(context)} messages, expected {messages - n}")
        samples.append(elapsed)
    return {"at_commit_offsets": offsets, "at_commit_p50_ms": p50(samples)}


def reopen_figures(subject: Any, repetitions: int) -> dict[str, float]:
    """Median open time and first-compile time over ``repetitions`` reopenings of a closed store."""
    opens, compiles = [], []
    for _ in range(repetitions):
        gc.collect()
        open_ns, compile_ns, count = subject.reopen()
        opens.append(open_ns)
        compiles.append(compile_ns)
    return {
        "reopen_open_p50_ms": p50(opens),
        "reopen_compile_p50_ms": p50(compiles),
        "reopen_total_p50_ms": p50([o + c for o, c in zip(opens, compiles, strict=True)]),
    }


def fresh_process_figures(path: Path, repetitions: int) -> dict[str, float]:
    """Import, open and first compile in a new Python process (median of ``repetitions``)."""
    runs = []
    for _ in range(repetitions):
        out = subprocess.run([sys.executable, "-c", _FRESH_PROCESS_SCRIPT, str(path)], capture_output=True, text=True)
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"warning: the new-process measurement failed ({last}); skipped", file=sys.stderr)
            return {}
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {f"fresh_{key}": statistics.median(r[key] for r in runs) for key in ("import_ms", "open_ms", "compile_ms")}


def measure_tract(workdir: Path, turns: Sequence[tuple[str, str]], reps: int, fresh_reps: int) -> dict[str, Any]:
    """Every figure of tract for one size (durability "normal")."""
    path = workdir / f"tract-{len(turns)}.db"
    subject = TractSubject(path, "normal")
    times = run_loop(subject, turns)
    figures: dict[str, Any] = {"messages": times.messages, **loop_figures(times)}
    figures.update(warm_figures(subject, 200))
    figures.update(at_commit_figures(subject.tract, times.messages, 5))
    subject.close()
    figures["bytes_per_message"] = database_bytes(path) / times.messages
    figures.update(reopen_figures(subject, reps))
    if fresh_reps:
        figures.update(fresh_process_figures(path, fresh_reps))
    return figures


def measure_in_memory(turns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Every applicable figure of LangChain's in-memory history for one size."""
    subject = InMemorySubject()
    times = run_loop(subject, turns)
    return {"messages": times.messages, **loop_figures(times), **warm_figures(subject, 200)}


def measure_sqlite_rows(workdir: Path, turns: Sequence[tuple[str, str]], reps: int) -> dict[str, Any]:
    """Every applicable figure of the one-row-per-message SQLite baseline for one size."""
    path = workdir / f"rows-{len(turns)}.db"
    subject = SqliteRowsSubject(path, "normal")
    times = run_loop(subject, turns)
    figures: dict[str, Any] = {"messages": times.messages, **loop_figures(times), **warm_figures(subject, 200)}
    subject.close()
    figures["bytes_per_message"] = database_bytes(path) / times.messages
    figures.update(reopen_figures(subject, reps))
    return figures


def measure_full_durability(workdir: Path, turns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Commit p50/p99 of tract and of the SQLite baseline with ``synchronous=FULL``."""
    results: dict[str, Any] = {"turns": len(turns)}
    subjects = (TractSubject(workdir / "tract-full.db", "full"), SqliteRowsSubject(workdir / "rows-full.db", "full"))
    for subject in subjects:
        times = run_loop(subject, turns)
        subject.close()
        results[subject.name] = {
            "commit_p50_ms": p50(times.commit_ns),
            "commit_p99_ms": percentile(times.commit_ns, 99),
        }
    return results


def text_bytes_per_message(turns: Sequence[tuple[str, str]]) -> float:
    """Average UTF-8 size of the message texts themselves (the payload, for scale)."""
    total = len(SYSTEM_PROMPT.encode()) + sum(len(u.encode()) + len(a.encode()) for u, a in turns)
    return total / (1 + 2 * len(turns))


# -- targets and ratios -----------------------------------------------------------------------


def verdicts(tract: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """PASS/MISS of tract's figures against DESIGN §10 (a report, never a failure)."""
    flat = max(tract["compile_last_first_ratio"], tract["turn_last_first_ratio"])
    checks = {
        "commit_p50_ms": (tract["commit_p50_ms"], TARGET_COMMIT_MS, f"well under {TARGET_COMMIT_MS:g} ms"),
        "compile_last10_p50_ms": (
            tract["compile_last10_p50_ms"],
            TARGET_COMPILE_MS,
            f"< {TARGET_COMPILE_MS:g} ms at 4k msgs",
        ),
        "reopen_total_p50_ms": (tract["reopen_total_p50_ms"], TARGET_COLD_MS, f"< {TARGET_COLD_MS:g} ms"),
        "flat_ratio": (flat, TARGET_FLAT_RATIO, f"both <= {TARGET_FLAT_RATIO:g}x"),
    }
    return {
        key: {"value": value, "limit": limit, "target": text, "status": "PASS" if value <= limit else "MISS"}
        for key, (value, limit, text) in checks.items()
    }


RATIO_KEYS = ("commit_p50_ms", "compile_last10_p50_ms", "warm_compile_p50_ms", "bytes_per_message")


def ratios(tract: dict[str, Any], peers: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """tract / peer for the figures both have (below 1: tract is faster or smaller)."""
    out: dict[str, dict[str, float]] = {}
    for name, peer in peers.items():
        out[name] = {k: tract[k] / peer[k] for k in RATIO_KEYS if k in peer and peer[k]}
    return out


# -- output -----------------------------------------------------------------------------------

ROWS: tuple[tuple[str, str, str], ...] = (
    ("commit_p50_ms", "commit p50", "ms"),
    ("commit_p99_ms", "commit p99", "ms"),
    ("compile_first10_p50_ms", "compile@HEAD p50, first 10%", "ms"),
    ("compile_last10_p50_ms", "compile@HEAD p50, last 10%", "ms"),
    ("compile_last_first_ratio", "  compile last/first", "x"),
    ("turn_first10_p50_ms", "whole turn p50, first 10%", "ms"),
    ("turn_last10_p50_ms", "whole turn p50, last 10%", "ms"),
    ("turn_last_first_ratio", "  turn last/first", "x"),
    ("warm_compile_p50_ms", "compile@HEAD p50, unchanged", "ms"),
    ("warm_compile_to_openai_p50_ms", "  + .to_openai()", "ms"),
    ("at_commit_p50_ms", "compile(at_commit=HEAD~N) cold", "ms"),
    ("reopen_open_p50_ms", "reopen: open", "ms"),
    ("reopen_compile_p50_ms", "reopen: first compile", "ms"),
    ("reopen_total_p50_ms", "reopen: open + first compile", "ms"),
    ("fresh_import_ms", "new process: import tract_core", "ms"),
    ("fresh_open_ms", "new process: open", "ms"),
    ("fresh_compile_ms", "new process: first compile", "ms"),
    ("bytes_per_message", "bytes per message (db + wal)", "B"),
)
_VERDICT_ROW = {
    "commit_p50_ms": "commit_p50_ms",
    "compile_last10_p50_ms": "compile_last10_p50_ms",
    "reopen_total_p50_ms": "reopen_total_p50_ms",
    "compile_last_first_ratio": "flat_ratio",
}


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "B":
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:.2f}x"
    if value < 0.01:
        return f"{value:.4f}"
    return f"{value:.3f}" if value < 100 else f"{value:,.1f}"


def _fmt_ratio(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def size_table(result: dict[str, Any]) -> Any:
    """A rich table of one size: figures of tract and the peers, ratios, targets."""
    from rich.table import Table

    tract, peers = result["tract"], result["peers"]
    rat, checks = result["ratios"], result["targets"]
    title = f"{result['turns']} turns = {tract['messages']} messages (SQLite WAL, synchronous=NORMAL)"
    table = Table(title=title, title_justify="left")
    for header in ("figure", "tract", *peers, *(f"t/{p.split()[0]}" for p in peers), "target", ""):
        table.add_column(header, justify="left" if header in ("figure", "target") else "right")
    for key, label, unit in ROWS:
        if key not in tract:
            continue
        peer_cells = [_fmt(peers[p].get(key), unit) for p in peers]
        ratio_cells = [_fmt_ratio(rat[p][key]) if key in rat[p] else "" for p in peers]
        check = checks.get(_VERDICT_ROW.get(key, ""), {})
        status = check.get("status", "")
        styled = f"[green]{status}[/]" if status == "PASS" else f"[red]{status}[/]" if status else ""
        table.add_row(
            f"{label} ({unit})", _fmt(tract[key], unit), *peer_cells, *ratio_cells, check.get("target", ""), styled
        )
    return table


def durability_table(full: dict[str, Any]) -> Any:
    """A rich table of commit latency with ``synchronous=FULL`` next to ``NORMAL``."""
    from rich.table import Table

    table = Table(title=f"Durability: commit latency at {full['turns']} turns", title_justify="left")
    for header in ("store", "NORMAL p50 (ms)", "FULL p50 (ms)", "FULL p99 (ms)"):
        table.add_column(header, justify="left" if header == "store" else "right")
    for name in ("tract", "sqlite rows"):
        table.add_row(
            name,
            _fmt(full[name].get("normal_commit_p50_ms"), "ms"),
            _fmt(full[name]["commit_p50_ms"], "ms"),
            _fmt(full[name]["commit_p99_ms"], "ms"),
        )
    ratio = full["tract"]["commit_p50_ms"] / full["sqlite rows"]["commit_p50_ms"]
    table.caption = f"tract/sqlite rows with FULL: {ratio:.2f}"
    return table


def print_report(report: dict[str, Any]) -> None:
    """Print the environment, one table per size and the durability table."""
    from rich.console import Console

    console = Console(width=max(132, shutil.get_terminal_size().columns))
    env = report["environment"]
    console.print(
        f"[bold]tract core loop[/]  python {env['python']}  sqlite {env['sqlite']}  {env['platform']}  "
        f"seed {report['seed']}  (payload: {report['sizes'][0]['text_bytes_per_message']:.0f} B of text per message)"
    )
    for result in report["sizes"]:
        console.print(size_table(result))
    console.print(durability_table(report["durability_full"]))
    console.print(surgery_table(report["surgery"]))
    console.print(compression_table(report["compression"]))
    console.print(materialise_table(report["materialise"]))
    console.print(
        "Peers do less: no hashing, no edits/annotations/branches, no token counting, no reflog; "
        "'in-memory' persists nothing and its read returns its own list. "
        "Ratios are tract/peer (below 1: tract is faster or smaller)."
    )


# -- driver -----------------------------------------------------------------------------------


# -- history surgery --------------------------------------------------------------------------


def measure_surgery(workdir: Path, turns: Sequence[tuple[str, str]], branch_commits: int) -> dict[str, Any]:
    """Branch/switch on a long tract, a merge of ``branch_commits`` commits and a rebase of as many."""
    path = workdir / "surgery.db"
    tract = Tract.open(path=path)
    tract.system(SYSTEM_PROMPT)
    with tract.batch():
        for user_text, assistant_text in turns:
            tract.user(user_text)
            tract.assistant(assistant_text)
    messages = len(tract.compile())
    figures: dict[str, Any] = {"messages": messages, "branch_commits": branch_commits}

    branch_ns, _ = timed(lambda: tract.branch("experiment"))
    switch_ns, _ = timed(lambda: tract.switch("experiment"))
    compile_ns, _ = timed(tract.compile)
    figures["branch_ms"] = branch_ns / 1e6
    figures["switch_ms"] = switch_ns / 1e6
    figures["compile_after_switch_ms"] = compile_ns / 1e6
    figures["branch_switch_compile_ms"] = (branch_ns + switch_ns + compile_ns) / 1e6

    extra = turns[: branch_commits // 2]
    for user_text, assistant_text in extra:
        tract.user(user_text)
        tract.assistant(assistant_text)
    tract.switch("main")
    ff_ns, result = timed(lambda: tract.merge("experiment"))
    assert result.kind == "fast-forward"
    figures["merge_fast_forward_ms"] = ff_ns / 1e6

    tract.branch("side", switch=True)
    for user_text, assistant_text in extra:
        tract.user(user_text)
        tract.assistant(assistant_text)
    tract.switch("main")
    tract.user("main moved on")
    tract.branch("to-rebase", from_="side")
    merge_ns, result = timed(lambda: tract.merge("side"))
    assert result.kind == "merge"
    figures["merge_commit_ms"] = merge_ns / 1e6

    tract.switch("to-rebase")
    rebase_ns, replay = timed(lambda: tract.rebase("main~1"))
    figures["rebase_ms"] = rebase_ns / 1e6
    figures["rebased_commits"] = len(replay.mapping)
    figures["rebase_per_commit_ms"] = rebase_ns / 1e6 / max(1, len(replay.mapping))
    tract.close()

    rows = _connect_rows(workdir / "surgery-rows.db", "NORMAL")
    for statement in _ROWS_SCHEMA:
        rows.execute(statement)
    rows.execute("BEGIN")
    for i, (user_text, assistant_text) in enumerate(turns):
        rows.execute(_ROWS_INSERT, ("default", json.dumps({"role": "user", "content": user_text, "i": i})))
        rows.execute(_ROWS_INSERT, ("default", json.dumps({"role": "assistant", "content": assistant_text})))
    rows.execute("COMMIT")

    def fork() -> None:
        rows.execute("BEGIN")
        rows.execute(
            "INSERT INTO message_store (session_id, message) "
            "SELECT 'fork', message FROM message_store WHERE session_id = 'default' ORDER BY id"
        )
        rows.execute("COMMIT")
        rows.execute(_ROWS_SELECT, ("fork",)).fetchall()

    fork_ns, _ = timed(fork)
    rows.close()
    figures["rows_copy_fork_ms"] = fork_ns / 1e6
    return figures


def measure_compression(workdir: Path, turns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Compress ~1000 commits with a manual summary, then gc; time both and weigh the file."""
    path = workdir / "compress.db"
    tract = Tract.open(path=path)
    tract.system(SYSTEM_PROMPT)
    with tract.batch():
        for user_text, assistant_text in turns:
            tract.user(user_text)
            tract.assistant(assistant_text)
    tract.store.reclaim("incremental")
    before_bytes = tract.store.file_bytes()
    tokens_before = tract.compile().token_count
    compress_ns, result = timed(
        lambda: tract.compress(content="Summary of the earlier support conversation.", keep_recent=6)
    )
    after_compress_bytes = tract.store.file_bytes()
    gc_ns, collected = timed(lambda: tract.gc(orphan_retention_days=0, archive_retention_days=0))
    figures = {
        "commits": len(turns) * 2 + 1,
        "summarised_messages": len(result.replaced),
        "archived_commits": len(result.archived),
        "compress_ms": compress_ns / 1e6,
        "gc_ms": gc_ns / 1e6,
        "gc_removed_commits": len(collected.commits),
        "gc_removed_blobs": collected.blobs,
        "gc_blob_bytes": collected.blob_bytes,
        "tokens_before": tokens_before,
        "tokens_after": result.tokens_after,
        "db_bytes_before": before_bytes,
        "db_bytes_after_compress": after_compress_bytes,
        "db_bytes_after_gc": tract.store.file_bytes(),
    }
    tract.close()
    return figures


def measure_materialise(workdir: Path, sizes: Sequence[int], seed: int) -> dict[str, Any]:
    """Per turn at each message count: a user message, ``compile()``, then ``to_openai()`` timed alone.

    The history is written in one batch; then :data:`MATERIALISE_TURNS` turns of the loop run, each
    timing ``ctx.to_openai()`` (a fresh list of the read-only, shared messages) and, on the same
    context, a copy of every message with ``copy_message`` (the defensive copies ``to_openai()``
    made before, O(history) per call).
    """
    figures: dict[str, Any] = {"turns": MATERIALISE_TURNS, "sizes": []}
    for size in sizes:
        turns = make_turns((size - 1) // 2 + MATERIALISE_TURNS, seed)
        history, loop = turns[: (size - 1) // 2], turns[(size - 1) // 2 :]
        tract = Tract.open(path=workdir / f"materialise-{size}.db")
        tract.system(SYSTEM_PROMPT)
        with tract.batch():
            for user_text, assistant_text in history:
                tract.user(user_text)
                tract.assistant(assistant_text)
        shared_ns, copies_ns, counts = [], [], []
        gc.collect()
        for user_text, assistant_text in loop:
            tract.user(user_text)
            context = tract.compile()
            elapsed, messages = timed(context.to_openai)
            shared_ns.append(elapsed)
            copies_ns.append(timed(lambda m=messages: [copy_message(x) for x in m])[0])
            counts.append(len(messages))
            tract.assistant(assistant_text)
        tract.close()
        figures["sizes"].append(
            {
                "messages": size,
                "messages_min": min(counts),
                "messages_max": max(counts),
                "to_openai_p50_ms": p50(shared_ns),
                "to_openai_p99_ms": percentile(shared_ns, 99),
                "copies_p50_ms": p50(copies_ns),
                "status": "PASS" if p50(shared_ns) < TARGET_MATERIALISE_MS else "MISS",
            }
        )
    return figures


def materialise_table(figures: dict[str, Any]) -> Any:
    """Per-turn materialisation: ``to_openai()`` now, and a copy of every message (before)."""
    from rich.table import Table

    table = Table(
        title=f"Materialising the messages per turn ({figures['turns']} turns: user, compile, to_openai(), assistant)",
        title_justify="left",
    )
    for column in ("messages", "to_openai() p50 (ms)", "p99 (ms)", "copy of every message, before (ms)", "target", ""):
        table.add_column(column, justify="left" if column in ("target", "") else "right")
    for row in figures["sizes"]:
        styled = f"[green]{row['status']}[/]" if row["status"] == "PASS" else f"[red]{row['status']}[/]"
        table.add_row(
            f"{row['messages_min']:,}-{row['messages_max']:,}",
            _fmt(row["to_openai_p50_ms"], "ms"),
            _fmt(row["to_openai_p99_ms"], "ms"),
            _fmt(row["copies_p50_ms"], "ms"),
            f"< {TARGET_MATERIALISE_MS:g} ms",
            styled,
        )
    return table


def compression_table(figures: dict[str, Any]) -> Any:
    """The compression and gc figures."""
    from rich.table import Table

    table = Table(title=f"Compress {figures['commits']:,} commits (manual summary), then gc (archive window 0)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("compress (ms)", f"{figures['compress_ms']:.1f}"),
        (
            "  messages summarised / commits archived",
            f"{figures['summarised_messages']:,} / {figures['archived_commits']:,}",
        ),
        ("  context tokens before -> after", f"{figures['tokens_before']:,} -> {figures['tokens_after']:,}"),
        ("gc (ms)", f"{figures['gc_ms']:.1f}"),
        ("  commits / blobs removed", f"{figures['gc_removed_commits']:,} / {figures['gc_removed_blobs']:,}"),
        ("  blob bytes removed", f"{figures['gc_blob_bytes']:,}"),
        ("DB bytes before", f"{figures['db_bytes_before']:,}"),
        ("DB bytes after compress", f"{figures['db_bytes_after_compress']:,}"),
        ("DB bytes after gc (incremental vacuum)", f"{figures['db_bytes_after_gc']:,}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def surgery_table(figures: dict[str, Any]) -> Any:
    """The history-surgery figures with the copy-to-fork peer."""
    from rich.table import Table

    table = Table(title=f"History surgery on {figures['messages']:,} messages (SQLite WAL, synchronous=NORMAL)")
    for column in ("operation", "tract (ms)", "sqlite rows: copy to fork (ms)", "ratio"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    ratio = figures["branch_switch_compile_ms"] / figures["rows_copy_fork_ms"]
    table.add_row(
        "branch + switch + compile",
        f"{figures['branch_switch_compile_ms']:.3f}",
        f"{figures['rows_copy_fork_ms']:.3f}",
        f"{ratio:.3f}",
    )
    table.add_row("  branch", f"{figures['branch_ms']:.3f}", "", "")
    table.add_row("  switch", f"{figures['switch_ms']:.3f}", "", "")
    table.add_row("  compile after switch", f"{figures['compile_after_switch_ms']:.3f}", "", "")
    table.add_row(f"merge {figures['branch_commits']} commits, fast-forward", f"{figures['merge_fast_forward_ms']:.3f}")
    table.add_row(f"merge {figures['branch_commits']} commits, merge commit", f"{figures['merge_commit_ms']:.3f}")
    table.add_row(
        f"rebase {figures['rebased_commits']} commits ({figures['rebase_per_commit_ms']:.3f} ms each)",
        f"{figures['rebase_ms']:.3f}",
    )
    return table


def environment() -> dict[str, str]:
    """Versions and machine, recorded with the figures."""
    import langchain_core
    import sqlalchemy

    import tract_core

    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "langchain_core": langchain_core.__version__,
        "tract_core": tract_core.__version__,
        "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cpus",
    }


def run_size(workdir: Path, turns_count: int, seed: int, quick: bool) -> dict[str, Any]:
    """All measurements of one size."""
    turns = make_turns(turns_count, seed)
    reps = 3 if quick else 5
    tract = measure_tract(workdir, turns, reps, fresh_reps=1 if quick else 3)
    peers = {
        "in-memory": measure_in_memory(turns),
        "sqlite rows": measure_sqlite_rows(workdir, turns, reps),
    }
    return {
        "turns": turns_count,
        "text_bytes_per_message": text_bytes_per_message(turns),
        "tract": tract,
        "peers": peers,
        "ratios": ratios(tract, peers),
        "targets": verdicts(tract),
    }


def run(sizes: Sequence[int], seed: int, quick: bool, full_turns: int) -> dict[str, Any]:
    """Run every size and the durability comparison in a temporary directory (removed after)."""
    with tempfile.TemporaryDirectory(prefix="tract-bench-") as tmp:
        workdir = Path(tmp)
        results = [run_size(workdir, n, seed, quick) for n in sizes]
        full = measure_full_durability(workdir, make_turns(full_turns, seed + 1))
        surgery = measure_surgery(workdir, make_turns(max(sizes), seed + 2), 100)
        compression = measure_compression(workdir, make_turns(500, seed + 3))
        materialise = measure_materialise(workdir, MATERIALISE_QUICK_SIZES if quick else MATERIALISE_SIZES, seed + 4)
    for result in results:
        if result["turns"] == full_turns:
            full["tract"]["normal_commit_p50_ms"] = result["tract"]["commit_p50_ms"]
            full["sqlite rows"]["normal_commit_p50_ms"] = result["peers"]["sqlite rows"]["commit_p50_ms"]
    return {
        "seed": seed,
        "quick": quick,
        "durability": "normal (WAL, synchronous=NORMAL); see durability_full for FULL",
        "environment": environment(),
        "sizes": results,
        "durability_full": full,
        "surgery": surgery,
        "compression": compression,
        "materialise": materialise,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"small sizes {QUICK_SIZES} for CI smoke runs")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], help="turn counts, e.g. 500,2000")
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated texts")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the tables, optionally write JSON. Always exits 0 on completion."""
    args = parse_args(argv)
    sizes = args.sizes or list(QUICK_SIZES if args.quick else FULL_SIZES)
    full_turns = min(sizes) if args.quick else max(sizes)
    report = run(sizes, args.seed, args.quick, full_turns)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
