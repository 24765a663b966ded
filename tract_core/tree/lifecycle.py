"""Lifecycles of context-tree nodes (DESIGN 14): when a message is shown, cycle by cycle.

A :class:`Lifecycle` is part of the commit that adds a message (``t.commit(..., lifecycle=...)``), so
it is hashed with it and travels with it through merge, rebase, cherry-pick and compression. It is
read against *cycles*: one cycle is one provider call, sealed by the APPENDed assistant message that
records the reply. A message is *born* in the cycle it is first sent in (the number of cycles sealed
when it was committed, counting itself for an assistant message); at a later commit, its *age* is
the number of cycles sealed since then.

- ``ttl=N``: shown while ``age <= N`` (the cycle it is added in and N more); None: no limit.
- ``cadence=N`` (``window=W``, default 1): shown when ``age % N < W`` (W cycles out of every N).
- ``sticky=True``: shown next to the active head every cycle, instead of sinking into history: at
  the end of the context (``offset`` +1, the default, and up: after the active head's messages), or
  with a negative ``offset`` just before the active head (after the last reply, before the messages
  of the cycle being prepared). Sticky nodes on one side are ordered by offset, then history.

All of it is computed from history, so ``compile(at_commit=...)`` of a past commit shows exactly
what was shown then.

A lifecycle can be changed later with ``t.set_lifecycle(h, lifecycle)``: an append-only row beside
the commits, anchored at HEAD like an annotation (it applies to HEAD's compile and to everything
built on it, not to branches that already went on from HEAD, and not to ``compile(at_commit=...)``
of older commits). The new lifecycle's ages count from the cycle the change was made in (the cycles
sealed at the anchor), so ``set_lifecycle(h, Temporary(2))`` means "this cycle and 2 more from
now"; a message that had already expired is shown again if the new lifecycle says so (history is
never lost); None or ``Permanent()`` makes it permanent. The latest change wins; node keys are not
affected (a newer node with the same key still supersedes it).

The presets name the usual shapes: :func:`Permanent`, :func:`Temporary`, :func:`Sticky` and :func:`Cyclic`.

Compression does not change ages. It replaces a range's messages, and the cycles their assistant
messages sealed, with one summary, and keeps nodes with a live lifecycle verbatim after it. Two
hashed records keep every node shown in the cycles it would have been shown without it:

- the summary records the cycles it stands for (``metadata["compression"]["cycles"]``: those sealed
  by every message that left the context with the range) and seals that many, whatever its role
  (:func:`cycles_sealed`), so the cycles at HEAD and the ages of nodes outside the range are kept;
- a node kept verbatim is copied after the summary, so its copy would count the summarised cycles
  that followed it as its own past: its lifecycle's ``elapsed`` records them, and compile adds
  ``elapsed`` to the copy's age (``Temporary(5)`` kept ahead of two summarised replies becomes
  ``Lifecycle(ttl=5, elapsed=2)``; a cadence keeps its phase).

An archive (no summary) has no commit to record its cycles: nodes before an archived range count
fewer cycles afterwards.

Example:
    >>> life = Cyclic(every=3, visible_for=1)
    >>> [life.visible(age) for age in range(6)]
    [True, False, False, True, False, False]
    >>> Temporary(2).to_json()
    '{"ttl":2}'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError, damaged, shown
from ..objects import ContentType

__all__ = [
    "Lifecycle",
    "Permanent",
    "Temporary",
    "Sticky",
    "Cyclic",
    "coerce_lifecycle",
    "lifecycle_of_json",
    "LIFECYCLE_ROW",
    "lifecycle_row_json",
    "lifecycle_of_row",
    "lifecycle_problem",
    "cycles_sealed",
    "SUMMARY_CYCLES",
]

LIFECYCLE_ROW = "lifecycle"
"""What a lifecycle row stores in the annotation table's ``priority`` column (it sets no priority)."""

_FIELDS = ("ttl", "cadence", "window", "sticky", "elapsed", "offset")


