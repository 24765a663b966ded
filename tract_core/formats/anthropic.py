"""The Anthropic Messages API format: a ``system`` string and alternating turns of content blocks."""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError, shown
from .content import data_url, file_data, plain_text
from .frozen import thaw

__all__ = ["MAX_CACHE_BREAKPOINTS", "to_anthropic"]

MAX_CACHE_BREAKPOINTS = 4
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
"""How many ``cache_control`` breakpoints one Anthropic request may carry."""


def to_anthropic(
    messages: Iterable[Mapping[str, Any]], cache_breakpoints: str | Sequence[int] | None = None
) -> dict[str, Any]:
    """Arguments for the Anthropic Messages API: ``{"system": ..., "messages": [...]}`` (no ``system``
    key when there is no system prompt, so ``client.messages.create(**body)`` works either way).

    Leading system/developer messages become the ``system`` string (joined by blank lines);
    later ones become user text, since Anthropic only takes a system prompt up front. Tool
    calls become ``tool_use`` blocks and tool results ``tool_result`` blocks in a user turn.
    Consecutive messages of the same role are merged into one turn of content blocks, so roles
    alternate as the API expects. Content parts are translated where Anthropic has an equivalent
    (``refusal`` as text, images and files with their data as ``image`` / ``document`` blocks) and
    kept unchanged otherwise (``input_audio``, a file named by ``file_id``, unknown types), so
    nothing is dropped; a leading system message with such parts is sent as a user turn, since
    the system prompt takes text only. A tool result with images or files keeps them as blocks.

    ``cache_breakpoints`` marks prompt-cache boundaries with ``cache_control: {"type": "ephemeral"}``
    on the last content block of the named messages (at most four, as Anthropic allows): ``"auto"``
    marks the system prompt and the last assistant message (the end of the last sealed cycle); a
    list names message indexes (a system message's index marks the system prompt, which then
    becomes a list of one text block). None leaves the output exactly as without it.

    Raises:
        InvalidInputError: ``cache_breakpoints`` is not ``"auto"``, None or a list of at most four
            indexes of existing messages.

    Example:
        >>> to_anthropic([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
        {'system': 'Be brief.', 'messages': [{'role': 'user', 'content': 'Hi'}]}
    """
    messages = list(messages)
    marked = _breakpoints(messages, cache_breakpoints)
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    mark_system = False
    leading = True
    for index, message in enumerate(messages):
        role = message["role"]
        if role in ("system", "developer") and leading:
            text = plain_text(message.get("content"))
            if text is not None:
                system.append(text)
                mark_system = mark_system or index in marked
                continue
        leading = False  # a system message with an image or a file is sent as a user turn, at its place
        if role in ("system", "developer"):
            role, blocks = "user", _blocks(message.get("content"))
        elif role == "tool":
            role = "user"
            content = message.get("content")
            text = plain_text(content)
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": message.get("tool_call_id"),
                    "content": text if text is not None else _blocks(content),
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
        if index in marked:
            target = blocks[-1] if blocks else _last(turns)
            if target is None:
                mark_system = True  # nothing emitted yet but the system prompt: the prefix ends there
            else:
                target["cache_control"] = {"type": "ephemeral"}
    for turn in turns:
        content = turn["content"]
        if len(content) == 1 and content[0]["type"] == "text" and "cache_control" not in content[0]:
            turn["content"] = content[0]["text"]
    prompt: Any = "\n\n".join(system) if system else None
    if mark_system and prompt is not None:
        prompt = [{"type": "text", "text": prompt, "cache_control": {"type": "ephemeral"}}]
    if prompt is None:  # no system prompt: the key is left out (the API takes no null system)
        return {"messages": turns}
    return {"system": prompt, "messages": turns}


def _last(turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    for turn in reversed(turns):
        if turn["content"]:
            return turn["content"][-1]
    return None


def _breakpoints(messages: Sequence[Mapping[str, Any]], spec: str | Sequence[int] | None) -> set[int]:
    """The message indexes ``cache_breakpoints`` marks (see :func:`to_anthropic`)."""
    if spec is None:
        return set()
    if spec == "auto":
        marks = set()
        leading = 0
        while leading < len(messages) and messages[leading]["role"] in ("system", "developer"):
            leading += 1
        if leading:
            marks.add(leading - 1)
        assistants = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        if assistants:
            marks.add(assistants[-1])
        return marks
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
        raise InvalidInputError(f"cache_breakpoints is 'auto', None or a list of message indexes, not {shown(spec)}")
    marks = set()
    for index in spec:
        if isinstance(index, bool) or not isinstance(index, int) or not -len(messages) <= index < len(messages):
            raise InvalidInputError(
                f"cache_breakpoints names message {shown(index)}, but the context has {len(messages)} messages"
            )
        marks.add(index % len(messages))
    if len(marks) > MAX_CACHE_BREAKPOINTS:
        raise InvalidInputError(
            f"Anthropic allows at most {MAX_CACHE_BREAKPOINTS} cache breakpoints; {len(marks)} were given"
        )
    return marks


def _blocks(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [_block(part) for part in content]


def _block(part: Any) -> dict[str, Any]:
    """The Anthropic content block of an OpenAI content part: text, ``refusal`` (as text), images and
    files with their data (``image`` / ``document`` blocks); any other part (``input_audio``, a file
    named by ``file_id``, a type Anthropic has no counterpart for, or a block already in Anthropic's
    shape) unchanged, so nothing is lost without a word: the API refuses what it cannot take."""
    kind = part.get("type") if isinstance(part, Mapping) else None
    if kind == "text":
        return {"type": "text", "text": part.get("text", "")}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal", ""))}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url", "") if isinstance(image, Mapping) else None
        found = data_url(url)
        if found is not None:
            block = _media_block(found[0], found[1], None)
            if block is not None:
                return block
        elif isinstance(url, str):
            return {"type": "image", "source": {"type": "url", "url": url}}
    elif kind == "file":
        data = file_data(part)
        block = None if data is None else _media_block(*data)
        if block is not None:
            return block
    return copy.deepcopy(dict(part)) if isinstance(part, Mapping) else copy.deepcopy(part)


def _media_block(media: str, data: str, name: str | None) -> dict[str, Any] | None:
    """An ``image`` or ``document`` block of base64 data (None: a type Anthropic does not take)."""
    if media in _IMAGE_TYPES:
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if media == "application/pdf":
        block: dict[str, Any] = {"type": "document", "source": {"type": "base64", "media_type": media, "data": data}}
    elif media == "text/plain":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        block = {"type": "document", "source": {"type": "text", "media_type": media, "data": text}}
    else:
        return None
    if name:
        block["title"] = name
    return block


def _tool_use(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call.get("function", {})
    arguments = function.get("arguments") or "{}"
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else thaw(dict(arguments))
    except json.JSONDecodeError:
        parsed = {"arguments": arguments}
    return {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": parsed}
