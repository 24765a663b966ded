"""An :class:`~tract_core.llm.LLM` from a plain function, sync or ``async def``: :class:`CallableLLM`."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

from ..errors import InvalidInputError
from .protocol import LLMResponse, Messages, is_async_callable, message_list, run_blocking, settle, to_response

__all__ = ["CallableLLM"]


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
        self.is_async = is_async_callable(fn)
        self._takes_any, self._takes = _option_names(fn)

    def __repr__(self) -> str:
        return f"CallableLLM({getattr(self.fn, '__qualname__', self.fn)!r})"

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        if self._takes_any:
            return options
        return {k: v for k, v in options.items() if k in self._takes}

    def complete(self, messages: Messages, **options: Any) -> LLMResponse:
        """Call the function and read its reply."""
        prompt, kwargs = message_list(messages), self._options(options)
        if self.is_async:
            return to_response(run_blocking(lambda: self.fn(prompt, **kwargs), repr(self)))
        return to_response(settle(self.fn(prompt, **kwargs), repr(self)))

    async def acomplete(self, messages: Messages, **options: Any) -> LLMResponse:
        """Await the function (or run a sync one in a worker thread) and read its reply."""
        prompt, kwargs = message_list(messages), self._options(options)
        if self.is_async:
            result = await self.fn(prompt, **kwargs)
        else:
            result = await asyncio.to_thread(functools.partial(self.fn, prompt, **kwargs))
            if inspect.isawaitable(result):
                result = await result
        return to_response(result)
