"""The LLM protocol: messages in, text and usage out, sync and async.

Everything in tract that calls a model (LLM summaries in ``compress``, LLM merge resolvers,
policies) takes an :class:`LLM`. :func:`as_llm` turns what users already have into one: any
LangChain chat model or Runnable (:class:`LangChainChatLLM`), any LlamaIndex LLM
(:class:`LlamaIndexLLM`), an OpenAI-compatible client (OpenAI, vLLM, Ollama, LiteLLM proxies, ...)
with a ``model=`` (:class:`OpenAIChatLLM`), or a plain function (:class:`CallableLLM`). Messages
are OpenAI chat-shaped dicts, exactly what ``CompiledContext.to_openai()`` returns. The framework
adapters are duck-typed and import LangChain/LlamaIndex only when they are called.

Example:
    >>> from tract_core.llm import as_llm
    >>> llm = as_llm(lambda messages: f"{len(messages)} message(s) seen")
    >>> llm.complete([{"role": "user", "content": "Hi"}]).text
    '1 message(s) seen'
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .errors import InvalidInputError, TractError
from .usage import Usage, normalize_usage

__all__ = [
    "LLM",
    "LLMResponse",
    "LLMError",
    "AsyncOnlyError",
    "CallableLLM",
    "OpenAIChatLLM",
    "LangChainChatLLM",
    "LlamaIndexLLM",
    "as_llm",
]

_Messages = Sequence[Mapping[str, Any]]

_ACCEPTED = (
    "an object with complete()/acomplete() (the tract LLM protocol), a LangChain chat model or Runnable, "
    "a LlamaIndex LLM, an OpenAI-compatible client such as openai.OpenAI(base_url=..., api_key=...) "
    "together with model=..., or a function (sync or async) from the message list to a str"
)


class LLMError(TractError, RuntimeError):
    """An LLM call failed or its reply could not be read (e.g. the provider returned no choices)."""


class AsyncOnlyError(LLMError):
    """``complete()`` cannot run this LLM synchronously (e.g. inside a running event loop); await ``acomplete()``."""


@dataclass(frozen=True, slots=True)
class LLMResponse:
    """One reply of an LLM.

    Attributes:
        text: The reply's text (``""`` when the model answered only with tool calls).
        usage: The token usage the provider reported, if it reported any.
        raw: The provider's own response object (tool calls, finish reason, ...). Left out of
            equality and ``repr``.
    """

    text: str
    usage: Usage | None = None
    raw: Any = field(default=None, compare=False, repr=False)


@runtime_checkable
class LLM(Protocol):
    """What tract needs from a model: a reply to a list of chat messages.

    ``messages`` are OpenAI chat-shaped dicts (``{"role": ..., "content": ...}``, as returned by
    ``CompiledContext.to_openai()``). ``options`` (``temperature``, ``max_tokens``, ...) pass
    through to the provider. Wrap anything else with :func:`as_llm`.
    """

    def complete(self, messages: _Messages, **options: Any) -> LLMResponse:
        """Reply to ``messages``, blocking."""
        ...

    async def acomplete(self, messages: _Messages, **options: Any) -> LLMResponse:
        """Reply to ``messages`` without blocking the event loop."""
        ...


# --------------------------------------------------------------------------- reading replies


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _has(obj: Any, key: str) -> bool:
    return key in obj if isinstance(obj, Mapping) else hasattr(obj, key)


def _content_text(content: Any, sep: str = "") -> str:
    """The text of a message's content: a string, ``None``, or a list of text content blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif _get(block, "type") in (None, "text", "output_text") and isinstance(_get(block, "text"), str):
                parts.append(_get(block, "text"))
        return sep.join(parts)
    raise LLMError(f"cannot read text from message content of type {type(content).__name__}")


def _usage(result: Any) -> Usage | None:
    found = _get(result, "usage")
    if found is None:
        found = _get(result, "usage_metadata")
    if found is None or (isinstance(found, Mapping) and not found):
        return None
    if isinstance(found, Usage):
        return found
    try:
        return normalize_usage(found)
    except InvalidInputError as exc:
        raise LLMError(f"the reply's token usage could not be read: {exc}") from exc


