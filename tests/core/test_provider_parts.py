"""Content parts beyond text and images in the Anthropic and Gemini formats: files, audio, refusals and
parts of unknown types are translated where the provider has an equivalent and otherwise kept, never
dropped. Checked with the providers' own SDK types (anthropic's request TypedDicts, google-genai's
pydantic models), as in test_provider_bytes.py.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from anthropic.types import ContentBlockParam, MessageParam, TextBlockParam
from google.genai import types as genai
from pydantic import TypeAdapter

from tract_core import Tract
from tract_core.formats.anthropic import to_anthropic
from tract_core.formats.gemini import to_gemini

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="
PDF = base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()
NOTE = "Packing list: passport ✓"
TXT = base64.b64encode(NOTE.encode()).decode()

PDF_PART = {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "ticket.pdf"}}
RAW_PDF_PART = {"type": "file", "file": {"file_data": PDF, "filename": "visa.PDF"}}
TEXT_FILE_PART = {"type": "file", "file": {"file_data": f"data:text/plain;base64,{TXT}"}}
UPLOADED_PART = {"type": "file", "file": {"file_id": "file-abc123"}}
AUDIO_PART = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}}
VIDEO_PART = {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}}
IMAGE_PART = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
REFUSAL = {"type": "refusal", "refusal": "I can't open that."}

ANTHROPIC_MESSAGES = TypeAdapter(list[MessageParam])
ANTHROPIC_BLOCK = TypeAdapter(ContentBlockParam)
ANTHROPIC_SYSTEM = TypeAdapter(str | list[TextBlockParam])
GEMINI_CONTENTS = TypeAdapter(list[genai.Content])


def _plain(value: Any) -> Any:
    """``value`` with the SDK TypedDicts' lazily validated iterables drawn out (validating them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    return [_plain(v) for v in value]


def check_anthropic(body: dict[str, Any]) -> None:
    if "system" in body:
        assert _plain(ANTHROPIC_SYSTEM.validate_python(body["system"])) == body["system"]
    assert _plain(ANTHROPIC_MESSAGES.validate_python(body["messages"])) == body["messages"]


def check_gemini(body: dict[str, Any]) -> None:
    contents = GEMINI_CONTENTS.validate_json(json.dumps(body["contents"]))  # extra="forbid"; base64 decodes
    assert [c.model_dump(mode="json", exclude_none=True) for c in contents] == body["contents"]


def files_conversation(t: Tract, *, untranslatable: bool) -> Tract:
    """A user sends files (and, with ``untranslatable``, an uploaded file id, audio and a video), the
    assistant refuses, then a tool answers with text and an image."""
    t.system("You are a travel agent.")
    extra = [UPLOADED_PART, AUDIO_PART, VIDEO_PART] if untranslatable else []
    t.user([{"type": "text", "text": "My files:"}, PDF_PART, RAW_PDF_PART, TEXT_FILE_PART, *extra])
    t.assistant([REFUSAL])
    call = {"id": "c1", "type": "function", "function": {"name": "map", "arguments": "{}"}}
    t.assistant("Let me look at the map.", tool_calls=[call])
    t.tool_result("c1", [{"type": "text", "text": "the map"}, IMAGE_PART, REFUSAL])
    return t


def test_anthropic_translates_files_and_refusals_and_keeps_what_it_cannot_translate() -> None:
    with Tract.open() as t:
        body = files_conversation(t, untranslatable=True).compile().to_anthropic()
    user, assistant, tool = body["messages"]
    assert user["content"] == [
        {"type": "text", "text": "My files:"},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            "title": "ticket.pdf",
        },
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            "title": "visa.PDF",
        },
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": NOTE}},
        UPLOADED_PART,  # an OpenAI file id means nothing to Anthropic: kept as it is, never dropped
        AUDIO_PART,  # Anthropic takes no audio
        VIDEO_PART,  # an unknown part type
    ]
    assert assistant["content"][0] == {"type": "text", "text": "I can't open that."}
    assert tool["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "c1",
            "content": [
                {"type": "text", "text": "the map"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "text", "text": "I can't open that."},
            ],
        }
    ]
    for block in user["content"][:4] + assistant["content"] + tool["content"]:  # what was translated is valid
        assert _plain(ANTHROPIC_BLOCK.validate_python(block)) == block
    for kept in user["content"][4:]:  # the kept parts are not: the API refuses them rather than ignoring them
        with pytest.raises(ValueError):
            ANTHROPIC_BLOCK.validate_python(kept)


