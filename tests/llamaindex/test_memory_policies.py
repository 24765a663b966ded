"""TractMemory with policies (DESIGN §12) under real LlamaIndex agents, on SQLite files.

The agents are real ``FunctionAgent``, ``ReActAgent`` and ``AgentWorkflow`` runs driven by
LlamaIndex's ``MockFunctionCallingLLM`` with deterministic reply functions that record every
message list they are given; summaries come from a ``CustomLLM`` that answers with a fixed text
and records its calls. Each test checks what the agent's LLM was sent, what the memory returns
(``get`` / ``get_all``) and what the session's tract holds (annotations, compressions, proposals,
the policy log). Deciding a proposal from another process happens in a real child process.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent, ReActAgent
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.workflow import Context, JsonSerializer

from tract_core import InvalidInputError, Priority
from tract_core.errors import ProposalDecidedError
from tract_core.messages import normalize_message
from tract_core.policies import CompressPolicy, PinPolicy
from tract_core.testing.processes import run_in_child
from tract_core.tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, count_body
from tract_llamaindex import TractMemory, close_stores

pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
    pytest.mark.filterwarnings("ignore:is_running called from within a step:DeprecationWarning"),  # ReActAgent itself
]

RULE = "House rule: you must never round the numbers. What is 2 + 3?"
SUMMARY = "Summary: the user asked for many sums; the add tool answered each one exactly."
Dump = list[dict[str, Any]]


# -- deterministic models and tools ---------------------------------------------------------------


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def dump(messages: Sequence[ChatMessage]) -> Dump:
    return [m.model_dump(mode="json") for m in messages]


def question(i: int) -> str:
    """A question long enough that a dozen turns pass a few hundred tokens."""
    return (
        f"Question {i}: please add {10 * i + 1} and {i + 2} for me, then explain the result kindly, "
        "step by step, so that I can check it myself later on."
    )


def numbers(messages: Sequence[ChatMessage]) -> tuple[int, int]:
    text = next(m.content or "" for m in reversed(messages) if m.role == MessageRole.USER)
    a, b = (int(n) for n in re.findall(r"\d+", text)[-2:])
    return a, b


def calculator(calls: list[Dump]) -> MockFunctionCallingLLM:
    """A function-calling LLM: a question ``... a and b ...`` becomes an ``add`` call, the tool's result
    ``The sum is <result>.``. Records every message list it is sent."""

    def reply(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        calls.append(dump(messages))
        if messages[-1].role == MessageRole.TOOL:
            return ChatMessage(role="assistant", content=f"The sum is {messages[-1].content}.")
        a, b = numbers(messages)
        call = ToolCallBlock(tool_call_id=f"add-{a}-{b}", tool_name="add", tool_kwargs={"a": a, "b": b})
        return ChatMessage(role="assistant", blocks=[call])

    return MockFunctionCallingLLM(response_generator=reply)


def reasoner(calls: list[Dump]) -> MockFunctionCallingLLM:
    """A ReAct LLM: a question becomes an ``add`` action, an observation the answer."""

    def reply(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        calls.append(dump(messages))
        last = messages[-1].content or ""
        if last.startswith("Observation:"):
            result = last.split(":", 1)[1].strip()
            return ChatMessage(role="assistant", content=f"Thought: I have the sum.\nAnswer: The sum is {result}.")
        a, b = numbers(messages)
        action = f'Thought: I need the add tool.\nAction: add\nAction Input: {{"a": {a}, "b": {b}}}'
        return ChatMessage(role="assistant", content=action)

    return MockFunctionCallingLLM(response_generator=reply)


class Summarizer(CustomLLM):
    """A LlamaIndex LLM that answers every chat with ``summary`` and records how it was called."""

    summary: str = SUMMARY
    calls: list[str] = Field(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="summarizer")

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise AssertionError("tract summarises through chat()/achat(), never complete()")

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
        raise AssertionError("tract never streams a summary")

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self.calls.append(f"chat in {threading.current_thread().name}")
        return ChatResponse(message=ChatMessage(role="assistant", content=self.summary))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self.calls.append("achat")
        return ChatResponse(message=ChatMessage(role="assistant", content=self.summary))


def context_tokens(memory: TractMemory, messages: Sequence[dict[str, Any]]) -> int:
    """Tokens of dumped messages counted as tract counts a compiled context."""
    counter = memory.tract.counter
    bodies = [normalize_message(ChatMessage.model_validate(m)).body for m in messages]
    return sum(count_body(counter, b) + MESSAGE_OVERHEAD for b in bodies) + (REPLY_PRIMING if bodies else 0)


def first_calls(calls: list[Dump]) -> list[Dump]:
    """The first LLM call of every run (it ends with the user's question, not a tool's result or a
    ReAct observation): what the memory returned."""
    return [c for c in calls if c[-1]["role"] == "user" and not c[-1]["blocks"][0]["text"].startswith("Observation")]


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    close_stores()


# -- (a) PinPolicy during an agent run ------------------------------------------------------------


async def test_pin_policy_pins_a_users_rule_during_an_agent_run_and_it_survives_compression(tmp_path: Path) -> None:
    budget = 400
    summarizer = Summarizer()
    memory = TractMemory.from_defaults(
        path=tmp_path / "pin.db",
        session_id="pin",
        token_budget=budget,
        llm=summarizer,  # the memory's own compression (no CompressPolicy configured)
        policies=[PinPolicy(patterns=[r"must never"])],
    )
    calls: list[Dump] = []
    agent = FunctionAgent(tools=[add], llm=calculator(calls))
    assert str(await agent.run(RULE, memory=memory)) == "The sum is 5."

    tract = memory.tract
    rule = next(c for c in tract.log(limit=None) if c.content == RULE)
    (pin,) = tract.show(rule.hash).annotations
    assert (pin.priority, pin.reason) == (Priority.PINNED, "PinPolicy: it matches 'must never'")
    (logged,) = tract.policy_log()
    assert (logged.policy, logged.trigger, logged.kind, logged.decision) == ("pin", "commit", "annotate", "executed")
    assert logged.detail["target"] == rule.hash
    # only the matching message: the tool call, its result and the answer are not pinned
    assert [c.content for c in tract.log(limit=None) if tract.show(c.hash).annotations] == [RULE]

    for i in range(1, 12):
        await agent.run(question(i), memory=memory)

    records = [r for r in tract.compressions() if r.status == "committed"]
    assert records and len(summarizer.calls) == len(records)  # the memory compressed, through the agent's aget
    assert all(rule.hash not in r.details["replaced"] for r in records)
    compressed = [call for call in first_calls(calls) if any(m["role"] == "system" for m in call)]
    assert len(compressed) >= 3
    for call in compressed:  # every call after a compression: the rule verbatim and first, then the summary
        assert call[0] == dump([ChatMessage(role="user", content=RULE)])[0]
        assert call[1]["role"] == "system" and call[1]["blocks"] == [{"block_type": "text", "text": SUMMARY}]
        assert context_tokens(memory, call) <= budget
    got = memory.get()
    assert got[0].content == RULE and got[1].content == SUMMARY
    everything = memory.get_all()
    assert len(everything) == 12 * 4 and everything[0].content == RULE  # nothing lost


# -- (b) CompressPolicy, autonomous ---------------------------------------------------------------


async def test_autonomous_compress_policy_compresses_a_long_react_conversation(tmp_path: Path) -> None:
    budget = 500
    own = Summarizer(summary="never written")
    writer = Summarizer()
    memory = TractMemory.from_defaults(
        path=tmp_path / "compress.db",
        session_id="react",
        token_budget=budget,
        llm=own,
        policies=[CompressPolicy(0.8, keep_recent=4, llm=writer)],
        autonomy="autonomous",
    )
    calls: list[Dump] = []
    buffer_calls: list[Dump] = []
    buffer = ChatMemoryBuffer.from_defaults(token_limit=100_000)
    # a system_prompt: without one, LlamaIndex's ReActAgent drops the memory's first message when it
    # is a system message (a summary), whichever memory it is (ChatMemoryBuffer too)
    prompt = "You add numbers with the add tool."
    agent = ReActAgent(tools=[add], llm=reasoner(calls), system_prompt=prompt)
    twin = ReActAgent(tools=[add], llm=reasoner(buffer_calls), system_prompt=prompt)
    for i in range(14):
        assert str(await agent.run(question(i), memory=memory)) == f"The sum is {11 * i + 3}."
        await twin.run(question(i), memory=buffer)

    tract = memory.tract
    history = dump(buffer.get_all())
    assert dump(memory.get_all()) == history  # every message as it was put, compressed or not
    assert len(history) == 28

    records = [r for r in tract.compressions() if r.status == "committed"]
    executed = [e for e in tract.policy_log(limit=None) if e.policy == "compress" and e.decision == "executed"]
    assert len(records) == len(executed) == len(writer.calls) >= 2  # the policy, with its own llm...
    assert own.calls == []  # ... and get() wrote no summary of its own: one compression per range
    assert all(c.startswith("chat in ") and "MainThread" not in c for c in writer.calls)  # in aput's worker thread
    proposals = tract.proposals(status="executed")
    assert {(p.kind, p.decided_by) for p in proposals} == {("compress", "autonomy:autonomous")}
    assert all(p.reason.startswith("Context at 8") for p in proposals)

    # what the agent's LLM got: the whole conversation, or the summary and a verbatim tail of it
    header = calls[0][0]
    summarised = 0
    for call in first_calls(calls):
        assert call[0] == header and prompt in header["blocks"][0]["text"]
        rest = call[1:]
        end = history.index(rest[-1]) + 1
        if rest == history[:end]:
            continue
        summarised += 1
        assert rest[0]["role"] == "system" and rest[0]["blocks"] == [{"block_type": "text", "text": SUMMARY}]
        assert rest[1:] == history[end - len(rest) + 1 : end]
    assert summarised >= 5

    got = dump(memory.get())
    assert got[0]["blocks"] == [{"block_type": "text", "text": SUMMARY}]
    assert got[1:] == history[-(len(got) - 1) :] and len(got) - 1 >= 4
    assert tract.compile().token_count < budget


# -- (c) collaborative: a pending proposal, approved from another process -------------------------


def child_approve(path: str, session_id: str) -> Any:
    """(In a child process) open the session's memory without policies, approve its pending proposal."""
    summarizer = Summarizer(summary="Summary written by the child process.")
    memory = TractMemory.from_defaults(path=path, session_id=session_id, llm=summarizer)
    pending = memory.pending_proposals()
    decided = [memory.approve_proposal(p, decided_by="ops-console") for p in pending]
    return {
        "policies": [type(p).__name__ for p in memory.tract.policies],
        "pending": [(p.id, p.policy, p.kind, p.status) for p in pending],
        "decided": [(p.id, p.status, p.decided_by) for p in decided],
        "summaries": len(summarizer.calls),
        "context": [m.content for m in memory.get()],
    }


