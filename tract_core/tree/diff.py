"""PACT diffs: what changed between two snapshots, node by node.

``diff_snapshots(a, b)`` returns PACT's shape, ``{"added": [ids], "removed": [ids], "changed":
[{"id": ..., "fields": [...]}]}``, ids in the order they appear (``added`` and ``changed`` in
``b``'s order, ``removed`` in ``a``'s). A node is *changed* when one of :data:`COMPARED_FIELDS`
differs: its content (``content_hash``), role, content type, priority, tokens, offset, lifecycle,
key or tags. Its depth, region and index are where it sits, not what it is: as cycles pass a node
sinks (ODI) without changing, so they are never reported.

Example:
    >>> from tract_core import PINNED, Tract
    >>> with Tract.open() as t:
    ...     hi = t.user("Hi")
    ...     _ = t.assistant("Hello!")
    ...     before = t.snapshot()
    ...     _ = t.annotate(hi, PINNED)
    ...     _ = t.user("Bye")
    ...     change = diff_snapshots(before, t.snapshot())
    >>> len(change["added"]), change["removed"], change["changed"][0]["fields"]
    (1, [], ['priority'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .snapshot import Node, Snapshot

__all__ = ["COMPARED_FIELDS", "diff_snapshots", "diff_nodes"]

COMPARED_FIELDS = (
    "role",
    "content_type",
    "content_hash",
    "priority",
    "tokens",
    "offset",
    "lifecycle",
    "key",
    "tags",
)
"""The node fields whose difference makes a node *changed*, in the order they are reported."""


def diff_snapshots(a: Snapshot, b: Snapshot) -> dict[str, Any]:
    """PACT's diff from snapshot ``a`` to snapshot ``b`` (see the module docstring).

    Returns:
        ``{"added": [...], "removed": [...], "changed": [{"id": ..., "fields": [...]}]}``.
    """
    return diff_nodes(a.nodes, b.nodes)


def diff_nodes(a: Sequence[Node], b: Sequence[Node]) -> dict[str, Any]:
    """PACT's diff from the nodes ``a`` to the nodes ``b`` (two snapshots' nodes, or two selections').

    Returns:
        ``{"added": [...], "removed": [...], "changed": [{"id": ..., "fields": [...]}]}``.
    """
    before = {node.id: node for node in a}
    after_ids = {node.id for node in b}
    added: list[str] = []
    changed: list[dict[str, Any]] = []
    for node in b:
        old = before.get(node.id)
        if old is None:
            added.append(node.id)
            continue
        differing = [name for name in COMPARED_FIELDS if getattr(old, name) != getattr(node, name)]
        if differing:
            changed.append({"id": node.id, "fields": differing})
    removed = [node.id for node in a if node.id not in after_ids]
    return {"added": added, "removed": removed, "changed": changed}
