"""Compile: from a commit to the message list an LLM call needs, deterministically and incrementally.

Compile reads the history of a commit in order (see :func:`tract_core.graph.linearize`), keeps one
*slot* per appended message, applies each EDIT to its target slot, resolves each slot's priority
from annotations (falling back to the content type's default: instructions are PINNED) and drops
SKIP slots. Annotations are anchored at the commit HEAD was on when they were made: they apply to
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from .errors import CorruptObjectError, damaged
from .formats import CompiledContext
from .graph import linearize
from .objects import Blob, ContentType, Operation, Priority
from .sequence import SharedSequence
from .store.base import AnnotationEntry, HistoryEntry, Session, StoredBlob, StoredCommit
from .tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, TokenCounter, count_body
from .tree.lifecycle import Lifecycle, cycles_sealed, lifecycle_of_json

__all__ = [
    "Slot",
    "CompileState",
    "Compiler",
    "default_priority",
    "build_message",
    "build_state",
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
    """The OpenAI-shaped message for a role and a blob body (``role`` first)."""
    message: dict[str, Any] = {"role": role}
    message.update(body)
    return message


class Slot(NamedTuple):
    """One message position in a compiled history.

    Attributes:
        key: Hash of the APPEND commit that created the message.
        source: Hash of the commit whose content is shown (the key, or the latest EDIT of it).
        role: The message role.
        content_type: The content type of the appended message.
        message: The OpenAI-shaped message (never mutated).
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
    """The compiled context of a slot sequence: SKIP slots dropped, and slots hidden by their lifecycle or
    node key (see :func:`slot_hidden`), sticky ones moved to the end, tool calls and results kept in pairs.

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
    skipped_results: set[Any] = set()
    skipped_calls: set[Any] = set()
    for i in hidden:
        s = items[i]
        if s.role == "tool":
            skipped_results.add(s.message.get("tool_call_id"))
        else:
            skipped_calls.update(_tool_call_ids(s.message))
    sticky_at = [i for i in live if i not in hidden and (life := items[i].lifecycle) is not None and life.sticky]
    if not skipped_results and not skipped_calls:  # no tool pair to mend: list comprehensions only
        if hidden or sticky_at:
            out = hidden.union(sticky_at)
            picked = [s for i, s in enumerate(items) if i not in out]
            picked.extend(items[i] for i in sticky_at)  # after the active head's other messages, every cycle
        else:
            picked = items
        return CompiledContext(
            SharedSequence([s.message for s in picked]),
            SharedSequence([s.key for s in picked]),
            sum(s.tokens for s in picked) + (REPLY_PRIMING if picked else 0),
            head,
            SharedSequence(picked),
        )
    messages: list[Mapping[str, Any]] = []
    keys: list[str] = []
    shown: list[Slot] = []
    sticky: list[Slot] = []
    tokens = 0
    for i, s in enumerate(items):
        if i in hidden:
            continue
        if s.role == "tool" and s.message.get("tool_call_id") in skipped_calls:
            continue
        message = s.message
        if skipped_results and s.role == "assistant" and message.get("tool_calls"):
            calls = message["tool_calls"]
            kept = [c for c in calls if not (isinstance(c, Mapping) and c.get("id") in skipped_results)]
            if len(kept) != len(calls):
                if not kept and not message.get("content"):
                    continue
                message = {k: v for k, v in message.items() if k != "tool_calls"}
                if kept:
                    message["tool_calls"] = kept
                body = {k: v for k, v in message.items() if k != "role"}
                trimmed = Blob.from_body(body)
                s = s._replace(message=message, tokens=count_body(counter, body) + MESSAGE_OVERHEAD, blob=trimmed.hash)
        if s.lifecycle is not None and s.lifecycle.sticky:
            sticky.append(s)
            continue
        messages.append(s.message)
        keys.append(s.key)
        shown.append(s)
        tokens += s.tokens
    for s in sticky:  # rendered after the active head's other messages, every cycle
        messages.append(s.message)
        keys.append(s.key)
        shown.append(s)
        tokens += s.tokens
    tokens += REPLY_PRIMING if messages else 0
    return CompiledContext(SharedSequence(messages), SharedSequence(keys), tokens, head, SharedSequence(shown))


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
            return CompileState(None, SharedSequence(), (), annotations_marker, _context(None, (), self.counter))
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
            empty = CompileState(None, SharedSequence(), (), annotations_marker, _context(None, (), self.counter))
            state = self._extend_path(empty, path, annotations_marker)
            if state is not None:
                return state
        return self._keep(self.full_build(session, head, annotations_marker))

    # -- incremental path ---------------------------------------------------------------------

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
        commit = stored.commit
        slots = state.slots
        appended = False
        cycles = state.cycles
        live = state.live
        sealed = False
        if commit.operation is Operation.APPEND and blob is not None and commit.role is not None:
            sealing = cycles_sealed(commit.role, commit.content_type, commit.metadata_json)
            sealed = sealing > 0
            cycles += sealing
            slot = Slot(
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
            )
            slots = slots.append(slot)
            appended = True
            if slot.node_key is not None:
                live = tuple(i for i in live if slots[i].node_key != slot.node_key)
            if slot.lifecycle is not None or slot.node_key is not None:
                live = (*live, len(slots) - 1)
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
        if rows:
            slots = _annotate(slots, rows)
        if sealed and live:
            live = tuple(i for i in live if not _expired(slots[i], cycles))
        tool_skips = has_tool_skips(slots) if rows else state.tool_skips
        if appended and not rows and not tool_skips and not _changes_live(state, slots[-1], sealed):
            context = _append_context(state.context, slots[-1], commit.hash)
        else:
            context = _context(commit.hash, slots, self.counter, cycles, live)
        return CompileState(
            commit.hash, slots, tuple(rows), marker, context, state.length + 1, tool_skips, cycles, live
        )

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


def _changes_live(state: CompileState, slot: Slot, sealed: bool) -> bool:
    """Whether appending ``slot`` can change more than the end of the context: it has a lifecycle or
    key itself, it seals a cycle while live slots exist, or a live sticky slot must stay last."""
    if slot.lifecycle is not None or slot.node_key is not None:
        return True
    if not state.live:
        return False
    if sealed:
        return True
    slots = state.slots
    return any((life := slots[i].lifecycle) is not None and life.sticky for i in state.live)


def _append_context(previous: CompiledContext, slot: Slot, head: str) -> CompiledContext:
    messages, keys = _shared(previous._messages), _shared(previous._keys)
    shown = _shared(previous._slots if previous._slots is not None else ())
    if slot.priority is Priority.SKIP:
        return CompiledContext(messages, keys, previous.token_count, head, shown)
    base = previous.token_count if len(messages) else REPLY_PRIMING
    return CompiledContext(
        messages.append(slot.message), keys.append(slot.key), base + slot.tokens, head, shown.append(slot)
    )


def _shared(items: Sequence[Any]) -> SharedSequence[Any]:
    return items if isinstance(items, SharedSequence) else SharedSequence(items)


def _annotate(slots: SharedSequence[Slot], rows: Iterable[AnnotationEntry]) -> SharedSequence[Slot]:
    """Apply annotation rows in order (later rows win) to the slots they target."""
    latest: dict[str, Priority] = {}
    for row in rows:
        latest[row.target] = Priority(row.priority)
    if not latest:
        return slots
    return SharedSequence(
        s._replace(priority=latest[s.key]) if s.key in latest and latest[s.key] is not s.priority else s for s in slots
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
    for entry in history:
        body, role = entry.body, entry.role
        if body is None or role is None or entry.blob is None:
            continue
        tokens = tokens_of(entry.blob, body, entry.token_count, entry.tokenizer) + MESSAGE_OVERHEAD
        if entry.operation is Operation.APPEND:
            index[entry.hash] = len(slots)
            cycles += cycles_sealed(role, entry.content_type, entry.metadata_json)
            if entry.key is not None:
                newest[entry.key] = len(slots)
            if entry.lifecycle_json is not None or entry.key is not None:
                marked.append(len(slots))
            message = {"role": role}
            message.update(body)
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
                )
            )
        elif entry.response_to in index:
            i_target = index[entry.response_to]
            old = slots[i_target]
            slots[i_target] = old._replace(
                source=entry.hash, message=build_message(old.role, body), tokens=tokens, blob=entry.blob
            )
    result = _annotate(SharedSequence(slots), _visible_annotations(head, history, annotations))
    applied = tuple(r for r in annotations if r.anchor == head)
    live = tuple(
        i for i in marked if ((key := slots[i].node_key) is None or newest[key] == i) and not _expired(slots[i], cycles)
    )
    context = _context(head, result, compiler.counter, cycles, live)
    return CompileState(head, result, applied, marker, context, len(history), has_tool_skips(result), cycles, live)


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
        if row.target in priorities:
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
