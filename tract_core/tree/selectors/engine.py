"""Evaluating a parsed selector on the nodes of a compiled context, and ``Tract.select``'s work.

The tree a selector walks (docs/selectors.md): the root holds the three regions (``^sys``, ``^seq``,
``^ah``); a region's children are its core nodes (offset 0); a core node's children are the pre- and
post-context nodes attached to it (same depth and index, offset != 0). An attached node whose core
node is not in the context is a child of its region. Cycles are not a level of their own: a node's
cycle is its depth, matched by a position such as ``(d11..d*)``.

A complex selector is read left to right on sets: the first compound matches regions or nodes; each
combinator then takes the children (``>``) or descendants (space) of what matched so far and keeps
those the next compound matches; ``:first``/``:last``/``:nth(n)`` pick from the ordered nodes a
compound matched. The result is every selected node (a region stands for all of its nodes), in
context order; a union merges its selectors' results; ``@limit=N`` keeps the first N.

A context is read as columns (:mod:`.columns`): the fields a query tests, for every node, kept per
compile's append-only slot list and extended by the messages a commit adds, so the first query after
a commit costs about what a repeated one does; :class:`~tract_core.tree.Node` objects are built only
for the selected nodes. The index of a context is also cached for the few contexts used last (a
context is immutable and compile hands out the same object while HEAD does not move).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ...errors import InvalidInputError, shown
from ...formats import CompiledContext
from ...objects import Priority
from ...refs import Ref
from ...sequence import MaskedSequence, SharedSequence
from ...store.base import Session
from ..coordinates import AH, REGIONS, SEQ, SYS, context_coordinates, region_of
from ..snapshot import NODE_FIELDS, Node, Snapshot, tags_of
from ..taking import check_snapshot_at, take_contexts
from .columns import SLOT_COLUMNS, Configs, PlainCoordinates, SlotTable, layout, make_node, message_text, table_of
from .selection import Selection, SelectionSeries
from .syntax import (
    AttributeTest,
    BehaviourTest,
    Complex,
    Compound,
    ContainsTest,
    KeyTest,
    Literal,
    OffsetTest,
    PositionTest,
    SelectorQuery,
    TagTest,
    Test,
    TypeTest,
    compare,
    parse_selector,
)

__all__ = [
    "ContextIndex",
    "index_of",
    "evaluate",
    "select_in",
    "select_snapshot",
    "check_select_query",
    "selected_range",
]

_CACHED = 8
"""How many contexts keep their index (the most recently used)."""


class _Row(NamedTuple):
    """What the index reads of a snapshot's message (a snapshot keeps no metadata or sources)."""

    message: Mapping[str, Any]
    metadata_json: str | None = None
    source: str | None = None


_Shape = tuple[tuple[int, ...], int, int, tuple[Any, ...], tuple[Any, ...]]
"""A masked view of a slot list: ``(mask, base length, pre_at, pre slots, tail slots)``."""


