"""The LLM protocol: messages in, text and usage out, sync and async.

Everything in tract that calls a model (LLM summaries in ``compress``, LLM merge resolvers,
policies) takes an :class:`LLM`. :func:`as_llm` turns what users already have into one: an
OpenAI-compatible client (OpenAI, vLLM, Ollama, LiteLLM proxies, ...) with a ``model=``, or a plain
function. Messages are OpenAI chat-shaped dicts, exactly what ``CompiledContext.to_openai()`` returns.

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
    "as_llm",
]

_Messages = Sequence[Mapping[str, Any]]

_ACCEPTED = (
    "an object with complete()/acomplete() (the tract LLM protocol), an OpenAI-compatible client "
    "such as openai.OpenAI(base_url=..., api_key=...) together with model=..., or a function "
    "(sync or async) from the message list to a str"
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


def _framework_module(module: str | None) -> str | None:
    root = (module or "").split(".")[0]
    if root.startswith(("langchain", "langgraph")):
        return "langchain"
    if root.startswith("llama_index"):
        return "llamaindex"
    return None


def _framework(obj: Any) -> str | None:
    """``"langchain"``/``"llamaindex"`` when ``obj`` is one of their models (which needs their adapter)."""
    for klass in type(obj).__mro__:
        found = _framework_module(getattr(klass, "__module__", None))
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
    complete = getattr(type(obj), "complete", None)
    return _framework_module(getattr(complete, "__module__", None)) is None


_ADAPTER_LATER = {
    "langchain": (
        "{name} looks like a LangChain chat model/Runnable; its LLM adapter arrives with tract_langchain. "
        "Until then wrap it: as_llm(lambda messages: model.invoke(messages))"
    ),
    "llamaindex": (
        "{name} looks like a LlamaIndex LLM; its LLM adapter arrives with tract_llamaindex. Until then wrap it: "
        "as_llm(lambda messages: llm.chat([ChatMessage(**m) for m in messages]).message.content)"
    ),
}


def as_llm(obj: Any, *, model: str | None = None) -> LLM:
    """Turn what the caller has into an :class:`LLM`.

    Args:
        obj: An :class:`LLM` (returned as is); an OpenAI-compatible client such as
            ``openai.OpenAI(...)`` or ``openai.AsyncOpenAI(...)`` (wrapped in
            :class:`OpenAIChatLLM`); or a function, sync or async, from the message list to a
            ``str`` or a response (wrapped in :class:`CallableLLM`).
        model: The model name; required for a client, ignored otherwise (an LLM object or a
            function already knows its model).

    Returns:
        An object with ``complete(messages, **options)`` and ``acomplete(messages, **options)``.

    Raises:
        InvalidInputError: ``obj`` is none of the above, a client comes without ``model=``, or it is
            a LangChain/LlamaIndex model (their adapters ship with ``tract_langchain`` /
            ``tract_llamaindex``).

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
    if found is not None:
        raise InvalidInputError(_ADAPTER_LATER[found].format(name=type(obj).__name__))
    if _create(obj) is not None:
        if model is None:
            raise InvalidInputError(
                f"as_llm({type(obj).__name__}) needs model=...: an OpenAI-compatible client does not pick a model"
            )
        return OpenAIChatLLM(obj, model)
    if callable(obj):
        return CallableLLM(obj)
    raise InvalidInputError(f"as_llm cannot use a {type(obj).__name__}; pass {_ACCEPTED}")
