"""Context policies in graphs: ``TractCompressNode`` and ``TractCompressMiddleware``, on real graphs and agents.

The graphs are real LangGraph graphs and real ``create_agent`` agents, checkpointed by the real
``TractSaver`` on a SQLite file and on PostgreSQL; the models are LangChain fake chat models (a
scripted summariser that records its prompts, a scripted tool-calling agent model). Nothing calls
a network model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import SummarizationMiddleware
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from pydantic import Field

from tract_core import EDIT, PINNED, SKIP, InvalidInputError
from tract_core.messages import normalize_message
from tract_core.testing import create_database
from tract_core.tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, TiktokenCounter, count_body
from tract_langchain import TractSaver
from tract_langchain.policies import SUMMARY_MARKER, TractCompressMiddleware, TractCompressNode

SYSTEM = "You are a terse assistant for Ada's bakery."
FILLER = "The sourdough starter needs feeding twice a day and the oven runs hot on the left side. " * 3


# -- models -------------------------------------------------------------------------------------


class SummaryModel(BaseChatModel):
    """A summariser: answers with its replies in turn (the last one repeats) and records every prompt."""

    replies: list[str] = Field(default_factory=lambda: ["Ada runs a bakery; they discussed her starter and oven."])
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-summary"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.prompts.append(list(messages))
        reply = self.replies[min(len(self.prompts), len(self.replies)) - 1]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])

    @property
    def transcripts(self) -> list[str]:
        """The transcript part of each summary request."""
        return [str(prompt[-1].content).removeprefix("Summarise this conversation:\n\n") for prompt in self.prompts]


class AgentModel(GenericFakeChatModel):
    """The agent's model: scripted replies (tool calls included); records the messages of every call."""

    received: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> AgentModel:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.received.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


@tool
def oven_temperature(side: str) -> str:
    """Read the oven thermometer on one side."""
    return f"The {side} side reads 231 degrees. " + FILLER


# -- helpers ------------------------------------------------------------------------------------


def is_summary(message: BaseMessage) -> bool:
    return SUMMARY_MARKER in message.additional_kwargs


