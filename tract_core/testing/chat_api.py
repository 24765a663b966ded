"""What the chat APIs require of a message list: :func:`assert_chat_api_valid`.

The rules are OpenAI Chat Completions' (the shape ``CompiledContext.to_openai()`` returns; the
other exporters build on the same messages): known roles, a tool result names the call it
answers, a participant name is an identifier, each role carries only the content parts it can,
and a message holds no framework-only fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["assert_chat_api_valid"]

_ROLES = {"system", "developer", "user", "assistant", "tool"}
_KEYS = {"role", "content", "name", "tool_calls", "tool_call_id", "refusal"}
_PARTS = {"user": {"text", "image_url", "input_audio", "file"}, "assistant": {"text", "refusal"}}
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def assert_chat_api_valid(messages: Iterable[Mapping[str, Any]]) -> None:
    """Raise ``AssertionError`` (naming the message) if a chat API would refuse one of ``messages``."""
    for message in messages:
        role = message.get("role")
        assert role in _ROLES, f"unknown role: {message}"
        assert set(message) <= _KEYS, f"fields the chat APIs do not take: {message}"
        assert "refusal" not in message or role == "assistant", f"refusal outside an assistant message: {message}"
        if role == "tool":
            assert isinstance(message.get("tool_call_id"), str) and message["tool_call_id"], (
                f"a tool result that names no call: {message}"
            )
        if "name" in message:
            assert isinstance(message["name"], str) and _NAME.fullmatch(message["name"]), f"a bad name: {message}"
        content = message.get("content")
        if content is None:
            assert role == "assistant" and message.get("tool_calls"), f"no content: {message}"
        elif not isinstance(content, str):
            allowed = _PARTS.get(role, {"text"})
            assert all(isinstance(p, Mapping) and p.get("type") in allowed for p in content), (
                f"content parts a {role} message cannot carry: {message}"
            )
