"""Compile: from a commit to the message list an LLM call needs, deterministically and incrementally.

Compile reads the history of a commit in order (see :func:`tract_core.graph.linearize`), keeps one
*slot* per appended message, applies each EDIT to its target slot, resolves each slot's priority
from annotations (falling back to the content type's default: instructions are PINNED) and drops
SKIP slots, and each slot's lifecycle from lifecycle rows (``t.set_lifecycle``: annotation rows that
set a lifecycle instead of a priority; ages then count from the anchor's cycle). Annotations are
anchored at the commit HEAD was on when they were made: they apply to
that commit and to history built on it afterwards, never to lines of history that already existed,
so ``compile(at_commit=...)`` shows exactly what the model was shown at that point.

Lifecycles and node keys (DESIGN 14, :mod:`tract_core.tree.lifecycle`) are read against cycles: an
APPENDed assistant commit seals one. Each slot records the cycle it was born in, and a state the
number of cycles sealed at its head (``now``) and the ``live`` slots: those with a lifecycle or a
key that can still be shown (not expired, not superseded by a newer slot with the same key). A slot
with a lifecycle or key that is not live is never shown again.

A :class:`CompileState` is cached per commit. After one new commit, the next compile extends the
parent's state by that commit (O(1) work plus a tuple copy) instead of re-reading the history.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from .errors import CorruptObjectError, damaged
from .formats import CompiledContext
from .formats.frozen import freeze_message
from .graph import linearize
from .objects import Blob, ContentType, Operation, Priority
from .sequence import MaskedSequence, SharedSequence
from .store.base import AnnotationEntry, HistoryEntry, Session, StoredBlob, StoredCommit
from .tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, TokenCounter, count_body
from .tree.coordinates import SYSTEM_ROLES
from .tree.lifecycle import Lifecycle, cycles_sealed, lifecycle_of_json, lifecycle_of_row
from .tree.placement import Placement, display_order, placement_of_json

__all__ = [
    "Slot",
    "CompileState",
    "Compiler",
    "default_priority",
    "build_message",
    "build_state",
    "rebuild_view",
    "ContextView",
    "effective_priorities",
    "has_tool_skips",
    "slot_hidden",
]

_DEFAULT_PRIORITIES = {ContentType.INSTRUCTION: Priority.PINNED}
_WALKBACK_LIMIT = 16


def default_priority(content_type: str) -> Priority:
    """The priority a message has until it is annotated (instructions are PINNED)."""
    return _DEFAULT_PRIORITIES.get(content_type, Priority.NORMAL)


def build_message(role: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI-shaped message for a role and a blob body (``role`` first), read-only: compiled
    contexts hand it out without copying it (see :mod:`tract_core.formats.frozen`)."""
    message: dict[str, Any] = {"role": role}
    message.update(body)
    return freeze_message(message)


class Slot(NamedTuple):
    """One message position in a compiled history.

    Attributes:
        key: Hash of the APPEND commit that created the message.
        source: Hash of the commit whose content is shown (the key, or the latest EDIT of it).
        role: The message role.
        content_type: The content type of the appended message.
        message: The OpenAI-shaped message, a read-only :class:`~tract_core.formats.frozen.FrozenDict`
            that compiled contexts hand out as it is.
        tokens: Estimated tokens of the message, overhead included.
        priority: The effective priority.
        blob: Hash of the blob whose content is shown (that of ``source``).
        origin: Hash of the blob the message was appended with (that of ``key``).
        metadata_json: The metadata of the APPEND commit (canonical JSON), or None.
        born: The cycles sealed when the message was committed (counting itself, for an assistant
            message): its age at a later commit is that commit's sealed cycles minus ``born``.
        lifecycle: The APPEND commit's lifecycle, or None (permanent).
        node_key: The APPEND commit's node key (``"weather:NYC"``), or None. (``key`` is the
            commit id, kept under that name for compatibility.)
        placement: The APPEND commit's placement (pre/post-context of another message), or None.
    """

    key: str
    source: str
    role: str
    content_type: str
    message: Mapping[str, Any]
    tokens: int
    priority: Priority
    blob: str
    origin: str
    metadata_json: str | None
    born: int = 0
    lifecycle: Lifecycle | None = None
    node_key: str | None = None
    placement: Placement | None = None


_COMPACT = 64
"""How many positions hidden for good a view masks before its base is rebuilt without them."""


def _tool_type(slot: Slot) -> bool:
    return slot.role == "tool" or bool(slot.message.get("tool_calls"))


