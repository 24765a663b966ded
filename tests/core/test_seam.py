"""The seam adapters use: the per-message view of a compiled context, the one write path
(``write_chain``) and the storage interface (:mod:`tract_core.storage`), on every backend."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select

from tract_core import (
    EDIT,
    PINNED,
    SKIP,
    CommitNotFoundError,
    CompiledContext,
    CompiledMessage,
    ConcurrentUpdateError,
    InvalidInputError,
    InvalidRoleError,
    StorageError,
    Tract,
    storage,
)
from tract_core.objects import Blob
from tract_core.storage import ChainMarker, ChainMessage, PreparedStatement, Transaction, compile_order
from tract_core.tokens import REPLY_PRIMING

NOTES = Table(
    "seam_test_notes",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("tract_id", String(255)),
    Column("commit_hash", String(64)),
)


def _call(call_id: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


# --------------------------------------------------------------------------- entries


def test_entries_describe_each_compiled_message(factory) -> None:
    t = factory.open(tract_id="entries")
    system = t.system("Be brief.")
    question = t.user("Where is my order?", metadata={"channel": "web"})
    answer = t.assistant("On its way.")
    t.commit("Where is order 42?", operation=EDIT, response_to=question)
    context = t.compile()
    entries = context.entries()
    assert [e.message for e in entries] == context.messages
    assert tuple(e.commit for e in entries) == context.commit_hashes == (system.hash, question.hash, answer.hash)
    assert sum(e.tokens for e in entries) + REPLY_PRIMING == context.token_count
    assert [e.priority for e in entries] == [PINNED, "normal", "normal"]
    assert [e.pinned for e in entries] == [True, False, False]
    assert [e.edited for e in entries] == [False, True, False]
    assert entries[1].source != question.hash and entries[1].body == {"content": "Where is order 42?"}
    assert entries[1].metadata == {"channel": "web"} and entries[0].metadata is None
    assert [e.content_hash for e in entries] == [Blob.from_body(e.body).hash for e in entries]
    assert all(isinstance(e, CompiledMessage) for e in entries)
    # a fresh handle compiles from scratch (the bulk path): the same entries
    assert factory.open(tract_id="entries").compile().entries() == entries


def test_entries_hand_out_copies_and_cannot_be_changed(factory) -> None:
    t = factory.open(tract_id="copies")
    t.user([{"type": "text", "text": "hello"}], metadata={"tags": ["a"]})
    entry = t.compile().entries()[0]
    entry.message["content"][0]["text"] = "changed"
    entry.metadata["tags"].append("b")  # type: ignore[index]
    again = t.compile().entries()[0]
    assert again.message["content"][0]["text"] == "hello" and again.metadata == {"tags": ["a"]}
    with pytest.raises(AttributeError):
        entry.tokens = 0  # type: ignore[misc]


def test_an_edit_back_to_the_original_text_is_not_edited(factory) -> None:
    t = factory.open(tract_id="undo")
    info = t.user("first")
    t.commit("second", operation=EDIT, response_to=info)
    t.commit("first", operation=EDIT, response_to=info)
    entry = t.compile().entries()[0]
    assert entry.source != info.hash and not entry.edited
    assert entry.content_hash == Blob.from_body({"content": "first"}).hash


def test_entries_show_the_tool_calls_compile_keeps(factory) -> None:
    """Skipping one tool result drops its call from the assistant message: the entry says so."""
    t = factory.open(tract_id="tools")
    t.user("Look both up")
    t.assistant("Looking.", tool_calls=[_call("a"), _call("b")])
    skipped = t.tool_result("a", "result a")
    t.tool_result("b", "result b")
    t.annotate(skipped, SKIP)
    context = t.compile()
    assistant = context.entries()[1]
    assert [c["id"] for c in assistant.message["tool_calls"]] == ["b"]
    assert assistant.edited and assistant.content_hash == Blob.from_body(assistant.body).hash
    assert sum(e.tokens for e in context.entries()) + REPLY_PRIMING == context.token_count


def test_a_hand_built_context_has_no_entries() -> None:
    with pytest.raises(InvalidInputError, match="Tract.compile"):
        CompiledContext([{"role": "user", "content": "hi"}], ["0" * 64], 5, None).entries()


# --------------------------------------------------------------------------- write_chain


def _messages(*texts: str) -> list[ChainMessage]:
    return [ChainMessage("user" if i % 2 == 0 else "assistant", {"content": text}) for i, text in enumerate(texts)]


def test_write_chain_makes_the_commits_tract_commit_makes(factory) -> None:
    """Same messages, same history: the same ids whichever way they were written."""
    direct = factory.open(tract_id="direct")
    direct.user("Hi", metadata={"k": 1})
    direct.assistant("Hello!")
    store = factory.open(tract_id="other").store

    def write(tx: Transaction) -> storage.WrittenChain:
        tx.ensure_tract("chained")
        messages = [ChainMessage("user", {"content": "Hi"}, metadata={"k": 1}), *_messages("", "Hello!")[1:]]
        return tx.write_chain("chained", messages, parent=None, ref="main", expected=None, action="import")

    written = storage.run_write(store, write)
    chained = Tract.open(store=store, tract_id="chained")
    assert written.commits == tuple(c.hash for c in reversed(direct.log())) and written.moved
    assert written.tip == chained.head == direct.head
    assert chained.compile() == direct.compile()
    assert [(r.ref, r.old, r.new, r.action) for r in chained.reflog()] == [("main", None, written.tip, "import")]
    assert written.contents == tuple(e.content_hash for e in chained.compile().entries())


def test_write_chain_continues_a_branch_under_compare_and_swap(factory) -> None:
    t = factory.open(tract_id="cas")
    base = t.user("one").hash
    moved_meanwhile = t.assistant("two").hash

    def stale(tx: Transaction) -> None:
        tx.write_chain("cas", _messages("three"), parent=base, ref="main")  # main is no longer at base

    with pytest.raises(ConcurrentUpdateError, match="moved"):
        storage.run_write(t.store, stale)
    assert t.head == moved_meanwhile and len(t.log(limit=None)) == 2

    def recover(tx: Transaction) -> str | None:
        with contextlib.suppress(ConcurrentUpdateError):  # nothing was written: the transaction goes on
            tx.write_chain("cas", _messages("three"), parent=base, ref="main")
        return tx.write_chain("cas", _messages("three"), parent=moved_meanwhile, ref="main").tip

    tip = storage.run_write(t.store, recover)
    assert t.head == tip and [c.content for c in t.log()] == ["three", "two", "one"]


def test_write_chain_refuses_what_tract_refuses_and_writes_nothing(factory) -> None:
    t = factory.open(tract_id="rules")
    t.user("kept")
    head = t.head
    bad = [
        (ChainMessage("robot", {"content": "x"}), InvalidRoleError),
        (ChainMessage("user", {"content": float("nan")}), InvalidInputError),
        (ChainMessage("user", {"content": "x"}, content_type="Not Valid"), InvalidInputError),
        (ChainMessage("user", {"content": "x"}, metadata={"bad": {1, 2}}), InvalidInputError),
        (ChainMessage("user", "not a dict"), InvalidInputError),  # type: ignore[arg-type]
        ({"role": "user", "content": "x"}, InvalidInputError),
    ]
    for message, error in bad:

        def write(tx: Transaction, message=message) -> None:
            tx.write_chain("rules", [*_messages("fine"), message], parent=head, ref="main")

        with pytest.raises(error):
            storage.run_write(t.store, write)
    with pytest.raises(CommitNotFoundError):
        storage.run_write(t.store, lambda tx: tx.write_chain("rules", _messages("x"), parent="ab" * 32, ref="main"))
    with pytest.raises(InvalidInputError):
        storage.run_write(t.store, lambda tx: tx.write_chain("rules", _messages("x"), parent=head, ref="no..branch"))
    assert t.head == head and [c.content for c in t.log(limit=None)] == ["kept"]


def test_write_chain_holds_its_tip_against_gc(factory) -> None:
    t = factory.open(tract_id="held")
    root = t.user("root").hash
    tip = storage.run_write(
        t.store, lambda tx: tx.write_chain("held", _messages("a", "b"), parent=root, hold="my-adapter").tip
    )
    assert t.head == root  # no ref moved: only the hold keeps the chain
    t.gc(orphan_retention_days=0, now=4e9)
    assert t.compile(at_commit=tip).messages[-1]["content"] == "b"
    assert storage.run_write(t.store, lambda tx: tx.release("held", "my-adapter")) == 1
    t.gc(orphan_retention_days=0, now=4e9)
    with pytest.raises(CommitNotFoundError):
        t.compile(at_commit=tip)


def test_an_empty_chain_moves_the_branch_to_its_parent(factory) -> None:
    t = factory.open(tract_id="rewind")
    first = t.user("one").hash
    second = t.assistant("two").hash
    written = storage.run_write(
        t.store, lambda tx: tx.write_chain("rewind", [], parent=first, ref="main", expected=second, action="rewind")
    )
    assert written.tip == first and written.commits == () and written.moved
    assert t.head == first and t.reflog(limit=1)[0].action == "rewind"


def test_a_marker_commit_records_without_a_message(factory) -> None:
    """A ChainMarker is a commit with metadata and no message: compile shows nothing for it."""
    t = factory.open(tract_id="marked")
    t.user("one")
    before = t.compile()
    head = t.head
    marker = ChainMarker("my_adapter_note", {"note": {"seen": 1}}, "My adapter: seen")
    written = storage.run_write(
        t.store, lambda tx: tx.write_chain("marked", [marker], parent=head, ref="main", action="my adapter", hold="me")
    )
    assert t.head == written.tip != head and written.contents == () and written.moved
    assert t.compile().messages == before.messages
    commit = storage.run_read(t.store, lambda tx: tx.commit("marked", written.tip))
    assert commit is not None and commit.blob is None and commit.role is None and commit.parents == (head,)
    assert commit.content_type == "my_adapter_note" and commit.message == "My adapter: seen"
    assert storage.run_read(t.store, lambda tx: tx.commit("marked", "ab" * 32)) is None
    again = storage.run_write(t.store, lambda tx: tx.write_chain("marked", [marker], parent=head))
    assert again.tip == written.tip  # deterministic: same parent and marker, same commit
    with pytest.raises(InvalidInputError):
        storage.run_write(t.store, lambda tx: tx.write_chain("marked", [ChainMarker("Not Valid")], parent=head))


def test_priorities_branches_reflog_and_change_marks(factory) -> None:
    t = factory.open(tract_id="looked")
    system = t.system("Be brief.").hash
    question = t.user("one").hash
    answer = t.assistant("two").hash

    def look(tx: Transaction) -> tuple:
        head = tx.branch_tip("looked", "main")
        order = compile_order(head, tx.history("looked"))
        return [e.hash for e in order], tx.priorities("looked", order), tx.branch_tip_and_mark("looked", "main")

    order, priorities, (tip, mark) = storage.run_read(t.store, look)
    assert order == [system, question, answer] and tip == answer
    assert priorities == {system: PINNED, question: "normal", answer: "normal"}
    t.annotate(question, SKIP)
    _, priorities, (tip, later) = storage.run_read(t.store, look)
    assert priorities[question] == SKIP and tip == answer and later > mark
    assert storage.run_read(t.store, lambda tx: tx.priorities("looked", [])) == {}
    storage.run_write(t.store, lambda tx: tx.create_branch("looked", "kept", question, action="my fork"))
    assert storage.run_read(t.store, lambda tx: tx.branches("looked")) == {"kept": question, "main": answer}
    moves = storage.run_read(t.store, lambda tx: tx.reflog("looked", "kept"))
    assert [(m.ref, m.old, m.new, m.action) for m in moves] == [("kept", None, question, "my fork")]
    newest = storage.run_read(t.store, lambda tx: tx.reflog("looked", limit=1))
    assert [m.ref for m in newest] == ["kept"]
    with pytest.raises(CommitNotFoundError):
        storage.run_read(t.store, lambda tx: compile_order("ab" * 32, tx.history("looked")))


# --------------------------------------------------------------------------- storage


def test_an_adapter_table_lands_with_the_commits_or_not_at_all(factory) -> None:
    store = factory.open(tract_id="setup").store
    storage.run_write(store, lambda tx: tx.create_tables([NOTES]))
    storage.run_write(store, lambda tx: tx.create_tables([NOTES]))  # idempotent
    note = PreparedStatement(insert(NOTES).values(tract_id=bindparam("tract_id"), commit_hash=bindparam("commit")))
    count = PreparedStatement(select(NOTES.c.commit_hash).where(NOTES.c.tract_id == bindparam("tract_id")))

    def remember(tx: Transaction, fail: bool) -> str | None:
        tx.ensure_tract("notes")
        tip = tx.write_chain("notes", _messages("hi"), parent=tx.branch_tip("notes", "main"), ref="main").tip
        assert note.run(tx, {"tract_id": "notes", "commit": tip}) == 1
        if fail:
            raise RuntimeError("the adapter failed after writing")
        return tip

    with pytest.raises(RuntimeError):
        storage.run_write(store, lambda tx: remember(tx, True))
    assert storage.run_read(store, lambda tx: (tx.has_tract("notes"), count.all(tx, {"tract_id": "notes"}))) == (
        False,
        [],
    )
    tip = storage.run_write(store, lambda tx: remember(tx, False))
    assert storage.run_read(store, lambda tx: count.one(tx, {"tract_id": "notes"})) == (tip,)
    assert Tract.open(store=store, tract_id="notes", create=False).head == tip


def test_reads_run_together_return_each_ones_rows_in_order_and_see_deferred_writes(factory) -> None:
    store = factory.open(tract_id="setup").store
    storage.run_write(store, lambda tx: tx.create_tables([NOTES]))
    note = PreparedStatement(insert(NOTES).values(tract_id=bindparam("tract_id"), commit_hash=bindparam("commit")))
    notes = PreparedStatement(
        select(NOTES.c.commit_hash).where(NOTES.c.tract_id == bindparam("tract_id")).order_by(NOTES.c.commit_hash)
    )

    def write_then_read(tx: Transaction) -> list[list[tuple[object, ...]]]:
        for tract_id, commit in (("a", "1"), ("a", "2"), ("b", "3")):
            note.defer(tx, {"tract_id": tract_id, "commit": commit})  # on PostgreSQL: sent with the reads
        return storage.read_together(
            tx, [(notes, {"tract_id": "b"}), (notes, {"tract_id": "a"}), (notes, {"tract_id": "c"})]
        )

    assert storage.run_write(store, write_then_read) == [[("3",)], [("1",), ("2",)], []]
    together = storage.run_read(store, lambda tx: storage.read_together(tx, [(notes, {"tract_id": "a"})]))
    assert together == [[("1",), ("2",)]]
    assert storage.run_read(store, lambda tx: storage.read_together(tx, [])) == []
    missing = PreparedStatement(select(Table("seam_test_missing", MetaData(), Column("x", Integer)).c.x))

    def fail(tx: Transaction) -> None:
        note.defer(tx, {"tract_id": "a", "commit": "4"})
        storage.read_together(tx, [(notes, {"tract_id": "a"}), (missing, {})])

    with pytest.raises(StorageError):  # a failing read: the same clear error as on its own, and a rollback
        storage.run_write(store, fail)
    assert storage.run_read(store, lambda tx: notes.all(tx, {"tract_id": "a"})) == [("1",), ("2",)]


def test_tracts_are_created_copied_and_deleted_through_the_seam(factory) -> None:
    t = factory.open(tract_id="source")
    shared = t.user("shared text").hash
    t.assistant("only here")
    other = factory.open(tract_id="other")
    other.user("shared text")
    store = t.store
    assert storage.run_write(store, lambda tx: tx.ensure_tract("fresh")) is True
    assert storage.run_write(store, lambda tx: tx.ensure_tract("fresh")) is False
    storage.run_write(store, lambda tx: tx.declare_tract("declared"))  # the same, without the answer
    storage.run_write(store, lambda tx: tx.declare_tract("declared"))  # idempotent
    storage.run_write(store, lambda tx: tx.declare_tract("fresh"))  # an existing tract is left as it is
    assert storage.run_read(store, lambda tx: (tx.has_tract("declared"), tx.branch_tip("declared", "main"))) == (
        True,
        None,
    )
    assert Tract.open(store=store, tract_id="declared", create=False).compile().messages == []
    assert storage.run_write(store, lambda tx: tx.ensure_tract("declared")) is False
    assert storage.run_write(store, lambda tx: tx.copy_tract("source", "copy")) is True
    assert storage.run_write(store, lambda tx: tx.copy_tract("source", "copy")) is False  # the target exists
    assert storage.run_write(store, lambda tx: tx.copy_tract("missing", "copy2")) is False
    copy = Tract.open(store=store, tract_id="copy", create=False)
    assert copy.compile() == t.compile()
    assert storage.run_write(store, lambda tx: tx.create_branch("copy", "kept", shared)) is True
    assert copy.reflog(ref="kept")[0].action == "branch: created"
    with pytest.raises(InvalidInputError):
        storage.run_write(store, lambda tx: tx.ensure_tract(""))
    with pytest.raises(InvalidInputError):
        storage.run_write(store, lambda tx: tx.declare_tract(""))
    contents = {e.content_hash: e.body["content"] for e in t.compile().entries()}
    storage.run_write(store, lambda tx: tx.delete_tract("copy"))
    gone = storage.run_write(store, lambda tx: tx.delete_tract("source"))
    assert {contents[h] for h in gone} == {"only here"}  # "shared text" is still another tract's
    assert storage.run_read(store, lambda tx: tx.tract_ids()) == ["declared", "fresh", "other"]
    assert storage.run_read(store, lambda tx: tx.stored_contents(contents)) == set(contents) - gone


def test_history_and_annotations_read_in_bulk(factory) -> None:
    t = factory.open(tract_id="bulk")
    first = t.user("one")
    t.annotate(first, PINNED, reason="keep")
    t.annotate(first, SKIP)
    history, annotations = storage.run_read(t.store, lambda tx: (tx.history("bulk"), tx.annotations("bulk")))
    assert history[first.hash].body == {"content": "one"} and history[first.hash].parents == ()
    assert [(a.target, a.priority, a.reason) for a in annotations] == [
        (first.hash, PINNED, "keep"),
        (first.hash, SKIP, None),
    ]


def test_transactions_join_an_open_batch(factory) -> None:
    t = factory.open(tract_id="batched")
    with t.batch():
        t.user("inside")
        assert storage.run_read(t.store, lambda tx: tx.branch_tip("batched", "main")) == t.head
        storage.run_write(t.store, lambda tx: tx.ensure_tract("also-batched"))
    assert storage.run_read(t.store, lambda tx: tx.has_tract("also-batched"))


def test_async_transactions(factory) -> None:
    store = factory.open(tract_id="async").store

    async def main() -> tuple[str | None, list[str]]:
        tip = await storage.arun_write(
            store,
            lambda tx: tx.write_chain("async", _messages("hi"), parent=None, ref="main", expected=None).tip,
        )
        return tip, await storage.arun_read(store, lambda tx: tx.tract_ids())

    tip, ids = asyncio.run(main())
    assert ids == ["async"] and Tract.open(store=store, tract_id="async").head == tip
    assert storage.native_async(store) is (factory.backend == "postgres")


def test_open_store_takes_a_path_a_url_or_nothing(tmp_path) -> None:
    for target in (None, str(tmp_path / "a.db"), tmp_path / "b.db", f"sqlite:///{tmp_path / 'c.db'}"):
        store = storage.open_store(target)
        try:
            assert storage.run_read(store, lambda tx: tx.tract_ids()) == []
            assert (store.dialect, storage.run_read(store, lambda tx: tx.dialect)) == ("sqlite", "sqlite")
        finally:
            store.close()
    with pytest.raises(InvalidInputError, match="SQLite path or a database URL"):
        storage.open_store(42)  # type: ignore[arg-type]
