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

Coordinates are read from the :class:`~tract_core.tree.Node` objects, never recomputed here. The
index of a context (its nodes, parents, regions) is cached for the few contexts used last (a context
is immutable and compile hands out the same object while HEAD does not move), so a query repeated at
one HEAD costs only its matching.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ...errors import InvalidInputError, shown
from ...formats import CompiledContext
from ...formats.content import text_of
from ...objects import Priority
from ...refs import Ref
from ...store.base import Session
from ..coordinates import REGIONS
from ..snapshot import NODE_FIELDS, Node, Snapshot, nodes_of
from ..taking import check_snapshot_at, take_contexts
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

Configs = Callable[[Iterable[str]], dict[str, Any]]
"""Loads generation configs: the source commits asked for -> their config dict (or None)."""

_CACHED = 8
"""How many contexts keep their index (the most recently used)."""


class _Row(NamedTuple):
    """What the index reads of a snapshot's message (a snapshot keeps no metadata or sources)."""

    message: Mapping[str, Any]
    metadata_json: str | None = None
    source: str | None = None


class ContextIndex:
    """One compiled context (or snapshot) as the selector tree: its nodes, each node's parent and
    each region's nodes, plus lazily read message texts, metadata and generation configs.

    Args:
        owner: The compiled context or snapshot indexed (kept: the cache checks identity).
        nodes: Its nodes, in order.
        rows: For each node, its message, metadata JSON and source commit (compile's slots).
    """

    __slots__ = (
        "owner",
        "nodes",
        "rows",
        "parent",
        "children",
        "by_region",
        "_columns",
        "_texts",
        "_metadata",
        "_configs",
    )

    def __init__(self, owner: Any, nodes: Sequence[Node], rows: Sequence[Any]) -> None:
        self.owner = owner
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.rows = rows
        cores = {(n.depth, n.index): i for i, n in enumerate(self.nodes) if n.offset == 0}
        self.parent = [-1 if n.offset == 0 else cores.get((n.depth, n.index), -1) for n in self.nodes]
        self.children: dict[int, list[int]] = {}
        self.by_region: dict[str, list[int]] = {region: [] for region in REGIONS}
        for i, (node, up) in enumerate(zip(self.nodes, self.parent, strict=True)):
            self.by_region[node.region].append(i)
            if up >= 0:
                self.children.setdefault(up, []).append(i)
        self._columns: dict[str, list[Any]] = {}
        self._texts: dict[int, str] = {}
        self._metadata: dict[int, Any] = {}
        self._configs: dict[int, Any] | None = None

    def column(self, name: str) -> list[Any]:
        """One node field of every node, in order (built once per index)."""
        found = self._columns.get(name)
        if found is None:
            found = self._columns[name] = [getattr(node, name) for node in self.nodes]
        return found

    def attribute_column(self, name: str, configs: Configs | None) -> list[Any]:
        """An attribute of every node, in order: a node field, else :meth:`attribute` (cached when no
        generation config is read, or once they are)."""
        if name in NODE_FIELDS:
            return self.column(name)
        cached = f"attr:{name}:{configs is not None}"
        found = self._columns.get(cached)
        if found is None:
            found = self._columns[cached] = [self.attribute(i, name, configs) for i in range(len(self.nodes))]
        return found

    def texts(self) -> list[str]:
        """:meth:`text` of every node, in order."""
        found = self._columns.get("text:")
        if found is None:
            found = self._columns["text:"] = [self.text(i) for i in range(len(self.nodes))]
        return found

    @classmethod
    def of_context(cls, context: CompiledContext) -> ContextIndex:
        """The index of a context made by ``Tract.compile()``."""
        return cls(context, nodes_of(context), context._slots or ())

    @classmethod
    def of_snapshot(cls, snapshot: Snapshot) -> ContextIndex:
        """The index of a snapshot (its messages; no metadata, so attributes are node fields only)."""
        return cls(snapshot, snapshot.nodes, [_Row(m) for m in snapshot.messages])

    def _slot(self, i: int) -> Any:
        return self.rows[i]

    def text(self, i: int) -> str:
        """The text ``:contains`` searches: the message's text (text parts of a list), then the name
        and arguments of each tool call it makes, one per line."""
        found = self._texts.get(i)
        if found is None:
            message = self._slot(i).message
            content = message.get("content")
            parts = [text_of(content) if isinstance(content, (str, list)) else ""]
            for call in message.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    parts.append(f"{function.get('name', '')}({function.get('arguments', '')})")
            found = self._texts[i] = "\n".join(parts)
        return found

    def metadata(self, i: int) -> Any:
        """The metadata the node's message was committed with (a dict), or None."""
        if i not in self._metadata:
            raw = self._slot(i).metadata_json
            self._metadata[i] = None if raw is None else json.loads(raw)
        return self._metadata[i]

    def attribute(self, i: int, name: str, configs: Configs | None) -> Any:
        """An attribute that is not a node field: a key of the node's metadata, else of the generation
        config of the commit whose content it shows; None when neither has it."""
        meta = self.metadata(i)
        if isinstance(meta, dict) and name in meta:
            return meta[name]
        if configs is None or not self.rows or self.rows[0].source is None:
            return None
        if self._configs is None:
            sources = [self._slot(k).source for k in range(len(self.nodes))]
            loaded = configs(sources)
            self._configs = {k: loaded.get(source) for k, source in enumerate(sources)}
        config = self._configs.get(i)
        return config.get(name) if isinstance(config, dict) else None


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
        return [i for i in candidates if (values[i] == text if type(values[i]) is str else equals(values[i])) is wanted]
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
        members = index.by_region[region]
        found.extend([i for i in members if index.parent[i] < 0] if combinator == ">" else members)
    for i in nodes:  # an attached node has no children: a core node's descendants are its children
        found.extend(index.children.get(i, ()))
    return found if len(regions) + len(nodes) <= 1 else sorted(set(found))


def _run(complex_: Complex, index: ContextIndex, configs: Configs | None) -> list[int]:
    first = complex_.compounds[0]
    regions: list[str] = []
    nodes: list[int] = []
    if first.region is not None:
        regions = [first.region]
    else:
        nodes = _match(first, index, list(range(len(index.nodes))), configs)
        if not first.tests and not first.picks:  # a bare * also matches the regions
            regions = list(REGIONS)
    for combinator, compound in zip(complex_.combinators, complex_.compounds[1:], strict=True):
        nodes = _match(compound, index, _below(index, regions, nodes, combinator), configs)
        regions = []
    if len(regions) == 1:
        return list(index.by_region[regions[0]])
    if regions:  # a bare *: every node
        return list(range(len(index.nodes)))
    return nodes


def evaluate(query: SelectorQuery, index: ContextIndex, configs: Configs | None = None) -> list[Node]:
    """The nodes ``query`` selects in one context, in context order.

    Args:
        query: A parsed query (its temporal prefix is not read here).
        index: The context's :class:`ContextIndex`.
        configs: Loads generation configs for attributes found neither on nodes nor in metadata
            (None: such attributes are missing).
    """
    results = [_run(complex_, index, configs) for complex_ in query.selectors]
    chosen = results[0] if len(results) == 1 else sorted(set().union(*results))
    if query.limit is not None:
        chosen = chosen[: query.limit]
    return [index.nodes[i] for i in chosen]


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


def _config_loader(session: Session, tract_id: str) -> Configs:
    def load(sources: Iterable[str]) -> dict[str, Any]:
        stored = session.commits.get_many(tract_id, set(sources))
        return {source: found.commit.generation_config for source, found in stored.items()}

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
    configs = _config_loader(session, tract_id) if parsed.needs_config else None
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