@dataclass(frozen=True, slots=True)
class ContextView:
    """How a compiled context is made in O(live) per commit: a base that only grows, masked per cycle.

    Most of a history is shown the same way from one cycle to the next; only slots with a lifecycle or
    a node key come and go, and sticky ones move to the end. The base holds every slot that could be
    shown; each cycle masks the live slots its lifecycles hide, and moves visible sticky ones to a
    tail. Slots hidden for good (expired, superseded) join the mask as holes until a rebuild drops
    them from the base (every :data:`_COMPACT` holes, or when one of them is a tool call or result).

    Attributes:
        messages: The messages of the base.
        keys: The APPEND commit of each base message.
        slots: The slot of each base message: every slot but SKIP ones and those hidden for good at
            the last rebuild, in order, with tool pairs mended for those (see :func:`_context`).
        holes: Base positions hidden for good since the last rebuild (never tool messages), sorted.
        tokens: Tokens of the base without its holes.
        at: The base position of each of the state's live slots (parallel to ``CompileState.live``; -1
            when it is not in the base).
        mask: ``holes`` and this cycle's hidden or sticky live positions, sorted.
        tail: This cycle's visible sticky slots after the active head (offset > 0), in order.
        pre: This cycle's visible sticky slots before the active head (offset < 0), in order.
        pre_at: The base position ``pre`` is shown before: after the last reply shown.
        shown: Tokens of the messages shown (base, minus the mask, plus pre and tail), reply priming
            excluded.
        mended: Whether a tool call or result is hidden for good (a new tool message may then need
            mending: it rebuilds).
        exact: Whether the context is the masked base (False: a live tool message is hidden in this
            cycle, so compile mended tool pairs over the whole history with :func:`_context`).
    """

    messages: SharedSequence[Mapping[str, Any]]
    keys: SharedSequence[str]
    slots: SharedSequence[Slot]
    holes: tuple[int, ...]
    tokens: int
    at: tuple[int, ...]
    mask: tuple[int, ...] = ()
    tail: tuple[Slot, ...] = ()
    pre: tuple[Slot, ...] = ()
    pre_at: int = 0
    shown: int = 0
    mended: bool = False
    exact: bool = True

    def cycle(self, now: int) -> ContextView:
        """This view at ``now`` cycles: the live slots' visibility recomputed (O(live), plus the active
        head's length when a sticky node goes before it)."""
        hidden: list[int] = []
        sticky: list[tuple[int, int, Slot]] = []
        minus = 0
        exact = True
        base = self.slots
        for k, b in enumerate(self.at):
            if b < 0:
                continue
            slot = base[b]
            life = slot.lifecycle
            if life is None:
                continue
            if not life.visible(now - slot.born):
                hidden.append(b)
                minus += slot.tokens
                exact = exact and not _tool_type(slot)
            elif life.sticky:
                hidden.append(b)
                sticky.append((life.offset or 1, k, slot))
        mask = tuple(sorted((*self.holes, *hidden))) if hidden else self.holes
        sticky.sort(key=lambda item: item[:2])
        pre = tuple(slot for offset, _, slot in sticky if offset < 0)
        tail = tuple(slot for offset, _, slot in sticky if offset > 0)
        pre_at = _head_start(base, frozenset(mask)) if pre else 0
        return replace(self, mask=mask, tail=tail, pre=pre, pre_at=pre_at, shown=self.tokens - minus, exact=exact)

    def render(self, head: str | None) -> CompiledContext:
        """The compiled context of this view (O(mask + pre + tail))."""
        count = len(self.slots) - len(self.mask) + len(self.pre) + len(self.tail)
        tokens = self.shown + (REPLY_PRIMING if count else 0)
        if not self.mask and not self.tail and not self.pre:
            return CompiledContext(self.messages, self.keys, tokens, head, self.slots)
        tail, pre, at = self.tail, self.pre, self.pre_at
        return CompiledContext(
            MaskedSequence(self.messages, self.mask, tuple(s.message for s in tail), at, tuple(s.message for s in pre)),
            MaskedSequence(self.keys, self.mask, tuple(s.key for s in tail), at, tuple(s.key for s in pre)),
            tokens,
            head,
            MaskedSequence(self.slots, self.mask, tail, at, pre),
        )


def _head_start(base: Sequence[Slot], masked: frozenset[int]) -> int:
    """Where the active head starts in ``base`` (positions in ``masked`` are not shown): after the last
    reply shown, else after the leading system messages."""
    for b in range(len(base) - 1, -1, -1):
        if b not in masked and base[b].role == "assistant":
            return b + 1
    for b in range(len(base)):
        if b not in masked and base[b].role not in SYSTEM_ROLES:
            return b
    return len(base)


