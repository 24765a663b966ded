"""Message-list channels stored as chains of tract commits: each message once, each turn O(new).

A LangGraph ``messages`` channel holds a list of LangChain messages. Instead of serialising the
whole list at every checkpoint (quadratic storage), each message becomes one tract commit (its
OpenAI-shaped body is the blob, so ``compile`` shows the conversation; everything LangChain needs
to rebuild the exact object rides in the commit's metadata) and a checkpoint stores only the tip
commit. A new list that extends the previous one costs one commit per new message; a list that
was edited or trimmed shares the longest common prefix and branches off it.

Reads hand LangGraph a new list holding the cached message objects themselves (no per-message
copy: rebuilding 2,000 LangChain messages costs more than a whole turn). LangGraph's reducers treat
messages as values: nodes return new messages (``add_messages`` replaces by id) instead of changing
old ones. A message that was already checkpointed and is then changed in place is not noticed when
the same object comes back at the same position; return a new message (same id) instead.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from tract_core.errors import CommitNotFoundError, TractError
from tract_core.messages import normalize_message
from tract_core.objects import Blob, Commit, ObjectId, Operation, canonical_json
from tract_core.sequence import SharedSequence
from tract_core.store.base import Session

__all__ = ["Chain", "ChainStore", "Encoded", "is_message_list", "encode_message", "decode_message"]


def _fingerprint(message: BaseMessage) -> tuple[int, Any]:
    return id(message.content), message.id


def is_message_list(value: Any) -> bool:
    """Whether a channel value is a (non-empty) list of LangChain messages.

    Only the ends are looked at (a put must not cost O(history)); a list with something else in
    the middle is refused by :meth:`ChainStore.store` and stored as a plain value instead.
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
    metadata_json: str


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
    return Encoded(key, role, content_type, body, canonical_json({"lc": extra, "key": key}))


def decode_message(body: dict[str, Any], metadata_json: str | None) -> tuple[str, BaseMessage]:
    """Rebuild the LangChain message a commit stores; return (key, message)."""
    stored = json.loads(metadata_json) if metadata_json else {}
    extra = stored.get("lc")
    if extra is None:  # a commit made through the tract API, not by the saver
        from langchain_core.messages.utils import convert_to_messages

        message = convert_to_messages([{"role": "user", **body}])[0]
        return encode_message(message).key, message
    fields = dict(extra["data"])
    fields["content"] = extra["content"] if "content" in extra else body.get("content")
    data = {"type": extra["type"], "data": fields}
    key = stored.get("key") or hashlib.sha256(canonical_json(data, what="message").encode("utf-8")).hexdigest()
    return key, messages_from_dict([data])[0]


@dataclass(frozen=True)
class Chain:
    """A stored message list: for each position, the message key, its commit and the message."""

    tip: str | None
    keys: SharedSequence[str]
    commits: SharedSequence[str]
    messages: SharedSequence[BaseMessage]

    def __len__(self) -> int:
        return len(self.keys)


_EMPTY = Chain(None, SharedSequence(), SharedSequence(), SharedSequence())