async def test_collaborative_compress_proposal_waits_and_another_process_approves_it(tmp_path: Path) -> None:
    budget, path = 400, tmp_path / "collab.db"
    summarizer = Summarizer()
    memory = TractMemory.from_defaults(
        path=path,
        session_id="collab",
        token_budget=budget,
        llm=summarizer,
        policies=[PinPolicy(patterns=[r"must never"]), CompressPolicy(0.8)],
        autonomy="collaborative",
    )
    calls: list[Dump] = []
    agent = FunctionAgent(tools=[add], llm=calculator(calls))
    await agent.run(RULE, memory=memory)
    for i in range(1, 10):
        await agent.run(question(i), memory=memory)

    tract = memory.tract
    # the pin is low risk: executed; the compression is high risk: proposed once, waiting
    assert [a.priority for a in tract.show(tract.log(limit=None)[-1].hash).annotations] == [Priority.PINNED]
    (waiting,) = memory.pending_proposals()
    assert (waiting.policy, waiting.kind, waiting.risk) == ("compress", "compress", "high")
    assert re.fullmatch(
        r"Context at \d+% of 400 tokens; compress the \d+ messages before the last 6; drops a cached prefix of "
        r"[\d,]+ tokens",
        waiting.reason,
    )
    assert tract.compressions() == [] and summarizer.calls == []  # nobody compressed: not the policy, not get()
    history = dump(memory.get_all())
    assert tract.compile().token_count > budget  # the stored context went past the budget meanwhile ...
    late = [call for call in first_calls(calls) if len(call) < history.index(call[-1]) + 1]
    assert late  # ... and get() trimmed what the LLM was sent, the final guard
    for call in late:
        assert call[0]["blocks"][0]["text"] == RULE  # pinned: kept first
        assert context_tokens(memory, call) <= budget

    child = run_in_child(__file__, "child_approve", str(path), "collab")
    assert child["policies"] == ["PinPolicy", "CompressPolicy"]  # restored from the database
    assert child["pending"] == [[waiting.id, "compress", "compress", "pending"]]
    assert child["decided"] == [[waiting.id, "executed", "ops-console"]]
    assert child["summaries"] == 1  # the child's memory llm wrote it (the policy has none)
    assert child["context"][:2] == [RULE, "Summary written by the child process."]

    # this process sees the decision and the compression
    assert memory.pending_proposals() == []
    done = [p for p in tract.proposals(status="executed") if p.kind == "compress"]
    assert [(p.id, p.decided_by) for p in done] == [(waiting.id, "ops-console")]
    with pytest.raises(ProposalDecidedError):
        memory.approve_proposal(waiting.id)
    (record,) = tract.compressions()
    assert [m.content for m in memory.get()][:2] == child["context"][:2]
    assert dump(memory.get_all()) == history
    assert summarizer.calls == []