class ContextIndex:
    """One compiled context (or snapshot) as the selector tree, read as columns.

    A context made by ``Tract.compile()`` is read through the :class:`~.columns.SlotTable` of compile's
    slot list (shared with the contexts before and after it, so a new context costs its new messages),
    its coordinates as absolute cycles (:class:`~.columns.PlainCoordinates`) unless a message is
    attached to another. :class:`~tract_core.tree.Node` objects are built only for the nodes a query
    selects (:meth:`node`). A snapshot is read from its nodes.

    Attributes:
        owner: The compiled context or snapshot indexed (kept: the cache checks identity).
        size: How many nodes.
        rows: For each node, its slot (message, metadata JSON, source commit...).
        results: What :func:`evaluate` found here, by query text (and whether configs were given).
    """

    __slots__ = (
        "owner",
        "size",
        "rows",
        "_table",
        "_shape",
        "_plain",
        "_nodes",
        "_built",
        "_parent",
        "_children",
        "_by_region",
        "_columns",
        "_configs",
        "results",
    )

    def __init__(
        self,
        owner: Any,
        rows: Sequence[Any],
        *,
        table: SlotTable | None = None,
        shape: _Shape | None = None,
        plain: PlainCoordinates | None = None,
        coordinates: Sequence[tuple[int, int, int]] | None = None,
        nodes: Sequence[Node] | None = None,
    ) -> None:
        self.owner = owner
        self.rows = rows
        self.size = len(rows)
        self._table = table
        self._shape = shape
        self._plain = plain
        self._nodes: tuple[Node, ...] | None = None if nodes is None else tuple(nodes)
        self._columns: dict[str, list[Any]] = {}
        self._configs: list[Any] | None = None
        self.results: dict[tuple[str, bool], tuple[Node, ...]] = {}
        self._parent: list[int] | None = None
        self._children: dict[int, list[int]] = {}
        self._by_region: dict[str, list[int]] = {}
        if plain is not None:
            self._built: dict[int, Node] = table.nodes(plain.sealed) if table is not None and shape is None else {}
            return
        self._built = {}
        if coordinates is None:
            assert self._nodes is not None
            coordinates = [n.coordinate for n in self._nodes]
        depth, index, offset = ([c[k] for c in coordinates] for k in range(3))
        self._columns.update(depth=depth, index=index, offset=offset, region=[region_of(d) for d in depth])
        cores = {(d, i): k for k, (d, i, o) in enumerate(coordinates) if o == 0}
        self._parent = [-1 if o == 0 else cores.get((d, i), -1) for d, i, o in coordinates]
        self._by_region = {region: [] for region in REGIONS}
        for k, (region, up) in enumerate(zip(self._columns["region"], self._parent, strict=True)):
            self._by_region[region].append(k)
            if up >= 0:
                self._children.setdefault(up, []).append(k)

    @classmethod
    def of_context(cls, context: CompiledContext) -> ContextIndex:
        """The index of a context made by ``Tract.compile()``.

        Raises:
            InvalidInputError: The context was built by hand.
        """
        slots = context._slots
        if slots is None:
            context.outline()  # raises the error that says so
            raise AssertionError("unreachable")
        table: SlotTable | None = None
        shape: _Shape | None = None
        plain: PlainCoordinates | None = None
        if isinstance(slots, SharedSequence):  # a prefix of compile's list
            table = table_of(slots._items)
            plain = table.coordinates(len(slots))
            rows: Sequence[Any] = slots
        elif isinstance(slots, MaskedSequence) and isinstance(slots._base, SharedSequence):
            table = table_of(slots._base._items)
            length = len(slots._base)
            shape = (slots._mask, length, slots._pre_at, slots._pre, slots._tail)
            rows = slots.tolist()
            plain = table.masked_coordinates(shape)
            moved = (*slots._pre, *slots._tail)
            if (  # the view's cycles differ from the list's, and nothing is attached: walk its roles
                plain is None and table.coordinates(length) is not None and all(s.placement is None for s in moved)
            ):
                kept = table
                roles = _gathered(table, shape, lambda n: kept.column("role", n), SLOT_COLUMNS["role"])
                plain = PlainCoordinates.of_roles(roles)
        else:
            rows = list(slots)
            if all(s.placement is None for s in rows):
                plain = PlainCoordinates.of_roles([s.role for s in rows])
        if plain is not None:
            return cls(context, rows, table=table, shape=shape, plain=plain)
        coordinates = [(c.depth, c.index, c.offset) for c in context_coordinates(context)]
        return cls(context, rows, table=table, shape=shape, coordinates=coordinates)

    @classmethod
    def of_snapshot(cls, snapshot: Snapshot) -> ContextIndex:
        """The index of a snapshot (its messages; no metadata, so attributes are node fields only)."""
        return cls(snapshot, [_Row(m) for m in snapshot.messages], nodes=snapshot.nodes)

    # -- columns ---------------------------------------------------------------------------------

    def column(self, name: str) -> list[Any]:
        """One node field of every node (or ``text``, ``metadata``, ``source``), in order; built once
        per index."""
        found = self._columns.get(name)
        if found is None:
            found = self._columns[name] = self._read(name)
        return found

    def _read(self, name: str) -> list[Any]:
        plain = self._plain
        if plain is not None and name in ("depth", "index", "offset", "region"):
            if name == "depth":
                return plain.depths()
            if name == "index":
                return plain.indexes[: self.size]
            return [0] * self.size if name == "offset" else plain.regions()
        if self._nodes is not None:  # a snapshot
            if name in NODE_FIELDS:
                return [getattr(node, name) for node in self._nodes]
            if name == "text":
                return [message_text(row.message) for row in self.rows]
            return [None] * self.size  # no metadata, no source
        if self._table is None:
            return SLOT_COLUMNS[name](self.rows)
        if self._shape is None:
            return self._table.column(name, self.size)
        table = self._table
        return _gathered(table, self._shape, lambda n: table.column(name, n), SLOT_COLUMNS[name])

    def configs(self, load: Configs) -> list[Any]:
        """The generation config of the commit each node shows (None: none; a snapshot has none)."""
        if self._configs is None:
            table, shape = self._table, self._shape
            if self._nodes is not None:
                found: list[Any] = [None] * self.size
            elif table is None:
                sources = [s.source for s in self.rows]
                loaded = load(sources)
                found = [loaded.get(source) for source in sources]
            elif shape is None:
                found = table.configs(self.size, load)
            else:
                kept = table

                def direct(slots: Sequence[Any]) -> list[Any]:
                    loaded = load([s.source for s in slots])
                    return [loaded.get(s.source) for s in slots]

                found = _gathered(table, shape, lambda n: kept.configs(n, load), direct)
            self._configs = found
        return self._configs

    def attribute_column(self, name: str, configs: Configs | None) -> list[Any]:
        """An attribute of every node, in order: a node field, else the key ``name`` of the node's
        metadata, else of the generation config of the commit whose content it shows (None: neither
        has it). Kept with the slot list's columns, so a new context computes only its new messages."""
        if name in NODE_FIELDS:
            return self.column(name)
        cached = f"attr:{name}:{configs is not None}"
        found = self._columns.get(cached)
        if found is not None:
            return found
        table, shape = self._table, self._shape
        if self._nodes is not None:  # a snapshot keeps no metadata or configs
            found = [None] * self.size
        elif table is None:
            found = _attributes(name, self.column("metadata"), None if configs is None else self.configs(configs))
        else:
            kept = table

            def build(start: int, stop: int) -> list[Any]:
                metas = kept.column("metadata", stop)[start:]
                return _attributes(name, metas, None if configs is None else kept.configs(stop, configs)[start:])

            def direct(slots: Sequence[Any]) -> list[Any]:
                metas = SLOT_COLUMNS["metadata"](slots)
                if configs is None:
                    return _attributes(name, metas, None)
                loaded = configs([s.source for s in slots])
                return _attributes(name, metas, [loaded.get(s.source) for s in slots])

            if shape is None:
                found = table.derived(cached, self.size, build)
            else:
                found = _gathered(table, shape, lambda n: kept.derived(cached, n, build), direct)
        self._columns[cached] = found
        return found

    def texts(self) -> list[str]:
        """The text ``:contains`` searches of every node (see :func:`~.columns.message_text`)."""
        return self.column("text")

    # -- the tree --------------------------------------------------------------------------------

    def members(self, region: str, direct: bool) -> list[int]:
        """The nodes of a region (``direct``: only its children, the nodes not attached to one of it)."""
        plain = self._plain
        if plain is not None:  # nothing is attached: every node is a child of its region
            start = plain.head_start
            if region == SYS:
                return list(range(plain.leading))
            return list(range(plain.leading, start)) if region == SEQ else list(range(start, self.size))
        members = self._by_region[region]
        if not direct:
            return list(members)
        parent = self._parent
        assert parent is not None
        return [i for i in members if parent[i] < 0]

    def children_of(self, i: int) -> Sequence[int]:
        """The nodes attached to node ``i`` (none when it is attached itself)."""
        return self._children.get(i, ())

    def node(self, i: int) -> Node:
        """The :class:`~tract_core.tree.Node` of position ``i`` (built once)."""
        return self.nodes_at([i])[0]

    def nodes_at(self, positions: Sequence[int]) -> list[Node]:
        """The :class:`~tract_core.tree.Node` of each position, built once (a few from their slots, many
        from the columns)."""
        if self._nodes is not None:
            nodes = self._nodes
            return [nodes[i] for i in positions]
        built = self._built
        try:
            return [built[i] for i in positions]  # a query repeated on this context
        except KeyError:
            pass
        missing = [i for i in positions if i not in built]
        if len(missing) > _FEW:
            self._build_many(missing)
        else:
            for i in missing:
                built[i] = self._build(i)
        return [built[i] for i in positions]

    def _place(self, i: int) -> tuple[str, int, int, int]:
        plain = self._plain
        if plain is None:
            columns = self._columns
            return columns["region"][i], columns["depth"][i], columns["index"][i], columns["offset"][i]
        if i < plain.leading:
            return SYS, -1, i, 0
        depth = plain.sealed - plain.cycles[i]
        return AH if depth == 0 else SEQ, depth, plain.indexes[i], 0

    def _build(self, i: int) -> Node:
        s = self.rows[i]
        region, depth, index, offset = self._place(i)
        priority = s.priority
        return make_node(
            s.key,
            region,
            depth,
            index,
            offset,
            s.role,
            s.content_type,
            _PRIORITIES.get(priority) or str(priority),
            s.tokens,
            s.blob,
            None if s.lifecycle is None else s.lifecycle.to_dict(),
            s.node_key,
            tags_of(s.metadata_json),
        )

    def _build_many(self, positions: list[int]) -> None:
        """Build the nodes of many positions from the columns (the hot loop of a large selection:
        :func:`~.columns.make_node` inlined)."""
        built = self._built
        ids, roles, types, priorities, tokens, hashes, lives, keys, tags = (self.column(n) for n in _STATIC)
        plain = self._plain
        if plain is None:
            places = [self._place(i) for i in positions]
        else:
            cycles, indexes, leading, sealed = plain.cycles, plain.indexes, plain.leading, plain.sealed
            places = [
                (SYS, -1, i, 0) if i < leading else (AH if (d := sealed - cycles[i]) == 0 else SEQ, d, indexes[i], 0)
                for i in positions
            ]
        new, s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12 = _MAKE
        for i, (region, depth, index, offset) in zip(positions, places, strict=True):
            node = new(Node)
            s0(node, ids[i])
            s1(node, region)
            s2(node, depth)
            s3(node, index)
            s4(node, offset)
            s5(node, roles[i])
            s6(node, types[i])
            s7(node, priorities[i])
            s8(node, tokens[i])
            s9(node, hashes[i])
            life = lives[i]
            s10(node, None if life is None else dict(life))
            s11(node, keys[i])
            s12(node, tags[i])
            built[i] = node


