"""The context tree read from history: regions and coordinates, temporal addresses accepted wherever
a commit is named, snapshots (canonical bytes, round trip, provider bytes) and PACT diffs, and the
``tract snapshot`` / ``tract tree`` / ``tract diff --pact`` commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tract_core import (
    EDIT,
    PINNED,
    SKIP,
    CommitNotFoundError,
    InvalidInputError,
    TemporalAddressError,
    Tract,
    TractConfig,
)
from tract_core.cli import main
from tract_core.tree import (
    AH,
    SEQ,
    SYS,
    Coordinate,
    Snapshot,
    context_coordinates,
    coordinates_of_roles,
    diff_snapshots,
    parse_temporal,
)

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")


class Words:
    """A deterministic tokenizer (one token per word), so token counts never depend on tiktoken."""

    name = "words-test"

    def count_text(self, text: str) -> int:
        return len(text.split())


def tool_call(call_id: str, name: str, arguments: str = "{}") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def open_tract(**kwargs: Any) -> Tract:
    return Tract.open(config=TractConfig(token_counter=Words()), **kwargs)


def conversation(t: Tract) -> dict[str, str]:
    """System prompt, a plain exchange, a tool round trip, an answer and a new question (3 cycles)."""
    ids = {"system": t.system("You help with orders.").hash}
    ids["hi"] = t.user("Hi, where is order 7?").hash
    ids["call"] = t.commit({"role": "assistant", "content": None, "tool_calls": [tool_call("c1", "lookup")]}).hash
    ids["result"] = t.tool_result("c1", "order 7: shipped").hash
    ids["answer"] = t.assistant("It shipped yesterday.").hash
    ids["thanks"] = t.user("Thanks! And order 8?").hash
    ids["answer8"] = t.assistant("Order 8 is packed.").hash
    ids["next"] = t.user("Great.").hash
    return ids


def places(snapshot: Snapshot) -> list[tuple[str, str, tuple[int, int, int]]]:
    return [(n.region, n.role, n.coordinate) for n in snapshot.nodes]


# -- coordinates ------------------------------------------------------------------------------


def test_depth_counts_the_assistant_messages_at_or_after_each_message() -> None:
    roles = ["system", "developer", "user", "assistant", "user", "assistant", "tool", "user"]
    assert [(c.region, c.depth, c.index, c.offset) for c in coordinates_of_roles(roles)] == [
        (SYS, -1, 0, 0),
        (SYS, -1, 1, 0),
        (SEQ, 2, 0, 0),
        (SEQ, 2, 1, 0),
        (SEQ, 1, 0, 0),
        (SEQ, 1, 1, 0),
        (AH, 0, 0, 0),
        (AH, 0, 1, 0),
    ]
    assert coordinates_of_roles([]) == []
    assert coordinates_of_roles(["system"]) == [Coordinate(-1, 0)]
    assert coordinates_of_roles(["user", "user"]) == [Coordinate(0, 0), Coordinate(0, 1)]
    # a system message after the conversation started belongs to its cycle, not to ^sys
    assert [c.region for c in coordinates_of_roles(["user", "system", "assistant"])] == [SEQ, SEQ, SEQ]
    assert [str(c) for c in coordinates_of_roles(["assistant"])] == ["^seq(1,0,0)"]


def test_regions_and_coordinates_of_a_conversation_with_tool_calls() -> None:
    with open_tract() as t:
        ids = conversation(t)
        snap = t.snapshot()
        assert places(snap) == [
            (SYS, "system", (-1, 0, 0)),
            (SEQ, "user", (3, 0, 0)),
            (SEQ, "assistant", (3, 1, 0)),  # the tool call seals the first cycle
            (SEQ, "tool", (2, 0, 0)),
            (SEQ, "assistant", (2, 1, 0)),
            (SEQ, "user", (1, 0, 0)),
            (SEQ, "assistant", (1, 1, 0)),
            (AH, "user", (0, 0, 0)),
        ]
        assert [n.id for n in snap.nodes] == list(ids.values()) == list(t.compile().commit_hashes)
        assert [n.content_type for n in snap.region(SEQ)][:2] == ["dialogue", "tool_call"]
        assert context_coordinates(t.compile())[1] == Coordinate(3, 0)
        assert all(n.lifecycle is None and n.key is None and n.tags == () for n in snap.nodes)
        with pytest.raises(InvalidInputError, match=r"\^sys, \^seq, \^ah"):
            snap.region("^nope")


def test_a_node_keeps_its_index_and_offset_while_its_depth_grows_odi() -> None:
    with open_tract() as t:
        t.system("Be brief.")
        question = t.user("One?").hash
        seen = []
        for turn in range(3):
            t.assistant(f"Answer {turn}.")
            seen.append(t.snapshot().node(question).coordinate)
            t.user(f"Next {turn}?")
        assert seen == [(1, 0, 0), (2, 0, 0), (3, 0, 0)]


def test_edits_pins_skips_and_a_summary_in_the_tree() -> None:
    with open_tract() as t:
        ids = conversation(t)
        t.commit({"role": "assistant", "content": "Order 8 ships today."}, operation=EDIT, response_to=ids["answer8"])
        t.annotate(ids["hi"], PINNED)
        t.annotate(ids["result"], SKIP)  # skipping a result drops its call too
        snap = t.snapshot()
        assert ids["result"] not in [n.id for n in snap.nodes] and ids["call"] not in [n.id for n in snap.nodes]
        edited = snap.node(ids["answer8"])  # an EDIT keeps the original's id and place
        assert edited.coordinate == (1, 1, 0) and snap.messages[-2]["content"] == "Order 8 ships today."
        assert snap.node(ids["hi"]).pinned and snap.node(ids["hi"]).coordinate == (2, 0, 0)
        with pytest.raises(InvalidInputError, match="no node"):
            snap.node("0" * 64)

    with open_tract() as t:
        conversation(t)
        t.compress(content="The user asked about orders 7 and 8.", keep_recent=2)
        roles = [(n.region, n.role, n.content_type) for n in t.snapshot().nodes]
        # compile places the system summary right after the system prompt: both are the system region
        assert roles[:2] == [(SYS, "system", "instruction"), (SYS, "system", "summary")]
        assert [r for r, _, _ in roles[2:]] == [SEQ, AH]


# -- temporal addresses --------------------------------------------------------------------------


def test_temporal_addresses_name_what_the_model_was_sent_k_cycles_ago() -> None:
    with open_tract() as t:
        ids = conversation(t)
        assert t.compile(at_commit="@t0") == t.compile()
        assert t.show("@t-1").hash == ids["thanks"]  # the context just before the last reply
        assert t.show("@t-2").hash == ids["result"]
        assert t.show(" @t-3").hash == ids["hi"]
        assert t.compile(at_commit="@t-2").commit_hashes == tuple(list(ids.values())[:4])
        assert t.diff("@t-1").b == t.head
        assert [s.at for s in t.snapshot("@history")] == ["@t-3", "@t-2", "@t-1", "@t0"]
        window = t.snapshot("@t-2..@t-1")
        assert [s.head for s in window] == [ids["result"], ids["thanks"]]
        assert t.snapshot("@t-1..@t-1")[0] == t.snapshot("@t-1")
        # an EDIT of a reply is not a provider call: it seals nothing
        t.commit({"role": "assistant", "content": "Order 8 is on its way."}, operation=EDIT, response_to=ids["answer8"])
        assert t.show("@t-1").hash == ids["thanks"]
        t.checkout("@t-2")
        assert t.head == ids["result"] and t.current_branch is None
        assert t.show("@t-1").hash == ids["hi"]  # addresses follow the handle's HEAD


def test_bad_temporal_addresses_are_clear_errors_and_write_nothing() -> None:
    with open_tract() as t:
        conversation(t)
        before = (t.head, t.current_branch, len(t.reflog()))
        with pytest.raises(TemporalAddressError, match=r"goes back 99 cycles.*has 3 cycles: @t-3\.\.@t0"):
            t.checkout("@t-99")
        with pytest.raises(TemporalAddressError, match="has 3 cycles"):
            t.snapshot("@t-4..@t0")
        for bad in ("@t+1", "@tx", "@t-0", "@t", "@t-1~1", "@history..@t0", "@t-1234567890"):
            with pytest.raises(TemporalAddressError, match=r"not a temporal address; write @t0"):
                t.compile(at_commit=bad)
        with pytest.raises(TemporalAddressError, match=r"older end first \(@t-3\.\.@t-1\)"):
            t.snapshot("@t-1..@t-3")
        for several in ("@t-2..@t0", "@history"):
            with pytest.raises(TemporalAddressError, match="names several contexts"):
                t.show(several)
            with pytest.raises(TemporalAddressError, match="names several contexts"):
                t.checkout(several)
        assert (t.head, t.current_branch, len(t.reflog())) == before
    with open_tract() as t:
        empty = t.snapshot()  # like compile(): the empty context
        assert (empty.head, len(empty), [s.at for s in t.snapshot("@history")]) == (None, 0, ["@t0"])
        with pytest.raises(CommitNotFoundError, match="no commits yet"):
            t.show("@t0")
        with pytest.raises(TemporalAddressError, match="no cycle yet"):
            t.snapshot("@t-1")
        t.user("Hi")
        with pytest.raises(TemporalAddressError, match="no cycle yet.*only @t0 exists"):
            t.show("@t-1")
        assert [s.at for s in t.snapshot("@history")] == ["@t0"]
    with open_tract() as t:
        t.assistant("I start.")  # a first commit that is a reply: the context before it is empty
        first, now = t.snapshot("@history")
        assert first.head is None and len(first) == 0 and len(now) == 1
        with pytest.raises(CommitNotFoundError, match="empty context"):
            t.compile(at_commit="@t-1")


def test_parse_temporal() -> None:
    assert parse_temporal("@t0").single and parse_temporal("@t-12").oldest == 12
    assert (parse_temporal("@t-5..@t0").oldest, parse_temporal("@t-5..@t0").newest) == (5, 0)
    assert parse_temporal("@history").every and not parse_temporal("@history").single
    with pytest.raises(TemporalAddressError):
        parse_temporal(3)


# -- snapshots ------------------------------------------------------------------------------------


def test_snapshot_bytes_are_canonical_stable_and_round_trip(tmp_path: Path) -> None:
    with open_tract() as a, open_tract(path=tmp_path / "b.db") as b:
        conversation(a)
        conversation(b)
        one, two = a.snapshot("@t-1"), b.snapshot("@t-1")
        assert one.canonical_bytes() == two.canonical_bytes() == a.snapshot("@t-1").canonical_bytes()
        assert one == two and hash(one) == hash(two) and one.digest == two.digest
        data = json.loads(one.canonical_bytes())
        assert data["v"] == 1 and data["kind"] == "tract.snapshot" and data["at"] == "@t-1"
        assert one.canonical_bytes() == json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        back = Snapshot.from_bytes(one.canonical_bytes())
        assert back == one and back.canonical_bytes() == one.canonical_bytes() and back.nodes == one.nodes
        assert Snapshot.from_bytes(one.to_json()) == one
        at_hash = a.snapshot(a.head)
        assert at_hash.at == a.head and at_hash.nodes == a.snapshot().nodes and at_hash != a.snapshot()
        assert a.snapshot(None) == a.snapshot("@t0")
        with pytest.raises(AttributeError):
            one.at = "@t0"  # type: ignore[misc]
        messages = one.messages
        messages[0]["content"] = "changed"
        assert one.messages[0]["content"] == "You help with orders."


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda d: b"\xff not json", "not snapshot bytes"),
        (lambda d: b"[1, 2]", 'no "kind"'),
        (lambda d: d.replace(b'"v":1', b'"v":9'), "format version 9"),
        (lambda d: d.replace(b'"depth":-1', b'"depth":0'), "does not match depth"),
        (lambda d: d.replace(b'"tokens":', b'"tokenz":', 1), "must have the fields"),
        (lambda d: d.replace(b'"token_count":', b'"token_count": ', 1), "not canonical"),
    ],
)
def test_bad_snapshot_bytes_are_refused(tamper: Any, message: str) -> None:
    with open_tract() as t:
        conversation(t)
        good = t.snapshot().canonical_bytes()
    with pytest.raises(InvalidInputError, match=message):
        Snapshot.from_bytes(tamper(good))


def test_render_is_exactly_what_compile_gives_for_each_format() -> None:
    with open_tract() as t:
        ids = conversation(t)
        t.annotate(ids["hi"], PINNED)
        for at in ("@t0", "@t-1", "@t-2", "@t-3"):
            snap = Snapshot.from_bytes(t.snapshot(at).canonical_bytes())  # from the bytes alone
            for fmt in ("openai", "anthropic"):
                assert snap.render(fmt) == t.compile(at_commit=snap.head).to_bytes(fmt), (at, fmt)
        with pytest.raises(InvalidInputError, match="unknown format 'xml'"):
            snap.render("xml")


# -- PACT diffs -----------------------------------------------------------------------------------


def test_pact_diff_reports_content_not_position() -> None:
    with open_tract() as t:
        ids = conversation(t)
        before = t.snapshot()
        t.assistant("Anything else?")  # every node sinks one cycle: nothing changed
        moved = t.snapshot()
        assert moved.node(ids["hi"]).depth == before.node(ids["hi"]).depth + 1
        assert diff_snapshots(before, moved) == {"added": [moved.nodes[-1].id], "removed": [], "changed": []}
        t.commit({"role": "user", "content": "Great, thanks a lot."}, operation=EDIT, response_to=ids["next"])
        t.annotate(ids["hi"], PINNED)
        t.annotate(ids["answer"], SKIP)
        pact = t.diff(moved.head, format="pact")
        assert pact == {
            "added": [],
            "removed": [ids["answer"]],
            "changed": [
                {"id": ids["hi"], "fields": ["priority"]},
                {"id": ids["next"], "fields": ["content_hash", "tokens"]},
            ],
        }
        assert t.diff("@t0", "@t0", format="pact") == {"added": [], "removed": [], "changed": []}
        assert t.diff("@t-1").a == t.show("@t-1").hash  # format=None: today's ContextDiff
        with pytest.raises(InvalidInputError, match="unknown diff format 'json'"):
            t.diff("@t-1", format="json")
        with pytest.raises(TemporalAddressError, match="names several contexts"):
            t.diff("@history", format="pact")


# -- CLI ------------------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("TRACT_DB", raising=False)
    path = tmp_path / "tree.db"
    with open_tract(path=path) as t:
        ids = conversation(t)
        t.annotate(ids["hi"], PINNED)
    return str(path), ids


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_snapshot_table_and_json(db: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    path, ids = db
    code, out, _ = run(capsys, "--db", path, "snapshot")
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("^")]
    assert [row[:3] for row in rows] == [
        ["^sys", "(-1,0,0)", ids["system"][:12]],
        ["^seq", "(3,0,0)", ids["hi"][:12]],
        ["^seq", "(3,1,0)", ids["call"][:12]],
        ["^seq", "(2,0,0)", ids["result"][:12]],
        ["^seq", "(2,1,0)", ids["answer"][:12]],
        ["^seq", "(1,0,0)", ids["thanks"][:12]],
        ["^seq", "(1,1,0)", ids["answer8"][:12]],
        ["^ah", "(0,0,0)", ids["next"][:12]],
    ]
    assert "✓" in [line for line in out.splitlines() if ids["hi"][:12] in line][0]
    assert "→ lookup()" in out and "Thanks! And order 8?" in out
    code, out, _ = run(capsys, "--db", path, "snapshot", "--at", "@t-1", "--json")
    with Tract.open(path=path, create=False) as t:  # as the command opens it: with the stored config
        assert code == 0 and out.encode() == t.snapshot("@t-1").canonical_bytes() + b"\n"
    code, out, _ = run(capsys, "--db", path, "snapshot", "--at", "@history", "--json")
    assert code == 0 and [s["at"] for s in json.loads(out)] == ["@t-3", "@t-2", "@t-1", "@t0"]
    code, out, err = run(capsys, "--db", path, "snapshot", "--at", "@t-9")
    assert code == 2 and out == "" and "has 3 cycles" in err and err.count("\n") == 1


def test_cli_tree_and_pact_diff(db: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    path, ids = db
    code, out, _ = run(capsys, "--db", path, "tree")
    assert code == 0
    lines = out.splitlines()
    order = [
        next(i for i, line in enumerate(lines) if text in line)
        for text in (
            "^sys",
            ids["system"][:12],
            "^seq",
            "cycle d=3",
            ids["hi"][:12],
            "cycle d=2",
            "cycle d=1",
            "^ah",
            "(0,0,0) user",
        )
    ]
    assert order == sorted(order)
    assert "(3,0,0) user" in out and "pinned" in lines[order[4]]
    code, out, _ = run(capsys, "--db", path, "tree", "--at", "@t-3")
    assert code == 0 and "(0,0,0) user" in out and "(empty)" in out and ids["next"][:12] not in out
    code, out, _ = run(capsys, "--db", path, "diff", "@t-1", "HEAD", "--pact")
    assert code == 0 and json.loads(out) == {
        "added": [ids["answer8"], ids["next"]],
        "removed": [],
        "changed": [{"id": ids["hi"], "fields": ["priority"]}],  # pinned after @t-1 was sent
    }
    code, out, _ = run(capsys, "--db", path, "diff", "@t-1")
    assert code == 0 and "Order 8 is packed." in out