@dataclass(frozen=True, slots=True)
class CompileState:
    """Everything compile knows about one commit's history.

    Attributes:
        head: The compiled commit (None for an empty history).
        slots: Every message slot in order, SKIP ones included.
        applied: Annotations anchored at ``head`` that apply to it.
        annotations_seen: Newest annotation id of the tract when this state was last validated.
        context: The compiled result.
        length: Number of commits in the history.
        tool_skips: Whether a tool call or result is skipped (compile then re-pairs tool messages).
        cycles: The cycles sealed at ``head`` (APPENDed assistant messages in its history).
        live: Positions (in ``slots``) of the slots with a lifecycle or node key that can still be
            shown, oldest first. The others with one are hidden for good.
        view: How ``context`` is made from a base that only grows (see :class:`ContextView`), so the
            next commit's context costs O(live) instead of O(history); None: rebuilt on the next commit.
    """

    head: str | None
    slots: SharedSequence[Slot]
    applied: tuple[AnnotationEntry, ...]
    annotations_seen: int
    context: CompiledContext
    length: int = 0
    tool_skips: bool = False
    cycles: int = 0
    live: tuple[int, ...] = ()
    view: ContextView | None = None

    def lifecycle_split(self) -> tuple[frozenset[str], frozenset[str]]:
        """The APPEND commits of the slots with a lifecycle or node key: ``(live, gone)``, where ``live``
        can still be shown (compression keeps them verbatim, like PINNED ones) and ``gone`` never will
        again (expired or superseded: compression drops them, like SKIP ones)."""
        live = frozenset(self.slots[i].key for i in self.live)
        gone = frozenset(
            s.key for s in self.slots if (s.lifecycle is not None or s.node_key is not None) and s.key not in live
        )
        return live, gone

    def index_of(self, key: str) -> int | None:
        """Position of the slot created by ``key`` (searching from the newest)."""
        for i, slot in zip(range(len(self.slots) - 1, -1, -1), reversed(self.slots), strict=True):
            if slot.key == key:
                return i
        return None


def _tool_call_ids(message: Mapping[str, Any]) -> list[Any]:
    return [call.get("id") for call in message.get("tool_calls") or () if isinstance(call, Mapping)]


def has_tool_skips(slots: Sequence[Slot]) -> bool:
    """Whether a skipped slot is a tool call or a tool result (compile must then keep pairs whole)."""
    return any(s.priority is Priority.SKIP and (s.role == "tool" or bool(s.message.get("tool_calls"))) for s in slots)


def slot_hidden(slot: Slot, position: int, now: int, live: frozenset[int] | tuple[int, ...]) -> bool:
    """Whether a slot is left out of the context: SKIP, or hidden by its lifecycle or node key.

    Args:
        slot: The slot.
        position: Its position in the state's slots.
        now: The cycles sealed at the compiled commit.
        live: The state's live positions (see :class:`CompileState`).
    """
    if slot.priority is Priority.SKIP:
        return True
    if slot.lifecycle is None and slot.node_key is None:
        return False
    if position not in live:
        return True  # expired or superseded for good
    return slot.lifecycle is not None and not slot.lifecycle.visible(now - slot.born)


def _context(
    head: str | None, slots: Sequence[Slot], counter: TokenCounter, now: int = 0, live: tuple[int, ...] = ()
) -> CompiledContext:
    """The compiled context of a slot sequence, from scratch: the reference compile checks its
    incremental path against (tests do).

    SKIP slots are dropped, and slots hidden by their lifecycle or node key (see :func:`slot_hidden`);
    attached nodes are shown around their anchors (:func:`~tract_core.tree.placement.display_order`);
    visible sticky slots are moved next to the active head (offset > 0 after it, < 0 just before
    it, each side by offset then history); tool calls and results are kept in pairs.

    Providers reject a tool call without its result and a result without its call, so hiding
    one side of a pair removes the other: a hidden result drops its call from the assistant
    message (and the message, if nothing else is left); a hidden call drops its results.
    """
    items = slots.tolist() if isinstance(slots, SharedSequence) else list(slots)
    live_set = frozenset(live)
    skip = Priority.SKIP
    hidden = {
        i
        for i, s in enumerate(items)
        if s.priority is skip
        or ((s.lifecycle is not None or s.node_key is not None) and slot_hidden(s, i, now, live_set))
    }
    core: list[Slot] = []
    sticky: list[tuple[int, int, Slot]] = []
    for i, s in _mended(items, hidden, *_hidden_tool_ids(items, hidden), counter):
        if s.lifecycle is not None and s.lifecycle.sticky:
            sticky.append((s.lifecycle.offset or 1, i, s))
            continue
        core.append(s)
    if sticky:
        sticky.sort(key=lambda item: item[:2])
        pre = [s for offset, _, s in sticky if offset < 0]
        if pre:
            start = _head_start(core, frozenset())
            core[start:start] = pre
        core.extend(s for offset, _, s in sticky if offset > 0)
    return CompiledContext(
        SharedSequence([s.message for s in core]),
        SharedSequence([s.key for s in core]),
        sum(s.tokens for s in core) + (REPLY_PRIMING if core else 0),
        head,
        SharedSequence(core),
    )


def _hidden_tool_ids(items: Sequence[Slot], hidden: Iterable[int]) -> tuple[set[Any], set[Any]]:
    """The ids of the tool results and of the tool calls among the ``hidden`` positions of ``items``."""
    results: set[Any] = set()
    calls: set[Any] = set()
    for i in hidden:
        s = items[i]
        if s.role == "tool":
            results.add(s.message.get("tool_call_id"))
        else:
            calls.update(_tool_call_ids(s.message))
    return results, calls


