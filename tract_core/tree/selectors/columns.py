"""The per-node data a selector reads, as columns over compile's slots, shared along a growing history.

Evaluating a query needs a few fields of every node (the role, the depth, ...) and whole
:class:`~tract_core.tree.Node` objects only for the nodes it selects. Building one ``Node`` per
message of a 4,000-message context costs tens of milliseconds, and an agent pays it on the first
select after every commit, so the engine reads columns instead:

- compile hands out contexts whose slots are views of one list that only grows
  (:class:`~tract_core.sequence.SharedSequence`): the context after a commit is the previous one plus
  the appended messages. A :class:`SlotTable` is kept per such list; each column (a field of every
  slot: role, tokens, tags, parsed metadata, searched text, generation config...) is extended on
  demand to the positions a context needs, so a new context costs only its new messages;
- coordinates are kept the same way. A message's depth changes every cycle, but the number of
  assistant messages before it (its absolute cycle) and its index in its cycle do not: the table
  keeps those, and a context of ``n`` messages derives ``depth = cycles(n) - cycle``;
- a context with messages hidden by lifecycles is a :class:`~tract_core.sequence.MaskedSequence` of
  such a list: its columns are gathered from the list's columns (C-speed slices), its coordinates
  recomputed from its roles;
- a context with attached messages (placement) takes its coordinates from
  :func:`~tract_core.tree.coordinates.context_coordinates`, the reference.

Everything here is a pure function of the slots, which never change once in a list (a list is only
appended to; an annotation or an edit gives a new list).
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any

from ...formats.content import text_of
from ...objects import Priority
from ..coordinates import SYSTEM_ROLES
from ..snapshot import NODE_FIELDS, Node, tags_of

__all__ = ["SlotTable", "PlainCoordinates", "table_of", "message_text", "layout", "make_node", "SLOT_COLUMNS"]

Configs = Callable[[Iterable[str]], dict[str, Any]]
"""Loads generation configs: the source commits asked for -> their config dict (or None)."""

_PRIORITIES: dict[Any, str] = {p: p.value for p in Priority}


def message_text(message: Mapping[str, Any]) -> str:
    """The text ``:contains`` searches: the message's text (text parts of a list), then the name and
    arguments of each tool call it makes, one per line."""
    content = message.get("content")
    parts = [text_of(content) if isinstance(content, (str, list)) else ""]
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            parts.append(f"{function.get('name', '')}({function.get('arguments', '')})")
    return "\n".join(parts)


_SETTERS = tuple(getattr(Node, name).__set__ for name in NODE_FIELDS)
_new = object.__new__


def make_node(
    id: str,
    region: str,
    depth: int,
    index: int,
    offset: int,
    role: str,
    content_type: str,
    priority: str,
    tokens: int,
    content_hash: str,
    lifecycle: Any,
    key: str | None,
    tags: tuple[str, ...],
) -> Node:
    """``Node(...)`` with the same positional arguments, about twice as fast: the slots are set
    directly instead of through the frozen dataclass's ``__init__`` (a selection can hold thousands)."""
    node = _new(Node)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12 = _SETTERS
    s0(node, id)
    s1(node, region)
    s2(node, depth)
    s3(node, index)
    s4(node, offset)
    s5(node, role)
    s6(node, content_type)
    s7(node, priority)
    s8(node, tokens)
    s9(node, content_hash)
    s10(node, lifecycle)
    s11(node, key)
    s12(node, tags)
    return node


def _field(name: str) -> Callable[[Sequence[Any]], list[Any]]:
    get = attrgetter(name)
    return lambda slots: list(map(get, slots))


def _priorities(slots: Sequence[Any]) -> list[str]:
    return [_PRIORITIES.get(p) or str(p) for p in map(attrgetter("priority"), slots)]


def _lifecycles(slots: Sequence[Any]) -> list[Any]:
    return [None if life is None else life.to_dict() for life in map(attrgetter("lifecycle"), slots)]


def _tags(slots: Sequence[Any]) -> list[tuple[str, ...]]:
    return [tags_of(raw) for raw in map(attrgetter("metadata_json"), slots)]


def _metadata(slots: Sequence[Any]) -> list[Any]:
    return [None if raw is None else json.loads(raw) for raw in map(attrgetter("metadata_json"), slots)]


def _texts(slots: Sequence[Any]) -> list[str]:
    return [message_text(message) for message in map(attrgetter("message"), slots)]


SLOT_COLUMNS: dict[str, Callable[[Sequence[Any]], list[Any]]] = {
    "id": _field("key"),
    "role": _field("role"),
    "content_type": _field("content_type"),
    "priority": _priorities,
    "tokens": _field("tokens"),
    "content_hash": _field("blob"),
    "lifecycle": _lifecycles,
    "key": _field("node_key"),
    "tags": _tags,
    "source": _field("source"),
    "metadata": _metadata,
    "text": _texts,
}
"""How each column is read from a run of compile's slots: the node fields that do not depend on the
context (``Node`` field names), and ``source``, ``metadata`` (parsed), ``text`` (see :func:`message_text`)."""


