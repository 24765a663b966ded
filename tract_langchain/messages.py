"""LangChain messages <-> tract commits, losslessly.

A message is committed as tract's OpenAI-shaped body (what a provider is sent: compile, token
counts, summaries and the other adapters read it like any message), and the message's own fields
(its class, ``id``, ``name``, ``additional_kwargs``, ``response_metadata``, ``usage_metadata``,
tool calls, a tool message's ``artifact`` and ``status``, a custom role, ...) are kept in the
commit's metadata under ``"langchain"``, minus those left at their defaults and minus the content
when the body holds it as it is. Decoding sets those fields again, giving back an equal message. An
EDIT made through tract replaces the content (and an assistant message's tool calls) and keeps
the other fields. Messages tract wrote itself (summaries, messages committed through the core API)
have no record: they decode from their body.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import langchain_core.messages as lc_messages
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import convert_to_messages

from tract_core import InvalidInputError
from tract_core.messages import normalize_message
from tract_core.objects import canonical_json

__all__ = ["METADATA_KEY", "Encoded", "decode", "encode", "from_body"]

METADATA_KEY = "langchain"
"""The commit metadata key holding a message's own fields."""


def _classes() -> dict[str, type[BaseMessage]]:
    found: dict[str, type[BaseMessage]] = {}
    for name in lc_messages.__all__:
        cls = getattr(lc_messages, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseMessage) and "type" in cls.model_fields:
            default = cls.model_fields["type"].default
            if isinstance(default, str):
                found.setdefault(default, cls)
    return found


_CLASSES = _classes()


def _default_makers(cls: type[BaseMessage]) -> dict[str, Callable[[], Any]]:
    """For each field, a function giving a fresh default (pydantic's own lookup is slow per call)."""
    makers: dict[str, Callable[[], Any]] = {}
    for name, field in cls.model_fields.items():
        if field.default_factory is not None:
            makers[name] = field.default_factory  # type: ignore[assignment]
        elif not field.is_required():
            makers[name] = _copier(field.default)
    return makers


def _copier(value: Any) -> Callable[[], Any]:
    return lambda: copy.deepcopy(value)


_DEFAULTS = {kind: _default_makers(cls) for kind, cls in _CLASSES.items()}


class Encoded(NamedTuple):
    """What to commit for one message."""

    body: dict[str, Any]
    """The OpenAI-shaped message, with its ``role``."""
    content_type: str
    metadata: dict[str, Any]


def encode(message: BaseMessage) -> Encoded:
    """The body (with its ``role``), content type and metadata that store ``message`` exactly.

    Raises:
        InvalidInputError: Not a LangChain message, or one that would not come back equal: it
            holds data JSON cannot represent as it is (NaN, bytes, sets, tuples, objects).
    """
    if not isinstance(message, BaseMessage):
        raise InvalidInputError(f"cannot commit a {type(message).__name__}; pass LangChain messages (BaseMessage)")
    normalized = normalize_message(message)
    body = {"role": normalized.role, **normalized.body}
    fields = message.model_dump(exclude_defaults=True)
    fields.pop("type", None)
    if fields.get("content") == body.get("content"):
        del fields["content"]
    metadata = {METADATA_KEY: {"type": message.type, "fields": fields}}
    stored = json.loads(canonical_json(metadata, what=f"the {type(message).__name__}"))  # as it will be read
    back = decode(json.loads(canonical_json(body, what="the message")), stored, edited=False)
    if back != message:
        changed = [name for name in type(message).model_fields if getattr(back, name, None) != getattr(message, name)]
        raise InvalidInputError(
            f"this {type(message).__name__} would not come back equal ({', '.join(changed) or 'its class'}): "
            "tract stores JSON, which has no tuples, sets, bytes or other objects; use lists, strings and dicts"
        )
    return Encoded(body, normalized.content_type, metadata)


def decode(message: Mapping[str, Any], metadata: Mapping[str, Any] | None, *, edited: bool) -> BaseMessage | None:
    """The LangChain message a commit stores, given its compiled form (``role`` and body) and metadata.

    Args:
        message: The compiled message (an EDIT's body when the message was edited).
        metadata: The metadata of the commit that added the message.
        edited: Whether an EDIT replaced the body the message was committed with.

    Returns:
        A new message, or None when the commit holds no LangChain record (tract wrote it).
    """
    record = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    if not isinstance(record, Mapping) or record.get("type") not in _CLASSES:
        return None
    fields = dict(record.get("fields") or {})
    if edited or "content" not in fields:
        fields["content"] = message.get("content") or ""
    cls = _CLASSES[record["type"]]
    if edited and issubclass(cls, AIMessage):
        fields["tool_calls"] = from_body(message).tool_calls  # type: ignore[attr-defined]
    # the fields of a valid message, as it was: set them as they are (validating again would
    # re-derive some, e.g. a chunk's tool calls from its tool call chunks)
    given = set(fields)
    for name, make in _DEFAULTS[record["type"]].items():
        if name not in fields:
            fields[name] = make()
    return cls.model_construct(given, **fields)


def from_body(message: Mapping[str, Any]) -> BaseMessage:
    """A new LangChain message for an OpenAI-shaped message (for commits without a record)."""
    return convert_to_messages([dict(message)])[0]
