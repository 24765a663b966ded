"""The topic-drift detector behind ``BranchPolicy``, on real conversations.

The conversations in ``tests/data/drift`` are written English dialogue (coding help, customer
service, a tool-using agent, a research session), 30 to 37 messages each. Each file holds its
messages and the keys that matter: ``tangent_start`` (the first message of an unrelated tangent),
``aside`` (a single off-topic question) or ``burst`` (the first message of rapid content-type
switching). The two ``holdout_*`` conversations were written after the thresholds were chosen.

Every test feeds messages one at a time, as a policy would, and looks at the report after each.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tract_core.errors import InvalidInputError
from tract_core.policies.drift import (
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW,
    DriftDetector,
    DriftMessage,
    DriftReport,
    content_mode,
    terms,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "drift"
FOCUSED = ["focused_postgres_pool", "focused_agent_tools", "holdout_focused_cafe_launch"]
TANGENTS = ["tangent_refund_to_japan", "tangent_migration_to_garden", "holdout_tangent_typescript_to_speech"]


def load(name: str) -> tuple[list[DriftMessage], dict[str, str]]:
    """A conversation's messages and its marked keys (tangent_start, aside, burst)."""
    data = json.loads((DATA / f"{name}.json").read_text())
    messages = [DriftMessage(**m) for m in data["messages"]]
    marks = {k: v for k, v in data.items() if k not in ("messages", "description")}
    return messages, marks


def replay(detector: DriftDetector, messages: Sequence[DriftMessage]) -> list[DriftReport]:
    """Feed the messages in order; the report after each."""
    reports = []
    for message in messages:
        detector.observe(message)
        reports.append(detector.report())
    return reports


_TOY_STOPWORD_TEXT = """
    a about after again all also am an and any are as at be because been before being both but by can could did
    do does doing don done down each even few for from get got had has have he her here him his how i if in into is it
    its just know let like make many may me might more most much my need new no not now of off oh ok okay on once one
    only or other our out over own please really right same say see should so some still such sure than thank thanks
    that the their them then there these they thing think this those through to too two up us use very want was way we
    well were what when where which while who why will with would yes yet you your"""
_TOY_STOPWORDS = frozenset(_TOY_STOPWORD_TEXT.split())


def toy_embedding(texts: Sequence[str]) -> list[list[float]]:
    """A deterministic bag-of-words embedding: each content word hashed (SHA-256) to one of 256 signed buckets.

    256 buckets, not 64: a conversation uses a few hundred distinct words, and with 64 buckets their
    collisions drown the topic.
    """
    vectors = []
    for text in texts:
        vector = [0.0] * 256
        for word in set(re.findall(r"[a-z][a-z0-9_]+", text.lower())) - _TOY_STOPWORDS:
            if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
                word = word[:-1]
            digest = hashlib.sha256(word.encode()).digest()
            vector[int.from_bytes(digest[:4], "big") % 256] += 1.0 if digest[4] & 1 else -1.0
        vectors.append(vector)
    return vectors


class CountingScorer:
    """The toy embedding, counting the texts it embeds."""

    def __init__(self) -> None:
        self.texts = 0

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += len(texts)
        return toy_embedding(texts)


# -- focused conversations stay quiet -----------------------------------------------------------------


@pytest.mark.parametrize("name", FOCUSED)
def test_a_focused_conversation_never_drifts(name: str) -> None:
    messages, _ = load(name)
    reports = replay(DriftDetector(), messages)

    loud = [(i, r.reason) for i, r in enumerate(reports) if r.drifted]
    assert not loud, f"{name} drifted at {loud}"
    assert not reports[-1].reason.startswith("No established topic"), "the detector never judged the conversation"
    assert all(r.start is None for r in reports)


