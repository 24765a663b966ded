"""Fuzzing the public API: every parameter of every public method of ``Tract`` and of the objects it
returns, fed values from hypothesis strategies (plausible ones and hostile ones: wrong types, NUL,
newlines, lone surrogates, huge numbers, deep and cyclic structures, non-string keys).

For every call:

- it succeeds, and the tract still verifies and compiles (and exports) without error; or
- it raises a :class:`~tract_core.TractError`, or a plain ``TypeError``/``ValueError`` whose message
  names the offending parameter, and nothing else (no ``AttributeError``, ``KeyError``,
  ``RecursionError``, ``AssertionError``, ``UnicodeEncodeError``, raw driver error, ...); and then
  no row of the database changed (a digest of every row of every table, before and after).

Runs on an in-memory store and a SQLite file; the text cases (NUL, lone surrogates, control
characters in every string parameter) also on PostgreSQL.

The default run is kept to tens of seconds. Run it longer with more examples per test, e.g.::

    TRACT_FUZZ_EXAMPLES=5000 pytest tests/core/test_fuzz_api.py -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tract_core import EDIT, NORMAL, PINNED, SKIP, Tract, TractConfig, TractError
from tract_core.testing import ScriptedLLM, database_digest

EXAMPLES = int(os.environ.get("TRACT_FUZZ_EXAMPLES", "150"))
"""Examples per test; raise it (environment variable TRACT_FUZZ_EXAMPLES) for a longer run."""

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- values ---------------------------------------------------------------------------------------

NASTY_CHARACTERS = "\x00\n\r\t\x1b\x7f\ud800\udfff\u200b\u0301é日🙂~^/.-_ "
nasty_text = st.text(alphabet=st.sampled_from(NASTY_CHARACTERS) | st.characters(), max_size=12)


def _deep(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return root


def _cyclic() -> dict[str, Any]:
    value: dict[str, Any] = {"x": 1}
    value["self"] = value
    return value


class HugeInt(int):
    """An integer past Python's 4,300-digit ``str()`` limit: ``str()`` and formatting fail as for any
    such int (tract must never need them); only ``repr`` is safe, so hypothesis can report it."""

    def __repr__(self) -> str:
        return f"HugeInt(<{self.bit_length()} bits>)"

    __str__ = int.__repr__


class Opaque:
    """An object of no type tract knows."""

    hash = 42
    id = "not an int"

    def __repr__(self) -> str:
        return "Opaque()"


SPECIALS = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        2**70,
        HugeInt(10**5000),
        0.5,
        math.nan,
        math.inf,
        "",
        " ",
        "HEAD",
        "main",
        "~" * 300 + "x",
        "HEAD~" + "9" * 50,
        b"bytes",
        bytearray(b"x"),
        (),
        [],
        {},
        {1: "int key"},
        {None: 1},
        {("t",): 1},
        [[[[[]]]]],
        frozenset({1}),
        {"role": "user", "content": "x"},
        Opaque(),
        object(),
        PINNED,
        EDIT,
        1j,
    ]
).map(copy.deepcopy)  # a fresh copy each time: the call under test may keep or change it
json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | nasty_text,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(nasty_text | st.integers() | st.none(), inner, max_size=3)
    ),
    max_leaves=8,
)
anything = st.one_of(
    SPECIALS,
    nasty_text,
    json_like,
    st.builds(_deep, st.sampled_from([50, 101, 5000])),
    st.builds(_cyclic),
    st.integers(),
    st.floats(),
)


@dataclass
class World:
    """The tract under test and what strategies need to know about it."""

    t: Tract
    tmp: Path
    hashes: list[str]
    opened: list[Tract] = field(default_factory=list)

    def close(self) -> None:
        for tract in (*self.opened, self.t):
            tract.close()

    def refresh(self) -> None:
        self.hashes = [c.hash for c in self.t.log(limit=None)] or self.hashes


def refs(w: World) -> st.SearchStrategy[Any]:
    known = w.hashes or ["0000"]
    return st.one_of(
        st.sampled_from(["HEAD", "main", "side", "HEAD~1", "main^", "side~1", "HEAD~2^", "cleared/1", " HEAD "]),
        st.sampled_from(["@t0", "@t-1", "@t-2", "@t-99", "@t+1", "@tx", "@t-2..@t0", "@history", "@t-1~1"]),
        st.sampled_from(known),
        st.sampled_from(known).map(lambda h: h[:8]),
        st.sampled_from(known).flatmap(lambda h: st.sampled_from([h + "\x00", h + "\n", h.upper(), h + "~1"])),
        anything,
    )


def paths(w: World) -> st.SearchStrategy[Any]:
    """File paths, always inside the test's folder (arbitrary text would create files anywhere)."""
    inside = st.sampled_from(["a.db", "b.db", "missing.db"]) | nasty_text.map(lambda s: f"f{s}.db")
    return inside.map(lambda name: str(w.tmp / name)) | anything.filter(lambda v: not isinstance(v, str))


