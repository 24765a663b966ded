"""A deterministic stand-in for an LLM, for tests, notebooks and demos."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["ScriptedLLM"]


class ScriptedLLM:
    """Replies from a script and records every prompt it was given.

    Args:
        replies: The replies, in order; or a function from the message list to a reply.
        repeat_last: When the script runs out, repeat the last reply instead of raising.

    Attributes:
        prompts: Every message list received, as deep copies, oldest first.

    Example:
        >>> llm = ScriptedLLM(["Hello!", "Bye."])
        >>> llm([{"role": "user", "content": "Hi"}])
        'Hello!'
        >>> llm.prompts[0][0]["content"]
        'Hi'
    """

    def __init__(
        self,
        replies: Iterable[str] | Callable[[list[dict[str, Any]]], str],
        *,
        repeat_last: bool = False,
    ) -> None:
        self._fn = replies if callable(replies) else None
        self._replies = [] if callable(replies) else list(replies)
        self._repeat_last = repeat_last
        self.prompts: list[list[dict[str, Any]]] = []

    def __call__(self, messages: Sequence[Mapping[str, Any]]) -> str:
        """Reply to ``messages`` (OpenAI chat shape)."""
        import copy

        prompt = [copy.deepcopy(dict(m)) for m in messages]
        self.prompts.append(prompt)
        if self._fn is not None:
            return self._fn(prompt)
        index = len(self.prompts) - 1
        if index < len(self._replies):
            return self._replies[index]
        if self._repeat_last and self._replies:
            return self._replies[-1]
        raise IndexError(f"ScriptedLLM has only {len(self._replies)} replies; it was called {index + 1} times")

    @property
    def calls(self) -> int:
        """How many times the model was called."""
        return len(self.prompts)
