"""Turning what callers pass to ``commit()`` into a role, a content type and a message body.

Accepted: OpenAI-style dicts, plain strings with ``role=``, LangChain ``BaseMessage`` objects and
LlamaIndex ``ChatMessage`` objects (when those packages are installed), and pydantic models that
dump to an OpenAI-style dict (such as the OpenAI SDK's ``ChatCompletionMessage``).

The body is what a provider is sent, so it stays valid for the chat APIs. A framework message
they cannot take as it is, but the framework accepts, is stored in the nearest shape they do
take: a function result (LangChain ``FunctionMessage``, LlamaIndex ``role="function"``), a tool
result that names no tool call, or a message with a role of its own (a LangChain ``ChatMessage``)
becomes a ``user`` message with its content (and its name, or its custom role, as ``name``);
content parts (and tool calls) a role cannot carry are left out; framework-only fields (LlamaIndex
``additional_kwargs``, LangChain metadata) are not part of it. The adapters keep the exact
framework message in the commit's metadata and give it back unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .errors import InvalidInputError, InvalidRoleError, shown
from .objects import MAX_JSON_DEPTH, ContentType

__all__ = [
    "ROLES",
    "NormalizedMessage",
    "normalize_message",
    "default_content_type",
    "message_text",
    "check_role",
    "check_content_type",
]

ROLES = ("system", "developer", "user", "assistant", "tool")
"""The message roles tract stores (the OpenAI chat roles)."""

_ROLE_ALIASES = {"human": "user", "ai": "assistant", "chatbot": "assistant", "model": "assistant"}
_CONTENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a participant name the chat APIs accept
_PARTS = {  # the content part types each role can carry in the chat APIs
    "user": frozenset({"text", "image_url", "input_audio", "file"}),
    "assistant": frozenset({"text", "refusal"}),
}
_TEXT_ONLY = frozenset({"text"})
_BODY_ORDER = ("content", "name", "tool_calls", "tool_call_id")


@dataclass(frozen=True, slots=True)
class NormalizedMessage:
    """A message ready to be stored: role, content type and the body that becomes the blob."""

    role: str
    content_type: str
    body: dict[str, Any]


def check_role(role: Any) -> str:
    """Return ``role`` as one of :data:`ROLES`, or raise :class:`InvalidRoleError`."""
    if isinstance(role, Enum) and isinstance(getattr(role, "value", None), str):
        role = role.value
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidRoleError(f"unknown message role {shown(role)}; use one of {', '.join(ROLES)}")
    return role


def check_content_type(content_type: Any) -> str:
    """Validate a caller-chosen content type (a lowercase identifier)."""
    if not isinstance(content_type, str) or not _CONTENT_TYPE_RE.match(content_type):
        raise InvalidInputError(
            f"content_type {shown(content_type)} is not valid; use a lowercase identifier such as "
            "'dialogue', 'instruction', 'tool_result' or 'retrieval'"
        )
    return content_type


def default_content_type(role: str, body: Mapping[str, Any]) -> str:
    """The content type tract assigns when the caller does not choose one."""
    if role in ("system", "developer"):
        return ContentType.INSTRUCTION
    if role == "tool":
        return ContentType.TOOL_RESULT
    if role == "assistant" and body.get("tool_calls"):
        return ContentType.TOOL_CALL
    return ContentType.DIALOGUE


def _check_content(content: Any, body: Mapping[str, Any]) -> None:
    if isinstance(content, str):
        return
    if content is None:
        if body.get("tool_calls"):
            return
        raise InvalidInputError("a message needs content (a string or a list of content parts)")
    if isinstance(content, list) and all(isinstance(p, Mapping) and "type" in p for p in content):
        return
    raise InvalidInputError(
        f"message content must be a string or a list of content parts (dicts with a 'type'), "
        f"not {type(content).__name__}"
    )


def _check_tool_fields(body: Mapping[str, Any]) -> None:
    """Refuse tool fields compile and the exporters could not read back."""
    calls = body.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise InvalidInputError("tool_calls must be a list of tool call dicts")
        for call in calls:
            if not isinstance(call, Mapping):
                raise InvalidInputError(f"tool_calls must hold dicts, not {type(call).__name__}")
            if not isinstance(call.get("id"), (str, type(None))):
                raise InvalidInputError(f"a tool call's id must be a string, not {shown(call.get('id'))}")
            if not isinstance(call.get("function", {}), Mapping):
                raise InvalidInputError("a tool call's function must be a dict with its name and arguments")
    for key in ("tool_call_id", "name"):
        if key in body and not isinstance(body[key], str):
            raise InvalidInputError(f"{key} must be a string, not {shown(body[key])}")


def _body_from_dict(message: Mapping[str, Any]) -> dict[str, Any]:
    body = {key: message[key] for key in _BODY_ORDER if key in message and message[key] is not None}
    for key in sorted(message):
        if key not in body and key != "role" and key not in _BODY_ORDER and message[key] is not None:
            body[key] = message[key]
    if "content" not in body:
        body["content"] = message.get("content")
    return body


def _plain(value: Any, depth: int = 0) -> Any:
    """Recursively turn pydantic models, mappings and tuples into plain JSON data.

    Keys are kept as they are: a non-string key is refused when the message is encoded, as in
    metadata, instead of being silently turned into a string.
    """
    if depth > MAX_JSON_DEPTH:
        raise InvalidInputError(f"the message is nested more than {MAX_JSON_DEPTH} levels deep; flatten it")
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump(exclude_none=True), depth + 1)
    if isinstance(value, Mapping):
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    return value


def _from_langchain(message: Any) -> dict[str, Any]:
    from langchain_core.messages.utils import convert_to_openai_messages

    try:
        return convert_to_openai_messages(message)
    except Exception:  # content parts LangChain's converter does not know: the model reads their text
        return convert_to_openai_messages(message.model_copy(update={"content": message.text}))


def _is_openai_tool_call(call: Any) -> bool:
    function = call.get("function") if isinstance(call, Mapping) else None
    return isinstance(function, Mapping) and isinstance(function.get("name"), str)


def _from_llamaindex(message: Any) -> dict[str, Any]:
    role = message.role.value if hasattr(message.role, "value") else str(message.role)
    result: dict[str, Any] = {"role": _ROLE_ALIASES.get(role, role), "content": message.content}
    extra = _plain(dict(message.additional_kwargs or {}))
    # what LlamaIndex's OpenAI-compatible LLMs send from additional_kwargs (the rest is not sent)
    calls = extra.get("tool_calls")
    if isinstance(calls, list) and calls and all(_is_openai_tool_call(c) for c in calls):
        result["tool_calls"] = calls
    for key in ("tool_call_id", "name"):
        if isinstance(extra.get(key), str):
            result[key] = extra[key]
    # LlamaIndex's own LLMs (and FunctionAgent) carry tool calls as ToolCallBlocks
    calls = [_llamaindex_tool_call(b) for b in getattr(message, "blocks", ()) or () if _is_tool_call_block(b)]
    if calls and not result.get("tool_calls"):
        result["tool_calls"] = calls
    if result["content"] is None and not result.get("tool_calls"):
        result["content"] = ""
    return result


def _provider_shape(data: dict[str, Any], role: str) -> dict[str, Any]:
    """A framework message in a shape the chat APIs take (see the module docstring)."""
    name = data.get("name")
    call_id = data.get("tool_call_id")
    if role not in ROLES or (role == "tool" and not (isinstance(call_id, str) and call_id)):
        if not (isinstance(name, str) and _NAME_RE.match(name)) and role not in ("tool", "function"):
            name = role  # a custom role names the speaker
        data = {"role": "user", "content": data.get("content")}
        role = "user"
    if isinstance(name, str) and _NAME_RE.match(name):
        data["name"] = name
    else:
        data.pop("name", None)
    if role != "assistant":  # only an assistant calls tools
        data.pop("tool_calls", None)
    content = data.get("content")
    if isinstance(content, list):
        allowed = _PARTS.get(role, _TEXT_ONLY)
        kept = [p for p in content if isinstance(p, Mapping) and p.get("type") in allowed]
        data["content"] = kept if kept else ""
    elif content is None and not data.get("tool_calls"):
        data["content"] = ""
    return data


def _is_tool_call_block(block: Any) -> bool:
    return getattr(block, "block_type", None) == "tool_call"


def _llamaindex_tool_call(block: Any) -> dict[str, Any]:
    """An OpenAI ``tool_calls`` entry for a LlamaIndex ``ToolCallBlock``."""
    arguments = block.tool_kwargs
    if not isinstance(arguments, str):
        arguments = json.dumps(_plain(arguments), sort_keys=True, ensure_ascii=False)
    return {"id": block.tool_call_id, "type": "function", "function": {"name": block.tool_name, "arguments": arguments}}


def _is_from(obj: Any, package: str) -> bool:
    return any(cls.__module__.split(".")[0] == package for cls in type(obj).__mro__)


def _as_dict(message: Any) -> tuple[dict[str, Any], bool]:
    """The message as an OpenAI-style dict, and whether it is a LangChain or LlamaIndex message."""
    if isinstance(message, Mapping):
        odd = [key for key in message if not isinstance(key, str)]
        if odd:
            raise InvalidInputError(
                f"the message has a non-string key {shown(odd[0])}; message fields are named by strings"
            )
        return dict(message), False
    if _is_from(message, "langchain_core"):
        return _from_langchain(message), True
    if _is_from(message, "llama_index"):
        return _from_llamaindex(message), True
    if hasattr(message, "model_dump"):
        dumped = message.model_dump(exclude_none=True)
        if isinstance(dumped, Mapping) and "role" in dumped:
            return _plain(dumped), False
    raise InvalidInputError(
        f"cannot commit a {type(message).__name__}; pass an OpenAI-style dict, a string with role=, "
        "or a LangChain / LlamaIndex message"
    )


def normalize_message(message: Any, *, role: str | None = None, content_type: str | None = None) -> NormalizedMessage:
    """Normalise anything ``commit()`` accepts into a :class:`NormalizedMessage`.

    Args:
        message: A string or a list of content parts (with ``role``), an OpenAI-style dict, or a
            LangChain / LlamaIndex message object.
        role: The role for a string message; for other inputs it must agree with the message's own.
        content_type: Overrides the default content type derived from the role.

    Raises:
        InvalidRoleError: The role is missing or unknown.
        InvalidInputError: The message has no usable content or holds non-JSON data.
    """
    if isinstance(message, (str, list)):
        if role is None:
            raise InvalidRoleError(
                "a string (or content-part list) message needs a role: commit(text, role='user'), or use "
                "t.user(text) / t.assistant(text) / t.system(text)"
            )
        data: dict[str, Any] = {"role": role, "content": message}
    else:
        data, framework = _as_dict(message)
        given = data.get("role")
        if given is None:
            if role is None:
                raise InvalidRoleError("the message has no 'role'; add one or pass role=")
            data["role"] = role
        elif role is not None:
            own = getattr(given, "value", given)
            if not isinstance(own, str):
                check_role(own)  # refuses it, naming it
            if _ROLE_ALIASES.get(own, own) != role:
                raise InvalidRoleError(f"role={shown(role)} contradicts the message's own role {shown(given)}")
        if framework:
            raw = getattr(data["role"], "value", data["role"])
            data = _provider_shape(data, _ROLE_ALIASES.get(raw, raw))
    raw_role = data["role"]
    raw_role = getattr(raw_role, "value", raw_role)
    checked_role = check_role(_ROLE_ALIASES.get(raw_role, raw_role) if isinstance(raw_role, str) else raw_role)
    body = _plain(_body_from_dict(data))
    _check_content(body.get("content"), body)
    _check_tool_fields(body)
    if checked_role == "tool" and not body.get("tool_call_id"):
        raise InvalidInputError(
            "a tool message needs the tool_call_id of the call it answers; use t.tool_result(tool_call_id, content)"
        )
    ctype = check_content_type(content_type) if content_type is not None else default_content_type(checked_role, body)
    return NormalizedMessage(role=checked_role, content_type=ctype, body=body)


def message_text(body: Mapping[str, Any]) -> str:
    """All the text a model reads from a message body (content, tool calls, name), for counting and diffs."""
    content = body.get("content")
    parts: list[str] = []
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        for part in content:
            if part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            else:
                parts.append(json.dumps(part, sort_keys=True, ensure_ascii=False))
    for call in body.get("tool_calls") or ():
        fn = call.get("function", call) if isinstance(call, Mapping) else {}
        parts.append(f"{fn.get('name', '')}({fn.get('arguments', fn.get('args', ''))})")
    return "\n".join(parts)