def pick(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A parameter's values: mostly plausible ones, often anything at all."""
    return st.one_of(plausible, plausible, anything)


def messages() -> st.SearchStrategy[Any]:
    return st.one_of(
        nasty_text,
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "system", "tool", "human", "wizard"]) | anything},
            optional={
                "content": nasty_text | anything,
                "tool_calls": anything,
                "tool_call_id": nasty_text,
                "name": nasty_text,
                "extra": anything,
            },
        ),
        st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": nasty_text}), max_size=2),
    )


texts = nasty_text
names = st.sampled_from(["feature", "side", "main", "cleared/1", "a/b", "x" * 201, "HEAD", "-x", "a..b"]) | nasty_text
priorities = st.sampled_from([PINNED, SKIP, NORMAL, "pinned", "SKIP", "urgent"])
llms = st.sampled_from(["scripted", "garbage-callable"])


def llm_value(choice: Any) -> Any:
    if choice == "scripted":
        return ScriptedLLM(["a short summary"], repeat_last=True)
    if choice == "garbage-callable":
        return lambda messages: 42  # returns no text
    return choice


# -- the API --------------------------------------------------------------------------------------

Call = tuple[str, Callable[[], Any], tuple[str, ...]]
"""(what is called, the call, the names of the parameters it passes)."""


