"""Benchmark of the selector language (DESIGN §15, issue 15): ``t.select`` over a 4,000-message tract.

A SQLite tract gets 1,000 turns of four messages (a question, a tool call, its result, the answer),
so its context holds 4,000 messages and more: every tenth question is tagged ``billing``, every 40th
turn adds a keyed note (``stock:K``), the tool calls and answers carry a ``model`` in their generation
config. Figures, each a p50 over repeated runs:

* ``parse``: the parser on a fresh string (uncached) and through the cache;
* ``select``: ``t.select(query)`` at an unchanged HEAD (the compiled context, its selector index
  and the query's result are cached): a query repeated at one HEAD, the target is under 5 ms;
* ``first select``: the first ``t.select(query)`` after a new cycle is committed (an assistant reply,
  then a user message, as in an agent loop): the new context's index extends the previous one's
  columns by the new messages, so this is what a loop pays per call; the target is under 5 ms too.
  Compile is not included (``t.compile()`` runs first; benchmarks/context_tree.py measures it).
  Measured again on a second tract with lifecycles (a sticky note, expiring keyed notes), whose
  contexts hide and move messages.

Run ``python benchmarks/selector_queries.py`` (a few seconds; the file is not named ``selectors.py``,
which would shadow the standard library's ``selectors`` module). ``--turns N`` changes the size,
``--json PATH`` writes every figure. The script reports; it never fails on a missed target.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core import SYSTEM_PROMPT, environment, make_turns, p50, repeat_ns, timed

from tract_core import TokenizerFallbackWarning, Tract
from tract_core.tree import Sticky, Temporary, parse_selector
from tract_core.tree.selectors.syntax import _parse as parse_uncached

TURNS = 1000
RUNS = 50
COLD_RUNS = 15
TARGET_MS = 5.0
QUERIES = (
    "^seq .tool_result(d11..d*)",
    "^ah > .user",
    ".user+billing",
    "{tokens>60}",
    '.user:contains("zz-999")',
    "#stock:3",
    "@t-3 .assistant:last",
    ".user, .tool_call @limit=10",
    '{model="gpt-4o"}',
)


def build(path: Path, turns: int, lifecycles: bool = False) -> Tract:
    """The tract: a system prompt, then ``turns`` turns of four messages. ``lifecycles``: a sticky
    note after the system prompt, and the keyed notes expire after 30 cycles (compile then hands out
    contexts with hidden and moved messages, a masked view of its message list)."""
    t = Tract.open(path)
    t.system(SYSTEM_PROMPT)
    if lifecycles:
        t.user("Plan: pro, region EU.", lifecycle=Sticky())
    texts = make_turns(turns, seed=15)
    with t.batch():
        for turn, (question, answer) in enumerate(texts):
            tags = {"tags": ["billing"]} if turn % 10 == 0 else None
            t.user(f"{question} zz-{turn}", metadata=tags)
            call = {"id": f"c{turn}", "type": "function", "function": {"name": "stock", "arguments": "{}"}}
            t.assistant(tool_calls=[call], generation_config={"model": "gpt-4o"})
            t.tool_result(f"c{turn}", f"{turn % 97} left")
            t.assistant(answer, generation_config={"model": "gpt-4o-mini"})
            if turn % 40 == 0:
                life = Temporary(30) if lifecycles else None
                t.user(f"stock note {turn}", key=f"stock:{turn // 40}", lifecycle=life)
    t.user("And now?")
    return t


def measure(t: Tract) -> dict[str, Any]:
    figures: dict[str, Any] = {"messages": len(t.compile()), "queries": {}}
    for query in QUERIES:
        uncached = repeat_ns(lambda q=query: parse_uncached(q), RUNS)
        parse_selector(query)
        cached = repeat_ns(lambda q=query: parse_selector(q), RUNS)
        t.select(query)
        warm = repeat_ns(lambda q=query: t.select(q), RUNS)
        selected = t.select(query)
        figures["queries"][query] = {
            "selected": len(selected),
            "parse_uncached_ms": p50(uncached),
            "parse_cached_ms": p50(cached),
            "select_warm_ms": p50(warm),
            "select_first_ms": p50(first_selects(t, query)),
        }
    return figures


def first_selects(t: Tract, query: str) -> list[float]:
    """The first ``t.select(query)`` after each of :data:`COLD_RUNS` new cycles (ms)."""
    times = []
    for i in range(COLD_RUNS):
        t.assistant(f"Noted, step {i}.")
        t.user(f"follow-up {i}")
        t.compile()  # the compile itself is measured by benchmarks/context_tree.py
        times.append(timed(lambda q=query: t.select(q))[0])
    return times


def print_report(report: dict[str, Any]) -> None:
    print(f"selector benchmark: {report['environment']}")
    print(f"{report['messages']:,} messages in the context, p50 of {RUNS} runs\n")
    print(f"{'query':34}{'nodes':>7}{'parse':>10}{'cached':>10}{'select':>10}{'first':>10}")
    worst = first = 0.0
    for query, f in report["queries"].items():
        worst = max(worst, f["select_warm_ms"])
        first = max(first, f["select_first_ms"])
        print(
            f"{query:34}{f['selected']:>7}{f['parse_uncached_ms']:>9.3f}m{f['parse_cached_ms']:>9.4f}m"
            f"{f['select_warm_ms']:>9.3f}m{f['select_first_ms']:>9.3f}m"
        )
    print("\n(ms; 'select' at an unchanged HEAD, with the cached parse and HEAD's cached compile;")
    print(f" 'first' the first select after a new cycle, p50 of {COLD_RUNS}, the compile excluded)")
    print("\nwith lifecycles (a sticky note, expiring keyed notes: contexts with hidden and moved messages)")
    for query, value in report["lifecycles"].items():
        first = max(first, value)
        print(f"{query:34}{'first':>7}{value:>9.3f}m")
    size = f"{report['messages']:,}"
    for what, value in (("select", worst), ("first select after a commit", first)):
        verdict = "PASS" if value < TARGET_MS else "MISS"
        print(f"target: {what} over {size} messages < {TARGET_MS} ms: worst p50 {value:.3f} ms  {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=TURNS, help=f"turns of four messages (default {TURNS})")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", TokenizerFallbackWarning)
    with tempfile.TemporaryDirectory() as tmp:
        t = build(Path(tmp) / "selectors.db", args.turns)
        report = {"environment": environment(), **measure(t)}
        t.close()
        t = build(Path(tmp) / "lifecycles.db", args.turns, lifecycles=True)
        t.select("*")
        report["lifecycles"] = {query: p50(first_selects(t, query)) for query in QUERIES}
        t.close()
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
