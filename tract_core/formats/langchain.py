"""The LangChain format: ``BaseMessage`` objects. ``langchain-core`` is imported only when called."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .content import copy_message

__all__ = ["to_langchain"]


def to_langchain(messages: Iterable[Mapping[str, Any]]) -> list[Any]:
    """The messages as LangChain ``BaseMessage`` objects (needs ``langchain-core``).

    Raises:
        ImportError: ``langchain-core`` is not installed (it names the package to install).
    """
    try:
        from langchain_core.messages.utils import convert_to_messages
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("to_langchain() needs langchain-core: pip install langchain-core") from exc
    return convert_to_messages([copy_message(message) for message in messages])
