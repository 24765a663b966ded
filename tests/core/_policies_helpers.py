"""Policies the policy tests configure, in a module of its own so a stored configuration can name
them by import path (``_policies_helpers:KeywordSkipPolicy``).

The tests put this folder on ``sys.path`` before they
configure or restore one of these; pytest's ``--import-mode=importlib`` does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tract_core import Tract
from tract_core.formats.content import text_of
from tract_core.policies import PolicyAction

MODULE = "_policies_helpers"
"""The name this module is imported under."""


class KeywordSkipPolicy:
    """A custom commit policy: proposes SKIP for a new message that mentions one of ``words``."""

    trigger = "commit"

    def __init__(self, words: Sequence[str] = ("password",), *, name: str = "keywords", priority: int = 50) -> None:
        self.words = tuple(words)
        self.name = name
        self.priority = priority

    def to_config(self) -> dict[str, Any]:
        return {"words": list(self.words), "name": self.name, "priority": self.priority}

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        newest = tract.log(1)
        if not newest or newest[0].role is None:
            return None
        text = text_of(newest[0].content).lower()
        hits = [w for w in self.words if w in text]
        if not hits or tract.show(newest[0].hash).annotations:
            return None
        return PolicyAction(
            "annotate",
            {"target": newest[0].hash, "priority": "skip", "reason": f"mentions {hits[0]}"},
            reason=f"Hide {newest[0].hash[:12]}: it mentions {hits[0]}",
        )
