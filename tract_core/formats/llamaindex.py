"""The LlamaIndex format: ``ChatMessage`` objects. ``llama-index-core`` is imported only when called."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .content import copy_message, text_of

__all__ = ["to_llamaindex", "llamaindex_message"]


def to_llamaindex(messages: Iterable[Mapping[str, Any]]) -> list[Any]:
    """The messages as LlamaIndex ``ChatMessage`` objects (needs ``llama-index-core``).

    Raises:
        ImportError: ``llama-index-core`` is not installed (it names the package to install).
    """
    try:
        import llama_index.core.llms  # noqa: F401  (fail clearly before converting anything)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("to_llamaindex() needs llama-index-core: pip install llama-index-core") from exc
    return [llamaindex_message(message) for message in messages]


def llamaindex_message(message: Mapping[str, Any]) -> Any:
    """A new LlamaIndex ``ChatMessage`` for one OpenAI-shaped message (needs ``llama-index-core``).

    ``tool_calls``, ``tool_call_id`` and ``name`` go to ``additional_kwargs`` (where LlamaIndex's
    OpenAI-compatible LLMs read them); content parts become their text.
    """
    from llama_index.core.llms import ChatMessage

    message = copy_message(message)
    extra = dict(message.pop("additional_kwargs", None) or {})
    for key in ("tool_calls", "tool_call_id", "name"):
        if key in message:
            extra[key] = message.pop(key)
    content = message.get("content")
    if not isinstance(content, str):
        content = text_of(content)
    # a tool-call-only message has no text block at all (as LlamaIndex's own LLMs produce it)
    text = content if content or not extra.get("tool_calls") else None
    return ChatMessage(role=message["role"], content=text, additional_kwargs=extra)
