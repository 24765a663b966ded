"""The LLM protocol and its adapters: plain callables, OpenAI-compatible clients, ScriptedLLM.

The LangChain and LlamaIndex adapters are tested in test_llm_frameworks.py.

``OpenAIChatLLM`` is tested with the real ``openai`` SDK against a small deterministic
OpenAI-compatible HTTP server started here on 127.0.0.1 (no internet, no mocks of the SDK).
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, SimpleNamespace
from typing import Any

import openai
import pytest

from tract_core import InvalidInputError, Tract, TractError, Usage
from tract_core.llm import (
    LLM,
    AsyncOnlyError,
    CallableLLM,
    LangChainChatLLM,
    LlamaIndexLLM,
    LLMError,
    LLMResponse,
    OpenAIChatLLM,
    as_llm,
)
from tract_core.testing import ScriptedLLM

HI = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hi to Ada"}]

# --------------------------------------------------------------------------- the test server


def _words(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content") or "").split()) for m in messages)


def chat_completion(request: dict[str, Any], content: str | None, **message: Any) -> dict[str, Any]:
    """A Chat Completions body; usage: prompt = words of the prompt, completion = words of the reply."""
    prompt, completion = _words(request["messages"]), len((content or "").split())
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 1},
        },
    }


class ChatServer:
    """A deterministic OpenAI-compatible server: ``POST /v1/chat/completions`` answers from a script.

    Each script entry is a reply text, a whole response body (dict) or ``(status, body)``. With the
    script empty it answers ``"reply <n>"``. Every request body is recorded in ``requests``.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Any] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK expects

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, body = server._answer(self.path, request)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    def _answer(self, path: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path != "/v1/chat/completions":
            return 404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}}
        with self._lock:
            self.requests.append(request)
            entry = self.script.pop(0) if self.script else f"reply {len(self.requests)}"
        if isinstance(entry, tuple):
            return entry
        return 200, entry if isinstance(entry, dict) else chat_completion(request, entry)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    chat = ChatServer()
    yield chat
    chat.close()


@pytest.fixture
def client(server: ChatServer) -> Iterator[openai.OpenAI]:
    sdk = openai.OpenAI(base_url=server.url, api_key="test-key", max_retries=0, timeout=10)
    yield sdk
    sdk.close()


@pytest.fixture
async def async_client(server: ChatServer) -> AsyncIterator[openai.AsyncOpenAI]:
    sdk = openai.AsyncOpenAI(base_url=server.url, api_key="test-key", max_retries=0, timeout=10)
    yield sdk
    await sdk.close()


# --------------------------------------------------------------------------- LLMResponse and the protocol


def test_response_equality_and_repr_leave_out_the_raw_object() -> None:
    usage = Usage(3, 1, 4)
    a, b = LLMResponse("hi", usage, raw={"id": 1}), LLMResponse("hi", usage, raw=object())
    assert a == b
    assert "raw" not in repr(a)
    assert LLMResponse("hi").usage is None
    with pytest.raises(AttributeError):
        a.text = "changed"  # type: ignore[misc]


def test_adapters_implement_the_protocol(client: openai.OpenAI) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from llama_index.core.llms import MockLLM

    for llm in (
        ScriptedLLM(["x"]),
        CallableLLM(lambda m: "x"),
        OpenAIChatLLM(client, "m"),
        LangChainChatLLM(FakeListChatModel(responses=["x"])),
        LlamaIndexLLM(MockLLM()),
    ):
        assert isinstance(llm, LLM)
    assert not isinstance(lambda m: "x", LLM)


def test_error_classes() -> None:
    assert issubclass(LLMError, TractError)
    assert issubclass(AsyncOnlyError, LLMError)


# --------------------------------------------------------------------------- CallableLLM


def test_callable_returning_text() -> None:
    seen = []
    llm = CallableLLM(lambda messages: seen.append(messages) or f"{len(messages)} messages")
    reply = llm.complete(HI)
    assert reply == LLMResponse("2 messages")
    assert seen == [HI]


