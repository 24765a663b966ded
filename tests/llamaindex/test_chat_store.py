"""TractChatStore against the ``AsyncDBChatStore`` contract, next to LlamaIndex's own SQLAlchemyChatStore.

``AsyncDBChatStoreContract`` states the contract as TractChatStore's docstring and
``llama_index.core.storage.chat_store.base_db`` describe it: a FIFO queue of ACTIVE messages per
key, an ARCHIVED list, ``status=None`` meaning archived then active (oldest first), positions
counted from the oldest active message. It runs on TractChatStore (SQLite file, in-memory,
PostgreSQL) and on the upstream reference implementation; where upstream departs from the
contract its tests are strict xfails naming the upstream bug, so a fixed upstream shows up here.

Then what only tract does (provenance of archived messages, atomic operations, EDIT/SKIP through
the tract, persistence across instances and processes), and LlamaIndex's ``Memory`` and a
``FunctionAgent`` running on the store, compared with the same runs on SQLAlchemyChatStore.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.memory import Memory, StaticMemoryBlock
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus
from llama_index.core.storage.chat_store.sql import SQLAlchemyChatStore

from tract_core import InvalidInputError, Operation, Priority, Tract
from tract_core.testing import create_database
from tract_llamaindex import TractChatStore

ROOT = Path(__file__).resolve().parents[2]
ACTIVE = MessageStatus.ACTIVE
ARCHIVED = MessageStatus.ARCHIVED
_prefixes = itertools.count()


def dumps(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Messages as JSON data: ChatMessage equality the way a store round-trips them."""
    return [m.model_dump(mode="json") for m in messages]


def texts(messages: Sequence[ChatMessage]) -> list[str | None]:
    return [m.content for m in messages]


def msgs(*names: str, role: str = "user") -> list[ChatMessage]:
    return [ChatMessage(role=role, content=name) for name in names]


def rich_messages() -> list[ChatMessage]:
    """Messages whose every field must come back: tool calls without text, tool results, extra
    ``additional_kwargs``, several blocks (text and an image by URL)."""
    return [
        ChatMessage(role="system", content="You add numbers."),
        ChatMessage(role="user", content="What is 1 + 2?"),
        ChatMessage(
            role="assistant",
            blocks=[ToolCallBlock(tool_call_id="call-1", tool_name="add", tool_kwargs={"a": 1, "b": 2})],
        ),
        ChatMessage(role="tool", content="3", additional_kwargs={"tool_call_id": "call-1"}),
        ChatMessage(
            role="assistant",
            content="It is 3.",
            additional_kwargs={"model": "m-1", "usage": {"input": 12, "output": 4}, "flags": [True, None, 1.5]},
        ),
        ChatMessage(
            role="user",
            blocks=[TextBlock(text="And what is in this picture?"), ImageBlock(url="https://example.com/cat.png")],
        ),
        ChatMessage(
            role="assistant",
            blocks=[
                TextBlock(text="Let me add first."),
                ToolCallBlock(tool_call_id="call-2", tool_name="add", tool_kwargs={"a": 2, "b": 2}),
            ],
        ),
    ]


# -- the contract ---------------------------------------------------------------------------------


