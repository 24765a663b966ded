"""TractChatMessageHistory: RunnableWithMessageHistory over real LCEL chains, on SQLite files and PostgreSQL."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core._api import LangChainDeprecationWarning
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ChatMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnablePassthrough
from langchain_core.runnables.history import RunnableWithMessageHistory
from pydantic import Field

import tract_langchain
import tract_langchain.chat_message_histories as chat_module
from tract_core import EDIT, SKIP, InvalidInputError, Tract
from tract_core.store import SqlStore
from tract_core.testing import create_database
from tract_langchain import TractChatMessageHistory

ROOT = Path(__file__).resolve().parents[2]
NAN = float("nan")  # JSON cannot hold it: a message carrying it cannot be stored
SYSTEM = "You are a parrot."


class EchoChatModel(BaseChatModel):
    """A chat model that records every prompt it is given and answers ``echo: <last message>``."""

    received: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.received.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(f"echo: {messages[-1].content}"))])


def shape(messages: list[BaseMessage]) -> list[tuple[str, Any]]:
    """What a model reads from messages: their type and content."""
    return [(m.type, m.content) for m in messages]


def with_history(runnable: Any, get_history: Any, **keys: str) -> RunnableWithMessageHistory:
    # RunnableWithMessageHistory is deprecated in langchain-core (our adapter still serves it); say so here.
    with pytest.warns(LangChainDeprecationWarning, match="RunnableWithMessageHistory is deprecated"):
        return RunnableWithMessageHistory(runnable, get_history, **keys)


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Where sessions live: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return {"path": str(tmp_path / "chat.db")}
    return {"url": create_database(request.getfixturevalue("postgres_server"))}


@pytest.fixture
def histories(location: dict[str, str]) -> Iterator[Any]:
    """A ``get_session_history`` factory, as an application would write it; closes what it opened."""
    opened: list[TractChatMessageHistory] = []

    def get(session_id: str) -> TractChatMessageHistory:
        history = TractChatMessageHistory(session_id, **location)
        opened.append(history)
        return history

    yield get
    for history in opened:
        history.close()


@pytest.fixture
def history(tmp_path: Path) -> Iterator[TractChatMessageHistory]:
    with TractChatMessageHistory("s1", path=tmp_path / "chat.db") as made:
        yield made


async def run(chain: Any, payload: Any, session_id: str, mode: str) -> Any:
    config = {"configurable": {"session_id": session_id}}
    if mode == "async":
        return await chain.ainvoke(payload, config)
    return chain.invoke(payload, config)


TURNS = ["Hi, I'm Ada.", "What is my name?", "Thanks!"]


# -- RunnableWithMessageHistory over LCEL chains ------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_chain_with_a_history_key(histories: Any, mode: str) -> None:
    model = EchoChatModel()
    prompt = ChatPromptTemplate.from_messages(
        [("system", SYSTEM), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    chain = with_history(prompt | model, histories, input_messages_key="question", history_messages_key="history")

    stored: list[tuple[str, Any]] = []
    for turn, question in enumerate(TURNS):
        reply = await run(chain, {"question": question}, "ada", mode)
        assert reply.content == f"echo: {question}"
        assert shape(model.received[turn]) == [("system", SYSTEM), *stored, ("human", question)]
        stored += [("human", question), ("ai", f"echo: {question}")]
        assert shape(histories("ada").messages) == stored
    assert len(model.received) == len(TURNS)
    assert histories("ada").tract.status().commit_count == 2 * len(TURNS)  # the system prompt is not stored


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_chain_with_list_input(histories: Any, mode: str) -> None:
    model = EchoChatModel()
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), MessagesPlaceholder("messages")])
    chain = with_history({"messages": RunnablePassthrough()} | prompt | model, histories)

    stored: list[tuple[str, Any]] = []
    for turn, question in enumerate(TURNS):
        reply = await run(chain, [HumanMessage(question)], "ada", mode)
        assert reply.content == f"echo: {question}"
        assert shape(model.received[turn]) == [("system", SYSTEM), *stored, ("human", question)]
        stored += [("human", question), ("ai", f"echo: {question}")]
        assert shape(histories("ada").messages) == stored


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_chain_with_an_input_key_and_no_history_key(histories: Any, mode: str) -> None:
    model = EchoChatModel()
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), MessagesPlaceholder("messages")])
    chain = with_history(prompt | model, histories, input_messages_key="messages")

    stored: list[tuple[str, Any]] = []
    for turn, question in enumerate(TURNS):
        await run(chain, {"messages": [HumanMessage(question)]}, "ada", mode)
        assert shape(model.received[turn]) == [("system", SYSTEM), *stored, ("human", question)]
        stored += [("human", question), ("ai", f"echo: {question}")]
    assert shape(histories("ada").messages) == stored


async def test_the_chain_sees_edits_and_skips_made_through_the_tract(histories: Any) -> None:
    model = EchoChatModel()
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), MessagesPlaceholder("messages")])
    chain = with_history({"messages": RunnablePassthrough()} | prompt | model, histories)
    await run(chain, [HumanMessage("My card is 4111 1111 1111 1111")], "ada", "async")
    await run(chain, [HumanMessage("Noise")], "ada", "sync")

    history = histories("ada")
    (card, _), _, (noise, _), _ = history.messages_with_commits()
    history.tract.commit("My card is [redacted]", role="user", operation=EDIT, response_to=card)
    history.tract.annotate(noise, SKIP, reason="off topic")

    await run(chain, [HumanMessage("Go on")], "ada", "sync")
    assert shape(model.received[-1]) == [
        ("system", SYSTEM),
        ("human", "My card is [redacted]"),
        ("ai", "echo: My card is 4111 1111 1111 1111"),
        ("ai", "echo: Noise"),
        ("human", "Go on"),
    ]
    assert len(history.messages) == 5  # the turn's two new messages landed once each (no duplicates)
    assert history.tract.status().commit_count == 7  # everything is still in the history


# -- messages ---------------------------------------------------------------------------------


def test_messages_is_the_compiled_context(history: TractChatMessageHistory) -> None:
    history.add_messages(
        [SystemMessage("Be brief."), HumanMessage("q1"), AIMessage("a1"), HumanMessage("q2"), AIMessage("a2")]
    )
    system, q1, a1, q2, a2 = (commit for commit, _ in history.messages_with_commits())
    assert [system, q1, a1, q2, a2] == list(history.tract.compile().commit_hashes)
    assert [m.id for m in history.messages] == [None] * 5  # the ids the messages were added with

    history.tract.commit("a1, corrected", role="assistant", operation=EDIT, response_to=a1)
    history.tract.annotate(q2, SKIP)
    assert shape(history.messages) == [("system", "Be brief."), ("human", "q1"), ("ai", "a1, corrected"), ("ai", "a2")]
    assert history.messages_with_commits()[2][0] == a1  # an edited message keeps the commit of the one it replaces

    history.tract.compress(content="Ada asked two questions.", keep_recent=1)
    assert shape(history.messages) == [("system", "Be brief."), ("system", "Ada asked two questions."), ("ai", "a2")]
    assert {q1, a1, q2} <= set(history.tract.archived())  # the originals are kept, archived
    assert shape(history.tract.compile(at_commit=a1).to_langchain())[2] == ("ai", "a1")
    summary_commit, summary = history.messages_with_commits()[1]
    assert summary.id == summary_commit  # tract wrote the summary: its commit is its id


def test_each_read_is_a_fresh_list_of_fresh_messages(history: TractChatMessageHistory) -> None:
    history.add_messages([HumanMessage("Hi"), AIMessage("Hello")])
    first = history.messages
    first[0].content = "tampered"
    first.append(HumanMessage("injected"))
    first.pop(1)
    second, third = history.messages, history.messages
    assert shape(second) == [("human", "Hi"), ("ai", "Hello")]
    assert second is not third and second == third
    assert all(a is not b for a, b in zip(second, third, strict=True))
    assert len({len(history.messages) for _ in range(5)}) == 1  # reading has no side effects


def test_add_messages_is_one_transaction(history: TractChatMessageHistory) -> None:
    history.add_messages([HumanMessage("kept")])
    before = history.tract.log(limit=None)
    with pytest.raises(InvalidInputError, match="JSON"):
        history.add_messages([HumanMessage("one"), ChatMessage("?", role="narrator", additional_kwargs={"x": NAN})])
    with pytest.raises(InvalidInputError, match="cannot commit a object"):
        history.add_messages([HumanMessage("one"), object(), AIMessage("two")])  # type: ignore[list-item]
    assert shape(history.messages) == [("human", "kept")]
    assert history.tract.log(limit=None) == before

    history.add_message(AIMessage("single"))
    history.add_user_message("user text")
    history.add_ai_message("ai text")
    assert shape(history.messages)[1:] == [("ai", "single"), ("human", "user text"), ("ai", "ai text")]


def test_tool_calls_and_results_round_trip(history: TractChatMessageHistory) -> None:
    from langchain_core.messages import ToolMessage

    call = {"name": "weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
    history.add_messages(
        [HumanMessage("Weather?"), AIMessage("", tool_calls=[call]), ToolMessage("sunny", tool_call_id="call_1")]
    )
    _, ai, tool = history.messages
    assert ai.tool_calls == [call]
    assert (tool.type, tool.content, tool.tool_call_id) == ("tool", "sunny", "call_1")


# -- clear ----------------------------------------------------------------------------------------


def test_clear_archives_the_conversation_and_starts_over(history: TractChatMessageHistory) -> None:
    tract = history.tract
    history.clear()  # an empty session: nothing to keep
    assert tract.list_branches() == []

    history.add_messages([HumanMessage("first"), AIMessage("one")])
    old_head = tract.head
    history.clear()
    assert history.messages == []
    assert tract.status().branch == "main" and tract.head is None
    assert [(b.name, b.commit) for b in tract.list_branches()] == [("cleared/1", old_head)]
    assert [c.content for c in tract.log(start="cleared/1")] == ["one", "first"]
    assert shape(tract.compile(at_commit="cleared/1").to_langchain()) == [("human", "first"), ("ai", "one")]
    assert tract.reflog(ref="main")[0].action == "reset: emptying main (soft)"  # recorded, not lost

    history.add_messages([HumanMessage("first"), AIMessage("two")])  # the same first message starts a new line
    assert shape(history.messages) == [("human", "first"), ("ai", "two")]
    history.clear()
    assert history.messages == []
    assert [b.name for b in tract.list_branches()] == ["cleared/1", "cleared/2"]
    assert [c.content for c in tract.log(start="cleared/2")] == ["two", "first"]
    assert [c.content for c in tract.log(start="cleared/1")] == ["one", "first"]
    assert tract.gc(orphan_retention_days=0, archive_retention_days=0).commits == ()  # nothing orphaned

    with tract.batch():  # clear() joins an open batch: one transaction with the messages before it
        history.add_messages([HumanMessage("three")])
        history.clear()
    assert history.messages == [] and [c.content for c in tract.log(start="cleared/3")] == ["three"]


def test_clear_keeps_the_other_branches_and_refuses_a_detached_head(history: TractChatMessageHistory) -> None:
    history.add_messages([HumanMessage("q"), AIMessage("a")])
    history.tract.branch("experiment")
    history.tract.checkout(history.tract.log()[-1])
    with pytest.raises(InvalidInputError, match="detached"):
        history.clear()
    history.tract.switch("experiment")
    history.clear()
    assert history.messages == []
    assert {b.name: b.commit is not None for b in history.tract.list_branches()} == {
        "cleared/1": True,
        "main": True,
    }


async def test_async_methods(history: TractChatMessageHistory) -> None:
    await history.aadd_messages([HumanMessage("Hi"), AIMessage("Hello")])
    assert shape(await history.aget_messages()) == [("human", "Hi"), ("ai", "Hello")]
    with pytest.raises(InvalidInputError, match="JSON"):
        await history.aadd_messages([HumanMessage("x"), AIMessage("?", additional_kwargs={"x": NAN})])
    assert len(await history.aget_messages()) == 2
    await history.aclear()
    assert await history.aget_messages() == []
    assert len(history.tract.log(start="cleared/1")) == 2


# -- sessions and storage -------------------------------------------------------------------------


def test_a_new_history_object_and_another_process_see_the_session(location: dict[str, str]) -> None:
    with TractChatMessageHistory("ada", **location) as history:
        history.add_messages([HumanMessage("Hi, I'm Ada."), AIMessage("Hello Ada!")])
    with TractChatMessageHistory("ada", **location) as reopened:
        assert shape(reopened.messages) == [("human", "Hi, I'm Ada."), ("ai", "Hello Ada!")]

    script = textwrap.dedent(
        f"""
        import json
        from langchain_core.messages import AIMessage, HumanMessage
        from tract_langchain import TractChatMessageHistory
        with TractChatMessageHistory("ada", **{location!r}) as history:
            seen = [(m.type, m.content) for m in history.messages]
            history.add_messages([HumanMessage("From a subprocess"), AIMessage("Noted")])
        print(json.dumps(seen))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [["human", "Hi, I'm Ada."], ["ai", "Hello Ada!"]]
    with TractChatMessageHistory("ada", **location) as reopened:
        assert shape(reopened.messages)[2:] == [("human", "From a subprocess"), ("ai", "Noted")]