def test_callable_gets_only_the_options_its_signature_takes() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def plain(messages):
        calls.append(("plain", {}))
        return "a"

    def named(messages, temperature=1.0, *, max_tokens=None):
        calls.append(("named", {"temperature": temperature, "max_tokens": max_tokens}))
        return "b"

    def anything(messages, **options):
        calls.append(("anything", options))
        return "c"

    for fn in (plain, named, anything):
        CallableLLM(fn).complete(HI, temperature=0.2, max_tokens=5, seed=7)
    assert calls == [
        ("plain", {}),
        ("named", {"temperature": 0.2, "max_tokens": 5}),
        ("anything", {"temperature": 0.2, "max_tokens": 5, "seed": 7}),
    ]


def test_callable_messages_become_a_list_of_dicts() -> None:
    seen = []
    CallableLLM(lambda m: seen.append(m) or "ok").complete((MappingProxyType({"role": "user", "content": "hi"}),))
    assert seen == [[{"role": "user", "content": "hi"}]]
    assert type(seen[0]) is list and type(seen[0][0]) is dict


def test_callable_reply_shapes() -> None:
    openai_dict = {
        "choices": [{"message": {"role": "assistant", "content": "from choices"}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2},
    }
    message_with_usage = {  # e.g. the stand-in providers of notebooks/01_foundations.ipynb
        "content": "from a message",
        "usage": {"input_tokens": 5, "output_tokens": 3, "cache_read_input_tokens": 2},
    }
    blocks = {"content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]}
    sdk_like = SimpleNamespace(
        choices=[SimpleNamespace(message=SimpleNamespace(content=None))],
        usage=SimpleNamespace(prompt_tokens=4, completion_tokens=0, total_tokens=4),
    )
    given = LLMResponse("as is", Usage(1, 1, 2))

    def reply(result: Any) -> LLMResponse:
        return CallableLLM(lambda m: result).complete(HI)

    assert reply(openai_dict) == LLMResponse("from choices", Usage(9, 2, 11, source="openai"))
    assert reply(openai_dict).raw is openai_dict
    assert reply(message_with_usage) == LLMResponse("from a message", Usage(7, 3, 10, 2, 0, source="anthropic"))
    assert reply(blocks) == LLMResponse("Hello")
    assert reply(sdk_like) == LLMResponse("", Usage(4, 0, 4, source="openai"))
    assert reply(given) is given


@pytest.mark.parametrize(
    ("result", "match"),
    [
        ({"choices": []}, "no choices"),
        (42, "cannot read a reply from a int"),
        (None, "cannot read a reply from a NoneType"),
        ({"content": "x", "usage": {"tokens": 3}}, "usage could not be read"),
        ({"content": 3.5}, "cannot read text"),
    ],
)
def test_callable_unreadable_replies_raise_llm_error(result: Any, match: str) -> None:
    with pytest.raises(LLMError, match=match):
        CallableLLM(lambda m: result).complete(HI)


def test_bad_functions_and_messages_are_input_errors() -> None:
    with pytest.raises(InvalidInputError, match="needs a function"):
        CallableLLM("gpt-4o")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="first argument"):
        CallableLLM(lambda: "no messages")
    llm = CallableLLM(lambda m: "x")
    with pytest.raises(InvalidInputError, match="list of chat messages"):
        llm.complete("Hi there")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"messages\[1\]"):
        llm.complete([{"role": "user", "content": "a"}, "b"])  # type: ignore[list-item]


async def _echo(messages, *, temperature=None):
    await asyncio.sleep(0)
    return f"{messages[-1]['content']} @ {temperature}"


