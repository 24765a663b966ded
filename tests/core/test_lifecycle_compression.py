"""Compression does not restart lifecycle ages: a Temporary or Cyclic node is shown, in the cycles
after a compression, exactly when it would have been shown without it.

Each scenario is played twice on SQLite files, once with a compression at a given point and once
without, and the visibility of the lifecycle nodes is compared cycle by cycle afterwards (incrementally,
and cold from a reopened file).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tract_core import PINNED, SKIP, Cyclic, InvalidInputError, Lifecycle, Temporary, Tract
from tract_core.tree.lifecycle import cycles_sealed

NODES = ("temp", "tick", "pair", "late")


def visible(t: Tract) -> str:
    """Which lifecycle nodes the compiled context shows, as a compact string (``temp+tick``)."""
    texts = {str(m.get("content")) for m in t.compile().messages}
    return "+".join(n for n in NODES if n in texts) or "-"


def opening(t: Tract) -> dict[str, Any]:
    """System prompt, three exchanges; the lifecycle nodes sit in the middle one."""
    t.system("S")
    t.user("q0")
    first = t.assistant("a0")
    t.user("temp", lifecycle=Temporary(5))
    t.user("tick", lifecycle=Cyclic(3))
    t.user("pair", lifecycle=Lifecycle(ttl=7, cadence=2))
    t.assistant("a1")
    skipped = t.assistant("a1 again")
    t.annotate(skipped.hash, SKIP)  # a skipped reply still sealed its cycle
    t.user("q2")
    t.assistant("a2")
    t.user("q3")
    return {"first": first.hash}


def default_range(t: Tract, marks: dict[str, Any]) -> None:
    t.compress("SUMMARY", keep_recent=1)


def assistant_summary(t: Tract, marks: dict[str, Any]) -> None:
    t.compress("SUMMARY", keep_recent=1, summary_role="assistant")


def nodes_before_the_range(t: Tract, marks: dict[str, Any]) -> None:
    """The range starts after the lifecycle nodes: they keep their commits, the cycles after them go."""
    log = [c for c in t.log(limit=100) if c.content in ("q2", "a2")]
    q2, a2 = sorted(log, key=lambda c: c.content != "q2")
    t.compress("SUMMARY", from_commit=q2.hash, to_commit=a2.hash)


def twice(t: Tract, marks: dict[str, Any]) -> None:
    """A second compression summarises the first one's summary (and the cycles it stands for)."""
    t.compress("SUMMARY", keep_recent=1)
    t.assistant("a3")
    t.user("late", lifecycle=Temporary(4))
    t.assistant("a4")
    t.user("q5")
    t.compress("SUMMARY 2", keep_recent=1)


def twice_baseline(t: Tract, marks: dict[str, Any]) -> None:
    t.assistant("a3")
    t.user("late", lifecycle=Temporary(4))
    t.assistant("a4")
    t.user("q5")


def pinned_reply_in_range(t: Tract, marks: dict[str, Any]) -> None:
    """A PINNED reply kept verbatim after the summary still seals its own cycle."""
    t.annotate(marks["first"], PINNED)
    t.compress("SUMMARY", keep_recent=1)


def pinned_baseline(t: Tract, marks: dict[str, Any]) -> None:
    t.annotate(marks["first"], PINNED)


Step = Callable[[Tract, dict[str, Any]], None]


def nothing(t: Tract, marks: dict[str, Any]) -> None:
    pass


def play(path: Path, compress: Step) -> list[str]:
    """The opening, ``compress``, then eight cycles: which nodes each compile shows, then the same cold."""
    rows = []
    with Tract.open(path=path) as t:
        compress(t, opening(t))
        rows.append(visible(t))
        for i in range(8):
            t.assistant(f"r{i}")
            t.user(f"u{i}")
            rows.append(visible(t))
        heads = [c.hash for c in reversed(t.log(limit=17))]
    with Tract.open(path=path) as cold:  # every state again, compiled from history alone
        again = [visible_at(cold, h) for h in heads[::2]]
    assert again == rows, "a cold compile disagrees with the incremental one"
    return rows


def visible_at(t: Tract, head: str) -> str:
    texts = {str(m.get("content")) for m in t.compile(at_commit=head).messages}
    return "+".join(n for n in NODES if n in texts) or "-"


@pytest.mark.parametrize(
    ("compressed", "baseline"),
    [
        (default_range, nothing),
        (assistant_summary, nothing),
        (nodes_before_the_range, nothing),
        (twice, twice_baseline),
        (pinned_reply_in_range, pinned_baseline),
    ],
    ids=lambda f: f.__name__,
)
def test_nodes_kept_by_compression_are_shown_in_the_cycles_they_would_have_been(
    tmp_path: Path, compressed: Step, baseline: Step
) -> None:
    expected = play(tmp_path / "plain.db", baseline)
    assert "temp" in expected[0] and "temp" not in expected[-1]  # the scenario does reach the ttl
    assert play(tmp_path / "compressed.db", compressed) == expected


