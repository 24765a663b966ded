"""gc while other processes write: nothing acknowledged is ever collected.

- Appending processes and a gc loop with zero retention run at once on one tract: every commit a
  writer was told had landed is still there afterwards, and ``verify()`` is clean.
- gc of one tract removing blobs that another tract's writers are committing at the same moment:
  the blob stays (something references it when gc deletes), and neither side sees a raw driver
  error. Once deterministically through the store's units of work, once with real processes.
On a SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from tract_core import Tract
from tract_core.messages import normalize_message
from tract_core.objects import Blob, Commit, ObjectId, Operation
from tract_core.testing.processes import WAIT_FOR_FILE, ChildProcess, wait_for_files
from tract_core.testing.snapshot import store_snapshot

APPENDER = (
    WAIT_FOR_FILE
    + """
import json, sys
from tract_core import Tract

args = json.loads(sys.argv[1])
t = Tract.open(tract_id=args["tract_id"], **args["location"])
write_atomically(args["ready"], "ready")
wait_for_file(args["go"])
mine = [t.user(f"worker {args['worker']} message {k}").hash for k in range(args["n"])]
print(json.dumps(mine))
"""
)

GC_LOOP = (
    WAIT_FOR_FILE
    + """
import json, sys
from pathlib import Path
from tract_core import Tract

args = json.loads(sys.argv[1])
t = Tract.open(tract_id=args["tract_id"], **args["location"])
write_atomically(args["ready"], "ready")
wait_for_file(args["go"])
runs = removed = 0
while not Path(args["stop"]).exists():
    result = t.gc(orphan_retention_days=0, archive_retention_days=0, vacuum=None)
    runs += 1
    removed += len(result.commits)
print(json.dumps({"runs": runs, "removed": removed}))
"""
)


def _run(children: list[ChildProcess]) -> list:
    results = []
    for child in children:
        results.append(child.result())
    return results


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_gc_loop_with_zero_retention_never_collects_acknowledged_appends(factory, tmp_path):
    t = factory.open(tract_id="busy")
    root = t.system("You are terse.")
    workers, per_worker = 3, 60
    go, stop = tmp_path / "go", tmp_path / "stop"
    readies = [tmp_path / f"ready{w}" for w in range(workers)] + [tmp_path / "ready-gc"]
    common = {"location": factory.location, "tract_id": "busy", "go": str(go)}
    appenders = [
        ChildProcess(APPENDER, {**common, "worker": w, "n": per_worker, "ready": str(readies[w])}, tmp_path, f"w{w}")
        for w in range(workers)
    ]
    collector = ChildProcess(GC_LOOP, {**common, "ready": str(readies[-1]), "stop": str(stop)}, tmp_path, "gc")
    children = [*appenders, collector]
    try:
        wait_for_files(readies, children)
        go.write_text("go")
        acknowledged = [h for mine in _run(appenders) for h in mine]
        stop.write_text("stop")
        runs = collector.result()
    finally:
        for child in children:
            child.kill()
    assert runs["runs"] > 0
    assert runs["removed"] == 0, "gc removed commits although nothing was ever orphaned"

    fresh = factory.open(tract_id="busy")
    on_main = {c.hash for c in fresh.log(limit=None)}
    lost = [h[:12] for h in acknowledged if h not in on_main]
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged commits are gone: {lost[:5]}"
    assert len(on_main) == workers * per_worker + 1 and root.hash in on_main
    assert fresh.verify() > 0
    assert len(fresh.compile().messages) == workers * per_worker + 1


def _orphan_a_shared_blob(a: Tract, text: str) -> None:
    """Commit ``text`` on tract ``a`` and reset it away, so gc of ``a`` wants its blob gone."""
    a.user(text)
    a.reset("HEAD~1", mode="soft")


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"])
def test_gc_keeps_a_blob_another_tract_is_committing_at_that_moment(factory):
    """Tract b's writer has stored the (already present) blob but not yet the commit carrying it when
    gc of tract a deletes blobs: the blob must survive, and both transactions must succeed."""
    a = factory.open(tract_id="a")
    b = factory.open(tract_id="b")
    a.system("base")
    b.system("base")
    _orphan_a_shared_blob(a, "the text both tracts carry")
    message = normalize_message("the text both tracts carry", role="user")
    blob = Blob.from_body(message.body)
    outcome: dict[str, object] = {}

    def collect() -> None:
        try:
            outcome["gc"] = a.gc(orphan_retention_days=0, archive_retention_days=0, vacuum=None)
        except BaseException as exc:  # reported to the test below
            outcome["gc"] = exc

    collector = threading.Thread(target=collect)
    with b.store.write() as session:
        tip = session.refs.get("b", "main").commit
        session.blobs.put(blob, None, None)  # present already: a no-op insert
        collector.start()
        time.sleep(0.5)  # gc runs now (or queues behind this transaction)
        commit = Commit((ObjectId(tip),), blob.hash, "user", message.content_type, Operation.APPEND)
        session.commits.put("b", commit, 2, blob.body)
        assert session.refs.compare_and_swap("b", "main", tip, commit.hash)
    collector.join(60)
    assert not collector.is_alive()
    assert not isinstance(outcome["gc"], BaseException), f"gc failed: {outcome['gc']!r}"
    assert b.compile().messages[-1] == {"role": "user", "content": "the text both tracts carry"}
    assert b.verify() > 0
    assert a.verify() > 0


SHARED_WRITER = (
    WAIT_FOR_FILE
    + """
