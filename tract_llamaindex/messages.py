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

from collections.abc import Mapping
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, TextBlock

from tract_core import InvalidInputError
from tract_core.formats import llamaindex_message, text_of
from tract_core.messages import normalize_message

__all__ = ["METADATA_KEY", "decode", "encode"]

METADATA_KEY = "llamaindex"


def _dump(message: ChatMessage) -> dict[str, Any]:
    return message.model_dump(mode="json")


def encode(message: ChatMessage) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The body to commit and the metadata that makes decoding exact (None when not needed).

    Raises:
        InvalidInputError: tract cannot store the message (e.g. a ``tool`` message without a
            ``tool_call_id`` in ``additional_kwargs``).
    """
    if not isinstance(message, ChatMessage):
        raise InvalidInputError(f"expected a llama_index ChatMessage, not a {type(message).__name__}")
    normalized = normalize_message(message)
    body = {"role": normalized.role, **normalized.body}
    dump = _dump(message)
    if _dump(llamaindex_message(body)) == dump:
        return body, None
    blocks = dump.get("blocks") or []
    text = text_of(body.get("content"))
    if len(blocks) == 1 and blocks[0].get("block_type") == "text" and blocks[0].get("text") == text and text:
        dump = {k: v for k, v in dump.items() if k != "blocks"}
    return body, {METADATA_KEY: dump}


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
        message.blocks = rest[:first] + ([TextBlock(text=text)] if text else []) + rest[first:]
    return message
