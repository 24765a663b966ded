"""The :class:`Policy` protocol and the :class:`PolicyAction` a policy returns.

A policy is any object with ``name``, ``priority``, ``trigger`` and ``evaluate(tract)``. Evaluation
is fast and pure: it reads the tract (``status()``, ``log()``, ``compile()``...) and returns an
action or None; it never writes or calls an LLM. The work (a summary, a branch) happens when the
action executes, which the tract's autonomy decides (see :mod:`tract_core.policies.engine`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from ..errors import InvalidInputError, shown

__all__ = [
    "Policy",
    "PolicyAction",
    "Trigger",
    "Autonomy",
    "Risk",
    "TRIGGERS",
    "AUTONOMY_LEVELS",
    "BUILTIN_KINDS",
    "default_risk",
    "check_autonomy",
    "KIND_LIMIT",
]

Trigger = Literal["commit", "compile"]
Autonomy = Literal["manual", "collaborative", "autonomous"]
Risk = Literal["low", "high"]

TRIGGERS: tuple[str, ...] = ("commit", "compile")
"""When a policy is evaluated: after a commit lands, or after a compile."""

AUTONOMY_LEVELS: tuple[str, ...] = ("manual", "collaborative", "autonomous")
"""``manual``: every action is a proposal; ``collaborative``: low-risk actions execute, high-risk
ones are proposed; ``autonomous``: every action executes."""

BUILTIN_KINDS: tuple[str, ...] = (
    "annotate",
    "compress",
    "branch",
    "archive",
    "merge",
    "gc",
    "edit",
    "fold",
    "set_lifecycle",
)
"""Action kinds tract executes itself; any other kind needs the policy's (or the action's) ``execute``.
``fold`` compresses a tangent branch into one summary and merges it back (the orchestrator's)."""

KIND_LIMIT = 64
"""The longest action kind a proposal stores, on every backend."""

_LOW_RISK = frozenset({"annotate", "archive", "set_lifecycle"})


def default_risk(kind: str) -> Risk:
    """``"low"`` for pin/skip annotations, lifecycle changes and archiving (all reversible), ``"high"`` for
    everything else."""
    return "low" if kind in _LOW_RISK else "high"


def check_autonomy(value: Any, what: str = "autonomy") -> Autonomy:
    """``value`` if it is an autonomy level, else InvalidInputError naming the three."""
    if value not in AUTONOMY_LEVELS:
        raise InvalidInputError(f"{what} must be 'manual', 'collaborative' or 'autonomous', not {shown(value)}")
    return value  # checked above: one of the three


@dataclass(frozen=True)
class PolicyAction:
    """What a policy wants done, and why.

    Attributes:
        kind: ``annotate``, ``compress``, ``branch``, ``archive``, ``merge``, ``gc``, ``edit``, ``set_lifecycle``, or a
            custom name (executed by ``execute``, or by the policy's ``execute(tract, action)``).
        params: The action's parameters, JSON data (commit ids as strings): they are stored with the
            proposal, so another process can approve and execute it.
        reason: One human sentence: "Context at 84% of 128,000 tokens; compress the 140 messages
            before the last 6".
        risk: ``"low"`` or ``"high"``; by default low for annotate/archive, high for the others.
        execute: For a custom kind, how to carry it out: ``execute(tract, params)``. Not stored; a
            proposal decided in another process uses the configured policy's ``execute``.
    """

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""
    risk: Risk | None = None
    execute: Callable[[Any, Mapping[str, Any]], Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind.strip():
            raise InvalidInputError(f"a PolicyAction needs a kind (e.g. 'annotate'), not {shown(self.kind)}")
        if len(self.kind) > KIND_LIMIT:
            raise InvalidInputError(f"a PolicyAction kind is at most {KIND_LIMIT} characters, not {len(self.kind)}")
        if not isinstance(self.params, Mapping):
            raise InvalidInputError(f"PolicyAction params must be a mapping, not {type(self.params).__name__}")
        if not isinstance(self.reason, str):
            raise InvalidInputError("PolicyAction reason must be a string (one human sentence)")
        if self.risk is None:
            object.__setattr__(self, "risk", default_risk(self.kind))
        elif self.risk not in ("low", "high"):
            raise InvalidInputError(f"PolicyAction risk must be 'low' or 'high', not {shown(self.risk)}")
        if self.execute is not None and not callable(self.execute):
            raise InvalidInputError("PolicyAction execute must be callable: execute(tract, params)")


@runtime_checkable
class Policy(Protocol):
    """Something that watches a tract and proposes actions.

    Attributes:
        name: Unique among a tract's policies; proposals and the log name it.
        priority: Lower runs first.
        trigger: ``"commit"`` (after each commit lands) or ``"compile"`` (after each compile).

    Optional attributes the engine honours: ``autonomy`` (overrides the tract's for this policy),
    ``one_pending`` (True: while a proposal of this policy and kind is pending, it makes no other),
    ``execute(tract, action)`` (carries out a custom kind) and ``to_config()`` (the keyword
    arguments that rebuild the policy when the tract is reopened).
    """

    name: str
    priority: int
    trigger: str

    def evaluate(self, tract: Any) -> PolicyAction | None:
        """Look at the tract; return what should be done, or None. Fast and pure: no writes, no LLM."""
        ...
