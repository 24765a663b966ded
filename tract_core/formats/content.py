"""Helpers every format shares: copying an OpenAI-shaped message, and the text of its content."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["copy_message", "text_of"]

_ATOMS = (str, int, float, bool, type(None))


def copy_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a message dict (a plain dict copy in the common all-string case)."""
    out = dict(message)
    for key, value in out.items():
        if not isinstance(value, _ATOMS):
            out[key] = copy.deepcopy(value)
    return out


def text_of(content: Any) -> str:
    """The text of a message's content: a string as is, the text parts of a list joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
