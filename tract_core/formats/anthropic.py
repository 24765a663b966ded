"""The Anthropic Messages API format: a ``system`` string and alternating turns of content blocks."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .content import text_of

__all__ = ["to_anthropic"]


def to_anthropic(messages: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Arguments for the Anthropic Messages API: ``{"system": ..., "messages": [...]}``.

    Leading system/developer messages become the ``system`` string (joined by blank lines);
    later ones become user text, since Anthropic only takes a system prompt up front. Tool
    calls become ``tool_use`` blocks and tool results ``tool_result`` blocks in a user turn.
    Consecutive messages of the same role are merged into one turn of content blocks, so roles
    alternate as the API expects.

    Example:
        >>> to_anthropic([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
        {'system': 'Be brief.', 'messages': [{'role': 'user', 'content': 'Hi'}]}
    """
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    leading = True
    for message in messages:
        role = message["role"]
        if role in ("system", "developer") and leading:
            system.append(text_of(message.get("content")))
            continue
        leading = False
        if role in ("system", "developer"):
            role, blocks = "user", _blocks(message.get("content"))
        elif role == "tool":
            role = "user"
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": message.get("tool_call_id"),
                    "content": text_of(message.get("content")),
                }
            ]
        elif role == "assistant":
            blocks = _blocks(message.get("content"))
            blocks += [_tool_use(call) for call in message.get("tool_calls") or ()]
        else:
            blocks = _blocks(message.get("content"))
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        content = turn["content"]
        if len(content) == 1 and content[0]["type"] == "text":
            turn["content"] = content[0]["text"]
    return {"system": "\n\n".join(system) if system else None, "messages": turns}


def _blocks(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = part.get("image_url", {}).get("url", "")
            if url.startswith("data:") and ";base64," in url:
                media, data = url[5:].split(";base64,", 1)
                blocks.append({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}})
            else:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
        else:
            blocks.append(copy.deepcopy(dict(part)))
    return blocks


def _tool_use(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call.get("function", {})
    arguments = function.get("arguments") or "{}"
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else dict(arguments)
    except json.JSONDecodeError:
        parsed = {"arguments": arguments}
    return {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": parsed}