class ChainStore:
    """Writes and reads message chains, with caches of chains (by tip) and of object identities.

    Args:
        max_chains: Chains kept in memory.
        max_objects: Message objects remembered by identity.
    """

    def __init__(self, *, max_chains: int = 256, max_objects: int = 200_000) -> None:
        self._chains: OrderedDict[tuple[str, str], Chain] = OrderedDict()
        self._ids: OrderedDict[int, tuple[BaseMessage, str, tuple[int, Any]]] = OrderedDict()
        self._max_chains = max_chains
        # per tract, the longest chain seen and the position of each of its commits: an older
        # checkpoint's list is a prefix of it, or shares one (history, forks), so no decoding
        self._index: dict[str, tuple[Chain, dict[str, int]]] = {}
        self._max_objects = max_objects
        self._lock = threading.RLock()

    # -- identity map -------------------------------------------------------------------------

    def _key_of(self, message: BaseMessage) -> tuple[str, Encoded | None]:
        with self._lock:
            known = self._ids.get(id(message))
        if known is not None and known[0] is message and known[2] == _fingerprint(message):
            return known[1], None
        encoded = encode_message(message)
        self._remember_objects([(message, encoded.key)])
        return encoded.key, encoded

    def _remember_objects(self, pairs: Sequence[tuple[BaseMessage, str]]) -> None:
        with self._lock:
            for message, key in pairs:
                self._ids[id(message)] = (message, key, _fingerprint(message))
                self._ids.move_to_end(id(message))
            while len(self._ids) > self._max_objects:
                self._ids.popitem(last=False)

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
                positions[chain.commits[i]] = i
        else:
            positions = {commit: i for i, commit in enumerate(chain.commits)}
        self._index[tract_id] = (chain, positions)

    def _prefix(self, tract_id: str, tip: str) -> Chain | None:
        """The chain ending at ``tip`` cut from the indexed chain, when it lies on it."""
        with self._lock:
            indexed = self._index.get(tract_id)
        if indexed is None or tip not in indexed[1]:
            return None
        chain, i = indexed[0], indexed[1][tip] + 1
        return Chain(
            tip,
            SharedSequence(chain.keys[:i]),
            SharedSequence(chain.commits[:i]),
            SharedSequence(chain.messages[:i]),
        )

    def forget(self, tract_id: str) -> None:
        """Drop cached chains of a tract (after it was deleted)."""
        with self._lock:
            self._index.pop(tract_id, None)
            for key in [k for k in self._chains if k[0] == tract_id]:
                del self._chains[key]

    # -- reading ------------------------------------------------------------------------------

    def load(self, session: Session, tract_id: str, tip: str | None) -> Chain:
        """The chain ending at ``tip`` (cached, or rebuilt from the tract's commits)."""
        if tip is None:
            return _EMPTY
        with self._lock:
            cached = self._chains.get((tract_id, tip))
        if cached is not None:
            return cached
        prefix = self._prefix(tract_id, tip)
        if prefix is not None:
            return self._keep(tract_id, prefix)
        history = session.commits.history(tract_id)
        order: list[str] = []
        current: str | None = tip
        base: Chain = _EMPTY
        while current is not None:
            known = self._prefix(tract_id, current)
            if known is not None:  # a fork: decode only what the indexed line lacks
                base = known
                break
            if current not in history:
                raise CommitNotFoundError(
                    f"commit {current[:12]} of tract {tract_id!r}, which a saved checkpoint needs, is missing; "
                    "the store was changed outside tract (restore it from a backup)"
                )
            order.append(current)
            parents = history[current].parents
            current = parents[0] if parents else None
        order.reverse()
        keys, messages = base.keys.tolist(), base.messages.tolist()
        for commit in order:
            entry = history[commit]
            key, message = decode_message(dict(entry.body or {}), entry.metadata_json)
            keys.append(key)
            messages.append(message)
        commits = base.commits.tolist() + order
        chain = Chain(tip, SharedSequence(keys), SharedSequence(commits), SharedSequence(messages))
        self._remember_objects(list(zip(messages[len(base) :], keys[len(base) :], strict=True)))
        return self._keep(tract_id, chain)

    def values(self, chain: Chain) -> list[BaseMessage]:
        """A new list of the chain's (cached, shared) message objects."""
        return chain.messages.tolist()

    # -- writing ------------------------------------------------------------------------------

    def store(
        self, session: Session, tract_id: str, messages: Sequence[BaseMessage], candidates: Sequence[str | None]
    ) -> tuple[Chain, Chain]:
        """Store ``messages`` as a chain, sharing the longest prefix with one of ``candidates``.

        Returns:
            The new chain and the chain it was built on (its common prefix is shared).
        """
        for tip in candidates[:1]:  # fast path: the same objects as the likely base, plus new ones
            base = chain = self.load(session, tract_id, tip)
            if len(chain) <= len(messages) and _same_objects(chain, messages):
                for message in messages[len(chain) :]:
                    if not isinstance(message, BaseMessage):
                        raise TypeError("not a list of LangChain messages")
                    key, encoded = self._key_of(message)
                    chain = self._append(session, tract_id, chain, encoded or encode_message(message), message)
                return self._keep(tract_id, chain), base
        if not all(isinstance(m, BaseMessage) for m in messages):
            raise TypeError("not a list of LangChain messages")
        keys: list[str] = []
        fresh: dict[int, Encoded] = {}
        for i, message in enumerate(messages):
            key, encoded = self._key_of(message)
            keys.append(key)
            if encoded is not None:
                fresh[i] = encoded
        base, shared = _EMPTY, 0
        for tip in dict.fromkeys(candidates):
            chain = self.load(session, tract_id, tip)
            common = _common_prefix(chain.keys, keys)
            if common > shared or base is _EMPTY:
                base, shared = chain, common
            if shared == len(keys) == len(chain):
                return chain, chain
        if shared == len(base):
            chain = base
        else:  # the list was edited or trimmed: branch off the longest common prefix
            cut = SharedSequence
            chain = Chain(
                base.commits[shared - 1] if shared else None,
                cut(base.keys[:shared]),
                cut(base.commits[:shared]),
                cut(base.messages[:shared]),
            )
        for i in range(shared, len(keys)):
            encoded = fresh.get(i) or encode_message(messages[i])
            chain = self._append(session, tract_id, chain, encoded, messages[i])
        return self._keep(tract_id, chain), base

    def _append(self, session: Session, tract_id: str, chain: Chain, encoded: Encoded, message: BaseMessage) -> Chain:
        blob = Blob.from_body(encoded.body)
        session.blobs.put(blob, None, None)  # counted when first compiled: a put stays O(stored bytes)
        commit = Commit(
            parents=(ObjectId(chain.tip),) if chain.tip else (),
            blob=blob.hash,
            role=encoded.role,
            content_type=encoded.content_type,
            operation=Operation.APPEND,
            metadata_json=encoded.metadata_json,
        )
        session.commits.put(tract_id, commit, len(chain) + 1, blob.body)
        return Chain(
            commit.hash,
            chain.keys.append(encoded.key),
            chain.commits.append(commit.hash),
            chain.messages.append(message),
        )


def _same_objects(chain: Chain, messages: Sequence[BaseMessage]) -> bool:
    """Whether ``messages`` starts with the chain's messages: the same objects (a C-level identity
    check, falling back to equality for look-alikes)."""
    return chain.messages.tolist() == list(messages[: len(chain)])


def _common_prefix(stored: Sequence[str], wanted: Sequence[str]) -> int:
    n = min(len(stored), len(wanted))
    i = 0
    for a, b in zip(stored, wanted, strict=False):
        if i >= n or a != b:
            break
        i += 1
    return i
