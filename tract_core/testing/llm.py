"""A deterministic stand-in for an LLM, for tests, notebooks and demos."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..errors import InvalidInputError
from ..llm import LLMError, LLMResponse, _content_text, _message_list
from ..usage import Usage

__all__ = ["ScriptedLLM", "tool_reply"]

_Reply = str | LLMResponse | Mapping[str, Any]


def tool_reply(*calls: tuple[str, Mapping[str, Any]], text: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped assistant message calling tools, for a :class:`ScriptedLLM` script.

    Example:
        >>> tool_reply(("context_status", {}))["tool_calls"][0]["function"]
        {'name': 'context_status', 'arguments': '{}'}
    """
    import json

    return {
        "role": "assistant",
        "content": text,
        "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(dict(args))}}
            for i, (name, args) in enumerate(calls)
        ],
    }


def _words(text: str) -> int:
    return len(text.split())


def _prompt_words(message: Mapping[str, Any]) -> int:
    try:
        return _words(_content_text(message.get("content"), sep=" "))
    except LLMError:  # content that is not text (nor text blocks) counts zero, like tool calls
        return 0


class ScriptedLLM:
    """Replies from a script and records every call; implements the :class:`~tract_core.llm.LLM` protocol.

    Call it like a function (``llm(messages) -> str``) or through the protocol
    (``llm.complete(messages, **options)`` / ``await llm.acomplete(...)`` -> ``LLMResponse``). No
    randomness, no network: the same script and the same prompts give the same replies and usage.

    Usage is made up deterministically: ``prompt_tokens`` is the number of whitespace-separated
    words in the text content of all prompt messages (tool calls and other non-text parts count
    zero), ``completion_tokens`` the number of words of the reply, ``total_tokens`` their sum, and
    ``source`` is ``"scripted"``. A scripted :class:`~tract_core.llm.LLMResponse` that carries its
    own usage keeps it.

    Args:
        replies: The replies in order (``str``, ``LLMResponse``, or an OpenAI-shaped assistant
            message dict such as :func:`tool_reply` makes, for a model that calls tools: its
            ``raw``); or a function from the message list (a deep copy) to a reply.
        repeat_last: When the script runs out, repeat the last reply instead of raising
            ``IndexError``.

    Attributes:
        prompts: Every message list received, as deep copies, oldest first.
        options: The options of every call (``temperature=...`` etc.), as dicts, oldest first.

    Example:
        >>> llm = ScriptedLLM(["Hello!", "Bye, see you."])
        >>> llm([{"role": "user", "content": "Hi"}])
        'Hello!'
        >>> reply = llm.complete([{"role": "user", "content": "Bye for now"}], temperature=0)
        >>> reply.text, reply.usage.prompt_tokens, reply.usage.completion_tokens
        ('Bye, see you.', 3, 3)
        >>> llm.prompts[0][0]["content"], llm.options[1], llm.calls
        ('Hi', {'temperature': 0}, 2)
    """

    def __init__(
        self,
        replies: Iterable[_Reply] | Callable[[list[dict[str, Any]]], _Reply],
        *,
        repeat_last: bool = False,
    ) -> None:
        self._fn = replies if callable(replies) else None
        self._replies: list[_Reply] = [] if callable(replies) else list(replies)
        for i, reply in enumerate(self._replies):
            if not isinstance(reply, (str, LLMResponse, Mapping)):
                raise InvalidInputError(
                    f"replies[{i}] must be a str, an LLMResponse or a message dict, not a {type(reply).__name__}"
                )
        self._repeat_last = repeat_last
        self.prompts: list[list[dict[str, Any]]] = []
        self.options: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        script = "function" if self._fn is not None else f"{len(self._replies)} replies"
        return f"ScriptedLLM({script}, calls={self.calls})"

    @property
    def calls(self) -> int:
        """How many times the model was called."""
        return len(self.prompts)

    def _next(self, prompt: list[dict[str, Any]]) -> _Reply:
        if self._fn is not None:
            return self._fn(copy.deepcopy(prompt))
        index = len(self.prompts) - 1
        if index < len(self._replies):
            return self._replies[index]
        if self._repeat_last and self._replies:
            return self._replies[-1]
        raise IndexError(f"ScriptedLLM has only {len(self._replies)} replies; it was called {index + 1} times")

    def complete(self, messages: Sequence[Mapping[str, Any]], **options: Any) -> LLMResponse:
        """Record the call and return the next scripted reply with deterministic usage."""
        prompt = copy.deepcopy(_message_list(messages))
        self.prompts.append(prompt)
        self.options.append(copy.deepcopy(options))
        reply = self._next(prompt)
        if isinstance(reply, Mapping):  # an assistant message (tool calls): the provider's raw reply
            message = copy.deepcopy(dict(reply))
            reply = LLMResponse(_content_text(message.get("content")), raw=message)
        if not isinstance(reply, (str, LLMResponse)):
            raise InvalidInputError(
                f"the reply function must return a str, an LLMResponse or a message dict, not a {type(reply).__name__}"
            )
        if isinstance(reply, LLMResponse) and reply.usage is not None:
            return reply
        text = reply if isinstance(reply, str) else reply.text
        prompt_tokens = sum(_prompt_words(m) for m in prompt)
        completion_tokens = _words(text)
        usage = Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens, source="scripted")
        return replace(reply, usage=usage) if isinstance(reply, LLMResponse) else LLMResponse(text, usage)

    async def acomplete(self, messages: Sequence[Mapping[str, Any]], **options: Any) -> LLMResponse:
        """:meth:`complete`, awaitable (runs inline: the order of calls is the order of awaits)."""
        return self.complete(messages, **options)

    def __call__(self, messages: Sequence[Mapping[str, Any]], **options: Any) -> str:
        """Reply to ``messages`` (OpenAI chat shape) with the text only."""
        return self.complete(messages, **options).text