def _to_response(result: Any) -> LLMResponse:
    """Read a str, an :class:`LLMResponse`, an OpenAI-style response or a message into a response."""
    if isinstance(result, LLMResponse):
        return result
    if isinstance(result, str):
        return LLMResponse(result)
    choices = _get(result, "choices")
    if choices is not None:
        if not choices:
            raise LLMError("the provider returned no choices; check the request (model name, max_tokens, filters)")
        first = choices[0]
        message = _get(first, "message")
        text = _content_text(_get(message, "content")) if message is not None else _content_text(_get(first, "text"))
        return LLMResponse(text, _usage(result), raw=result)
    if result is not None and not isinstance(result, (bytes, bytearray)) and _has(result, "content"):
        return LLMResponse(_content_text(_get(result, "content")), _usage(result), raw=result)
    raise LLMError(
        f"cannot read a reply from a {type(result).__name__}: return a str, an LLMResponse, an OpenAI-style "
        "response (with choices[0].message.content) or a message with 'content'"
    )


def _message_list(messages: _Messages) -> list[dict[str, Any]]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidInputError(
            f"messages must be a list of chat messages such as ctx.to_openai(), not a {type(messages).__name__}"
        )
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise InvalidInputError(
                f"messages[{i}] must be a dict with 'role' and 'content', not a {type(message).__name__}"
            )
        out.append(message if isinstance(message, dict) else dict(message))
    return out


# --------------------------------------------------------------------------- sync/async bridging


def _is_async_callable(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn)):
        return True
    if not callable(fn) or inspect.isroutine(fn) or isinstance(fn, type):
        return False
    return inspect.iscoroutinefunction(type(fn).__call__)  # an object with ``async def __call__``


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _run_blocking(make: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Run an awaitable to completion from sync code: in a fresh event loop, never inside a running one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(make()))
    raise AsyncOnlyError(
        f"{what} is async-only and complete() was called inside a running event loop; "
        "use `await llm.acomplete(messages)` there instead"
    )


def _settle(result: Any, what: str) -> Any:
    """A sync call that handed back an awaitable after all: run it (or refuse inside a running loop)."""
    if not inspect.isawaitable(result):
        return result
    try:
        return _run_blocking(lambda: result, what)
    except AsyncOnlyError:
        if inspect.iscoroutine(result):
            result.close()  # never awaited: say so once, through our error, not a RuntimeWarning
        raise


# --------------------------------------------------------------------------- adapters