def _mended(
    items: Sequence[Slot], hidden: Container[int], results: set[Any], calls: set[Any], counter: TokenCounter
) -> Iterator[tuple[int, Slot]]:
    """Each slot not ``hidden``, with its position, in display order (attached nodes around their
    anchors), tool pairs kept whole: a result of a hidden call is left out, an assistant message loses
    the calls whose results are hidden (and is left out if nothing remains)."""
    order = _order_if_placed(items)
    for i in order if order is not None else range(len(items)):
        if i in hidden:
            continue
        s = items[i]
        if calls and s.role == "tool" and s.message.get("tool_call_id") in calls:
            continue
        if results and s.role == "assistant" and s.message.get("tool_calls"):
            trimmed = _without_calls(s, results, counter)
            if trimmed is None:
                continue
            s = trimmed
        yield i, s


def _order_if_placed(items: Sequence[Slot]) -> list[int] | None:
    """The display order of ``items`` when some are attached to others (None: history order)."""
    if all(s.placement is None for s in items):
        return None
    return display_order([s.key for s in items], [s.placement for s in items])


def rebuild_view(
    head: str | None, slots: Sequence[Slot], counter: TokenCounter, now: int = 0, live: tuple[int, ...] = ()
) -> tuple[ContextView, CompiledContext]:
    """A :class:`ContextView` of a slot sequence built from scratch (O(history)), and its context.

    The base leaves out SKIP slots and those whose lifecycle or key hides them for good, mending tool
    pairs for those as :func:`_context` does; it keeps every live slot at its place, for
    :meth:`ContextView.cycle` to mask. The context equals ``_context(head, slots, counter, now, live)``.
    """
    items = slots.tolist() if isinstance(slots, SharedSequence) else list(slots)
    live_set = frozenset(live)
    skip = Priority.SKIP
    gone = [
        i
        for i, s in enumerate(items)
        if s.priority is skip or ((s.lifecycle is not None or s.node_key is not None) and i not in live_set)
    ]
    skipped_results, skipped_calls = _hidden_tool_ids(items, gone)
    base: list[Slot] = []
    where: dict[int, int] = {}
    for i, s in _mended(items, frozenset(gone), skipped_results, skipped_calls, counter):
        if i in live_set:
            where[i] = len(base)
        base.append(s)
    tokens = sum(s.tokens for s in base)
    view = ContextView(
        SharedSequence([s.message for s in base]),
        SharedSequence([s.key for s in base]),
        SharedSequence(base),
        (),
        tokens,
        tuple(where.get(i, -1) for i in live),
        shown=tokens,
        mended=bool(skipped_results or skipped_calls),
    ).cycle(now)
    return view, (view.render(head) if view.exact else _context(head, items, counter, now, live))


def _without_calls(slot: Slot, results: set[Any], counter: TokenCounter) -> Slot | None:
    """An assistant slot without the tool calls whose results are hidden (None: nothing left to show)."""
    message = slot.message
    calls = message["tool_calls"]
    kept = [c for c in calls if not (isinstance(c, Mapping) and c.get("id") in results)]
    if len(kept) == len(calls):
        return slot
    if not kept and not message.get("content"):
        return None
    message = {k: v for k, v in message.items() if k != "tool_calls"}
    if kept:
        message["tool_calls"] = kept
    body = {k: v for k, v in message.items() if k != "role"}
    trimmed = Blob.from_body(body)
    return slot._replace(
        message=freeze_message(message), tokens=count_body(counter, body) + MESSAGE_OVERHEAD, blob=trimmed.hash
    )


