"""How the orchestrator is set up: :class:`TriggerConfig` (when it runs by itself) and
:class:`OrchestratorConfig` (what it may do, with which model, who decides).

The JSON-able part (triggers, autonomy, steps, profile, thresholds) is stored with the tract, so
every process that opens it runs the same orchestrator; the model and the callbacks are not stored
(give them again after reopening, as with policies).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..arguments import check_number
from ..errors import InvalidInputError, shown
from ..policies.policy import check_autonomy
from ..toolkit.registry import check_profile

__all__ = ["TriggerConfig", "OrchestratorConfig", "Callback"]

Callback = Callable[[Any], Any]
"""Called with each proposal that waits for a decision: True approves, False rejects, a dict
approves with those parameter changes, None leaves it pending (then the next callback is asked)."""


def _positive_int(value: Any, what: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{what} must be a positive integer, not {shown(value)}")


def _share(value: Any, what: str) -> None:
    if value is None:
        return
    check_number(value, what)
    if not 0 < value <= 1:
        raise InvalidInputError(f"{what} is a share of the token budget in (0, 1], not {shown(value)}")


@dataclass(frozen=True)
class TriggerConfig:
    """When the orchestrator runs without being asked: after a commit lands, if one trigger fires.

    Attributes:
        on_commit_count: Every this many commits (through handles of this process), or None.
        on_token_threshold: When the compiled context reaches this share of the token budget
            (once per crossing: it fires again after the context has dropped below), or None.
    """

    on_commit_count: int | None = None
    on_token_threshold: float | None = None

    def __post_init__(self) -> None:
        _positive_int(self.on_commit_count, "on_commit_count")
        _share(self.on_token_threshold, "on_token_threshold")


@dataclass(frozen=True)
class OrchestratorConfig:
    """What the orchestrator does when it runs.

    Attributes:
        triggers: When it runs by itself (default: only when :meth:`~tract_core.Tract.orchestrate`
            is called).
        autonomy: ``manual`` (every action a proposal), ``collaborative`` (low-risk actions run,
            high-risk ones are proposed to ``callbacks``) or ``autonomous``. Default: collaborative
            when there are callbacks, else autonomous.
        callbacks: One callable or a list, asked in turn about each proposal (see :data:`Callback`).
        llm: A model that chooses the actions (with the health report and the ``profile``'s tools)
            and writes summaries; None: deterministic rules choose and the tract's
            ``TractConfig(llm=...)`` writes summaries (with neither, a compression or fold the rules
            choose waits as a proposal, to be approved with ``content="<the summary>"``).
        max_steps: At most this many actions (rule mode) or model turns (LLM mode) per run.
        profile: The tools the model may call (``self``, ``supervisor`` or ``full``).
        compress_at: Budget share at which the rules compress (default: the token trigger, else 0.8).
        keep_recent: Messages a rule compression keeps as they are.
        tangent_limit: A tangent branch with this many messages of its own has stalled.
        stale_days: A branch with no commit for this many days is stale (the rules archive it).
        tool_output_tokens: A tool result larger than this is oversized (the rules hide it with
            SKIP); default: 5% of the budget, at least 500.
        gc: Whether the rules run gc (with its default retention windows) after a compression.
    """

    triggers: TriggerConfig = field(default_factory=TriggerConfig)
    autonomy: str | None = None
    callbacks: Callback | Sequence[Callback] | None = field(default=None, compare=False)
    llm: Any = field(default=None, compare=False)
    max_steps: int = 10
    profile: str = "self"
    compress_at: float | None = None
    keep_recent: int = 6
    tangent_limit: int = 8
    stale_days: float = 7
    tool_output_tokens: int | None = None
    gc: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.triggers, TriggerConfig):
            raise InvalidInputError(f"triggers must be a TriggerConfig, not {type(self.triggers).__name__}")
        if self.autonomy is not None:
            check_autonomy(self.autonomy, "orchestrator autonomy")
        for callback in self.callback_list:
            if not callable(callback):
                raise InvalidInputError(f"callbacks must be callables (or a list of them), not {shown(callback)}")
        _positive_int(self.max_steps, "max_steps", optional=False)
        check_profile(self.profile)
        _share(self.compress_at, "compress_at")
        if isinstance(self.keep_recent, bool) or not isinstance(self.keep_recent, int) or self.keep_recent < 0:
            raise InvalidInputError(f"keep_recent must be 0 or more, not {shown(self.keep_recent)}")
        _positive_int(self.tangent_limit, "tangent_limit", optional=False)
        check_number(self.stale_days, "stale_days")
        _positive_int(self.tool_output_tokens, "tool_output_tokens")
        if not isinstance(self.gc, bool):
            raise InvalidInputError(f"gc must be True or False, not {shown(self.gc)}")

    @property
    def callback_list(self) -> list[Callback]:
        """The callbacks as a list (empty when there are none)."""
        if self.callbacks is None:
            return []
        if callable(self.callbacks):
            return [self.callbacks]
        if isinstance(self.callbacks, Sequence) and not isinstance(self.callbacks, str | bytes):
            return list(self.callbacks)
        raise InvalidInputError(f"callbacks must be a callable or a list of them, not {shown(self.callbacks)}")

    @property
    def effective_autonomy(self) -> str:
        """The autonomy actions run with: ``autonomy``, else collaborative with callbacks, else autonomous."""
        if self.autonomy is not None:
            return self.autonomy
        return "collaborative" if self.callback_list else "autonomous"

    @property
    def threshold(self) -> float:
        """The budget share at which the rules compress."""
        return self.compress_at or self.triggers.on_token_threshold or 0.8

    def to_stored(self) -> dict[str, Any]:
        """The stored part (everything but the model and the callbacks)."""
        data = asdict(self)
        data.pop("callbacks")
        data.pop("llm")
        return data

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> OrchestratorConfig:
        """Rebuild from :meth:`to_stored` (unknown keys from a newer tract are ignored)."""
        known = {f for f in cls.__dataclass_fields__ if f not in ("callbacks", "llm")}
        values = {k: v for k, v in data.items() if k in known}
        values["triggers"] = TriggerConfig(**values.get("triggers", {}))
        return cls(**values)
