"""Scenario X.4 run by policies: a monitoring agent that keeps its own context and storage healthy.

The agent runs for eight simulated hours (``tract_core.clock.use_clock``: the clock advances 40 to
90 seconds per alert, deterministically) on a SQLite file. Each alert is a user message such as
``ALERT 0142 severity: warning disk /var at 91% on web-3``; the agent compiles its context, a
deterministic stand-in for its model (:func:`acknowledge`) answers from it, and the reply is
committed. Nothing else in the loop maintains the tract: three policies do, autonomously, after
each commit:

* ``PinPolicy(patterns=[r"severity:\\s*critical"])`` pins every critical alert as it arrives;
* ``CompressPolicy(0.8, llm=summariser)`` compresses everything but the last few messages each time
  the context reaches 80% of the budget (the summariser is a deterministic scripted model);
* ``GcAfterCompression``, a small custom policy of this module, returns a ``gc`` action after each
  compression: archived originals and orphans older than one hour (simulated) are collected.

Checked: after every compression the context is below the threshold, every critical alert so far
is in it verbatim (once, in order), gc has just run and removed exactly the originals archived more
than an hour ago (younger ones stay readable); at every commit the context is within the budget;
there are at least 4 compressions; the policy log records each compression and gc as executed;
``verify()`` passes; and the database file stays flat (the bound is explained in the test), while
the same session without the gc policy keeps growing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tract_core import Tract, TractConfig
from tract_core.clock import use_clock
from tract_core.policies import CompressPolicy, PinPolicy, PolicyAction
from tract_core.testing import ScriptedLLM

START = 1_700_000_000.0
"""The simulated session starts here (UNIX seconds)."""
HOUR = 3600.0
SESSION = 8 * HOUR
BUDGET = 3_600
THRESHOLD = 0.8
KEEP_RECENT = 6
WINDOW_DAYS = 1 / 24
"""The seed's retention window: archived originals older than one hour are reclaimed."""
SYSTEM = "You are a monitoring agent. Acknowledge each alert in one line; page on-call for critical ones."

HOSTS = ("web-1", "web-2", "web-3", "db-1", "db-2", "cache-1", "queue-4")
CHECKS = (
    "disk /var at {v}%",
    "cpu at {v}% for 5m",
    "memory rss at {v}%",
    "p99 latency {v}0 ms",
    "error rate {v} per mille",
)
_ALERT = re.compile(r"ALERT (\d{4}) severity: (\w+)")
_FOLDED = re.compile(r"Summary of alerts (\d{4})-(\d{4}): (\d+) acknowledged")


def alert(i: int) -> tuple[str, bool]:
    """The i-th alert and whether it is critical (about one in seventeen)."""
    critical = i % 17 == 5
    severity = "critical" if critical else ("warning" if i % 3 else "info")
    check = CHECKS[i % len(CHECKS)].format(v=60 + (i * 7) % 40)
    return f"ALERT {i:04d} severity: {severity} {check} on {HOSTS[i % len(HOSTS)]}", critical


def pause_before(i: int) -> float:
    """Seconds between alert i-1 and alert i: 40 to 90, deterministic."""
    return 40.0 + (i * 37) % 51


def acknowledge(messages: list[dict[str, Any]]) -> str:
    """The agent's model: acknowledges the last alert of the compiled context."""
    number, severity = _ALERT.search(messages[-1]["content"]).groups()  # type: ignore[union-attr]
    return f"ack {number}: " + ("paged on-call, investigating" if severity == "critical" else "noted, within tolerance")


def summarise(prompt: list[dict[str, Any]]) -> str:
    """The summariser: a one-line account of the alerts in the transcript (earlier summaries folded in)."""
    transcript = prompt[-1]["content"]
    numbers = [int(n) for n, _ in _ALERT.findall(transcript)]
    count = len(numbers)
    for first, last, n in _FOLDED.findall(transcript):
        numbers += [int(first), int(last)]
        count += int(n)
    return (
        f"Summary of alerts {min(numbers):04d}-{max(numbers):04d}: {count} acknowledged, none open "
        "(critical alerts are pinned verbatim)."
    )