def openai(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """Messages as tract stores and compiles them (OpenAI shape)."""
    out = []
    for message in messages:
        normalized = normalize_message(message)
        out.append({"role": normalized.role, **normalized.body})
    return out


def tokens(messages: list[BaseMessage]) -> int:
    """Prompt tokens as tract counts them (``CompiledContext.token_count``)."""
    counter = TiktokenCounter()
    bodies = [{k: v for k, v in m.items() if k != "role"} for m in openai(messages)]
    return sum(count_body(counter, b) + MESSAGE_OVERHEAD for b in bodies) + (REPLY_PRIMING if bodies else 0)


def commit_of(saver: TractSaver, thread: str, message_id: str) -> str:
    """The commit of the thread's tract (on HEAD's line) holding the message with this id."""
    for info in saver.tract(thread).log(limit=None):
        if (info.metadata or {}).get("lc", {}).get("data", {}).get("id") == message_id:
            return info.hash
    raise AssertionError(f"no commit holds message {message_id}")


def tool_pairs_intact(messages: list[BaseMessage]) -> bool:
    """Every tool result follows its call, and every call before the last message has its result."""
    calls: dict[str, int] = {}
    answered: set[str] = set()
    for i, message in enumerate(messages):
        if isinstance(message, AIMessage):
            calls.update({call["id"]: i for call in message.tool_calls})
        elif isinstance(message, ToolMessage):
            if message.tool_call_id not in calls:
                return False
            answered.add(message.tool_call_id)
    last = len(messages) - 1
    return all(call in answered or i == last for call, i in calls.items())


def lg_branches(saver: TractSaver, thread: str) -> list[str]:
    return [b.name for b in saver.tract(thread).list_branches() if b.name.startswith("lg/")]


def conversation(turns: int) -> list[BaseMessage]:
    """A system prompt and ``turns`` long exchanges, with fixed ids."""
    messages: list[BaseMessage] = [SystemMessage(SYSTEM, id="sys")]
    for i in range(turns):
        messages.append(HumanMessage(f"Question {i}: how is batch {i} doing? {FILLER}", id=f"h{i}"))
        messages.append(AIMessage(f"Answer {i}: batch {i} is proving. {FILLER}", id=f"a{i}"))
    return messages


def reply_node(state: MessagesState) -> dict[str, Any]:
    """The graph's 'model': a long deterministic reply to the last message."""
    last = state["messages"][-1]
    return {"messages": [AIMessage(f"Re: {str(last.content)[:20]} {FILLER}", id=f"re-{last.id}")]}


def chat_graph(node: Any, saver: Any, **compile_kwargs: Any) -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node("compress", node)
    builder.add_node("reply", reply_node)
    builder.add_edge(START, "compress")
    builder.add_edge("compress", "reply")
    return builder.compile(checkpointer=saver, **compile_kwargs)


def config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def saver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TractSaver]:
    """The real checkpointer on a SQLite file, or on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        where = str(tmp_path / "agent.db")
    else:
        where = create_database(request.getfixturevalue("postgres_server"))
    with TractSaver.from_conn_string(where) as made:
        yield made


@pytest.fixture
def sqlite_saver(tmp_path: Path) -> Iterator[TractSaver]:
    with TractSaver.from_conn_string(str(tmp_path / "agent.db")) as made:
        yield made


# -- the node -----------------------------------------------------------------------------------


def test_below_the_threshold_nothing_changes(saver: TractSaver) -> None:
    summary = SummaryModel()
    node = TractCompressNode(summary, token_budget=100_000, saver=saver)
    graph = chat_graph(node, saver)
    for i in range(4):
        graph.invoke({"messages": [HumanMessage(f"Question {i}", id=f"h{i}")]}, config("t"))
    state = graph.get_state(config("t")).values["messages"]
    assert [m.id for m in state] == [x for i in range(4) for x in (f"h{i}", f"re-h{i}")]
    assert summary.prompts == []
    assert node.invoke({"messages": state}, config("t")) == {}
    assert lg_branches(saver, "t") == []


def test_over_the_threshold_the_state_shrinks_and_keeps_what_it_must(saver: TractSaver) -> None:
    summary = SummaryModel()
    budget = 900
    node = TractCompressNode(summary, token_budget=budget, keep_recent=3, saver=saver)
    graph = chat_graph(node, saver)
    graph.invoke({"messages": [SystemMessage(SYSTEM, id="sys"), HumanMessage("My name is Ada.", id="h0")]}, config("t"))
    graph.invoke({"messages": [HumanMessage("Remember: the oven code is 4417.", id="h1")]}, config("t"))
    graph.invoke({"messages": [HumanMessage("lol, ignore this one", id="h2")]}, config("t"))
    assert summary.prompts == []  # still under 0.8 * budget
    tract = saver.tract("t")
    tract.annotate(commit_of(saver, "t", "h1"), PINNED, reason="the user wants it kept")
    tract.annotate(commit_of(saver, "t", "h2"), SKIP, reason="small talk")

    turn = 3
    while not summary.prompts:
        before = graph.get_state(config("t")).values["messages"]
        new = HumanMessage(f"Question {turn}: {FILLER}", id=f"h{turn}")
        graph.invoke({"messages": [new]}, config("t"))
        turn += 1
    at_node = [*before, new]
    assert tokens(at_node) > 0.8 * budget
    after = graph.get_state(config("t")).values["messages"]

    # [instructions, summary, pinned, *recent, the reply made after compressing]
    assert after[0] == at_node[0] and after[0].content == SYSTEM
    assert is_summary(after[1]) and isinstance(after[1], SystemMessage)
    assert after[1].content.endswith(summary.replies[0])
    pinned = next(m for m in at_node if m.id == "h1")
    assert after[2] == pinned
    assert after[3:-1] == at_node[-3:]
    assert after[-1].id == f"re-{new.id}"
    assert tokens(after) < budget
    assert saver.tract("t").compile().token_count == tokens(after)  # main follows the new state

    # the summariser saw everything else, and not the skipped, pinned, instruction or kept messages
    (transcript,) = summary.transcripts
    assert "user: My name is Ada." in transcript
    assert "user: lol, ignore this one" not in transcript
    assert "4417" not in transcript
    assert SYSTEM not in transcript
    for kept in at_node[-3:]:
        assert str(kept.content)[:40] not in transcript


def test_the_originals_stay_in_the_tract_on_a_branch(saver: TractSaver) -> None:
    summary = SummaryModel()
    graph = chat_graph(TractCompressNode(summary, token_budget=1200, keep_recent=2, saver=saver), saver)
    graph.invoke({"messages": [SystemMessage(SYSTEM, id="sys")]}, config("t"))
    turn = 0
    while not summary.prompts:
        before = graph.get_state(config("t"))
        new = HumanMessage(f"Question {turn}: {FILLER}", id=f"h{turn}")
        graph.invoke({"messages": [new]}, config("t"))
        turn += 1
    at_node = [*before.values["messages"], new]
    after = graph.get_state(config("t")).values["messages"]
    assert len(after) < len(at_node)
    assert "h0" not in {m.id for m in after}

    tract = saver.tract("t")
    (branch,) = lg_branches(saver, "t")
    kept = tract.log(limit=None, start=branch)
    assert {str(m.content) for m in at_node} <= {str(c.content) for c in kept}
    assert tract.compile(at_commit=branch).messages == openai(at_node)
    # the checkpoint before the turn points at the same history
    assert tract.compile(at_commit=saver.checkpoint_commit(before.config)).messages == openai(at_node[:-1])
    # and the new line is what the graph holds now
    assert tract.compile().messages == openai(after)
    removed = tract.diff(branch, "main")
    assert removed.removed


def test_tool_calls_and_results_are_never_split(saver: TractSaver) -> None:
    summary = SummaryModel()
    node = TractCompressNode(summary, token_budget=300, keep_recent=1, saver=saver)
    graph = chat_graph(node, saver, interrupt_before=["compress"])
    calls = [
        {"name": "oven_temperature", "args": {"side": "left"}, "id": "c1"},
        {"name": "oven_temperature", "args": {"side": "right"}, "id": "c2"},
    ]
    history = [
        SystemMessage(SYSTEM, id="sys"),
        HumanMessage(f"Check the oven. {FILLER}", id="h0"),
        AIMessage("", tool_calls=calls, id="a0"),
        ToolMessage(f"Left: 231. {FILLER}", tool_call_id="c1", id="t1"),
        ToolMessage(f"Right: 198. {FILLER}", tool_call_id="c2", id="t2"),
        AIMessage(f"The left side runs hot. {FILLER}", id="a1"),
        HumanMessage(f"And now? {FILLER}", id="h1"),
        AIMessage("", tool_calls=[{"name": "oven_temperature", "args": {"side": "left"}, "id": "c3"}], id="a2"),
        ToolMessage(f"Left: 240. {FILLER}", tool_call_id="c3", id="t3"),
    ]
    graph.invoke({"messages": history}, config("t"))  # pauses before compressing
    saver.tract("t").annotate(commit_of(saver, "t", "t2"), PINNED)
    graph.invoke(None, config("t"))
    after = graph.get_state(config("t")).values["messages"]
    # keep_recent=1 would keep t3 alone: its call a2 comes with it; the pinned t2 keeps a0, and so t1
    assert [m.id for m in after] == ["sys", after[1].id, "a0", "t1", "t2", "a2", "t3", "re-t3"]
    assert is_summary(after[1])
    assert tool_pairs_intact(after)
    (transcript,) = summary.transcripts
    assert "Check the oven." in transcript and "The left side runs hot." in transcript and "And now?" in transcript
    assert "Left: 231." not in transcript and "Left: 240." not in transcript


def test_the_summariser_reads_the_tract_edits_and_skips_and_the_branch_keeps_them(saver: TractSaver) -> None:
    summary = SummaryModel()
    graph = chat_graph(
        TractCompressNode(summary, token_budget=500, keep_recent=2, saver=saver), saver, interrupt_before=["compress"]
    )
    graph.invoke({"messages": conversation(4)}, config("t"))  # paused before the node: review the history
    tract = saver.tract("t")
    tract.commit(
        "Question 0: my card number is [redacted].",
        role="user",
        operation=EDIT,
        response_to=commit_of(saver, "t", "h0"),
    )
    tract.annotate(commit_of(saver, "t", "a1"), SKIP)
    reviewed = tract.compile().messages
    graph.invoke(None, config("t"))

    (transcript,) = summary.transcripts
    assert "user: Question 0: my card number is [redacted]." in transcript
    assert "how is batch 0 doing" not in transcript  # the original text of the edited message
    assert "Answer 1:" not in transcript  # skipped
    assert "Answer 0:" in transcript and "Question 2:" in transcript
    after = graph.get_state(config("t")).values["messages"]
    assert [m.id for m in after][2:] == ["h3", "a3", "re-a3"]
    (branch,) = lg_branches(saver, "t")
    assert tract.compile(at_commit=branch).messages == reviewed  # the reviewed line, edit and skip included


def test_a_second_pass_folds_the_previous_summary(sqlite_saver: TractSaver) -> None:
    saver = sqlite_saver
    summary = SummaryModel(replies=["First summary: Ada's bakery, batch 0.", "Second summary: batches 0 to 5."])
    graph = chat_graph(TractCompressNode(summary, token_budget=1000, keep_recent=2, saver=saver), saver)
    graph.invoke(
        {"messages": [SystemMessage(SYSTEM, id="sys"), HumanMessage("Keep this: code 4417.", id="keep")]}, config("t")
    )
    saver.tract("t").annotate(commit_of(saver, "t", "keep"), PINNED)
    turn = 0
    while len(summary.prompts) < 2:
        graph.invoke({"messages": [HumanMessage(f"Question {turn}: {FILLER}", id=f"h{turn}")]}, config("t"))
        turn += 1
        assert turn < 40
    after = graph.get_state(config("t")).values["messages"]
    summaries = [m for m in after if is_summary(m)]
    assert len(summaries) == 1
    assert summaries[0].content.endswith("Second summary: batches 0 to 5.")
    first_transcript, second_transcript = summary.transcripts
    assert second_transcript.startswith("system: Summary of the earlier conversation:\n\nFirst summary")
    # the pin follows the message through both rewrites (leading pinned messages stay before the summary)
    assert [m.id for m in after[:3]] == ["sys", "keep", summaries[0].id]
    assert "user: Keep this" not in first_transcript + second_transcript
    # the marker counts every original message folded in
    folded_first = first_transcript.count("\n\nuser: ") + first_transcript.count("\n\nassistant: ") + 1
    assert summaries[0].additional_kwargs[SUMMARY_MARKER]["messages"] > folded_first
    assert len(lg_branches(saver, "t")) == 2
    every = {str(c.content) for b in lg_branches(saver, "t") for c in saver.tract("t").log(limit=None, start=b)}
    assert all(f"Question {i}: " + FILLER in every for i in range(turn - 2))


async def test_async_graph(saver: TractSaver) -> None:
    summary = SummaryModel()
    graph = chat_graph(TractCompressNode(summary, token_budget=700, keep_recent=2, saver=saver), saver)
    await graph.ainvoke({"messages": conversation(5)}, config("t"))
    after = (await graph.aget_state(config("t"))).values["messages"]
    assert [m.id for m in after][:1] == ["sys"] and is_summary(after[1])
    assert [m.id for m in after][2:] == ["h4", "a4", "re-a4"]
    assert len(summary.prompts) == 1
    (branch,) = lg_branches(saver, "t")
    assert saver.tract("t").compile(at_commit=branch).messages == openai(conversation(5))


def test_the_node_as_a_plain_function_and_its_update() -> None:
    summary = SummaryModel(replies=["They talked."])
    node = TractCompressNode(summary, token_budget=200, keep_recent=2, summary_role="human", summary_prefix="")
    messages = conversation(3)
    update = node({"messages": messages})
    remove, *rest = update["messages"]
    assert isinstance(remove, RemoveMessage) and remove.id == REMOVE_ALL_MESSAGES
    assert rest[0] is messages[0]
    assert isinstance(rest[1], HumanMessage) and rest[1].content == "They talked."
    assert rest[1].additional_kwargs == {SUMMARY_MARKER: {"messages": 4}}
    assert rest[2:] == messages[-2:]
    again = node({"messages": messages})  # the same input gives the same summary id
    assert again["messages"][2].id == rest[1].id
    assert node({"messages": messages[:3]}) == {}
    assert asyncio.run(node.ainvoke({"messages": messages}))["messages"][2].id == rest[1].id


def test_the_summary_call_stays_out_of_the_message_stream(sqlite_saver: TractSaver) -> None:
    summary = SummaryModel(replies=["SECRET-SUMMARY-TEXT"])
    graph = chat_graph(TractCompressNode(summary, token_budget=500, saver=sqlite_saver), sqlite_saver)
    streamed = [chunk for chunk, _ in graph.stream({"messages": conversation(5)}, config("t"), stream_mode="messages")]
    assert summary.prompts
    # the compress node's update is streamed (it is state); the summary model's own reply is not
    assert [type(m).__name__ for m in streamed] == ["RemoveMessage", "SystemMessage", "AIMessage"]
    assert is_summary(streamed[1]) and streamed[1].content.endswith("SECRET-SUMMARY-TEXT")
    assert not any(isinstance(m, AIMessage) and "SECRET-SUMMARY-TEXT" in str(m.content) for m in streamed)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"token_budget": 0}, "token_budget"),
        ({"token_budget": 100, "trigger_ratio": 0}, "trigger_ratio"),
        ({"token_budget": 100, "keep_recent": -1}, "keep_recent"),
        ({"token_budget": 100, "target_tokens": 0}, "target_tokens"),
        ({"token_budget": 100, "summary_role": "tool"}, "summary_role"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        TractCompressNode(SummaryModel(), **kwargs)
    with pytest.raises(InvalidInputError, match=match):
        TractCompressMiddleware(SummaryModel(), **kwargs)


def test_budget_tokens_is_the_deprecated_name_of_token_budget_and_behaves_the_same() -> None:
    messages = conversation(3)
    for cls in (TractCompressNode, TractCompressMiddleware):
        with pytest.warns(
            DeprecationWarning, match=r"budget_tokens=\.\.\.\) is deprecated: use token_budget=200"
        ) as caught:
            old = cls(SummaryModel(replies=["They talked."]), budget_tokens=200, keep_recent=2)
        assert caught[0].filename == __file__  # it points at the caller
        new = cls(SummaryModel(replies=["They talked."]), token_budget=200, keep_recent=2)
        assert old.token_budget == new.token_budget == 200
        if cls is TractCompressNode:
            assert repr(old) == repr(new)
            assert old({"messages": messages}) == new({"messages": messages}) != {}
            assert old({"messages": messages[:3]}) == new({"messages": messages[:3]}) == {}
        else:
            assert old.before_model({"messages": messages}, None) == new.before_model({"messages": messages}, None)
            assert old.before_model({"messages": messages}, None) is not None
        with pytest.raises(InvalidInputError, match="pass token_budget only, not token_budget and budget_tokens"):
            cls(SummaryModel(), token_budget=200, budget_tokens=200)
        with pytest.raises(InvalidInputError, match="needs token_budget="):
            cls(SummaryModel())


# -- the create_agent middleware ----------------------------------------------------------------


def agent_script(rounds: int) -> list[AIMessage]:
    """Each round: one tool call, then an answer."""
    script = []
    for i in range(rounds):
        call = {"name": "oven_temperature", "args": {"side": "left"}, "id": f"call{i}"}
        script.append(AIMessage("", tool_calls=[call], id=f"ai-call{i}"))
        script.append(AIMessage(f"Answer {i}: the left side reads 231. {FILLER}", id=f"ai-answer{i}"))
    return script


def run_agent(agent: Any, rounds: int, thread: str) -> None:
    for i in range(rounds):
        agent.invoke({"messages": [HumanMessage(f"Round {i}: check the oven. {FILLER}", id=f"q{i}")]}, config(thread))


def test_middleware_in_create_agent(saver: TractSaver) -> None:
    rounds = 5
    model = AgentModel(messages=iter(agent_script(rounds + 1)))
    summary = SummaryModel()
    middleware = TractCompressMiddleware(summary, token_budget=1000, keep_recent=3, saver=saver)
    agent = create_agent(model, [oven_temperature], system_prompt=SYSTEM, middleware=[middleware], checkpointer=saver)
    run_agent(agent, 1, "t")
    saver.tract("t").annotate(commit_of(saver, "t", "q0"), PINNED)
    run_agent(agent, rounds, "t")  # round 0's question again with a new turn each time
    assert summary.prompts
    for call in model.received:
        assert call[0].content == SYSTEM  # the agent's system prompt comes first, untouched
        assert tool_pairs_intact(call[1:])
    compressed = [call for call in model.received if any(is_summary(m) for m in call)]
    assert compressed
    for call in compressed:
        assert call[1].id == "q0" and is_summary(call[2])  # pinned, and first: it stays before the summary
    state = agent.get_state(config("t")).values["messages"]
    assert tool_pairs_intact(state)
    assert tokens(state) < 1000
    every = {str(c.content) for b in lg_branches(saver, "t") for c in saver.tract("t").log(limit=None, start=b)}
    assert all(f"Answer {i}: the left side reads 231. " + FILLER in every for i in range(rounds - 1))
    for transcript in summary.transcripts:
        assert "calls tools" in transcript or "result of" in transcript or "user:" in transcript


async def test_middleware_async(saver: TractSaver) -> None:
    model = AgentModel(messages=iter(agent_script(4)))
    summary = SummaryModel()
    middleware = TractCompressMiddleware(summary, token_budget=900, keep_recent=2, saver=saver)
    agent = create_agent(model, [oven_temperature], system_prompt=SYSTEM, middleware=[middleware], checkpointer=saver)
    for i in range(4):
        await agent.ainvoke({"messages": [HumanMessage(f"Round {i}: {FILLER}", id=f"q{i}")]}, config("t"))
    assert summary.prompts
    state = (await agent.aget_state(config("t"))).values["messages"]
    assert any(is_summary(m) for m in state) and tool_pairs_intact(state)
    assert lg_branches(saver, "t")


def test_side_by_side_with_summarization_middleware(tmp_path: Path) -> None:
    """The same conversation, compressed by LangChain's SummarizationMiddleware and by tract's middleware.

    Both shrink the state the model sees. With ``InMemorySaver`` or ``SqliteSaver``, the messages
    summarised away are no longer in the thread's latest state; they can be read only by loading
    an older checkpoint (``get_state_history``), and pruning old checkpoints removes them. With
    ``TractSaver``, they also stay in the thread's tract, on a named branch that ``log``,
    ``diff`` and ``compile`` read directly.
    """
    rounds = 4
    first_question = f"Round 0: check the oven. {FILLER}"

    def agent_with(middleware: Any, checkpointer: Any) -> Any:
        model = AgentModel(messages=iter(agent_script(rounds)))
        return create_agent(model, [oven_temperature], middleware=[middleware], checkpointer=checkpointer)

    stock = {}
    with SqliteSaver.from_conn_string(str(tmp_path / "stock.db")) as sqlite_saver:
        for name, checkpointer in [("InMemorySaver", InMemorySaver()), ("SqliteSaver", sqlite_saver)]:
            middleware = SummarizationMiddleware(
                SummaryModel(), trigger=("tokens", 800), keep=("messages", 3), token_counter=tokens
            )
            agent = agent_with(middleware, checkpointer)
            run_agent(agent, rounds, "t")
            latest = agent.get_state(config("t")).values["messages"]
            older = [s.values.get("messages", []) for s in agent.get_state_history(config("t"))]
            stock[name] = (latest, older)
    with TractSaver.from_conn_string(str(tmp_path / "tract.db")) as saver:
        agent = agent_with(
            TractCompressMiddleware(SummaryModel(), token_budget=1000, keep_recent=3, saver=saver), saver
        )
        run_agent(agent, rounds, "t")
        latest = agent.get_state(config("t")).values["messages"]
        tract = saver.tract("t")
        branches = lg_branches(saver, "t")
        in_tract = {str(c.content) for b in branches for c in tract.log(limit=None, start=b)}
        before = tract.compile(at_commit=branches[0]).messages

    for latest_stock, older in stock.values():
        assert any(m.additional_kwargs.get("lc_source") == "summarization" for m in latest_stock)
        assert first_question not in {str(m.content) for m in latest_stock}  # gone from the latest state
        assert any(first_question in {str(m.content) for m in values} for values in older)  # in old checkpoints only
    assert any(is_summary(m) for m in latest)
    assert first_question not in {str(m.content) for m in latest}  # the state shrank as well
    assert first_question in in_tract  # and the original is on a branch of the thread's tract
    assert before[0] == {"role": "user", "content": first_question}


def test_in_a_subgraph_the_node_reads_the_subgraph_tract(sqlite_saver: TractSaver) -> None:
    saver = sqlite_saver
    opened: list[tuple[str, str]] = []
    tract_of = saver.tract

    def spy(thread_id: str, checkpoint_ns: str = "") -> Any:
        opened.append((thread_id, checkpoint_ns))
        return tract_of(thread_id, checkpoint_ns)

    saver.tract = spy  # type: ignore[method-assign]
    summary = SummaryModel()
    inner = chat_graph(TractCompressNode(summary, token_budget=500, keep_recent=2, saver=saver), None)
    outer = StateGraph(MessagesState)
    outer.add_node("inner", inner)
    outer.add_edge(START, "inner")
    graph = outer.compile(checkpointer=saver)
    graph.invoke({"messages": conversation(4)}, config("t"), durability="sync")
    assert summary.prompts
    namespaces = {c.config["configurable"]["checkpoint_ns"] for c in saver.list(None)}
    ((thread, namespace),) = opened
    assert thread == "t" and namespace.startswith("inner:") and namespace in namespaces
    # the subgraph's own thread tract holds its compressed line (the parent merges the subgraph's
    # output into its own list by id, as LangGraph does for any subgraph)
    compiled = tract_of("t", namespace).compile().messages
    assert compiled[1]["content"].endswith(summary.replies[0])
    assert compiled[2:4] == openai(conversation(4)[-2:])
