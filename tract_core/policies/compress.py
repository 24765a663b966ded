"""``CompressPolicy``: compress the context when it reaches a share of the token budget."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..arguments import check_number
from ..errors import InvalidInputError, shown
from .cache import cache_note, cached_prefix_lost
from .policy import PolicyAction

if TYPE_CHECKING:
    from ..tract import Tract

__all__ = ["CompressPolicy"]


class CompressPolicy:
    """Fires when the compiled context reaches ``threshold`` of the token budget.

    Its action compresses everything but the ``keep_recent`` most recent messages with the tract's
    configured LLM (or ``llm=``), through :meth:`~tract_core.Tract.compress`: pinned messages
    survive verbatim, the originals are archived, not lost. High risk: in ``collaborative`` mode it
    is proposed, not executed. While its proposal is pending it makes no other (``one_pending``).

    Args:
        threshold: Share of the budget (0 < threshold <= 1) at which it fires.
        keep_recent: Messages kept as they are after the summary.
        target_tokens: The summary's token budget (None: the summariser's default).
        llm: The model that writes summaries (not stored; reopened tracts use ``TractConfig(llm=...)``
            unless you configure the policy again).
        token_budget: The budget to measure against (default: the tract's ``TractConfig.token_budget``).
        name: The policy's name; priority: lower runs first; autonomy: overrides the tract's.
    """

    trigger = "commit"
    one_pending = True

    def __init__(
        self,
        threshold: float = 0.8,
        *,
        keep_recent: int = 6,
        target_tokens: int | None = None,
        llm: Any = None,
        token_budget: int | None = None,
        name: str = "compress",
        priority: int = 100,
        autonomy: str | None = None,
    ) -> None:
        check_number(threshold, "threshold")
        if not 0 < threshold <= 1:
            raise InvalidInputError(
                f"CompressPolicy threshold is a share of the budget in (0, 1], not {shown(threshold)}"
            )
        for value, what in (
            (keep_recent, "keep_recent"),
            (target_tokens, "target_tokens"),
            (token_budget, "token_budget"),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < (0 if what == "keep_recent" else 1)
            ):
                raise InvalidInputError(f"CompressPolicy {what} must be a positive integer, not {shown(value)}")
        self.threshold = float(threshold)
        self.keep_recent = keep_recent
        self.target_tokens = target_tokens
        self.llm = llm
        self.token_budget = token_budget
        self.name = name
        self.priority = priority
        self.autonomy = autonomy

    def __repr__(self) -> str:
        return f"CompressPolicy({self.threshold}, keep_recent={self.keep_recent})"

    def to_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this policy (the LLM is not stored)."""
        config: dict[str, Any] = {
            "threshold": self.threshold,
            "keep_recent": self.keep_recent,
            "name": self.name,
            "priority": self.priority,
        }
        if self.target_tokens is not None:
            config["target_tokens"] = self.target_tokens
        if self.token_budget is not None:
            config["token_budget"] = self.token_budget
        return config

    def action_for(
        self,
        token_count: int,
        budget: int | None,
        message_count: int,
        *,
        head: str | None = None,
        cached_prefix: int | None = None,
    ) -> PolicyAction | None:
        """The compress action for a context of ``token_count`` tokens and ``message_count`` messages
        measured against ``budget`` (this policy's ``token_budget`` wins when set), or None.

        Pure and O(1): the one place the threshold is decided, for :meth:`evaluate` and for
        adapters that measure a context held elsewhere (a LangGraph state's messages).

        Args:
            token_count: The context's tokens.
            budget: The budget to measure against when the policy has no ``token_budget`` (None or
                0: no budget, never fires).
            message_count: The context's messages.
            head: The commit the context ends at, recorded in the action's params when given.
            cached_prefix: Tokens of prompt-cached prefix the compression would invalidate
                (:func:`cached_prefix_lost`); the reason says so when given and not 0.

        Returns:
            A ``compress`` action when ``token_count`` reaches ``threshold`` of the budget and at least
            two messages lie before the ``keep_recent`` most recent; else None.
        """
        budget = self.token_budget or budget
        if not budget or token_count < self.threshold * budget:
            return None
        older = message_count - self.keep_recent
        if older < 2:
            return None
        params: dict[str, Any] = {} if head is None else {"head": head}
        params["keep_recent"] = self.keep_recent
        if self.target_tokens is not None:
            params["target_tokens"] = self.target_tokens
        share = token_count / budget
        return PolicyAction(
            "compress",
            params,
            reason=(
                f"Context at {share:.0%} of {budget:,} tokens; compress the {older} messages "
                f"before the last {self.keep_recent}{cache_note(cached_prefix)}"
            ),
        )

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        """A compress action when the context is at ``threshold`` of the budget or more (O(1) below
        it: the compiled context at HEAD is cached and kept incrementally, and the agent's next
        compile reuses it). Its reason weighs the prompt cache: how many cached-prefix tokens the
        compression would invalidate (:func:`cached_prefix_lost`, counted only when it fires)."""
        budget = self.token_budget or tract.config.token_budget
        if not budget:
            return None
        context = tract.compile()
        if context.head is None:
            return None
        if self.action_for(context.token_count, budget, len(context)) is None:
            return None
        lost = cached_prefix_lost(context)
        return self.action_for(context.token_count, budget, len(context), head=context.head, cached_prefix=lost)
