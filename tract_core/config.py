"""Per-tract settings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ConfigError, shown
from .tokens import TokenCounter

__all__ = ["TractConfig"]


@dataclass(frozen=True)
class TractConfig:
    """Settings of one tract.

    ``token_budget`` and ``model`` are saved with the tract: reopening it without a config keeps
    them, and opening it with a config replaces them. ``token_counter`` applies to this process
    only.

    Args:
        token_budget: The context window to stay within, in tokens (None: no budget).
        model: The model the context is compiled for; picks the tokenizer.
        token_counter: A custom :class:`~tract_core.TokenCounter` (default: tiktoken for ``model``).
        llm: The model tract uses itself (summaries for ``compress``, merge resolution), anything
            :func:`~tract_core.as_llm` accepts; not saved with the tract.
    """

    token_budget: int | None = None
    model: str | None = None
    token_counter: TokenCounter | None = field(default=None, compare=False, repr=False)
    llm: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        budget = self.token_budget
        if budget is not None:
            if isinstance(budget, bool) or not isinstance(budget, int):
                raise ConfigError(f"token_budget must be a whole number of tokens, not {shown(budget)}")
            if budget <= 0:
                raise ConfigError(f"token_budget must be positive, got {budget}; use None for no budget")
        if self.model is not None and (not isinstance(self.model, str) or not self.model.strip()):
            raise ConfigError(f"model must be a non-empty string such as 'gpt-4o', not {shown(self.model)}")
        if self.token_counter is not None and not isinstance(self.token_counter, TokenCounter):
            raise ConfigError("token_counter must have a 'name' and a count_text(text) -> int method")

    def to_stored(self) -> dict[str, Any]:
        """The settings saved with the tract."""
        return {"token_budget": self.token_budget, "model": self.model}

    @classmethod
    def from_stored(cls, data: dict[str, Any] | None) -> TractConfig:
        """Rebuild the saved settings."""
        data = data or {}
        return cls(token_budget=data.get("token_budget"), model=data.get("model"))

    def with_counter(self, counter: TokenCounter | None) -> TractConfig:
        """A copy with another token counter."""
        return replace(self, token_counter=counter)
