"""Finding scaffold instances in a history: the newest commit of each ``scaffold:<name>`` key.

Only commit rows are read (the key and the metadata are fields of the commit), newest first in the
order :meth:`~tract_core.Tract.log` walks, so a lookup costs the commits made since the instance
(or since a commit already scanned), not the whole history.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..objects import Operation
from ..store.base import Session, StoredCommit
from ..tree.lifecycle import Lifecycle, lifecycle_of_json

__all__ = ["KEY_PREFIX", "METADATA_KEY", "Instance", "scan", "scaffold_key"]

KEY_PREFIX = "scaffold:"
"""Node keys of scaffold instances: ``scaffold:<name>``."""

METADATA_KEY = "scaffold"
"""The metadata entry of an instance: ``{"class": "module:Class", "state": {...}}``, or
``{"class": ..., "unmounted": true}`` for the commit that unmounted it."""


def scaffold_key(name: str) -> str:
    """The node key of scaffold ``name``'s instances."""
    return KEY_PREFIX + name


@dataclass(frozen=True)
class Instance:
    """The newest commit of a scaffold's key in a history.

    Attributes:
        name: The scaffold's name.
        commit: The commit's hash.
        class_path: The class it records (None: a message committed with the key by other means).
        state: The state it records (None when it unmounted the scaffold, or records none).
        lifecycle: The commit's lifecycle.
    """

    name: str
    commit: str
    class_path: str | None
    state: dict[str, Any] | None
    lifecycle: Lifecycle | None

    @property
    def mounted(self) -> bool:
        """Whether the scaffold is mounted at this instance (not unmounted or replaced)."""
        return self.class_path is not None and self.state is not None


def _instance(stored: StoredCommit, name: str) -> Instance:
    commit = stored.commit
    record: Any = None
    if commit.metadata_json is not None:
        record = json.loads(commit.metadata_json).get(METADATA_KEY)
    path = record.get("class") if isinstance(record, dict) else None
    state = record.get("state") if isinstance(record, dict) and not record.get("unmounted") else None
    return Instance(
        name=name,
        commit=commit.hash,
        class_path=path if isinstance(path, str) else None,
        state=state if isinstance(state, dict) else None,
        lifecycle=lifecycle_of_json(commit.lifecycle_json, commit=commit.hash),
    )


def scan(
    session: Session, tract_id: str, head: str | None, *, names: Iterable[str] | None = None, stop: str | None = None
) -> tuple[dict[str, Instance], bool]:
    """The newest instance of each scaffold in ``head``'s history, newest first until ``stop``.

    Args:
        session: A reading unit of work.
        tract_id: The tract.
        head: Where to start (None: an empty history).
        names: Only these scaffolds; the walk ends when all are found. None: every scaffold.
        stop: A commit already scanned: the walk ends when it reaches it.

    Returns:
        The instances found (by name) and whether the walk reached ``stop``: then only instances
        newer than ``stop`` are returned, and older ones are as they were at ``stop``.
    """
    wanted = None if names is None else set(names)
    found: dict[str, Instance] = {}
    if head is None or wanted == set():
        return found, False
    first = session.commits.get(tract_id, head)
    if first is None:
        return found, False
    heap = [(-first.depth, head)]
    pending = {head: first}
    seen = {head}
    while heap:
        _, hash = heapq.heappop(heap)
        if hash == stop:
            return found, True
        stored = pending.pop(hash)
        key = stored.commit.key
        if key is not None and key.startswith(KEY_PREFIX) and stored.commit.operation is Operation.APPEND:
            name = key[len(KEY_PREFIX) :]
            if name not in found and (wanted is None or name in wanted):
                found[name] = _instance(stored, name)
                if wanted is not None and wanted <= found.keys():
                    return found, False
        parents = [p for p in stored.commit.parents if p not in seen]
        if parents:
            for parent_hash, parent in session.commits.get_many(tract_id, parents).items():
                seen.add(parent_hash)
                pending[parent_hash] = parent
                heapq.heappush(heap, (-parent.depth, parent_hash))
    return found, False
