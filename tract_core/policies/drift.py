"""Topic drift: has the conversation wandered off the topic it established?

:class:`DriftDetector` is the deterministic detector behind ``BranchPolicy`` (DESIGN.md section 12). It
sees messages as plain :class:`DriftMessage` values, fed in history order with
:meth:`~DriftDetector.observe`, and answers :meth:`~DriftDetector.report` with a
:class:`DriftReport`: whether the recent messages drifted, how far, from which message on, and why,
in one sentence. It never reads a tract or a store, so a policy can keep one between evaluations
and feed it only the new messages.

The method
==========

**Which messages count.** The *window* is the last ``window`` conversation messages: role ``user``
or ``assistant`` with a content type that carries prose (``dialogue``, or a custom type such as
``artifact``). ``instruction`` and ``summary`` messages, and messages of other roles (``system``,
``developer``), describe the established context: their words go straight into the topic and they
never enter the window. Tool calls, tool results, retrieved passages and merge messages
(``tool_call``, ``tool_result``, ``retrieval``, ``merge``, or role ``tool``) carry machine text (JSON,
logs, documents) and are left out of the lexical topic; they count only for content-type switching.
When a window message is pushed out of the window it joins the *established topic*: the topic is
everything before the window, kept as running statistics.

**Terms.** Text is lowercased and split into words (a letter, then letters, digits or ``_``); a
built-in list of English stopwords and conversational filler ("thanks", "please", "maybe", ...) is
dropped, and a light suffix stripper folds plural ``s``/``es``/``ies``, ``ing`` and ``ed`` ("pools",
"pooled" and "pooling" are all "pool"). Numbers are not terms. A message is its *set* of terms.

**Affinity** of a message to the topic: the share of its terms the topic has used, a term counting
half if one topic message used it and fully if two or more did (so one earlier mention of "card" or
"week" does not anchor a new subject). A message with fewer than :data:`MIN_TERMS` terms ("Thanks,
that worked!") has no affinity: it is neutral, evidence of nothing.

**Calibration.** How much vocabulary an on-topic message shares depends on the conversation:
terse chats repeat their key words, long explanations bring new ones. So affinities are judged
against the conversation's own *usual affinity*: a running average (exponential, weight
:data:`USUAL_WEIGHT` for the newest) of the affinity each message had, against everything before
it, when it left the window. A window message is *off topic* when its affinity is below
``1 - threshold`` of the usual (with the default 0.6: under 40% of what this conversation's messages
usually share), and ``score``, the window's distance from the topic, is one minus the window's mean
affinity relative to the usual, cut to 0..1: 0 when the window is as close to the topic as usual,
1 when it shares nothing.

**Lexical drift** needs both, so one off-topic question (and its answer) never fires:

* ``score`` above ``threshold``, and
* a *sustained tangent*: counting back from the newest message (neutral ones skipped), at least
  half the window (3 of 6) off-topic messages with no on-topic message among them.

:attr:`DriftReport.start` is the first message of that run, where the policy branches. Nothing
is called drift until the topic holds ``min_topic`` messages.

The defaults were chosen on the conversations in ``tests/data/drift`` (coding help, customer
service, an agent's tool loop, a research session, 30 to 37 messages each, two of them written
after the choice): every threshold from 0.45 to 0.7 keeps the focused ones quiet at every prefix
and reports each tangent from its first message; 0.6 sits in the middle of that range and fires
two to four messages into a tangent.

**Content-type switching.** Content types map to *modes*: ``tool_call`` and ``tool_result`` are one
mode, ``tool`` (a call and its result are one step), every other type is its own mode. A change of
mode is a *transition* (``dialogue -> tool``), *established* once it happened before the last
``window`` messages. ``switch_rate`` is the number of *distinct, unestablished* transitions among the
last ``window`` messages (of every kind) over ``window - 1``. A focused agent repeats a few
transitions (dialogue -> tool -> dialogue, retrieval -> dialogue), established in its first loop, so
its rate is 0; even the first tool loop after a long chat makes only 2 new transitions (2/5 = 0.4).
Rapid switching is a burst through content types the conversation never moved between: by default
(``switch_threshold`` 0.8) four distinct new transitions among six messages. It needs ``min_topic``
messages before the window, and ``switch_threshold=None`` turns it off. The tangent starts at the
first window message reached by a new transition.

**Embeddings.** With ``scorer=`` (a function from texts to vectors) a message's affinity is the
cosine between its embedding and the topic's mean direction instead of shared vocabulary. Each
message is embedded once, when observed; the topic keeps a running sum of unit vectors. The
calibration, the run, ``start`` and switching are the same, and because affinities are judged
relative to the conversation's usual one, the same ``threshold`` suits embeddings whose
similarities are on another scale. The embedding must be good enough that on-topic messages point
the topic's way: a bag-of-words hashing embedding (the tests' toy) works with 256 dimensions and is
mostly noise with 64, where a conversation's few hundred distinct words collide; even at 256 it
reads a wrap-up that shares no words with the topic ("merge it today") as a tangent, where the
vocabulary affinity, which counts every established term alike, does not.

Costs
=====

``observe`` is O(length of the text), plus one scorer call for a message with words in scorer mode.
``report`` is O(``window`` x terms per message) (or x dimensions) and cached until the next
``observe``. Memory: one counter per distinct topic term (or one vector), plus the last ``window``
messages' terms; the history itself is never kept.

Limits
======

* Word overlap, not meaning: a tangent that reuses the topic's words ("refund" then "refund policy of
  my airline") is missed, and a topic whose wording changes completely at once can look like drift;
  a ``scorer`` helps with both.
* English: other languages get no stopwords and no folding; their function words become terms, which
  blunts the scores (the calibration absorbs part of it).
* The topic is cumulative: a long tangent that leaves the window becomes part of the established
  topic, and the detector stops reporting it. A policy that acts on a report calls
  :meth:`~DriftDetector.reset`.
* ``start`` lies inside the window: a tangent longer than the window reports its part in the window.
* Detection lags: by default a tangent is reported two to four messages after it began, once the
  window's mean has moved far enough; ``start`` still points at its first message.
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..errors import InvalidInputError, shown

__all__ = [
    "DriftMessage",
    "DriftReport",
    "DriftDetector",
    "Scorer",
    "terms",
    "content_mode",
    "DEFAULT_WINDOW",
    "DEFAULT_THRESHOLD",
    "DEFAULT_MIN_TOPIC",
    "DEFAULT_SWITCH_THRESHOLD",
    "MIN_TERMS",
    "USUAL_WEIGHT",
]

Scorer = Callable[[Sequence[str]], Sequence[Sequence[float]]]
"""An embedding function: texts in, one vector (of one fixed length) per text out."""

DEFAULT_WINDOW = 6
"""Recent conversation messages judged against the established topic."""
DEFAULT_THRESHOLD = 0.6
"""Drift when the window's affinity to the topic is under 40% of the conversation's usual one."""
DEFAULT_MIN_TOPIC = 6
"""Messages the established topic needs before anything is called drift."""
DEFAULT_SWITCH_THRESHOLD = 0.8
"""Switch rate at which content-type switching alone is drift (4 distinct new transitions in 6)."""
MIN_TERMS = 3
"""Terms a message needs to count as evidence (lexical mode); shorter messages are neutral."""
USUAL_WEIGHT = 0.2
"""Weight of the newest message in the running average of the usual affinity."""

_CONVERSATION_ROLES = frozenset({"user", "assistant"})
_TOPIC_TYPES = frozenset({"instruction", "summary"})
_MACHINE_TYPES = frozenset({"tool_call", "tool_result", "retrieval", "merge"})
_TOOL_TYPES = frozenset({"tool_call", "tool_result"})

_WORD = re.compile(r"[a-z][a-z0-9_]*")

_STOPWORD_TEXT = """
    a about above after again against all almost along already also although always am among an and another
    any anybody anyone anything anyway anywhere are aren around as ask asked at away back be became because
    become been before being below best better between both but by can cannot could couldn did didn do does
    doesn doing don done down during each either else enough etc even ever every everyone everything
    few first for from further get gets getting give given go goes going gone good got great had hadn has
    hasn have haven having he hello her here hers herself hey hi him himself his how however i if in instead
    into is isn it its itself just keep kind know last later least less let lets like likely little ll look
    looks lot lots made make makes many may maybe me might mine more most much must my myself need needs
    never new next no nope nor not nothing now of off oh ok okay on once one only onto or other others
    otherwise our ours ourselves out over own perhaps please pretty quite rather re really right said same
    say says see seem seems shall she should shouldn since so some somebody someone something sometimes soon
    sorry still such sure take tell than thank thanks that the their theirs them themselves then there
    these they thing things think this those though through thus to too took toward try trying two under
    until up upon us use used using ve very via want wanted wants was wasn way we well went were weren what
    whatever when where whether which while who whom whose why will with within without won would wouldn
    yeah yes yet you your yours yourself yourselves
    """
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""English function words and conversational filler: never topic terms."""