def _whole(value: Any, name: str, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"lifecycle {name} must be a whole number or None, not {shown(value)}")
    if value < minimum:
        raise InvalidInputError(
            f"lifecycle {name} must be >= {minimum}, not {value}"
            + (" (a ttl counts the cycles a message stays after the one it is added in)" if name == "ttl" else "")
        )
    return value


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """When a message is shown, in cycles (see the module docstring).

    Args:
        ttl: Cycles the message stays after the one it is added in (0: only that one); None: no limit.
        cadence: Show it every ``cadence`` cycles (>= 1); None: every cycle.
        window: With ``cadence``, how many cycles of each period it is shown (1 <= window <= cadence).
        sticky: Render it next to the active head every cycle instead of at its place in history.
        offset: Where a sticky node goes: >= 1 after the active head's messages (the end of the
            context; None means 1), <= -1 just before them. Only with ``sticky``.
        elapsed: Cycles of the message's life that its history no longer holds, added to its age
            (compression sets it on a node it keeps verbatim, for the cycles it summarised after the
            node: see the module docstring). 0 for a message committed by the caller.

    Raises:
        InvalidInputError: A negative ttl or elapsed, a cadence or window below 1, a window without a
            cadence or larger than it, a value that is not a whole number (or, for ``sticky``, a bool).
    """

    ttl: int | None = None
    cadence: int | None = None
    window: int | None = None
    sticky: bool = False
    elapsed: int = 0
    offset: int | None = None

    def __post_init__(self) -> None:
        if self.offset is not None:
            if isinstance(self.offset, bool) or not isinstance(self.offset, int) or self.offset == 0:
                raise InvalidInputError(
                    f"a sticky offset is a whole number, negative (before the active head) or positive "
                    f"(after it), not {shown(self.offset)}"
                )
            if not self.sticky:
                raise InvalidInputError("offset= places a sticky node; give sticky=True (Sticky(offset=...))")
            if self.offset == 1:
                object.__setattr__(self, "offset", None)  # the default: one canonical form
        _whole(self.ttl, "ttl", 0)
        if _whole(self.elapsed, "elapsed", 0) is None:
            raise InvalidInputError("lifecycle elapsed must be a whole number of cycles (0 by default), not None")
        _whole(self.cadence, "cadence", 1)
        _whole(self.window, "window", 1)
        if not isinstance(self.sticky, bool):
            raise InvalidInputError(f"lifecycle sticky must be True or False, not {shown(self.sticky)}")
        if self.window is not None:
            if self.cadence is None:
                raise InvalidInputError("a lifecycle window needs a cadence (window=W shows W cycles of every cadence)")
            if self.window > self.cadence:
                raise InvalidInputError(
                    f"lifecycle window ({self.window}) cannot be larger than its cadence ({self.cadence})"
                )

    @property
    def permanent(self) -> bool:
        """Whether this is the default (always shown at its place): stored as no lifecycle at all."""
        return self.ttl is None and self.cadence is None and self.window is None and not self.sticky

    @property
    def ages(self) -> bool:
        """Whether what it shows depends on the message's age (it has a ttl or a cadence)."""
        return self.ttl is not None or self.cadence is not None

    def to_dict(self) -> dict[str, Any]:
        """The non-default fields as plain JSON data (``{}`` for a permanent lifecycle)."""
        data: dict[str, Any] = {}
        if self.cadence is not None:
            data["cadence"] = self.cadence
        if self.elapsed:
            data["elapsed"] = self.elapsed
        if self.offset is not None:
            data["offset"] = self.offset
        if self.sticky:
            data["sticky"] = True
        if self.ttl is not None:
            data["ttl"] = self.ttl
        if self.window is not None:
            data["window"] = self.window
        return data

    def to_json(self) -> str | None:
        """Canonical JSON of :meth:`to_dict` (sorted keys, compact), or None when permanent."""
        data = self.to_dict()
        return json.dumps(data, sort_keys=True, separators=(",", ":")) if data else None

    def visible(self, age: int) -> bool:
        """Whether a message of this lifecycle is shown ``age`` cycles after its commit was born
        (``elapsed`` is added to ``age``)."""
        age += self.elapsed
        if self.ttl is not None and age > self.ttl:
            return False
        return self.cadence is None or age % self.cadence < (self.window or 1)

    def expired(self, age: int) -> bool:
        """Whether it can never be shown again (its ttl has passed), ``age`` cycles after its commit was born."""
        return self.ttl is not None and age + self.elapsed > self.ttl


def Permanent() -> Lifecycle:  # noqa: N802 - a preset named like the component type it describes
    """Always shown at its place (the default; stored as no lifecycle)."""
    return Lifecycle()


def Temporary(ttl: int) -> Lifecycle:  # noqa: N802
    """Shown in the cycle it is added in and ``ttl`` more, then hidden for good."""
    return Lifecycle(ttl=ttl)


def Sticky(offset: int = 1) -> Lifecycle:  # noqa: N802
    """Shown next to the active head every cycle: after its messages (``offset`` >= 1, the default)
    or just before them (``offset`` <= -1)."""
    return Lifecycle(sticky=True, offset=offset)


def Cyclic(every: int, visible_for: int = 1) -> Lifecycle:  # noqa: N802
    """Shown ``visible_for`` cycles out of every ``every``, starting with the cycle it is added in."""
    return Lifecycle(cadence=every, window=visible_for)


