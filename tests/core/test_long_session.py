"""Scenario X.4 as a test: a monitoring agent that runs for hours, compressing and collecting garbage.

Each turn the agent receives an alert (a user message of about 150 characters) and acknowledges it
(an assistant message). Every 250th alert is critical and is PINNED when committed.
Whenever ``status().budget_ratio`` reaches 0.8, the agent compresses everything but the
``KEEP_RECENT`` most recent messages into a deterministic summary it writes itself, then runs
``gc``.

The seed says gc "reclaims the archived originals older than 1 hour", and the agent runs for 8 hours
with compressions about two hours apart. The test keeps that 1-hour window
(``orphan_retention_days = archive_retention_days = 1/24``) and compresses time with the ``now=``
argument: the gc after a compression runs with ``now = <real time just before that compression> +
1 hour``. So, as in the seed, everything archived by *earlier* compressions is older than the window
and is reclaimed, and what the compression just archived is younger and stays readable (``show``,
``compile(at_commit=<old head>)``) until the next pass. The store therefore holds at most one
generation of archived originals, which is what keeps the file flat. (``0`` for both windows would
work too and keep even less; the 1-hour window is the seed's and exercises the window arithmetic.)

Checked on a SQLite file (2000 turns):

- after every compression: the context is under budget (and at every turn it stays under budget),
  the summary appears once, right after the system prompt, the kept tail is unchanged, and every
  critical alert committed so far is in the context verbatim, once, in order;
- compression fires exactly at the turns an independent token tally (from each commit's
  ``token_count``) says the ratio first reaches 0.8, and the number of compressions is the one the
  budget implies (more than 3);
- each gc removes exactly the previous compression's archive, and the current one stays readable;
- the file size after each gc stays flat: the size after turn 2000 is within 1.25x of the size after
  turn 500, every post-gc size within 2x of the first, while a control run of the same session
  without gc grows more than 3x over the same turns and ends more than 3x larger;
- ``verify()`` passes, and a reopened tract compiles to the same digest.

The same loop runs briefly on PostgreSQL (fewer turns, a smaller budget): context under budget and
pinned alerts intact after every pass.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from tract_core import PINNED, Tract, TractConfig
from tract_core.testing import create_database

HOUR = 3600.0
WINDOW_DAYS = 1 / 24
"""The seed's retention window: archived originals older than one hour are reclaimed."""
TRIGGER = 0.8
"""The budget ratio at which the agent compresses (the seed's CompressPolicy threshold)."""
KEEP_RECENT = 20
"""Messages (10 turns) each compression leaves verbatim at the end of the context."""
SYSTEM = "You are a monitoring agent. Acknowledge every alert in one line; escalate critical ones."

HOSTS = ("web-01", "web-02", "db-primary", "db-replica", "cache-03", "queue-07", "edge-11")
CHECKS = ("cpu_load", "disk_used", "mem_rss", "p99_latency", "error_rate")
_NUMBER = re.compile(r"alert #(\d+)")
_SUMMARY = re.compile(r"alerts #(\d+)-#(\d+): (\d+) acknowledged")


def alert(i: int, critical_every: int) -> tuple[str, bool]:
    """The i-th alert (about 150 characters) and whether it is critical."""
    critical = i % critical_every == 0
    severity = "CRITICAL" if critical else ("warning" if i % 3 else "info")
    host, check = HOSTS[i % len(HOSTS)], CHECKS[i % len(CHECKS)]
    text = (
        f"[{severity}] alert #{i:04d} host={host} check={check} value={40 + i % 60}% threshold=85% "
        f"window=5m since=t+{i * 14}s runbook=rb/{i % 17:02d} owner=oncall"
    )
    return text, critical


def summarise(messages: list[dict[str, Any]]) -> str:
    """A deterministic summary of the messages a compression replaces (earlier summaries folded in)."""
    first, last, count = None, None, 0
    severities: dict[str, int] = {}
    for message in messages:
        content = message["content"]
        folded = _SUMMARY.search(content) if message["role"] == "system" else None
        if folded:
            a, b, n = (int(g) for g in folded.groups())
            first, last, count = a if first is None else min(first, a), max(last or 0, b), count + n
            for severity, k in re.findall(r"(\w+)=(\d+)", content.split("severities:")[1]):
                severities[severity] = severities.get(severity, 0) + int(k)
        elif message["role"] == "user":
            number = int(_NUMBER.search(content).group(1))  # type: ignore[union-attr]
            first = number if first is None else min(first, number)
            last, count = max(last or 0, number), count + 1
            severity = content[1 : content.index("]")]
            severities[severity] = severities.get(severity, 0) + 1
    listing = " ".join(f"{s}={severities[s]}" for s in sorted(severities))
    return (
        f"Summary of alerts #{first:04d}-#{last:04d}: {count} acknowledged, none escalated "
        f"(critical alerts are pinned below). severities: {listing}"
    )