def layout(
    column: Sequence[Any], mask: Sequence[int], length: int, pre_at: int, pre: list[Any], tail: list[Any]
) -> list[Any]:
    """A column of a :class:`~tract_core.sequence.MaskedSequence` view from its base's column: the
    first ``length`` values without the ``mask`` positions, ``pre`` inserted before base position
    ``pre_at`` and ``tail`` appended (the view's own layout)."""
    out: list[Any] = []
    start = 0
    for masked in (*mask, length):
        if pre and start <= pre_at <= masked:
            out.extend(column[start:pre_at])
            out.extend(pre)
            start, pre = pre_at, []
        out.extend(column[start:masked])
        start = masked + 1
    out.extend(tail)
    return out


class PlainCoordinates:
    """The coordinates of ``size`` messages none of which is attached to another, as the absolute
    cycle and the index of each (see :mod:`tract_core.tree.coordinates`).

    Attributes:
        size: How many messages.
        leading: The length of the leading system run (``^sys``, depth -1).
        cycles: How many assistant messages precede each message (may run past ``size``).
        indexes: Each message's index among the messages of its depth (may run past ``size``).
        sealed: The cycles sealed: assistant messages among the messages.
        head_start: Where the active head starts: after the last assistant message, else after the
            leading run.
    """

    __slots__ = ("size", "leading", "cycles", "indexes", "sealed", "head_start")

    def __init__(
        self, size: int, leading: int, cycles: list[int], indexes: list[int], sealed: int, head_start: int
    ) -> None:
        self.size = size
        self.leading = leading
        self.cycles = cycles
        self.indexes = indexes
        self.sealed = sealed
        self.head_start = head_start

    def depths(self) -> list[int]:
        """The depth of every message: -1 in the leading run, else the cycles sealed after it."""
        sealed, leading = self.sealed, self.leading
        return [-1] * leading + [sealed - c for c in self.cycles[leading : self.size]]

    def regions(self) -> list[str]:
        """The region of every message."""
        start = self.head_start
        return ["^sys"] * self.leading + ["^seq"] * (start - self.leading) + ["^ah"] * (self.size - start)

    @classmethod
    def of_roles(cls, roles: Sequence[str]) -> PlainCoordinates:
        """The coordinates of messages with these roles (none attached), computed from scratch."""
        state = _Walk()
        state.walk(roles)
        return state.coordinates(len(roles))


class _Walk:
    """The running state of the coordinate walk over a growing list of roles."""

    __slots__ = ("count", "leading", "cycles", "indexes", "replies")

    def __init__(self) -> None:
        self.count = 0
        self.leading = 0
        self.cycles: list[int] = []
        self.indexes: list[int] = []
        self.replies: list[int] = []

    def walk(self, roles: Iterable[str]) -> None:
        """Extend the walk by the next messages' roles."""
        cycles, indexes, replies = self.cycles, self.indexes, self.replies
        i, leading = self.count, self.leading
        start = replies[-1] + 1 if replies else leading
        for role in roles:
            if leading == i and role in SYSTEM_ROLES:
                leading += 1
                cycles.append(0)
                indexes.append(i)
            else:
                if not replies:
                    start = leading
                cycles.append(len(replies))
                indexes.append(i - start)
                if role == "assistant":  # the reply seals its cycle
                    replies.append(i)
                    start = i + 1
            i += 1
        self.count, self.leading = i, leading

    def coordinates(self, n: int) -> PlainCoordinates:
        """The coordinates of the first ``n`` messages walked."""
        replies = self.replies
        sealed = bisect_left(replies, n)
        leading = min(self.leading, n)
        return PlainCoordinates(
            n, leading, self.cycles, self.indexes, sealed, replies[sealed - 1] + 1 if sealed else leading
        )