_FEW = 48
"""Up to how many nodes are built from their slots; more are built from the columns."""
_STATIC = ("id", "role", "content_type", "priority", "tokens", "content_hash", "lifecycle", "key", "tags")
_PRIORITIES: dict[Any, str] = {p: p.value for p in Priority}
_MAKE = (object.__new__, *(getattr(Node, name).__set__ for name in NODE_FIELDS))
"""How :meth:`ContextIndex._build_many` makes a node: a bare object, then a setter per field."""


def _gathered(
    table: SlotTable,
    shape: _Shape,
    whole: Callable[[int], list[Any]],
    direct: Callable[[Sequence[Any]], list[Any]],
) -> list[Any]:
    """A column of a masked view: ``whole(n)`` (the column of the list's first ``n`` slots) laid out as
    the view is; the moved (sticky) slots are slots of the list too, read at their place there
    (``direct(slots)`` computes the values of slots found nowhere in it)."""
    mask, length, pre_at, pre, tail = shape
    column = whole(length)
    items = table.items
    where = {id(items[b]): b for b in mask}

    def values(slots: tuple[Any, ...]) -> list[Any]:
        if all(id(s) in where for s in slots):
            return [column[where[id(s)]] for s in slots]
        return direct(slots)

    return layout(column, mask, length, pre_at, values(pre) if pre else [], values(tail) if tail else [])