@dataclass
class Pass:
    """One compression pass: when it fired and what it and the gc after it did."""

    turn: int
    tokens_before: int
    tokens_after: int
    file_bytes: int | None
    """The SQLite file's size after the gc that followed (None without gc, or on PostgreSQL)."""


@dataclass
class Run:
    """What the run observed."""

    passes: list[Pass] = field(default_factory=list)
    critical: list[str] = field(default_factory=list)
    predicted_triggers: list[int] = field(default_factory=list)
    turn_tokens: list[int] = field(default_factory=list)
    checkpoints: dict[int, int | None] = field(default_factory=dict)


def pinned_in_order(messages: list[dict[str, Any]], critical: list[str]) -> None:
    """Every critical alert committed so far is in ``messages`` verbatim, exactly once, in order."""
    contents = [m["content"] for m in messages]
    chosen = set(critical)
    assert [c for c in contents if c in chosen] == critical, "a pinned critical alert was lost, repeated or moved"


def run_session(
    t: Tract,
    turns: int,
    *,
    critical_every: int,
    checkpoints: tuple[int, ...] = (),
    collect: bool = True,
) -> Run:
    """The X.4 loop, checking the context after every turn and every compression pass.

    ``collect=False`` runs the same compressions without gc (the control the file sizes are compared to).
    """
    budget = t.config.token_budget
    assert budget is not None
    seen = Run()
    system = t.system(SYSTEM)
    tokens_of = {SYSTEM: system.token_count}  # each message's tokens, as its commit reported them
    priming = t.status().token_count - system.token_count
    tally = t.status().token_count  # an independent running total of the context's tokens
    previous = None
    for i in range(1, turns + 1):
        text, critical = alert(i, critical_every)
        info = t.user(text)
        if critical:
            t.annotate(info, PINNED, reason="severity: critical")
            seen.critical.append(text)
        ack = t.assistant(
            f"ack #{i:04d}: escalated to on-call" if critical else f"ack #{i:04d}: noted, within tolerance"
        )
        tokens_of[text], tokens_of[ack.content] = info.token_count, ack.token_count
        seen.turn_tokens.append(info.token_count + ack.token_count)
        tally += info.token_count + ack.token_count
        status = t.status()
        assert status.token_count == tally, "the context's token count is not the sum of its messages"
        assert status.token_count < budget, f"turn {i}: the context went over budget"
        if tally >= TRIGGER * budget:
            seen.predicted_triggers.append(i)
        if status.budget_ratio >= TRIGGER:
            before = t.compile()
            replaced = [
                m for m in before.messages[1:-KEEP_RECENT] if m["content"] not in set(seen.critical)
            ]  # what the summary stands for: everything but the system prompt, the tail and the pinned
            mark = time.time()
            result = t.compress(content=summarise(replaced), keep_recent=KEEP_RECENT)
            assert len(result.replaced) == len(replaced)
            size = None
            if collect:
                gc = t.gc(orphan_retention_days=WINDOW_DAYS, archive_retention_days=WINDOW_DAYS, now=mark + HOUR)
                # The previous pass's originals are past the 1-hour window and go; this pass's stay readable.
                assert gc.archived == len(gc.commits) == (0 if previous is None else len(previous.archived))
                assert t.archived() == sorted(result.archived)
                if previous is not None:
                    assert t.archived(previous) == []
                size = gc.file_bytes_after
            assert t.show(result.archived[0]).hash == result.archived[0]
            assert t.compile(at_commit=before.head).digest == before.digest

            after = t.compile()
            contents = [m["content"] for m in after.messages]
            tally = priming + result.summary.token_count + sum(tokens_of[c] for c in contents if c in tokens_of)
            assert after.token_count == result.tokens_after == t.status().token_count == tally
            assert after.token_count < TRIGGER * budget / 2, "compression left the context too large"
            assert contents[0] == SYSTEM
            assert contents[1] == summarise(replaced) and contents.count(contents[1]) == 1
            assert after.messages[-KEEP_RECENT:] == before.messages[-KEEP_RECENT:], "the kept tail changed"
            pinned_in_order(after.messages, seen.critical)
            t.verify()
            seen.passes.append(Pass(i, result.tokens_before, result.tokens_after, size))
            previous = result
        if i in checkpoints:  # measure after the same maintenance pass (without gc: after a WAL checkpoint)
            if collect:
                clock = (mark if seen.passes else time.time()) + HOUR
                gc = t.gc(orphan_retention_days=WINDOW_DAYS, archive_retention_days=WINDOW_DAYS, now=clock)
                assert gc.commits == ()  # nothing new is past its window since the last pass
            else:
                t.store.reclaim("incremental")
            seen.checkpoints[i] = t.store.file_bytes()
    pinned_in_order(t.compile().messages, seen.critical)
    return seen


