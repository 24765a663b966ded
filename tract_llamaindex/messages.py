"""LlamaIndex ``ChatMessage`` <-> tract commits, losslessly.

A message is committed as tract's OpenAI-shaped body (so compile, token counts, compression and
the other adapters read it like any message). When that body alone would not give back the very
same ``ChatMessage`` (tool-call blocks, images, extra ``additional_kwargs``, a ``chatbot`` role...),
the message's own JSON dump is kept in the commit metadata under ``"llamaindex"``, minus a text
block the body already holds. Decoding prefers that dump; an EDIT made through tract replaces the
text blocks with the edited text and keeps the other blocks. Messages tract wrote itself
(summaries, messages committed through the core API) decode from their body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, TextBlock

from tract_core import InvalidInputError
from tract_core.formats import llamaindex_message, text_of
from tract_core.messages import normalize_message
from tract_core.objects import canonical_json

__all__ = ["METADATA_KEY", "decode", "encode", "role_of"]

METADATA_KEY = "llamaindex"


def _dump(message: ChatMessage) -> dict[str, Any]:
    try:
        return message.model_dump(mode="json")
    except ValueError as exc:  # pydantic cannot serialise an object in it
        raise InvalidInputError(f"this ChatMessage holds data JSON cannot represent: {exc}") from None


def encode(message: ChatMessage) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The body to commit and the metadata that makes decoding exact (None when not needed).

    Raises:
        InvalidInputError: Not a ``ChatMessage``, or one that would not come back equal: it holds
            data JSON cannot represent as it is (NaN, sets, tuples, objects), or a file block
            whose file is gone.
    """
    if not isinstance(message, ChatMessage):
        raise InvalidInputError(f"expected a llama_index ChatMessage, not a {type(message).__name__}")
    normalized = normalize_message(message)
    body = {"role": normalized.role, **normalized.body}
    dump = _dump(message)
    metadata: dict[str, Any] | None = None
    if _dump(llamaindex_message(body)) != dump:
        blocks = dump.get("blocks") or []
        text = text_of(body.get("content"))
        if len(blocks) == 1 and blocks[0].get("block_type") == "text" and blocks[0].get("text") == text and text:
            dump = {k: v for k, v in dump.items() if k != "blocks"}
        metadata = {METADATA_KEY: dump}
    try:  # read back as it will be stored: what would not come back equal is refused now
        stored = None if metadata is None else json.loads(canonical_json(metadata))
        back = decode(json.loads(canonical_json(body)), stored)
    except ValueError as exc:  # pydantic's ValidationError too
        raise InvalidInputError(f"this ChatMessage cannot be stored: {exc}") from None
    if back != message:
        raise InvalidInputError(
            "this ChatMessage would not come back equal: tract stores JSON, which has no NaN, infinity, "
            "tuples, sets or other objects; use lists, strings and dicts"
        )
    return body, metadata


def decode(body: Mapping[str, Any], metadata: Mapping[str, Any] | None) -> ChatMessage:
    """A new ``ChatMessage`` for a compiled (or logged) message body and its commit's metadata."""
    dump = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    if not isinstance(dump, Mapping):
        return llamaindex_message(body)
    data = dict(dump)
    text = text_of(body.get("content"))
    if "blocks" not in data:
        data["blocks"] = [{"block_type": "text", "text": text}] if text else []
        return ChatMessage.model_validate(data)
    message = ChatMessage.model_validate(data)
    if (message.content or "") != text:  # EDITed through tract: the edited text replaces the text blocks
        blocks = list(message.blocks)
        first = next((i for i, b in enumerate(blocks) if isinstance(b, TextBlock)), 0)
        rest = [b for b in blocks if not isinstance(b, TextBlock)]
        message.blocks = [*rest[:first], *([TextBlock(text=text)] if text else []), *rest[first:]]
    return message


def role_of(role: str, metadata: Mapping[str, Any] | None) -> str:
    """The LlamaIndex role of a stored message whose tract role is ``role`` (a tool result that
    names no call is sent to the model as a ``user`` message, but it is still a ``tool`` message)."""
    dump = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    found = dump.get("role") if isinstance(dump, Mapping) else None
    return found if isinstance(found, str) else role