def _attributes(name: str, metadata: Sequence[Any], configs: Sequence[Any] | None) -> list[Any]:
    """The attribute ``name`` of each node from its metadata, else its generation config (None: neither)."""
    if configs is None:
        return [m[name] if isinstance(m, dict) and name in m else None for m in metadata]
    return [
        m[name] if isinstance(m, dict) and name in m else c.get(name) if isinstance(c, dict) else None
        for m, c in zip(metadata, configs, strict=True)
    ]


_lock = threading.Lock()
_indexes: OrderedDict[int, ContextIndex] = OrderedDict()


def index_of(context: CompiledContext) -> ContextIndex:
    """The (cached) :class:`ContextIndex` of a compiled context."""
    with _lock:
        found = _indexes.get(id(context))
        if found is not None and found.owner is context:
            _indexes.move_to_end(id(context))
            return found
    built = ContextIndex.of_context(context)
    with _lock:
        _indexes[id(context)] = built
        while len(_indexes) > _CACHED:
            _indexes.popitem(last=False)
    return built


# -- matching ---------------------------------------------------------------------------------------


def _bounded(values: list[int], candidates: list[int], bounds: tuple[int | None, int | None]) -> list[int]:
    low, high = bounds
    if low is not None and high is not None:
        return [i for i in candidates if low <= values[i] <= high]
    if low is not None:
        return [i for i in candidates if values[i] >= low]
    if high is not None:
        return [i for i in candidates if values[i] <= high]
    return candidates


