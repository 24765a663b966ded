"""Message-list channels stored as chains of tract commits: each message once, each turn O(new).

A LangGraph ``messages`` channel holds a list of LangChain messages. Instead of serialising the
whole list at every checkpoint (quadratic storage), each message becomes one tract commit (its
OpenAI-shaped body is the blob, so ``compile`` shows the conversation; everything LangChain needs
to rebuild the exact object rides in the commit's metadata) and a checkpoint stores only the tip
commit. A new list that extends the previous one costs one commit per new message; a list that
was edited or trimmed shares the longest common prefix and branches off it.

Nothing is shared with callers. A chain keeps a private :class:`~.snapshots.Snapshot` of each
message; every read hands out new objects rebuilt from them (as a stock saver deserialises), and
a put compares each message of the new list with the snapshot at its position by content
fingerprint, so a message changed in place is stored like a new one. When the saver's serde
encrypts, messages are stored sealed (see :mod:`.sealing`).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)

from tract_core import CommitNotFoundError, TractError
from tract_core.messages import normalize_message
from tract_core.objects import canonical_json
from tract_core.sequence import SharedSequence
from tract_core.storage import EXPECT_PARENT, ChainMessage, HistoryEntry, Transaction

from .sealing import Sealer, is_sealed
from .snapshots import Snapshot, fingerprint, fingerprints, thaw_all
from .views import fold, history_of, is_plain

__all__ = [
    "Chain",
    "ChainPlan",
    "ChainStore",
    "Encoded",
    "is_message_list",
    "encode_message",
    "decode_message",
    "decode_messages",
]


# the classes of ``message_to_dict``'s usual types (what ``messages_from_dict`` would build, without
# its dispatch; the rest goes through it)
_CLASSES: dict[str, type[BaseMessage]] = {
    "human": HumanMessage,
    "ai": AIMessage,
    "system": SystemMessage,
    "tool": ToolMessage,
}


_set_attribute = object.__setattr__


@functools.cache
def _field_names(cls: type[BaseMessage]) -> frozenset[str]:
    return frozenset(cls.model_fields)


def is_message_list(value: Any) -> bool:
    """Whether a channel value is a (non-empty) list of LangChain messages.

    Only the ends are looked at (a put must not cost O(history)); a list with something else in
    the middle is refused by :meth:`ChainStore.plan` and stored as a plain value instead.
    """
    return (
        isinstance(value, list)
        and bool(value)
        and isinstance(value[0], BaseMessage)
        and isinstance(value[-1], BaseMessage)
    )


@dataclass(frozen=True)
class Encoded:
    """A message ready to become a commit."""

    key: str
    role: str
    content_type: str
    body: dict[str, Any]
    metadata: dict[str, Any]


def encode_message(message: BaseMessage) -> Encoded:
    """The commit form of a LangChain message; ``key`` identifies its exact content."""
    data = message_to_dict(message)
    exact = canonical_json(data, what="message")
    key = hashlib.sha256(exact.encode("utf-8")).hexdigest()
    try:
        normalized = normalize_message(message)
        role, content_type, body = normalized.role, normalized.content_type, normalized.body
    except TractError:  # a role the chat APIs do not have (e.g. a ChatMessage with a custom role)
        role, content_type, body = "user", "langchain", {"content": message.text}
    fields = dict(data["data"])
    content = fields.pop("content", None)
    extra: dict[str, Any] = {"type": data["type"], "data": fields}
    if content != body.get("content"):
        extra["content"] = content
    return Encoded(key, role, content_type, body, {"lc": extra, "key": key})


def decode_message(
    body: dict[str, Any], metadata_json: str | None, role: str | None = None, commit: str | None = None
) -> tuple[str, BaseMessage]:
    """Rebuild the LangChain message a commit stores; return (key, message).

    A commit made through the tract API (a summary, a message committed to the thread's tract) has
    no LangChain record: its message is rebuilt from its body and ``role``, with the commit's hash as
    its id (LangGraph's ``add_messages`` tells messages apart by id, so it must not change).
    """
    stored = json.loads(metadata_json) if metadata_json else {}
    extra = stored.get("lc")
    if extra is None:  # a commit made through the tract API, not by the saver
        from langchain_core.messages.utils import convert_to_messages

        message = convert_to_messages([{"role": role or "user", **body}])[0]
        if message.id is None and commit is not None:
            message.id = commit
        return encode_message(message).key, message
    fields = dict(extra["data"])
    fields["content"] = extra["content"] if "content" in extra else body.get("content")
    kind = extra["type"]
    key = stored.get("key")
    if key is None:
        data = {"type": kind, "data": fields}
        key = hashlib.sha256(canonical_json(data, what="message").encode("utf-8")).hexdigest()
    cls = _CLASSES.get(kind)
    return key, cls(**fields) if cls is not None else messages_from_dict([{"type": kind, "data": fields}])[0]


def decode_messages(
    items: Sequence[tuple[Mapping[str, Any], str | None, str | None, str]],
) -> list[tuple[str, BaseMessage]]:
    """:func:`decode_message` of many ``(body, metadata_json, role, commit)`` at once.

    One JSON parse for all the metadata, and the usual message classes are built as pydantic's
    ``model_construct`` builds them: the stored fields are a validated message's ``model_dump``, so validating
    them again (what ``messages_from_dict`` does) gives the same object at twice the cost. The
    tests check that both give equal objects, fields set and extras included. The messages share
    no object with ``items`` (whose bodies a store may keep), so they can be handed to callers.
    """
    try:
        parsed = json.loads("[" + ",".join(metadata_json or "null" for _, metadata_json, _, _ in items) + "]")
    except ValueError:
        parsed = None
    if parsed is None or len(parsed) != len(items):  # damaged metadata: decode one by one (which says where)
        return [decode_message(copy.deepcopy(dict(body)), *rest) for body, *rest in items]
    decoded: list[tuple[str, BaseMessage]] = []
    classes = _CLASSES
    for (body, metadata_json, role, commit), stored in zip(items, parsed, strict=True):
        extra = stored.get("lc") if stored.__class__ is dict else None
        cls = classes.get(extra["type"]) if extra is not None else None
        key = stored.get("key") if extra is not None else None
        if extra is None or cls is None or key is None:
            decoded.append(decode_message(copy.deepcopy(dict(body)), metadata_json, role, commit))
            continue
        fields = extra["data"]  # parsed here, so private
        if "content" in extra:
            fields["content"] = extra["content"]
        else:
            content = body.get("content")
            fields["content"] = content if content.__class__ is str else copy.deepcopy(content)
        if fields.keys() == _field_names(cls):  # exactly the model's fields: what model_construct does
            message = cls.__new__(cls)
            _set_attribute(message, "__dict__", fields)
            _set_attribute(message, "__pydantic_extra__", {})
            _set_attribute(message, "__pydantic_fields_set__", set(fields))
            _set_attribute(message, "__pydantic_private__", None)
        else:  # fields added or dropped since it was stored, or extras: pydantic fills in and sorts out
            message = cls.model_construct(**fields)
        decoded.append((key, message))
    return decoded


@dataclass(frozen=True)
class Chain:
    """A stored message list: for each position, the message key, its commit and its snapshot.

    ``commits[i]`` is a commit whose own list is exactly the first ``i + 1`` messages (the commit
    that appended message ``i`` in a list of appended messages), or None where no commit has that
    list (before an EDIT or a hidden message; see :mod:`.views`). ``tip`` is the commit of the
    whole list.
    """

    tip: str | None
    keys: SharedSequence[str]
    commits: SharedSequence[str | None]
    snapshots: SharedSequence[Snapshot]
    prints: SharedSequence[bytes]

    def __len__(self) -> int:
        return len(self.keys)

    def cut(self, length: int) -> Chain:
        """The chain of this chain's first ``length`` messages."""
        if length == len(self):
            return self
        return Chain(
            self.commits[length - 1] if length else None,
            SharedSequence(self.keys[:length]),
            SharedSequence(self.commits[:length]),
            SharedSequence(self.snapshots[:length]),
            SharedSequence(self.prints[:length]),
        )


_EMPTY = Chain(None, SharedSequence(), SharedSequence(), SharedSequence(), SharedSequence())


@dataclass(frozen=True)
class ChainPlan:
    """How a message list will be stored, before anything is written (:meth:`ChainStore.plan`).

    Attributes:
        base: The stored chain the list continues: the likeliest candidate when the list extends
            it, else the candidate sharing the longest prefix with it.
        prefix: The stored chain the list starts with (its longest common prefix with a candidate).
        new: The messages after the prefix: each encoded, with its message and fingerprint.
    """

    base: Chain
    prefix: Chain
    new: tuple[tuple[Encoded, BaseMessage, bytes], ...]

    @property
    def extends_base(self) -> bool:
        """Whether the list is the base chain plus new messages (the usual turn)."""
        return self.base.tip is not None and bool(self.new) and self.prefix.tip == self.base.tip

    @property
    def moves(self) -> bool:
        """Whether the stored list's tip will differ from the base chain's."""
        return bool(self.new) or self.prefix.tip != self.base.tip


def _key(message: BaseMessage) -> str:
    return encode_message(message).key


class ChainStore:
    """Writes and reads message chains, with a cache of chains (by tip).

    Args:
        sealer: Seals messages when the saver's serde encrypts, and opens sealed ones.
        max_chains: Chains kept in memory.
    """

    def __init__(self, sealer: Sealer, *, max_chains: int = 256) -> None:
        self.sealer = sealer
        self._chains: OrderedDict[tuple[str, str], Chain] = OrderedDict()
        self._max_chains = max_chains
        # per tract, the longest chain seen and the position of each of its commits: an older
        # checkpoint's list is a prefix of it, or shares one (history, forks), so no decoding
        self._index: dict[str, tuple[Chain, dict[str, int]]] = {}
        self._lock = threading.RLock()

    def _keep(self, tract_id: str, chain: Chain) -> Chain:
        if chain.tip is not None:
            with self._lock:
                self._chains[(tract_id, chain.tip)] = chain
                self._chains.move_to_end((tract_id, chain.tip))
                while len(self._chains) > self._max_chains:
                    self._chains.popitem(last=False)
                self._update_index(tract_id, chain)
        return chain

    def _update_index(self, tract_id: str, chain: Chain) -> None:
        indexed = self._index.get(tract_id)
        if indexed is not None and len(chain) <= len(indexed[0]):
            return
        if indexed is not None and indexed[0].tip is not None and chain.commits[len(indexed[0]) - 1] == indexed[0].tip:
            positions = indexed[1]  # the chain grew: index only the new commits
            for i in range(len(indexed[0]), len(chain)):
                commit = chain.commits[i]
                if commit is not None:
                    positions[commit] = i
        else:
            positions = {commit: i for i, commit in enumerate(chain.commits) if commit is not None}
        self._index[tract_id] = (chain, positions)

    def _prefix(self, tract_id: str, tip: str) -> Chain | None:
        """The chain ending at ``tip`` cut from the indexed chain, when it lies on it."""
        with self._lock:
            indexed = self._index.get(tract_id)
        if indexed is None or tip not in indexed[1]:
            return None
        return indexed[0].cut(indexed[1][tip] + 1)

    def forget(self, tract_id: str) -> None:
        """Drop cached chains of a tract (after it was deleted)."""
        with self._lock:
            self._index.pop(tract_id, None)
            for key in [k for k in self._chains if k[0] == tract_id]:
                del self._chains[key]

    # -- reading ------------------------------------------------------------------------------

    def load(self, tx: Transaction, tract_id: str, tip: str | None) -> Chain:
        """The chain ending at ``tip`` (cached, or rebuilt from the tract's commits)."""
        return self._load(tx, tract_id, tip)[0]

    def read(self, tx: Transaction, tract_id: str, tip: str | None) -> list[BaseMessage]:
        """New message objects of the chain ending at ``tip``, nothing shared with any other read.

        Messages this read had to decode from the database are handed out as decoded (nothing else
        holds them: their snapshots keep bytes, not the objects); the rest are rebuilt from snapshots.
        """
        chain, decoded = self._load(tx, tract_id, tip)
        snapshots = chain.snapshots.tolist()
        start = len(snapshots) - len(decoded)
        messages = thaw_all(snapshots[:start])
        for message, snapshot in zip(decoded, snapshots[start:], strict=True):
            messages.append(message if snapshot.private else thaw_all((snapshot,))[0])
        return messages

    def _load(self, tx: Transaction, tract_id: str, tip: str | None) -> tuple[Chain, list[BaseMessage]]:
        """:meth:`load`, and the messages of the chain's end it decoded (private objects)."""
        if tip is None:
            return _EMPTY, []
        with self._lock:
            cached = self._chains.get((tract_id, tip))
        if cached is not None:
            return cached, []
        prefix = self._prefix(tract_id, tip)
        if prefix is not None:
            return self._keep(tract_id, prefix), []
        history = tx.history(tract_id)
        with self._lock:
            indexed = self._index.get(tract_id)
        indexed_chain, positions = indexed if indexed is not None else (_EMPTY, {})
        order: list[str] = []
        entries: list[HistoryEntry] = []
        current: str | None = tip
        base: Chain = _EMPTY
        while current is not None:
            if current in positions:  # a fork: decode only what the indexed line lacks
                base = indexed_chain.cut(positions[current] + 1)
                break
            entry = history.get(current)
            if entry is None:
                raise CommitNotFoundError(
                    f"commit {current[:12]} of tract {tract_id!r}, which a saved checkpoint needs, is missing; "
                    "the store was changed outside tract (restore it from a backup)"
                )
            if not is_plain(entry):  # an EDIT, an update marker, a merge: fold its history
                base = self._fold(tx, tract_id, current, history)
                break
            order.append(current)
            entries.append(entry)
            parents = entry.parents
            current = parents[0] if parents else None
        order.reverse()
        entries.reverse()
        sealed = [e.blob for e in entries if e.blob is not None and is_sealed(e.metadata_json)]
        opened = self.sealer.open_many(tx, tract_id, sealed) if sealed else {}
        items = []
        for entry in entries:
            found = opened.get(entry.blob) if entry.blob is not None else None
            body, metadata_json = found or (entry.body or {}, entry.metadata_json)  # decoding copies
            items.append((body, metadata_json, entry.role, entry.hash))
        keys, snapshots, prints = base.keys.tolist(), base.snapshots.tolist(), base.prints.tolist()
        decoded = []
        for key, message in decode_messages(items):
            print = fingerprint(message, _key)
            keys.append(key)
            snapshots.append(Snapshot(message, print, owned=True))
            prints.append(print)
            decoded.append(message)
        commits = base.commits.tolist() + order
        chain = Chain(
            tip, SharedSequence(keys), SharedSequence(commits), SharedSequence(snapshots), SharedSequence(prints)
        )
        return self._keep(tract_id, chain), decoded

    def _fold(self, tx: Transaction, tract_id: str, head: str, history: Mapping[str, HistoryEntry]) -> Chain:
        """The chain of a commit whose history is more than appended messages (see :mod:`.views`)."""
        with self._lock:
            cached = self._chains.get((tract_id, head))
        if cached is not None:
            return cached
        order = history_of(head, history)
        sealed = [e.blob for e in order if e.blob is not None and is_sealed(e.metadata_json)]
        opened = self.sealer.open_many(tx, tract_id, sealed) if sealed else {}

        def decode(entry: HistoryEntry) -> BaseMessage:
            body, metadata_json = opened.get(entry.blob or "") or (dict(entry.body or {}), entry.metadata_json)
            return decode_message(body, metadata_json, entry.role, entry.hash)[1]

        keys: list[str] = []
        commits: list[str | None] = []
        snapshots: list[Snapshot] = []
        prints: list[bytes] = []
        for message, commit in fold(order, decode):
            print = fingerprint(message, _key)
            keys.append(_key(message))
            commits.append(commit)
            snapshots.append(Snapshot(message, print, owned=True))
            prints.append(print)
        chain = Chain(
            head,
            SharedSequence(keys),
            SharedSequence(commits),
            SharedSequence(snapshots),
            SharedSequence(prints),
        )
        return self._keep(tract_id, chain)

    @staticmethod
    def values(chain: Chain) -> list[BaseMessage]:
        """New message objects equal to the chain's messages (nothing shared with any other read)."""
        return thaw_all(chain.snapshots.tolist())

    # -- writing ------------------------------------------------------------------------------

    def plan(
        self, tx: Transaction, tract_id: str, messages: Sequence[BaseMessage], candidates: Sequence[str | None]
    ) -> ChainPlan:
        """How to store ``messages``: the longest prefix shared with one of ``candidates`` (stored
        chain tips, the likeliest first) and the messages after it. Nothing is written.

        Raises:
            TypeError: ``messages`` holds something other than LangChain messages.
        """
        prints = fingerprints(messages, _key)
        encoded: dict[int, Encoded] = {}
        base = self.load(tx, tract_id, candidates[0])
        n = len(base)
        if n <= len(messages) and base.prints.tolist() == prints[:n]:  # the usual turn: the list grew
            return ChainPlan(base, base, self._encode(base, messages, prints, encoded))
        best, shared = _EMPTY, 0
        for tip in dict.fromkeys(candidates):
            chain = self.load(tx, tract_id, tip)
            common, chain = self._common_prefix(chain, messages, prints, encoded)
            if common > shared or best is _EMPTY:
                best, shared = chain, common
            if shared == len(messages) == len(chain):
                return ChainPlan(base, chain, ())
        while shared and best.commits[shared - 1] is None:  # no commit has that prefix as its view
            shared -= 1
        prefix = best.cut(shared)
        return ChainPlan(best, prefix, self._encode(prefix, messages, prints, encoded))

    @staticmethod
    def _encode(
        prefix: Chain, messages: Sequence[BaseMessage], prints: list[bytes], encoded: dict[int, Encoded]
    ) -> tuple[tuple[Encoded, BaseMessage, bytes], ...]:
        return tuple(
            (encoded.get(i) or encode_message(messages[i]), messages[i], prints[i])
            for i in range(len(prefix), len(messages))
        )

    def write(
        self,
        tx: Transaction,
        tract_id: str,
        plan: ChainPlan,
        *,
        ref: str | None = None,
        expected: Any = EXPECT_PARENT,
        hold: str | None = None,
        action: str = "checkpoint",
    ) -> Chain:
        """Write ``plan``'s new messages on its prefix with one :meth:`~tract_core.storage.Transaction.write_chain`
        (moving ``ref`` from ``expected``, holding the tip for ``hold``); return the stored chain.

        Raises:
            ConcurrentUpdateError: ``ref`` does not point at ``expected``; nothing was written.
        """
        sealed = [self.sealer.seal(e.key, e.body, e.metadata) for e, _, _ in plan.new] if self.sealer.enabled else []
        if sealed:
            messages = [
                ChainMessage(e.role, s.body, e.content_type, s.metadata)
                for (e, _, _), s in zip(plan.new, sealed, strict=True)
            ]
        else:
            messages = [ChainMessage(e.role, e.body, e.content_type, e.metadata) for e, _, _ in plan.new]
        written = tx.write_chain(
            tract_id, messages, parent=plan.prefix.tip, ref=ref, expected=expected, action=action, hold=hold
        )
        if sealed:
            for content, seal in zip(written.contents, sealed, strict=True):
                self.sealer.put(tx, content, seal)
        chain = plan.prefix
        for (encoding, message, print), commit in zip(plan.new, written.commits, strict=True):
            chain = Chain(
                commit,
                chain.keys.append(encoding.key),
                chain.commits.append(commit),
                chain.snapshots.append(Snapshot(message, print)),
                chain.prints.append(print),
            )
        return self._keep(tract_id, chain)

    def _common_prefix(
        self, chain: Chain, messages: Sequence[BaseMessage], prints: list[bytes], encoded: dict[int, Encoded]
    ) -> tuple[int, Chain]:
        """How many leading messages equal the chain's, and the chain with their snapshots (the
        positions found equal by canonical JSON but not by fingerprint take the new message's)."""
        n = min(len(chain), len(messages))
        stored = chain.prints.tolist()
        if stored[:n] == prints[:n]:
            return n, chain
        renewed: dict[int, Snapshot] = {}
        i = 0
        while i < n:
            if stored[i] != prints[i]:
                if i not in encoded:
                    encoded[i] = encode_message(messages[i])
                if encoded[i].key != chain.keys[i]:
                    break
                renewed[i] = Snapshot(messages[i], prints[i])
            i += 1
        if renewed:
            snapshots = chain.snapshots.tolist()
            for position, snapshot in renewed.items():
                snapshots[position] = snapshot
                stored[position] = snapshot.print
            chain = Chain(chain.tip, chain.keys, chain.commits, SharedSequence(snapshots), SharedSequence(stored))
        return i, chain