@pytest.mark.parametrize("threshold", [0.4, DEFAULT_THRESHOLD])
def test_one_off_topic_question_in_the_middle_does_not_fire(threshold: float) -> None:
    """Not even with a sensitive threshold, where the question alone moves the window far enough."""
    messages, marks = load("aside_router_wifi")
    reports = replay(DriftDetector(threshold=threshold), messages)
    aside = [m.key for m in messages].index(marks["aside"])

    assert not any(r.drifted for r in reports)
    # the detector noticed the aside (the window moved away from the topic) but one question is not a tangent
    assert reports[aside].score > reports[aside - 1].score + 0.1
    assert reports[-1].score < 0.2


# -- tangents are found where they begin --------------------------------------------------------------


@pytest.mark.parametrize("name", TANGENTS)
def test_a_tangent_is_reported_from_its_first_message(name: str) -> None:
    messages, marks = load(name)
    keys = [m.key for m in messages]
    begins = keys.index(marks["tangent_start"])
    reports = replay(DriftDetector(), messages)

    assert not any(r.drifted for r in reports[:begins]), "drift reported before the tangent began"
    fired = next((i for i, r in enumerate(reports) if r.drifted), None)
    assert fired is not None, f"the tangent from message {begins} was never reported"
    first = reports[fired]
    assert first.start is not None
    assert keys.index(first.start) in (begins, begins + 1)
    assert fired - begins <= DEFAULT_WINDOW, "the tangent filled the window before it was reported"
    assert first.score > DEFAULT_THRESHOLD
    assert first.start[:12] in first.reason and "established topic" in first.reason
    # a policy that misses the first firing still gets the same branch point while the tangent is in the window
    assert reports[fired + 1].drifted and reports[fired + 1].start == first.start


def test_the_report_explains_itself_in_one_sentence() -> None:
    messages, marks = load("tangent_refund_to_japan")
    detector = DriftDetector()
    for message in messages:
        detector.observe(message)
        if detector.report().drifted:
            break
    reason = detector.report().reason
    assert re.fullmatch(
        r"The last 6 messages share \d+% of their vocabulary with the established topic, against the usual \d+% "
        r"\(score 0\.\d\d, threshold 0\.60\); the tangent began at [0-9a-f]{12}\.",
        reason,
    ), reason
    assert marks["tangent_start"][:12] in reason


def test_a_lower_threshold_fires_earlier_and_a_higher_one_later_but_at_the_same_start() -> None:
    messages, marks = load("tangent_refund_to_japan")
    fired = {}
    for threshold in (0.5, 0.6, 0.7):
        reports = replay(DriftDetector(threshold=threshold), messages)
        i = next(i for i, r in enumerate(reports) if r.drifted)
        fired[threshold] = i
        assert reports[i].start == marks["tangent_start"]
    assert fired[0.5] <= fired[0.6] <= fired[0.7]
    assert not any(r.drifted for r in replay(DriftDetector(threshold=1.0), messages))


# -- the embedding hook --------------------------------------------------------------------------------


def _verdict(detector: DriftDetector, messages: Sequence[DriftMessage]) -> tuple[int, str] | None:
    """(index of the first drifted report, its start), or None."""
    for i, report in enumerate(replay(detector, messages)):
        if report.drifted:
            assert report.start is not None
            return i, report.start
    return None


# The toy embedding has no idea of meaning: it misjudges holdout_tangent_typescript_to_speech, whose
# last on-topic messages ("merge it today", "mention the version bump in the PR") share no words
# with the topic, so that conversation is checked lexically only.
@pytest.mark.parametrize("name", ["focused_postgres_pool", "aside_router_wifi", "holdout_focused_cafe_launch"])
def test_with_an_embedding_a_focused_conversation_stays_quiet(name: str) -> None:
    messages, _ = load(name)
    scorer = CountingScorer()
    detector = DriftDetector(scorer=scorer)
    reports = replay(detector, messages)

    assert not any(r.drifted for r in reports)
    assert "cosine similarity" in reports[-1].reason
    assert scorer.texts == sum(1 for m in messages if terms(m.text))  # these conversations have no tool messages