def _compared(op: str, values: list[Any], candidates: list[int], literal: Literal, pattern: Any) -> list[int]:
    """The candidates whose value ``op`` the literal holds (:func:`.syntax.compare`, with fast paths)."""
    number = literal.number
    if op in ("<", "<=", ">", ">=") and number is not None:
        kinds = (int, float)
        if op == "<":
            return [i for i in candidates if type(v := values[i]) in kinds and v < number]
        if op == "<=":
            return [i for i in candidates if type(v := values[i]) in kinds and v <= number]
        if op == ">":
            return [i for i in candidates if type(v := values[i]) in kinds and v > number]
        return [i for i in candidates if type(v := values[i]) in kinds and v >= number]
    if op in ("=", "!="):
        text, equals, wanted = literal.text, literal.equals, op == "="
        missing = equals(None) is wanted  # what a node without the value gives
        return [
            i
            for i in candidates
            if (missing if (v := values[i]) is None else (v == text if type(v) is str else equals(v)) is wanted)
        ]
    return [i for i in candidates if compare(op, values[i], literal, pattern)]


def _lifecycles(index: ContextIndex, name: str) -> list[Any]:
    return [None if life is None else life.get(name) for life in index.column("lifecycle")]


def _flags(index: ContextIndex, name: str) -> list[bool]:
    if name == "sticky":
        return [bool(value) for value in _lifecycles(index, "sticky")]
    if name == "keyed":
        return [key is not None for key in index.column("key")]
    wanted = "pinned" if name == "pinned" else "skip"
    return [priority == wanted for priority in index.column("priority")]


def _filter(test: Test, index: ContextIndex, candidates: list[int], configs: Configs | None) -> list[int]:
    """The candidates that pass one test, in order."""
    if isinstance(test, TypeTest):
        roles, types, name = index.column("role"), index.column("content_type"), test.name
        return [i for i in candidates if roles[i] == name or types[i] == name]
    if isinstance(test, PositionTest):
        candidates = _bounded(index.column("depth"), candidates, test.depth)
        candidates = _bounded(index.column("index"), candidates, test.index)
        return _bounded(index.column("offset"), candidates, test.offset)
    if isinstance(test, KeyTest):
        keys, key = index.column("key"), test.key
        return [i for i in candidates if keys[i] == key]
    if isinstance(test, TagTest):
        tags, tag = index.column("tags"), test.tag
        return [i for i in candidates if tag in tags[i]]
    if isinstance(test, AttributeTest):
        values = index.attribute_column(test.name, configs)
        return _compared(test.op, values, candidates, test.value, test.pattern)
    if isinstance(test, BehaviourTest):
        if test.name in ("sticky", "pinned", "skipped", "keyed"):
            flags = _flags(index, test.name)
            wanted = test.value is None or (test.value.text == "true") == (test.op == "=")
            return [i for i in candidates if flags[i] is wanted]
        numbers = _lifecycles(index, test.name)
        if test.op is None or test.value is None:
            return [i for i in candidates if numbers[i] is not None]
        return _compared(test.op, numbers, candidates, test.value, None)
    if isinstance(test, OffsetTest):
        offsets = index.column("offset")
        if test.kind == "pre":
            return [i for i in candidates if offsets[i] < 0]
        if test.kind == "post":
            return [i for i in candidates if offsets[i] > 0]
        return [i for i in candidates if offsets[i] == 0]
    assert isinstance(test, ContainsTest)
    texts, text = index.texts(), test.text
    return [i for i in candidates if text in texts[i]]


def _match(compound: Compound, index: ContextIndex, candidates: list[int], configs: Configs | None) -> list[int]:
    matched = candidates
    for test in compound.tests:
        matched = _filter(test, index, matched, configs)
    for pick in compound.picks:
        matched = [matched[pick]] if -len(matched) <= pick < len(matched) else []
    return matched


