"""``PinPolicy``: protect instructions and messages that match given patterns."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import CommitNotFoundError, InvalidInputError
from ..formats.content import text_of
from ..objects import Operation, Priority
from .policy import PolicyAction

if TYPE_CHECKING:
    from ..records import CommitInfo
    from ..tract import Tract

__all__ = ["PinPolicy"]

_LOOK_BACK = 64
"""Most commits one evaluation looks at (after a large batch)."""


@dataclass(frozen=True)
class _NewMessage:
    """What PinPolicy needs of a new message, read from the compiled context (no store read)."""

    hash: str
    role: str | None
    content_type: str
    content: Any
    operation: Operation = Operation.APPEND
    response_to: str | None = None
    annotations: tuple[Any, ...] = ()


def _it(count: int) -> str:
    return "it" if count == 1 else "them"


class PinPolicy:
    """Pins each new commit whose content type is in ``content_types`` or whose text matches one of
    ``patterns`` (regular expressions, case-insensitive), with an explicit, audited annotation.

    Instructions are pinned by default already; the explicit pin keeps them protected if their
    default changes and records why. A message already annotated (by anyone) is left alone, so a
    person's decision is never overridden. Low risk: it executes in ``collaborative`` mode.

    Args:
        content_types: Content types to pin (default: instructions).
        patterns: Regular expressions, e.g. ``("must never", r"severity:\\s*critical")``.
        name: The policy's name; priority: lower runs first; autonomy: overrides the tract's.
    """

    trigger = "commit"

    def __init__(
        self,
        content_types: Sequence[str] = ("instruction",),
        patterns: Sequence[str] = (),
        *,
        name: str = "pin",
        priority: int = 10,
        autonomy: str | None = None,
    ) -> None:
        if isinstance(content_types, str) or isinstance(patterns, str):
            raise InvalidInputError("PinPolicy content_types and patterns are lists (e.g. patterns=['must never'])")
        try:
            self._compiled = [re.compile(p, re.IGNORECASE) for p in patterns]
        except (re.error, TypeError) as error:
            raise InvalidInputError(f"PinPolicy pattern is not a regular expression: {error}") from None
        self.content_types = tuple(content_types)
        self.patterns = tuple(patterns)
        self.name = name
        self.priority = priority
        self.autonomy = autonomy
        self._seen: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"PinPolicy(content_types={list(self.content_types)}, patterns={list(self.patterns)})"

    def to_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this policy."""
        return {
            "content_types": list(self.content_types),
            "patterns": list(self.patterns),
            "name": self.name,
            "priority": self.priority,
        }

    def matches(self, content_type: str, text: str) -> str | None:
        """Why a message with this content type and text should be pinned (None: it should not)."""
        if content_type in self.content_types:
            return f"{content_type} message"
        for pattern in self._compiled:
            if pattern.search(text):
                return f"it matches {pattern.pattern!r}"
        return None

    def _new_commits(self, tract: Tract) -> tuple[list[CommitInfo | _NewMessage], bool]:
        """The commits since the last evaluation on this tract, oldest first (at most ``_LOOK_BACK``:
        the first time, the last ``_LOOK_BACK`` commits), and whether they come from ``show()``
        (with their annotations)."""
        key = f"{id(tract.store)}:{tract.tract_id}"
        seen = self._seen.get(key)
        context = tract.compile()  # cached: the newest messages cost no read
        if seen is not None and context.head == seen:
            return [], True
        if seen is not None and len(context) >= 2:
            last, before = context.entry(-1), context.entry(-2)
            if last.commit == context.head and before.commit == seen:  # one new message on top of the last seen
                self._seen[key] = last.commit
                return [_NewMessage(last.commit, last.role, last.content_type, last.message.get("content"))], False
        if seen is not None:  # usually one new commit on top of the last one seen: one read
            try:
                newest = tract.show()
            except CommitNotFoundError:  # HEAD was emptied (start_over, reset(None))
                return [], True
            if newest.hash == seen:
                return [], True
            if newest.parents == (seen,):
                self._seen[key] = newest.hash
                return [newest], True
        fresh: list[CommitInfo | _NewMessage] = []
        for limit in (4, _LOOK_BACK):  # a few new commits (a batch brings more)
            fresh = []
            for commit in tract.log(limit):
                if commit.hash == seen:
                    break
                fresh.append(commit)
            else:
                continue
            break
        if fresh:
            self._seen[key] = fresh[0].hash
        fresh.reverse()
        return fresh, False

    def _proposed(self, tract: Tract) -> set[str]:
        """Messages this policy already proposed to pin (pending, rejected...): a new handle's first
        look over past commits does not propose them again."""
        found: set[str] = set()
        for proposal in tract.proposals():
            if proposal.policy == self.name and proposal.kind == "annotate":
                found.update(t for t in [proposal.params.get("target"), *proposal.params.get("targets", ())] if t)
        return found

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        """A pin for each commit since the last evaluation (one, or a batch's) that matches and whose
        message carries no annotation yet; O(new commits)."""
        targets: list[str] = []
        reasons: list[str] = []
        whys: list[str] = []
        first = f"{id(tract.store)}:{tract.tract_id}" not in self._seen
        commits, shown = self._new_commits(tract)
        decided = self._proposed(tract) if first and len(commits) > 1 else set()
        for commit in commits:
            if commit.role is None:
                continue
            why = self.matches(commit.content_type, text_of(commit.content))
            if why is None:
                continue
            target = commit.response_to if commit.operation == Operation.EDIT and commit.response_to else commit.hash
            own = shown and target == commit.hash  # show() already read this message's annotations
            if (
                target in targets
                or target in decided
                or (commit.annotations if own else tract.show(target).annotations)
            ):
                continue
            targets.append(target)
            whys.append(why)
            reasons.append(f"{target[:12]} ({why})")
        if not targets:
            return None
        params: dict[str, Any] = {"priority": Priority.PINNED.value}
        if len(targets) == 1:
            params.update(target=targets[0], reason=f"PinPolicy: {whys[0]}")
        else:
            params.update(targets=targets, reason="PinPolicy: " + "; ".join(reasons))
        return PolicyAction(
            "annotate",
            params,
            reason=f"Pin {', '.join(reasons)} so compression and trimming keep {_it(len(targets))} verbatim",
        )