def test_async_function_completes_in_a_fresh_loop_from_sync_code() -> None:
    llm = CallableLLM(_echo)
    assert llm.is_async
    assert llm.complete(HI, temperature=0).text == "Say hi to Ada @ 0"
    assert llm.complete(HI).text == "Say hi to Ada @ None"  # again: each call gets its own loop


async def test_async_function_inside_a_running_loop_says_use_acomplete() -> None:
    llm = CallableLLM(_echo)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        with pytest.raises(AsyncOnlyError, match="acomplete"):
            llm.complete(HI)
    assert (await llm.acomplete(HI, temperature=1)).text == "Say hi to Ada @ 1"


async def test_async_callables_of_every_kind_are_detected() -> None:
    class Model:
        async def __call__(self, messages, **options):
            return "object"

    class Method:
        async def reply(self, messages):
            return "method"

    for fn, text in (
        (Model(), "object"),
        (Method().reply, "method"),
        (functools.partial(_echo), "Say hi to Ada @ None"),
    ):
        llm = CallableLLM(fn)
        assert llm.is_async
        assert (await llm.acomplete(HI)).text == text


async def test_acomplete_runs_a_sync_function_in_a_worker_thread() -> None:
    threads = []
    llm = CallableLLM(lambda m: threads.append(threading.get_ident()) or "done")
    replies = await asyncio.gather(*(llm.acomplete(HI) for _ in range(3)))
    assert [r.text for r in replies] == ["done"] * 3
    assert threading.get_ident() not in threads


def test_a_sync_function_that_returns_a_coroutine_is_awaited() -> None:
    llm = CallableLLM(lambda messages: _echo(messages, temperature=2))
    assert not llm.is_async
    assert llm.complete(HI).text == "Say hi to Ada @ 2"
    assert asyncio.run(llm.acomplete(HI)).text == "Say hi to Ada @ 2"


async def test_a_returned_coroutine_inside_a_running_loop_is_closed_not_leaked() -> None:
    llm = CallableLLM(lambda messages: _echo(messages))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AsyncOnlyError):
            llm.complete(HI)


# --------------------------------------------------------------------------- OpenAIChatLLM with the real SDK


def test_openai_client_sends_our_messages_and_options(server: ChatServer, client: openai.OpenAI) -> None:
    server.script = ["Hi Ada!"]
    llm = OpenAIChatLLM(client, "gpt-4o-mini", temperature=0.5, seed=3)
    reply = llm.complete(HI, temperature=0, max_tokens=20)
    assert server.requests == [{"model": "gpt-4o-mini", "messages": HI, "temperature": 0, "seed": 3, "max_tokens": 20}]
    assert reply.text == "Hi Ada!"
    assert reply.usage == Usage(7, 2, 9, cache_read_tokens=1, source="openai")
    assert isinstance(reply.raw, openai.types.chat.ChatCompletion)
    assert reply.raw.choices[0].finish_reason == "stop"


def test_openai_per_call_model_overrides_the_default(server: ChatServer, client: openai.OpenAI) -> None:
    OpenAIChatLLM(client, "small").complete(HI, model="large")
    assert server.requests[0]["model"] == "large"


def test_openai_compiled_context_goes_out_byte_for_byte(server: ChatServer, client: openai.OpenAI) -> None:
    t = Tract.open()
    t.system("You answer in one line.")
    t.user("How do I reverse a list?")
    messages = t.compile().to_openai()
    llm = as_llm(client, model="gpt-4o")
    t.assistant(llm.complete(messages).text)
    assert server.requests[0]["messages"] == messages
    assert t.compile().messages[-1] == {"role": "assistant", "content": "reply 1"}


def test_openai_tool_call_reply_has_empty_text(server: ChatServer, client: openai.OpenAI) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
    server.script = [chat_completion({"model": "m", "messages": HI}, None, tool_calls=[call])]
    reply = OpenAIChatLLM(client, "m").complete(HI, tools=[{"type": "function", "function": {"name": "lookup"}}])
    assert reply.text == ""
    assert reply.raw.choices[0].message.tool_calls[0].function.name == "lookup"
    assert server.requests[0]["tools"][0]["function"]["name"] == "lookup"