class AsyncDBChatStoreContract:
    """The ``AsyncDBChatStore`` contract. Subclasses supply a ``store`` fixture (an empty store).

    ``known_deviations`` maps test names to the reason an implementation fails them; those tests
    run as strict xfails (they must keep failing, or the entry must go).
    """

    known_deviations: ClassVar[dict[str, str]] = {}

    @pytest.fixture(autouse=True)
    def _known_deviation(self, request: pytest.FixtureRequest) -> None:
        reason = self.known_deviations.get(request.function.__name__)
        if reason is not None:
            request.applymarker(pytest.mark.xfail(strict=True, reason=reason))

    # reading ------------------------------------------------------------------------------------

    async def test_unknown_key_reads_as_empty(self, store: AsyncDBChatStore) -> None:
        for status in (ACTIVE, ARCHIVED, None):
            assert await store.get_messages("nobody", status=status) == []
            assert await store.count_messages("nobody", status=status) == 0
        assert await store.delete_message("nobody", 0) is None
        assert await store.delete_oldest_messages("nobody", 3) == []
        assert await store.archive_oldest_messages("nobody", 3) == []
        await store.delete_messages("nobody")
        assert await store.get_keys() == []

    async def test_add_message_appends_active_messages_oldest_first(self, store: AsyncDBChatStore) -> None:
        for message in msgs("m0", "m1", "m2"):
            await store.add_message("k", message)
        assert texts(await store.get_messages("k")) == ["m0", "m1", "m2"]
        assert texts(await store.get_messages("k", status=ACTIVE)) == ["m0", "m1", "m2"]
        assert await store.count_messages("k") == 3
        assert await store.get_messages("k", status=ARCHIVED) == []

    async def test_add_messages_appends_after_existing_ones(self, store: AsyncDBChatStore) -> None:
        await store.add_message("k", ChatMessage(role="user", content="m0"))
        await store.add_messages("k", [ChatMessage(role="assistant", content="m1"), *msgs("m2", "m3")])
        await store.add_messages("k", msgs("m4"))
        got = await store.get_messages("k")
        assert texts(got) == ["m0", "m1", "m2", "m3", "m4"]
        assert [m.role.value for m in got] == ["user", "assistant", "user", "user", "user"]

    async def test_add_messages_with_no_messages_is_a_no_op(self, store: AsyncDBChatStore) -> None:
        await store.add_messages("k", msgs("m0"))
        await store.add_messages("k", [])
        await store.add_messages("empty", [])
        assert texts(await store.get_messages("k")) == ["m0"]
        assert await store.count_messages("empty", status=None) == 0

    async def test_statuses_are_separate_lists(self, store: AsyncDBChatStore) -> None:
        await store.add_messages("k", msgs("a0", "a1"))
        await store.add_message("k", ChatMessage(role="user", content="r0"), status=ARCHIVED)
        await store.add_messages("k", msgs("r1"), status=ARCHIVED)
        assert texts(await store.get_messages("k", status=ACTIVE)) == ["a0", "a1"]
        assert texts(await store.get_messages("k", status=ARCHIVED)) == ["r0", "r1"]
        assert await store.count_messages("k", status=ACTIVE) == 2
        assert await store.count_messages("k", status=ARCHIVED) == 2
        assert await store.count_messages("k", status=None) == 4

    async def test_status_none_lists_archived_then_active(self, store: AsyncDBChatStore) -> None:
        # Archived messages added after the active ones still come first: the archive is older history.
        await store.add_messages("k", msgs("a0", "a1"))
        await store.add_messages("k", msgs("r0", "r1"), status=ARCHIVED)
        assert texts(await store.get_messages("k", status=None)) == ["r0", "r1", "a0", "a1"]

    async def test_limit_and_offset_page_oldest_first(self, store: AsyncDBChatStore) -> None:
        await store.add_messages("k", msgs("m0", "m1", "m2", "m3", "m4"))
        assert texts(await store.get_messages("k", limit=2)) == ["m0", "m1"]
        assert texts(await store.get_messages("k", offset=3)) == ["m3", "m4"]
        assert texts(await store.get_messages("k", offset=1, limit=2)) == ["m1", "m2"]
        assert texts(await store.get_messages("k", offset=4, limit=10)) == ["m4"]
        assert await store.get_messages("k", offset=5) == []
        assert await store.get_messages("k", limit=0) == []
        await store.archive_oldest_messages("k", 2)  # archived m0 m1, active m2 m3 m4
        assert texts(await store.get_messages("k", status=None, offset=1, limit=2)) == ["m1", "m2"]
        assert texts(await store.get_messages("k", status=ARCHIVED, offset=1)) == ["m1"]
        assert texts(await store.get_messages("k", status=ACTIVE, limit=1)) == ["m2"]

    # replacing ----------------------------------------------------------------------------------

    async def test_set_messages_replaces_only_the_active_messages(self, store: AsyncDBChatStore) -> None:
        await store.add_messages("k", msgs("a0", "a1", "a2"))
        await store.archive_oldest_messages("k", 1)
        await store.set_messages("k", msgs("n0", "n1"))
        assert texts(await store.get_messages("k")) == ["n0", "n1"]
        assert texts(await store.get_messages("k", status=ARCHIVED)) == ["a0"]
        assert texts(await store.get_messages("k", status=None)) == ["a0", "n0", "n1"]

    async def test_set_messages_archived_replaces_only_the_archived_messages(self, store: AsyncDBChatStore) -> None:
        await store.add_messages("k", msgs("a0", "a1"))
        await store.add_messages("k", msgs("r0"), status=ARCHIVED)
        await store.set_messages("k", msgs("x0", "x1"), status=ARCHIVED)
        assert texts(await store.get_messages("k", status=ARCHIVED)) == ["x0", "x1"]
        assert texts(await store.get_messages("k", status=ACTIVE)) == ["a0", "a1"]

    async def test_set_messages_creates_and_empties(self, store: AsyncDBChatStore) -> None:
        await store.set_messages("k", msgs("n0", "n1"))
        assert texts(await store.get_messages("k")) == ["n0", "n1"]
        await store.set_messages("k", msgs("n2"))
        assert texts(await store.get_messages("k")) == ["n2"]
        await store.set_messages("k", [])
        assert await store.count_messages("k", status=None) == 0
        assert await store.get_keys() == []

    # deleting -----------------------------------------------------------------------------------

    async def test_delete_message_removes_the_active_message_at_a_position(self, store: AsyncDBChatStore) -> None:
        await store.add_messages("k", msgs("m0", "m1", "m2", "m3"))
        removed = await store.delete_message("k", 1)
        assert removed is not None and removed.content == "m1"
        assert texts(await store.get_messages("k")) == ["m0", "m2", "m3"]
        removed = await store.delete_message("k", 0)
        assert removed is not None and removed.content == "m0"
        removed = await store.delete_message("k", 1)  # positions count what is left
        assert removed is not None and removed.content == "m3"
        assert texts(await store.get_messages("k")) == ["m2"]

    async def test_delete_message_out_of_range_returns_none(self, store: AsyncDBChatStore) -> None:
        await store.add_messages("k", msgs("m0", "m1"))
        assert await store.delete_message("k", 2) is None
        assert await store.delete_message("k", 7) is None
        assert texts(await store.get_messages("k")) == ["m0", "m1"]

    async def test_delete_message_counts_only_active_messages_of_the_key(self, store: AsyncDBChatStore) -> None:
        await store.add_messages("other", msgs("o0", "o1"))
        await store.add_messages("k", msgs("r0", "r1"), status=ARCHIVED)
        await store.add_messages("k", msgs("a0", "a1"))
        removed = await store.delete_message("k", 0)
        assert removed is not None and removed.content == "a0"
        assert texts(await store.get_messages("k", status=None)) == ["r0", "r1", "a1"]
        assert texts(await store.get_messages("other")) == ["o0", "o1"]

    async def test_delete_messages_by_status_and_all(self, store: AsyncDBChatStore) -> None:
        async def fill() -> None:
            await store.add_messages("k", msgs("r0"), status=ARCHIVED)
            await store.add_messages("k", msgs("a0", "a1"))

        await fill()
        await store.delete_messages("k", status=ACTIVE)
        assert texts(await store.get_messages("k", status=None)) == ["r0"]
        await store.delete_messages("k")
        await fill()
        await store.delete_messages("k", status=ARCHIVED)
        assert texts(await store.get_messages("k", status=None)) == ["a0", "a1"]
        await store.add_messages("k", msgs("r1"), status=ARCHIVED)
        await store.delete_messages("k")
        assert await store.count_messages("k", status=None) == 0
        await store.add_messages("k", msgs("again"))  # a cleared key starts over
        assert texts(await store.get_messages("k", status=None)) == ["again"]

    async def test_delete_oldest_messages_removes_without_archiving(self, store: AsyncDBChatStore) -> None:
        await store.add_messages("k", msgs("m0", "m1", "m2", "m3"))
        assert texts(await store.delete_oldest_messages("k", 2)) == ["m0", "m1"]
        assert texts(await store.get_messages("k")) == ["m2", "m3"]
        assert await store.count_messages("k", status=ARCHIVED) == 0
        assert await store.delete_oldest_messages("k", 0) == []
        assert texts(await store.delete_oldest_messages("k", 5)) == ["m2", "m3"]
        assert await store.count_messages("k", status=None) == 0

    async def test_archive_oldest_messages_moves_exactly_n(self, store: AsyncDBChatStore) -> None:
        await store.add_messages("k", msgs("m0", "m1", "m2", "m3", "m4"))
        assert texts(await store.archive_oldest_messages("k", 2)) == ["m0", "m1"]
        assert texts(await store.get_messages("k", status=ARCHIVED)) == ["m0", "m1"]
        assert texts(await store.get_messages("k", status=ACTIVE)) == ["m2", "m3", "m4"]
        assert await store.archive_oldest_messages("k", 0) == []
        assert texts(await store.archive_oldest_messages("k", 1)) == ["m2"]
        await store.add_messages("k", msgs("m5"))
        assert texts(await store.archive_oldest_messages("k", 9)) == ["m3", "m4", "m5"]
        assert texts(await store.get_messages("k", status=ARCHIVED)) == ["m0", "m1", "m2", "m3", "m4", "m5"]
        assert await store.count_messages("k", status=ACTIVE) == 0
        assert await store.archive_oldest_messages("k", 1) == []

    # keys ---------------------------------------------------------------------------------------

    async def test_get_keys_lists_keys_holding_messages(self, store: AsyncDBChatStore) -> None:
        await store.add_messages("alice", msgs("a0"))
        await store.add_messages("bob", msgs("b0"), status=ARCHIVED)
        await store.add_messages("carol", msgs("c0", "c1"))
        await store.archive_oldest_messages("carol", 2)
        await store.add_messages("dave", msgs("d0"))
        await store.delete_messages("dave")
        await store.add_messages("erin", msgs("e0"))
        await store.delete_oldest_messages("erin", 1)
        assert sorted(await store.get_keys()) == ["alice", "bob", "carol"]

    async def test_keys_are_isolated(self, store: AsyncDBChatStore) -> None:
        await store.add_messages("a", msgs("a0", "a1", "a2"))
        await store.add_messages("b", msgs("b0", "b1", "b2"))
        await store.add_messages("b", msgs("br"), status=ARCHIVED)
        await store.archive_oldest_messages("a", 1)
        await store.delete_oldest_messages("a", 1)
        await store.set_messages("a", msgs("n0"))
        await store.set_messages("a", msgs("x0"), status=ARCHIVED)
        assert texts(await store.get_messages("b", status=ACTIVE)) == ["b0", "b1", "b2"]
        assert texts(await store.get_messages("b", status=ARCHIVED)) == ["br"]
        await store.delete_messages("a")
        assert texts(await store.get_messages("b")) == ["b0", "b1", "b2"]
        assert texts(await store.get_messages("b", status=ARCHIVED)) == ["br"]
        assert await store.count_messages("a", status=None) == 0

    async def test_concurrent_writers_on_different_keys(self, store: AsyncDBChatStore) -> None:
        async def talk(key: str) -> None:
            for i in range(3):
                await store.add_message(key, ChatMessage(role="user", content=f"{key}-{i}"))

        await asyncio.gather(*(talk(f"k{n}") for n in range(4)))
        for n in range(4):
            assert texts(await store.get_messages(f"k{n}")) == [f"k{n}-0", f"k{n}-1", f"k{n}-2"]

    # messages -----------------------------------------------------------------------------------

    async def test_messages_round_trip_exactly(self, store: AsyncDBChatStore) -> None:
        sent = rich_messages()
        await store.add_messages("k", sent)
        assert dumps(await store.get_messages("k")) == dumps(sent)
        await store.add_messages("archived", sent, status=ARCHIVED)
        assert dumps(await store.get_messages("archived", status=ARCHIVED)) == dumps(sent)
        for message in sent:
            await store.add_message("one-by-one", message)
        assert dumps(await store.get_messages("one-by-one")) == dumps(sent)

    async def test_messages_round_trip_through_every_operation(self, store: AsyncDBChatStore) -> None:
        sent = rich_messages()
        await store.set_messages("k", sent)
        assert dumps(await store.get_messages("k")) == dumps(sent)
        assert dumps(await store.archive_oldest_messages("k", 3)) == dumps(sent[:3])
        assert dumps(await store.get_messages("k", status=ARCHIVED)) == dumps(sent[:3])
        assert dumps(await store.get_messages("k", status=None)) == dumps(sent)
        assert dumps(await store.delete_oldest_messages("k", 2)) == dumps(sent[3:5])
        assert dumps(await store.get_messages("k")) == dumps(sent[5:])
        removed = await store.delete_message("k", 1)
        assert removed is not None and dumps([removed]) == dumps(sent[6:])
        assert dumps(await store.get_messages("k", status=None)) == dumps([*sent[:3], sent[5]])

    async def test_returned_and_given_messages_are_not_shared(self, store: AsyncDBChatStore) -> None:
        message = ChatMessage(role="user", content="hi", additional_kwargs={"n": 1})
        await store.add_message("k", message)
        message.additional_kwargs["n"] = 2  # the caller's object changes after the put
        got = await store.get_messages("k")
        got[0].additional_kwargs["session_id"] = "s"  # as Memory's blocks do to flushed messages
        got[0].blocks.append(TextBlock(text="more"))
        again = await store.get_messages("k")
        assert dumps(again) == dumps([ChatMessage(role="user", content="hi", additional_kwargs={"n": 1})])