def _below(index: ContextIndex, regions: list[str], nodes: list[int], combinator: str) -> list[int]:
    """The children (``>``) or descendants (space) of the matched regions and nodes, in context order."""
    found: list[int] = []
    for region in regions:
        found.extend(index.members(region, combinator == ">"))
    for i in nodes:  # an attached node has no children: a core node's descendants are its children
        found.extend(index.children_of(i))
    return found if len(regions) + len(nodes) <= 1 else sorted(set(found))


def _run(complex_: Complex, index: ContextIndex, configs: Configs | None) -> list[int]:
    first = complex_.compounds[0]
    regions: list[str] = []
    nodes: list[int] = []
    if first.region is not None:
        regions = [first.region]
    else:
        nodes = _match(first, index, list(range(index.size)), configs)
        if not first.tests and not first.picks:  # a bare * also matches the regions
            regions = list(REGIONS)
    for combinator, compound in zip(complex_.combinators, complex_.compounds[1:], strict=True):
        nodes = _match(compound, index, _below(index, regions, nodes, combinator), configs)
        regions = []
    if len(regions) == 1:
        return index.members(regions[0], False)
    if regions:  # a bare *: every node
        return list(range(index.size))
    return nodes


def evaluate(query: SelectorQuery, index: ContextIndex, configs: Configs | None = None) -> list[Node]:
    """The nodes ``query`` selects in one context, in context order.

    Args:
        query: A parsed query (its temporal prefix is not read here).
        index: The context's :class:`ContextIndex`.
        configs: Loads generation configs for attributes found neither on nodes nor in metadata
            (None: such attributes are missing).
    """
    key = (query.text, configs is None)
    found = index.results.get(key)
    if found is None:
        results = [_run(complex_, index, configs) for complex_ in query.selectors]
        chosen = results[0] if len(results) == 1 else sorted(set().union(*results))
        if query.limit is not None:
            chosen = chosen[: query.limit]
        found = tuple(index.nodes_at(chosen))
        kept = index.results
        kept[key] = found
        if len(kept) > _RESULTS:  # forget the oldest (list() copies the keys at once: safe across threads)
            for old in list(kept)[: len(kept) - _RESULTS]:
                kept.pop(old, None)
    return list(found)


_RESULTS = 32
"""How many query results a context's index keeps (a query repeated at one HEAD costs a lookup)."""


# -- Tract.select --------------------------------------------------------------------------------


def check_select_query(query: Any, at: Ref) -> tuple[SelectorQuery, str, bool]:
    """Parse ``query`` and decide where it looks, before any database work.

    Returns:
        The parsed query, the address or commit to select at, and whether it names several snapshots.

    Raises:
        SelectorSyntaxError: A malformed query.
        InvalidInputError: A temporal prefix in the query and ``at=`` both given.
        TemporalAddressError: A malformed ``at``.
    """
    parsed = parse_selector(query)
    if parsed.temporal is not None and at is not None:
        raise InvalidInputError(
            f"the query says when ({parsed.temporal}) and at={shown(at)} says it too; give only one of them"
        )
    where = parsed.temporal or ("@t0" if at is None else at)
    return parsed, where, check_snapshot_at(where)


def select_snapshot(snapshot: Snapshot, query: str) -> Selection:
    """The nodes ``query`` selects in a snapshot you hold (e.g. one rebuilt with ``Snapshot.from_bytes``).

    A snapshot keeps no commit metadata or generation configs, so an attribute that is not a node
    field is missing (see docs/selectors.md); tags are node fields and work.

    Raises:
        SelectorSyntaxError: A malformed query.
        InvalidInputError: The query has a temporal prefix (a snapshot is one point of history).
    """
    parsed = parse_selector(query)
    if parsed.temporal is not None:
        raise InvalidInputError(
            f"a snapshot is one point of history; drop {parsed.temporal!r} from the query (or use Tract.select)"
        )
    return Selection(query, snapshot.at, snapshot.head, evaluate(parsed, ContextIndex.of_snapshot(snapshot)))


def _config_loader(session: Session, compiler: Any, tract_id: str) -> Configs:
    """Loads generation configs: from the compiler's recent commits (the ones a new context adds), else
    in one query."""

    def load(sources: Iterable[str]) -> dict[str, Any]:
        configs: dict[str, Any] = {}
        missing = set()
        for source in set(sources):
            known = compiler.cached_commit(source)
            if known is None:
                missing.add(source)
            else:
                configs[source] = known.commit.generation_config
        if missing:
            stored = session.commits.get_many(tract_id, missing)
            configs.update((source, found.commit.generation_config) for source, found in stored.items())
        return configs

    return load


