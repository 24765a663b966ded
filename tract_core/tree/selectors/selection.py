"""What a selector query returns: a :class:`Selection` of one snapshot's nodes, or for a temporal range
a :class:`SelectionSeries` (one selection per snapshot and PACT diffs between neighbours).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from ...objects import canonical_json
from ..diff import diff_nodes
from ..snapshot import Node

__all__ = ["Selection", "SelectionSeries"]


class Selection:
    """The nodes a query selected in one snapshot, in context order. Immutable.

    Accepted where tract takes several messages: ``t.annotate(selection, SKIP)``,
    ``t.set_lifecycle(selection, ...)``, ``t.compress(select=selection)``.

    Attributes:
        query: The query as written.
        at: The snapshot's address or commit (``"@t0"``, ``"@t-3"``, a hash).
        head: The commit the snapshot was compiled from (None: the empty context).
        nodes: The selected :class:`~tract_core.tree.Node` objects (ids, coordinates, hashes, ...).
    """

    __slots__ = ("query", "at", "head", "nodes")

    query: str
    at: str
    head: str | None
    nodes: tuple[Node, ...]

    def __init__(self, query: str, at: str, head: str | None, nodes: Sequence[Node]) -> None:
        object.__setattr__(self, "query", query)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "head", head)
        object.__setattr__(self, "nodes", tuple(nodes))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Selection is immutable")

    @property
    def ids(self) -> list[str]:
        """The selected nodes' ids (the commits that added their messages), in order."""
        return [node.id for node in self.nodes]

    @property
    def coordinates(self) -> list[tuple[int, int, int]]:
        """The selected nodes' ``(depth, index, offset)``, in order."""
        return [node.coordinate for node in self.nodes]

    def to_data(self) -> dict[str, Any]:
        """Plain JSON data: ``{"query", "at", "head", "nodes": [node.to_dict(), ...]}``."""
        return {"query": self.query, "at": self.at, "head": self.head, "nodes": [n.to_dict() for n in self.nodes]}

    def to_json(self) -> str:
        """:meth:`to_data` as canonical JSON (sorted keys, compact)."""
        return canonical_json(self.to_data(), what="selection")

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    @overload
    def __getitem__(self, index: int) -> Node: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Node, ...]: ...

    def __getitem__(self, index: int | slice) -> Node | tuple[Node, ...]:
        return self.nodes[index]

    def __contains__(self, item: object) -> bool:
        return any(node == item or node.id == item for node in self.nodes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Selection) and (self.query, self.at, self.head, self.nodes) == (
            other.query,
            other.at,
            other.head,
            other.nodes,
        )

    def __hash__(self) -> int:
        return hash((self.query, self.at, self.head, self.nodes))

    def __repr__(self) -> str:
        return f"Selection({self.query!r}, at={self.at!r}, nodes={len(self.nodes)})"


class SelectionSeries:
    """A query over a temporal range (``@t-5..@t-1 .user``, ``@history``): one :class:`Selection` per
    snapshot, oldest first, and PACT's diff between each neighbouring pair. Immutable.

    Attributes:
        query: The query as written.
        at: The range (``"@t-5..@t-1"``, ``"@history"``).
        selections: One selection per snapshot, oldest first.
        diffs: ``diffs[i]`` is ``{"from", "to", "added", "removed", "changed"}`` from ``selections[i]`` to
            ``selections[i + 1]`` (ids as in :func:`~tract_core.tree.diff_snapshots`).
    """

    __slots__ = ("query", "at", "selections", "diffs")

    query: str
    at: str
    selections: tuple[Selection, ...]
    diffs: tuple[dict[str, Any], ...]

    def __init__(self, query: str, at: str, selections: Sequence[Selection]) -> None:
        object.__setattr__(self, "query", query)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "selections", tuple(selections))
        diffs = tuple(
            {"from": a.at, "to": b.at, **diff_nodes(a.nodes, b.nodes)}
            for a, b in zip(self.selections, self.selections[1:], strict=False)
        )
        object.__setattr__(self, "diffs", diffs)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SelectionSeries is immutable")

    def to_data(self) -> dict[str, Any]:
        """Plain JSON data: ``{"query", "at", "selections": [...], "diffs": [...]}``."""
        return {
            "query": self.query,
            "at": self.at,
            "selections": [s.to_data() for s in self.selections],
            "diffs": [dict(d) for d in self.diffs],
        }

    def to_json(self) -> str:
        """:meth:`to_data` as canonical JSON (sorted keys, compact)."""
        return canonical_json(self.to_data(), what="selection series")

    def __len__(self) -> int:
        return len(self.selections)

    def __iter__(self) -> Iterator[Selection]:
        return iter(self.selections)

    def __getitem__(self, index: int) -> Selection:
        return self.selections[index]

    def __repr__(self) -> str:
        return f"SelectionSeries({self.query!r}, at={self.at!r}, snapshots={len(self.selections)})"