class Compiler:
    """Compiles commits of one tract, caching a bounded number of states and recent objects.

    Args:
        tract_id: The tract whose commits are compiled.
        counter: The token counter.
        max_states: How many compiled states to keep.
        max_objects: How many recently written or read commits (with blobs) to keep.
    """

    def __init__(self, tract_id: str, counter: TokenCounter, *, max_states: int = 32, max_objects: int = 512) -> None:
        self.tract_id = tract_id
        self.counter = counter
        self._states: OrderedDict[str, CompileState] = OrderedDict()
        self._objects: OrderedDict[str, tuple[StoredCommit, Blob | None]] = OrderedDict()
        self._tokens: dict[str, int] = {}
        self._max_states = max_states
        self._max_objects = max_objects
        self._lock = threading.RLock()
        self._annotations: list[AnnotationEntry] = []
        self._by_anchor: dict[str, list[AnnotationEntry]] = defaultdict(list)
        self._annotations_max = 0

    # -- caches -------------------------------------------------------------------------------

    def remember(self, stored: StoredCommit, blob: Blob | None, tokens: int | None = None) -> None:
        """Keep a just-written commit and its blob so the next compile needs no query."""
        with self._lock:
            self._objects[stored.commit.hash] = (stored, blob)
            self._objects.move_to_end(stored.commit.hash)
            while len(self._objects) > self._max_objects:
                self._objects.popitem(last=False)
            if blob is not None and tokens is not None:
                self._tokens[blob.hash] = tokens

    def cached_state(self, head: str) -> CompileState | None:
        """The cached :class:`CompileState` of ``head``, if compile has one (no store access)."""
        with self._lock:
            return self._states.get(head)

    def reference(self, state: CompileState) -> CompiledContext:
        """``state``'s context computed again from its slots by the reference algorithm (:func:`_context`,
        O(history)), independent of how compile built it: tests hold every incremental compile to it."""
        return _context(state.head, state.slots, self.counter, state.cycles, state.live)

    def cached_commit(self, hash: str) -> StoredCommit | None:
        """A recently seen commit, without touching the store."""
        with self._lock:
            obj = self._objects.get(hash)
        return None if obj is None else obj[0]

    def _keep(self, state: CompileState) -> CompileState:
        if state.head is None:
            return state
        with self._lock:
            self._states[state.head] = state
            self._states.move_to_end(state.head)
            while len(self._states) > self._max_states:
                self._states.popitem(last=False)
        return state

    def clear(self) -> None:
        """Forget every cached state, object and annotation (after a rolled-back batch)."""
        with self._lock:
            self._states.clear()
            self._objects.clear()
            self._annotations = []
            self._by_anchor = defaultdict(list)
            self._annotations_max = 0

    def sync_annotations(self, session: Session, marker: int) -> None:
        """Bring the in-memory annotation index up to ``marker`` (the tract's newest annotation id)."""
        with self._lock:
            if marker == self._annotations_max:
                return
            if marker < self._annotations_max:
                rows = session.annotations.since(self.tract_id, 0)
                self._annotations, self._by_anchor = [], defaultdict(list)
                self._states.clear()
            else:
                rows = session.annotations.since(self.tract_id, self._annotations_max)
            for row in rows:
                self._annotations.append(row)
                self._by_anchor[row.anchor].append(row)
            self._annotations_max = max([marker, *(r.id for r in rows)]) if rows else marker

    def annotations(self) -> list[AnnotationEntry]:
        """Every known annotation row of the tract, oldest first."""
        with self._lock:
            return list(self._annotations)

    def anchored_at(self, commit: str) -> list[AnnotationEntry]:
        """Known annotation rows anchored at ``commit``, oldest first."""
        with self._lock:
            return list(self._by_anchor.get(commit, ()))

    def blob_tokens(self, blob: Blob, stored: StoredBlob | None = None) -> int:
        """Tokens of a blob's text, from the store's cached count when it used the same tokenizer."""
        if stored is None:
            return self.body_tokens(blob.hash, blob.body, None, None)
        return self.body_tokens(blob.hash, blob.body, stored.token_count, stored.tokenizer)

    def body_tokens(self, blob_hash: str, body: Mapping[str, Any], stored: int | None, tokenizer: str | None) -> int:
        """Tokens of a blob body: cached in memory, else the stored count if it used our tokenizer."""
        cached = self._tokens.get(blob_hash)
        if cached is not None:
            return cached
        count = stored if stored is not None and tokenizer == self.counter.name else count_body(self.counter, body)
        if len(self._tokens) > 200_000:
            self._tokens.clear()
        self._tokens[blob_hash] = count
        return count

    # -- public entry points ------------------------------------------------------------------

    def compile(self, session: Session, head: str | None, annotations_marker: int) -> CompiledContext:
        """The compiled context of ``head`` (None: empty), given the tract's newest annotation id."""
        return self.state(session, head, annotations_marker).context

    def state(self, session: Session, head: str | None, annotations_marker: int) -> CompileState:
        """The (cached or computed) :class:`CompileState` of ``head``."""
        self.sync_annotations(session, annotations_marker)
        if head is None:
            return self._empty(annotations_marker)
        cached = self._valid_state(head, annotations_marker)
        if cached is not None:
            return cached
        path: list[tuple[StoredCommit, Blob | None]] = []
        current: str | None = head if self._states else None
        while current is not None and len(path) < _WALKBACK_LIMIT:
            obj = self._object(session, current)
            if obj is None:
                break
            path.append(obj)
            parents = obj[0].commit.parents
            if len(parents) != 1:
                break
            base = self._valid_state(parents[0], annotations_marker)
            if base is not None:
                state = self._extend_path(base, path, annotations_marker)
                if state is not None:
                    return state
                break
            current = parents[0]
        if path and not path[-1][0].commit.parents:
            empty = self._empty(annotations_marker)
            state = self._extend_path(empty, path, annotations_marker)
            if state is not None:
                return state
        return self._keep(self.full_build(session, head, annotations_marker))

    # -- incremental path ---------------------------------------------------------------------

    def _empty(self, marker: int) -> CompileState:
        view, context = rebuild_view(None, (), self.counter)
        return CompileState(None, SharedSequence(), (), marker, context, view=view)

    def _object(self, session: Session, hash: str) -> tuple[StoredCommit, Blob | None] | None:
        with self._lock:
            obj = self._objects.get(hash)
        if obj is not None:
            return obj
        stored = session.commits.get(self.tract_id, hash)
        if stored is None:
            return None
        blob = None
        if stored.commit.blob is not None:
            try:
                found = session.blobs.get(stored.commit.blob)
            except CorruptObjectError as error:
                what = f"commit {hash[:12]} of tract {self.tract_id!r}"
                raise damaged(what, f"its message ({error.problems[0]})") from None
            if found is None:
                return None  # the full build names the missing blob
            blob = found.blob
            self.blob_tokens(blob, found)
        self.remember(stored, blob)
        return stored, blob

    def _valid_state(self, head: str, marker: int) -> CompileState | None:
        with self._lock:
            state = self._states.get(head)
        if state is None:
            return None
        if state.annotations_seen == marker:
            return state
        if any(a.id > state.annotations_seen for a in self.anchored_at(head)):
            with self._lock:
                self._states.pop(head, None)
            return None
        return self._keep(replace(state, annotations_seen=marker))

    def _extend_path(
        self,
        base: CompileState,
        path: list[tuple[StoredCommit, Blob | None]],
        marker: int,
    ) -> CompileState | None:
        state = base
        for stored, blob in reversed(path):
            commit = stored.commit
            if any(commit.hash in row.excluded for row in state.applied):
                return None
            rows = self.anchored_at(commit.hash)
            extended = self._apply(state, stored, blob, rows, marker)
            if extended is None:
                return None
            state = self._keep(extended)
        return state

    def _apply(
        self,
        state: CompileState,
        stored: StoredCommit,
        blob: Blob | None,
        rows: Sequence[AnnotationEntry],
        marker: int,
    ) -> CompileState | None:
        """``state`` extended by one commit: O(1) for a message without a lifecycle or key, O(live) for
        one with, or sealing a cycle; O(history) for an EDIT, annotations, or what :class:`ContextView`
        rebuilds for."""
        commit = stored.commit
        slots = state.slots
        cycles = state.cycles
        live = state.live
        view = state.view
        at = view.at if view is not None else ()
        rebuild = view is None or bool(rows)
        sealed = False
        gone: list[int] = []  # base positions hidden for good by this commit
        added: Slot | None = None
        if commit.operation is Operation.APPEND and blob is not None and commit.role is not None:
            sealing = cycles_sealed(commit.role, commit.content_type, commit.metadata_json)
            sealed = sealing > 0
            cycles += sealing
            added = Slot(
                key=commit.hash,
                source=commit.hash,
                role=commit.role,
                content_type=commit.content_type,
                message=build_message(commit.role, blob.body),
                tokens=self.blob_tokens(blob) + MESSAGE_OVERHEAD,
                priority=default_priority(commit.content_type),
                blob=blob.hash,
                origin=blob.hash,
                metadata_json=commit.metadata_json,
                born=cycles,
                lifecycle=lifecycle_of_json(commit.lifecycle_json, commit=commit.hash, tract_id=self.tract_id),
                node_key=commit.key,
                placement=placement_of_json(commit.placement_json, commit=commit.hash, tract_id=self.tract_id),
            )
            slots = slots.append(added)
            if added.node_key is not None and live:
                keep = [k for k, i in enumerate(live) if slots[i].node_key != added.node_key]
                if len(keep) != len(live):
                    gone.extend(at[k] for k in range(len(at)) if k not in keep)
                    live = tuple(live[k] for k in keep)
                    at = tuple(at[k] for k in keep) if at else ()
            if view is not None and (
                added.priority is Priority.SKIP or added.placement is not None or (view.mended and _tool_type(added))
            ):
                rebuild = True
            if added.lifecycle is not None or added.node_key is not None:
                live = (*live, len(slots) - 1)
                at = (*at, len(view.slots)) if view is not None else ()
        elif commit.operation is Operation.EDIT and blob is not None and commit.response_to is not None:
            index = state.index_of(commit.response_to)
            if index is not None:
                old = slots[index]
                new = old._replace(
                    source=commit.hash,
                    message=build_message(old.role, blob.body),
                    tokens=self.blob_tokens(blob) + MESSAGE_OVERHEAD,
                    blob=blob.hash,
                )
                slots = slots.replace(index, new)
                rebuild = True
        if rows:
            slots = _annotate(slots, rows)
            relifed = _relife(slots, rows, lambda _anchor: cycles)
            if relifed is not None:
                slots, live, at = relifed, _live_positions(relifed, cycles), ()  # rows: rebuilt below
        if sealed and live:
            keep = [k for k, i in enumerate(live) if not _expired(slots[i], cycles)]
            if len(keep) != len(live):
                gone.extend(at[k] for k in range(len(at)) if k not in keep)
                live = tuple(live[k] for k in keep)
                at = tuple(at[k] for k in keep) if at else ()
        tool_skips = has_tool_skips(slots) if rows else state.tool_skips
        context: CompiledContext | None = None
        if not rebuild and view is not None:
            view, context = self._advance(view, commit.hash, added, gone, at, cycles, sealed, slots, live)
        if context is None or view is None:
            view, context = rebuild_view(commit.hash, slots, self.counter, cycles, live)
        return CompileState(
            commit.hash, slots, tuple(rows), marker, context, state.length + 1, tool_skips, cycles, live, view
        )

    def _advance(
        self,
        view: ContextView,
        head: str,
        added: Slot | None,
        gone: list[int],
        at: tuple[int, ...],
        now: int,
        sealed: bool,
        slots: SharedSequence[Slot],
        live: tuple[int, ...],
    ) -> tuple[ContextView | None, CompiledContext | None]:
        """``view`` with ``added`` appended and ``gone`` hidden for good, and its context; (None, None)
        when it must be rebuilt instead (a tool message hidden for good, or too many holes)."""
        holes = view.holes
        tokens = view.tokens
        if gone:
            base = view.slots
            for b in gone:
                if b < 0:
                    continue
                if _tool_type(base[b]):
                    return None, None
                tokens -= base[b].tokens
            holes = tuple(sorted((*holes, *(b for b in gone if b >= 0))))
            if len(holes) > _COMPACT:
                return None, None
        messages, keys, base_slots = view.messages, view.keys, view.slots
        if added is not None:
            messages, keys = messages.append(added.message), keys.append(added.key)
            base_slots = base_slots.append(added)
            tokens += added.tokens
        live_added = added is not None and (added.lifecycle is not None or added.node_key is not None)
        if sealed or gone or live_added:
            view = replace(view, messages=messages, keys=keys, slots=base_slots, holes=holes, tokens=tokens, at=at)
            view = view.cycle(now)
        else:  # the same cycle: the mask and tail stay, the new message shows before the tail
            view = replace(
                view,
                messages=messages,
                keys=keys,
                slots=base_slots,
                tokens=tokens,
                shown=view.shown + (added.tokens if added is not None else 0),
            )
        return view, (view.render(head) if view.exact else _context(head, slots, self.counter, now, live))

    # -- full build ---------------------------------------------------------------------------

    def full_build(self, session: Session, head: str, marker: int) -> CompileState:
        """Compile ``head`` from its whole history, ignoring every cache."""
        commits = session.commits.history(self.tract_id)
        if head not in commits:
            from .errors import CommitNotFoundError

            raise CommitNotFoundError(f"commit {head[:12]} is not in tract {self.tract_id!r}")

        def parents_of(h: str) -> Sequence[str]:
            return commits[h].parents

        order = linearize(head, parents_of)
        with self._lock:
            annotations = list(self._annotations)
        return build_state(head, [commits[h] for h in order], annotations, marker, self)


