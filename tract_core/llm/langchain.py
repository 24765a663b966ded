"""An :class:`~tract_core.llm.LLM` over a LangChain chat model or Runnable: :class:`LangChainChatLLM`.

langchain-core is imported only when a call converts messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidInputError
from ..formats.frozen import thaw
from .frameworks import needs_instance
from .protocol import LLMError, LLMResponse, Messages, acall, content_text, message_list, read_usage, settle

__all__ = ["LangChainChatLLM"]


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
        needs_instance(model, "LangChainChatLLM")
        if not callable(getattr(model, "invoke", None)):
            raise InvalidInputError(
                "LangChainChatLLM needs a LangChain chat model or Runnable (with invoke()), "
                f"not a {type(model).__name__}"
            )
        self.model = model
        self.defaults = defaults

    def __repr__(self) -> str:
        return f"LangChainChatLLM({type(self.model).__name__})"

    def _prompt(self, messages: Messages) -> list[Any]:
        prompt = message_list(messages)
        try:
            from langchain_core.messages.utils import convert_to_messages
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("LangChainChatLLM needs langchain-core: pip install langchain-core") from exc
        try:
            return convert_to_messages(thaw(prompt))  # plain data: read-only compiled messages stay ours
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
            text = content_text(result.content)
        return LLMResponse(str(text), read_usage(result), raw=result)

    def complete(self, messages: Messages, **options: Any) -> LLMResponse:
        """Convert the messages, ``invoke`` the model and read its reply."""
        prompt = self._prompt(messages)
        result = self.model.invoke(prompt, **{**self.defaults, **options})
        return self._read(settle(result, repr(self)))

    async def acomplete(self, messages: Messages, **options: Any) -> LLMResponse:
        """Convert the messages, ``ainvoke`` the model and read its reply."""
        prompt = self._prompt(messages)
        method = getattr(self.model, "ainvoke", None)
        result = await acall(
            method if callable(method) else None, self.model.invoke, prompt, **{**self.defaults, **options}
        )
        return self._read(result)