def test_openai_no_choices_is_an_llm_error(server: ChatServer, client: openai.OpenAI) -> None:
    server.script = [{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": []}]
    with pytest.raises(LLMError, match="no choices"):
        OpenAIChatLLM(client, "m").complete(HI)


def test_openai_http_errors_come_through_as_the_sdks_errors(server: ChatServer, client: openai.OpenAI) -> None:
    server.script = [(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})]
    with pytest.raises(openai.AuthenticationError):
        OpenAIChatLLM(client, "m").complete(HI)


def test_openai_streaming_is_refused_before_any_request(server: ChatServer, client: openai.OpenAI) -> None:
    with pytest.raises(InvalidInputError, match="streaming"):
        OpenAIChatLLM(client, "m").complete(HI, stream=True)
    assert server.requests == []


async def test_openai_async_client(server: ChatServer, client: openai.OpenAI, async_client: openai.AsyncOpenAI) -> None:
    llm = OpenAIChatLLM(client, "gpt-4o", async_client=async_client, temperature=0.1)
    server.script = ["one", "two", "three"]
    replies = await asyncio.gather(*(llm.acomplete([{"role": "user", "content": f"q{i}"}]) for i in range(3)))
    assert sorted(r.text for r in replies) == ["one", "three", "two"]
    assert all(r.usage == Usage(1, 1, 2, cache_read_tokens=1, source="openai") for r in replies)
    assert sorted(r["messages"][0]["content"] for r in server.requests) == ["q0", "q1", "q2"]
    assert {r["temperature"] for r in server.requests} == {0.1}


async def test_openai_acomplete_without_async_client_uses_a_thread(server: ChatServer, client: openai.OpenAI) -> None:
    reply = await OpenAIChatLLM(client, "m").acomplete(HI, max_tokens=3)
    assert reply.text == "reply 1"
    assert server.requests[0]["max_tokens"] == 3


async def test_openai_async_only_client(server: ChatServer, async_client: openai.AsyncOpenAI) -> None:
    llm = as_llm(async_client, model="m")
    assert isinstance(llm, OpenAIChatLLM) and llm.client is None and llm.async_client is async_client
    assert (await llm.acomplete(HI)).text == "reply 1"
    with pytest.raises(AsyncOnlyError, match="sync client"):
        llm.complete(HI)
    assert len(server.requests) == 1


def test_openai_compatible_client_returning_dicts() -> None:
    class DictClient:  # the shape of any OpenAI-compatible client, answering with plain dicts
        def __init__(self) -> None:
            self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))
            self.requests: list[dict[str, Any]] = []

        def create(self, **request: Any) -> dict[str, Any]:
            self.requests.append(request)
            return chat_completion(request, "from a dict")

    fake = DictClient()
    reply = as_llm(fake, model="local").complete(HI, top_p=0.9)
    assert reply == LLMResponse("from a dict", Usage(7, 3, 10, cache_read_tokens=1, source="openai"))
    assert fake.requests == [{"model": "local", "top_p": 0.9, "messages": HI}]


def test_openai_chat_llm_validates_its_arguments(client: openai.OpenAI) -> None:
    with pytest.raises(InvalidInputError, match="needs a client"):
        OpenAIChatLLM(None, "m")
    with pytest.raises(InvalidInputError, match="chat.completions.create"):
        OpenAIChatLLM(object(), "m")
    with pytest.raises(InvalidInputError, match="model name"):
        OpenAIChatLLM(client, "")
    assert repr(OpenAIChatLLM(client, "m")) == "OpenAIChatLLM(model='m')"


# --------------------------------------------------------------------------- as_llm