class GcAfterCompression:
    """A commit-triggered policy: after each compression, collect what is older than the window.

    It looks at the compressions only when the compiled context shrank since its last look (the
    context is cached, so that costs next to nothing per commit; a compression always shrinks it).
    Its action carries the compression's id, so each one is a distinct proposal (the engine records
    an action with the same policy, kind and parameters once) and two processes collect once.
    """

    trigger = "commit"

    def __init__(self, retention_days: float = WINDOW_DAYS, *, name: str = "gc", priority: int = 150) -> None:
        self.retention_days = retention_days
        self.name = name
        self.priority = priority
        self._collected: dict[str, int] = {}
        self._tokens: dict[str, int] = {}

    def to_config(self) -> dict[str, Any]:
        return {"retention_days": self.retention_days, "name": self.name, "priority": self.priority}

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        key = f"{id(tract.store)}:{tract.tract_id}"
        tokens = tract.compile().token_count
        shrank = tokens < self._tokens.get(key, tokens + 1)
        self._tokens[key] = tokens
        if not shrank:
            return None
        done = [c.id for c in tract.compressions() if c.status == "committed"]
        if not done or done[-1] == self._collected.get(key):
            return None
        self._collected[key] = done[-1]
        return PolicyAction(
            "gc",
            {
                "after_compression": done[-1],
                "archive_retention_days": self.retention_days,
                "orphan_retention_days": self.retention_days,
            },
            reason=f"compression #{done[-1]} archived the originals; collect what is older than "
            f"{self.retention_days * 24:g} hour(s)",
        )


@dataclass
class Pass:
    """One compression pass and the gc after it."""

    alert: int
    hour: float
    tokens_before: int
    tokens_after: int
    collected: int | None
    file_bytes: int | None


@dataclass
class Session:
    """What a run observed."""

    alerts: int = 0
    critical: list[str] = field(default_factory=list)
    passes: list[Pass] = field(default_factory=list)
    max_tokens: int = 0
    seconds: float = 0.0


def check_pinned(messages: list[dict[str, Any]], critical: list[str]) -> None:
    """Every critical alert so far is in the context verbatim, exactly once, in order."""
    chosen = set(critical)
    assert [m["content"] for m in messages if m["content"] in chosen] == critical, "a critical alert was lost"


def check_pass(t: Tract, seen: Session, now: float, collect: bool) -> None:
    """The checks after a compression pass; records it."""
    log = t.policy_log(4)
    compressed = next(e for e in log if e.kind == "compress")
    assert compressed.decision == "executed", compressed
    context = t.compile()
    assert context.token_count == compressed.detail["tokens_after"] < THRESHOLD * BUDGET
    check_pinned(context.messages, seen.critical)
    assert sum(m["content"].startswith("Summary of alerts") for m in context.messages) == 1
    collected = size = None
    if collect:
        gc = log[0]
        assert (gc.kind, gc.decision) == ("gc", "executed"), gc
        assert gc.proposal_id == compressed.proposal_id + 1  # in the same pass, right after it
        collected, size = gc.detail["commits"], gc.detail["file_bytes_after"]
        # The window: originals archived more than an hour ago are gone, younger ones stay readable.
        for record in t.compressions():
            archived = t.archived(record.id)
            if record.decided_at is not None and record.decided_at < now - HOUR:
                assert archived == [], f"compression #{record.id} is older than an hour; its originals stay"
            else:
                assert archived and t.show(archived[0]).hash == archived[0]
    seen.passes.append(
        Pass(
            seen.alerts,
            round((now - START) / HOUR, 2),
            compressed.detail["tokens_before"],
            compressed.detail["tokens_after"],
            collected,
            size,
        )
    )


