"""TEMPORARY stub (not committed): replaced by the real detector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DriftMessage:
    key: str
    role: str
    content_type: str
    text: str


@dataclass(frozen=True)
class DriftReport:
    drifted: bool
    score: float
    switch_rate: float
    start: str | None
    reason: str


class DriftDetector:
    def __init__(self, window: int = 6, scorer: Any = None, **kw: Any) -> None:
        self.window = window
        self.seen: list[DriftMessage] = []

    def observe(self, message: DriftMessage) -> None:
        self.seen.append(message)

    def report(self) -> DriftReport:
        hits = [m for m in self.seen[-self.window :] if "japan" in m.text.lower()]
        if len(hits) >= 3:
            return DriftReport(True, 0.9, 0.0, hits[0].key, "drift to japan")
        return DriftReport(False, 0.0, 0.0, None, "")

    @property
    def observed(self) -> int:
        return len(self.seen)