def tract_calls(w: World, draw: Callable[[st.SearchStrategy[Any]], Any]) -> Call:
    t = w.t
    ref = refs(w)
    name = st.sampled_from(
        [
            "commit",
            "system",
            "user",
            "assistant",
            "tool_result",
            "annotate",
            "record_usage",
            "checkout",
            "compile",
            "status",
            "log",
            "show",
            "diff",
            "snapshot",
            "select",
            "reflog",
            "branch",
            "switch",
            "list_branches",
            "delete_branch",
            "merge",
            "pending_merge",
            "pending_compression",
            "cherry_pick",
            "rebase",
            "start_over",
            "reset",
            "query_by_config",
            "compress",
            "acompress",
            "archive",
            "approve_compression",
            "reject_compression",
            "pending_compressions",
            "compressions",
            "archived",
            "gc",
            "spawn",
            "parent",
            "children",
            "absorb",
            "verify",
            "head",
            "batch",
            "open",
            "list_tracts",
            "preview",
            "config",
        ]
    )
    method = draw(name)
    kwargs: dict[str, Any] = {}

    def arg(key: str, strategy: st.SearchStrategy[Any], *, optional: bool = True) -> None:
        if not optional or draw(st.booleans()):
            kwargs[key] = draw(strategy)

    if method == "commit":
        arg("message", messages(), optional=False)
        arg("role", pick(st.sampled_from(["user", "assistant", "system", "tool", "developer", "ai"])))
        arg("content_type", pick(st.sampled_from(["dialogue", "retrieval", "Bad Type", "x" * 65])))
        arg("operation", pick(st.sampled_from([EDIT, "append", "edit", "rewrite"])))
        arg("response_to", ref)
        arg("generation_config", pick(st.dictionaries(nasty_text, json_like, max_size=3)))
        arg("metadata", pick(st.dictionaries(nasty_text, json_like, max_size=3)))
        arg("commit_message", pick(texts))
        return method, lambda: t.commit(**kwargs), tuple(kwargs)
    if method in ("system", "user"):
        arg("content", pick(texts), optional=False)
        arg("metadata", pick(st.dictionaries(nasty_text, json_like, max_size=3)))
        arg("commit_message", pick(texts))
        return method, lambda: getattr(t, method)(**kwargs), tuple(kwargs)
    if method == "assistant":
        arg("content", pick(texts))
        call = st.fixed_dictionaries(
            {"id": nasty_text, "type": st.just("function"), "function": st.fixed_dictionaries({"name": nasty_text})},
            optional={"x": anything},
        )
        arg("tool_calls", pick(st.lists(call | anything, max_size=2)))
        arg("generation_config", pick(st.dictionaries(nasty_text, json_like, max_size=3)))
        return method, lambda: t.assistant(**kwargs), tuple(kwargs)
    if method == "tool_result":
        arg("tool_call_id", pick(texts), optional=False)
        arg("content", pick(texts), optional=False)
        arg("name", pick(texts))
        return method, lambda: t.tool_result(**kwargs), tuple(kwargs)
    if method == "annotate":
        arg("target", ref, optional=False)
        arg("priority", pick(priorities), optional=False)
        arg("reason", pick(texts))
        return method, lambda: t.annotate(**kwargs), tuple(kwargs)
    if method == "record_usage":
        arg("usage", pick(st.fixed_dictionaries({"prompt_tokens": st.integers(), "completion_tokens": st.integers()})))
        arg("commit", ref)
        usage_keys = st.sampled_from(["prompt_tokens", "completion_tokens", "x"])
        numbers = draw(st.dictionaries(usage_keys, anything, max_size=2))
        return method, lambda: t.record_usage(**kwargs, **numbers), (*kwargs, *numbers)
    if method in ("checkout", "show", "cherry_pick", "rebase"):
        key = {"checkout": "ref", "show": "ref", "cherry_pick": "ref", "rebase": "onto"}[method]
        arg(key, ref, optional=False)
        if method in ("cherry_pick", "rebase"):
            arg("strict", pick(st.booleans()))
        return method, lambda: getattr(t, method)(**kwargs), tuple(kwargs)
    if method == "compile":
        arg("at_commit", ref)
        return method, lambda: t.compile(**kwargs), tuple(kwargs)
    if method in ("status", "list_branches", "pending_compressions", "compressions", "verify", "parent", "children"):
        return method, lambda: getattr(t, method)(), ()
    if method == "head":
        return method, lambda: t.head, ()
    if method == "log":
        arg("limit", pick(st.integers(-2, 50) | st.none()))
        arg("start", ref)
        return method, lambda: t.log(**kwargs), tuple(kwargs)
    if method == "diff":
        arg("a", ref, optional=False)
        arg("b", ref)
        arg("format", pick(st.sampled_from([None, "pact", "PACT", "json"])))
        return method, lambda: t.diff(**kwargs), tuple(kwargs)
    if method == "snapshot":
        arg("at", ref)
        return method, lambda: t.snapshot(**kwargs), tuple(kwargs)
    if method == "select":
        queries = st.sampled_from(["^seq .user", ".user:last", "@t-1 *", "{tokens>3}, #k", "^seq.user", ""])
        arg("query", pick(queries | st.text(max_size=12)), optional=False)
        arg("at", ref)
        return method, lambda: t.select(**kwargs), tuple(kwargs)
    if method == "reflog":
        arg("limit", pick(st.integers(-2, 50) | st.none()))
        arg("ref", pick(st.sampled_from(["HEAD", "main", "side"])))
        return method, lambda: t.reflog(**kwargs), tuple(kwargs)
    if method == "branch":
        arg("name", pick(names), optional=False)
        arg("from_", ref)
        arg("switch", pick(st.booleans()))
        return method, lambda: t.branch(**kwargs), tuple(kwargs)
    if method == "switch":
        arg("name", pick(names), optional=False)
        return method, lambda: t.switch(**kwargs), tuple(kwargs)
    if method == "delete_branch":
        arg("name", pick(names), optional=False)
        arg("force", pick(st.booleans()))
        return method, lambda: t.delete_branch(**kwargs), tuple(kwargs)
    if method == "merge":
        arg("source", ref, optional=False)
        arg("strategy", pick(st.sampled_from(["auto", "no-ff", "ff-only", "ours", "theirs", "octopus"])))
        arg("resolutions", pick(st.dictionaries(st.sampled_from(w.hashes or ["x"]), texts | priorities, max_size=2)))
        arg("auto_commit", pick(st.booleans()))
        return method, lambda: t.merge(**kwargs), tuple(kwargs)
    if method == "pending_merge":
        source = draw(ref)
        target, resolution = draw(st.sampled_from(w.hashes or ["x"]) | anything), draw(texts | priorities | anything)

        def review() -> Any:
            plan = t.merge(source, auto_commit=False)
            plan.resolve(target, resolution)
            return plan.commit()

        return method, review, ("source", "target", "resolution")
    if method == "pending_compression":
        content, decision = draw(pick(texts)), draw(st.sampled_from(["approve", "reject"]))
        pending = t.compress(content="a draft", auto_commit=False, to_commit="HEAD~1")  # set up first

        def review() -> Any:
            return pending.approve(content) if decision == "approve" else pending.reject()

        return method, review, ("content",)
    if method == "start_over":
        arg("keep_as", pick(st.sampled_from(["cleared", "kept", None]) | names))
        return method, lambda: t.start_over(**kwargs), tuple(kwargs)
    if method == "reset":
        arg("ref", ref | st.none(), optional=False)
        arg("mode", pick(st.sampled_from(["soft", "hard", "mixed"])))
        return method, lambda: t.reset(**kwargs), tuple(kwargs)
    if method == "query_by_config":
        arg("key", pick(st.sampled_from(["model", "temperature", "a.b", "", "a..b"])))
        arg("op", pick(st.sampled_from(["==", ">", "<=", "!=", "~"])))
        arg("value", pick(st.sampled_from(["gpt", 0.5, 1, True]) | texts))
        arg("limit", pick(st.integers(-1, 5) | st.none()))
        equals = draw(st.dictionaries(st.sampled_from(["model", "seed"]), pick(texts | st.integers()), max_size=2))
        return method, lambda: t.query_by_config(**kwargs, **equals), (*kwargs, *equals, "value")
    if method in ("compress", "acompress"):
        arg("content", pick(texts))
        arg("llm", pick(llms).map(llm_value))
        arg("target_tokens", pick(st.integers(-5, 500) | st.none()))
        arg("from_commit", ref)
        arg("to_commit", ref)
        arg("keep_recent", pick(st.integers(-1, 6)))
        arg("prompt", pick(texts))
        arg("auto_commit", pick(st.booleans()))
        arg("summary_role", pick(st.sampled_from(["system", "user", "assistant", "wizard"])))
        if method == "acompress":
            return method, lambda: asyncio.run(t.acompress(**kwargs)), tuple(kwargs)
        return method, lambda: t.compress(**kwargs), tuple(kwargs)
    if method == "archive":
        arg("to_commit", ref, optional=False)
        arg("from_commit", ref)
        return method, lambda: t.archive(**kwargs), tuple(kwargs)
    if method in ("approve_compression", "reject_compression", "archived"):
        ids = [c.id for c in t.compressions()] or [1]
        key = "compression" if method == "archived" else "pending"
        arg(key, pick(st.sampled_from(ids) | st.integers(-1, 10)), optional=method == "archived")
        if method == "approve_compression":
            arg("content", pick(texts))
        return method, lambda: getattr(t, method)(**kwargs), tuple(kwargs)
    if method == "gc":
        number = st.floats(-1, 100) | st.integers(-1, 100)
        arg("orphan_retention_days", pick(number))
        arg("archive_retention_days", pick(number))
        arg("dry_run", pick(st.booleans()))
        arg("vacuum", pick(st.sampled_from(["incremental", "full", None, "sometimes"])))
        arg("now", pick(st.floats(0, 4e9) | st.none()))
        return method, lambda: t.gc(**kwargs), tuple(kwargs)
    if method == "spawn":
        arg("name", pick(names), optional=False)
        arg("include", pick(st.sampled_from(["nothing", "pinned", "all", 0, 2, -1, "most"])))
        arg("config", pick(st.builds(TractConfig, token_budget=st.integers(1, 10_000))))

        def spawn() -> Any:
            t.spawn(**kwargs).close()

        return method, spawn, tuple(kwargs)
    if method == "absorb":
        arg("content", pick(texts))
        arg("llm", pick(llms).map(llm_value))
        arg("target_tokens", pick(st.integers(-5, 500) | st.none()))
        arg("prompt", pick(texts))
        arg("role", pick(st.sampled_from(["user", "assistant", "wizard"])))
        if draw(st.booleans()):
            garbage = draw(st.none() | st.just(t) | anything)
            return method, lambda: t.absorb(garbage, **kwargs), ("child", *kwargs)
        child = t.spawn("helper", include="nothing")  # set up before the call: not part of what is checked
        child.user("child work")
        w.opened.append(child)
        return method, lambda: t.absorb(child, **kwargs), ("child", *kwargs)
    if method == "batch":
        text = draw(texts)

        def batch() -> Any:
            with t.batch():
                t.user(text)

        return method, batch, ("content",)
    if method == "open":
        arg("path", paths(w))
        arg("url", pick(st.sampled_from(["sqlite:///" + str(w.tmp / "u.db"), "not a url", "mysql://x/y"])))
        arg("tract_id", pick(texts | st.sampled_from(["default", "x" * 256])))
        arg("config", pick(st.builds(TractConfig, token_budget=st.integers(1, 10_000))))
        arg("create", pick(st.booleans()))
        arg("durability", pick(st.sampled_from(["normal", "full", "eventually"])))
        arg("store", pick(st.just(t.store)))

        def open_() -> Any:
            Tract.open(**kwargs).close()

        return method, open_, tuple(kwargs)
    if method == "list_tracts":
        arg("path", paths(w))
        arg("url", pick(st.just("sqlite:///" + str(w.tmp / "u.db"))))
        return method, lambda: Tract.list_tracts(**kwargs), tuple(kwargs)
    if method == "preview":
        arg("width", pick(st.integers(-5, 100)))
        return method, lambda: [c.preview(**kwargs) for c in t.log(limit=3)], tuple(kwargs)
    assert method == "config"
    arg("token_budget", pick(st.integers(-5, 10_000)))
    arg("model", pick(texts))
    return method, lambda: TractConfig(**kwargs), tuple(kwargs)