def _expired(slot: Slot, now: int) -> bool:
    return slot.lifecycle is not None and slot.lifecycle.expired(now - slot.born)


def _annotate(slots: SharedSequence[Slot], rows: Iterable[AnnotationEntry]) -> SharedSequence[Slot]:
    """Apply annotation rows in order (later rows win) to the slots they target."""
    latest: dict[str, Priority] = {}
    for row in rows:
        if row.lifecycle is None:  # a lifecycle row sets no priority
            latest[row.target] = Priority(row.priority)
    if not latest:
        return slots
    return SharedSequence(
        s._replace(priority=latest[s.key]) if s.key in latest and latest[s.key] is not s.priority else s for s in slots
    )


def _relife(
    slots: SharedSequence[Slot], rows: Iterable[AnnotationEntry], cycles_at: Callable[[str], int]
) -> SharedSequence[Slot] | None:
    """Apply the lifecycle rows among ``rows`` in order (later rows win): the target slot takes the row's
    lifecycle, born in the cycle of the row's anchor (``cycles_at(anchor)``) less the age the row carries.
    None when no row is a lifecycle row."""
    latest: dict[str, tuple[Lifecycle | None, int]] = {}
    for row in rows:
        if row.lifecycle is not None:
            life, age = lifecycle_of_row(row.lifecycle)
            latest[row.target] = (life, cycles_at(row.anchor) - age)
    if not latest:
        return None
    return SharedSequence(
        s._replace(lifecycle=latest[s.key][0], born=latest[s.key][1]) if s.key in latest else s for s in slots
    )