_UNDOUBLE = frozenset("bdfgkmnprt")


def _stem(word: str) -> str:
    """Fold the common English suffixes: plural s/es/ies, ing, ed (a light, deterministic stemmer)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] in _UNDOUBLE:
                stem = stem[:-1]  # stopped -> stop, planning -> plan
            return stem
    return word


def terms(text: str) -> frozenset[str]:
    """The topic terms of a text: lowercased words, stopwords dropped, common suffixes folded.

    Args:
        text: Any text.

    Returns:
        The set of terms (a word repeated in the text counts once).

    Example:
        >>> sorted(terms("Pooled connections kept dropping; both pools are exhausted!"))
        ['connection', 'drop', 'exhaust', 'kept', 'pool']
    """
    found = set()
    for word in _WORD.findall(text.lower().replace("\u2019", "'")):
        if word in _STOPWORDS:
            continue
        stem = _stem(word)
        if len(stem) >= 2 and stem not in _STOPWORDS:
            found.add(stem)
    return frozenset(found)


def content_mode(content_type: str) -> str:
    """The switching mode of a content type: ``tool_call`` and ``tool_result`` are one mode, ``tool``.

    Args:
        content_type: A tract content type.

    Returns:
        ``"tool"`` for a tool call or result, else the content type itself.
    """
    return "tool" if content_type in _TOOL_TYPES else content_type


@dataclass(frozen=True)
class DriftMessage:
    """What the detector sees of one message.

    Attributes:
        key: A unique id of the message (its commit hash); reports name messages by it.
        role: ``"user"``, ``"assistant"``, ``"system"``, ``"tool"``, ...
        content_type: The tract content type: ``"instruction"``, ``"dialogue"``, ``"tool_call"``,
            ``"tool_result"``, ``"summary"``, ...
        text: The message's plain text (may be empty).

    Raises:
        InvalidInputError: A field is not a string.
    """

    key: str
    role: str
    content_type: str
    text: str

    def __post_init__(self) -> None:
        for name in ("key", "role", "content_type", "text"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise InvalidInputError(f"DriftMessage.{name} must be a string, not {shown(value)}")


@dataclass(frozen=True)
class DriftReport:
    """The detector's verdict on the recent messages.

    Attributes:
        drifted: Whether the recent messages left the established topic: lexically (or by
            embedding) and sustained, or by rapid content-type switching.
        score: 0..1, the distance of the window from the established topic relative to the
            conversation's usual closeness: 0 as close as usual, 1 nothing shared. 0 while no topic
            is established.
        switch_rate: 0..1, distinct content-type transitions in the last ``window`` messages that
            the conversation had not made before them, over ``window - 1``.
        start: The key of the first message of the tangent (where a branch should begin), or None
            if not drifted.
        reason: One human sentence explaining the verdict.
    """

    drifted: bool
    score: float
    switch_rate: float
    start: str | None
    reason: str


@dataclass(frozen=True)
class _Seen:
    """A window message: its order, key, terms (lexical mode) or unit vector (scorer mode)."""

    seq: int
    key: str
    terms: frozenset[str]
    vector: tuple[float, ...] | None


@dataclass(frozen=True)
class _Step:
    """A message in the switching window: its order, key, mode and the transition that led to it."""

    seq: int
    key: str
    mode: str
    transition: tuple[str, str] | None


def _check_fraction(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{what} must be a number from 0 to 1, not {shown(value)}")
    return float(value)


def _check_count(value: object, what: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidInputError(f"{what} must be an integer of at least {least}, not {shown(value)}")
    return value


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(x * x for x in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm > 0 else 0.0


def _short(key: str) -> str:
    return key[:12]


class DriftDetector:
    """Detects topic drift in messages fed in history order (the method: see the module docstring).

    Args:
        window: Recent conversation messages judged against the established topic (at least 2).
        threshold: 0..1. A message is off topic, and the window far enough to drift, when its
            affinity to the topic is below ``1 - threshold`` of the conversation's usual affinity.
        min_topic: Messages the established topic needs (conversation messages older than the
            window, and summaries) before drift is reported.
        switch_threshold: 0..1, the switch rate at which content-type switching alone is drift;
            None turns switching off.
        scorer: An embedding function (a list of texts to one vector per text); when given, affinity
            is the cosine of embeddings instead of shared vocabulary.

    Raises:
        InvalidInputError: A parameter is out of range or of the wrong type.

    Example:
        >>> detector = DriftDetector()
        >>> detector.observe(DriftMessage("c0ffee", "user", "dialogue", "My order arrived with a broken zipper."))
        >>> detector.report().drifted
        False
    """

    def __init__(
        self,
        window: int = DEFAULT_WINDOW,
        threshold: float = DEFAULT_THRESHOLD,
        min_topic: int = DEFAULT_MIN_TOPIC,
        switch_threshold: float | None = DEFAULT_SWITCH_THRESHOLD,
        scorer: Scorer | None = None,
    ) -> None:
        self.window = _check_count(window, "window", 2)
        self.threshold = _check_fraction(threshold, "threshold")
        self.min_topic = _check_count(min_topic, "min_topic", 1)
        self.switch_threshold = (
            None if switch_threshold is None else _check_fraction(switch_threshold, "switch_threshold")
        )
        if scorer is not None and not callable(scorer):
            raise InvalidInputError(f"scorer must be a function from texts to vectors, not {shown(scorer)}")
        self.scorer = scorer
        self._dimension: int | None = None
        self._clear()

    def _clear(self) -> None:
        self._topic_df: Counter[str] = Counter()
        self._topic_sum: list[float] | None = None
        self._topic_count = 0
        self._usual: float | None = None
        self._recent: deque[_Seen] = deque(maxlen=self.window)
        self._steps: deque[_Step] = deque(maxlen=self.window)
        self._transitions: Counter[tuple[str, str]] = Counter()
        self._retired_steps = 0
        self._observed = 0
        self._last_key: str | None = None
        self._report: DriftReport | None = None

    # -- feeding ---------------------------------------------------------------------------------------

    @property
    def observed(self) -> int:
        """Messages observed since the last :meth:`reset` (of every kind, kept ones included)."""
        return self._observed

    @property
    def last_key(self) -> str | None:
        """The key of the last observed message (where a policy resumes feeding), or None."""
        return self._last_key

    @property
    def held(self) -> int:
        """Messages whose details the detector holds: at most ``2 * window``, however long the history."""
        return len({seen.seq for seen in self._recent} | {step.seq for step in self._steps})

    def observe(self, message: DriftMessage) -> None:
        """Feed the next message of the history (in order). O(length of its text).

        Args:
            message: The message.

        Raises:
            InvalidInputError: ``message`` is not a :class:`DriftMessage`, or the scorer returned
                something other than one finite vector of the usual length.
        """
        if not isinstance(message, DriftMessage):
            raise InvalidInputError(f"observe takes a DriftMessage, not {shown(message)}")
        seq = self._observed
        machine = message.role == "tool" or message.content_type in _MACHINE_TYPES
        seen = None if machine else self._seen(seq, message)  # first, so a failing scorer changes nothing
        self._step(_Step(seq, message.key, content_mode(message.content_type), None))
        if seen is None:
            pass  # machine text: it counts for switching only
        elif message.role not in _CONVERSATION_ROLES or message.content_type in _TOPIC_TYPES:
            self._add_topic(seen, counts=message.content_type == "summary")
        else:
            self._push(seen)
        self._observed += 1
        self._last_key = message.key
        self._report = None

    def reset(self, keys_kept: Iterable[str] | None = None) -> None:
        """Forget everything observed, e.g. after the policy branched.

        Args:
            keys_kept: Keys of recent messages to keep as the start of a new history (e.g. the
                tangent, now on its own branch): they are observed again in their original order,
                without calling the scorer again. Keys the detector no longer holds (older than the
                window) are ignored; to rebuild a longer history, reset and observe it again.
        """
        wanted = set() if keys_kept is None else {keys_kept} if isinstance(keys_kept, str) else set(keys_kept)
        steps = {step.seq: step for step in self._steps if step.key in wanted}
        seen = {item.seq: item for item in self._recent if item.key in wanted}
        self._clear()
        for old in sorted(steps.keys() | seen.keys()):
            seq = self._observed
            if old in steps:
                self._step(_Step(seq, steps[old].key, steps[old].mode, None))
            if old in seen:
                self._push(_Seen(seq, seen[old].key, seen[old].terms, seen[old].vector))
            self._observed += 1
            self._last_key = (steps[old] if old in steps else seen[old]).key

    # -- internals: feeding ----------------------------------------------------------------------------

    def _seen(self, seq: int, message: DriftMessage) -> _Seen:
        words = terms(message.text)
        if self.scorer is None or not words:
            return _Seen(seq, message.key, words, None)
        return _Seen(seq, message.key, frozenset(), self._embed(message.text))

    def _embed(self, text: str) -> tuple[float, ...] | None:
        assert self.scorer is not None
        try:
            vectors = self.scorer([text])
            count = len(vectors)
            values = tuple(float(x) for x in vectors[0]) if count == 1 else ()
        except (TypeError, ValueError, IndexError) as exc:
            raise InvalidInputError(
                f"the scorer must return a list of vectors (lists of numbers), one per text: {exc}"
            ) from exc
        if count != 1:
            raise InvalidInputError(f"the scorer returned {count} vectors for 1 text; it must return one per text")
        if self._dimension is not None and len(values) != self._dimension:
            raise InvalidInputError(
                f"the scorer returned a vector of {len(values)} numbers after vectors of {self._dimension}"
            )
        norm = math.sqrt(sum(x * x for x in values))
        if not math.isfinite(norm):
            raise InvalidInputError("the scorer returned a vector with a number that is not finite")
        self._dimension = len(values)
        return tuple(x / norm for x in values) if norm > 0 else None

    def _step(self, step: _Step) -> None:
        previous = self._steps[-1].mode if self._steps else None
        if previous is not None and step.mode != previous:
            step = _Step(step.seq, step.key, step.mode, (previous, step.mode))
        if len(self._steps) == self.window:
            leaving = self._steps[0]
            if leaving.transition is not None:
                self._transitions[leaving.transition] += 1
            self._retired_steps += 1
        self._steps.append(step)

    def _push(self, seen: _Seen) -> None:
        if len(self._recent) == self.window:
            leaving = self._recent[0]
            affinity = self._affinity(leaving)
            if affinity is not None and self._topic_count:
                self._usual = (
                    affinity if self._usual is None else (1 - USUAL_WEIGHT) * self._usual + USUAL_WEIGHT * affinity
                )
            self._add_topic(leaving, counts=True)
        self._recent.append(seen)

    def _add_topic(self, seen: _Seen, *, counts: bool) -> None:
        if self.scorer is None:
            self._topic_df.update(seen.terms)
            evidence = bool(seen.terms)
        else:
            evidence = seen.vector is not None
            if seen.vector is not None:
                if self._topic_sum is None:
                    self._topic_sum = list(seen.vector)
                else:
                    for i, x in enumerate(seen.vector):
                        self._topic_sum[i] += x
        if counts and evidence:
            self._topic_count += 1

    # -- reporting -------------------------------------------------------------------------------------

    def _affinity(self, seen: _Seen) -> float | None:
        """How close a message is to the topic (None: too little text to tell)."""
        if self.scorer is None:
            if len(seen.terms) < MIN_TERMS:
                return None
            return sum(min(self._topic_df[term], 2) for term in seen.terms) / (2 * len(seen.terms))
        if seen.vector is None or self._topic_sum is None:
            return None
        return _cosine(seen.vector, self._topic_sum)

    def _switching(self) -> tuple[float, str | None, list[tuple[str, str]]]:
        """The switch rate, the first message reached by a new transition, and the new transitions."""
        new: list[tuple[str, str]] = []
        first = None
        for step in self._steps:
            if step.transition is not None and not self._transitions[step.transition]:
                if step.transition not in new:
                    new.append(step.transition)
                if first is None:
                    first = step.key
        return len(new) / (self.window - 1), first, new

    def _tangent(self, judged: list[tuple[str, bool]]) -> tuple[str | None, int]:
        """The sustained tangent at the end of the window, if any.

        Args:
            judged: The window's evidence messages in order: (key, off topic?).

        Returns:
            The key of the tangent's first message (None if the off-topic run at the end of the window
            is shorter than half the window) and the length of that run.
        """
        run = 0
        for _, is_off in reversed(judged):
            if not is_off:
                break
            run += 1
        if run < math.ceil(self.window / 2):
            return None, run
        return judged[len(judged) - run][0], run

    def report(self) -> DriftReport:
        """The verdict on the recent messages. O(window x terms per message); cached until the next observe.

        Returns:
            A :class:`DriftReport`.
        """
        if self._report is None:
            self._report = self._judge()
        return self._report

    def _judge(self) -> DriftReport:
        switch_rate, switch_start, new = self._switching()
        switched = None
        if (
            self.switch_threshold is not None
            and switch_start is not None
            and self._retired_steps >= self.min_topic
            and switch_rate >= self.switch_threshold
        ):
            changes = ", ".join(f"{a} -> {b}" for a, b in new)
            switched = (
                f"The last {len(self._steps)} messages switched content types in {len(new)} ways the conversation "
                f"had not used before ({changes}); the switching began at {_short(switch_start)}."
            )
        usual = self._usual
        if self._topic_count < self.min_topic or usual is None or usual <= 0:
            if switched is not None:
                return DriftReport(True, 0.0, switch_rate, switch_start, switched)
            if self._topic_count < self.min_topic:
                have = f"{self._topic_count} of the {self.min_topic} earlier messages it needs"
            else:
                have = "the earlier messages " + (
                    "share no vocabulary with each other" if self.scorer is None else "point in no common direction"
                )
            return DriftReport(False, 0.0, switch_rate, None, f"No established topic yet: {have}.")
        limit = (1.0 - self.threshold) * usual
        affinities = [(seen, self._affinity(seen)) for seen in self._recent]
        evidence = [a for _, a in affinities if a is not None]
        mean = sum(evidence) / len(evidence) if evidence else usual
        score = min(1.0, max(0.0, 1.0 - mean / usual))
        needed = math.ceil(self.window / 2)
        run_start, off = self._tangent([(seen.key, a < limit) for seen, a in affinities if a is not None])
        if self.scorer is None:
            said = (
                f"The last {len(self._recent)} messages share {mean:.0%} of their vocabulary with the established "
                f"topic, against the usual {usual:.0%}"
            )
        else:
            said = (
                f"The last {len(self._recent)} messages have a cosine similarity of {mean:.2f} to the established "
                f"topic, against the usual {usual:.2f}"
            )
        said += f" (score {score:.2f}, threshold {self.threshold:.2f})"
        if score > self.threshold and run_start is not None:
            return DriftReport(
                True, score, switch_rate, run_start, f"{said}; the tangent began at {_short(run_start)}."
            )
        if switched is not None:
            return DriftReport(True, score, switch_rate, switch_start, switched)
        if score > self.threshold:
            if off:
                why = f"only the last {off} of them are off topic ({needed} in a row needed)"
            else:
                why = "the newest message is back on topic"
            return DriftReport(False, score, switch_rate, None, f"{said}, but {why}.")
        return DriftReport(False, score, switch_rate, None, f"{said}.")
