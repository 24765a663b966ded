"""The selector language (DESIGN 15): every construct on a known tract, errors with their column and
caret, arbitrary strings, agreement with a brute-force filter over random trees on every backend,
temporal ranges with their diffs, and the places a selection is accepted (annotate, set_lifecycle,
compress, the context_select tool, ``tract select``)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tract_core import (
    PINNED,
    SKIP,
    CommitNotFoundError,
    InvalidInputError,
    SelectorSyntaxError,
    TemporalAddressError,
    Tract,
    TractConfig,
)
from tract_core.cli import main
from tract_core.tree import (
    Cyclic,
    Lifecycle,
    Node,
    Selection,
    SelectionSeries,
    Snapshot,
    Sticky,
    Temporary,
    parse_selector,
    select_snapshot,
)

CONFIG = TractConfig(model="gpt-4o")


def call(call_id: str, name: str, arguments: str = "{}") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def billing(t: Tract) -> dict[str, str]:
    """A known tract: three sealed cycles and an active head, with every kind of node."""
    ids = {"sys": t.system("You are a billing assistant.").hash}
    ids["q1"] = t.user("Invoice 42 is wrong", metadata={"tags": ["billing", "urgent"], "customer": "acme", "n": 3}).hash
    ids["call"] = t.assistant(
        tool_calls=[call("c1", "lookup_invoice", '{"id": 42}')], generation_config={"model": "gpt-4o"}
    ).hash
    ids["res"] = t.tool_result("c1", "Invoice 42: 120 EUR", key="invoice:42").hash
    ids["a1"] = t.assistant(
        "Invoice 42 is 120 EUR.", generation_config={"model": "gpt-4o-mini", "temperature": 0.2}
    ).hash
    ids["note"] = t.user("Reminder: be polite", lifecycle=Temporary(3)).hash
    ids["fyi"] = t.user("Office hours: 9-5", lifecycle=Cyclic(every=2, visible_for=2)).hash
    ids["q2"] = t.user("Thanks", metadata={"tags": ["billing"]}).hash
    ids["a2"] = t.assistant("You're welcome.").hash
    t.annotate(ids["q2"], PINNED)
    ids["plan"] = t.user("Current plan: pro", lifecycle=Sticky()).hash
    ids["q3"] = t.user("And invoice 43?").hash
    return ids


@pytest.fixture(scope="module")
def known() -> Any:
    t = Tract.open(config=CONFIG)
    ids = billing(t)
    yield t, ids
    t.close()


def picked(t: Tract, query: str, **kwargs: Any) -> list[str]:
    found = t.select(query, **kwargs)
    assert isinstance(found, Selection)
    return found.ids


CONSTRUCTS = [
    # regions and combinators
    ("^sys", ["sys"]),
    ("^seq", ["q1", "call", "res", "a1", "note", "fyi", "q2", "a2"]),
    ("^ah", ["q3", "plan"]),
    ("^ah > .user", ["q3", "plan"]),
    ("^seq .tool_result", ["res"]),
    ("* > .assistant", ["call", "a1", "a2"]),
    # types: roles and content types
    (".user", ["q1", "note", "fyi", "q2", "q3", "plan"]),
    (".assistant", ["call", "a1", "a2"]),
    (".system", ["sys"]),
    (".instruction", ["sys"]),
    (".tool_call", ["call"]),
    (".tool_result", ["res"]),
    (".tool", ["res"]),
    (".summary", []),
    (".dialogue.user", ["q1", "note", "fyi", "q2", "q3", "plan"]),
    # keys and tags
    ("#invoice:42", ["res"]),
    ('#"invoice:42":first', ["res"]),
    ("#invoice:43", []),
    ("+billing", ["q1", "q2"]),
    ('+"urgent"', ["q1"]),
    # attributes: node fields, then metadata, then generation configs
    ("{role=user}", ["q1", "note", "fyi", "q2", "q3", "plan"]),
    ("{role!=user}", ["sys", "call", "res", "a1", "a2"]),
    ("{depth>=2}", ["q1", "call", "res", "a1"]),
    ("{priority=pinned}", ["sys", "q2"]),
    ("{key=invoice:42}", ["res"]),
    ("{tags=urgent}", ["q1"]),
    ("{customer=acme}", ["q1"]),
    ("{customer!=acme}", ["sys", "call", "res", "a1", "note", "fyi", "q2", "a2", "q3", "plan"]),
    ("{n>=3}", ["q1"]),
    ("{n<3}", []),
    ('{model="gpt-4o"}', ["call"]),
    ("{model~=gpt-4o}", ["call", "a1"]),
    ('{model~="^gpt-4o$"}', ["call"]),
    ("{temperature<0.5}", ["a1"]),
    # behaviours
    ("[ttl]", ["note"]),
    ("[ttl=3]", ["note"]),
    ("[ttl>3]", []),
    ("[cadence=2]", ["fyi"]),
    ("[window]", ["fyi"]),
    ("[sticky]", ["plan"]),
    ("[pinned]", ["sys", "q2"]),
    ("[pinned=false].user", ["q1", "note", "fyi", "q3", "plan"]),
    ("[skipped]", []),
    ("[keyed]", ["res"]),
    # positions: (depth, index, offset), ranges and *
    ("(d1,0,0)", ["note"]),
    ("(d2..d*)", ["q1", "call", "res", "a1"]),
    ("(d-1)", ["sys"]),
    ("(*,1)", ["call", "a1", "fyi", "plan"]),
    ("(d1, 1..2)", ["fyi", "q2"]),
    ("(d0,*,+1)", []),
    (".tool_result(d2..d*)", ["res"]),
    # pseudo-classes
    (".user:first", ["q1"]),
    (".user:last", ["plan"]),
    (".user:nth(1)", ["note"]),
    (".user:nth(-2)", ["q3"]),
    (".user:nth(9)", []),
    ("^seq > .user:last", ["q2"]),
    (':contains("Invoice 42")', ["q1", "res", "a1"]),
    (':contains("lookup_invoice")', ["call"]),
    (":core.tool", ["res"]),
    (":pre", []),
    (":post", []),
    # unions and limits
    (".system, #invoice:42", ["sys", "res"]),
    (".user, .user:first", ["q1", "note", "fyi", "q2", "q3", "plan"]),
    (".user @limit=2", ["q1", "note"]),
    ("* @limit=0", []),
]


@pytest.mark.parametrize(("query", "expected"), CONSTRUCTS, ids=[q for q, _ in CONSTRUCTS])
def test_every_construct_on_a_known_tract(known: Any, query: str, expected: list[str]) -> None:
    t, ids = known
    assert picked(t, query) == [ids[name] for name in expected]


def test_a_selection_holds_the_snapshots_nodes_with_hashes_and_coordinates(known: Any) -> None:
    t, ids = known
    selection = t.select("^seq .user")
    snapshot = t.snapshot()
    assert isinstance(selection, Selection) and isinstance(snapshot, Snapshot)
    assert list(selection) == [n for n in snapshot.nodes if n.region == "^seq" and n.role == "user"]
    assert len(selection) == 4 and selection.ids[0] == ids["q1"] and selection[0].coordinate == (3, 0, 0)
    assert selection.coordinates == [n.coordinate for n in selection.nodes]
    assert ids["q1"] in selection and selection.head == t.head and selection.at == "@t0"
    data = json.loads(selection.to_json())
    assert data["query"] == "^seq .user" and [n["id"] for n in data["nodes"]] == selection.ids
    assert data["nodes"][0]["tags"] == ["billing", "urgent"] and data["nodes"][0]["content_hash"]
    assert snapshot.node(ids["q1"]).tags == ("billing", "urgent")  # metadata tags fill Node.tags


def test_tokens_attribute_agrees_with_the_nodes(known: Any) -> None:
    t, _ = known
    snapshot = t.snapshot()
    assert isinstance(snapshot, Snapshot)
    middle = sorted(n.tokens for n in snapshot.nodes)[len(snapshot.nodes) // 2]
    assert picked(t, f"{{tokens>{middle}}}") == [n.id for n in snapshot.nodes if n.tokens > middle]
    assert picked(t, f"{{tokens<={middle}}}") == [n.id for n in snapshot.nodes if n.tokens <= middle]


def test_temporal_prefix_at_and_ranges_with_their_diffs(known: Any) -> None:
    t, ids = known
    before = ["q1", "note", "fyi", "q2"]
    assert picked(t, "@t-1 .user") == picked(t, ".user", at="@t-1") == [ids[n] for n in before]
    assert picked(t, "@t0 .user") == picked(t, ".user")
    assert picked(t, "@t-1") == [n.id for n in t.snapshot("@t-1").nodes]  # type: ignore[union-attr]
    series = t.select("@t-1..@t0 .user")
    assert isinstance(series, SelectionSeries) and [s.at for s in series] == ["@t-1", "@t0"]
    assert series[0].ids == [ids[n] for n in before]
    [diff] = series.diffs
    assert diff["from"] == "@t-1" and diff["to"] == "@t0"
    assert diff["added"] == [ids["q3"], ids["plan"]] and diff["removed"] == []
    assert diff["changed"] == [{"id": ids["q2"], "fields": ["priority"]}]  # pinned after @t-1 was sent
    everything = t.select("@history .tool_result")
    assert isinstance(everything, SelectionSeries) and len(everything) == 4  # three cycles and @t0
    assert [len(s) for s in everything] == [0, 1, 1, 1]  # the result came in the second cycle
    assert [d["added"] for d in everything.diffs] == [[ids["res"]], [], []]
    assert json.loads(everything.to_json())["diffs"][0]["added"] == [ids["res"]]
    with pytest.raises(TemporalAddressError, match="goes back 9 cycles"):
        t.select("@t-9 .user")
    with pytest.raises(InvalidInputError, match="give only one"):
        t.select("@t-1 .user", at="@t0")


def test_tool_outputs_older_than_ten_turns_are_one_query() -> None:
    with Tract.open(config=CONFIG) as t:
        results = []
        for turn in range(15):
            t.user(f"look up item {turn}")
            t.assistant(tool_calls=[call(f"c{turn}", "lookup")])
            results.append(t.tool_result(f"c{turn}", f"item {turn}: in stock").hash)
            t.assistant(f"item {turn} is in stock")
        t.user("anything else?")
        old = t.select("^seq .tool_result(d11..d*)")
        assert isinstance(old, Selection)
        # each turn is two cycles (the tool call and the answer each seal one): depth 2*(15-turn)-1
        assert old.ids == [h for turn, h in enumerate(results) if 2 * (15 - turn) - 1 >= 11]
        assert all(n.depth >= 11 and n.region == "^seq" for n in old)
        t.annotate(old, SKIP)  # scenario 6.3: skip them
        assert t.select(".tool_result").ids == results[len(old) :]  # type: ignore[union-attr]


def test_attached_nodes_are_children_of_their_core_node() -> None:
    """Pre/post-context nodes (offset != 0) hang under the core node of their depth and index; one
    whose core node is absent is a child of its region. Checked on a snapshot built by hand."""

    def node(name: str, depth: int, index: int, offset: int, role: str = "user") -> Node:
        region = "^sys" if depth < 0 else "^ah" if depth == 0 else "^seq"
        return Node(name, region, depth, index, offset, role, "dialogue", "normal", 5, name * 2)

    nodes = [
        node("sys", -1, 0, 0, "system"),
        node("pre", 0, 0, -1),
        node("core", 0, 0, 0),
        node("post", 0, 0, 1, "tool"),
        node("orphan", 0, 1, 1),
    ]
    snapshot = Snapshot("@t0", None, 25, nodes, [{"role": n.role, "content": n.id} for n in nodes])
    snapshot = Snapshot.from_bytes(snapshot.canonical_bytes())

    def ids(query: str) -> list[str]:
        return select_snapshot(snapshot, query).ids

    assert ids(":pre") == ["pre"] and ids(":post") == ["post", "orphan"] and ids(":core") == ["sys", "core"]
    assert ids("(d0,*,+1)") == ["post", "orphan"] and ids("(d0,0,-1..1)") == ["pre", "core", "post"]
    assert ids("^ah > *") == ["core", "orphan"] and ids("^ah *") == ["pre", "core", "post", "orphan"]
    assert ids("^ah > * > *") == ["pre", "post"] and ids(".user > .tool") == ["post"]
    assert ids("^ah > :post") == ["orphan"] and ids(":pre:first, .tool:last") == ["pre", "post"]
    assert ids(':contains("orph")') == ["orphan"]
    with pytest.raises(InvalidInputError, match="one point of history"):
        select_snapshot(snapshot, "@t-1 .user")


# -- errors -------------------------------------------------------------------------------------

ERRORS = [
    ("^seq.user", 5, "a region stands alone"),
    (".user ^seq", 7, "can only start a selector"),
    (".User", 1, "unexpected '.'"),
    ("^foo", 2, "region name"),
    (":foo", 2, "pseudo-class"),
    ("{tokens>abc}", 9, "compares numbers"),
    ('{model~="("}', 9, "not a regular expression"),
    ("[ttl=x]", 6, "whole numbers"),
    ("[pinned=3]", 9, "is a flag"),
    ("(d5..d2)", 2, "write the smaller end first"),
    ("(d1,-1)", 5, "index is 0 or more"),
    ("@t-1..@t-3 .user", 1, "older end first"),
    (".user,", 7, "ends too soon"),
    ("", 1, "empty"),
    ("   ", 4, "empty"),
    ("  .user >", 10, "ends too soon"),
    ("#", 2, "ends too soon"),
    ('#""', 2, "empty quoted name"),
    (".user @limit=x", 7, "unexpected '@'"),
    ("(d99999999999999999999)", 2, "too many digits"),
]


@pytest.mark.parametrize(("query", "column", "problem"), ERRORS, ids=[q or "empty" for q, _, _ in ERRORS])
def test_malformed_queries_name_the_column_with_a_caret(query: str, column: int, problem: str) -> None:
    with pytest.raises(SelectorSyntaxError) as caught:
        parse_selector(query)
    error = caught.value
    assert error.column == column and error.query == query
    assert problem in error.problem or any(problem in e for e in error.expected)
    lines = str(error).splitlines()
    assert lines[0].startswith(f"bad selector at column {column}:")
    assert lines[1] == "  " + query and lines[2] == "  " + " " * (column - 1) + "^"
    assert isinstance(error, InvalidInputError)


def test_the_error_says_what_was_expected_readably() -> None:
    with pytest.raises(SelectorSyntaxError) as caught:
        parse_selector("^seq >")
    assert "a type (.user, .tool_result, ...)" in caught.value.expected and '"#"' in caught.value.expected
    assert "expected " in str(caught.value) and "docs/selectors.md" in str(caught.value)
    with pytest.raises(SelectorSyntaxError) as caught:
        parse_selector("{role user}")
    assert any("operator" in e for e in caught.value.expected)
    with pytest.raises(InvalidInputError, match="is text"):
        parse_selector(42)  # type: ignore[arg-type]


def test_parsing_is_cached_per_query_string() -> None:
    query = '.user:contains("cached") @limit=3'
    assert parse_selector(query) is parse_selector(query)


# -- arbitrary strings --------------------------------------------------------------------------

FRAGMENTS = [
    *["^sys", "^seq", "^ah", "^", ".user", ".tool_result", ".", "#k", "#", "+t", "+", "*", " ", "  ", ">", " > "],
    *[",", ", ", "{", "}", "role", "=", "!=", "~=", "<", ">=", "user", "5", "-1", '"x"', "'y'", '"', "[", "]"],
    *["ttl", "pinned", "sticky", "(", ")", "d1", "d*", "..", "*", "+1", ":", "first", "last", "nth", "contains"],
    *["pre", "@t0", "@t-1", "@t-2..@t0", "@history", "@limit=2", " @limit=", "\\", "\n", "é", "\x00"],
]
QUERY_TEXT = st.one_of(st.text(max_size=40), st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join))


@settings(max_examples=400, deadline=None)
@given(QUERY_TEXT)
def test_any_string_parses_or_raises_the_syntax_error(text: str) -> None:
    try:
        query = parse_selector(text)
    except SelectorSyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
        return
    assert query.selectors and query.text == text


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(QUERY_TEXT)
def test_any_string_selects_or_raises_the_syntax_error(known: Any, text: str) -> None:
    t, _ = known
    try:
        found = t.select(text)
    except SelectorSyntaxError:
        return
    except TemporalAddressError:  # well-formed, but back past the first cycle
        assert parse_selector(text).temporal is not None
        return
    assert isinstance(found, (Selection, SelectionSeries))


# -- agreement with a brute-force filter over random trees ----------------------------------------

ROLES_AND_TYPES = ["user", "assistant", "system", "tool", "tool_call", "tool_result", "dialogue", "note"]
TAGS = ["red", "blue"]
KEYS = ["k:1", "k:2"]
MODELS = ["m-a", "m-b"]

step = st.one_of(
    st.tuples(st.just("user"), st.sampled_from(["alpha", "beta", "gamma"]), st.lists(st.sampled_from(TAGS), max_size=2),
              st.integers(0, 4), st.sampled_from([None, "note"])),
    st.tuples(st.just("assistant"), st.sampled_from(["ok", "alpha done"]), st.sampled_from([None, *MODELS])),
    st.tuples(st.just("tool"), st.sampled_from(["beta result", "delta"]), st.sampled_from([None, *KEYS])),
    st.tuples(st.just("life"), st.sampled_from(["gamma note", "sticky"]),
              st.sampled_from([Temporary(0), Temporary(2), Lifecycle(cadence=2), Sticky()])),
    st.tuples(st.just("annotate"), st.integers(0, 30), st.sampled_from([PINNED, SKIP])),
)  # fmt: skip


def grow(t: Tract, steps: list[tuple[Any, ...]]) -> None:
    t.system("rules")
    said: list[str] = []
    calls = itertools.count()
    for kind, *args in steps:
        if kind == "user":
            text, tags, n, content_type = args
            meta = {"tags": tags, "n": n} if tags else {"n": n}
            said.append(t.user(text, metadata=meta, content_type=content_type).hash)
        elif kind == "assistant":
            config = {"model": args[1]} if args[1] else None
            said.append(t.assistant(args[0], generation_config=config).hash)
        elif kind == "tool":
            call_id = f"c{next(calls)}"
            said.append(t.assistant(tool_calls=[call(call_id, "find")]).hash)
            said.append(t.tool_result(call_id, args[0], key=args[1]).hash)
        elif kind == "life":
            said.append(t.user(args[0], lifecycle=args[1]).hash)
        elif said:
            target = said[args[0] % len(said)]
            if target in t.compile().commit_hashes:  # only what HEAD's context shows
                t.annotate(target, args[1])


# a query as data (rendered to text for the parser, evaluated by the brute force below)
simple = st.one_of(
    st.sampled_from(ROLES_AND_TYPES).map(lambda n: ("type", n)),
    st.sampled_from(KEYS).map(lambda k: ("key", k)),
    st.sampled_from(TAGS).map(lambda g: ("tag", g)),
    st.tuples(st.sampled_from(["tokens", "depth", "index", "n"]), st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
              st.integers(-1, 12)).map(lambda a: ("attr", *a)),
    st.tuples(st.sampled_from(["role", "model", "content_type", "priority"]), st.sampled_from(["=", "!=", "~="]),
              st.sampled_from(["user", "m-a", "m", "note", "pinned", "a"])).map(lambda a: ("attr", *a)),
    st.sampled_from(["ttl", "cadence", "sticky", "pinned", "skipped", "keyed"]).map(lambda b: ("behaviour", b, None)),
    st.sampled_from([0, 2]).map(lambda v: ("behaviour", "ttl", v)),
    st.tuples(st.integers(-1, 4), st.one_of(st.none(), st.integers(-1, 5)), st.one_of(st.none(), st.integers(0, 3)))
      .map(lambda p: ("pos", *p)),
    st.sampled_from(["core", "pre", "post"]).map(lambda k: ("offset", k)),
    st.sampled_from(["alpha", "result", "ok"]).map(lambda s: ("contains", s)),
)  # fmt: skip
picks = st.lists(st.sampled_from([0, -1, 1, -2]), max_size=1)
compound = st.one_of(
    st.sampled_from(["^sys", "^seq", "^ah"]).map(lambda r: ("region", r)),
    st.tuples(st.lists(simple, max_size=2), picks).map(lambda c: ("nodes", tuple(c[0]), tuple(c[1]))),
)
complex_ = st.tuples(compound, st.lists(st.tuples(st.sampled_from([">", " "]), compound), max_size=2)).filter(
    lambda c: all(part[1][0] != "region" for part in c[1])
)
query = st.tuples(st.lists(complex_, min_size=1, max_size=2), st.one_of(st.none(), st.integers(0, 4)))


def render_simple(s: tuple[Any, ...]) -> str:
    kind = s[0]
    if kind == "type":
        return "." + s[1]
    if kind == "key":
        return f'#"{s[1]}"'
    if kind == "tag":
        return "+" + s[1]
    if kind == "attr":
        value = f'"{s[3]}"' if isinstance(s[3], str) else str(s[3])
        return f"{{{s[1]}{s[2]}{value}}}"
    if kind == "behaviour":
        return f"[{s[1]}]" if s[2] is None else f"[{s[1]}={s[2]}]"
    if kind == "pos":
        depth, index, offset = s[1:]
        parts = [f"d{depth}..d*" if depth >= 2 else f"d{depth}"]
        if index is not None or offset is not None:
            parts.append("*" if index is None else f"0..{index}" if index >= 0 else "*")
        if offset is not None:
            parts.append(f"{offset}..*")
        return "(" + ",".join(parts) + ")"
    if kind == "offset":
        return ":" + s[1]
    return f':contains("{s[1]}")'


def render(q: tuple[Any, ...]) -> str:
    def one(c: tuple[Any, ...]) -> str:
        if c[0] == "region":
            return c[1]
        tests = "".join(render_simple(s) for s in c[1]) or "*"
        return tests + "".join(":first" if p == 0 else ":last" if p == -1 else f":nth({p})" for p in c[2])

    def chain(first: tuple[Any, ...], rest: list[tuple[str, Any]]) -> str:
        return one(first) + "".join((" > " if comb == ">" else " ") + one(c) for comb, c in rest)

    selectors, limit = q
    return ", ".join(chain(first, rest) for first, rest in selectors) + ("" if limit is None else f" @limit={limit}")


class Brute:
    """The selector semantics of docs/selectors.md, written as plainly as possible."""

    def __init__(self, t: Tract) -> None:
        self.snapshot = t.snapshot()
        entries = {e.commit: e for e in t.compile().entries()}
        self.nodes = list(self.snapshot.nodes)
        self.meta = {n.id: entries[n.id].metadata or {} for n in self.nodes}
        self.config = {n.id: t.show(entries[n.id].source).generation_config or {} for n in self.nodes}
        self.text = {n.id: self.words(entries[n.id].message) for n in self.nodes}

    @staticmethod
    def words(message: dict[str, Any]) -> str:
        content = message.get("content")
        names = [c["function"]["name"] for c in message.get("tool_calls") or []]
        return " ".join([content if isinstance(content, str) else "", *names])

    def parent(self, node: Node) -> Any:
        if node.offset != 0:
            for other in self.nodes:
                if other.offset == 0 and (other.depth, other.index) == (node.depth, node.index):
                    return other
        return node.region

    def ancestors(self, node: Node) -> list[Any]:
        up = self.parent(node)
        return [up] if isinstance(up, str) else [up, up.region]

    def value(self, node: Node, name: str) -> Any:
        if name in ("tokens", "depth", "index", "role", "content_type", "priority"):
            return getattr(node, name)
        return self.meta[node.id].get(name, self.config[node.id].get(name))

    def passes(self, node: Node, s: tuple[Any, ...]) -> bool:
        import re

        kind = s[0]
        life = node.lifecycle or {}
        if kind == "type":
            return s[1] in (node.role, node.content_type)
        if kind == "key":
            return node.key == s[1]
        if kind == "tag":
            return s[1] in node.tags
        if kind == "attr":
            name, op, wanted = s[1:]
            got = self.value(node, name)
            if op in ("=", "!="):
                same = got == wanted and type(got) is type(wanted)
                return same if op == "=" else not same
            if op == "~=":
                return isinstance(got, str) and re.search(wanted, got) is not None
            if not isinstance(got, int) or isinstance(got, bool) or not isinstance(wanted, int):
                return False
            return {"<": got < wanted, "<=": got <= wanted, ">": got > wanted, ">=": got >= wanted}[op]
        if kind == "behaviour":
            name, wanted = s[1:]
            if name in ("ttl", "cadence"):
                return life.get(name) is not None if wanted is None else life.get(name) == wanted
            return {
                "sticky": life.get("sticky") is True,
                "pinned": node.priority == "pinned",
                "skipped": node.priority == "skip",
                "keyed": node.key is not None,
            }[name]
        if kind == "pos":
            depth, index, offset = s[1:]
            ok = node.depth >= depth if depth >= 2 else node.depth == depth
            if index is not None and index >= 0:
                ok = ok and 0 <= node.index <= index
            return ok and (offset is None or node.offset >= offset)
        if kind == "offset":
            return {"core": node.offset == 0, "pre": node.offset < 0, "post": node.offset > 0}[s[1]]
        return s[1] in self.text[node.id]

    def matches(self, element: Any, c: tuple[Any, ...]) -> bool:
        if c[0] == "region":
            return element == c[1]
        if not c[1] and not c[2]:  # a bare * matches regions and nodes
            return True
        return isinstance(element, Node) and all(self.passes(element, s) for s in c[1])

    def run(self, q: tuple[Any, ...]) -> list[str]:
        chosen: set[str] = set()
        for first, rest in q[0]:
            elements: list[Any] = ["^sys", "^seq", "^ah", *self.nodes]
            matched = [e for e in elements if self.matches(e, first)]
            matched = self.pick(matched, first)
            for comb, c in rest:
                near = (lambda e: [self.parent(e)]) if comb == ">" else self.ancestors
                matched = [e for e in self.nodes if self.matches(e, c) and any(a in matched for a in near(e))]
                matched = self.pick(matched, c)
            for e in matched:
                chosen.update(n.id for n in self.nodes if n.region == e) if isinstance(e, str) else chosen.add(e.id)
        ordered = [n.id for n in self.nodes if n.id in chosen]
        return ordered if q[1] is None else ordered[: q[1]]

    @staticmethod
    def pick(matched: list[Any], c: tuple[Any, ...]) -> list[Any]:
        if c[0] == "region":
            return matched
        for p in c[2]:
            matched = [matched[p]] if -len(matched) <= p < len(matched) else []
        return matched


_ids = itertools.count()


def agree(factory: Any, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(step, min_size=3, max_size=16), st.lists(query, min_size=1, max_size=6))
    def check(steps: list[tuple[Any, ...]], queries: list[tuple[Any, ...]]) -> None:
        t = factory.open(tract_id=f"random-{next(_ids)}", config=CONFIG)
        grow(t, steps)
        brute = Brute(t)
        for q in queries:
            text = render(q)
            assert picked(t, text) == brute.run(q), text
        t.close()

    check()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_select_agrees_with_a_brute_force_filter_over_random_trees(factory: Any) -> None:
    agree(factory, 40)


@pytest.mark.parametrize("backend", ["postgres"])
def test_select_agrees_with_the_brute_force_filter_on_postgresql(factory: Any) -> None:
    agree(factory, 6)


# -- where a selection is accepted ---------------------------------------------------------------


def test_annotate_and_set_lifecycle_take_a_selection_all_or_nothing(tmp_path: Any) -> None:
    with Tract.open(tmp_path / "t.db", config=CONFIG) as t:
        ids = billing(t)
        old = t.select("^seq .user")
        infos = t.annotate(old, SKIP, reason="old questions")
        assert [i.target for i in infos] == old.ids and all(i.reason == "old questions" for i in infos)  # type: ignore[union-attr]
        assert picked(t, ".user") == [ids["q3"], ids["plan"]]
        changed = t.set_lifecycle(t.select("^ah .user"), Temporary(0))
        assert len(changed) == 2 and t.show(ids["q3"]).lifecycle_changes[-1].lifecycle == Temporary(0)
        stale = t.select(".assistant:first, ^ah > *")
        t.reset(ids["a2"], "hard")  # q3 and plan leave the history; the tool call stays
        with pytest.raises(CommitNotFoundError):
            t.annotate(stale, PINNED)  # the tool call is annotated first, then q3 fails
        assert t.show(ids["call"]).annotations == ()  # nothing of the failed batch was written
        with pytest.raises(InvalidInputError, match="one selection per snapshot"):
            t.annotate(t.select("@t-1..@t0 .user"), PINNED)


def test_compress_select_takes_an_unbroken_run_of_the_context() -> None:
    with Tract.open(config=CONFIG) as t:
        t.system("rules")
        for i in range(8):
            t.user(f"question {i}")
            t.assistant(f"answer {i}")
        t.user("now")
        old = t.select("^seq (d5..d*)")
        result = t.compress(content="Questions 0-3 were answered.", select="^seq (d5..d*)")
        assert result.replaced == tuple(old.ids)  # type: ignore[union-attr]
        assert picked(t, ".summary") == [result.summary.hash]  # type: ignore[union-attr]
        shown = [m["content"] for m in t.compile().messages][:3]
        assert shown == ["rules", "Questions 0-3 were answered.", "question 4"]
        with pytest.raises(InvalidInputError, match="not one unbroken run"):
            t.compress(content="x", select=".user")
        with pytest.raises(InvalidInputError, match="not from HEAD's context"):
            t.compress(content="x", select=t.select("@t-1 .user:first"))  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="selects nothing"):
            t.compress(content="x", select="#nothing")
        with pytest.raises(InvalidInputError, match="not both"):
            t.compress(content="x", select=".user", from_commit=t.head)
        with pytest.raises(SelectorSyntaxError):
            t.compress(content="x", select="^seq.user")


def test_the_context_select_tool_returns_ids_and_coordinates(known: Any) -> None:
    t, ids = known
    assert "context_select" in [tool["function"]["name"] for tool in t.as_tools(profile="self")]

    def run(**arguments: Any) -> Any:
        function = {"name": "context_select", "arguments": json.dumps(arguments)}
        return t.execute_tool({"id": "1", "type": "function", "function": function})["content"]

    found = json.loads(run(query="^seq .tool_result, #invoice:42"))
    assert found["count"] == 1 and found["matches"][0]["commit"] == ids["res"][:12]
    assert found["matches"][0]["coordinate"] == [2, 0, 0] and found["matches"][0]["text"] == "Invoice 42: 120 EUR"
    assert [m["commit"] for m in json.loads(run(query=".user", at="@t-1", limit=2))["matches"]] == [
        ids["q1"][:12],
        ids["note"][:12],
    ]
    error = run(query="^seq.user")
    assert "column 5" in error and "a region stands alone" in error


def test_tract_select_on_the_command_line(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cli.db"
    with Tract.open(path, config=CONFIG) as t:
        ids = billing(t)
    assert main(["--db", str(path), "select", "^seq .tool_result", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [n["id"] for n in data["nodes"]] == [ids["res"]] and data["nodes"][0]["depth"] == 2
    assert main(["--db", str(path), "select", ".user", "--at", "@t-1..@t0", "--json"]) == 0
    series = json.loads(capsys.readouterr().out)
    assert [s["at"] for s in series["selections"]] == ["@t-1", "@t0"] and series["diffs"][0]["added"]
    assert main(["--db", str(path), "select", "+billing"]) == 0
    table = capsys.readouterr().out
    assert "2 nodes selected" in table and ids["q1"][:12] in table and ids["q3"][:12] not in table
    assert main(["--db", str(path), "select", "^seq.user"]) == 2
    err = capsys.readouterr().err
    assert "column 5" in err and "      ^" in err.splitlines()[2]