# -- (d) the configuration lives with the session -------------------------------------------------


def test_a_reopened_memory_runs_the_stored_policies_and_given_ones_replace_them(tmp_path: Path) -> None:
    path = tmp_path / "reopen.db"
    memory = TractMemory.from_defaults(
        path=path,
        session_id="ada",
        policies=[PinPolicy(patterns=[r"must never"]), CompressPolicy(0.9, keep_recent=4)],
        autonomy="manual",
    )
    memory.put(ChatMessage(role="user", content="Hi"))
    assert [type(p).__name__ for p in memory.tract.policies] == ["PinPolicy", "CompressPolicy"]
    data = memory.to_dict()
    assert set(data) == {"session_id", "token_budget", "db", "recent_ratio", "summary_tokens", "class_name"}
    memory.close()
    close_stores()

    for reopened in (
        TractMemory.from_defaults(path=path, session_id="ada"),
        TractMemory.from_dict(data),
    ):
        assert reopened.policies is None  # nothing given ...
        restored = reopened.tract.policies  # ... the stored ones run
        assert [type(p).__name__ for p in restored] == ["PinPolicy", "CompressPolicy"]
        assert restored[0].patterns == ("must never",) and restored[1].to_config()["keep_recent"] == 4
    reopened.put(ChatMessage(role="user", content="You must never skip a step."))
    (proposal,) = reopened.pending_proposals()  # manual, as stored: even a pin waits
    assert (proposal.policy, proposal.kind) == ("pin", "annotate")
    reopened.reject_proposal(proposal, reason="not a rule")
    assert reopened.pending_proposals() == []

    replaced = TractMemory.from_defaults(path=path, session_id="ada", policies=[PinPolicy(patterns=[r"always"])])
    assert [p.patterns for p in replaced.tract.policies] == [("always",)]
    assert [p.patterns for p in TractMemory.from_defaults(path=path, session_id="ada").tract.policies] == [("always",)]
    cleared = TractMemory.from_defaults(path=path, session_id="ada", policies=[])
    assert cleared.tract.policies == []
    cleared.put(ChatMessage(role="user", content="You must always check."))
    assert cleared.pending_proposals() == [] and cleared.tract.proposals(status="executed") == []


