"""Compile extends the previous commit's context in O(live) per cycle: it must show exactly what a
fresh compile of the whole history shows, whatever the lifecycles, keys, tool pairs, pins, skips and
edits, lifecycles changed later, attached nodes and sticky offsets (DESIGN 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tract_core import SKIP, Tract
from tract_core.tree import Cyclic, Sticky, Temporary

LIFECYCLES = [
    None,
    None,
    Temporary(0),
    Temporary(1),
    Temporary(3),
    Cyclic(2),
    Cyclic(3, 2),
    Sticky(),
    Sticky(offset=-1),
]
KEYS = [None, None, "weather:NYC", "todo"]


def fresh(path: Path) -> Any:
    """What a new handle compiles from the whole history (no cached state)."""
    with Tract.open(path=path) as other:
        return _seen(other.compile())


def compiled(t: Tract) -> Any:
    """HEAD's compile, checked against the reference algorithm run on the same state's slots."""
    context = t.compile()
    state = t._compiler.cached_state(context.head)
    assert state is not None and _seen(t._compiler.reference(state)) == _seen(context)
    return _seen(context)


def _seen(context: Any) -> Any:
    return (
        context.to_openai(),
        context.commit_hashes,
        context.token_count,
        [(e.commit, e.source, e.tokens, e.priority, e.content_hash) for e in context.entries()],
    )


def _apply(t: Tract, op: tuple[Any, ...], step: int, messages: list[str], calls: list[str]) -> None:
    kind = op[0]
    if kind == "user":
        _, life, key = op
        messages.append(t.user(f"note {step}", lifecycle=life, key=key).hash)
    elif kind == "assistant":
        messages.append(t.assistant(f"reply {step}").hash)
    elif kind == "tool":
        _, life, key, n = op
        ids = [f"call_{step}_{i}" for i in range(n)]
        tool_calls = [{"id": i, "type": "function", "function": {"name": "weather", "arguments": "{}"}} for i in ids]
        messages.append(t.assistant("", tool_calls=tool_calls).hash)
        for i in ids:
            messages.append(t.tool_result(i, f"sunny {step}", lifecycle=life, key=key).hash)
            calls.append(i)
    elif kind == "annotate" and messages:
        _, pick, priority = op
        t.annotate(messages[pick % len(messages)], priority)
    elif kind == "attach" and messages:
        _, pick, offset, life = op
        anchor = messages[pick % len(messages)]
        if t.show(anchor).placement is None:
            messages.append(t.user(f"attached {step}", attach_to=anchor, offset=offset, lifecycle=life).hash)
    elif kind == "relife" and messages:
        _, pick, life = op
        t.set_lifecycle(messages[pick % len(messages)], life)
    elif kind == "edit" and messages:
        _, pick = op
        target = messages[pick % len(messages)]
        info = t.show(target)
        if info.role != "tool" and not (info.body or {}).get("tool_calls"):
            t.commit(f"edited at {step}", operation="edit", response_to=target)


operations = st.one_of(
    st.tuples(st.just("user"), st.sampled_from(LIFECYCLES), st.sampled_from(KEYS)),
    st.tuples(st.just("assistant")),
    st.tuples(st.just("assistant")),
    st.tuples(st.just("tool"), st.sampled_from(LIFECYCLES), st.sampled_from(KEYS), st.integers(1, 2)),
    st.tuples(st.just("annotate"), st.integers(0, 10**6), st.sampled_from(["pinned", "skip", "normal"])),
    st.tuples(st.just("edit"), st.integers(0, 10**6)),
    st.tuples(st.just("relife"), st.integers(0, 10**6), st.sampled_from(LIFECYCLES)),
    st.tuples(st.just("attach"), st.integers(0, 10**6), st.sampled_from([-2, -1, 1, 2]), st.sampled_from(LIFECYCLES)),
)


@settings(max_examples=50, print_blob=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operations, min_size=1, max_size=24))
def test_the_incremental_context_equals_a_fresh_compile_after_every_commit(tmp_path_factory: Any, ops: list) -> None:
    path = tmp_path_factory.mktemp("incremental") / "t.db"
    messages: list[str] = []
    calls: list[str] = []
    with Tract.open(path=path) as t:
        t.system("You are terse.")
        t.compile()
        for step, op in enumerate(ops):
            _apply(t, op, step, messages, calls)
            assert compiled(t) == fresh(path), f"after step {step}: {op}"


def test_a_long_session_of_keyed_and_expiring_nodes_stays_equal_to_a_fresh_compile(tmp_path: Path) -> None:
    """Hundreds of superseded and expired nodes (more than compile masks before it rebuilds its base),
    keyed tool results that supersede each other, a sticky note and a cyclic reminder."""
    path = tmp_path / "long.db"
    with Tract.open(path=path) as t:
        t.system("You are terse.")
        t.user("Remember the plan.", lifecycle=Sticky())
        t.user("Check the budget.", lifecycle=Cyclic(3))
        for cycle in range(160):
            t.user(f"question {cycle}")
            t.user(f"state {cycle % 5} is {cycle}", key=f"state:{cycle % 5}")
            if cycle % 4 == 0:
                call = {"id": f"c{cycle}", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
                t.assistant("", tool_calls=[call])
                t.tool_result(f"c{cycle}", f"{cycle} degrees", key="weather")
            t.user(f"aside {cycle}", lifecycle=Temporary(2))
            t.compile()
            t.assistant(f"answer {cycle}")
            if cycle % 40 == 39:
                assert compiled(t) == fresh(path)
        context = t.compile()
        shown = [m["content"] for m in context.to_openai()]
        assert shown[-1] == "Remember the plan."  # sticky: after the active head, every cycle
        assert sum(1 for c in shown if isinstance(c, str) and c.startswith("state ")) == 5
        assert sum(1 for m in context.to_openai() if m["role"] == "tool") == 1  # the newest weather only
        assert [c for c in shown if isinstance(c, str) and c.startswith("aside")] == ["aside 158", "aside 159"]  # ttl 2
        assert compiled(t) == fresh(path)


def test_skipping_a_message_between_cycles_then_more_cycles_stay_equal(tmp_path: Path) -> None:
    path = tmp_path / "skip.db"
    with Tract.open(path=path) as t:
        t.system("s")
        first = t.user("first", lifecycle=Temporary(5))
        for cycle in range(6):
            t.user(f"u{cycle}", key="k")
            t.compile()
            t.assistant(f"a{cycle}")
            if cycle == 2:
                t.annotate(first.hash, SKIP)
            assert compiled(t) == fresh(path)
