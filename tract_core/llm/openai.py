"""An :class:`~tract_core.llm.LLM` over any OpenAI-compatible Chat Completions client: :class:`OpenAIChatLLM`."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import Any

from ..errors import InvalidInputError, shown
from .protocol import AsyncOnlyError, LLMResponse, Messages, is_async_callable, message_list, settle, to_response

__all__ = ["OpenAIChatLLM", "chat_create"]


def chat_create(client: Any) -> Callable[..., Any] | None:
    """The client's ``chat.completions.create``, or ``None`` when it is not an OpenAI-compatible client."""
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
        if client is not None and async_client is None and is_async_callable(chat_create(client)):
            client, async_client = None, client
        for name, value in (("client", client), ("async_client", async_client)):
            if value is not None and chat_create(value) is None:
                raise InvalidInputError(
                    f"{name} must be an OpenAI-compatible client with chat.completions.create(), "
                    f"not a {type(value).__name__}"
                )
        if client is None and async_client is None:
            raise InvalidInputError(
                "OpenAIChatLLM needs a client (openai.OpenAI) or an async_client (openai.AsyncOpenAI)"
            )
        if not isinstance(model, str) or not model:
            raise InvalidInputError(f"OpenAIChatLLM needs the model name as a non-empty string, not {shown(model)}")
        self.client = client
        self.async_client = async_client
        self.model = model
        self.defaults = defaults

    def __repr__(self) -> str:
        return f"OpenAIChatLLM(model={self.model!r})"

    def _request(self, messages: Messages, options: dict[str, Any]) -> dict[str, Any]:
        request = {"model": self.model, **self.defaults, **options}
        if request.get("stream"):
            raise InvalidInputError("streaming is not supported here: complete()/acomplete() return the whole reply")
        request["messages"] = message_list(messages)
        return request

    def complete(self, messages: Messages, **options: Any) -> LLMResponse:
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
        return to_response(settle(self.client.chat.completions.create(**request), repr(self)))

    async def acomplete(self, messages: Messages, **options: Any) -> LLMResponse:
        """One Chat Completions call with the async client (or the sync one in a worker thread)."""
        request = self._request(messages, options)
        if self.async_client is not None:
            result = await self.async_client.chat.completions.create(**request)
        else:
            result = await asyncio.to_thread(functools.partial(self.client.chat.completions.create, **request))
            if inspect.isawaitable(result):
                result = await result
        return to_response(result)