def run_session(path: Any, *, collect: bool = True) -> tuple[Tract, Session]:
    """The X.4 loop; returns the open tract (the caller closes it) and what was observed."""
    clock = [START]
    seen = Session()
    started = time.perf_counter()
    t = Tract.open(path=path, tract_id="monitor", config=TractConfig(token_budget=BUDGET))
    with use_clock(lambda: clock[0]):
        policies: list[Any] = [
            CompressPolicy(THRESHOLD, llm=ScriptedLLM(summarise), keep_recent=KEEP_RECENT),
            PinPolicy(patterns=[r"severity:\s*critical"]),
        ]
        if collect:
            policies.append(GcAfterCompression())
        t.configure_policies(policies, autonomy="autonomous")
        t.system(SYSTEM)
        last_entry = [0]

        def after_commit() -> None:  # the policies have run when the commit call returns
            status = t.status()
            assert status.token_count <= BUDGET, f"alert {seen.alerts}: the context went over budget"
            seen.max_tokens = max(seen.max_tokens, status.token_count)
            new = [e for e in t.policy_log(4) if e.id > last_entry[0]]
            if new:
                last_entry[0] = new[0].id
                if any(e.kind == "compress" for e in new):
                    check_pass(t, seen, clock[0], collect)

        while clock[0] + pause_before(seen.alerts + 1) <= START + SESSION:
            seen.alerts += 1
            clock[0] += pause_before(seen.alerts)
            text, critical = alert(seen.alerts)
            if critical:
                seen.critical.append(text)
            t.user(text)
            after_commit()
            t.assistant(acknowledge(t.compile().to_openai()))
            after_commit()
    seen.seconds = time.perf_counter() - started
    return t, seen


@pytest.mark.slow
def test_x4_policies_keep_a_monitoring_agent_healthy(tmp_path):
    t, seen = run_session(tmp_path / "monitor.db")
    try:
        assert seen.alerts >= 300 and len(seen.critical) >= 15
        assert len(seen.passes) >= 4, f"only {len(seen.passes)} compressions in 8 hours"
        assert all(p.collected is not None and p.file_bytes for p in seen.passes)
        assert seen.passes[0].collected == 0  # nothing was an hour old at the first pass
        assert all(p.collected > 0 for p in seen.passes[1:])  # each later one collected the previous generation
        check_pinned(t.compile().messages, seen.critical)

        log = t.policy_log(None)
        executed = [e for e in log if e.decision == "executed"]
        assert sum(e.kind == "compress" for e in executed) == len(seen.passes)
        assert sum(e.kind == "gc" for e in executed) == len(seen.passes)
        pins = [e.reason for e in executed if e.kind == "annotate"]
        assert sum("severity" in r for r in pins) == len(seen.critical)
        assert sum("instruction message" in r for r in pins) == 1 == len(pins) - len(seen.critical)  # the system prompt
        assert not [e for e in log if e.decision in ("error", "failed", "paused", "proposed")]
        assert t.pending_proposals() == []
        assert t.verify() > 0
        t.store.reclaim("incremental")  # the WAL truncated, as after each gc
        final_bytes = t.store.file_bytes()
    finally:
        t.close()

    # The control: the same session and compressions without the gc policy.
    control, kept = run_session(tmp_path / "control.db", collect=False)
    try:
        assert [p.alert for p in kept.passes] == [p.alert for p in seen.passes]
        control.store.reclaim("incremental")  # a fair comparison: the WAL truncated, free pages returned
        control_bytes = control.store.file_bytes()
    finally:
        control.close()

    sizes = [p.file_bytes for p in seen.passes]
    print(
        f"\nX.4 with policies: {seen.alerts} alerts over 8 simulated hours in {seen.seconds:.1f} s, "
        f"{len(seen.critical)} critical, {len(seen.passes)} compressions, max context {seen.max_tokens} of {BUDGET}"
    )
    for p in seen.passes:
        print(
            f"  alert {p.alert:>4} at {p.hour:>5.2f} h: tokens {p.tokens_before} -> {p.tokens_after}, "
            f"gc removed {p.collected} commits, file {p.file_bytes:,} bytes"
        )
    print(f"  final file {final_bytes:,} bytes; without gc {control_bytes:,} bytes")

    # Flat. The first gc collects nothing (nothing is an hour old yet), so the steady state, one
    # generation of archived originals next to the live context, starts at the second pass: that
    # size is the reference. Past it the only rows that accumulate are the audit trail (a proposal
    # and a log row per pin, compression and gc, and the compacted compression records: well under
    # a kilobyte each) and the page-level slack of a B-tree keyed by hashes. 1.25x allows that and
    # is far below what a leak of one generation per pass (a third or more of the file each) would
    # produce; the control without gc shows that growth.
    reference = sizes[1]
    last_third = sizes[len(sizes) - max(1, len(sizes) // 3) :]
    assert max(last_third) <= 1.25 * reference, sizes
    assert final_bytes <= 1.25 * reference
    assert control_bytes >= 2 * final_bytes, (control_bytes, final_bytes)
