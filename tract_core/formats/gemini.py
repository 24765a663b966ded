"""The Gemini API format (google-genai): a ``system_instruction`` and alternating ``contents`` of parts.

Gemini calls the assistant ``model`` and has no tool role: tool calls are ``function_call`` parts of
a model turn, tool results ``function_response`` parts of a user turn, named after the call they
answer. Keys are the snake_case names the ``google-genai`` SDK accepts
(``types.Content.model_validate``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .content import data_url, file_data, plain_text
from .frozen import thaw

__all__ = ["to_gemini"]

_ROLES = {"assistant": "model"}
_IMAGE_TYPES = {  # a fixed table, not the platform's mimetypes database: bytes must not depend on the machine
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
}
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}


def to_gemini(messages: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Arguments for the Gemini API: ``{"system_instruction": {"parts": [...]}, "contents": [...]}``.

    Leading system/developer messages become ``system_instruction`` (one text part each; the key is
    absent without them); later ones become user text, as Gemini takes its instruction up front.
    ``assistant`` turns are ``model`` turns. Tool calls become ``function_call`` parts (``args`` is
    the parsed JSON object of the call's arguments) and tool results ``function_response`` parts in
    a user turn, named after the matching call; the response is the result's JSON object when its
    text is one, else ``{"output": text}``. Images become ``inline_data`` (data URLs) or
    ``file_data`` (other URLs), audio and files with their data ``inline_data``, a ``refusal`` text,
    and a part with no Gemini counterpart a text part of its JSON (nothing is dropped). A tool
    result's images and files become its ``function_response``'s ``parts``; a leading system message
    with media is sent as a user turn. Consecutive turns of the same role are merged, so roles alternate.

    Example:
        >>> to_gemini([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
        {'system_instruction': {'parts': [{'text': 'Be brief.'}]},
         'contents': [{'role': 'user', 'parts': [{'text': 'Hi'}]}]}
    """
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    names: dict[Any, str] = {}  # tool call id -> function name, from the assistant messages so far
    leading = True
    for message in messages:
        role = message["role"]
        if role in ("system", "developer") and leading:
            text = plain_text(message.get("content"))
            if text is not None:
                system.append({"text": text})
                continue
        leading = False  # a system message with an image or a file is sent as a user turn, at its place
        if role == "tool":
            call_id = message.get("tool_call_id")
            name = names.get(call_id) or message.get("name") or str(call_id or "tool")
            parts = [{"function_response": _function_response(name, message.get("content"))}]
        else:
            parts = _parts(message.get("content"))
            calls = message.get("tool_calls") if role == "assistant" else None
            for call in calls or ():
                function = call.get("function", {})
                names[call.get("id")] = function.get("name")
                parts.append({"function_call": {"name": function.get("name"), "args": _args(function)}})
        if not parts:
            continue
        turn_role = _ROLES.get(role, "user")
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["parts"].extend(parts)
        else:
            turns.append({"role": turn_role, "parts": parts})
    body: dict[str, Any] = {"system_instruction": {"parts": system}} if system else {}
    body["contents"] = turns
    return body


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            parts.append({"text": str(part.get("text", ""))})
        elif kind == "refusal":
            parts.append({"text": str(part.get("refusal", ""))})
        elif kind == "image_url":
            image = part.get("image_url")
            parts.append(_media(str(image.get("url", "") if isinstance(image, Mapping) else image), _IMAGE_TYPES))
        elif kind == "input_audio":
            audio = part.get("input_audio") if isinstance(part.get("input_audio"), Mapping) else {}
            mime = _AUDIO_TYPES.get(str(audio.get("format", "")).lower(), "audio/wav")
            parts.append({"inline_data": {"mime_type": mime, "data": str(audio.get("data", ""))}})
        elif kind == "file" and (data := file_data(part)) is not None:
            parts.append({"inline_data": {"mime_type": data[0], "data": data[1]}})
        else:  # a part Gemini has no counterpart for: the model reads it as JSON text
            parts.append({"text": json.dumps(part, sort_keys=True, ensure_ascii=False)})
    return parts


def _media(url: str, types: Mapping[str, str]) -> dict[str, Any]:
    found = data_url(url)
    if found is not None:
        return {"inline_data": {"mime_type": found[0], "data": found[1]}}
    file: dict[str, Any] = {"file_uri": url}
    extension = url.split("?", 1)[0].rsplit(".", 1)[-1].lower() if "." in url.rsplit("/", 1)[-1] else ""
    if extension in types:
        file["mime_type"] = types[extension]
    return {"file_data": file}


def _args(function: Mapping[str, Any]) -> dict[str, Any]:
    arguments = function.get("arguments") or "{}"
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else thaw(dict(arguments))
    except (json.JSONDecodeError, TypeError, ValueError):
        return {"arguments": arguments}
    return parsed if isinstance(parsed, dict) else {"arguments": parsed}


def _function_response(name: str, content: Any) -> dict[str, Any]:
    """A ``function_response`` of a tool result: its text as the response, and its images, audio and
    files (if any) as the response's own ``parts``; other parts join the text as JSON."""
    text = plain_text(content)
    if text is not None:
        return {"name": name, "response": _response(text)}
    texts: list[str] = []
    media: list[dict[str, Any]] = []
    for part in _parts(content):
        if "text" in part:
            texts.append(part["text"])
        else:
            media.append(part)
    response: dict[str, Any] = {"name": name, "response": _response("\n".join(texts))}
    if media:
        response["parts"] = media
    return response


def _response(text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"output": text}
    return parsed if isinstance(parsed, dict) else {"output": text}