async def test_a_context_restored_in_the_process_finds_the_on_proposal_callback(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    def decide(proposal: Any) -> bool:
        seen.append((proposal.policy, threading.current_thread().name))
        return True

    memory = TractMemory.from_defaults(
        path=tmp_path / "ctx.db",
        session_id="ctx",
        policies=[PinPolicy(patterns=[r"must never"], autonomy="manual")],
        on_proposal=decide,
    )
    calls: list[Dump] = []
    agent = FunctionAgent(tools=[add], llm=calculator(calls))
    ctx = Context(agent)
    await agent.run("You must never guess: what is 1 + 1?", ctx=ctx, memory=memory)
    data = ctx.to_dict(serializer=JsonSerializer())
    assert "on_proposal" not in str(data) and "policies" not in str(data)

    restored = Context.from_dict(agent, data, serializer=JsonSerializer())
    await agent.run("And you must never round: 2 + 2?", ctx=restored)
    again = await restored.store.get("memory")
    assert again is not memory and again.on_proposal is decide
    assert [policy for policy, _ in seen] == ["pin", "pin"]
    assert all(thread != "MainThread" for _, thread in seen)  # called in the worker thread that wrote
    pinned = [c.content for c in again.tract.log(limit=None) if again.tract.show(c.hash).annotations]
    assert pinned == ["And you must never round: 2 + 2?", "You must never guess: what is 1 + 1?"]
    assert {p.decided_by for p in again.tract.proposals(status="executed")} == {"callback"}


SKIP_POLICY = '''
from tract_core import Priority
from tract_core.policies import PolicyAction


class SkipSmallTalk:
    """Proposes to hide messages that are only small talk."""

    name = "small-talk"
    priority = 20
    trigger = "commit"

    def evaluate(self, tract):
        newest = tract.log(1)
        if newest and newest[0].content in ("lol", ":)") and not tract.show(newest[0].hash).annotations:
            return PolicyAction("annotate", {"target": newest[0].hash, "priority": Priority.SKIP.value})
        return None
'''


def child_set_autonomy(path: str) -> Any:
    """(In a child process that cannot import the custom policy) a memory given only an autonomy."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        memory = TractMemory.from_defaults(path=path, session_id="ada", autonomy="manual")
        memory.put(ChatMessage(role="user", content="Hello from the child"))
    return {"policies": [p.name for p in memory.tract.policies], "warnings": [str(w.message) for w in caught]}


def test_a_memory_given_only_autonomy_keeps_a_stored_policy_it_cannot_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "house_policies.py").write_text(SKIP_POLICY)
    monkeypatch.syspath_prepend(str(tmp_path))
    from house_policies import SkipSmallTalk  # type: ignore[import-not-found]

    path = str(tmp_path / "custom.db")
    memory = TractMemory.from_defaults(path=path, session_id="ada", policies=[PinPolicy(), SkipSmallTalk()])
    memory.put(ChatMessage(role="user", content="lol"))
    assert memory.tract.proposals(status="executed")[0].policy == "small-talk"  # collaborative: low risk runs
    memory.close()
    close_stores()

    child = run_in_child(__file__, "child_set_autonomy", path)
    assert child["policies"] == ["pin"]
    assert any("house_policies:SkipSmallTalk could not be restored" in w for w in child["warnings"])

    again = TractMemory.from_defaults(path=path, session_id="ada")
    assert [p.name for p in again.tract.policies] == ["pin", "small-talk"]  # still configured
    again.put(ChatMessage(role="user", content=":)"))
    (waiting,) = again.pending_proposals()  # and the child's autonomy holds: manual
    assert waiting.policy == "small-talk"


# -- an AgentWorkflow, on_proposal deciding at once -----------------------------------------------


async def test_an_agent_workflow_compresses_when_on_proposal_approves_with_changes(tmp_path: Path) -> None:
    decisions: list[dict[str, Any]] = []

    def decide(proposal: Any) -> dict[str, Any]:
        decisions.append(dict(proposal.params))
        return {"keep_recent": 2}  # approve, keeping fewer messages than proposed

    summarizer = Summarizer()
    memory = TractMemory.from_defaults(
        path=tmp_path / "workflow.db",
        session_id="wf",
        token_budget=400,
        llm=summarizer,
        policies=[CompressPolicy(0.8, keep_recent=8)],
        on_proposal=decide,
    )
    calls: list[Dump] = []
    calculator_agent = FunctionAgent(
        name="calculator", description="Adds numbers.", tools=[add], llm=calculator(calls), can_handoff_to=[]
    )
    workflow = AgentWorkflow(agents=[calculator_agent], root_agent="calculator")
    for i in range(8):
        await workflow.run(user_msg=question(i), memory=memory)

    tract = memory.tract
    executed = tract.proposals(status="executed")
    assert executed and len(executed) == len(decisions) == len(summarizer.calls)
    assert all(p.decided_by == "callback" and p.params["keep_recent"] == 2 for p in executed)
    assert all(d["keep_recent"] == 8 for d in decisions)
    assert memory.pending_proposals() == []
    last = [r for r in tract.compressions() if r.status == "committed"][-1]
    after = tract.log(limit=None, start=last.new_head)
    assert [c.content for c in reversed(after)][0] == SUMMARY
    assert len(memory.get_all()) == 8 * 4


# -- bad input ------------------------------------------------------------------------------------


def test_bad_policy_arguments_are_refused_before_anything_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    with pytest.raises(InvalidInputError, match="takes a list of policies"):
        TractMemory.from_defaults(path=path, policies=PinPolicy())  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="is not a policy"):
        TractMemory.from_defaults(path=path, policies=["pin"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="autonomy must be 'manual', 'collaborative' or 'autonomous'"):
        TractMemory.from_defaults(path=path, autonomy="sometimes")
    with pytest.raises(InvalidInputError, match="on_proposal must be callable"):
        TractMemory.from_defaults(path=path, on_proposal="yes")

    async def decide(proposal: Any) -> bool:
        return True

    with pytest.raises(InvalidInputError, match="on_proposal must be a plain function"):
        TractMemory.from_defaults(path=path, on_proposal=decide)
    with pytest.raises(ValueError, match="autonomy must be"):
        TractMemory(session_id="s", db=str(path), autonomy="sometimes")
    assert not path.exists()  # refused before any I/O

    twice = TractMemory.from_defaults(path=path, session_id="s", policies=[PinPolicy(), PinPolicy()])
    with pytest.raises(InvalidInputError, match="two policies are named 'pin'"):
        twice.put(ChatMessage(role="user", content="Hi"))
    assert TractMemory.from_defaults(path=path, session_id="s").get_all() == []  # nothing was stored