def test_as_llm_dispatch(client: openai.OpenAI) -> None:
    scripted = ScriptedLLM(["x"])
    assert as_llm(scripted) is scripted
    assert as_llm(scripted, model="ignored") is scripted
    wrapped = as_llm(lambda messages: "x", model="ignored for functions")
    assert isinstance(wrapped, CallableLLM)
    assert as_llm(wrapped) is wrapped
    openai_llm = as_llm(client, model="gpt-4o")
    assert isinstance(openai_llm, OpenAIChatLLM) and openai_llm.client is client and openai_llm.model == "gpt-4o"


def test_as_llm_a_client_needs_a_model(client: openai.OpenAI) -> None:
    with pytest.raises(InvalidInputError, match=r"needs model=\.\.\."):
        as_llm(client)


@pytest.mark.parametrize("obj", [None, "gpt-4o", 42, {"role": "user"}])
def test_as_llm_names_what_it_accepts(obj: Any) -> None:
    with pytest.raises(InvalidInputError, match="complete\\(\\)/acomplete\\(\\).*OpenAI-compatible client.*function"):
        as_llm(obj)


def test_as_llm_wants_an_instance_not_a_class() -> None:
    with pytest.raises(InvalidInputError, match="instance, not the class ScriptedLLM"):
        as_llm(ScriptedLLM)


def test_as_llm_wraps_langchain_models_and_runnables() -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.runnables import RunnableLambda

    for model in (FakeListChatModel(responses=["x"]), RunnableLambda(lambda m: "x")):
        llm = as_llm(model)
        assert isinstance(llm, LangChainChatLLM) and llm.model is model
        assert llm.complete(HI).text == "x"


def test_as_llm_wraps_llamaindex_llms_without_trusting_their_complete() -> None:
    from llama_index.core.llms import MockLLM

    mock = MockLLM()
    assert isinstance(mock, LLM)  # it has complete()/acomplete(), with other meanings: as_llm must not trust that
    llm = as_llm(mock)
    assert isinstance(llm, LlamaIndexLLM) and llm.llm is mock
    assert llm.complete([{"role": "user", "content": "hi"}]).text == "user: hi\nassistant: "


def test_as_llm_recognises_framework_lookalikes_by_duck_typing() -> None:
    class RunnableLike:
        def invoke(self, messages, **options):
            return SimpleNamespace(content=f"{len(messages)} {type(messages[0]).__name__}")

        async def ainvoke(self, messages, **options):
            return self.invoke(messages)

        def __call__(self, messages): ...

    class ChatLike:
        def chat(self, messages, **options):
            return SimpleNamespace(message=SimpleNamespace(content=f"{len(messages)} {type(messages[0]).__name__}"))

        async def achat(self, messages, **options):
            return self.chat(messages)

    class OwnLLMWithInvoke(RunnableLike):  # implements tract's protocol itself: accepted as is
        def complete(self, messages, **options):
            return LLMResponse("own")

        async def acomplete(self, messages, **options):
            return LLMResponse("own")

    runnable = as_llm(RunnableLike())
    assert isinstance(runnable, LangChainChatLLM)
    assert runnable.complete(HI).text == "2 SystemMessage"
    chat = as_llm(ChatLike())
    assert isinstance(chat, LlamaIndexLLM)
    assert asyncio.run(chat.acomplete(HI)).text == "2 ChatMessage"
    own = OwnLLMWithInvoke()
    assert as_llm(own) is own


# --------------------------------------------------------------------------- ScriptedLLM


def test_scripted_llm_is_deterministic_with_documented_usage() -> None:
    def run() -> list[LLMResponse]:
        llm = ScriptedLLM(["Hello there Ada", "Bye"])
        return [llm.complete(HI), llm.complete([*HI, {"role": "assistant", "content": "Hello there Ada"}])]

    first, second = run(), run()
    assert first == second
    assert first[0] == LLMResponse("Hello there Ada", Usage(7, 3, 10, source="scripted"))
    assert first[1].usage == Usage(10, 1, 11, source="scripted")