_worlds = itertools.count()


def build_world(location: dict[str, Any], tmp: Path) -> World:
    """A new tract (in the shared database) with the same small history as every other example's:
    each example starts from the same state, so hypothesis can replay and shrink it."""
    t = Tract.open(tract_id=f"fuzz-{next(_worlds)}", **location)
    t.system("You are terse.")
    t.user("What is 2 + 2?")
    t.assistant("4", generation_config={"model": "gpt", "temperature": 0.2})
    t.branch("side", switch=True)
    t.user("And 3 + 3?")
    t.switch("main")
    world = World(t, tmp, [])
    world.refresh()
    return world


def check_call(w: World, what: str, call: Callable[[], Any], params: tuple[str, ...]) -> None:
    """Run one call and hold it to the contract in the module docstring."""
    before = database_digest(w.t.store)
    try:
        call()
    except TractError:
        pass
    except (TypeError, ValueError) as error:
        named = [p for p in params if p in str(error)]
        assert named, f"{what}({', '.join(params)}) raised {error!r}, which names none of its parameters"
    except BaseException as error:  # noqa: BLE001 - anything else is the bug this test looks for
        raise AssertionError(f"{what}({', '.join(params)}) raised {type(error).__name__}: {error}") from error
    else:
        w.t.verify()
        context = w.t.compile()
        context.to_openai()
        w.refresh()
        return
    after = database_digest(w.t.store)
    assert after == before, f"{what}({', '.join(params)}) was refused but changed the database"


