"""Snapshots: the context tree at one point of history, as immutable data with canonical bytes.

A :class:`Snapshot` holds, for every message of a compiled context, a :class:`Node` (its stable id,
region, coordinates, role, content type, priority, tokens and content hash) and the message itself.
Its :meth:`~Snapshot.canonical_bytes` are canonical JSON (sorted keys, compact, UTF-8, with a format
version): identical for identical histories on every backend and run, since nothing in them comes
from a clock or a random source. :meth:`Snapshot.from_bytes` rebuilds an equal snapshot, and
:meth:`~Snapshot.render` gives exactly the request bytes ``compile(at_commit=head).to_bytes(fmt)``
gives.

``lifecycle`` (its non-default fields, as a dict) and ``key`` are None for a message committed
without them. ``offset`` is 0 for a core node, negative or positive for a node attached before or
after another (see :mod:`tract_core.tree.placement`). ``tags`` are read from the commit's metadata:
``t.user(..., metadata={"tags": ["billing"]})`` gives the node the tag ``billing`` (see
:func:`tags_of`; selectors match it with ``+billing``).

Example:
    >>> from tract_core import Tract
    >>> with Tract.open() as t:
    ...     _ = t.system("Be brief.")
    ...     _ = t.user("Hi")
    ...     snap = t.snapshot()
    ...     [(n.region, n.coordinate, n.role) for n in snap.nodes]
    [('^sys', (-1, 0, 0), 'system'), ('^ah', (0, 0, 0), 'user')]
    >>> Snapshot.from_bytes(snap.canonical_bytes()) == snap
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from .. import display
from ..entries import copy_message
from ..errors import InvalidInputError, shown
from ..formats import CompiledContext
from ..objects import canonical_json
from .coordinates import REGIONS, context_coordinates, region_of
from .lifecycle import coerce_lifecycle

__all__ = ["SNAPSHOT_VERSION", "SNAPSHOT_KIND", "NODE_FIELDS", "Node", "Snapshot", "snapshot_of", "nodes_of", "tags_of"]

SNAPSHOT_VERSION = 1
"""Version of the snapshot encoding (``"v"`` in :meth:`Snapshot.canonical_bytes`)."""
SNAPSHOT_KIND = "tract.snapshot"
"""``"kind"`` in :meth:`Snapshot.canonical_bytes`: what the bytes are."""


@dataclass(frozen=True, slots=True)
class Node:
    """One message of a snapshot, where it sits and what it is.

    Attributes:
        id: The commit that added the message (an EDIT keeps the original's id): stable across
            cycles, branches and backends.
        region: ``^sys``, ``^seq`` or ``^ah``.
        depth: -1 (system), 0 (active head) or the cycles since it was sent (see
            :mod:`tract_core.tree.coordinates`).
        index: Its position among the messages of its depth.
        offset: 0 for a core node; < 0 for pre-context, > 0 for post-context of the core node at
            ``(depth, index, 0)``.
        role: The message role.
        content_type: The content type it was committed with.
        priority: ``"pinned"`` or ``"normal"`` (skipped messages are not in a context).
        tokens: Its estimated tokens as compiled (per-message overhead included).
        content_hash: The content id of the message body as compiled.
        lifecycle: The non-default fields of its lifecycle (``{"ttl": 2}``), or None (permanent);
            see :class:`~tract_core.tree.Lifecycle`.
        key: Its node key (``"weather:NYC"``), or None.
        tags: The text items of the ``"tags"`` list in its commit's metadata, in order (see :func:`tags_of`).
    """

    id: str
    region: str
    depth: int
    index: int
    offset: int
    role: str
    content_type: str
    priority: str
    tokens: int
    content_hash: str
    lifecycle: Any = None
    key: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def coordinate(self) -> tuple[int, int, int]:
        """``(depth, index, offset)``."""
        return (self.depth, self.index, self.offset)

    @property
    def pinned(self) -> bool:
        """Whether the message is PINNED."""
        return self.priority == "pinned"

    def to_dict(self) -> dict[str, Any]:
        """The node as plain JSON data (``tags`` as a list)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["tags"] = list(self.tags)
        return data


NODE_FIELDS = tuple(f.name for f in fields(Node))
"""The fields of a :class:`Node`, in declaration order."""
_TOP_FIELDS = frozenset({"v", "kind", "at", "head", "token_count", "nodes"})
_INT_FIELDS = ("depth", "index", "offset", "tokens")
_STR_FIELDS = ("id", "region", "role", "content_type", "priority", "content_hash")


class Snapshot:
    """The context tree at one point of history. Immutable; equal snapshots have equal bytes.

    Attributes:
        at: The address or commit it was asked for (``"@t0"``, ``"@t-3"``, a hash, a branch).
        head: The commit it was compiled from (None: the empty context).
        token_count: Estimated prompt tokens of the context (as ``CompiledContext.token_count``).
        nodes: One :class:`Node` per message, in context order.
    """

    __slots__ = ("at", "head", "token_count", "nodes", "_messages", "_bytes")

    at: str
    head: str | None
    token_count: int
    nodes: tuple[Node, ...]
    _messages: tuple[dict[str, Any], ...]
    _bytes: bytes | None

    def __init__(
        self,
        at: str,
        head: str | None,
        token_count: int,
        nodes: Sequence[Node],
        messages: Sequence[Mapping[str, Any]],
    ) -> None:
        if len(nodes) != len(messages):
            raise InvalidInputError(f"a snapshot needs one message per node, not {len(messages)} for {len(nodes)}")
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "head", head)
        object.__setattr__(self, "token_count", token_count)
        object.__setattr__(self, "nodes", tuple(nodes))
        object.__setattr__(self, "_messages", tuple(copy_message(m) for m in messages))
        object.__setattr__(self, "_bytes", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Snapshot is immutable")

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages in OpenAI chat shape, as fresh copies (``messages[i]`` is ``nodes[i]``'s)."""
        return [copy_message(m) for m in self._messages]

    def node(self, id: str) -> Node:
        """The node of a commit.

        Raises:
            InvalidInputError: No node has that id.
        """
        for node in self.nodes:
            if node.id == id:
                return node
        raise InvalidInputError(f"no node {shown(id)} in the snapshot at {self.at!r}")

    def region(self, name: str) -> tuple[Node, ...]:
        """The nodes of one region (``^sys``, ``^seq`` or ``^ah``), in order.

        Raises:
            InvalidInputError: An unknown region.
        """
        if name not in REGIONS:
            raise InvalidInputError(f"unknown region {shown(name)}; use one of {', '.join(REGIONS)}")
        return tuple(n for n in self.nodes if n.region == name)

    def to_data(self) -> dict[str, Any]:
        """The snapshot as plain JSON data: what :meth:`canonical_bytes` encodes."""
        nodes = [{**n.to_dict(), "message": copy_message(m)} for n, m in zip(self.nodes, self._messages, strict=True)]
        return {
            "v": SNAPSHOT_VERSION,
            "kind": SNAPSHOT_KIND,
            "at": self.at,
            "head": self.head,
            "token_count": self.token_count,
            "nodes": nodes,
        }

    def canonical_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, compact separators, UTF-8) of :meth:`to_data`."""
        if self._bytes is None:
            object.__setattr__(self, "_bytes", canonical_json(self.to_data(), what="snapshot").encode("utf-8"))
        assert self._bytes is not None
        return self._bytes

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of :meth:`canonical_bytes`."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    def to_json(self) -> str:
        """:meth:`canonical_bytes` as text."""
        return self.canonical_bytes().decode("utf-8")

    def render(self, fmt: str = "openai") -> bytes:
        """The request body's messages for ``fmt`` as canonical JSON bytes: exactly
        ``t.compile(at_commit=snapshot.head).to_bytes(fmt)``, built from the snapshot alone.

        Raises:
            InvalidInputError: An unknown format (the message lists the known ones).
        """
        ids = [n.id for n in self.nodes]
        return CompiledContext(self._messages, ids, self.token_count, self.head).to_bytes(fmt)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Snapshot) and self.canonical_bytes() == other.canonical_bytes()

    def __hash__(self) -> int:
        return hash(self.canonical_bytes())

    def __len__(self) -> int:
        return len(self.nodes)

    def _repr_html_(self) -> str:
        """The notebook view: a bubble per node, with its region, coordinate, tokens, tags and key."""
        return display.snapshot_html(self)

    def __rich__(self) -> Any:
        """The terminal view (``rich.print(snapshot)``): a panel per node."""
        return display.snapshot_rich(self)

    def __repr__(self) -> str:
        head = self.head[:12] if self.head else None
        return f"Snapshot(at={self.at!r}, head={head!r}, nodes={len(self.nodes)}, token_count={self.token_count})"

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Snapshot:
        """Rebuild a snapshot from its :meth:`canonical_bytes`.

        Raises:
            InvalidInputError: ``data`` is not the canonical bytes of a snapshot of this version (not
                JSON, a missing or mistyped field, a region that does not match its depth, or bytes
                that are not canonical, e.g. edited by hand).
        """
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if not isinstance(raw, (bytes, bytearray)):
            raise InvalidInputError(f"Snapshot.from_bytes takes bytes, not {type(data).__name__}")
        try:
            parsed = json.loads(bytes(raw).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInputError(
                f"not snapshot bytes: {exc}; pass what Snapshot.canonical_bytes() returned"
            ) from None
        snapshot = _rebuild(parsed)
        if snapshot.canonical_bytes() != bytes(raw):
            raise InvalidInputError(
                "these snapshot bytes are not canonical (edited or re-encoded): their content does not re-encode "
                "to them; pass what Snapshot.canonical_bytes() returned"
            )
        return snapshot


def _bad(problem: str) -> InvalidInputError:
    return InvalidInputError(f"not a tract snapshot: {problem}; pass what Snapshot.canonical_bytes() returned")


def _rebuild(data: Any) -> Snapshot:
    if not isinstance(data, dict) or data.get("kind") != SNAPSHOT_KIND:
        raise _bad(f'no "kind": {SNAPSHOT_KIND!r}')
    if data.get("v") != SNAPSHOT_VERSION:
        raise _bad(f"format version {shown(data.get('v'))}, this tract reads version {SNAPSHOT_VERSION}")
    if set(data) != _TOP_FIELDS:
        raise _bad(f"fields {sorted(data)}, expected {sorted(_TOP_FIELDS)}")
    at, head, token_count, raw_nodes = data["at"], data["head"], data["token_count"], data["nodes"]
    if not isinstance(at, str) or not (head is None or isinstance(head, str)):
        raise _bad('"at" must be text and "head" text or null')
    if type(token_count) is not int or not isinstance(raw_nodes, list):
        raise _bad('"token_count" must be an integer and "nodes" a list')
    nodes, messages = [], []
    for i, raw in enumerate(raw_nodes):
        if not isinstance(raw, dict) or set(raw) != {*NODE_FIELDS, "message"}:
            raise _bad(f"node {i} must have the fields {sorted({*NODE_FIELDS, 'message'})}")
        if any(type(raw[name]) is not int for name in _INT_FIELDS):
            raise _bad(f"node {i}: {', '.join(_INT_FIELDS)} must be integers")
        if any(not isinstance(raw[name], str) for name in _STR_FIELDS) or not isinstance(raw["message"], dict):
            raise _bad(f'node {i}: {", ".join(_STR_FIELDS)} must be text and "message" an object')
        tags = raw["tags"]
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise _bad(f'node {i}: "tags" must be a list of text')
        life, key = raw["lifecycle"], raw["key"]
        if not (key is None or isinstance(key, str)) or not (life is None or isinstance(life, dict)):
            raise _bad(f'node {i}: "key" must be text or null and "lifecycle" an object or null')
        if life is not None:
            try:
                parsed = coerce_lifecycle(life)
                if parsed is None or parsed.to_dict() != life:
                    raise InvalidInputError("only its non-default fields are stored, a permanent one as null")
            except (InvalidInputError, TypeError) as exc:
                raise _bad(f'node {i}: "lifecycle" is not a lifecycle ({exc})') from None
        if raw["region"] != region_of(raw["depth"]):
            raise _bad(f"node {i}: region {raw['region']!r} does not match depth {raw['depth']}")
        values = {name: raw[name] for name in NODE_FIELDS}
        values["tags"] = tuple(tags)
        nodes.append(Node(**values))
        messages.append(raw["message"])
    return Snapshot(at, head, token_count, nodes, messages)


def tags_of(metadata_json: str | None) -> tuple[str, ...]:
    """A node's tags: the ``"tags"`` list of its commit's metadata (``metadata={"tags": ["billing"]}``),
    its text items in order without repeats; none when the metadata has no such list.

    Example:
        >>> tags_of('{"tags":["billing","urgent","billing",3]}'), tags_of('{"tags":"urgent"}'), tags_of(None)
        (('billing', 'urgent'), (), ())
    """
    if metadata_json is None or '"tags"' not in metadata_json:  # cheap: most metadata has no tags
        return ()
    data = json.loads(metadata_json)
    tags = data.get("tags") if isinstance(data, dict) else None
    if not isinstance(tags, list):
        return ()
    return tuple(dict.fromkeys(tag for tag in tags if isinstance(tag, str)))


def nodes_of(context: CompiledContext) -> list[Node]:
    """The :class:`Node` of every message of a compiled context, in order (no message is copied).

    Raises:
        InvalidInputError: The context was built by hand, not by ``Tract.compile()``.
    """
    coordinates = context_coordinates(context)
    slots = context._slots if context._slots is not None else ()
    return [
        Node(
            id=s.key,
            region=c.region,
            depth=c.depth,
            index=c.index,
            offset=c.offset,
            role=s.role,
            content_type=s.content_type,
            priority=str(s.priority),
            tokens=s.tokens,
            content_hash=s.blob,
            lifecycle=None if s.lifecycle is None else s.lifecycle.to_dict(),
            key=s.node_key,
            tags=tags_of(s.metadata_json),
        )
        for c, s in zip(coordinates, slots, strict=True)
    ]


def snapshot_of(context: CompiledContext, at: str) -> Snapshot:
    """The snapshot of a compiled context.

    Args:
        context: A context made by ``Tract.compile()``.
        at: The address or commit it was asked for, recorded as :attr:`Snapshot.at`.

    Raises:
        InvalidInputError: The context was built by hand, not by ``Tract.compile()``.
    """
    messages = [s.message for s in context._slots or ()]  # Snapshot copies them
    return Snapshot(at, context.head, context.token_count, nodes_of(context), messages)