def _live_positions(slots: Sequence[Slot], now: int) -> tuple[int, ...]:
    """The live positions of ``slots`` at ``now`` computed afresh (after lifecycle rows changed some)."""
    newest = {s.node_key: i for i, s in enumerate(slots) if s.node_key is not None}
    return tuple(
        i
        for i, s in enumerate(slots)
        if (s.lifecycle is not None or s.node_key is not None)
        and (s.node_key is None or newest[s.node_key] == i)
        and not _expired(s, now)
    )


def build_state(
    head: str,
    history: Sequence[HistoryEntry],
    annotations: Sequence[AnnotationEntry],
    marker: int,
    compiler: Compiler,
) -> CompileState:
    """Compile a linearised history (oldest first, ending at ``head``) from scratch."""
    slots: list[Slot] = []
    index: dict[str, int] = {}
    tokens_of = compiler.body_tokens
    cycles = 0
    newest: dict[str, int] = {}
    marked: list[int] = []
    visible = _visible_annotations(head, history, annotations)
    anchors = {r.anchor for r in visible if r.lifecycle is not None}
    cycles_at: dict[str, int] = {}
    for entry in history:
        body, role = entry.body, entry.role
        if body is None or role is None or entry.blob is None:
            if anchors and entry.hash in anchors:
                cycles_at[entry.hash] = cycles
            continue
        tokens = tokens_of(entry.blob, body, entry.token_count, entry.tokenizer) + MESSAGE_OVERHEAD
        if entry.operation is Operation.APPEND:
            index[entry.hash] = len(slots)
            cycles += cycles_sealed(role, entry.content_type, entry.metadata_json)
            if entry.key is not None:
                newest[entry.key] = len(slots)
            if entry.lifecycle_json is not None or entry.key is not None:
                marked.append(len(slots))
            message = build_message(role, body)
            slots.append(
                Slot(
                    entry.hash,
                    entry.hash,
                    role,
                    entry.content_type,
                    message,
                    tokens,
                    default_priority(entry.content_type),
                    entry.blob,
                    entry.blob,
                    entry.metadata_json,
                    cycles,
                    lifecycle_of_json(entry.lifecycle_json, commit=entry.hash, tract_id=compiler.tract_id),
                    entry.key,
                    None
                    if entry.placement_json is None
                    else placement_of_json(entry.placement_json, commit=entry.hash, tract_id=compiler.tract_id),
                )
            )
        elif entry.response_to in index:
            i_target = index[entry.response_to]
            old = slots[i_target]
            slots[i_target] = old._replace(
                source=entry.hash, message=build_message(old.role, body), tokens=tokens, blob=entry.blob
            )
        if anchors and entry.hash in anchors:
            cycles_at[entry.hash] = cycles
    result = _annotate(SharedSequence(slots), visible)
    applied = tuple(r for r in annotations if r.anchor == head)
    relifed = _relife(result, visible, cycles_at.__getitem__) if anchors else None
    if relifed is not None:
        result, live = relifed, _live_positions(relifed, cycles)
    else:
        live = tuple(
            i
            for i in marked
            if ((key := slots[i].node_key) is None or newest[key] == i) and not _expired(slots[i], cycles)
        )
    view, context = rebuild_view(head, result, compiler.counter, cycles, live)
    return CompileState(
        head, result, applied, marker, context, len(history), has_tool_skips(result), cycles, live, view
    )


