"""The selector engine's columns (tract_core/tree/selectors/columns.py): kept per compile's growing
slot list and extended by each commit, they must equal what a rebuild from scratch gives (the
``Node`` of every message, by :func:`nodes_of` and the reference coordinates) after every commit of
random histories with lifecycles, keys, placements, annotations and edits, also for older contexts
of the same list; and a select after a commit must read only the new messages."""

from __future__ import annotations

from typing import Any, NamedTuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tract_core import PINNED, SKIP, Tract
from tract_core.formats import CompiledContext
from tract_core.tree import Cyclic, Sticky, Temporary, parse_selector
from tract_core.tree.coordinates import REGIONS, context_coordinates
from tract_core.tree.selectors import columns
from tract_core.tree.selectors.engine import ContextIndex, evaluate
from tract_core.tree.snapshot import NODE_FIELDS, nodes_of

LIVES = [None, None, Temporary(0), Temporary(2), Cyclic(every=2), Sticky(), Sticky(-1)]
QUERIES = [
    "*",
    "^sys",
    "^seq",
    "^ah > *",
    "^ah *",
    "* > *",
    ".user:last",
    ".assistant:nth(1)",
    "(d1..d*, 0..1)",
    "(d0,*,-2..-1), :post",
    "^seq .tool_result(d2..d*)",
    ".user > .user",
    "+red, #k:1",
    "{n>=2}",
    "{model=m-a}",
    "{tokens>12} @limit=3",
    ':contains("note")',
    "[sticky], [ttl], [pinned], [skipped=false]:first",
]


def reference(context: CompiledContext) -> ContextIndex:
    """The index rebuilt from scratch: columns read from the slots, coordinates by context_coordinates."""
    slots = list(context._slots or ())
    return ContextIndex(
        context, slots, coordinates=[(c.depth, c.index, c.offset) for c in context_coordinates(context)]
    )


def check(t: Tract, context: CompiledContext, queries: bool = True) -> None:
    index = ContextIndex.of_context(context)
    rebuilt = reference(context)
    expected = nodes_of(context)
    assert [index.node(i) for i in range(index.size)] == expected
    for name in NODE_FIELDS:
        assert index.column(name) == [getattr(n, name) for n in expected], name
    for name in ("text", "metadata", "source"):
        assert index.column(name) == rebuilt.column(name), name
    for region in REGIONS:
        for direct in (True, False):
            assert index.members(region, direct) == rebuilt.members(region, direct)
    assert [list(index.children_of(i)) for i in range(index.size)] == [
        list(rebuilt.children_of(i)) for i in range(index.size)
    ]

    def load(sources: Any) -> dict[str, Any]:
        return {source: t.show(source).generation_config for source in sources}

    assert index.configs(load) == rebuilt.configs(load)
    if queries:
        for query in QUERIES:
            parsed = parse_selector(query)
            assert evaluate(parsed, index, load) == evaluate(parsed, rebuilt, load), query


def apply(t: Tract, op: tuple[Any, ...], step: int, said: list[str]) -> None:
    kind = op[0]
    shown = t.compile().commit_hashes
    if kind == "user":
        _, life, tags, n = op
        meta = {"tags": tags, "n": n} if tags else {"n": n}
        said.append(t.user(f"note {step}", lifecycle=life, metadata=meta).hash)
    elif kind == "system":
        said.append(t.system(f"rule {step}").hash)
    elif kind == "assistant":
        said.append(t.assistant(f"reply {step}", generation_config={"model": op[1]}).hash)
    elif kind == "tool":
        _, life, key = op
        call = {"id": f"c{step}", "type": "function", "function": {"name": "find", "arguments": "{}"}}
        said.append(t.assistant(tool_calls=[call]).hash)
        said.append(t.tool_result(f"c{step}", f"result {step}", lifecycle=life, key=key).hash)
    elif kind == "attach":
        _, pick, offset = op
        anchors = [h for h in shown if t.show(h).placement is None]
        if anchors:
            anchor = anchors[pick % len(anchors)]
            said.append(t.user(f"attached {step}", attach_to=anchor, offset=offset).hash)
    elif kind == "annotate" and said:
        _, pick, priority = op
        target = said[pick % len(said)]
        if target in shown:
            t.annotate(target, priority)
    elif kind == "edit" and said:
        target = said[op[1] % len(said)]
        info = t.show(target)
        if target in shown and info.role == "user":
            t.commit(f"edited note {step}", operation="edit", response_to=target)