def select_in(
    session: Session, compiler: Any, tract_id: str, query: str, at: Ref = None
) -> Selection | SelectionSeries:
    """``Tract.select``: the nodes ``query`` selects in the snapshot(s) it names.

    Args:
        session: A read unit of work (its ``refs`` answer with the handle's HEAD).
        compiler: The handle's compiler.
        tract_id: The tract.
        query: The selector query (a temporal prefix names the snapshot(s)).
        at: Where to look when the query has no temporal prefix (None: ``@t0``).

    Raises:
        SelectorSyntaxError: A malformed query (before any read).
        TemporalAddressError: A bad address, or one back past the first cycle.
        NotFoundError: ``at`` names no commit.
    """
    parsed, where, several = check_select_query(query, at)
    configs = _config_loader(session, compiler, tract_id) if parsed.needs_config else None
    selections = [
        Selection(query, label, context.head, evaluate(parsed, index_of(context), configs))
        for label, context in take_contexts(session, compiler, tract_id, where)
    ]
    if several:
        return SelectionSeries(query, str(where).strip(), selections)
    return selections[0]


def selected_range(selection: Any, context: CompiledContext, history: Sequence[str]) -> tuple[str, str]:
    """The first and last commit (in history order) of a selection that is one unbroken run of HEAD's
    context and of its history: the range ``Tract.compress(select=...)`` compresses.

    Compression takes a range of history, while a context can show a message away from where it was
    committed (a node attached before or after another one). So the selection must be unbroken in
    both: no message between its nodes in the context, and no message shown in the context committed
    between its first and last commit that it leaves out.

    Args:
        selection: What ``t.select(...)`` returned.
        context: HEAD's compiled context.
        history: The APPEND commit of every message of HEAD's history, in history order.

    Raises:
        InvalidInputError: A series, a selection of another snapshot than HEAD's context, an empty
            one, or one with gaps (the message names the first message left out).
    """
    if isinstance(selection, SelectionSeries):
        raise InvalidInputError(f"{selection.at!r} gave one selection per snapshot; compress takes one of them")
    if not isinstance(selection, Selection):
        raise InvalidInputError(f"select= takes a selector query or a Selection, not {shown(selection)}")
    if selection.head != context.head:
        raise InvalidInputError(
            f"the selection was taken at {selection.at!r}, not from HEAD's context; select at @t0 to compress"
        )
    if not selection.nodes:
        raise InvalidInputError(f"{selection.query!r} selects nothing: there is nothing to compress")
    position = {commit: i for i, commit in enumerate(context.commit_hashes)}
    places = [position[node.id] for node in selection.nodes]
    for before, after in zip(places, places[1:], strict=False):
        if after != before + 1:
            gap = context.commit_hashes[before + 1]
            raise InvalidInputError(
                f"{selection.query!r} is not one unbroken run of the context: {gap[:12]} lies between its nodes "
                f"{selection.nodes[0].id[:12]} and {selection.nodes[-1].id[:12]}; compress a run (e.g. ^seq (d5..d*)) "
                "or give from_commit/to_commit"
            )
    order = {commit: i for i, commit in enumerate(history)}
    chosen = {node.id for node in selection.nodes}
    first = min(chosen, key=order.__getitem__)
    last = max(chosen, key=order.__getitem__)
    # what compression would summarise without being selected: a NORMAL message shown elsewhere in the
    # context (attached to another message), or shown after an attached one; pinned, lifecycle and keyed
    # ones are kept verbatim anyway
    summarised = {
        slot.key
        for slot in context._slots or ()
        if slot.key not in chosen
        and slot.priority is Priority.NORMAL
        and slot.lifecycle is None
        and slot.node_key is None
    }
    for commit in history[order[first] : order[last] + 1]:
        if commit in summarised:
            raise InvalidInputError(
                f"{selection.query!r} is one run of the context but not of history: {commit[:12]} was committed "
                f"between {first[:12]} and {last[:12]} but is shown outside the selection (the selection holds a node "
                "attached to another message); select it too, or compress a run without attached nodes"
            )
    return first, last