class SlotTable:
    """The columns of one of compile's append-only slot lists, extended on demand (thread-safe).

    Args:
        items: The list (it is read, never changed; positions already read must never change).
    """

    __slots__ = ("items", "_lock", "_columns", "_walk", "_placed", "_configs", "_nodes")

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self._lock = threading.Lock()
        self._columns: dict[str, list[Any]] = {}
        self._walk = _Walk()
        self._placed: list[int] = []
        self._configs: list[Any] = []
        self._nodes: OrderedDict[int, dict[int, Any]] = OrderedDict()

    def column(self, name: str, n: int) -> list[Any]:
        """The first ``n`` values of a column of :data:`SLOT_COLUMNS` (a new list)."""
        with self._lock:
            found = self._columns.get(name)
            if found is None:
                found = self._columns[name] = []
            if len(found) < n:
                found.extend(SLOT_COLUMNS[name](self.items[len(found) : n]))
            return found[:n]

    def derived(self, name: str, n: int, build: Callable[[int, int], list[Any]]) -> list[Any]:
        """The first ``n`` values of a column computed from other columns: ``build(start, stop)`` gives
        the values of positions ``start`` to ``stop`` (called only for positions not read yet; ``name``
        must always name the same computation)."""
        with self._lock:
            found = self._columns.get(name)
        if found is None or len(found) < n:
            start = 0 if found is None else len(found)
            values = build(start, n)  # outside the lock: it reads other columns
            with self._lock:
                found = self._columns.setdefault(name, [])
                if len(found) == start:
                    found.extend(values)
                elif len(found) < n:  # another thread extended it meanwhile
                    found.extend(values[len(found) - start :])
        with self._lock:
            return found[:n]

    def configs(self, n: int, load: Configs) -> list[Any]:
        """The generation config of the commit each of the first ``n`` slots shows (None: none)."""
        with self._lock:
            found = self._configs
            if len(found) < n:
                sources = [s.source for s in self.items[len(found) : n]]
                loaded = load(sources)
                found.extend(loaded.get(source) for source in sources)
            return found[:n]

    def coordinates(self, n: int) -> PlainCoordinates | None:
        """The coordinates of the context made of the first ``n`` slots; None when one of them is
        attached to another message (those need :func:`~tract_core.tree.coordinates.context_coordinates`)."""
        with self._lock:
            walk = self._walk
            if walk.count < n:
                start = walk.count
                new = self.items[start:n]
                self._placed.extend(start + k for k, s in enumerate(new) if s.placement is not None)
                walk.walk([s.role for s in new])
            if self._placed and self._placed[0] < n:
                return None
            return walk.coordinates(n)

    def masked_coordinates(
        self, shape: tuple[Sequence[int], int, int, Sequence[Any], Sequence[Any]]
    ) -> PlainCoordinates | None:
        """The coordinates of a masked view of this list (``(mask, length, pre_at, pre, tail)`` as a
        :class:`~tract_core.sequence.MaskedSequence` lays it out), derived from the list's in
        O(mask + pre + tail + cycles touched) list operations; None when the view's cycles or leading
        run differ from the list's (an assistant or system message hidden or moved, or one attached
        to another): then compute them from the view's roles."""
        mask, length, pre_at, pre, tail = shape
        base = self.coordinates(length)
        if base is None:
            return None
        items, leading = self.items, base.leading
        masked = frozenset(mask)
        if (mask and mask[0] < leading) or (pre and pre_at < leading):
            return None  # a system message of the leading run hidden, or something shown among them
        first = leading
        while first in masked:
            first += 1
        if first < length and items[first].role in SYSTEM_ROLES:
            return None  # hiding the first turns would lengthen the leading run
        if any(items[b].role == "assistant" for b in mask):
            return None
        if any(s.role == "assistant" or s.role in SYSTEM_ROLES or s.placement is not None for s in (*pre, *tail)):
            return None
        with self._lock:
            replies = self._walk.replies[: bisect_left(self._walk.replies, length)]
            cycles = layout(
                self._walk.cycles,
                mask,
                length,
                pre_at,
                [bisect_left(replies, pre_at)] * len(pre),
                [len(replies)] * len(tail),
            )
            indexes = layout(self._walk.indexes, mask, length, pre_at, list(range(len(pre))), list(range(len(tail))))
        size = len(cycles)
        sealed = len(replies)

        def shown_before(p: int) -> int:  # view positions before base position p's place
            return p - bisect_left(mask, p) + (len(pre) if pre_at < p else 0)

        touched = {base.cycles[b] for b in mask}
        if pre:
            touched.add(bisect_left(replies, pre_at))
        if tail:
            touched.add(sealed)
        head_start = leading if not sealed else shown_before(replies[-1] + 1)
        for c in touched:  # renumber the cycles a hidden or moved message changed
            start = leading if c == 0 else shown_before(replies[c - 1] + 1)
            stop = size if c == sealed else shown_before(replies[c] + 1)
            indexes[start:stop] = range(stop - start)
        return PlainCoordinates(size, leading, cycles, indexes, sealed, head_start)

    def nodes(self, sealed: int) -> dict[int, Any]:
        """A cache of built nodes for the contexts of this list with ``sealed`` cycles: in such a context
        the node at a position is the same whatever its length (a new cycle moves every depth)."""
        with self._lock:
            found = self._nodes.get(sealed)
            if found is None:
                found = self._nodes[sealed] = {}
                while len(self._nodes) > 2:
                    self._nodes.popitem(last=False)
            else:
                self._nodes.move_to_end(sealed)
            return found


_CACHED = 8
"""How many slot lists keep their table (the most recently used)."""
_lock = threading.Lock()
_tables: OrderedDict[int, SlotTable] = OrderedDict()


def table_of(items: list[Any]) -> SlotTable:
    """The (cached) :class:`SlotTable` of one of compile's slot lists."""
    with _lock:
        found = _tables.get(id(items))
        if found is not None and found.items is items:
            _tables.move_to_end(id(items))
            return found
        found = _tables[id(items)] = SlotTable(items)
        while len(_tables) > _CACHED:
            _tables.popitem(last=False)
        return found