@pytest.mark.parametrize("name", ["tangent_refund_to_japan", "tangent_migration_to_garden"])
def test_with_an_embedding_a_tangent_gets_the_same_verdict(name: str) -> None:
    messages, marks = load(name)
    keys = [m.key for m in messages]
    begins = keys.index(marks["tangent_start"])

    lexical = _verdict(DriftDetector(), messages)
    embedded = _verdict(DriftDetector(scorer=toy_embedding), messages)

    assert lexical is not None and embedded is not None
    assert embedded[0] >= begins and keys.index(embedded[1]) in (begins, begins + 1)
    assert embedded[1] == lexical[1]


def test_each_message_is_embedded_once_and_report_embeds_nothing() -> None:
    messages, _ = load("tangent_refund_to_japan")
    scorer = CountingScorer()
    detector = DriftDetector(scorer=scorer)
    for message in messages:
        detector.observe(message)
    embedded = scorer.texts
    assert embedded == len(messages)  # every message of this conversation has words
    for _ in range(3):
        detector.report()
    detector.reset(keys_kept=[m.key for m in messages[-4:]])
    detector.report()
    assert scorer.texts == embedded


# -- content-type switching ----------------------------------------------------------------------------


def test_rapid_content_type_switching_fires_where_the_switching_began() -> None:
    messages, marks = load("switching_ebike_research")
    keys = [m.key for m in messages]
    burst = keys.index(marks["burst"])
    reports = replay(DriftDetector(), messages)

    assert not any(r.drifted for r in reports[:burst])
    fired = next(i for i, r in enumerate(reports) if r.drifted)
    report = reports[fired]
    assert report.start == marks["burst"]
    assert report.switch_rate >= 0.8
    assert report.score < DEFAULT_THRESHOLD  # the words stayed on topic: this is switching alone
    assert "switched content types" in report.reason and "dialogue -> artifact" in report.reason
    # before the burst the conversation cycled question -> retrieved passage -> answer: no switching
    assert all(r.switch_rate == 0 for r in reports[DEFAULT_WINDOW * 2 : burst])


def test_switching_can_be_turned_off() -> None:
    messages, _ = load("switching_ebike_research")
    assert not any(r.drifted for r in replay(DriftDetector(switch_threshold=None), messages))