def test_a_conversation_of_translatable_parts_is_a_valid_anthropic_and_gemini_request() -> None:
    with Tract.open() as t:
        context = files_conversation(t, untranslatable=False).compile()
        check_anthropic(context.to_anthropic())
        check_anthropic(context.to_anthropic(cache_breakpoints="auto"))
        check_gemini(context.to_gemini())
        again = json.loads(context.to_bytes("anthropic"))
    assert again == context.to_anthropic()


def test_gemini_keeps_every_part_and_gives_a_tool_result_its_media() -> None:
    with Tract.open() as t:
        body = files_conversation(t, untranslatable=True).compile().to_gemini()
    check_gemini(body)
    user, model, tool = body["contents"]
    assert user["parts"] == [
        {"text": "My files:"},
        {"inline_data": {"mime_type": "application/pdf", "data": PDF}},
        {"inline_data": {"mime_type": "application/pdf", "data": PDF}},
        {"inline_data": {"mime_type": "text/plain", "data": TXT}},
        {"text": json.dumps(UPLOADED_PART, sort_keys=True)},  # no counterpart: the model reads it as JSON
        {"inline_data": {"mime_type": "audio/mp3", "data": "UklGRg=="}},
        {"text": json.dumps(VIDEO_PART, sort_keys=True)},
    ]
    assert model["parts"][0] == {"text": "I can't open that."}
    assert tool["parts"] == [
        {
            "function_response": {
                "name": "map",
                "response": {"output": "the map\nI can't open that."},
                "parts": [{"inline_data": {"mime_type": "image/png", "data": PNG}}],
            }
        }
    ]


def test_a_system_prompt_with_an_image_is_sent_as_a_user_turn_and_a_refusal_stays_text() -> None:
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}, REFUSAL]},
        {"role": "system", "content": [{"type": "text", "text": "Read this map:"}, IMAGE_PART]},
        {"role": "user", "content": "Where am I?"},
    ]
    anthropic = to_anthropic(messages)
    assert anthropic["system"] == "Be brief.\nI can't open that."
    assert anthropic["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Read this map:"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "text", "text": "Where am I?"},
            ],
        }
    ]
    check_anthropic(anthropic)
    gemini = to_gemini(messages)
    assert gemini["system_instruction"] == {"parts": [{"text": "Be brief.\nI can't open that."}]}
    assert gemini["contents"][0]["parts"][1] == {"inline_data": {"mime_type": "image/png", "data": PNG}}
    check_gemini(gemini)


@pytest.mark.parametrize(
    "part",
    [
        {"type": "file", "file": {"file_data": "data:text/plain;base64,%%%not base64"}},  # undecodable text
        {"type": "file", "file": {"file_data": "data:application/zip;base64,UEsDBA=="}},  # no document type
        {"type": "file", "file": {"file_data": PDF}},  # raw data without a name: its type is unknown
        {"type": "image_url", "image_url": {"url": "data:image/heic;base64,AAAA"}},  # not an Anthropic image type
        {"type": "file", "file": "not a mapping"},
    ],
)
def test_parts_anthropic_has_no_block_for_are_kept_unchanged(part: dict[str, Any]) -> None:
    body = to_anthropic([{"role": "user", "content": [{"type": "text", "text": "see"}, part]}])
    assert body["messages"][0]["content"] == [{"type": "text", "text": "see"}, part]