def test_scripted_llm_counts_text_blocks_and_ignores_tool_calls() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "two words"}, {"type": "image_url", "image_url": {}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function"}]},
        {"role": "tool", "tool_call_id": "c", "content": "three more words"},
        {"role": "user", "content": {"unusual": "structured content"}},
    ]
    assert ScriptedLLM(["ok"]).complete(messages).usage == Usage(5, 1, 6, source="scripted")


def test_scripted_llm_records_prompts_options_and_calls() -> None:
    llm = ScriptedLLM(["a", "b"])
    messages = [{"role": "user", "content": "Hi", "meta": {"tags": ["x"]}}]
    assert llm(messages) == "a"
    messages[0]["meta"]["tags"].append("mutated after the call")
    llm.complete(messages, temperature=0.3, stop=["\n"])
    assert llm.prompts[0] == [{"role": "user", "content": "Hi", "meta": {"tags": ["x"]}}]
    assert llm.options == [{}, {"temperature": 0.3, "stop": ["\n"]}]
    assert llm.calls == 2
    assert "2 replies" in repr(llm)


def test_scripted_llm_reply_function_sees_a_copy() -> None:
    def reply(prompt: list[dict[str, Any]]) -> str:
        prompt[0]["content"] = "scribbled"
        return f"echo: {len(prompt)}"

    llm = ScriptedLLM(reply)
    assert llm(HI) == "echo: 2"
    assert llm.prompts == [HI]


def test_scripted_llm_running_out_and_repeat_last() -> None:
    llm = ScriptedLLM(["only"])
    llm(HI)
    with pytest.raises(IndexError, match="only 1 replies"):
        llm(HI)
    repeating = ScriptedLLM(["first", "last"], repeat_last=True)
    assert [repeating(HI) for _ in range(4)] == ["first", "last", "last", "last"]


def test_scripted_llm_scripted_responses() -> None:
    own = LLMResponse("with usage", Usage(100, 2, 102))
    llm = ScriptedLLM([own, LLMResponse("without usage", raw="provider object")])
    assert llm.complete(HI) is own
    second = llm.complete(HI)
    assert second.usage == Usage(7, 2, 9, source="scripted") and second.raw == "provider object"
    with pytest.raises(InvalidInputError, match=r"replies\[0\]"):
        ScriptedLLM([42])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="reply function"):
        ScriptedLLM(lambda prompt: 42).complete(HI)  # type: ignore[arg-type,return-value]


async def test_scripted_llm_async_in_call_order() -> None:
    llm = ScriptedLLM(["one", "two", "three"])
    replies = await asyncio.gather(*(llm.acomplete([{"role": "user", "content": str(i)}], n=i) for i in range(3)))
    assert [r.text for r in replies] == ["one", "two", "three"]
    assert [p[0]["content"] for p in llm.prompts] == ["0", "1", "2"]
    assert llm.options == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_scripted_llm_through_as_llm_in_an_agent_loop() -> None:
    t = Tract.open()
    t.system("You are terse.")
    llm = as_llm(ScriptedLLM(lambda prompt: f"turn {sum(m['role'] == 'user' for m in prompt)}"))
    for question in ("a?", "b?"):
        t.user(question)
        t.assistant((await llm.acomplete(t.compile().to_openai())).text)
    assert [m["content"] for m in t.compile().messages] == ["You are terse.", "a?", "turn 1", "b?", "turn 2"]


def test_record_usage_takes_an_llm_response_and_a_usage() -> None:
    from tract_core import Tract

    llm = ScriptedLLM(["two words"])
    t = Tract.open()
    t.user("one two three")
    response = llm.complete(t.compile().to_openai())
    t.assistant(response.text)
    assert t.record_usage(response) == response.usage
    assert t.status().last_usage.completion_tokens == 2
    assert t.record_usage(response.usage) == response.usage