def coerce_lifecycle(value: Any) -> Lifecycle | None:
    """A :class:`Lifecycle` from one, a dict of its fields, or None (None for a permanent one).

    Raises:
        InvalidInputError: Anything else, an unknown field, or an invalid value.
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in _FIELDS)
        if unknown:
            raise InvalidInputError(f"unknown lifecycle field(s) {unknown}; the fields are {list(_FIELDS)}")
        value = Lifecycle(**value)
    if not isinstance(value, Lifecycle):
        raise InvalidInputError(
            f"lifecycle must be a Lifecycle (Permanent(), Temporary(ttl), Sticky(), Cyclic(every, visible_for)) "
            f"or a dict of its fields, not {shown(value)}"
        )
    return None if value.permanent else value


SUMMARY_CYCLES = "cycles"
"""The field of a compression summary's ``metadata["compression"]`` that records how many cycles the
summary stands for (see :func:`cycles_sealed`)."""


def cycles_sealed(role: str | None, content_type: str, metadata_json: str | None) -> int:
    """How many cycles an APPENDed message seals (what compile adds to its count of cycles).

    An assistant message seals one and other roles none, except a compression summary that records
    the cycles it stands for (``metadata["compression"]["cycles"]``, written by compression): it
    seals that many, whatever its role. (Metadata that records no such whole number falls back to
    the role: a summary written before the field existed counts as it always did.)

    Args:
        role: The message's role.
        content_type: Its content type.
        metadata_json: The commit's metadata as canonical JSON, or None.
    """
    if content_type == ContentType.SUMMARY and metadata_json is not None and f'"{SUMMARY_CYCLES}"' in metadata_json:
        try:
            recorded = json.loads(metadata_json).get("compression", {}).get(SUMMARY_CYCLES)
        except (ValueError, AttributeError):
            recorded = None
        if type(recorded) is int and recorded >= 0:
            return recorded
    return 1 if role == "assistant" else 0


def lifecycle_problem(text: Any) -> str | None:
    """What is wrong with a stored lifecycle (the text of a commit's ``lifecycle`` column), or None.

    The stored form is the canonical JSON object of :meth:`Lifecycle.to_json`: text that is not
    JSON, not an object, has an unknown field or a value :class:`Lifecycle` refuses was damaged.
    """
    if not isinstance(text, str):
        return f"its lifecycle is stored as {type(text).__name__}, not text"
    try:
        data = json.loads(text)
    except ValueError:
        return f"its lifecycle {shown(text)} is not JSON"
    if not isinstance(data, dict):
        return f"its lifecycle {shown(text)} is not a JSON object"
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        return f"its lifecycle {shown(text)} has unknown field(s) {unknown}"
    try:
        Lifecycle(**data)
    except InvalidInputError as error:
        return f"its lifecycle {shown(text)} is invalid ({error})"
    return None


def lifecycle_of_json(text: str | None, *, commit: str | None = None, tract_id: str | None = None) -> Lifecycle | None:
    """The lifecycle stored as ``text`` (see :meth:`Lifecycle.to_json`), or None.

    Args:
        text: The stored text (a commit's ``lifecycle_json``), or None (permanent).
        commit: The commit it was read from, named in the error.
        tract_id: Its tract, named in the error.

    Raises:
        CorruptObjectError: The text is not a stored lifecycle (see :func:`lifecycle_problem`): the
            database was changed outside tract.
    """
    if text is None:
        return None
    problem = lifecycle_problem(text)
    if problem is not None:
        what = "a stored commit" if commit is None else f"commit {commit[:12]}"
        if tract_id is not None:
            what += f" of tract {tract_id!r}"
        raise damaged(what, problem)
    return Lifecycle(**json.loads(text))


def lifecycle_row_json(lifecycle: Lifecycle | None, age: int = 0) -> str:
    """The stored form of a lifecycle row: the lifecycle's fields (``{}`` when permanent), and ``age``
    when the row carries a lifecycle that was already ``age`` cycles old at its anchor (rebase,
    cherry-pick, merge and compression re-anchor rows at a new commit without restarting the count).
    """
    data = {} if lifecycle is None else lifecycle.to_dict()
    if age:
        data["age"] = age
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def lifecycle_of_row(text: str) -> tuple[Lifecycle | None, int]:
    """The lifecycle (None: permanent) and starting age a lifecycle row stores (see :func:`lifecycle_row_json`).

    Raises:
        InvalidInputError: The text is not a JSON object of lifecycle fields and an age >= 0.
        ValueError: The text is not JSON.
    """
    data = json.loads(text)
    if not isinstance(data, dict):
        raise InvalidInputError(f"a stored lifecycle row must be a JSON object, not {shown(data)}")
    age = data.pop("age", 0)
    if _whole(age, "age", 0) is None:
        raise InvalidInputError("a stored lifecycle row's age must be a whole number")
    return coerce_lifecycle(data), age
