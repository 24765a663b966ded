"""Writing summaries with an LLM, within a token budget.

The model gets the messages to summarise as a transcript and is asked for at most
``target_tokens``. If its answer is longer, it is asked once more to shorten it; if the second
answer is still too long, it is trimmed at a word boundary. The result says which of these
happened, so a caller never gets a silently oversized (or silently cut) summary.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInputError, shown
from .llm import LLMError, as_llm
from .messages import message_text
from .objects import check_text
from .tokens import TokenCounter

__all__ = [
    "DEFAULT_SUMMARY_PROMPT",
    "SummaryDraft",
    "render_transcript",
    "summarize",
    "asummarize",
    "trim_to_tokens",
    "check_target_tokens",
    "check_prompt",
]

DEFAULT_SUMMARY_PROMPT = (
    "You compress the earlier part of a conversation between a user and an AI assistant so the "
    "assistant can continue it without the full transcript. Keep every fact, decision, number, name, "
    "commitment, open question and the user's preferences and emotional context; drop pleasantries "
    "and repetition. Write in the third person, in plain prose or short bullet points. Answer with "
    "the summary only."
)
"""The default instructions for summaries (replace with ``compress(prompt=...)``)."""


@dataclass(frozen=True)
class SummaryDraft:
    """A summary and how it was obtained.

    Attributes:
        text: The summary.
        tokens: Its size with the tract's tokenizer.
        target_tokens: The budget it had to respect.
        attempts: How many times the model was asked (1, or 2 after a request to shorten).
        trimmed: Whether the text was cut to fit after the second attempt.
    """

    text: str
    tokens: int
    target_tokens: int | None
    attempts: int
    trimmed: bool


def check_target_tokens(target_tokens: Any) -> None:
    """Validate a summary budget: None or a positive whole number of tokens."""
    if target_tokens is not None and (
        isinstance(target_tokens, bool) or not isinstance(target_tokens, int) or target_tokens <= 0
    ):
        raise InvalidInputError(f"target_tokens must be a positive whole number, not {shown(target_tokens)}")


def check_prompt(prompt: Any) -> None:
    """Validate the instructions replacing :data:`DEFAULT_SUMMARY_PROMPT`: None or storable text."""
    if prompt is not None:
        check_text(prompt, "prompt")


def render_transcript(messages: Sequence[Mapping[str, Any]]) -> str:
    """The messages as a plain transcript (``role: text``), tool calls and results included."""
    lines = []
    for message in messages:
        role = message.get("role", "?")
        body = {k: v for k, v in message.items() if k != "role"}
        text = message_text(body)
        if role == "tool":
            text = f"(result of {message.get('tool_call_id')}) {text}"
        elif message.get("tool_calls"):
            text = f"{text}\n(calls tools: {json.dumps(message['tool_calls'], ensure_ascii=False)})".strip()
        lines.append(f"{role}: {text}")
    return "\n\n".join(lines)


def trim_to_tokens(text: str, target_tokens: int, counter: TokenCounter) -> str:
    """Cut ``text`` at a word boundary so that it fits ``target_tokens`` (an ellipsis marks the cut)."""
    if counter.count_text(text) <= target_tokens:
        return text
    words = text.split(" ")
    low, high = 0, len(words)
    while low < high:  # the longest prefix of words that fits, with the ellipsis
        middle = (low + high + 1) // 2
        if counter.count_text(" ".join(words[:middle]) + " …") <= target_tokens:
            low = middle
        else:
            high = middle - 1
    return (" ".join(words[:low]) + " …").strip()


def _conversation(
    messages: Sequence[Mapping[str, Any]],
    counter: TokenCounter,
    target_tokens: int | None,
    prompt: str | None,
) -> Generator[list[dict[str, Any]], str, SummaryDraft]:
    """The summarising exchange, independent of how the model is called.

    Yields each request to send and receives the model's text; returns the draft.
    """
    if target_tokens is not None and (isinstance(target_tokens, bool) or not isinstance(target_tokens, int)):
        raise InvalidInputError(f"target_tokens must be a positive whole number, not {shown(target_tokens)}")
    if target_tokens is not None and target_tokens <= 0:
        raise InvalidInputError(f"target_tokens must be positive, got {target_tokens}")
    limit = f" Use at most {target_tokens} tokens." if target_tokens else ""
    request = [
        {"role": "system", "content": (prompt or DEFAULT_SUMMARY_PROMPT) + limit},
        {"role": "user", "content": "Summarise this conversation:\n\n" + render_transcript(messages)},
    ]
    text = (yield request).strip()
    attempts = 1
    if not text:
        raise LLMError("the LLM returned an empty summary; check the model or the prompt")
    tokens = counter.count_text(text)
    if target_tokens is not None and tokens > target_tokens:
        request += [
            {"role": "assistant", "content": text},
            {
                "role": "user",
                "content": f"That is {tokens} tokens. Rewrite it in at most {target_tokens} tokens, keeping the facts.",
            },
        ]
        shorter = (yield request).strip()
        attempts = 2
        if shorter:
            text = shorter
            tokens = counter.count_text(text)
    trimmed = False
    if target_tokens is not None and tokens > target_tokens:
        text = trim_to_tokens(text, target_tokens, counter)
        tokens = counter.count_text(text)
        trimmed = True
    return SummaryDraft(text, tokens, target_tokens, attempts, trimmed)


def summarize(
    llm: Any,
    messages: Sequence[Mapping[str, Any]],
    *,
    counter: TokenCounter,
    target_tokens: int | None,
    prompt: str | None = None,
) -> SummaryDraft:
    """Ask ``llm`` to summarise ``messages`` within ``target_tokens``.

    Args:
        llm: Anything :func:`tract_core.llm.as_llm` accepts.
        messages: OpenAI-shaped messages to summarise.
        counter: The tokenizer that measures the summary.
        target_tokens: The most tokens the summary may have (None: no limit).
        prompt: Replaces :data:`DEFAULT_SUMMARY_PROMPT`.

    Raises:
        InvalidInputError: ``target_tokens`` is not a positive integer.
        LLMError: The model returned an empty summary.
    """
    exchange = _conversation(messages, counter, target_tokens, prompt)
    request = next(exchange)  # checks target_tokens first
    model = as_llm(llm)
    while True:
        try:
            request = exchange.send(model.complete(request).text)
        except StopIteration as done:
            return done.value


async def asummarize(
    llm: Any,
    messages: Sequence[Mapping[str, Any]],
    *,
    counter: TokenCounter,
    target_tokens: int | None,
    prompt: str | None = None,
) -> SummaryDraft:
    """Async :func:`summarize`: the model is called with ``acomplete`` on the running loop."""
    exchange = _conversation(messages, counter, target_tokens, prompt)
    request = next(exchange)  # checks target_tokens first
    model = as_llm(llm)
    while True:
        try:
            request = exchange.send((await model.acomplete(request)).text)
        except StopIteration as done:
            return done.value
