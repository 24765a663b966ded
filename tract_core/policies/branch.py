"""``BranchPolicy``: move a conversation's tangent to its own branch when the topic drifts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CommitNotFoundError
from ..formats.content import text_of
from ..objects import Operation
from .drift import DriftDetector, DriftMessage
from .execute import TANGENT_PREFIX
from .policy import PolicyAction

if TYPE_CHECKING:
    from ..records import CommitInfo
    from ..tract import Tract

__all__ = ["BranchPolicy"]

_CATCH_UP = 64
"""New commits read per evaluation before the detector is rebuilt from the compiled context."""


@dataclass
class _Watch:
    """What the policy has seen of one branch of one tract."""

    detector: DriftDetector
    head: str | None
    rejected: set[str] = field(default_factory=set)
    """Tangent starts whose branch proposal was rejected."""


class BranchPolicy:
    """Detects topic drift and moves the tangent to a new branch ``tangent/<n>``.

    A :class:`~tract_core.policies.drift.DriftDetector` follows the conversation incrementally
    (each evaluation reads only the commits since the last one): the lexical drift of the last
    ``window`` messages from the established topic, and rapid switching between content types.
    No LLM or embedding is needed; ``scorer=`` takes an embedding function
    (``texts -> vectors``) to measure drift semantically instead. When it fires, the action puts
    the tangent (from its first message to HEAD) on ``tangent/<n>``, moves the current branch back
    to where the tangent began, and checks the tangent branch out so the conversation goes on there.
    High risk: proposed in ``collaborative`` mode; once its proposal for a tangent is rejected, it
    does not propose moving that tangent again.

    Args:
        window: Recent messages compared with the established topic.
        threshold: Drift score (0..1) above which the window is off-topic (default: the detector's).
        scorer: An embedding function for semantic drift (not stored with the configuration).
        name: The policy's name; priority: lower runs first; autonomy: overrides the tract's.
        **detector: Further :class:`DriftDetector` settings (``min_topic``, ``switch_threshold``).
    """

    trigger = "commit"
    one_pending = True

    def __init__(
        self,
        window: int = 6,
        *,
        threshold: float | None = None,
        scorer: Callable[[Sequence[str]], Sequence[Sequence[float]]] | None = None,
        name: str = "branch",
        priority: int = 200,
        autonomy: str | None = None,
        **detector: Any,
    ) -> None:
        self._settings: dict[str, Any] = {"window": window, **detector}
        if threshold is not None:
            self._settings["threshold"] = threshold
        self.scorer = scorer
        DriftDetector(**self._settings, scorer=scorer)  # check the settings now
        self.window = window
        self.name = name
        self.priority = priority
        self.autonomy = autonomy
        self._watches: dict[tuple[int, str, str | None], _Watch] = {}

    def __repr__(self) -> str:
        return f"BranchPolicy(window={self.window})"

    def to_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this policy (the scorer is not stored)."""
        return {**self._settings, "name": self.name, "priority": self.priority}

    def _new_detector(self) -> DriftDetector:
        return DriftDetector(**self._settings, scorer=self.scorer)

    @staticmethod
    def _message(key: str, role: str | None, content_type: str, content: Any) -> DriftMessage | None:
        if role is None:
            return None
        return DriftMessage(key=key, role=role, content_type=content_type, text=text_of(content))

    def _tangent_start(self, tract: Tract, branch: str | None) -> str | None:
        """Where a tangent branch this policy made began (its conversation is the topic from there)."""
        if branch is None or not branch.startswith(TANGENT_PREFIX):
            return None
        for proposal in reversed(tract.proposals(status="executed")):
            outcome = proposal.outcome if isinstance(proposal.outcome, dict) else {}
            if proposal.kind == "branch" and outcome.get("branch") == branch:
                start = proposal.params.get("start")
                return start if isinstance(start, str) else None
        return None

    def _rejected(self, tract: Tract, start: str) -> bool:
        """Whether a branch proposal of this policy for the tangent beginning at ``start`` was rejected."""
        return any(
            p.policy == self.name and p.kind == "branch" and p.params.get("start") == start
            for p in tract.proposals(status="rejected")
        )

    def _rebuild(self, tract: Tract, branch: str | None) -> DriftDetector:
        detector = self._new_detector()
        entries = tract.compile().entries()
        start = self._tangent_start(tract, branch)
        if start is not None:
            keys = [e.commit for e in entries]
            entries = entries[keys.index(start) :] if start in keys else entries
        for entry in entries:
            message = self._message(entry.commit, entry.role, entry.content_type, entry.message.get("content"))
            if message is not None:
                detector.observe(message)
        return detector

    def _catch_up(self, tract: Tract, watch: _Watch | None, newest: CommitInfo, branch: str | None) -> _Watch:
        head = newest.hash
        if watch is not None and watch.head is not None:
            if newest.parents == (watch.head,):  # usually the one new commit, on top of the one seen last
                if newest.operation == Operation.APPEND:
                    message = self._message(newest.hash, newest.role, newest.content_type, newest.content)
                    if message is not None:
                        watch.detector.observe(message)
                watch.head = head
                return watch
            for limit in (4, _CATCH_UP):  # a few commits: read a few first
                fresh: list[CommitInfo] = []
                for commit in tract.log(limit):
                    if commit.hash == watch.head:
                        for info in reversed(fresh):
                            if info.operation == Operation.APPEND:
                                message = self._message(info.hash, info.role, info.content_type, info.content)
                                if message is not None:
                                    watch.detector.observe(message)
                        watch.head = head
                        return watch
                    fresh.append(commit)
        return _Watch(self._rebuild(tract, branch), head)

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        """A branch action when the last ``window`` messages drifted from the topic (one read of
        HEAD's commit per new commit; the detector follows incrementally)."""
        context = tract.compile()  # cached: the newest messages cost no read
        head = context.head
        if head is None:
            return None
        branch = tract.current_branch
        key = (id(tract.store), tract.tract_id, branch)
        watch = self._watches.get(key)
        if watch is not None and watch.head != head and len(context) >= 2:
            last, before = context.entry(-1), context.entry(-2)
            if last.commit == head and before.commit == watch.head:  # one new message on top of the last seen
                message = self._message(last.commit, last.role, last.content_type, last.message.get("content"))
                if message is not None:
                    watch.detector.observe(message)
                watch.head = head
        if watch is None or watch.head != head:
            try:
                newest = tract.show()
            except CommitNotFoundError:  # an empty tract
                return None
            watch = self._watches[key] = self._catch_up(tract, watch, newest, branch)
        report = watch.detector.report()
        if not report.drifted or report.start is None:
            return None
        if report.start in watch.rejected or self._rejected(tract, report.start):
            watch.rejected.add(report.start)
            return None  # someone said no to moving this tangent: not proposed again as it goes on
        return PolicyAction(
            "branch",
            {"start": report.start, "head": head, "score": round(report.score, 4)},
            reason=f"{report.reason.rstrip('.')}; continue the tangent on a new {TANGENT_PREFIX}<n> branch and keep "
            f"{branch or 'HEAD'} where it began",
        )
