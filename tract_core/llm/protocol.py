"""The LLM protocol and what every adapter shares: the reply type, the errors, reading replies, sync/async bridging.

:class:`LLM` is what tract calls; :class:`LLMResponse` is what it gets back. The helpers below are
the adapters' common ground (see the adapter modules next to this one): reading text and usage
from whatever a provider returns, checking message lists, and running sync and async models from
either side.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import InvalidInputError, TractError
from ..usage import Usage, normalize_usage

__all__ = [
    "LLM",
    "LLMResponse",
    "LLMError",
    "AsyncOnlyError",
    "Messages",
    "field_of",
    "has_field",
    "content_text",
    "read_usage",
    "to_response",
    "message_list",
    "is_async_callable",
    "run_blocking",
    "settle",
    "acall",
]

Messages = Sequence[Mapping[str, Any]]
"""OpenAI chat-shaped messages, as ``CompiledContext.to_openai()`` returns them."""


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

    def complete(self, messages: Messages, **options: Any) -> LLMResponse:
        """Reply to ``messages``, blocking."""
        ...

    async def acomplete(self, messages: Messages, **options: Any) -> LLMResponse:
        """Reply to ``messages`` without blocking the event loop."""
        ...


# --------------------------------------------------------------------------- reading replies


def field_of(obj: Any, key: str) -> Any:
    """``obj[key]`` for a mapping, else ``obj.key``; ``None`` when missing."""
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def has_field(obj: Any, key: str) -> bool:
    """Whether ``obj`` has ``key`` (as a mapping key, or else as an attribute)."""
    return key in obj if isinstance(obj, Mapping) else hasattr(obj, key)


def content_text(content: Any, sep: str = "") -> str:
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
            elif field_of(block, "type") in (None, "text", "output_text") and isinstance(field_of(block, "text"), str):
                parts.append(field_of(block, "text"))
        return sep.join(parts)
    raise LLMError(f"cannot read text from message content of type {type(content).__name__}")


def read_usage(result: Any) -> Usage | None:
    """The token usage on a reply (``usage`` or ``usage_metadata``), or ``None`` when it reports none."""
    found = field_of(result, "usage")
    if found is None:
        found = field_of(result, "usage_metadata")
    if found is None or (isinstance(found, Mapping) and not found):
        return None
    if isinstance(found, Usage):
        return found
    try:
        return normalize_usage(found)
    except InvalidInputError as exc:
        raise LLMError(f"the reply's token usage could not be read: {exc}") from exc


def to_response(result: Any) -> LLMResponse:
    """Read a str, an :class:`LLMResponse`, an OpenAI-style response or a message into a response."""
    if isinstance(result, LLMResponse):
        return result
    if isinstance(result, str):
        return LLMResponse(result)
    choices = field_of(result, "choices")
    if choices is not None:
        if not choices:
            raise LLMError("the provider returned no choices; check the request (model name, max_tokens, filters)")
        first = choices[0]
        message = field_of(first, "message")
        text = (
            content_text(field_of(message, "content")) if message is not None else content_text(field_of(first, "text"))
        )
        return LLMResponse(text, read_usage(result), raw=result)
    if result is not None and not isinstance(result, (bytes, bytearray)) and has_field(result, "content"):
        return LLMResponse(content_text(field_of(result, "content")), read_usage(result), raw=result)
    raise LLMError(
        f"cannot read a reply from a {type(result).__name__}: return a str, an LLMResponse, an OpenAI-style "
        "response (with choices[0].message.content) or a message with 'content'"
    )


def message_list(messages: Messages) -> list[dict[str, Any]]:
    """``messages`` as a list of dicts, after checking it is a list of chat messages."""
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


def is_async_callable(fn: Any) -> bool:
    """Whether calling ``fn`` returns a coroutine: an ``async def`` function or ``async def __call__``."""
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn)):
        return True
    if not callable(fn) or inspect.isroutine(fn) or isinstance(fn, type):
        return False
    return inspect.iscoroutinefunction(type(fn).__call__)  # an object with ``async def __call__``


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def run_blocking(make: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Run an awaitable to completion from sync code: in a fresh event loop, never inside a running one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(make()))
    raise AsyncOnlyError(
        f"{what} is async-only and complete() was called inside a running event loop; "
        "use `await llm.acomplete(messages)` there instead"
    )


def settle(result: Any, what: str) -> Any:
    """A sync call that handed back an awaitable after all: run it (or refuse inside a running loop)."""
    if not inspect.isawaitable(result):
        return result
    try:
        return run_blocking(lambda: result, what)
    except AsyncOnlyError:
        if inspect.iscoroutine(result):
            result.close()  # never awaited: say so once, through our error, not a RuntimeWarning
        raise


async def acall(method: Callable[..., Any] | None, sync: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Await ``method`` when the model has it, else run ``sync`` in a worker thread."""
    if method is not None:
        result = method(*args, **kwargs)
    else:
        result = await asyncio.to_thread(functools.partial(sync, *args, **kwargs))
    if inspect.isawaitable(result):
        result = await result
    return result