def effective_priorities(
    head: str, history: Sequence[HistoryEntry], annotations: Sequence[AnnotationEntry]
) -> dict[str, Priority]:
    """The priority each message has when ``head`` is compiled: its latest annotation that applies there, else
    its content type's default (the rule compile itself follows, SKIP messages included).

    Args:
        head: The compiled commit.
        history: ``head``'s history in compile order (oldest first, ending at ``head``; see
            :func:`~tract_core.graph.linearize`).
        annotations: The tract's annotation rows, oldest first.

    Returns:
        For each message appended in ``history``, keyed by its APPEND commit, its priority.
    """
    priorities = {
        entry.hash: default_priority(entry.content_type)
        for entry in history
        if entry.operation is Operation.APPEND and entry.role is not None and entry.blob is not None
    }
    for row in _visible_annotations(head, history, annotations):
        if row.target in priorities and row.lifecycle is None:
            priorities[row.target] = Priority(row.priority)
    return priorities


def _visible_annotations(
    head: str, history: Sequence[HistoryEntry], annotations: Sequence[AnnotationEntry]
) -> list[AnnotationEntry]:
    """The annotation rows that apply when compiling ``head``, in the order they take effect.

    A row applies if its anchor is ``head``, or if its anchor is in the history and the history
    continues from the anchor through a child the row does not exclude (one created after it).
    Rows take effect in history order of their anchors, then in the order they were made.
    """
    if not annotations:
        return []
    position = {entry.hash: i for i, entry in enumerate(history)}
    anchors = {row.anchor for row in annotations if row.anchor in position}
    children: dict[str, list[str]] = defaultdict(list)
    for entry in history:
        for parent in entry.parents:
            if parent in anchors:
                children[parent].append(entry.hash)

    def applies(row: AnnotationEntry) -> bool:
        if row.anchor not in position:
            return False
        if row.anchor == head:
            return True
        return any(child not in row.excluded for child in children[row.anchor])

    return sorted((r for r in annotations if applies(r)), key=lambda r: (position[r.anchor], r.id))
