"""Property tests: random operation sequences, checked against a naive reference model.

Hypothesis draws sequences of commits (some with generation_config/metadata, tool calls or
content parts), EDITs, annotations, checkouts (detached, or back to ``main``), rolled-back batches
and ``compile(at_commit=...)``. A :class:`Driver` applies each
operation both to a real tract and to :class:`Model`, a deliberately naive re-implementation of
what compile must return (it never imports ``tract_core.compile``). After every operation:

- every branch and HEAD point at an existing commit of the tract, the ones the model expects;
- ``compile()`` equals the model, is repeatable, and equals the compile of a Tract object with a
  cold cache and of a long-lived second Tract object on the same database;
- what ``compile()`` returns is safe to mutate.

At the end of each sequence the whole history is reopened through a new connection and compiled at
every commit, and the sequence is replayed into a fresh database of the same backend and into an
in-memory store: commit hashes and compile digests must be identical.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tract_core import EDIT, NORMAL, PINNED, SKIP, Priority, Tract, TractError

ROLES = ("system", "user", "assistant", "tool")
TEXTS = ("", "hi", "ok", "no", "30 days", "How do I return shoes?", "héllo ✓ 日本")
EXTRAS = (
    (None, None),
    ({"model": "gpt-4o", "temperature": 0.7}, None),
    (None, {"turn": 1, "tags": ["a", "b"]}),
    ({"model": "m", "seed": 3}, {"note": "é"}),
)
"""(generation_config, metadata) choices for commits."""

_pick = st.integers(min_value=0, max_value=10**6)
_commit = st.tuples(
    st.just("commit"),
    st.sampled_from(ROLES),
    st.sampled_from(TEXTS),
    st.integers(0, len(EXTRAS) - 1),
    st.integers(0, 2),
)
operation = st.one_of(
    _commit,
    _commit,  # twice: commits are the most common operation
    st.tuples(st.just("edit"), _pick, st.sampled_from(TEXTS), st.booleans()),
    st.tuples(st.just("annotate"), _pick, st.sampled_from((PINNED, SKIP, NORMAL, "skip", "Pinned")), st.booleans()),
    st.tuples(st.just("checkout"), st.one_of(st.none(), _pick), st.booleans()),
    st.tuples(st.just("compile_at"), _pick),
    st.tuples(st.just("tool_turn"), st.integers(0, 1), st.sampled_from(TEXTS)),
    st.tuples(st.just("failed_batch"), st.sampled_from(TEXTS)),
)
operations = st.lists(operation, min_size=10, max_size=50)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# -- the naive reference model -------------------------------------------------------------------


@dataclass
class Node:
    """One commit: a new message (``append``) or new content for message ``target`` (``edit``)."""

    parent: int | None
    op: str
    role: str
    body: dict[str, Any]
    target: int | None
    born: int


@dataclass
class Model:
    """What the history should be, recomputed from scratch on every question."""

    nodes: list[Node] = field(default_factory=list)
    identity: dict[tuple, int] = field(default_factory=dict)
    annotations: list[tuple[int, int, Priority, int]] = field(default_factory=list)
    main: int | None = None
    detached: int | None = None
    clock: int = 0

    def head(self) -> int | None:
        return self.main if self.detached is None else self.detached

    def add(self, op: str, role: str, body: dict, target: int | None, gen: Any = None, meta: Any = None) -> int:
        """Commit on HEAD; an identical commit on the same parent is the same node (content addressing)."""
        parent = self.head()
        ident = (parent, op, role, _key(body), target, _key(gen), _key(meta))
        if ident not in self.identity:
            self.clock += 1
            self.identity[ident] = len(self.nodes)
            self.nodes.append(Node(parent, op, role, body, target, self.clock))
        index = self.identity[ident]
        if self.detached is None:
            self.main = index
        else:
            self.detached = index
        return index

    def annotate(self, target: int, priority: Priority) -> None:
        self.clock += 1
        self.annotations.append((self.clock, target, priority, self.head()))

    def path(self, node: int | None) -> list[int]:
        chain = []
        while node is not None:
            chain.append(node)
            node = self.nodes[node].parent
        return chain[::-1]

    def slots(self, node: int | None) -> dict[int, tuple[str, dict, int]]:
        """Message slots of ``node``'s history: appended commit -> (role, current body, source commit)."""
        slots: dict[int, tuple[str, dict, int]] = {}
        for n in self.path(node):
            c = self.nodes[n]
            if c.op == "append":
                slots[n] = (c.role, c.body, n)
            else:
                assert c.target in slots, "an EDIT always targets a message of its own history"
                slots[c.target] = (slots[c.target][0], c.body, n)
        return slots

    def priorities(self, node: int) -> dict[int, Priority]:
        """Latest annotation per message among those that apply at ``node``.

        An annotation made while HEAD was on commit A applies to A and to commits built on A after
        the annotation was made, not to lines that already went on from A.
        """
        path = self.path(node)
        on_path = set(path)
        result: dict[int, Priority] = {}
        for made, target, priority, anchor in self.annotations:
            if anchor not in on_path:
                continue
            if anchor != node:
                child = path[path.index(anchor) + 1]
                if self.nodes[child].born < made:
                    continue
            result[target] = priority
        return result

    def compile(self, node: int | None) -> tuple[list[dict], list[int]]:
        """Expected messages and the appended commit behind each.

        SKIP hides a message; tool calls and results stay in pairs: a skipped tool result removes
        its call from assistant messages (and an assistant message left with neither calls nor
        content), a skipped tool call removes its results.
        """
        if node is None:
            return [], []
        priorities = self.priorities(node)
        kept, skipped_calls, skipped_results = [], set(), set()
        for key, (role, body, _source) in self.slots(node).items():
            default = PINNED if role == "system" else NORMAL
            if priorities.get(key, default) is SKIP:
                if role == "tool":
                    skipped_results.add(body["tool_call_id"])
                skipped_calls.update(call["id"] for call in body.get("tool_calls", ()))
            else:
                kept.append((key, role, body))
        messages, keys = [], []
        for key, role, body in kept:
            if role == "tool" and body["tool_call_id"] in skipped_calls:
                continue
            calls = body.get("tool_calls")
            if calls and any(call["id"] in skipped_results for call in calls):
                body = {k: v for k, v in body.items() if k != "tool_calls"}
                remaining = [call for call in calls if call["id"] not in skipped_results]
                if remaining:
                    body["tool_calls"] = remaining
                elif not body.get("content"):
                    continue
            messages.append({"role": role, **body})
            keys.append(key)
        return messages, keys