def _option_names(fn: Callable[..., Any]) -> tuple[bool, frozenset[str]]:
    """Whether ``fn`` takes ``**options``, and which named keyword options it takes."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: give them the messages only
        return False, frozenset()
    params = list(signature.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    if not positional:
        raise InvalidInputError(f"{fn!r} must take the message list as its first argument")
    first = positional[0]
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p is not first}
    return any(p.kind is p.VAR_KEYWORD for p in params), frozenset(named)


class CallableLLM:
    """An :class:`LLM` from a plain function, sync or ``async def``.

    The function gets the message list (and, if its signature takes them, the call's options) and
    returns a ``str``, an :class:`LLMResponse`, an OpenAI-style response (dict or SDK object) or a
    message with ``content`` (and optionally ``usage``). Options the function does not name and
    that it cannot take as ``**kwargs`` are dropped: a plain function has no way to honour them.

    ``complete`` on an async function runs it in a fresh event loop when none is running, and
    raises :class:`AsyncOnlyError` inside a running loop (``await acomplete`` there); a function
    that holds loop-bound resources (an async HTTP client) should only be awaited. ``acomplete``
    on a sync function runs it in a worker thread (``asyncio.to_thread``).

    Args:
        fn: The function.

    Raises:
        InvalidInputError: ``fn`` is not callable or cannot take the message list.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise InvalidInputError(f"CallableLLM needs a function, not a {type(fn).__name__}")
        self.fn = fn
        self.is_async = _is_async_callable(fn)
        self._takes_any, self._takes = _option_names(fn)

    def __repr__(self) -> str:
        return f"CallableLLM({getattr(self.fn, '__qualname__', self.fn)!r})"

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        if self._takes_any:
            return options
        return {k: v for k, v in options.items() if k in self._takes}

    def complete(self, messages: _Messages, **options: Any) -> LLMResponse:
        """Call the function and read its reply."""
        prompt, kwargs = _message_list(messages), self._options(options)
        if self.is_async:
            return _to_response(_run_blocking(lambda: self.fn(prompt, **kwargs), repr(self)))
        return _to_response(_settle(self.fn(prompt, **kwargs), repr(self)))

    async def acomplete(self, messages: _Messages, **options: Any) -> LLMResponse:
        """Await the function (or run a sync one in a worker thread) and read its reply."""
        prompt, kwargs = _message_list(messages), self._options(options)
        if self.is_async:
            result = await self.fn(prompt, **kwargs)
        else:
            result = await asyncio.to_thread(functools.partial(self.fn, prompt, **kwargs))
            if inspect.isawaitable(result):
                result = await result
        return _to_response(result)


def _create(client: Any) -> Callable[..., Any] | None:
    create = getattr(getattr(getattr(client, "chat", None), "completions", None), "create", None)
    return create if callable(create) else None


class OpenAIChatLLM:
    """An :class:`LLM` over any OpenAI-compatible Chat Completions client.

    Works with ``openai.OpenAI(base_url=..., api_key=...)`` and with servers that speak the same API
    (vLLM, Ollama, LiteLLM, ...): each call is ``client.chat.completions.create(model=model,
    messages=messages, **defaults, **options)``. The reply text is ``choices[0].message.content``
    (``""`` when it is ``None``, e.g. a tool-call-only answer; the tool calls are in ``raw``) and
    usage is normalised with :func:`~tract_core.usage.normalize_usage`. SDK objects and plain dict
    responses both work.

    Args:
        client: A sync client, or ``None`` when only ``async_client`` is given. An async client
            (``openai.AsyncOpenAI``) passed here is used as ``async_client``. Without a sync client,
            :meth:`complete` raises :class:`AsyncOnlyError`: an async client's connections belong to
            its event loop.
        model: The model name sent with every call (an option ``model=`` overrides it per call).
        async_client: An async client (``openai.AsyncOpenAI``) for :meth:`acomplete`; without one,
            ``acomplete`` runs the sync client in a worker thread.
        **defaults: Options sent with every call, e.g. ``temperature=0``; per-call options win.

    Raises:
        InvalidInputError: No client, a client without ``chat.completions.create``, or no model.
    """

    def __init__(self, client: Any, model: str, *, async_client: Any = None, **defaults: Any) -> None:
        if client is not None and async_client is None and _is_async_callable(_create(client)):
            client, async_client = None, client
        for name, value in (("client", client), ("async_client", async_client)):
            if value is not None and _create(value) is None:
                raise InvalidInputError(
                    f"{name} must be an OpenAI-compatible client with chat.completions.create(), "
                    f"not a {type(value).__name__}"
                )
        if client is None and async_client is None:
            raise InvalidInputError(
                "OpenAIChatLLM needs a client (openai.OpenAI) or an async_client (openai.AsyncOpenAI)"
            )
        if not isinstance(model, str) or not model:
            raise InvalidInputError(f"OpenAIChatLLM needs the model name as a non-empty string, not {model!r}")
        self.client = client
        self.async_client = async_client
        self.model = model
        self.defaults = defaults

    def __repr__(self) -> str:
        return f"OpenAIChatLLM(model={self.model!r})"

    def _request(self, messages: _Messages, options: dict[str, Any]) -> dict[str, Any]:
        request = {"model": self.model, **self.defaults, **options}
        if request.get("stream"):
            raise InvalidInputError("streaming is not supported here: complete()/acomplete() return the whole reply")
        request["messages"] = _message_list(messages)
        return request

    def complete(self, messages: _Messages, **options: Any) -> LLMResponse:
        """One Chat Completions call with the sync client.

        Raises:
            AsyncOnlyError: Only an async client was given (it cannot leave its event loop).
        """
        request = self._request(messages, options)
        if self.client is None:
            raise AsyncOnlyError(
                f"{self!r} has only an async client, and async clients are bound to their event loop: "
                "use `await llm.acomplete(messages)`, or give it a sync client too: "
                "OpenAIChatLLM(openai.OpenAI(...), model, async_client=openai.AsyncOpenAI(...))"
            )
        return _to_response(_settle(self.client.chat.completions.create(**request), repr(self)))

    async def acomplete(self, messages: _Messages, **options: Any) -> LLMResponse:
        """One Chat Completions call with the async client (or the sync one in a worker thread)."""
        request = self._request(messages, options)
        if self.async_client is not None:
            result = await self.async_client.chat.completions.create(**request)
        else:
            result = await asyncio.to_thread(functools.partial(self.client.chat.completions.create, **request))
            if inspect.isawaitable(result):
                result = await result
        return _to_response(result)


# --------------------------------------------------------------------------- LangChain and LlamaIndex


def _framework_module(module: str | None) -> str | None:
    root = (module or "").split(".")[0]
    if root.startswith(("langchain", "langgraph")):
        return "langchain"
    if root.startswith("llama_index"):
        return "llamaindex"
    return None


def _framework_class(obj: Any) -> str | None:
    """``"langchain"``/``"llamaindex"`` when ``obj``'s class (or a base class) comes from that framework."""
    for klass in type(obj).__mro__:
        found = _framework_module(getattr(klass, "__module__", None))
        if found is not None:
            return found
    return None


def _framework(obj: Any) -> str | None:
    """``"langchain"``/``"llamaindex"`` when ``obj`` is one of their models (or quacks like one)."""
    found = _framework_class(obj)
    if found is not None:
        return found
    if callable(getattr(obj, "invoke", None)) and callable(getattr(obj, "ainvoke", None)):
        return "langchain"  # a Runnable
    if callable(getattr(obj, "chat", None)) and callable(getattr(obj, "achat", None)):
        return "llamaindex"
    return None


def _is_tract_llm(obj: Any) -> bool:
    """Implements the protocol itself (a LlamaIndex LLM has ``complete``/``acomplete`` too, with other meanings)."""
    if not isinstance(obj, LLM):
        return False
    if _framework_class(obj) == "llamaindex":
        return False  # a CustomLLM subclass defines complete(prompt: str) itself: still LlamaIndex's meaning
    complete = getattr(type(obj), "complete", None)
    return _framework_module(getattr(complete, "__module__", None)) is None


def _needs_instance(obj: Any, adapter: str) -> None:
    if isinstance(obj, type):
        raise InvalidInputError(f"{adapter} needs an instance, not the class {obj.__name__}; call it first")


async def _acall(method: Callable[..., Any] | None, sync: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Await ``method`` when the model has it, else run ``sync`` in a worker thread."""
    if method is not None:
        result = method(*args, **kwargs)
    else:
        result = await asyncio.to_thread(functools.partial(sync, *args, **kwargs))
    if inspect.isawaitable(result):
        result = await result
    return result


class LangChainChatLLM:
    """An :class:`LLM` over a LangChain chat model, or any Runnable from a message list to a message or str.

    Each call converts the OpenAI-shaped messages with LangChain's own ``convert_to_messages``
    (tool calls, tool results and ``developer`` messages included) and runs
    ``model.invoke(messages, **defaults, **options)`` (``ainvoke`` in :meth:`acomplete`). The reply
    text is the returned message's text (text content blocks joined; reasoning and tool-call blocks
    left out), usage is read from its ``usage_metadata`` (``None`` when the model reports none), and
    ``raw`` is the returned ``AIMessage`` (tool calls, response metadata, ...). A Runnable that ends in
    a ``StrOutputParser`` and returns a ``str`` works too.

    Options go to ``invoke`` as keyword arguments: ``stop=[...]`` and ``config={...}`` (callbacks,
    tags) are standard, and most chat-model integrations forward others such as ``temperature`` or
    ``max_tokens`` into the request, but that is up to the integration, and a ``RunnableLambda``
    hands them to its function. To fix such settings for every call, set them on the model:
    ``ChatOpenAI(model="gpt-4o", temperature=0)`` or ``model.bind(temperature=0, max_tokens=200)``.

    langchain-core is imported only when a call converts messages.

    Args:
        model: A ``BaseChatModel`` (``ChatOpenAI``, ``ChatAnthropic``, ``init_chat_model(...)``, ...),
            a bound model (``model.bind(...)``) or any Runnable with ``invoke`` (``ainvoke`` is used
            when present; otherwise ``acomplete`` runs ``invoke`` in a worker thread).
        **defaults: Options sent with every call; per-call options win.

    Raises:
        InvalidInputError: ``model`` has no ``invoke()``.

    Example:
        >>> from langchain_core.language_models.fake_chat_models import FakeListChatModel
        >>> llm = LangChainChatLLM(FakeListChatModel(responses=["Hello, Ada."]))
        >>> llm.complete([{"role": "user", "content": "Say hi to Ada"}]).text
        'Hello, Ada.'
    """

    def __init__(self, model: Any, **defaults: Any) -> None:
        _needs_instance(model, "LangChainChatLLM")
        if not callable(getattr(model, "invoke", None)):
            raise InvalidInputError(
                "LangChainChatLLM needs a LangChain chat model or Runnable (with invoke()), "
                f"not a {type(model).__name__}"
            )
        self.model = model
        self.defaults = defaults

    def __repr__(self) -> str:
        return f"LangChainChatLLM({type(self.model).__name__})"

    def _prompt(self, messages: _Messages) -> list[Any]:
        prompt = _message_list(messages)
        try:
            from langchain_core.messages.utils import convert_to_messages
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("LangChainChatLLM needs langchain-core: pip install langchain-core") from exc
        try:
            return convert_to_messages(prompt)
        except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
            raise InvalidInputError(f"the messages cannot be converted to LangChain messages: {exc}") from exc

    def _read(self, result: Any) -> LLMResponse:
        if isinstance(result, LLMResponse):
            return result
        if isinstance(result, str):
            return LLMResponse(str(result), raw=result)
        if isinstance(result, Mapping) or not hasattr(result, "content"):
            raise LLMError(
                f"{self!r} returned a {type(result).__name__}; it must return a message (AIMessage) or a str. "
                "For a LangGraph graph, wrap it: "
                "as_llm(lambda messages: graph.invoke({'messages': messages})['messages'][-1])"
            )
        text = getattr(result, "text", None)
        if callable(text) and not isinstance(text, str):
            text = text()  # langchain-core < 1.0: text() is a method
        if not isinstance(text, str):
            text = _content_text(result.content)
        return LLMResponse(str(text), _usage(result), raw=result)

    def complete(self, messages: _Messages, **options: Any) -> LLMResponse:
        """Convert the messages, ``invoke`` the model and read its reply."""
        prompt = self._prompt(messages)
        result = self.model.invoke(prompt, **{**self.defaults, **options})
        return self._read(_settle(result, repr(self)))

    async def acomplete(self, messages: _Messages, **options: Any) -> LLMResponse:
        """Convert the messages, ``ainvoke`` the model and read its reply."""
        prompt = self._prompt(messages)
        method = getattr(self.model, "ainvoke", None)
        result = await _acall(
            method if callable(method) else None, self.model.invoke, prompt, **{**self.defaults, **options}
        )
        return self._read(result)


_TOKEN_KEYS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def _quiet_usage(found: Any) -> Usage | None:
    if found is None or (isinstance(found, Mapping) and not found):
        return None
    try:
        return normalize_usage(found)
    except InvalidInputError:  # a provider-specific shape (Gemini, Bedrock, ...): no usage, not a failed call
        return None


def _llamaindex_usage(response: Any, message: Any) -> Usage | None:
    """OpenAI/Anthropic-style usage on ``response.raw``, else token counts in ``additional_kwargs``."""
    raw = _get(response, "raw")
    if raw is not None:
        found = _get(raw, "usage")
        usage = _quiet_usage(found if found is not None else _get(raw, "usage_metadata"))
        if usage is not None:
            return usage
    # provider integrations put counts on the response; CustomLLM's completion counts land on the message
    for extra in (_get(response, "additional_kwargs"), _get(message, "additional_kwargs")):
        if isinstance(extra, Mapping):
            usage = _quiet_usage({k: extra[k] for k in _TOKEN_KEYS if extra.get(k) is not None})
            if usage is not None:
                return usage
    return None


_LLAMAINDEX_EXTRA = ("tool_calls", "tool_call_id", "name")


class LlamaIndexLLM:
    """An :class:`LLM` over a LlamaIndex LLM (``llama_index.core.llms.LLM``: OpenAI, Anthropic, Ollama, ...).

    Each call converts the OpenAI-shaped messages into ``ChatMessage`` objects (``role`` and content;
    text and image content parts become ``TextBlock``/``ImageBlock``; ``tool_calls``,
    ``tool_call_id`` and ``name`` go into ``additional_kwargs``, where LlamaIndex's OpenAI-style
    integrations look for them) and calls ``llm.chat(messages, **defaults, **options)`` (``achat``
    in :meth:`acomplete`). The reply text is ``response.message.content`` (``""`` when there is
    none), ``raw`` is the ``ChatResponse``, and usage comes from ``response.raw`` when it carries an
    OpenAI- or Anthropic-style ``usage``, else from ``prompt_tokens``/``completion_tokens`` counts in
    the response's (or, for a ``CustomLLM``, the message's) ``additional_kwargs``, else ``None``.

    Options are keyword arguments of ``chat``; LlamaIndex's provider integrations usually merge them
    into the request (``temperature=0``, ``max_tokens=...``). Settings fixed for every call belong
    on the LLM itself (``OpenAI(model="gpt-4o", temperature=0)``) or in ``**defaults``.

    A LlamaIndex LLM also has ``complete(prompt)``/``acomplete(prompt)`` for raw text prompts:
    those are not tract's protocol, which is why it needs this adapter. llama-index-core is imported
    only when a call converts messages.

    Args:
        llm: The LlamaIndex LLM, or any object with ``chat(messages)`` returning a ``ChatResponse``
            (``achat`` is used when present; otherwise ``acomplete`` runs ``chat`` in a worker thread).
        **defaults: Options sent with every call; per-call options win.

    Raises:
        InvalidInputError: ``llm`` has no ``chat()``, or is a LlamaIndex object that is not an LLM
            (a chat engine, an index, ...).

    Example:
        >>> from llama_index.core.llms import MockLLM
        >>> llm = LlamaIndexLLM(MockLLM())  # MockLLM echoes its prompt
        >>> llm.complete([{"role": "user", "content": "Say hi to Ada"}]).text
        'user: Say hi to Ada\\nassistant: '
    """

    def __init__(self, llm: Any, **defaults: Any) -> None:
        _needs_instance(llm, "LlamaIndexLLM")
        if not callable(getattr(llm, "chat", None)):
            raise InvalidInputError(f"LlamaIndexLLM needs a LlamaIndex LLM (with chat()), not a {type(llm).__name__}")
        if _framework_class(llm) == "llamaindex":
            base = sys.modules.get("llama_index.core.base.llms.base")
            if base is not None and not isinstance(llm, base.BaseLLM):
                raise InvalidInputError(
                    f"{type(llm).__name__} is a LlamaIndex object but not an LLM: pass the LLM itself "
                    "(e.g. llama_index.llms.openai.OpenAI(...) or Settings.llm)"
                )
        self.llm = llm
        self.defaults = defaults

    def __repr__(self) -> str:
        return f"LlamaIndexLLM({type(self.llm).__name__})"

    def _prompt(self, messages: _Messages) -> list[Any]:
        prompt = _message_list(messages)
        try:
            from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("LlamaIndexLLM needs llama-index-core: pip install llama-index-core") from exc
        out = []
        for i, message in enumerate(prompt):
            role = message.get("role")
            try:
                role = MessageRole(role)
            except ValueError:
                raise InvalidInputError(
                    f"messages[{i}] has role {role!r}, which LlamaIndex does not know; "
                    f"use one of {[r.value for r in MessageRole]}"
                ) from None
            extra = dict(message.get("additional_kwargs") or {})
            extra.update({k: message[k] for k in _LLAMAINDEX_EXTRA if message.get(k) is not None})
            content = message.get("content")
            if content is None or isinstance(content, str):
                blocks = [] if content is None else [TextBlock(text=content)]
            elif isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
                blocks = [_llamaindex_block(part, i, TextBlock, ImageBlock) for part in content]
            else:
                raise InvalidInputError(
                    f"messages[{i}] content must be a str or a list of content parts, not a {type(content).__name__}"
                )
            out.append(ChatMessage(role=role, blocks=blocks, additional_kwargs=extra))
        return out

    def _read(self, response: Any) -> LLMResponse:
        message = _get(response, "message")
        if message is None or not _has(message, "content"):
            raise LLMError(
                f"{self!r} returned a {type(response).__name__}; chat() must return a ChatResponse "
                "(with .message.content)"
            )
        content = _get(message, "content")
        text = content if isinstance(content, str) else _content_text(content, sep="\n")
        return LLMResponse(text, _llamaindex_usage(response, message), raw=response)

    def complete(self, messages: _Messages, **options: Any) -> LLMResponse:
        """Convert the messages, ``chat`` with the LLM and read its reply."""
        prompt = self._prompt(messages)
        return self._read(_settle(self.llm.chat(prompt, **{**self.defaults, **options}), repr(self)))

    async def acomplete(self, messages: _Messages, **options: Any) -> LLMResponse:
        """Convert the messages, ``achat`` with the LLM and read its reply."""
        prompt = self._prompt(messages)
        method = getattr(self.llm, "achat", None)
        result = await _acall(
            method if callable(method) else None, self.llm.chat, prompt, **{**self.defaults, **options}
        )
        return self._read(result)


def _llamaindex_block(part: Any, i: int, text_block: Any, image_block: Any) -> Any:
    if isinstance(part, str):
        return text_block(text=part)
    kind = _get(part, "type")
    if kind == "text":
        return text_block(text=_get(part, "text") or "")
    if kind == "image_url":
        image = _get(part, "image_url")
        url = image if isinstance(image, str) else _get(image, "url")
        detail = None if isinstance(image, str) else _get(image, "detail")
        try:
            return image_block(url=url, detail=detail)
        except ValueError as exc:
            raise InvalidInputError(f"messages[{i}] has an image_url part LlamaIndex cannot take: {exc}") from exc
    raise InvalidInputError(
        f"messages[{i}] has a {kind!r} content part; LlamaIndexLLM converts text and image_url parts only"
    )


def as_llm(obj: Any, *, model: str | None = None) -> LLM:
    """Turn what the caller has into an :class:`LLM`.

    Args:
        obj: An :class:`LLM` (returned as is); a LangChain chat model, bound model or other Runnable
            (wrapped in :class:`LangChainChatLLM`); a LlamaIndex LLM (wrapped in
            :class:`LlamaIndexLLM`; its own ``complete(prompt)`` is not mistaken for tract's
            protocol); an OpenAI-compatible client such as ``openai.OpenAI(...)`` or
            ``openai.AsyncOpenAI(...)`` (wrapped in :class:`OpenAIChatLLM`); or a function, sync or
            async, from the message list to a ``str`` or a response (wrapped in :class:`CallableLLM`).
            Objects are told apart by their class's framework, then by duck typing:
            ``invoke``/``ainvoke`` means a Runnable, ``chat``/``achat`` a LlamaIndex LLM.
        model: The model name; required for a client, ignored otherwise (an LLM object, a framework
            model or a function already knows its model).

    Returns:
        An object with ``complete(messages, **options)`` and ``acomplete(messages, **options)``.
        For options on every call, configure the framework model (``model.bind(temperature=0)``)
        or build the adapter with defaults yourself (``LangChainChatLLM(model, stop=["###"])``).

    Raises:
        InvalidInputError: ``obj`` is none of the above, a client comes without ``model=``, or it is
            a LangChain/LlamaIndex object that is not a model (no ``invoke()``/``chat()``, or a
            LlamaIndex chat engine or index).

    Example:
        >>> llm = as_llm(lambda messages: messages[-1]["content"].upper())
        >>> reply = llm.complete([{"role": "user", "content": "echo"}], temperature=0)
        >>> reply.text, reply.usage
        ('ECHO', None)
        >>> as_llm(llm) is llm
        True
    """
    if isinstance(obj, type):
        raise InvalidInputError(f"as_llm needs an instance, not the class {obj.__name__}; call it first")
    if _is_tract_llm(obj):
        return obj
    found = _framework(obj)
    if found == "langchain":
        return LangChainChatLLM(obj)
    if found == "llamaindex":
        return LlamaIndexLLM(obj)
    if _create(obj) is not None:
        if model is None:
            raise InvalidInputError(
                f"as_llm({type(obj).__name__}) needs model=...: an OpenAI-compatible client does not pick a model"
            )
        return OpenAIChatLLM(obj, model)
    if callable(obj):
        return CallableLLM(obj)
    raise InvalidInputError(f"as_llm cannot use a {type(obj).__name__}; pass {_ACCEPTED}")
