"""The LangChain and LlamaIndex LLM adapters, driven by the frameworks' own fake and custom models.

No network: LangChain's ``GenericFakeChatModel``/``FakeListChatModel``, a ``BaseChatModel`` and a
``RunnableLambda`` written here; LlamaIndex's ``MockLLM`` and a ``CustomLLM`` written here (the
documented way to build a LlamaIndex LLM).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from typing import Any

import openai
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableLambda
from llama_index.core.base.llms.types import ImageBlock, MessageRole, TextBlock
from llama_index.core.llms import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    CustomLLM,
    LLMMetadata,
    MockLLM,
)
from llama_index.core.llms.callbacks import llm_completion_callback
from pydantic import Field

from tract_core import EDIT, InvalidInputError, Tract, Usage
from tract_core.llm import LLM, LangChainChatLLM, LlamaIndexLLM, LLMError, LLMResponse, as_llm
from tract_core.merge import LLMResolver

HI = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hi to Ada"}]
CALL = {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": '{"q": "refunds"}'}}
EVERY_KIND = [
    {"role": "system", "content": "You are terse."},
    {"role": "developer", "content": "Cite sources."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        ],
    },
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "30 days"},
    {"role": "user", "content": "Thanks", "name": "ada"},
]
LC_USAGE = {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15, "input_token_details": {"cache_read": 4}}


def _conflicted_tract() -> tuple[Tract, Any]:
    """Two branches edited the same answer differently (as in the branching contract)."""
    t = Tract.open()
    t.user("What is our refund window?")
    answer = t.assistant("Refunds within 14 days.")
    t.branch("legal")
    t.commit("Refunds within 30 days of delivery.", operation=EDIT, response_to=answer)
    t.switch("legal")
    t.commit("Refunds within 30 days, receipt required.", operation=EDIT, response_to=answer)
    t.switch("main")
    return t, answer


# --------------------------------------------------------------------------- LangChain


class RecordingChatModel(BaseChatModel):
    """A LangChain chat model (the documented ``_generate`` way) that records what reaches it."""

    reply: str = "recorded"
    calls: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.calls.append({"messages": messages, "stop": stop, "kwargs": kwargs})
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.reply))])


class PromptRecorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.prompts: list[list[BaseMessage]] = []

    def on_chat_model_start(self, serialized: Any, messages: list[list[BaseMessage]], **kwargs: Any) -> None:
        self.prompts.extend(messages)


def test_generic_fake_chat_model_text_usage_and_raw() -> None:
    message = AIMessage(content="Hi Ada!", usage_metadata=LC_USAGE)
    llm = as_llm(GenericFakeChatModel(messages=iter([message])))
    assert isinstance(llm, LangChainChatLLM) and isinstance(llm, LLM)
    reply = llm.complete(HI)
    assert reply == LLMResponse("Hi Ada!", Usage(12, 3, 15, cache_read_tokens=4, source="langchain"))
    assert type(reply.text) is str  # not LangChain's TextAccessor
    assert isinstance(reply.raw, AIMessage) and reply.raw.usage_metadata == LC_USAGE
    assert repr(llm) == "LangChainChatLLM(GenericFakeChatModel)"


def test_fake_list_chat_model_replies_in_order_without_usage() -> None:
    llm = as_llm(FakeListChatModel(responses=["first", "second"]))
    replies = [llm.complete(HI) for _ in range(3)]
    assert [r.text for r in replies] == ["first", "second", "first"]  # it cycles
    assert all(r.usage is None for r in replies)
    assert all(isinstance(r.raw, AIMessage) for r in replies)


def test_content_blocks_and_tool_call_replies() -> None:
    blocks = AIMessage(
        content=[
            {"type": "text", "text": "Thirty "},
            {"type": "reasoning", "reasoning": "policy says 30"},
            {"type": "text", "text": "days."},
        ]
    )
    tool_only = AIMessage(content="", tool_calls=[{"name": "search", "args": {"q": "x"}, "id": "c1"}])
    llm = as_llm(GenericFakeChatModel(messages=iter([blocks, tool_only, "a plain string item"])))
    assert llm.complete(HI).text == "Thirty days."
    reply = llm.complete(HI)
    assert reply.text == "" and reply.raw.tool_calls[0]["name"] == "search"
    assert llm.complete(HI).text == "a plain string item"


def test_messages_arrive_as_langchain_messages() -> None:
    model = RecordingChatModel()
    LangChainChatLLM(model).complete(EVERY_KIND)
    system, developer, user, assistant, tool, named = model.calls[0]["messages"]
    assert isinstance(system, SystemMessage) and system.content == "You are terse."
    assert isinstance(developer, SystemMessage) and developer.additional_kwargs["__openai_role__"] == "developer"
    assert isinstance(user, HumanMessage) and user.content == EVERY_KIND[2]["content"]
    assert isinstance(assistant, AIMessage)
    assert assistant.tool_calls == [{"name": "search", "args": {"q": "refunds"}, "id": "call_1", "type": "tool_call"}]
    assert isinstance(tool, ToolMessage) and tool.tool_call_id == "call_1" and tool.content == "30 days"
    assert isinstance(named, HumanMessage) and named.name == "ada"


def test_a_compiled_context_reaches_the_model_as_to_langchain_gives_it() -> None:
    t = Tract.open()
    t.system("You answer in one line.")
    t.user("Look it up.")
    t.assistant(None, tool_calls=[CALL])
    t.commit({"role": "tool", "tool_call_id": "call_1", "content": "30 days"})
    t.assistant("Refunds within 30 days.")
    t.user("And exchanges?")
    model = RecordingChatModel(reply="Also 30 days.")
    reply = as_llm(model).complete(t.compile().to_openai())
    assert model.calls[0]["messages"] == t.compile().to_langchain()
    t.assistant(reply.text)
    assert t.compile().messages[-1] == {"role": "assistant", "content": "Also 30 days."}


def test_options_and_defaults_pass_through_to_invoke() -> None:
    model = RecordingChatModel()
    LangChainChatLLM(model, temperature=0.5, seed=1).complete(HI, stop=["\n"], temperature=0)
    assert model.calls[-1]["stop"] == ["\n"]
    assert model.calls[-1]["kwargs"] == {"temperature": 0, "seed": 1}
    as_llm(model.bind(temperature=0.2, max_tokens=50)).complete(HI)  # the documented way to fix settings
    assert model.calls[-1]["kwargs"] == {"temperature": 0.2, "max_tokens": 50}
    recorder = PromptRecorder()
    as_llm(model).complete(HI, config={"callbacks": [recorder], "tags": ["tract"]})
    assert [m.content for m in recorder.prompts[0]] == ["You are terse.", "Say hi to Ada"]


def test_runnables_returning_strings() -> None:
    lam = RunnableLambda(lambda messages: f"{len(messages)} messages, last: {messages[-1].content}")
    reply = as_llm(lam).complete(HI)
    assert reply == LLMResponse("2 messages, last: Say hi to Ada")
    assert reply.raw == "2 messages, last: Say hi to Ada"
    chain = FakeListChatModel(responses=["parsed"]) | StrOutputParser()
    assert as_llm(chain).complete(HI).text == "parsed"


async def test_acomplete_uses_ainvoke() -> None:
    model = GenericFakeChatModel(
        messages=iter([AIMessage(content=f"reply {i}", usage_metadata=LC_USAGE) for i in range(3)])
    )
    llm = as_llm(model)
    replies = await asyncio.gather(*(llm.acomplete(HI) for _ in range(3)))
    assert sorted(r.text for r in replies) == ["reply 0", "reply 1", "reply 2"]
    assert all(r.usage == Usage(12, 3, 15, cache_read_tokens=4, source="langchain") for r in replies)

    calls = []

    async def asynchronous(messages: list[BaseMessage]) -> str:
        calls.append("async")
        return "from afunc"

    both = RunnableLambda(lambda messages: calls.append("sync") or "from func", afunc=asynchronous)
    assert (await as_llm(both).acomplete(HI)).text == "from afunc"
    assert as_llm(both).complete(HI).text == "from func"
    assert calls == ["async", "sync"]


async def test_a_runnable_without_ainvoke_runs_in_a_worker_thread() -> None:
    threads = []

    class InvokeOnly:  # duck-typed: a LangChain-like object with invoke() alone
        def invoke(self, messages: list[BaseMessage], **options: Any) -> AIMessage:
            threads.append(threading.get_ident())
            return AIMessage(content=f"{type(messages[0]).__name__} {options}")

    llm = LangChainChatLLM(InvokeOnly())
    assert (await llm.acomplete(HI, stop=["x"])).text == "SystemMessage {'stop': ['x']}"
    assert threads and threading.get_ident() not in threads


def test_langchain_errors() -> None:
    with pytest.raises(InvalidInputError, match="with invoke"):
        LangChainChatLLM(object())
    with pytest.raises(InvalidInputError, match="instance, not the class"):
        LangChainChatLLM(FakeListChatModel)
    with pytest.raises(InvalidInputError, match="with invoke"):
        as_llm(HumanMessage(content="a LangChain object, but not a model"))
    llm = as_llm(FakeListChatModel(responses=["x"]))
    with pytest.raises(InvalidInputError, match="LangChain messages.*wizard"):
        llm.complete([{"role": "wizard", "content": "hi"}])
    with pytest.raises(InvalidInputError, match="list of chat messages"):
        llm.complete("Hi there")  # type: ignore[arg-type]
    graph_like = RunnableLambda(lambda messages: {"messages": messages})
    with pytest.raises(LLMError, match="returned a dict.*LangGraph"):
        as_llm(graph_like).complete(HI)


def test_llm_resolver_with_a_langchain_model_resolves_a_real_merge() -> None:
    t, answer = _conflicted_tract()
    recorder = PromptRecorder()
    model = GenericFakeChatModel(
        messages=iter([AIMessage(content="Refunds within 30 days of delivery; keep the receipt.\n")]),
        callbacks=[recorder],
    )
    resolver = LLMResolver(model)
    assert isinstance(resolver.llm, LangChainChatLLM)
    result = t.merge("legal", resolver=resolver)
    assert result.kind == "merge"
    assert t.compile().messages[-1]["content"] == "Refunds within 30 days of delivery; keep the receipt."
    assert [c.target for c, _ in result.resolved] == [answer.hash]
    system, body = recorder.prompts[0]
    assert isinstance(system, SystemMessage) and isinstance(body, HumanMessage)
    assert "Refunds within 14 days." in body.content and "receipt required" in body.content
    assert t.show(answer).content == "Refunds within 14 days."


def test_record_usage_stores_the_fake_models_usage() -> None:
    t = Tract.open()
    t.user("Say hi to Ada")
    llm = as_llm(GenericFakeChatModel(messages=iter([AIMessage(content="Hi Ada!", usage_metadata=LC_USAGE)])))
    reply = llm.complete(t.compile().to_openai())
    t.assistant(reply.text)
    stored = t.record_usage(reply.raw)  # the AIMessage itself
    assert stored == reply.usage == Usage(12, 3, 15, cache_read_tokens=4, source="langchain")
    assert t.status().last_usage == stored
    assert t.record_usage(reply) == stored  # the LLMResponse works too


# --------------------------------------------------------------------------- LlamaIndex


class ScriptedCustomLLM(CustomLLM):
    """A LlamaIndex LLM built the documented way: ``CustomLLM`` with ``complete``/``stream_complete``.

    Each reply reports usage in ``CompletionResponse.additional_kwargs`` (prompt words, reply words),
    or, with ``usage_in_raw``, as an OpenAI-style ``raw`` body.
    """

    replies: list[str] = Field(default_factory=list)
    prompts: list[str] = Field(default_factory=list)
    options: list[dict[str, Any]] = Field(default_factory=list)
    usage_in_raw: bool = False

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="scripted")

    def _respond(self, prompt: str, kwargs: dict[str, Any]) -> CompletionResponse:
        self.prompts.append(prompt)
        self.options.append({k: v for k, v in kwargs.items() if k != "formatted"})
        text = self.replies.pop(0)
        counts = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split())}
        if self.usage_in_raw:
            body = {"usage": {**counts, "prompt_tokens_details": {"cached_tokens": 1}}}
            return CompletionResponse(text=text, raw=body)
        return CompletionResponse(text=text, additional_kwargs=counts)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._respond(prompt, kwargs)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        yield self._respond(prompt, kwargs)


class RecordingChat:
    """Duck-typed LlamaIndex-like LLM: chat()/achat() that record the ChatMessages they get."""

    def __init__(self, response: Any = None) -> None:
        self.seen: list[list[ChatMessage]] = []
        self.response = response

    def chat(self, messages: list[ChatMessage], **options: Any) -> Any:
        self.seen.append(messages)
        if self.response is not None:
            return self.response
        return ChatResponse(message=ChatMessage(role="assistant", content=f"{len(messages)} messages {options}"))

    async def achat(self, messages: list[ChatMessage], **options: Any) -> Any:
        await asyncio.sleep(0)
        return self.chat(messages, **options)


def test_mock_llm_is_adapted_not_mistaken_for_the_protocol() -> None:
    mock = MockLLM()
    assert isinstance(mock, LLM)  # it has complete()/acomplete(), with other meanings
    llm = as_llm(mock)
    assert isinstance(llm, LlamaIndexLLM) and llm.llm is mock
    reply = llm.complete(HI)
    assert reply.text == "system: You are terse.\nuser: Say hi to Ada\nassistant: "  # MockLLM echoes its prompt
    assert reply.usage is None
    assert isinstance(reply.raw, ChatResponse)
    assert as_llm(MockLLM(max_tokens=3)).complete(HI).text == "text text text"
    assert repr(llm) == "LlamaIndexLLM(MockLLM)"


async def test_mock_llm_async() -> None:
    llm = as_llm(MockLLM())
    replies = await asyncio.gather(*(llm.acomplete([{"role": "user", "content": f"q{i}"}]) for i in range(3)))
    assert [r.text for r in replies] == [f"user: q{i}\nassistant: " for i in range(3)]


def test_custom_llm_reply_usage_and_options() -> None:
    custom = ScriptedCustomLLM(replies=["Hi Ada!", "Bye."])
    llm = as_llm(custom)
    assert isinstance(llm, LlamaIndexLLM)
    reply = llm.complete(HI, temperature=0)
    assert reply.text == "Hi Ada!"
    # CustomLLM's completion counts end up on the message's additional_kwargs
    assert reply.usage == Usage(len(custom.prompts[0].split()), 2, len(custom.prompts[0].split()) + 2, source="openai")
    assert custom.prompts[0] == "system: You are terse.\nuser: Say hi to Ada\nassistant: "
    LlamaIndexLLM(custom, temperature=0.5, max_tokens=9).complete(HI, temperature=0)
    assert custom.options == [{"temperature": 0}, {"temperature": 0, "max_tokens": 9}]


async def test_custom_llm_async_and_usage_from_raw() -> None:
    custom = ScriptedCustomLLM(replies=["one", "two words"], usage_in_raw=True)
    llm = as_llm(custom)
    first = await llm.acomplete([{"role": "user", "content": "a b c"}])
    second = await llm.acomplete([{"role": "user", "content": "d"}], top_p=0.5)
    assert (first.text, second.text) == ("one", "two words")
    assert first.usage == Usage(5, 1, 6, cache_read_tokens=1, source="openai")  # "user: a b c assistant:"
    assert second.usage == Usage(3, 2, 5, cache_read_tokens=1, source="openai")
    assert custom.options[-1] == {"top_p": 0.5}


def test_llamaindex_usage_sources() -> None:
    def reply(response: ChatResponse) -> LLMResponse:
        return LlamaIndexLLM(RecordingChat(response)).complete(HI)

    message = ChatMessage(role="assistant", content="ok")
    completion = openai.types.chat.ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
        }
    )
    # what llama-index-llms-openai returns: the SDK response as raw, token counts in additional_kwargs
    counts = {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
    assert reply(ChatResponse(message=message, raw=completion, additional_kwargs=counts)).usage == Usage(
        9, 1, 10, source="openai"
    )
    assert reply(ChatResponse(message=message, additional_kwargs=counts)).usage == Usage(9, 1, 10, source="openai")
    anthropic_raw = {"usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 3}}
    assert reply(ChatResponse(message=message, raw=anthropic_raw)).usage == Usage(8, 2, 10, 3, 0, source="anthropic")
    gemini_raw = {"usage_metadata": {"prompt_token_count": 4, "candidates_token_count": 1}}
    assert reply(ChatResponse(message=message, raw=gemini_raw)).usage is None  # unknown shape: no usage, no error
    assert reply(ChatResponse(message=message, raw=gemini_raw, additional_kwargs=counts)).usage == Usage(
        9, 1, 10, source="openai"
    )
    assert reply(ChatResponse(message=message, additional_kwargs={"tool_calls": []})).usage is None
    assert reply(ChatResponse(message=ChatMessage(role="assistant", content=None))).text == ""


def test_messages_arrive_as_chat_messages() -> None:
    chat = RecordingChat()
    llm = as_llm(chat)  # duck typing: chat()/achat()
    assert isinstance(llm, LlamaIndexLLM)
    assert llm.complete(EVERY_KIND, temperature=0).text == "6 messages {'temperature': 0}"
    system, developer, user, assistant, tool, named = chat.seen[0]
    assert (system.role, system.content) == (MessageRole.SYSTEM, "You are terse.")
    assert developer.role is MessageRole.DEVELOPER
    assert user.blocks == [
        TextBlock(text="What is this?"),
        ImageBlock(url="https://example.com/cat.png", detail="low"),
    ]
    assert assistant.role is MessageRole.ASSISTANT and assistant.blocks == []
    assert assistant.additional_kwargs == {"tool_calls": [CALL]}
    assert tool.role is MessageRole.TOOL and tool.additional_kwargs == {"tool_call_id": "call_1"}
    assert tool.content == "30 days"
    assert named.additional_kwargs == {"name": "ada"}


def test_a_compiled_context_reaches_the_llm_as_to_llamaindex_gives_it() -> None:
    t = Tract.open()
    t.system("You answer in one line.")
    t.user("What is the refund window?")
    t.assistant(None, tool_calls=[CALL])
    t.commit({"role": "tool", "tool_call_id": "call_1", "content": "30 days"})
    t.assistant("30 days.")
    t.user("And exchanges?")
    chat = RecordingChat()
    as_llm(chat).complete(t.compile().to_openai())

    def shape(messages: list[ChatMessage]) -> list[tuple[Any, ...]]:
        # to_llamaindex() gives a tool-call-only message an empty TextBlock, the adapter no blocks
        return [(m.role, m.content or "", m.additional_kwargs) for m in messages]

    assert shape(chat.seen[0]) == shape(t.compile().to_llamaindex())
    assert chat.seen[0][2].blocks == [] and chat.seen[0][2].additional_kwargs == {"tool_calls": [CALL]}


async def test_a_chat_without_achat_runs_in_a_worker_thread() -> None:
    threads = []

    class ChatOnly:
        def chat(self, messages: list[ChatMessage], **options: Any) -> ChatResponse:
            threads.append(threading.get_ident())
            return ChatResponse(message=ChatMessage(role="assistant", content="threaded"))

    assert (await LlamaIndexLLM(ChatOnly()).acomplete(HI)).text == "threaded"
    assert threads and threading.get_ident() not in threads


def test_llamaindex_errors() -> None:
    from llama_index.core.chat_engine import SimpleChatEngine
    from llama_index.core.memory import ChatMemoryBuffer

    with pytest.raises(InvalidInputError, match="with chat"):
        LlamaIndexLLM(object())
    with pytest.raises(InvalidInputError, match="instance, not the class"):
        LlamaIndexLLM(MockLLM)
    engine = SimpleChatEngine(
        llm=MockLLM(), memory=ChatMemoryBuffer(token_limit=100, tokenizer_fn=str.split), prefix_messages=[]
    )
    with pytest.raises(InvalidInputError, match="SimpleChatEngine is a LlamaIndex object but not an LLM"):
        as_llm(engine)
    llm = as_llm(MockLLM())
    with pytest.raises(InvalidInputError, match=r"messages\[0\] has role 'wizard'"):
        llm.complete([{"role": "wizard", "content": "hi"}])
    with pytest.raises(InvalidInputError, match="'input_audio' content part"):
        llm.complete([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}])
    with pytest.raises(InvalidInputError, match="image_url part LlamaIndex cannot take"):
        llm.complete([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "not a url"}}]}])
    with pytest.raises(InvalidInputError, match="not a dict"):
        llm.complete([{"role": "user", "content": {"unusual": "structured"}}])
    with pytest.raises(LLMError, match="must return a ChatResponse"):
        LlamaIndexLLM(RecordingChat(response="just a string")).complete(HI)


def test_llm_resolver_with_a_llamaindex_llm_resolves_a_real_merge() -> None:
    t, answer = _conflicted_tract()
    custom = ScriptedCustomLLM(replies=["Refunds within 30 days of delivery; keep the receipt."])
    t.merge("legal", resolver=LLMResolver(custom))
    assert t.compile().messages[-1]["content"] == "Refunds within 30 days of delivery; keep the receipt."
    assert "Refunds within 14 days." in custom.prompts[0] and "receipt required" in custom.prompts[0]


# --------------------------------------------------------------------------- no framework imports up front


def test_importing_tract_core_imports_neither_framework() -> None:
    code = (
        "import sys, tract_core, tract_core.llm\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('langchain', 'llama_index'))}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