def test_the_summary_records_its_cycles_and_a_kept_node_its_elapsed_ones():
    with Tract.open() as t:
        opening(t)
        result = t.compress("SUMMARY", keep_recent=1)
        summary = result.summary
        assert summary is not None
        # a0, a1, the skipped "a1 again" and a2 sealed cycles; the summary stands for all four
        assert summary.metadata["compression"]["cycles"] == 4
        kept = {t.show(h).content: t.show(h).lifecycle for h in result.kept}
        # each node had three of those cycles after it (a1, a1 again, a2)
        assert kept == {
            "temp": Lifecycle(ttl=5, elapsed=3),
            "tick": Lifecycle(cadence=3, window=1, elapsed=3),
            "pair": Lifecycle(ttl=7, cadence=2, elapsed=3),
        }
        assert t.snapshot().node(result.kept[0]).lifecycle == {"elapsed": 3, "ttl": 5}


def test_elapsed_is_part_of_the_age_and_checked_like_the_other_fields():
    assert [Temporary(2).visible(a) for a in range(4)] == [True, True, True, False]
    assert [Lifecycle(ttl=2, elapsed=2).visible(a) for a in range(4)] == [True, False, False, False]
    assert Lifecycle(ttl=2, elapsed=2).expired(1) and not Lifecycle(ttl=2, elapsed=1).expired(1)
    assert [Lifecycle(cadence=3, elapsed=1).visible(a) for a in range(4)] == [False, False, True, False]
    assert Lifecycle(ttl=1, elapsed=3).to_json() == '{"elapsed":3,"ttl":1}'
    assert Temporary(1).to_json() == '{"ttl":1}'  # 0 is not stored: hashes of older commits stand
    for bad in (-1, None, 1.5, True):
        with pytest.raises(InvalidInputError, match="elapsed"):
            Lifecycle(ttl=1, elapsed=bad)


def test_a_summary_without_a_recorded_count_seals_what_its_role_does():
    assert cycles_sealed("assistant", "dialogue", None) == 1
    assert cycles_sealed("user", "dialogue", '{"cycles":3}') == 0  # only a summary records cycles
    assert cycles_sealed("system", "summary", '{"compression":{"cycles":3,"from":"a"}}') == 3
    assert cycles_sealed("assistant", "summary", '{"compression":{"cycles":0}}') == 0
    # written before the count existed (or by hand without one): the role decides, as it always did
    assert cycles_sealed("assistant", "summary", '{"compression":{"from":"a","messages":2}}') == 1
    assert cycles_sealed("system", "summary", '{"compression":{"cycles":"3"}}') == 0


LIVES = (None, Temporary(0), Temporary(2), Temporary(4), Cyclic(2), Cyclic(3, 2), Lifecycle(ttl=6, cadence=3))
message = st.tuples(
    st.sampled_from(("user", "assistant", "assistant")),
    st.sampled_from(LIVES),
    st.sampled_from((None, None, None, "k")),
    st.sampled_from((None, None, None, PINNED, SKIP)),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(message, min_size=2, max_size=14), st.integers(0, 4), st.sampled_from(("system", "assistant")))
def test_any_compression_leaves_every_node_shown_in_the_same_cycles(
    steps: list[tuple[Any, ...]], keep_recent: int, role: str
) -> None:
    """Random messages (lifecycles, keys, pins, skips), compressed or not, then six more cycles."""

    def run(compress: bool) -> list[list[str]] | None:
        with Tract.open() as t:
            t.system("S")
            for i, (who, life, key, priority) in enumerate(steps):
                made = t.commit(f"m{i}", role=who, lifecycle=life, key=key)
                if priority is not None:
                    t.annotate(made.hash, priority)
            if compress:
                with contextlib.suppress(InvalidInputError):  # nothing to compress: nothing written, runs agree
                    t.compress("SUMMARY", keep_recent=keep_recent, summary_role=role)
            rows = []
            for i in range(6):
                rows.append([str(m["content"]) for m in t.compile().messages if str(m["content"]).startswith("m")])
                t.assistant(f"r{i}")
            return rows

    compressed = run(compress=True)
    plain = run(compress=False)
    assert plain is not None
    # the compression took some plain messages into the summary: compare the lifecycle nodes only
    lived = {f"m{i}" for i, (_, life, key, _) in enumerate(steps) if life is not None or key is not None}
    assert [[m for m in row if m in lived] for row in compressed] == [[m for m in row if m in lived] for row in plain]


def test_compression_keeps_an_expired_newest_instance_that_hides_an_older_one_outside_the_range():
    """A pinned keyed message stays outside the range (it leads the history); its newer instance
    expired in the range. Dropping that instance would bring the pinned one back."""
    with Tract.open() as t:
        t.system("S")
        old = t.user("m0", key="k")
        t.annotate(old, PINNED)
        t.user("m1", key="k", lifecycle=Temporary(0))
        t.assistant("r")
        before = [m["content"] for m in t.compile().messages]
        t.compress("SUMMARY", keep_recent=0, summary_role="system")
        after = [m["content"] for m in t.compile().messages]
        assert "m0" not in before and "m0" not in after and "m1" not in after
        assert [c.content for c in t.log(limit=None) if c.key == "k"][0] == "m1"  # kept, still expired
