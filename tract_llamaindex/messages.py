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
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, cast

from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock
from pydantic import BaseModel

from tract_core import InvalidInputError
from tract_core.formats import llamaindex_message, text_of
from tract_core.messages import normalize_message
from tract_core.objects import canonical_json

__all__ = ["METADATA_KEY", "copier", "decode", "decoded", "encode", "role_of"]

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


# A copy of a plain text message is built from its parts, without pydantic's validation (which is
# what makes a ChatMessage cost microseconds): the instance state pydantic v2 models hold, set as
# its own model_copy() sets it, through the slots' descriptors. Should a pydantic release lay
# models out otherwise, every copy is a model_copy(deep=True) instead.
_STATE = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
_FAST = tuple(getattr(BaseModel, "__slots__", ())) == _STATE
_MESSAGE_FIELDS = ["role", "additional_kwargs", "blocks"]
_TEXT_FIELDS = ["block_type", "text"]
_new = object.__new__


def _slot_setter(name: str) -> Callable[[Any, Any], None]:
    """The setter of one of a pydantic model's instance slots (used only when ``_FAST``)."""
    descriptor = vars(BaseModel).get(name)
    if descriptor is None:
        return lambda instance, value: object.__setattr__(instance, name, value)
    setter: Callable[[Any, Any], None] = descriptor.__set__
    return setter


_set_dict, _set_fields, _set_extra, _set_private = (_slot_setter(name) for name in _STATE)


def _plain(message: ChatMessage) -> bool:
    """Whether ``message`` is a ChatMessage of text blocks only, with no ``additional_kwargs`` and
    nothing beyond its declared fields (what :func:`_copy_plain` rebuilds exactly)."""
    if not _FAST or type(message) is not ChatMessage or list(message.__dict__) != _MESSAGE_FIELDS:
        return False
    if message.additional_kwargs or message.__pydantic_extra__ or message.__pydantic_private__ is not None:
        return False
    return all(
        type(block) is TextBlock
        and list(block.__dict__) == _TEXT_FIELDS
        and block.block_type == "text"
        and not block.__pydantic_extra__
        and block.__pydantic_private__ is None
        for block in message.blocks
    )


def _text_block(text: str, fields: frozenset[str]) -> TextBlock:
    block = _new(TextBlock)
    _set_dict(block, {"block_type": "text", "text": text})
    _set_fields(block, set(fields))
    _set_extra(block, None)
    _set_private(block, None)
    return block


def _copy_plain(role: Any, fields: frozenset[str], texts: tuple[tuple[str, frozenset[str]], ...]) -> ChatMessage:
    # runs for every message of every get(): the text block of a one-block message is built inline
    if len(texts) == 1:
        text, block_fields = texts[0]
        block = _new(TextBlock)
        _set_dict(block, {"block_type": "text", "text": text})
        _set_fields(block, set(block_fields))
        _set_extra(block, None)
        _set_private(block, None)
        blocks = [block]
    else:
        blocks = [_text_block(text, block_fields) for text, block_fields in texts]
    message = _new(ChatMessage)
    _set_dict(message, {"role": role, "additional_kwargs": {}, "blocks": blocks})
    _set_fields(message, set(fields))
    _set_extra(message, None)
    _set_private(message, None)
    return message


def copier(message: ChatMessage) -> Callable[[], ChatMessage]:
    """A function that returns a new copy of ``message`` at each call: equal to it, sharing nothing
    mutable with it or with the other copies, so a caller may change a copy freely.

    ``message`` is kept as the template (never hand it out, never change it). A plain text message
    (text blocks, no ``additional_kwargs``: most of a conversation) is rebuilt from its parts,
    several times faster than ``model_copy(deep=True)``; any other is deep-copied.
    """
    if not _plain(message):
        return partial(message.model_copy, deep=True)
    blocks = cast(list[TextBlock], message.blocks)
    texts = tuple((block.text, frozenset(block.__pydantic_fields_set__)) for block in blocks)
    return partial(_copy_plain, message.role, frozenset(message.__pydantic_fields_set__), texts)


_ROLES = {role.value: role for role in MessageRole}
# what decode() gives a plain text body: ChatMessage(role=..., content=text, additional_kwargs={})
_DECODED_FIELDS = frozenset({"role", "additional_kwargs", "blocks"})
_TEXT_FIELDS_SET = frozenset({"text"})


def decoded(body: Mapping[str, Any], metadata: Mapping[str, Any] | None) -> Callable[[], ChatMessage]:
    """``copier(decode(body, metadata))``: new copies of the message a compiled body decodes to.

    A body that is only a role and a non-empty text, committed without a LlamaIndex dump (most
    of a conversation) is not decoded at all: its copies are built straight from the text,
    exactly as :func:`decode` would build the message (the same fields, the same fields set).
    """
    role, content = _ROLES.get(str(body.get("role"))), body.get("content")
    dump = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    if _FAST and role is not None and isinstance(content, str) and content and len(body) == 2 and dump is None:
        return partial(_copy_plain, role, _DECODED_FIELDS, ((content, _TEXT_FIELDS_SET),))
    return copier(decode(body, metadata))
