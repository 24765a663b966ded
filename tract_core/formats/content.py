"""Helpers every format shares: copying an OpenAI-shaped message, and the text of its content."""

from __future__ import annotations

from typing import Any

from ..entries import copy_message

__all__ = ["copy_message", "text_of"]


def text_of(content: Any) -> str:
    """The text of a message's content: a string as is, the text parts of a list joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