def check_trigger_points(seen: Run, budget: int, turns: int) -> None:
    """Compression fired exactly where the budget says, and as many times as it implies."""
    assert [p.turn for p in seen.passes] == seen.predicted_triggers
    for p in seen.passes:
        assert TRIGGER * budget <= p.tokens_before < budget
    # Each cycle refills the context from (at most) the largest post-compression size to 80% of the
    # budget, a turn at a time: that bounds the number of passes the run must have made.
    low, high = min(seen.turn_tokens), max(seen.turn_tokens)
    refill_min = TRIGGER * budget - max(p.tokens_after for p in seen.passes)
    refill_max = TRIGGER * budget
    shortest, longest = math.floor(refill_min / high), math.ceil(refill_max / low)
    assert turns // longest <= len(seen.passes) <= math.ceil(turns / shortest)


@pytest.mark.slow
def test_x4_long_running_monitoring_agent_on_sqlite(tmp_path):
    budget, turns, critical_every = 24_000, 2000, 250
    path = tmp_path / "monitor.db"
    started = time.perf_counter()
    t = Tract.open(path=path, tract_id="monitor", config=TractConfig(token_budget=budget))
    try:
        seen = run_session(t, turns, critical_every=critical_every, checkpoints=(500, turns))
        check_trigger_points(seen, budget, turns)
        assert len(seen.passes) > 3
        assert len(seen.critical) == turns // critical_every

        final = t.compile()
        assert final.token_count < budget
        assert t.verify() > 0
        head = t.head
    finally:
        t.close()

    reopened = Tract.open(path=path, tract_id="monitor")
    try:
        assert reopened.config.token_budget == budget
        assert reopened.head == head
        assert reopened.compile().digest == final.digest
        pinned_in_order(reopened.compile().messages, seen.critical)
        assert reopened.verify() > 0
    finally:
        reopened.close()
    elapsed = time.perf_counter() - started

    # The control: the same session, the same compressions, no gc.
    control_path = tmp_path / "control.db"
    with Tract.open(path=control_path, tract_id="monitor", config=TractConfig(token_budget=budget)) as control:
        kept = run_session(control, turns, critical_every=critical_every, checkpoints=(500, turns), collect=False)
        assert [p.turn for p in kept.passes] == [p.turn for p in seen.passes]
        assert control.compile().digest == final.digest  # gc changed nothing the model sees

    sizes = [p.file_bytes for p in seen.passes]
    at_500, at_end = seen.checkpoints[500], seen.checkpoints[turns]
    print(
        f"\nX.4 sqlite: {turns} turns in {elapsed:.1f} s, {len(seen.passes)} compressions at turns "
        f"{[p.turn for p in seen.passes]}; file bytes after each gc {sizes}; after turn 500: {at_500}, "
        f"after turn {turns}: {at_end}; without gc: {kept.checkpoints[500]} and {kept.checkpoints[turns]}"
    )
    assert all(isinstance(s, int) and s > 0 for s in sizes)
    # Flat: the file does not grow with the number of turns. (The first gc reclaims nothing yet: only
    # from the second pass on does the store hold its steady state of one archived generation.)
    assert at_end <= 1.25 * at_500
    assert max(sizes) <= 2 * sizes[0]
    assert max(sizes[1:]) <= 1.25 * sizes[1]
    # Without gc the same session keeps growing; with it, the file stays a fraction of that.
    assert kept.checkpoints[turns] >= 3 * kept.checkpoints[500]
    assert at_end * 3 < kept.checkpoints[turns]
    assert elapsed < 60


@pytest.mark.slow
def test_x4_long_running_monitoring_agent_on_postgres(postgres_server):
    budget, turns, critical_every = 4_000, 300, 40
    url = create_database(postgres_server)
    t = Tract.open(url=url, tract_id="monitor", config=TractConfig(token_budget=budget))
    try:
        seen = run_session(t, turns, critical_every=critical_every)
        check_trigger_points(seen, budget, turns)
        assert len(seen.passes) > 3
        assert all(p.file_bytes is None for p in seen.passes)  # no file to measure on PostgreSQL
        assert t.verify() > 0
        digest = t.compile().digest
    finally:
        t.close()
    reopened = Tract.open(url=url, tract_id="monitor")
    try:
        assert reopened.compile().digest == digest
        pinned_in_order(reopened.compile().messages, seen.critical)
    finally:
        reopened.close()