@pytest.fixture(params=["memory", "sqlite"])
def location(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Where each example's tract is opened: one database per test (run from the test's folder,
    so a relative path a call might create stays there)."""
    monkeypatch.chdir(tmp_path)
    if request.param == "sqlite":
        yield {"path": tmp_path / "fuzz.db"}
        return
    store = Tract.open().store
    yield {"store": store}
    store.close()


@FUZZ
@given(data=st.data())
def test_every_public_method_refuses_bad_arguments_cleanly(location: Any, tmp_path: Path, data: st.DataObject) -> None:
    world = build_world(location, tmp_path)
    try:
        what, call, params = tract_calls(world, data.draw)
        check_call(world, what, call, params)
    finally:
        world.close()


# -- text the store cannot hold, on every backend -------------------------------------------------

hostile_text = st.text(alphabet=st.sampled_from("ab~\x00\ud800\udc00\n\x1f"), min_size=1, max_size=6).filter(
    lambda s: any(c in s for c in "\x00\ud800\udc00\n\x1f")
)


def text_calls(w: World, text: str, which: int) -> Call:
    t = w.t
    h = w.hashes[-1]
    calls: list[Call] = [
        ("user", lambda: t.user(text), ("content",)),
        ("metadata", lambda: t.user("x", metadata={text: text}), ("metadata",)),
        ("generation_config", lambda: t.assistant("x", generation_config={"k": text}), ("generation_config",)),
        ("commit_message", lambda: t.user("x", commit_message=text), ("commit_message",)),
        ("tool_result", lambda: t.tool_result(text, "x"), ("tool_call_id",)),
        ("annotate", lambda: t.annotate(h, PINNED, reason=text), ("reason",)),
        ("show", lambda: t.show(text), ("ref",)),
        ("checkout", lambda: t.checkout("main" + text), ("ref",)),
        ("reset", lambda: t.reset(h[:8] + text), ("ref",)),
        ("branch", lambda: t.branch(text), ("name",)),
        ("switch", lambda: t.switch(text), ("name",)),
        ("delete_branch", lambda: t.delete_branch(text), ("name",)),
        ("reflog", lambda: t.reflog(ref=text), ("ref",)),
        ("query_by_config", lambda: t.query_by_config(model=text), ("value",)),
        ("spawn", lambda: t.spawn(text).close(), ("name",)),
        ("start_over", lambda: t.start_over(keep_as=text), ("keep_as",)),
        ("open", lambda: Tract.open(store=t.store, tract_id=text).close(), ("tract_id",)),
        ("draft", lambda: t.compress(content=text, auto_commit=False, to_commit=h), ("content",)),
    ]
    return calls[which % len(calls)]


@settings(FUZZ, max_examples=max(EXAMPLES // 3, 30))
@given(text=hostile_text, which=st.integers(0, 1000))
def test_text_parameters_behave_the_same_on_every_backend(factory: Any, tmp_path: Path, text: str, which: int) -> None:
    """NUL and lone surrogates, anywhere: stored identically everywhere (JSON escapes NUL in
    message content and metadata) or refused with a clear error, never a driver error."""
    world = build_world(factory.location, tmp_path)
    try:
        what, call, params = text_calls(world, text, which)
        check_call(world, what, call, params)
    finally:
        world.close()
