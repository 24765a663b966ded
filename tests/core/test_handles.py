"""Each ``Tract`` handle has its own HEAD, like a git worktree.

A handle appends to the branch it has checked out, whatever other handles (in this process or
another) switch to; the stored HEAD only says where a newly opened handle starts. An append to a
branch another handle deleted is a clear error, never a silent landing elsewhere.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from tract_core import BranchNotFoundError, InvalidInputError, Tract
from tract_core.testing import store_snapshot
from tract_core.testing.processes import WAIT_FOR_FILE, ChildProcess, wait_for_files


def contents(t: Tract, **kwargs) -> list[str]:
    return [m["content"] for m in t.compile(**kwargs).messages]


def test_another_handles_switch_does_not_redirect_my_appends(factory):
    mine = factory.open(tract_id="shared")
    mine.system("base")
    other = factory.open(tract_id="shared")
    other.branch("side", switch=True)
    other.user("on side")

    info = mine.user("on main")

    assert mine.current_branch == "main"
    assert other.current_branch == "side"
    assert {b.name: b.commit for b in mine.list_branches()}["main"] == info.hash
    assert contents(mine) == ["base", "on main"]
    assert contents(mine, at_commit="main") == ["base", "on main"]
    assert contents(other) == ["base", "on side"]
    assert mine.head == info.hash
    assert [b.name for b in mine.list_branches() if b.current] == ["main"]
    assert [b.name for b in other.list_branches() if b.current] == ["side"]


def test_a_new_handle_starts_where_the_last_switch_left_the_tract(factory):
    first = factory.open(tract_id="shared")
    first.system("base")
    first.branch("side", switch=True)
    assert factory.open(tract_id="shared").current_branch == "side"
    first.switch("main")
    assert factory.open(tract_id="shared").current_branch == "main"


def test_a_handle_starts_where_head_was_when_it_was_opened_not_when_first_used(factory):
    first = factory.open(tract_id="shared")
    first.system("base")
    idle = factory.open(tract_id="shared")  # opened on main, not used yet
    first.branch("side", switch=True)  # moves the stored HEAD before the idle handle's first call

    info = idle.user("on main")

    assert idle.current_branch == "main"
    assert {b.name: b.commit for b in idle.list_branches()}["main"] == info.hash
    assert contents(idle) == ["base", "on main"]
    assert first.current_branch == "side"


def test_appending_to_a_branch_deleted_under_the_handle_is_a_clear_error(factory):
    worker = factory.open(tract_id="shared")
    worker.system("base")
    worker.branch("feature", switch=True)
    worker.user("work in progress")
    admin = factory.open(tract_id="shared")
    admin.switch("main")
    admin.delete_branch("feature", force=True)
    before = store_snapshot(worker)

    with pytest.raises(BranchNotFoundError, match="feature.*deleted"):
        worker.user("lost?")

    assert store_snapshot(worker) == before
    assert contents(admin) == ["base"]
    worker.switch("main")
    assert worker.user("saved").hash == admin.head


def test_detached_handle_keeps_its_own_position(factory):
    t = factory.open(tract_id="shared")
    first = t.system("base")
    t.user("second")
    detached = factory.open(tract_id="shared")
    detached.checkout(first)
    extra = detached.user("what if")
    t.user("third")  # the attached handle still appends to main
    assert contents(t) == ["base", "second", "third"]
    assert detached.head == extra.hash
    assert contents(detached) == ["base", "what if"]


def test_a_rolled_back_switch_leaves_the_handle_where_it_was(factory):
    t = factory.open(tract_id="shared")
    t.system("base")
    with pytest.raises(RuntimeError), t.batch():
        t.branch("doomed", switch=True)
        t.user("doomed")
        raise RuntimeError("abort the batch")
    assert t.current_branch == "main"
    assert [b.name for b in t.list_branches()] == ["main"]
    assert t.user("kept").hash == t.head
    assert contents(t) == ["base", "kept"]


APPEND_ON_MAIN = (
    WAIT_FOR_FILE
    + """
import json, sys
from tract_core import Tract

args = json.loads(sys.argv[1])
t = Tract.open(tract_id="shared", **args["location"])
write_atomically(args["ready"], "ready")
wait_for_file(args["go"])
mine = [t.user(f"append {k}").hash for k in range(args["n"])]
print(json.dumps({"hashes": mine, "branch": t.current_branch}))
"""
)

SWITCHER = (
    WAIT_FOR_FILE
    + """
import json, sys
from pathlib import Path
from tract_core import Tract

args = json.loads(sys.argv[1])
t = Tract.open(tract_id="shared", **args["location"])
write_atomically(args["ready"], "ready")
wait_for_file(args["go"])
k = 0
while not Path(args["stop"]).exists():
    name = f"scratch-{k}"
    t.branch(name, switch=True)
    t.user(f"scratch {k}")
    t.switch("main")
    t.delete_branch(name, force=True)
    t.gc(orphan_retention_days=0, archive_retention_days=0, vacuum=None)
    k += 1
print(json.dumps({"switches": k}))
"""
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_appends_stay_on_main_while_another_process_switches_and_deletes_branches(factory, tmp_path):
    t = factory.open(tract_id="shared")
    t.system("base")
    go, stop = tmp_path / "go", tmp_path / "stop"
    readies = [tmp_path / "ready-a", tmp_path / "ready-s"]
    location = factory.location
    appender = ChildProcess(
        APPEND_ON_MAIN, {"location": location, "n": 150, "ready": str(readies[0]), "go": str(go)}, tmp_path, "appender"
    )
    switcher = ChildProcess(
        SWITCHER, {"location": location, "ready": str(readies[1]), "go": str(go), "stop": str(stop)}, tmp_path, "sw"
    )
    try:
        wait_for_files(readies, [appender, switcher])
        go.write_text("go")
        appended = appender.result()
        stop.write_text("stop")
        switched = switcher.result()
    finally:
        appender.kill()
        switcher.kill()
    assert switched["switches"] > 0
    assert appended["branch"] == "main"
    on_main = [c.hash for c in factory.open(tract_id="shared").log(limit=None)]
    lost = [h for h in appended["hashes"] if h not in on_main]
    assert not lost, f"{len(lost)} of {len(appended['hashes'])} acknowledged appends are not on main"
    assert contents(t)[1:] == [f"append {k}" for k in range(150)]
    assert t.verify() > 0
    assert json.dumps(switched)


def test_deleting_a_branch_waits_for_an_append_to_it_and_then_sees_it(factory):
    """A non-forced delete_branch racing an append to that branch never orphans the append."""
    worker = factory.open(tract_id="shared")
    worker.system("base")
    worker.branch("feature", switch=True)  # no commits of its own yet: deletable without force
    admin = factory.open(tract_id="shared")
    admin.switch("main")
    outcome: dict[str, object] = {}

    def delete() -> None:
        try:
            outcome["deleted"] = admin.delete_branch("feature")
        except BaseException as exc:
            outcome["deleted"] = exc

    deleter = threading.Thread(target=delete)
    with worker.batch():
        appended = worker.user("only on feature")
        deleter.start()
        time.sleep(0.5)  # the delete runs now, or queues behind this transaction
    deleter.join(60)
    assert isinstance(outcome["deleted"], InvalidInputError), outcome["deleted"]
    assert {b.name: b.commit for b in admin.list_branches()}["feature"] == appended.hash
