"""An :class:`~tract_core.llm.LLM` over a LlamaIndex LLM: :class:`LlamaIndexLLM`.

llama-index-core is imported only when a call converts messages.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError
from ..formats.frozen import thaw
from ..usage import Usage, normalize_usage
from .frameworks import framework_class, needs_instance
from .protocol import LLMError, LLMResponse, Messages, acall, content_text, field_of, has_field, message_list, settle

__all__ = ["LlamaIndexLLM"]


_TOKEN_KEYS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def _quiet_usage(found: Any) -> Usage | None:
    if found is None or (isinstance(found, Mapping) and not found):
        return None
    try:
        return normalize_usage(found)
    except InvalidInputError:  # a provider-specific shape (Gemini, Bedrock, ...): no usage, not a failed call
        return None


def _llamaindex_usage(response: Any, message: Any) -> Usage | None:
    """OpenAI/Anthropic-style usage on ``response.raw``, else token counts in ``additional_kwargs``."""
    raw = field_of(response, "raw")
    if raw is not None:
        found = field_of(raw, "usage")
        usage = _quiet_usage(found if found is not None else field_of(raw, "usage_metadata"))
        if usage is not None:
            return usage
    # provider integrations put counts on the response; CustomLLM's completion counts land on the message
    for extra in (field_of(response, "additional_kwargs"), field_of(message, "additional_kwargs")):
        if isinstance(extra, Mapping):
            usage = _quiet_usage({k: extra[k] for k in _TOKEN_KEYS if extra.get(k) is not None})
            if usage is not None:
                return usage
    return None


_LLAMAINDEX_EXTRA = ("tool_calls", "tool_call_id", "name")


class LlamaIndexLLM:
    """An :class:`LLM` over a LlamaIndex LLM (``llama_index.core.llms.LLM``: OpenAI, Anthropic, Ollama, ...).

    Each call converts the OpenAI-shaped messages into ``ChatMessage`` objects (``role`` and content;
    text and image content parts become ``TextBlock``/``ImageBlock``; ``tool_calls``,
    ``tool_call_id`` and ``name`` go into ``additional_kwargs``, where LlamaIndex's OpenAI-style
    integrations look for them) and calls ``llm.chat(messages, **defaults, **options)`` (``achat``
    in :meth:`acomplete`). The reply text is ``response.message.content`` (``""`` when there is
    none), ``raw`` is the ``ChatResponse``, and usage comes from ``response.raw`` when it carries an
    OpenAI- or Anthropic-style ``usage``, else from ``prompt_tokens``/``completion_tokens`` counts in
    the response's (or, for a ``CustomLLM``, the message's) ``additional_kwargs``, else ``None``.

    Options are keyword arguments of ``chat``; LlamaIndex's provider integrations usually merge them
    into the request (``temperature=0``, ``max_tokens=...``). Settings fixed for every call belong
    on the LLM itself (``OpenAI(model="gpt-4o", temperature=0)``) or in ``**defaults``.

    A LlamaIndex LLM also has ``complete(prompt)``/``acomplete(prompt)`` for raw text prompts:
    those are not tract's protocol, which is why it needs this adapter. llama-index-core is imported
    only when a call converts messages.

    Args:
        llm: The LlamaIndex LLM, or any object with ``chat(messages)`` returning a ``ChatResponse``
            (``achat`` is used when present; otherwise ``acomplete`` runs ``chat`` in a worker thread).
        **defaults: Options sent with every call; per-call options win.

    Raises:
        InvalidInputError: ``llm`` has no ``chat()``, or is a LlamaIndex object that is not an LLM
            (a chat engine, an index, ...).

    Example:
        >>> from llama_index.core.llms import MockLLM
        >>> llm = LlamaIndexLLM(MockLLM())  # MockLLM echoes its prompt
        >>> llm.complete([{"role": "user", "content": "Say hi to Ada"}]).text
        'user: Say hi to Ada\\nassistant: '
    """

    def __init__(self, llm: Any, **defaults: Any) -> None:
        needs_instance(llm, "LlamaIndexLLM")
        if not callable(getattr(llm, "chat", None)):
            raise InvalidInputError(f"LlamaIndexLLM needs a LlamaIndex LLM (with chat()), not a {type(llm).__name__}")
        if framework_class(llm) == "llamaindex":
            base = sys.modules.get("llama_index.core.base.llms.base")
            if base is not None and not isinstance(llm, base.BaseLLM):
                raise InvalidInputError(
                    f"{type(llm).__name__} is a LlamaIndex object but not an LLM: pass the LLM itself "
                    "(e.g. llama_index.llms.openai.OpenAI(...) or Settings.llm)"
                )
        self.llm = llm
        self.defaults = defaults

    def __repr__(self) -> str:
        return f"LlamaIndexLLM({type(self.llm).__name__})"

    def _prompt(self, messages: Messages) -> list[Any]:
        prompt = message_list(messages)
        try:
            from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("LlamaIndexLLM needs llama-index-core: pip install llama-index-core") from exc
        out = []
        for i, message in enumerate(prompt):
            role = message.get("role")
            try:
                role = MessageRole(role)
            except ValueError:
                raise InvalidInputError(
                    f"messages[{i}] has role {role!r}, which LlamaIndex does not know; "
                    f"use one of {[r.value for r in MessageRole]}"
                ) from None
            extra = dict(message.get("additional_kwargs") or {})
            extra.update({k: message[k] for k in _LLAMAINDEX_EXTRA if message.get(k) is not None})
            content = message.get("content")
            if content is None or isinstance(content, str):
                blocks = [] if content is None else [TextBlock(text=content)]
            elif isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
                blocks = [_llamaindex_block(part, i, TextBlock, ImageBlock) for part in content]
            else:
                raise InvalidInputError(
                    f"messages[{i}] content must be a str or a list of content parts, not a {type(content).__name__}"
                )
            out.append(ChatMessage(role=role, blocks=blocks, additional_kwargs=thaw(extra)))
        return out

    def _read(self, response: Any) -> LLMResponse:
        message = field_of(response, "message")
        if message is None or not has_field(message, "content"):
            raise LLMError(
                f"{self!r} returned a {type(response).__name__}; chat() must return a ChatResponse "
                "(with .message.content)"
            )
        content = field_of(message, "content")
        text = content if isinstance(content, str) else content_text(content, sep="\n")
        return LLMResponse(text, _llamaindex_usage(response, message), raw=response)

    def complete(self, messages: Messages, **options: Any) -> LLMResponse:
        """Convert the messages, ``chat`` with the LLM and read its reply."""
        prompt = self._prompt(messages)
        return self._read(settle(self.llm.chat(prompt, **{**self.defaults, **options}), repr(self)))

    async def acomplete(self, messages: Messages, **options: Any) -> LLMResponse:
        """Convert the messages, ``achat`` with the LLM and read its reply."""
        prompt = self._prompt(messages)
        method = getattr(self.llm, "achat", None)
        result = await acall(
            method if callable(method) else None, self.llm.chat, prompt, **{**self.defaults, **options}
        )
        return self._read(result)


def _llamaindex_block(part: Any, i: int, text_block: Any, image_block: Any) -> Any:
    if isinstance(part, str):
        return text_block(text=part)
    kind = field_of(part, "type")
    if kind == "text":
        return text_block(text=field_of(part, "text") or "")
    if kind == "image_url":
        image = field_of(part, "image_url")
        url = image if isinstance(image, str) else field_of(image, "url")
        detail = None if isinstance(image, str) else field_of(image, "detail")
        try:
            return image_block(url=url, detail=detail)
        except ValueError as exc:
            raise InvalidInputError(f"messages[{i}] has an image_url part LlamaIndex cannot take: {exc}") from exc
    raise InvalidInputError(
        f"messages[{i}] has a {kind!r} content part; LlamaIndexLLM converts text and image_url parts only"
    )
