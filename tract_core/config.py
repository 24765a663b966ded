"""Per-tract settings."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ConfigError, shown
from .tokens import TokenCounter

__all__ = ["TractConfig", "token_budget_argument"]


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


def token_budget_argument(token_budget: Any, deprecated: Mapping[str, Any], *, where: str, stacklevel: int = 3) -> Any:
    """The token budget a caller gave an adapter: ``token_budget``, or one of its deprecated names.

    Every adapter calls its budget ``token_budget``, as :class:`TractConfig` does. An adapter that
    used another name (``budget_tokens``, ``token_limit``) still accepts it through this function,
    with a :class:`DeprecationWarning` naming ``token_budget``. The value is returned as given
    (None when nothing was given); the caller validates it.

    Args:
        token_budget: The value of ``token_budget`` (None: not given).
        deprecated: Each deprecated name and the value given for it (None: not given).
        where: What takes the argument, for the messages (``"TractCompressNode"``).
        stacklevel: Where the warning points, counted from this function (default: the caller's caller).

    Raises:
        ConfigError: More than one of them given.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     token_budget_argument(None, {"token_limit": 500}, where="TractMemory", stacklevel=1)
        500
        >>> print(caught[0].message)
        TractMemory(token_limit=...) is deprecated: use token_budget=500
        (the name TractConfig and every tract adapter use)
    """
    given = {name: value for name, value in deprecated.items() if value is not None}
    if token_budget is not None:
        given = {"token_budget": token_budget, **given}
    if len(given) > 1:
        raise ConfigError(
            f"{where}: pass token_budget only, not {' and '.join(given)} "
            f"({', '.join(n for n in given if n != 'token_budget')} is the deprecated name of token_budget)"
        )
    if token_budget is not None or not given:
        return token_budget
    ((name, value),) = given.items()
    warnings.warn(
        f"{where}({name}=...) is deprecated: use token_budget={shown(value)} "
        "(the name TractConfig and every tract adapter use)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return value
