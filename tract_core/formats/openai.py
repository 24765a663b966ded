"""The OpenAI Chat Completions format: tract's own message shape. ``CompiledContext.to_openai()``
returns the context's read-only messages as they are (see :mod:`.frozen`); :func:`to_openai` copies
any other messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .content import copy_message

__all__ = ["to_openai"]


def to_openai(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages for the OpenAI Chat Completions API (``messages=``), as fresh copies.

    Example:
        >>> to_openai([{"role": "user", "content": "Hi"}])
        [{'role': 'user', 'content': 'Hi'}]
    """
    return [copy_message(message) for message in messages]