# -- the contract on each store -------------------------------------------------------------------


class TestTractChatStoreOnSQLiteFile(AsyncDBChatStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> TractChatStore:
        return TractChatStore(path=tmp_path / "chat.db")


class TestTractChatStoreInMemory(AsyncDBChatStoreContract):
    @pytest.fixture
    def store(self) -> TractChatStore:
        return TractChatStore()


@pytest.fixture(scope="module")
def postgres_url(postgres_server: Any) -> str:
    """One PostgreSQL database for the module; each store gets its own tract-id prefixes in it."""
    return create_database(postgres_server)


class TestTractChatStoreOnPostgres(AsyncDBChatStoreContract):
    @pytest.fixture
    def store(self, postgres_url: str) -> TractChatStore:
        n = next(_prefixes)
        return TractChatStore(url=postgres_url, prefix=f"t{n}/", archive_prefix=f"t{n}-archived/")


_BY_ROW_ID = (
    "upstream SQLAlchemyChatStore.delete_message treats idx as the table's row id (across all keys "
    "and statuses), not the position of the key's active message"
)


class TestSQLAlchemyChatStoreReference(AsyncDBChatStoreContract):
    """LlamaIndex's own implementation, on async in-memory SQLite (aiosqlite)."""

    known_deviations: ClassVar[dict[str, str]] = {
        "test_add_messages_with_no_messages_is_a_no_op": (
            "upstream SQLAlchemyChatStore.add_messages([]) executes an INSERT with no rows and raises IntegrityError"
        ),
        "test_status_none_lists_archived_then_active": (
            "upstream SQLAlchemyChatStore orders status=None by insertion time, interleaving archived and "
            "active messages instead of listing the archived ones first"
        ),
        "test_set_messages_replaces_only_the_active_messages": (
            "upstream SQLAlchemyChatStore.set_messages deletes the key's messages of every status first, "
            "so Memory.set() also wipes the archived history"
        ),
        "test_set_messages_archived_replaces_only_the_archived_messages": (
            "upstream SQLAlchemyChatStore.set_messages deletes the key's messages of every status first"
        ),
        "test_delete_message_removes_the_active_message_at_a_position": _BY_ROW_ID,
        "test_delete_message_out_of_range_returns_none": _BY_ROW_ID,
        "test_delete_message_counts_only_active_messages_of_the_key": _BY_ROW_ID,
        "test_messages_round_trip_through_every_operation": _BY_ROW_ID,
        "test_concurrent_writers_on_different_keys": (
            "upstream SQLAlchemyChatStore initializes lazily without a lock (concurrent first calls insert "
            "before the table exists), and on in-memory SQLite concurrent sessions share one connection, "
            "so one session's rollback silently drops another's writes"
        ),
    }

    @pytest.fixture
    async def store(self) -> AsyncIterator[SQLAlchemyChatStore]:
        made = SQLAlchemyChatStore(table_name="messages", async_database_uri="sqlite+aiosqlite:///:memory:")
        yield made
        if made._async_engine is not None:
            await made._async_engine.dispose()


# -- what tract adds ------------------------------------------------------------------------------


@pytest.fixture
def chat(tmp_path: Path) -> TractChatStore:
    return TractChatStore(path=tmp_path / "chat.db")


def history(tract: Tract) -> list[Any]:
    """The tract's commits, oldest first."""
    return list(reversed(tract.log(limit=None)))


async def test_archive_leaves_a_provenance_record_with_readable_originals(chat: TractChatStore) -> None:
    sent = rich_messages()[1:5]  # user, tool call, tool result, answer
    await chat.add_messages("k", sent)
    originals = [c.hash for c in history(chat.tract("k"))]
    await chat.archive_oldest_messages("k", 3)

    tract = chat.tract("k")
    record = tract.compressions()[-1]
    assert record.status == "committed"
    assert record.details["archive"] is True
    assert record.details["replaced"] == originals[:3]
    assert record.summary_commit is None  # archived as they were, no summary in the context
    assert set(originals[:3]) <= set(tract.archived(record.id))  # (with any replayed after the range)
    shown = [tract.show(h) for h in record.details["replaced"]]
    assert [c.role for c in shown] == ["user", "assistant", "tool"]
    assert shown[0].content == "What is 1 + 2?"
    assert shown[1].body["tool_calls"][0]["id"] == "call-1"
    assert shown[2].body["tool_call_id"] == "call-1"
    # the ARCHIVED list is its own tract, holding the very same messages
    assert [c.role for c in history(chat.archive_tract("k"))] == ["user", "assistant", "tool"]
    assert dumps(await chat.get_messages("k", status=ARCHIVED)) == dumps(sent[:3])
    assert dumps(await chat.get_messages("k")) == dumps(sent[3:])


async def test_deleted_messages_stay_recoverable_until_gc(chat: TractChatStore) -> None:
    await chat.add_messages("k", msgs("m0", "m1"))
    hashes = [c.hash for c in history(chat.tract("k"))]
    await chat.delete_messages("k")
    tract = chat.tract("k")
    assert tract.head is None
    assert [tract.show(h).content for h in hashes] == ["m0", "m1"]
    assert any(entry.old == hashes[-1] and entry.new is None for entry in tract.reflog())


async def test_add_messages_is_atomic(chat: TractChatStore) -> None:
    await chat.add_messages("k", msgs("m0"))
    not_json = ChatMessage(role="tool", content="3", additional_kwargs={"score": float("nan")})  # JSON has no NaN
    with pytest.raises(InvalidInputError):
        await chat.add_messages("k", [*msgs("m1", "m2"), not_json])
    with pytest.raises(InvalidInputError):
        await chat.add_messages("new", [*msgs("n0"), not_json])
    with pytest.raises(InvalidInputError):
        await chat.add_message("new", "a plain string")  # type: ignore[arg-type]
    assert texts(await chat.get_messages("k")) == ["m0"]
    assert await chat.count_messages("new", status=None) == 0
    assert await chat.get_keys() == ["k"]


async def test_set_messages_is_atomic(chat: TractChatStore) -> None:
    await chat.add_messages("k", msgs("m0", "m1"))
    with pytest.raises(InvalidInputError):
        await chat.set_messages("k", [*msgs("n0"), ChatMessage(role="user", content="?", additional_kwargs={"x": {1}})])
    assert texts(await chat.get_messages("k")) == ["m0", "m1"]


async def test_archive_is_atomic(chat: TractChatStore, monkeypatch: pytest.MonkeyPatch) -> None:
    await chat.add_messages("k", msgs("m0", "m1", "m2"))
    commit = Tract.commit
    calls = itertools.count(1)

    def failing_commit(self: Tract, *args: Any, **kwargs: Any) -> Any:
        if self.tract_id == "chat-archived/k" and next(calls) == 2:
            raise RuntimeError("disk full")
        return commit(self, *args, **kwargs)

    monkeypatch.setattr(Tract, "commit", failing_commit)
    with pytest.raises(RuntimeError, match="disk full"):
        await chat.archive_oldest_messages("k", 2)
    monkeypatch.undo()

    # neither list changed, and no archive record was committed
    assert texts(await chat.get_messages("k")) == ["m0", "m1", "m2"]
    assert await chat.count_messages("k", status=ARCHIVED) == 0
    assert [r for r in chat.tract("k").compressions() if r.status == "committed"] == []
    # and the store still works
    assert texts(await chat.archive_oldest_messages("k", 2)) == ["m0", "m1"]
    assert texts(await chat.get_messages("k", status=None)) == ["m0", "m1", "m2"]
    assert await chat.count_messages("k", status=ARCHIVED) == 2


async def test_edit_and_skip_through_the_tract_change_the_active_messages(chat: TractChatStore) -> None:
    picture = ChatMessage(
        role="user", blocks=[TextBlock(text="What is this?"), ImageBlock(url="https://example.com/cat.png")]
    )
    await chat.add_messages("k", [picture, ChatMessage(role="assistant", content="A dog."), *msgs("Thanks!")])
    tract = chat.tract("k")
    first, answer, thanks = history(tract)
    tract.commit({"role": "assistant", "content": "A cat."}, operation=Operation.EDIT, response_to=answer.hash)
    tract.commit({"role": "user", "content": "What animal is this?"}, operation=Operation.EDIT, response_to=first.hash)
    tract.annotate(thanks.hash, Priority.SKIP)

    got = await chat.get_messages("k")
    assert texts(got) == ["What animal is this?", "A cat."]
    # the edited text replaces the text block; the image stays
    edited = ChatMessage(role="user", blocks=[TextBlock(text="What animal is this?"), picture.blocks[1]])
    assert dumps(got[:1]) == dumps([edited])
    assert await chat.count_messages("k") == 2
    removed = await chat.delete_message("k", 1)  # positions count what the context shows
    assert removed is not None and removed.content == "A cat."
    # archiving moves the messages as the agent saw them
    assert texts(await chat.archive_oldest_messages("k", 1)) == ["What animal is this?"]
    assert dumps(await chat.get_messages("k", status=ARCHIVED)) == dumps(got[:1])
    assert await chat.get_messages("k") == []


async def test_messages_committed_through_the_tract_are_active(chat: TractChatStore) -> None:
    await chat.add_messages("k", msgs("m0"))
    tract = chat.tract("k")
    tract.assistant("from tract")
    tract.tool_result("call-9", "42")
    got = await chat.get_messages("k")
    assert [(m.role.value, m.content) for m in got] == [("user", "m0"), ("assistant", "from tract"), ("tool", "42")]
    assert got[2].additional_kwargs["tool_call_id"] == "call-9"


async def test_get_keys_is_sorted_and_skips_keys_without_messages(chat: TractChatStore) -> None:
    await chat.add_messages("zed", msgs("z0"))
    await chat.add_messages("amy", msgs("a0"), status=ARCHIVED)
    chat.tract("ghost")  # an empty tract, as opened for inspection
    await chat.add_messages("gone", msgs("g0", "g1"))
    await chat.archive_oldest_messages("gone", 1)
    await chat.delete_messages("gone")
    await chat.add_messages("moved", msgs("x0"))
    await chat.set_messages("moved", [])
    await chat.add_messages("team/ada:42", msgs("t0"))  # session ids may hold separators
    assert await chat.get_keys() == ["amy", "team/ada:42", "zed"]
    assert texts(await chat.get_messages("team/ada:42")) == ["t0"]


async def test_prefixes_separate_stores_in_one_database(tmp_path: Path) -> None:
    one = TractChatStore(path=tmp_path / "chat.db")
    two = TractChatStore(path=tmp_path / "chat.db", prefix="two/", archive_prefix="two-archived/")
    await one.add_messages("k", msgs("one"))
    await two.add_messages("k", msgs("two"))
    assert texts(await one.get_messages("k")) == ["one"]
    assert texts(await two.get_messages("k")) == ["two"]
    assert await one.get_keys() == await two.get_keys() == ["k"]
    with pytest.raises(InvalidInputError):
        TractChatStore(prefix="chat/", archive_prefix="chat/archived/")


async def test_bad_arguments_raise_invalid_input(chat: TractChatStore) -> None:
    await chat.add_messages("k", msgs("m0"))
    with pytest.raises(InvalidInputError):
        await chat.add_messages("", msgs("m0"))
    with pytest.raises(InvalidInputError):
        await chat.get_messages("k", limit=-1)
    with pytest.raises(InvalidInputError):
        await chat.get_messages("k", offset=-2)
    with pytest.raises(InvalidInputError):
        await chat.get_messages("k", status="deleted")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await chat.archive_oldest_messages("k", -1)
    with pytest.raises(InvalidInputError):
        await chat.delete_message("k", "0")  # type: ignore[arg-type]
    assert texts(await chat.get_messages("k")) == ["m0"]


async def test_a_second_instance_sees_the_same_data(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    first = TractChatStore(path=path)
    sent = rich_messages()
    await first.add_messages("k", sent)
    await first.archive_oldest_messages("k", 2)

    second = TractChatStore(path=path)
    assert dumps(await second.get_messages("k", status=None)) == dumps(sent)
    assert await second.count_messages("k", status=ARCHIVED) == 2
    await second.add_messages("k", msgs("from second"))
    await second.archive_oldest_messages("k", 1)
    assert texts(await first.get_messages("k"))[-1] == "from second"
    assert await first.count_messages("k", status=ARCHIVED) == 3

    # rebuilt from its serialized form (as Memory is after a workflow Context is restored)
    rebuilt = TractChatStore(**first.model_dump())
    assert dumps(await rebuilt.get_messages("k", status=None)) == dumps([*sent, *msgs("from second")])


async def test_a_second_instance_on_an_in_memory_database_can_clear_it() -> None:
    first = TractChatStore()
    await first.add_messages("k", msgs("m0"))
    await first.add_messages("k", msgs("r0"), status=ARCHIVED)
    second = TractChatStore(db=first.db)  # a fresh instance: its tracts are opened on first use
    await second.delete_messages("k")
    assert await first.count_messages("k", status=None) == 0
    third = TractChatStore(db=first.db)
    await first.add_messages("k", msgs("m1", "m2"))
    assert texts(await third.archive_oldest_messages("k", 1)) == ["m1"]


def test_another_process_reads_what_was_stored(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    sent = rich_messages()

    async def write() -> None:
        store = TractChatStore(path=path)
        await store.add_messages("k", sent)
        await store.archive_oldest_messages("k", 3)

    asyncio.run(write())
    script = (
        "import asyncio, json, sys\n"
        "from tract_llamaindex import TractChatStore\n"
        "store = TractChatStore(path=sys.argv[1])\n"
        "async def main():\n"
        "    archived = await store.get_messages('k', status='archived')\n"
        "    every = await store.get_messages('k', status=None)\n"
        "    print(json.dumps([len(archived), [m.model_dump(mode='json') for m in every], await store.get_keys()]))\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    archived, every, keys = json.loads(done.stdout.strip().splitlines()[-1])
    assert archived == 3
    assert every == dumps(sent)
    assert keys == ["k"]


# -- LlamaIndex Memory on the store ---------------------------------------------------------------


def conversation(turns: int) -> list[ChatMessage]:
    out = []
    for i in range(turns):
        out.append(ChatMessage(role="user", content=f"Question {i}: what do you know about topic number {i}?"))
        out.append(ChatMessage(role="assistant", content=f"Answer {i}: topic {i} is interesting in many ways."))
    return out


def memory_on(store: AsyncDBChatStore, session_id: str = "session") -> Memory:
    return Memory.from_defaults(
        session_id=session_id,
        chat_store=store,
        token_limit=120,
        token_flush_size=30,
        chat_history_token_ratio=0.5,
        memory_blocks=[StaticMemoryBlock(name="core_info", static_content="The user is called Ada.")],
    )


async def drive(memory: Memory, messages: Sequence[ChatMessage]) -> dict[str, Any]:
    """Put the messages one by one (each put may flush the queue); what the memory then holds."""
    for message in messages:
        await memory.aput(message)
    store = memory.sql_store
    return {
        "active": await store.count_messages(memory.session_id, status=ACTIVE),
        "archived": await store.count_messages(memory.session_id, status=ARCHIVED),
        "all": dumps(await memory.aget_all()),
        "active_tail": dumps(await memory.aget_all(status=ACTIVE)),
        "get": dumps(await memory.aget()),
    }


async def test_memory_waterfall_archives_the_oldest_messages(tmp_path: Path) -> None:
    sent = conversation(8)
    tract_store = TractChatStore(path=tmp_path / "memory.db")
    on_tract = await drive(memory_on(tract_store), sent)

    assert on_tract["archived"] > 0 and on_tract["active"] > 0
    assert on_tract["archived"] + on_tract["active"] == len(sent)
    assert on_tract["all"] == dumps(sent)  # nothing lost, in order
    assert on_tract["active_tail"] == dumps(sent[on_tract["archived"] :])
    assert on_tract["active_tail"][0]["role"] == "user"  # flushed by whole turns
    got = on_tract["get"]
    assert got[0]["role"] == "system"
    system_text = "".join(b.get("text", "") for b in got[0]["blocks"])
    assert "<core_info>" in system_text and "The user is called Ada." in system_text
    assert got[1:] == on_tract["active_tail"]
    # each flush is an archive record on the session's tract, its originals still readable
    records = [r for r in tract_store.tract("session").compressions() if r.details.get("archive")]
    assert records and sum(len(r.details["replaced"]) for r in records) == on_tract["archived"]

    reference = SQLAlchemyChatStore(table_name="memory", async_database_uri="sqlite+aiosqlite:///:memory:")
    try:
        on_reference = await drive(memory_on(reference), sent)
    finally:
        if reference._async_engine is not None:
            await reference._async_engine.dispose()
    assert on_tract == on_reference


async def test_memory_set_and_reset_on_tract(tmp_path: Path) -> None:
    store = TractChatStore(path=tmp_path / "memory.db")
    memory = memory_on(store)
    sent = conversation(8)
    state = await drive(memory, sent)
    archived = sent[: state["archived"]]

    replacement = msgs("Start again, please.")
    await memory.aset(replacement)  # replaces the active queue; the archived history stays
    assert dumps(await memory.aget_all(status=ACTIVE)) == dumps(replacement)
    assert dumps(await memory.aget_all()) == dumps([*archived, *replacement])
    assert dumps((await memory.aget())[1:]) == dumps(replacement)

    # a new Memory on a new store instance over the same file continues the session
    again = memory_on(TractChatStore(path=tmp_path / "memory.db"))
    assert dumps(await again.aget_all()) == dumps([*archived, *replacement])

    await memory.areset(status=ACTIVE)
    assert dumps(await memory.aget_all()) == dumps(archived)
    await memory.areset()
    assert await memory.aget_all() == []
    assert await store.get_keys() == []


# -- a FunctionAgent on the store -----------------------------------------------------------------


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def tool_calling_llm(seen: list[list[dict[str, Any]]]) -> MockFunctionCallingLLM:
    """Calls ``add`` for every user question, then answers with the tool's result."""
    calls = itertools.count(1)

    def respond(messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
        seen.append(dumps(messages))
        if messages[-1].role == "tool":
            return ChatMessage(role="assistant", content=f"The answer is {messages[-1].content}.")
        n = next(calls)
        call = ToolCallBlock(tool_call_id=f"call-{n}", tool_name="add", tool_kwargs={"a": n, "b": 2})
        return ChatMessage(role="assistant", blocks=[call])

    return MockFunctionCallingLLM(response_generator=respond)


async def run_agent(store: AsyncDBChatStore) -> tuple[list[list[dict[str, Any]]], list[str], list[ChatMessage]]:
    seen: list[list[dict[str, Any]]] = []
    memory = Memory.from_defaults(session_id="agent", chat_store=store)
    agent = FunctionAgent(tools=[add], llm=tool_calling_llm(seen), system_prompt="You add numbers.")
    replies = [str(await agent.run(question, memory=memory)) for question in ("What is 1+2?", "And 2+2?")]
    return seen, replies, await memory.aget_all()


# FunctionAgent's constructor walks its own pydantic attributes (upstream), touching deprecated ones.
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")
async def test_function_agent_conversation_is_stored(tmp_path: Path) -> None:
    store = TractChatStore(path=tmp_path / "agent.db")
    seen, replies, stored = await run_agent(store)

    assert replies == ["The answer is 3.", "The answer is 4."]
    assert [(m.role.value, m.content) for m in stored] == [
        ("user", "What is 1+2?"),
        ("assistant", None),
        ("tool", "3"),
        ("assistant", "The answer is 3."),
        ("user", "And 2+2?"),
        ("assistant", None),
        ("tool", "4"),
        ("assistant", "The answer is 4."),
    ]
    call = stored[5].blocks[0]
    assert isinstance(call, ToolCallBlock)
    assert (call.tool_call_id, call.tool_name, call.tool_kwargs) == ("call-2", "add", {"a": 2, "b": 2})
    assert stored[6].additional_kwargs["tool_call_id"] == "call-2"
    # the second turn's first model call saw the whole first turn, from the store
    assert seen[2][1:] == dumps(stored[:5])
    # the tract holds the conversation as OpenAI-shaped messages
    commits = history(store.tract("agent"))
    assert [c.role for c in commits] == ["user", "assistant", "tool", "assistant"] * 2
    assert commits[1].body["tool_calls"][0]["id"] == "call-1"
    # a new store instance (e.g. after a restart) continues the same conversation
    assert dumps(await TractChatStore(path=tmp_path / "agent.db").get_messages("agent")) == dumps(stored)

    reference = SQLAlchemyChatStore(table_name="agent", async_database_uri="sqlite+aiosqlite:///:memory:")
    try:
        ref_seen, ref_replies, ref_stored = await run_agent(reference)
    finally:
        if reference._async_engine is not None:
            await reference._async_engine.dispose()
    assert (seen, replies, dumps(stored)) == (ref_seen, ref_replies, dumps(ref_stored))
