"""Snapshot bytes pinned across backends: golden files of a fixed scenario compared on memory, SQLite
and PostgreSQL, and random histories (lifecycles, node keys, tool calls, EDITs, pins, skips) built in
memory and on SQLite or PostgreSQL giving identical bytes.

Regenerate the golden file (after an intended change of the encoding, with a new format version)
with ``TRACT_UPDATE_GOLDEN=1 pytest tests/core/test_snapshots.py``.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tract_core import EDIT, NORMAL, PINNED, SKIP, Cyclic, Lifecycle, Sticky, Temporary, Tract, TractConfig
from tract_core.tree import Snapshot, diff_snapshots

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "context-tree-history.jsonl"
"""Every snapshot of the scenario's ``@history``, one canonical JSON document per line."""


class Words:
    """One token per word: counts that do not depend on tiktoken being installed or online."""

    name = "words-golden"

    def count_text(self, text: str) -> int:
        return len(text.split())


CONFIG = TractConfig(token_counter=Words())


def scenario(t: Tract) -> None:
    """Support chat: system prompt, two exchanges, a tool call and its result, an EDIT of a reply, a
    pinned message and a skipped one."""
    t.system("You are Acme's support agent. Be brief and exact.")
    order = t.user("My order #1234 has not arrived. Can you check?")
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": '{"order": "1234"}'}}
    t.commit({"role": "assistant", "content": None, "tool_calls": [call]})
    t.tool_result("call_1", '{"status": "in transit", "shipped": "2026-11-30"}', name="lookup_order")
    reply = t.assistant("It shipped on 30 November and arrives in 3 days.")
    noise = t.user("Sorry, pasting my whole log: ERROR ERROR ERROR ... (2,000 lines) ... ünïcødé ✓")
    t.assistant("No need for the log: your parcel is on its way.")
    t.commit(
        {"role": "assistant", "content": "It shipped on 30 November and arrives in 2 to 4 business days."},
        operation=EDIT,
        response_to=reply,
    )
    t.annotate(order, PINNED, reason="the order number")
    t.annotate(noise, SKIP, reason="a pasted log")
    t.user("Thanks! Can I change the address?")


def history_bytes(t: Tract) -> bytes:
    return b"".join(s.canonical_bytes() + b"\n" for s in t.snapshot("@history"))


def test_golden_snapshot_bytes_on_every_backend(factory: Any) -> None:
    t = factory.open(config=CONFIG)
    scenario(t)
    produced = history_bytes(t)
    if os.environ.get("TRACT_UPDATE_GOLDEN") == "1" and factory.backend == "memory":
        GOLDEN.write_bytes(produced)
    assert produced == GOLDEN.read_bytes(), f"the snapshot bytes changed on {factory.backend}"
    snapshots = t.snapshot("@history")
    assert [s.at for s in snapshots] == ["@t-3", "@t-2", "@t-1", "@t0"]
    now = snapshots[-1]
    kinds = [(n.region, n.coordinate, n.role, n.content_type, n.priority) for n in now.nodes]
    assert kinds == [
        ("^sys", (-1, 0, 0), "system", "instruction", "pinned"),
        ("^seq", (3, 0, 0), "user", "dialogue", "pinned"),
        ("^seq", (3, 1, 0), "assistant", "tool_call", "normal"),
        ("^seq", (2, 0, 0), "tool", "tool_result", "normal"),
        ("^seq", (2, 1, 0), "assistant", "dialogue", "normal"),  # the edited reply, at its place
        ("^seq", (1, 0, 0), "assistant", "dialogue", "normal"),  # the skipped log left its cycle
        ("^ah", (0, 0, 0), "user", "dialogue", "normal"),
    ]
    for snapshot in snapshots:  # the stored bytes rebuild each snapshot and its provider bytes
        again = Snapshot.from_bytes(snapshot.canonical_bytes())
        for fmt in ("openai", "anthropic"):
            assert again.render(fmt) == t.compile(at_commit=snapshot.head).to_bytes(fmt)
    before = snapshots[-2]  # @t-1: what the model was sent before its last reply
    assert diff_snapshots(before, now) == {
        "added": [now.nodes[5].id, now.nodes[6].id],
        "removed": [before.nodes[5].id],  # the skipped log
        "changed": [
            {"id": now.nodes[1].id, "fields": ["priority"]},  # pinned since
            {"id": now.nodes[4].id, "fields": ["content_hash", "tokens"]},  # the EDIT
        ],
    }


GOLDEN_NODES = GOLDEN.with_name("context-tree-nodes.jsonl")
"""The ``@history`` of the second scenario: lifecycles, keyed tool state and attached nodes."""


def nodes_scenario(t: Tract) -> None:
    """A weather agent over four cycles: a sticky checklist before the active head, a Temporary notice,
    a Cyclic reminder, a keyed tool result that updates itself, and pre/post-context nodes."""
    t.system("You are a weather assistant.")
    t.user("(checklist: units, sources)", lifecycle=Sticky(offset=-1))
    t.user("(notice: the radar feed is down today)", lifecycle=Temporary(1))
    t.user("(reminder: offer the 7-day forecast)", lifecycle=Cyclic(2))
    for i, (city, sky) in enumerate((("NYC", "rain"), ("NYC", "snow"), ("Boston", "sun"))):
        question = t.user(f"Weather in {city}?")
        if i == 1:
            t.user("(the user travels tomorrow)", attach_to=question, offset=1)
            t.user("(asked twice today)", attach_to=question, offset=-1)
        call = {"id": f"call_{i}", "type": "function", "function": {"name": "weather", "arguments": f'"{city}"'}}
        t.commit({"role": "assistant", "content": None, "tool_calls": [call]})
        t.tool_result(f"call_{i}", f"{city}: {sky}", name="weather", key=f"weather:{city}")
        t.assistant(f"{city}: {sky}.")
    t.user("Thanks!")