def test_sessions_in_one_database_are_isolated(histories: Any, location: dict[str, str]) -> None:
    ada, bob = histories("ada"), histories("bob")
    ada.add_messages([HumanMessage("I'm Ada")])
    bob.add_messages([HumanMessage("I'm Bob"), AIMessage("Hi Bob")])
    assert shape(ada.messages) == [("human", "I'm Ada")]
    ada.clear()
    assert shape(bob.messages) == [("human", "I'm Bob"), ("ai", "Hi Bob")]
    assert bob.tract.list_branches()[0].name == "main" and len(bob.tract.list_branches()) == 1
    assert sorted(Tract.list_tracts(**location)) == ["ada", "bob"]
    assert histories("ada").messages == []


def test_a_shared_store_and_a_wrapped_tract(tmp_path: Path) -> None:
    store = SqlStore(path=tmp_path / "chat.db")
    try:
        TractChatMessageHistory("ada", store=store).add_messages([HumanMessage("via the store")])
        TractChatMessageHistory("bob", store=store).add_messages([HumanMessage("bob")])
        assert sorted(Tract.list_tracts(tmp_path / "chat.db")) == ["ada", "bob"]

        tract = Tract.open(store=store, tract_id="ada")
        wrapped = TractChatMessageHistory("ada", tract=tract)
        assert wrapped.tract is tract
        assert shape(wrapped.messages) == [("human", "via the store")]
        wrapped.close()  # a wrapped tract stays open
        assert shape(wrapped.messages) == [("human", "via the store")]
        with pytest.raises(InvalidInputError, match="session id"):
            TractChatMessageHistory("bob", tract=tract)
        with pytest.raises(InvalidInputError, match="tract= alone"):
            TractChatMessageHistory("ada", tract=tract, path=tmp_path / "other.db")
        with pytest.raises(InvalidInputError, match="tract_id"):
            TractChatMessageHistory("", store=store)
    finally:
        store.close()


# -- the package ------------------------------------------------------------------------------------


def test_it_is_a_chat_message_history_that_does_not_warn(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = TractChatMessageHistory("s1", path=tmp_path / "chat.db")
    assert isinstance(history, BaseChatMessageHistory)
    assert "TractSaver" in (TractChatMessageHistory.__doc__ or "") and "deprecated" in (
        TractChatMessageHistory.__doc__ or ""
    )
    history.close()


def test_without_langchain_core_the_import_names_the_extra() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["langchain_core"] = None  # as if it were not installed
        import tract_core  # the core does not need it
        try:
            import tract_langchain
        except ImportError as exc:
            print(exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install 'tract-context[langchain]'" in done.stdout


def test_docstring_examples_run_and_all_is_honest() -> None:
    for module in (tract_langchain, chat_module):
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
        assert all(hasattr(module, name) for name in module.__all__)
    assert "TractChatMessageHistory" in tract_langchain.__all__
    assert chat_module.__all__ == ["TractChatMessageHistory"]
