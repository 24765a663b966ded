"""``PinPolicy``: protect instructions and messages that match given patterns."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import CommitNotFoundError, InvalidInputError
from ..formats.content import text_of
from ..objects import Operation, Priority
from .policy import PolicyAction

if TYPE_CHECKING:
    from ..tract import Tract

__all__ = ["PinPolicy"]


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

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        """A pin for HEAD's commit if it matches and its message carries no annotation yet (O(1): one
        read of HEAD's commit, which brings its message's annotations along)."""
        try:
            commit = tract.show()
        except CommitNotFoundError:  # an empty tract
            return None
        if commit.role is None:
            return None
        why = self.matches(commit.content_type, text_of(commit.content))
        if why is None:
            return None
        target = commit.response_to if commit.operation == Operation.EDIT and commit.response_to else commit.hash
        if commit.annotations:  # show() gives the annotations of the message (the EDIT's original)
            return None
        return PolicyAction(
            "annotate",
            {"target": target, "priority": Priority.PINNED.value, "reason": f"PinPolicy: {why}"},
            reason=f"Pin {target[:12]} ({why}) so compression and trimming keep it verbatim",
        )