# -- applying operations to a tract and the model ------------------------------------------------


def _mutate(messages: list[dict]) -> None:
    """Try to change every message (compiled messages are read-only: each attempt raises), change a
    deep copy of each instead, and change the list (a fresh one per call: that works)."""
    for message in messages:
        with pytest.raises(TypeError):
            message["role"] = "hacked"
        with pytest.raises(TypeError):
            message["extra"] = {"x": 1}
        content = message.get("content")
        if isinstance(content, list):
            with pytest.raises(TypeError):
                content[0]["text"] = "hacked"
            with pytest.raises(TypeError):
                content.append({"type": "text", "text": "more"})
        mine = copy.deepcopy(message)
        mine["role"] = "hacked"
        if isinstance(mine.get("content"), list):
            mine["content"][0]["text"] = "hacked"
    messages.append({"role": "user", "content": "injected"})


class Driver:
    """Applies abstract operations to a tract and to the model, checking invariants as it goes."""

    def __init__(self, tract: Tract, *, check: bool = True) -> None:
        self.t = tract
        self.model = Model()
        self.hashes: list[str] = []
        self.check = check
        self.observer = Tract.open(store=tract.store, tract_id=tract.tract_id) if check else None

    def close(self) -> None:
        if self.observer is not None:
            self.observer.close()

    def _record(self, node: int, hash: str) -> None:
        if node == len(self.hashes):
            assert hash not in self.hashes, f"two different commits got the same hash {hash[:12]}"
            self.hashes.append(hash)
        else:
            assert self.hashes[node] == hash, "an identical commit on the same parent must get the same hash"

    def apply(self, op: tuple) -> None:
        getattr(self, "_" + op[0])(*op[1:])
        if self.check:
            self.verify()

    def _commit(self, role: str, text: str, extra: int, style: int) -> None:
        gen, meta = EXTRAS[extra]
        body: dict[str, Any] = {"content": text}
        if role == "tool":
            body["tool_call_id"] = f"call_{style % 2}"
        elif role == "assistant" and style == 1:
            call = {"id": f"call_{extra % 2}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            body["tool_calls"] = [call]
        elif role == "user" and style == 2:
            body = {"content": [{"type": "text", "text": text}]}
        if style == 0 and role != "tool":
            info = self.t.commit(text, role=role, generation_config=gen, metadata=meta)
        else:
            info = self.t.commit({"role": role, **body}, generation_config=gen, metadata=meta)
        parent = self.model.head()
        node = self.model.add("append", role, body, None, gen, meta)
        self._record(node, info.hash)
        assert info.parents == (() if parent is None else (self.hashes[parent],))

    def _tool_turn(self, call: int, text: str) -> None:
        """An assistant message calling a tool, then the tool's result."""
        self._commit("assistant", "", call, 1)
        self._commit("tool", text, 0, call)

    def _edit(self, pick: int, text: str, by_edit_hash: bool) -> None:
        slots = self.model.slots(self.model.head())
        if not slots:
            return
        target = list(slots)[pick % len(slots)]
        role, old, source = slots[target]
        ref = self.hashes[source if by_edit_hash else target]
        if role == "tool":
            body = {"content": text, "tool_call_id": old["tool_call_id"]}
            info = self.t.commit(dict(body), operation=EDIT, response_to=ref)
        else:
            body = {"content": text}
            info = self.t.commit(text, operation=EDIT, response_to=ref)
        assert info.response_to == self.hashes[target]
        self._record(self.model.add("edit", role, body, target), info.hash)

    def _annotate(self, pick: int, priority: Any, by_edit_hash: bool) -> None:
        head = self.model.head()
        slots = self.model.slots(head)
        if not slots:
            return
        target = list(slots)[pick % len(slots)]
        ref = self.hashes[slots[target][2] if by_edit_hash else target]
        info = self.t.annotate(ref, priority)
        level = Priority(priority.lower()) if isinstance(priority, str) else priority
        assert (info.target, info.priority, info.anchor) == (self.hashes[target], level, self.hashes[head])
        self.model.annotate(target, level)

    def _checkout(self, pick: int | None, by_prefix: bool) -> None:
        if not self.model.nodes:
            return
        if pick is None:
            info = self.t.checkout("main")
            self.model.detached = None
        else:
            node = pick % len(self.model.nodes)
            info = self.t.checkout(self.hashes[node][:16] if by_prefix else self.hashes[node])
            self.model.detached = node
        assert info.hash == self.hashes[self.model.head()]

    def _compile_at(self, pick: int) -> None:
        if not self.model.nodes:
            return
        node = pick % len(self.model.nodes)
        ctx = self.t.compile(at_commit=self.hashes[node])
        if self.check:
            self.compare(ctx, node)
            cold = Tract.open(store=self.t.store, tract_id=self.t.tract_id)
            try:
                assert cold.compile(at_commit=self.hashes[node]).canonical_bytes() == ctx.canonical_bytes()
            finally:
                cold.close()

    def _failed_batch(self, text: str) -> None:
        try:
            with self.t.batch():
                self.t.user(text)
                if self.model.nodes:
                    self.t.annotate("HEAD~1", SKIP)
                raise KeyError("boom")
        except KeyError:
            pass
        else:  # pragma: no cover
            raise AssertionError("the batch swallowed the exception")

    # -- invariants -------------------------------------------------------------------------------

    def compare(self, ctx: Any, node: int | None) -> None:
        messages, keys = self.model.compile(node)
        assert ctx.messages == messages
        assert list(ctx.commit_hashes) == [self.hashes[k] for k in keys]
        assert ctx.head == (None if node is None else self.hashes[node])

    def verify(self) -> None:
        t, model = self.t, self.model
        head = model.head()
        with t.store.read() as s:
            refs = s.refs.list(t.tract_id)
            stored_head = s.refs.head(t.tract_id)
            for ref in refs:
                assert ref.commit is not None and s.commits.get(t.tract_id, ref.commit) is not None, ref
            if stored_head.commit is not None:
                assert s.commits.get(t.tract_id, stored_head.commit) is not None, stored_head
        expected_refs = [] if model.main is None else [("main", self.hashes[model.main])]
        assert [(r.name, r.commit) for r in refs] == expected_refs
        assert stored_head.commit == (None if head is None else self.hashes[head])
        assert stored_head.branch == ("main" if model.detached is None else None)

        ctx = t.compile()
        self.compare(ctx, head)
        again = t.compile()
        assert again.canonical_bytes() == ctx.canonical_bytes() and again.digest == ctx.digest
        cold = Tract.open(store=t.store, tract_id=t.tract_id)
        try:
            fresh = cold.compile()
        finally:
            cold.close()
        assert fresh.canonical_bytes() == ctx.canonical_bytes()  # a new handle starts at the stored HEAD
        assert fresh.digest == ctx.digest
        assert fresh.commit_hashes == ctx.commit_hashes
        assert fresh.token_count == ctx.token_count
        assert fresh.messages == ctx.messages
        # The observer, a second handle that never moved, stays on main (each handle has its own
        # HEAD) while its cache follows what the first handle writes there.
        watched = self.observer.compile()
        self.compare(watched, model.main)

        status = t.status()
        assert (status.head, status.message_count) == (ctx.head, len(ctx))
        assert status.commit_count == len(model.path(head))
        assert status.token_count == ctx.token_count

        expected = ctx.messages
        _mutate(ctx.messages)
        mutated = ctx.messages
        _mutate(mutated)
        _mutate(ctx.to_openai())
        for message in ctx:
            with pytest.raises(TypeError):
                message["content"] = "hacked"
        assert ctx.messages == expected
        assert t.compile().messages == expected
        assert t.compile().canonical_bytes() == ctx.canonical_bytes()


# -- the tests -----------------------------------------------------------------------------------

EXAMPLES = {"memory": 60, "sqlite": 25, "postgres": 25}


def test_random_operations_match_the_model_and_replay_identically(factory):
    ids = itertools.count()

    @settings(max_examples=EXAMPLES[factory.backend], deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=operations)
    def run(ops: list[tuple]) -> None:
        tract_id = f"prop-{next(ids)}"
        driver = Driver(factory.open(tract_id=tract_id))
        try:
            for op in ops:
                driver.apply(op)
            t, hashes = driver.t, driver.hashes
            digests = {h: t.compile(at_commit=h).digest for h in hashes}
            assert t.verify() >= len(hashes)

            # A new connection with nothing cached sees the same history, commit by commit.
            reopened = factory.open(tract_id=tract_id)
            try:
                assert reopened.compile().digest == t.compile().digest
                for node, h in enumerate(hashes):
                    ctx = reopened.compile(at_commit=h)
                    assert ctx.digest == digests[h]
                    driver.compare(ctx, node)
            finally:
                reopened.close()

            # The same operations in a fresh database (same backend) and in memory: same ids, same bytes.
            fresh = factory.fresh()
            for replay_tract in (fresh.open(tract_id=tract_id), Tract.open(tract_id=tract_id)):
                replay = Driver(replay_tract, check=False)
                try:
                    for op in ops:
                        replay.apply(op)
                    assert replay.hashes == hashes
                    assert replay_tract.head == t.head
                    assert replay_tract.compile().digest == t.compile().digest
                    assert {h: replay_tract.compile(at_commit=h).digest for h in hashes} == digests
                finally:
                    replay_tract.close()
        finally:
            driver.close()
            driver.t.close()

    run()


def test_anchoring_and_content_addressing_scenario(factory):
    """A hand-written walk through the rules the random test and its model rely on."""
    t = factory.open()
    driver = Driver(t)

    def contents(**kwargs: Any) -> list[Any]:
        return [m["content"] for m in t.compile(**kwargs).messages]

    try:
        driver.apply(("commit", "system", "hi", 0, 0))  # node 0
        driver.apply(("commit", "user", "ok", 1, 0))  # node 1
        driver.apply(("annotate", 1, SKIP, False))  # anchored at node 1
        assert contents() == ["hi"]
        driver.apply(("checkout", 0, True))
        driver.apply(("commit", "user", "ok", 1, 0))  # identical commit on the same parent: node 1 again
        assert driver.hashes == [driver.hashes[0], t.head] and contents() == ["hi"]
        driver.apply(("checkout", 0, False))
        driver.apply(("commit", "user", "no", 0, 0))  # node 2, a second line from the root
        assert contents() == ["hi", "no"]
        driver.apply(("checkout", None, False))
        driver.apply(("failed_batch", "lost"))
        driver.apply(("commit", "assistant", "30 days", 2, 1))  # node 3, built on the SKIP's anchor
        assert contents() == ["hi", "30 days"]
        driver.apply(("edit", 2, "It is 30 days.", False))  # slot 2 (slot 1 is the skipped node 1): node 3
        driver.apply(("annotate", 2, NORMAL, True))  # by the EDIT's hash: annotates node 3
        driver.apply(("annotate", 0, SKIP, False))
        assert contents() == ["It is 30 days."]
        assert contents(at_commit=driver.hashes[2]) == ["hi", "no"]
        assert contents(at_commit=driver.hashes[1]) == ["hi"]
        assert contents(at_commit=driver.hashes[3]) == ["hi", "30 days"]
        try:
            t.commit("x", operation=EDIT, response_to=driver.hashes[2])  # not in HEAD's history
        except TractError:
            pass
        else:
            raise AssertionError("an EDIT of another line of history must be refused")
        driver.verify()
    finally:
        driver.close()
