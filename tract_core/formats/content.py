"""Helpers every format shares: copying an OpenAI-shaped message, the text of its content, and the
data of a file part."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..entries import copy_message

__all__ = ["copy_message", "text_of", "plain_text", "data_url", "file_data"]

_FILE_TYPES = {"pdf": "application/pdf", "txt": "text/plain"}
"""Media types of raw base64 ``file_data`` by file name extension (a fixed table: bytes must not
depend on the machine's mimetypes database)."""


def text_of(content: Any) -> str:
    """The text of a message's content: a string as is, the text parts of a list joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(str(p.get("text", "")) for p in content if p.get("type") == "text")


def plain_text(content: Any) -> str | None:
    """The text of content made of text only: a string, or ``text`` and ``refusal`` parts (their text
    joined by newlines); None when it holds any other part (an image, audio, a file...)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "refusal":
            texts.append(str(part.get("refusal", "")))
        else:
            return None
    return "\n".join(texts)


def data_url(url: Any) -> tuple[str, str] | None:
    """``(media type, base64 data)`` of a ``data:<type>;base64,<data>`` URL, else None."""
    if isinstance(url, str) and url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return media, data
    return None


def file_data(part: Mapping[str, Any]) -> tuple[str, str, str | None] | None:
    """``(media type, base64 data, file name)`` of an OpenAI ``file`` part that carries its data: a data
    URL, or raw base64 whose file name ends in ``.pdf`` or ``.txt``. None for one that names an
    uploaded file (``file_id``) or whose type cannot be told."""
    file = part.get("file")
    if not isinstance(file, Mapping):
        return None
    data, name = file.get("file_data"), file.get("filename")
    name = name if isinstance(name, str) else None
    found = data_url(data)
    if found is not None:
        return found[0], found[1], name
    extension = name.rsplit(".", 1)[-1].lower() if name is not None and "." in name else ""
    if isinstance(data, str) and data and extension in _FILE_TYPES:
        return _FILE_TYPES[extension], data, name
    return None