import json, sys
from tract_core import Tract

args = json.loads(sys.argv[1])
t = Tract.open(tract_id="writer", **args["location"])
t.system("base")
write_atomically(args["ready"], "ready")
wait_for_file(args["go"])
mine = [t.user(f"shared text {k % 20}").hash for k in range(args["n"])]
print(json.dumps(mine))
"""
)

SHARED_COLLECTOR = (
    WAIT_FOR_FILE
    + """
import json, sys
from tract_core import Tract

args = json.loads(sys.argv[1])
t = Tract.open(tract_id="collector", **args["location"])
base = t.system("base")
write_atomically(args["ready"], "ready")
wait_for_file(args["go"])
removed = 0
for k in range(args["n"]):
    t.user(f"shared text {k % 20}")
    t.reset(base, mode="soft")
    removed += t.gc(orphan_retention_days=0, archive_retention_days=0, vacuum=None).blobs
print(json.dumps({"blobs_removed": removed}))
"""
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_gc_of_one_tract_and_writers_of_another_sharing_blobs(factory, tmp_path):
    go = tmp_path / "go"
    readies = [tmp_path / "ready-writer", tmp_path / "ready-collector"]
    common = {"location": factory.location, "go": str(go), "n": 120}
    writer = ChildProcess(SHARED_WRITER, {**common, "ready": str(readies[0])}, tmp_path, "writer")
    collector = ChildProcess(SHARED_COLLECTOR, {**common, "ready": str(readies[1])}, tmp_path, "collector")
    try:
        wait_for_files(readies, [writer, collector])
        go.write_text("go")
        written, collected = writer.result(), collector.result()
    finally:
        writer.kill()
        collector.kill()
    t = factory.open(tract_id="writer")
    assert [c.hash for c in t.log(limit=None)][: len(written)] == list(reversed(written))
    assert t.verify() > 0
    assert [m["content"] for m in t.compile().messages][1:] == [f"shared text {k % 20}" for k in range(120)]
    assert json.dumps(collected)  # the collector finished without a raw driver error


# -- gc killed mid-transaction ---------------------------------------------------------------------

KILLED_IN_GC = """
import json, sys, time
from pathlib import Path
from tract_core import Tract
from tract_core.store import sql_objects

args = json.loads(sys.argv[1])
original = sql_objects.SqlBlobs.delete_unreferenced

def delete_then_stall(self, hashes):
    # Commits, compression records and blobs are deleted inside gc's transaction by now: stall here
    # so the parent can kill the process before the transaction commits.
    removed = original(self, hashes)
    Path(args["ready"]).write_text(str(removed))
    time.sleep(600)
    return removed

sql_objects.SqlBlobs.delete_unreferenced = delete_then_stall
t = Tract.open(tract_id=args["tract_id"], **args["location"])
t.gc(orphan_retention_days=0, archive_retention_days=0, vacuum=None)
sys.exit("the parent should have killed this process inside gc")
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_gc_killed_mid_transaction_leaves_the_store_as_before(factory, tmp_path):
    """Fault injection: SIGKILL after gc deleted rows but before it committed. Nothing is half-done:
    the store is exactly as before, ``verify()`` is clean, and the next gc finishes the job."""
    t = factory.open(tract_id="victim")
    t.system("You are terse.")
    kept = t.user("keep me")
    for k in range(30):
        t.user(f"an orphan with its own text {k}")
    t.reset(kept, mode="soft")
    before = store_snapshot(t)
    digest = t.compile().digest

    ready = tmp_path / "ready"
    args = {"location": factory.location, "tract_id": "victim", "ready": str(ready)}
    child = ChildProcess(KILLED_IN_GC, args, tmp_path, "gc-child")
    try:
        wait_for_files([ready], [child])
        assert int(ready.read_text()) > 0, "the child's gc deleted no blobs before the kill point"
        os.kill(child.proc.pid, signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL, child.stderr()
    finally:
        child.kill()

    reopened = factory.open(tract_id="victim")
    assert store_snapshot(reopened) == before
    assert reopened.compile().digest == digest
    assert reopened.verify() > 0
    result = reopened.gc(orphan_retention_days=0, archive_retention_days=0, vacuum=None)
    assert len(result.commits) == 30 and result.blobs == 30
    assert reopened.verify() > 0
    assert reopened.compile().digest == digest
    assert reopened.user("after the crash").hash == reopened.head