def test_an_agent_tool_loop_is_not_switching() -> None:
    messages, _ = load("focused_agent_tools")
    reports = replay(DriftDetector(), messages)
    assert sum(1 for m in messages if m.content_type in ("tool_call", "tool_result")) >= 20
    # the first loop makes two new transitions (dialogue -> tool, tool -> dialogue); once they are
    # established, looping through them again is not switching
    assert max(r.switch_rate for r in reports) <= 0.4
    assert all(r.switch_rate == 0 for r in reports[len(reports) // 2 :])
    assert content_mode("tool_call") == content_mode("tool_result") == "tool"


def test_a_first_tool_loop_after_a_long_chat_is_not_rapid_switching() -> None:
    messages, _ = load("focused_postgres_pool")
    detector = DriftDetector()
    for message in messages[:25]:
        detector.observe(message)
    loop = [
        DriftMessage("t1", "assistant", "tool_call", 'run_sql({"query": "SELECT count(*) FROM pg_stat_activity"})'),
        DriftMessage("t2", "tool", "tool_result", "count\n-------\n   41"),
        DriftMessage("t3", "assistant", "dialogue", "41 connections are open right now, below the budget of 64."),
    ]
    for message in loop:
        detector.observe(message)
    report = detector.report()
    assert 0 < report.switch_rate < 0.8
    assert not report.drifted


# -- bounded cost --------------------------------------------------------------------------------------


def test_state_stays_bounded_over_a_long_history_and_drift_is_still_found() -> None:
    refund, marks = load("tangent_refund_to_japan")
    begins = [m.key for m in refund].index(marks["tangent_start"])
    on_topic, tangent = refund[:begins], refund[begins:]
    scorer = CountingScorer()
    detector = DriftDetector(scorer=scorer)
    lexical = DriftDetector()

    for n in range(5000):
        message = on_topic[n % len(on_topic)]
        message = DriftMessage(f"{n:04d}-{message.key}", message.role, message.content_type, message.text)
        detector.observe(message)
        lexical.observe(message)
        if n % 500 == 0:
            assert detector.held <= 2 * DEFAULT_WINDOW and lexical.held <= 2 * DEFAULT_WINDOW
            assert not detector.report().drifted and not lexical.report().drifted
    assert detector.observed == lexical.observed == 5000
    assert detector.held <= 2 * DEFAULT_WINDOW and lexical.held <= 2 * DEFAULT_WINDOW

    calls = scorer.texts
    first: dict[str, str | None] = {"embedding": None, "lexical": None}
    for message in tangent:
        detector.observe(message)
        lexical.observe(message)
        for kind, each in (("embedding", detector), ("lexical", lexical)):
            report = each.report()
            if report.drifted and first[kind] is None:
                first[kind] = report.start
    assert scorer.texts == calls + len(tangent)  # observe() embeds each message once, report() never
    assert first == {"embedding": marks["tangent_start"], "lexical": marks["tangent_start"]}


def test_report_is_cached_until_the_next_message() -> None:
    messages, _ = load("focused_postgres_pool")
    detector = DriftDetector()
    for message in messages:
        detector.observe(message)
    first = detector.report()
    assert detector.report() is first
    detector.observe(DriftMessage("extra", "user", "dialogue", "The pool is healthy again."))
    assert detector.report() is not first


# -- reset -----------------------------------------------------------------------------------------------


def test_reset_forgets_the_history() -> None:
    messages, _ = load("tangent_refund_to_japan")
    detector = DriftDetector()
    replay(detector, messages)
    detector.reset()
    assert detector.observed == 0 and detector.last_key is None and detector.held == 0
    report = detector.report()
    assert not report.drifted and report.reason.startswith("No established topic yet: 0 of the 6")


def test_reset_keeping_the_tangent_makes_it_the_new_topic() -> None:
    messages, marks = load("tangent_refund_to_japan")
    keys = [m.key for m in messages]
    begins = keys.index(marks["tangent_start"])
    detector = DriftDetector()
    for message in messages:
        detector.observe(message)
        if detector.report().drifted:
            break
    start = detector.report().start
    assert start == marks["tangent_start"]
    fed = detector.observed

    # the policy branched at `start`: the tangent continues on its own branch, and is its topic now
    tangent = keys[begins:fed]
    detector.reset(keys_kept=[*tangent, "not-a-key-it-holds"])
    assert detector.observed == len(tangent) and detector.last_key == tangent[-1]
    for message in messages[fed:]:
        detector.observe(message)
        assert not detector.report().drifted


# -- determinism -----------------------------------------------------------------------------------------


def test_reports_do_not_depend_on_hash_randomisation() -> None:
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from tract_core.policies.drift import DriftDetector, DriftMessage\n"
        "out = []\n"
        "for name in sys.argv[1:]:\n"
        "    d = DriftDetector()\n"
        "    for m in json.loads(Path(name).read_text())['messages']:\n"
        "        d.observe(DriftMessage(**m)); r = d.report()\n"
        "        out.append([r.drifted, r.score, r.switch_rate, r.start, r.reason])\n"
        "print(json.dumps(out))\n"
    )
    files = [str(DATA / f"{name}.json") for name in ("tangent_refund_to_japan", "switching_ebike_research")]
    runs = []
    for seed in ("1", "2"):
        env = {"PYTHONHASHSEED": seed, "PYTHONPATH": ":".join(sys.path)}
        result = subprocess.run(
            [sys.executable, "-c", code, *files], env=env, capture_output=True, text=True, timeout=120, check=True
        )
        runs.append(json.loads(result.stdout))
    assert runs[0] == runs[1]
    assert any(row[0] for row in runs[0])


# -- terms -----------------------------------------------------------------------------------------------


def test_terms_fold_suffixes_and_drop_stopwords() -> None:
    assert terms("Pooled connections kept dropping; both pools are exhausted!") == {
        "pool",
        "connection",
        "kept",
        "drop",
        "exhaust",
    }
    assert terms("Thanks, that worked! Could you please check it again?") == {"work", "check"}
    assert terms("") == frozenset() and terms("42 1.5 2024") == frozenset()
    assert terms("cities") == {"city"} and terms("planning") == {"plan"} and terms("classes") == {"class"}
    assert terms("It\u2019s the server\u2019s pg_stat_activity") == {"server", "pg_stat_activity"}


def test_short_messages_are_neutral_not_off_topic() -> None:
    messages, _ = load("focused_postgres_pool")
    detector = DriftDetector()
    for message in messages[:20]:
        detector.observe(message)
    before = detector.report().score
    for i in range(DEFAULT_WINDOW):
        detector.observe(DriftMessage(f"ok{i}", "user" if i % 2 else "assistant", "dialogue", "Thanks, that worked!"))
    report = detector.report()
    assert not report.drifted and report.score <= before


# -- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 1}, "window must be an integer of at least 2, not 1"),
        ({"window": 0}, "window must be an integer of at least 2"),
        ({"window": 6.0}, "window must be an integer"),
        ({"window": True}, "window must be an integer"),
        ({"threshold": -0.1}, "threshold must be a number from 0 to 1, not -0.1"),
        ({"threshold": 1.5}, "threshold must be a number from 0 to 1, not 1.5"),
        ({"threshold": math.nan}, "threshold must be a number from 0 to 1"),
        ({"threshold": "0.6"}, "threshold must be a number from 0 to 1, not '0.6'"),
        ({"min_topic": 0}, "min_topic must be an integer of at least 1"),
        ({"switch_threshold": 2}, "switch_threshold must be a number from 0 to 1"),
        ({"scorer": "embed"}, "scorer must be a function from texts to vectors"),
    ],
)
def test_bad_parameters_are_refused_clearly(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        DriftDetector(**kwargs)


def test_bad_messages_are_refused_clearly() -> None:
    detector = DriftDetector()
    with pytest.raises(InvalidInputError, match="observe takes a DriftMessage"):
        detector.observe({"key": "a", "role": "user", "content_type": "dialogue", "text": "hi"})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="DriftMessage.text must be a string, not None"):
        DriftMessage("a", "user", "dialogue", None)  # type: ignore[arg-type]
    assert detector.observed == 0


@pytest.mark.parametrize(
    ("scorer", "message"),
    [
        (lambda texts: [], "the scorer returned 0 vectors for 1 text"),
        (lambda texts: [[1.0, math.inf]], "not finite"),
        (lambda texts: None, "the scorer must return a list of vectors"),
        (lambda texts: [["pool", "size"]], "the scorer must return a list of vectors"),
    ],
)
def test_a_broken_scorer_is_reported_clearly_and_changes_nothing(scorer, message: str) -> None:
    detector = DriftDetector(scorer=scorer)
    with pytest.raises(InvalidInputError, match=message):
        detector.observe(DriftMessage("a", "user", "dialogue", "The connection pool is exhausted."))
    assert detector.observed == 0 and detector.held == 0 and detector.last_key is None


def test_a_scorer_that_changes_dimension_is_refused() -> None:
    sizes = iter([4, 3])
    detector = DriftDetector(scorer=lambda texts: [[1.0] * next(sizes)])
    detector.observe(DriftMessage("a", "user", "dialogue", "The connection pool is exhausted."))
    with pytest.raises(InvalidInputError, match="a vector of 3 numbers after vectors of 4"):
        detector.observe(DriftMessage("b", "assistant", "dialogue", "Close the session after each chunk."))
