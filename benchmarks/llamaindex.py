"""Benchmark of ``TractMemory`` against LlamaIndex's own memories on an agent's memory traffic.

The workload is what ``FunctionAgent`` does with its memory in one turn without tools:
``aput(user)``, ``aget()`` (the messages for the LLM call), ``aput(assistant)``, ``aget()`` (the
final read), on one session. User texts are about 130 characters, replies about 340
(pseudo-words from a seeded generator, every message differs). The token limit is large enough
that nothing is trimmed, so every subject returns the whole conversation and the costs compare
like for like (tract's compression and LlamaIndex's waterfall are measured elsewhere).

Subjects, one after the other in the same process on the same texts:

* ``tract``: :class:`tract_llamaindex.TractMemory` on a SQLite file (WAL, ``synchronous=NORMAL``).
* ``li-memory``: ``llama_index.core.memory.Memory`` (LlamaIndex's current default memory) on its
  ``SQLAlchemyChatStore`` over an aiosqlite file.
* ``li-buffer``: ``ChatMemoryBuffer`` on the in-memory ``SimpleChatStore`` (persists nothing).

Figures per size: p50 of the whole turn over the first and last 10% of turns, p50 of the
``aget()`` before the LLM call over the last 10%, bytes on disk, and a reopen (a new memory
object on the same file, first ``aget()``). Run ``python benchmarks/llamaindex.py`` (200 and 1000
turns) or ``--quick`` (50 and 200). The script reports; it never fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from llama_index.core.llms import ChatMessage
from llama_index.core.memory import ChatMemoryBuffer, Memory
from llama_index.core.storage.chat_store.sql import SQLAlchemyChatStore

from tract_llamaindex import TractMemory, close_stores

LIMIT = 10_000_000


def _texts(turns: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(800)]

    def text(chars: int) -> str:
        out: list[str] = []
        while sum(len(w) + 1 for w in out) < chars:
            out.append(rng.choice(words))
        return " ".join(out)

    return [(text(130), text(340)) for _ in range(turns)]


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


async def _run(name: str, make: Callable[[], Awaitable[Any]], texts: list[tuple[str, str]]) -> dict[str, float]:
    memory = await make()
    turns, gets = [], []
    for user, reply in texts:
        start = time.perf_counter_ns()
        await memory.aput(ChatMessage(role="user", content=user))
        before = time.perf_counter_ns()
        messages = await memory.aget()
        gets.append(time.perf_counter_ns() - before)
        await memory.aput(ChatMessage(role="assistant", content=reply))
        await memory.aget()
        turns.append(time.perf_counter_ns() - start)
    assert len(messages) == 2 * len(texts) - 1, (name, len(messages))
    tenth = max(1, len(texts) // 10)
    return {
        "turn_first_ms": statistics.median(turns[:tenth]) / 1e6,
        "turn_last_ms": statistics.median(turns[-tenth:]) / 1e6,
        "get_last_ms": statistics.median(gets[-tenth:]) / 1e6,
    }


async def _reopen(make: Callable[[], Awaitable[Any]], expected: int) -> float:
    start = time.perf_counter_ns()
    memory = await make()
    got = await memory.aget()
    assert len(got) == expected, len(got)
    return (time.perf_counter_ns() - start) / 1e6


async def measure(turns: int, seed: int) -> dict[str, dict[str, float]]:
    texts = _texts(turns, seed)
    results: dict[str, dict[str, float]] = {}
    root = Path(tempfile.mkdtemp(prefix="tract-li-bench-"))
    try:
        tract_dir, li_dir = root / "tract", root / "li"
        tract_dir.mkdir()
        li_dir.mkdir()

        async def tract_memory() -> TractMemory:
            return TractMemory.from_defaults(session_id="bench", path=tract_dir / "agent.db", token_budget=LIMIT)

        async def li_memory() -> Memory:
            store = SQLAlchemyChatStore(
                table_name="memory", async_database_uri=f"sqlite+aiosqlite:///{li_dir}/agent.db"
            )
            return Memory.from_defaults(session_id="bench", chat_store=store, token_limit=LIMIT)

        async def li_buffer() -> ChatMemoryBuffer:
            return ChatMemoryBuffer.from_defaults(token_limit=LIMIT)

        results["tract"] = await _run("tract", tract_memory, texts)
        close_stores()
        results["tract"]["bytes"] = _size(tract_dir)
        results["tract"]["reopen_ms"] = await _reopen(tract_memory, 2 * turns)
        close_stores()
        results["li-memory"] = await _run("li-memory", li_memory, texts)
        results["li-memory"]["bytes"] = _size(li_dir)
        results["li-memory"]["reopen_ms"] = await _reopen(li_memory, 2 * turns)
        results["li-buffer"] = await _run("li-buffer", li_buffer, texts)
    finally:
        close_stores()
        shutil.rmtree(root, ignore_errors=True)
    return results


def _table(turns: int, results: dict[str, dict[str, float]]) -> str:
    rows = [
        ("turn p50, first 10% (ms)", "turn_first_ms", "{:.3f}"),
        ("turn p50, last 10% (ms)", "turn_last_ms", "{:.3f}"),
        ("aget() p50, last 10% (ms)", "get_last_ms", "{:.3f}"),
        ("bytes on disk", "bytes", "{:,.0f}"),
        ("reopen + first aget (ms)", "reopen_ms", "{:.1f}"),
    ]
    names = list(results)
    lines = [f"\n{turns} turns ({2 * turns} messages)", "| figure | " + " | ".join(names) + " | tract vs li-memory |"]
    lines.append("|---" * (len(names) + 2) + "|")
    for label, key, fmt in rows:
        cells = [fmt.format(results[n][key]) if key in results[n] else "–" for n in names]
        ratio = ""
        if key in results["tract"] and key in results["li-memory"] and results["tract"][key]:
            ratio = f"{results['li-memory'][key] / results['tract'][key]:.1f}x"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 and 200 turns")
    parser.add_argument("--sizes", help="comma-separated turn counts (default 200,1000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([50, 200] if args.quick else [200, 1000])
    everything = {}
    for turns in sizes:
        results = asyncio.run(measure(turns, args.seed))
        everything[turns] = results
        print(_table(turns, results))
    print("\n(ratio = li-memory / tract: above 1 means tract is faster or smaller)")
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=2))


if __name__ == "__main__":
    main()