operations = st.one_of(
    st.tuples(st.just("user"), st.sampled_from(LIVES), st.sampled_from([[], ["red"], ["red", "blue"]]),
              st.integers(0, 3)),
    st.tuples(st.just("assistant"), st.sampled_from(["m-a", "m-b"])),
    st.tuples(st.just("assistant"), st.sampled_from(["m-a", "m-b"])),
    st.tuples(st.just("tool"), st.sampled_from(LIVES), st.sampled_from([None, "k:1", "k:2"])),
    st.tuples(st.just("system")),
    st.tuples(st.just("attach"), st.integers(0, 100), st.sampled_from([-2, -1, 1, 2])),
    st.tuples(st.just("annotate"), st.integers(0, 100), st.sampled_from([PINNED, SKIP])),
    st.tuples(st.just("edit"), st.integers(0, 100)),
)  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, min_size=1, max_size=14), st.booleans())
def test_the_columns_equal_a_rebuild_after_every_commit(ops: list[tuple[Any, ...]], leading_system: bool) -> None:
    with Tract.open() as t:
        if leading_system:
            t.system("You are terse.")
        said: list[str] = []
        contexts = [t.compile()]
        for step, op in enumerate(ops):
            apply(t, op, step, said)
            contexts.append(t.compile())
            check(t, contexts[-1])
        for context in contexts:  # older contexts of a list that grew since
            check(t, context, queries=False)


def test_a_long_history_with_expiring_and_sticky_nodes_matches_a_rebuild() -> None:
    """More expired nodes than compile masks before it rebuilds its base, a sticky note before the
    active head, and a select after every commit (each index extends the previous one's table)."""
    with Tract.open() as t:
        t.system("You are terse.")
        t.user("plan: pro", lifecycle=Sticky(-1))
        for turn in range(90):
            t.user(f"question {turn}", metadata={"tags": ["red"]} if turn % 3 == 0 else None)
            t.user(f"hint {turn}", lifecycle=Temporary(1))
            t.assistant(f"answer {turn}", generation_config={"model": "m-a"})
            t.select(".user")
            if turn % 15 == 0:
                check(t, t.compile())
        check(t, t.compile())


def test_a_select_after_a_commit_reads_only_the_new_messages(monkeypatch: Any) -> None:
    read: list[int] = []
    real = columns.SLOT_COLUMNS["role"]

    def counted(slots: Any) -> list[Any]:
        read.append(len(slots))
        return real(slots)

    monkeypatch.setitem(columns.SLOT_COLUMNS, "role", counted)
    with Tract.open() as t:
        t.system("You are terse.")
        for turn in range(50):
            t.user(f"question {turn}")
            t.assistant(f"answer {turn}")
        assert len(t.select(".user")) == 50 and sum(read) == 101
        # compile's full build (HEAD moved far since its last compile) hands out a context of its own
        # list; the next commit starts the list later contexts grow, read once here
        t.user("warm-up")
        assert len(t.select(".user")) == 51
        for turn in range(3):
            read.clear()
            t.user(f"follow-up {turn}")
            assert t.select(".user:last").ids == [t.head]
            assert read == [1]  # the one new message
            read.clear()
            t.assistant(f"reply {turn}")
            assert [n.depth for n in t.select("^seq .user:last")] == [1]
            assert read == [1]


class FakeSlot(NamedTuple):
    role: str
    placement: Any = None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["system", "user", "assistant", "tool", "developer"]), max_size=14),
    st.data(),
)
def test_masked_coordinates_equal_a_walk_of_the_view(roles: list[str], data: Any) -> None:
    """A view hiding some messages, showing some before a position and some after the end (a
    MaskedSequence's layout) gets the coordinates a walk of its roles gives, or None (then the engine walks)."""
    items = [FakeSlot(role) for role in roles]
    length = data.draw(st.integers(0, len(items)))
    mask = tuple(sorted(data.draw(st.sets(st.integers(0, length - 1), max_size=4)) if length else ()))
    pre_at = data.draw(st.integers(0, length))
    moved = st.lists(st.sampled_from(["user", "tool", "assistant", "system"]).map(FakeSlot), max_size=2)
    pre, tail = tuple(data.draw(moved)), tuple(data.draw(moved))
    table = columns.SlotTable(items)
    found = table.masked_coordinates((mask, length, pre_at, pre, tail))
    view = columns.layout([s.role for s in items], mask, length, pre_at, [s.role for s in pre], [s.role for s in tail])
    walked = columns.PlainCoordinates.of_roles(view)
    if found is None:
        return
    assert (found.size, found.leading, found.sealed, found.head_start) == (
        walked.size,
        walked.leading,
        walked.sealed,
        walked.head_start,
    )
    assert found.depths() == walked.depths() and found.regions() == walked.regions()
    assert found.indexes[: found.size] == walked.indexes[: walked.size]
