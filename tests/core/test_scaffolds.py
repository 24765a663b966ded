"""Live components (scaffolds): mounting, operations as tools, instances in history, restoring.

Every tract here is a real SQLite file; the model's tool calls are given in each provider's shape
and run through ``execute_tool`` as an agent loop would.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from tract_core import (
    InvalidInputError,
    Scaffold,
    ScaffoldClassError,
    ScaffoldNotFoundError,
    Sticky,
    TaskList,
    Temporary,
    Tract,
    WorkingMemory,
    operation,
)


def call(name: str, arguments: Any, id: str = "c1") -> dict[str, Any]:
    """An OpenAI tool call."""
    return {"id": id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def scaffold_commits(t: Tract, key: str = "scaffold:tasks") -> list[str]:
    return [str(c.content) for c in t.log(limit=None) if c.key == key]


def contents(t: Tract) -> list[str]:
    return [m["content"] for m in t.compile().to_openai()]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "agent.db"


@pytest.fixture
def t(db: Path):
    with Tract.open(db) as tract:
        tract.system("You plan trips.")
        tract.user("Plan my Lisbon weekend.")
        yield tract


class Notes(Scaffold):
    """A scaffold of my own: a list of lines, rendered as content parts."""

    name = "notes"

    class State(BaseModel):
        lines: list[str] = Field(default_factory=list)

    @operation
    def write(self, line: str) -> None:
        """Add a line.

        Args:
            line: The line.
        """
        if not line.strip():
            raise ValueError("an empty line; write some text")
        self.state.lines.append(line)

    @operation(name="write_twice")
    def twice(self, line: str) -> int:
        """Add a line two times (one operation calling another).

        Args:
            line: The line.
        """
        self.write(line)
        self.write(line)
        return len(self.state.lines)

    def render(self) -> list[dict[str, Any]]:
        return [{"type": "text", "text": "Notes:\n" + "\n".join(self.state.lines)}]


# -- mounting and operations ----------------------------------------------------------------------


def test_the_model_always_sees_the_current_state_and_history_keeps_every_one(t: Tract) -> None:
    mounted = t.mount(TaskList())
    assert mounted.key == "scaffold:tasks" and mounted.name == "tasks"
    first = t.show(mounted.commit)
    assert first.key == "scaffold:tasks" and first.lifecycle == Sticky() and first.content_type == "scaffold"
    assert first.metadata == {
        "scaffold": {"class": "tract_core.components.tasks:TaskList", "state": {"next_id": 1, "tasks": []}}
    }

    assert t.execute_tool(call("tasks_add", {"text": "Book the flights"}))["content"] == '{"id": 1}'
    t.assistant("Added it.")  # a cycle passes: the sticky list stays at the end
    t.user("Also a hotel, please.")
    t.execute_tool(call("tasks_add", {"text": "Reserve a hotel"}, "c2"))
    t.execute_tool(call("tasks_complete", {"id": 1}, "c3"))

    assert contents(t) == [
        "You plan trips.",
        "Plan my Lisbon weekend.",
        "Added it.",
        "Also a hotel, please.",
        "Task list (tasks): 1 of 2 done\n[x] 1. Book the flights\n[ ] 2. Reserve a hotel",
    ]
    assert scaffold_commits(t) == [  # newest first: every state, the model saw only the newest
        "Task list (tasks): 1 of 2 done\n[x] 1. Book the flights\n[ ] 2. Reserve a hotel",
        "Task list (tasks): 0 of 2 done\n[ ] 1. Book the flights\n[ ] 2. Reserve a hotel",
        "Task list (tasks): 0 of 1 done\n[ ] 1. Book the flights",
        "Task list (tasks): empty (add tasks with tasks_add)",
    ]
    assert [c.content for c in mounted.instances()] == scaffold_commits(t)
    assert mounted.commit == t.head
    assert t.show(t.head).message == "scaffold tasks: complete"


def test_an_operation_that_changes_nothing_commits_nothing(t: Tract) -> None:
    tasks = TaskList()
    t.mount(tasks)
    tasks.add("Book the flights")
    tasks.complete(1)
    head = t.head
    assert tasks.complete(1) == {"id": 1, "done": True}  # already done
    assert t.execute_tool(call("tasks_reorder", {"ids": [1]}))["content"] == '{"order": [1]}'
    assert t.head == head
    t.mount(tasks)  # mounting again, same state and lifecycle: nothing either
    assert t.head == head


def test_bad_calls_are_errors_the_model_reads_and_write_nothing(t: Tract) -> None:
    tasks = TaskList()
    t.mount(tasks)
    tasks.add("Book the flights")
    head, state = t.head, tasks.state.model_dump()

    mistyped = t.execute_tool(call("tasks_complete", {"id": "one"}))
    assert mistyped == {
        "role": "tool",
        "tool_call_id": "c1",
        "content": "Error: bad arguments for tasks_complete: id: Input should be a valid integer (got 'one')",
    }
    unknown = t.execute_tool({"type": "tool_use", "id": "u1", "name": "tasks_remove", "input": {"id": 7}})
    assert unknown == {
        "type": "tool_result",
        "tool_use_id": "u1",
        "content": "Error: there is no task 7; the task ids are: 1",
        "is_error": True,
    }
    extra = t.execute_tool(call("tasks_add", {"text": "x", "when": "now"}))["content"]
    assert extra.startswith("Error: bad arguments for tasks_add: when: Extra inputs are not permitted")
    misspelt = t.execute_tool(call("tasks_ad", {"text": "x"}))["content"]
    assert misspelt.startswith("Error: tool 'tasks_ad' does not exist; the tools are: ")
    assert "tasks_add" in misspelt and "context_log" in misspelt
    blank = t.execute_tool(call("tasks_add", {"text": "   "}))["content"]
    assert blank == "Error: a task needs some text, e.g. 'Book the flights'"
    assert (t.head, tasks.state.model_dump()) == (head, state)


def test_a_refused_operation_leaves_the_state_as_it_was(t: Tract) -> None:
    class Fragile(Notes):
        name = "fragile"

        @operation
        def write_then_fail(self, line: str) -> None:
            """Write a line, then refuse.

            Args:
                line: The line.
            """
            self.state.lines.append(line)
            raise InvalidInputError("refused after writing")

    notes = Fragile()
    t.mount(notes)
    head = t.head
    result = t.execute_tool({"name": "fragile_write_then_fail", "arguments": {"line": "half"}})
    assert result["is_error"] and result["content"] == "Error: refused after writing"
    assert t.execute_tool({"name": "fragile_write", "arguments": {"line": " "}})["content"] == (
        "Error: ValueError: an empty line; write some text"
    )
    with pytest.raises(InvalidInputError, match="refused after writing"):
        notes.write_then_fail("from python")
    assert notes.state.lines == [] and t.head == head


def test_an_operation_calling_another_commits_once_and_content_parts_render(t: Tract) -> None:
    notes = Notes()
    t.mount(notes, lifecycle=Temporary(3))
    before = len(t.log(limit=None))
    result = t.execute_tool({"name": "notes_write_twice", "arguments": {"line": "Pack sunscreen"}})
    assert result["content"] == "2"
    assert len(t.log(limit=None)) == before + 1
    assert t.compile().to_openai()[-1] == {
        "role": "user",
        "content": [{"type": "text", "text": "Notes:\nPack sunscreen\nPack sunscreen"}],
    }
    assert t.show(t.head).lifecycle == Temporary(3)  # operations keep the mount's lifecycle
    assert t.execute_tool({"name": "notes_write", "arguments": {"line": "Hat"}})["content"] == '{"ok": true}'


def test_operations_are_tools_in_every_format_with_schemas_from_their_docstrings(t: Tract) -> None:
    assert not any(d["function"]["name"].startswith("tasks_") for d in t.as_tools())
    t.mount(TaskList())
    t.mount(WorkingMemory())
    openai = {d["function"]["name"]: d["function"] for d in t.as_tools(profile="supervisor")}
    assert openai["tasks_reorder"] == {
        "name": "tasks_reorder",
        "description": "Change the order of your tasks: the ids given come first, in that order; the others follow\n"
        "in their current order.",
        "parameters": {
            "type": "object",
            "properties": {
                "ids": {
                    "type": "array",
                    "items": {"type": "integer"},
                    "description": "Task ids in the order they should come first.",
                }
            },
            "required": ["ids"],
            "additionalProperties": False,
        },
    }
    assert {"memory_set", "memory_delete", "memory_clear", "context_gc"} <= set(openai)
    anthropic = {d["name"]: d for d in t.as_tools(format="anthropic", prefix="ctx_")}
    assert anthropic["memory_set"]["input_schema"]["required"] == ["key", "value"]
    assert "ctx_log" in anthropic and "context_log" not in anthropic
    assert not any(d["function"]["name"].startswith("tasks_") for d in t.as_tools(scaffolds=False))

    class Diary(Notes):
        name = "my"

        @operation
        def status(self) -> str:
            """How many lines."""
            return str(len(self.state.lines))

    t.mount(Diary())
    with pytest.raises(InvalidInputError, match="prefix 'my_' makes my_status both a context tool and a scaffold"):
        t.as_tools(prefix="my_")


# -- reopening, handles, branches ------------------------------------------------------------------


def test_reopening_restores_each_scaffold_from_its_newest_instance(db: Path) -> None:
    with Tract.open(db) as t:
        t.user("Plan my trip.")
        t.mount(TaskList()).scaffold.add("Book the flights")
        memory = t.mount(WorkingMemory(), lifecycle=Sticky(offset=-1)).scaffold
        memory.set("city", "Lisbon")

    with Tract.open(db) as t:
        assert [(s.name, s.class_path, s.loaded) for s in t.scaffolds()] == [
            ("memory", "tract_core.components.memory:WorkingMemory", False),
            ("tasks", "tract_core.components.tasks:TaskList", False),
        ]
        # the model's tools are back without any code: each scaffold is rebuilt from its class path
        result = t.execute_tool(call("tasks_add", {"text": "Reserve a hotel"}))
        assert result["content"] == '{"id": 2}'  # ids go on from the stored state
        restored = t.scaffold("memory")
        assert restored.state.notes == {"city": "Lisbon"} and restored.lifecycle == Sticky(offset=-1)
        assert [s.loaded for s in t.scaffolds()] == [True, True]
        head = t.head
        again = TaskList()
        assert t.mount(again).scaffold is again  # the same class resumes from the stored state...
        assert [x.text for x in again.state.tasks] == ["Book the flights", "Reserve a hotel"]
        assert t.head == head  # ...and commits nothing: the rendering is the same
        restored.scaffold.delete("city")

    with Tract.open(db) as t:
        fresh = TaskList(state={"tasks": [{"id": 1, "text": "Start over"}], "next_id": 2})
        t.mount(fresh, resume=False)  # the object's state replaces the stored one
        assert contents(t) == [  # memory: Sticky(offset=-1), just before the active head's messages
            "Working memory (memory): empty (write notes with memory_set)",
            "Plan my trip.",
            "Task list (tasks): 0 of 1 done\n[ ] 1. Start over",
        ]


def test_a_class_that_cannot_be_loaded_is_named_and_its_state_stays_readable(db: Path) -> None:
    with Tract.open(db) as t:
        t.commit(  # what a scaffold of a class this process does not have leaves behind
            "Ghost: 3",
            role="user",
            key="scaffold:ghost",
            lifecycle=Sticky(),
            metadata={"scaffold": {"class": "no_such_package.ghosts:Ghost", "state": {"count": 3}}},
        )
        t.mount(TaskList())

    with Tract.open(db) as t:
        (ghost, tasks) = t.scaffolds()
        assert (ghost.name, ghost.class_path, ghost.state) == ("ghost", "no_such_package.ghosts:Ghost", {"count": 3})
        with pytest.raises(ScaffoldClassError) as raised:
            t.scaffold("ghost")
        assert str(raised.value).startswith(
            "scaffold 'ghost' was mounted as no_such_package.ghosts:Ghost, which cannot be loaded here"
        )
        assert "mount an instance with t.mount(Ghost(...))" in str(raised.value)
        with pytest.raises(ScaffoldClassError, match="no_such_package.ghosts:Ghost"):
            t.as_tools()
        # the other scaffold still works; a call to the ghost's tools is an error the model reads
        assert t.execute_tool(call("tasks_add", {"text": "Book"}))["content"] == '{"id": 1}'
        assert t.execute_tool(call("ghost_bump", {}))["content"].startswith("Error: tool 'ghost_bump' does not exist")
        with pytest.raises(ScaffoldClassError, match="unmount it first"):
            t.mount(WorkingMemory(), name="tasks")


def test_another_handle_and_a_branch_switch_are_seen_before_the_next_operation(db: Path) -> None:
    with Tract.open(db) as a, Tract.open(db) as b:
        tasks = TaskList()
        a.mount(tasks)
        tasks.add("Book the flights")
        b.scaffold("tasks").scaffold.add("Reserve a hotel")  # another handle on the same branch
        assert tasks.add("Rent a car") == {"id": 3}  # loaded b's instance first
        assert [x.text for x in tasks.state.tasks] == ["Book the flights", "Reserve a hotel", "Rent a car"]

        a.branch("no-car")
        a.switch("no-car")
        a.reset(a.log(limit=2)[1].hash, "hard")  # drop the car on this branch
        tasks.complete(1)
        assert [(x.id, x.done) for x in tasks.state.tasks] == [(1, True), (2, False)]
        a.switch("main")
        assert a.scaffold("tasks").state.tasks[0].done is False  # main's state, not no-car's
        assert len(tasks.state.tasks) == 3


def test_unmount_takes_it_out_of_the_context_and_the_tools(t: Tract) -> None:
    tasks = TaskList()
    mounted = t.mount(tasks)
    tasks.add("Book the flights")
    marker = t.unmount("tasks")
    assert marker.metadata == {"scaffold": {"class": mounted.class_path, "unmounted": True}}
    assert contents(t) == ["You plan trips.", "Plan my Lisbon weekend."]
    assert t.scaffolds() == [] and tasks.mounted is None
    assert not any(d["function"]["name"].startswith("tasks_") for d in t.as_tools())
    assert t.execute_tool(call("tasks_add", {"text": "x"}))["content"].startswith("Error: tool 'tasks_add' does not")
    head = t.head
    tasks.add("Offline")  # a plain object now: nothing is committed
    assert t.head == head and len(scaffold_commits(t)) == 3  # history keeps everything
    with pytest.raises(ScaffoldNotFoundError, match=r"no scaffold named 'tasks' is mounted .*\(mounted: none\)"):
        t.unmount("tasks")
    with pytest.raises(ScaffoldNotFoundError):
        t.scaffold("tasks")
    t.mount(TaskList())  # mounted again: it starts from the new object's state
    assert contents(t)[-1] == "Task list (tasks): empty (add tasks with tasks_add)"


def test_parallel_tool_calls_are_serialised(t: Tract) -> None:
    t.mount(TaskList())
    results: list[dict[str, Any]] = []
    start = threading.Barrier(8)

    def worker(i: int) -> None:
        start.wait()
        results.append(t.execute_tool(call("tasks_add", {"text": f"task {i}"}, f"c{i}")))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(json.loads(r["content"])["id"] for r in results) == list(range(1, 9))
    assert len(scaffold_commits(t)) == 9
    assert t.scaffold("tasks").state.next_id == 9


def test_two_handles_changing_one_scaffold_at_once_lose_nothing(db: Path) -> None:
    with Tract.open(db) as setup:
        setup.user("Plan my trip.")
        setup.mount(TaskList())
    handles = [Tract.open(db), Tract.open(db)]
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def worker(t: Tract, who: str) -> None:
        try:
            start.wait()
            for i in range(5):  # each operation reads the newest instance and commits in one transaction
                result = t.execute_tool(call("tasks_add", {"text": f"{who} {i}"}, f"{who}{i}"))
                assert not result["content"].startswith("Error"), result
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=worker, args=(t, who)) for t, who in zip(handles, "ab", strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for t in handles:
        t.close()
    assert failures == []
    with Tract.open(db) as t:
        tasks = t.scaffold("tasks").state.tasks
        assert sorted(x.id for x in tasks) == list(range(1, 11))
        assert sorted(x.text for x in tasks) == sorted(f"{w} {i}" for w in "ab" for i in range(5))


def test_compression_keeps_the_current_instance_and_it_restores(db: Path) -> None:
    with Tract.open(db) as t:
        t.system("You plan trips.")
        memory = WorkingMemory()
        t.mount(memory)
        for i in range(4):
            t.user(f"question {i}")
            memory.set("step", str(i))
            t.assistant(f"answer {i}")
        t.compress(content="We planned four steps.", keep_recent=2)
        assert contents(t)[-1] == "Working memory (memory): 1 note\n- step: 3"
    with Tract.open(db) as t:
        assert t.scaffold("memory").state.notes == {"step": "3"}


# -- the two shipped scaffolds ---------------------------------------------------------------------


def test_task_list_operations(t: Tract) -> None:
    tasks = t.mount(TaskList()).scaffold
    for text in ("Flights", "Hotel", "Car", "Museum"):
        tasks.add(text)
    assert tasks.reorder([3, 1]) == {"order": [3, 1, 2, 4]}
    assert tasks.remove(2) == {"removed": 2, "left": 3}
    tasks.complete(3)
    assert tasks.add("Dinner") == {"id": 5}  # ids are never reused
    assert tasks.complete(3, done=False) == {"id": 3, "done": False}
    assert contents(t)[-1] == (
        "Task list (tasks): 0 of 4 done\n[ ] 3. Car\n[ ] 1. Flights\n[ ] 4. Museum\n[ ] 5. Dinner"
    )
    for bad, message in [
        ({"ids": [1, 1]}, "each id may appear once in ids, not [1, 1]"),
        ({"ids": [9]}, "there is no task 9; the task ids are: 3, 1, 4, 5"),
    ]:
        assert t.execute_tool(call("tasks_reorder", bad))["content"] == f"Error: {message}"
    small = type("SmallList", (TaskList,), {"max_tasks": 4, "max_text": 10})(name="small")
    t.mount(small)
    with pytest.raises(InvalidInputError, match="at most 10 characters"):
        small.add("x" * 11)
    for i in range(4):
        small.add(f"t{i}")
    assert t.execute_tool(call("small_add", {"text": "one more"}))["content"] == (
        "Error: the task list is full (4 tasks): remove finished ones with small_remove first"
    )


def test_working_memory_operations_and_limits(t: Tract) -> None:
    memory = t.mount(WorkingMemory()).scaffold
    memory.set("user.name", "Ada")
    memory.set("budget", "1500 EUR")
    memory.set("user.name", "Ada Lovelace")
    assert contents(t)[-1] == "Working memory (memory): 2 notes\n- budget: 1500 EUR\n- user.name: Ada Lovelace"
    checks = [
        ("memory_set", {"key": "bad key", "value": "x"}, "a key is 1 to 40 letters, digits or _ . : / -"),
        ("memory_set", {"key": "k", "value": "x" * 501}, "a value is at most 500 characters (got 501)"),
        ("memory_set", {"key": "k", "value": "  "}, "a note needs a value; delete a note with memory_delete"),
        ("memory_delete", {"key": "nope"}, "there is no note 'nope'; the keys are: budget, user.name"),
    ]
    head = t.head
    for name, arguments, message in checks:
        assert t.execute_tool(call(name, arguments))["content"].startswith(f"Error: {message}")
    assert t.head == head
    assert t.execute_tool(call("memory_clear", {}))["content"] == '{"deleted": 2}'
    full = type("Tiny", (WorkingMemory,), {"max_notes": 1})(name="tiny")
    t.mount(full)
    full.set("a", "1")
    full.set("a", "2")  # replacing a note is fine when full
    with pytest.raises(InvalidInputError, match=r"full \(1 notes\): delete one with tiny_delete first"):
        full.set("b", "3")


# -- mistakes a developer makes ---------------------------------------------------------------------


def test_bad_scaffolds_and_mounts_are_refused_clearly(t: Tract) -> None:
    with pytest.raises(InvalidInputError, match="give when a type hint"):

        class Untyped(Notes):
            @operation
            def later(self, when) -> None:  # type: ignore[no-untyped-def]
                """Later."""

    with pytest.raises(InvalidInputError, match="nested `class State"):

        class Stateless(Scaffold):
            def render(self) -> str:
                return ""

        Stateless()
    with pytest.raises(TypeError, match="abstract method render"):  # refused when made, not when first shown

        class Unrendered(Scaffold):
            class State(BaseModel):
                n: int = 0

        Unrendered()
    with pytest.raises(InvalidInputError, match="scaffold name is a letter"):
        TaskList(name="my tasks")
    with pytest.raises(InvalidInputError, match="'context' is reserved"):
        t.mount(TaskList(), name="context")
    with pytest.raises(InvalidInputError, match="mount takes a Scaffold"):
        t.mount("tasks")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="state does not fit TaskList.State"):
        TaskList(state={"tasks": "none"})

    class Broken(Notes):
        name = "broken"

        def render(self) -> Any:
            return 42

    head = t.head
    with pytest.raises(InvalidInputError, match=r"render\(\) must return text or a list of content parts"):
        t.mount(Broken())
    assert t.head == head and t.scaffolds() == []

    tasks = TaskList()
    t.mount(tasks)
    with Tract.open() as other, pytest.raises(InvalidInputError, match="already mounted as 'tasks'"):
        other.mount(tasks)

    class Task2(Notes):
        name = "tasks_x"

        @operation
        def y(self) -> None:
            """Y."""

    class Clash(Notes):
        @operation
        def x_y(self) -> None:
            """Clash."""

    t.mount(Task2())
    with pytest.raises(InvalidInputError, match="would offer tasks_x_y, a tool of mounted scaffold 'tasks_x'"):
        t.mount(Clash(), name="tasks")