def test_golden_snapshot_bytes_of_lifecycles_keys_and_placements_on_every_backend(factory: Any) -> None:
    t = factory.open(config=CONFIG)
    nodes_scenario(t)
    produced = history_bytes(t)
    if os.environ.get("TRACT_UPDATE_GOLDEN") == "1" and factory.backend == "memory":
        GOLDEN_NODES.write_bytes(produced)
    assert produced == GOLDEN_NODES.read_bytes(), f"the snapshot bytes changed on {factory.backend}"
    now = t.snapshot()
    shown = [m["content"] for m in now.messages]
    assert shown[-2] == "(checklist: units, sources)" and shown[-1] == "Thanks!"  # sticky, before the head
    assert "NYC: rain" not in shown and "NYC: snow" in shown  # the keyed result updated itself
    assert "(notice: the radar feed is down today)" not in shown  # its ttl ran out
    placed = {m["content"]: n.coordinate for n, m in zip(now.nodes, now.messages, strict=True)}
    assert placed["(asked twice today)"] == (4, 0, -1) and placed["(the user travels tomorrow)"] == (4, 0, 1)
    assert placed["NYC: snow"] == (3, 0, 0) and "weather:NYC" in {n.key for n in now.nodes}
    for snapshot in t.snapshot("@history"):
        again = Snapshot.from_bytes(snapshot.canonical_bytes())
        for fmt in ("openai", "anthropic", "gemini"):
            assert again.render(fmt) == t.compile(at_commit=snapshot.head).to_bytes(fmt)


# -- random histories on two backends ----------------------------------------------------------

TEXTS = ("", "ok", "How do I return shoes?", "30 days", "héllo ✓ 日本", "line one\nline two")
LIFECYCLES = (None, None, Temporary(0), Temporary(2), Cyclic(2), Cyclic(3, 2), Sticky(), Lifecycle(ttl=3, cadence=2))
KEYS = (None, None, "weather:NYC", "state")
step = st.one_of(
    st.tuples(
        st.just("say"),
        st.sampled_from(("system", "user", "assistant", "assistant")),
        st.sampled_from(TEXTS),
        st.sampled_from(LIFECYCLES),
        st.sampled_from(KEYS),
    ),
    st.tuples(st.just("tool"), st.sampled_from(TEXTS), st.sampled_from(LIFECYCLES), st.sampled_from(KEYS)),
    st.tuples(st.just("edit"), st.integers(0, 10**6), st.sampled_from(TEXTS)),
    st.tuples(st.just("annotate"), st.integers(0, 10**6), st.sampled_from((PINNED, SKIP, NORMAL))),
)
_ids = itertools.count()


def apply(t: Tract, steps: list[tuple[Any, ...]]) -> None:
    """Replay ``steps`` on ``t``: messages (with lifecycles and node keys), tool calls with their results
    (the result keyed, with a lifecycle), EDITs, pins and skips."""
    said: list[tuple[str, str]] = []  # (commit, role) of each appended message
    calls = itertools.count()
    for kind, *args in steps:
        if kind == "say":
            role, text, life, key = args
            said.append((t.commit({"role": role, "content": text}, lifecycle=life, key=key).hash, role))
        elif kind == "tool":
            text, life, key = args
            call_id = f"call_{next(calls)}"
            call = {"id": call_id, "type": "function", "function": {"name": "look", "arguments": "{}"}}
            said.append((t.commit({"role": "assistant", "content": None, "tool_calls": [call]}).hash, "tool_call"))
            said.append((t.tool_result(call_id, text, lifecycle=life, key=key).hash, "tool"))
        elif said and kind == "edit":
            target, role = said[args[0] % len(said)]
            if role not in ("tool", "tool_call"):
                t.commit({"role": role, "content": args[1] + " (edited)"}, operation=EDIT, response_to=target)
        elif said and kind == "annotate":
            t.annotate(said[args[0] % len(said)][0], args[1])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_random_histories_give_the_same_snapshot_bytes_on_two_backends(factory: Any) -> None:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(step, min_size=1, max_size=20))
    def check(steps: list[tuple[Any, ...]]) -> None:
        tract_id = f"random-{next(_ids)}"
        with Tract.open(config=CONFIG) as memory:
            on_disk = factory.open(tract_id=tract_id, config=CONFIG)
            apply(memory, steps)
            apply(on_disk, steps)
            mine, theirs = memory.snapshot("@history"), on_disk.snapshot("@history")
            assert [s.canonical_bytes() for s in mine] == [s.canonical_bytes() for s in theirs]
            for snapshot in theirs:
                assert Snapshot.from_bytes(snapshot.canonical_bytes()) == snapshot
                if snapshot.head is None:  # the empty context before a first commit that is a reply
                    assert len(snapshot) == 0 and snapshot.render("openai") == b'{"messages":[]}'
                else:
                    compiled = memory.compile(at_commit=snapshot.head)
                    assert snapshot.render("anthropic") == compiled.to_bytes("anthropic")
            for fmt in ("openai", "anthropic", "gemini"):  # compile's bytes at HEAD, per provider
                assert on_disk.compile().to_bytes(fmt) == memory.compile().to_bytes(fmt)
            on_disk.close()

    check()
