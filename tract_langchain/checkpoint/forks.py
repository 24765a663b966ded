"""The branches that keep the lines of a thread a fork leaves behind.

When a graph resumes from an older checkpoint (``update_state`` on it, ``invoke`` from it) and its
messages take another path, the tract's ``main`` follows the new path and the line it held is kept
as a branch ``lg/step-<n>``: ``n`` is the step of the checkpoint the new path continues from (``lg/start``
before the first step), with ``-2``, ``-3``, ... when that name is taken. Names depend only on the
thread's history, never on clocks or random ids, and a line already kept is not kept twice.
Branches named by earlier versions (``lg/<checkpoint id>-<commit>``) stay as they are.
"""

from __future__ import annotations

import json

from tract_core.storage import Transaction

from .rows import CheckpointStore

__all__ = ["PREFIX", "fork_branch"]

PREFIX = "lg/"
"""Every branch the saver creates starts with it."""


def fork_branch(
    tx: Transaction,
    rows: CheckpointStore,
    tract_id: str,
    old: str,
    thread_id: str,
    checkpoint_ns: str,
    parent_id: str | None,
) -> str | None:
    """The name for a branch keeping the line ending at ``old``, or None if a saver branch keeps it already.

    Args:
        tx: The unit of work of the put.
        rows: The saver's tables.
        tract_id: The thread's tract.
        old: The commit ``main`` leaves.
        thread_id: The thread.
        checkpoint_ns: Its namespace.
        parent_id: The checkpoint the new line continues from (None: from the start).
    """
    branches = tx.branches(tract_id)
    if any(commit == old and name.startswith(PREFIX) for name, commit in branches.items()):
        return None
    step = None
    if parent_id:
        found = rows.locate(tx, thread_id, checkpoint_ns, parent_id)
        step = None if found is None else json.loads(found[0].metadata_json).get("step")
    base = f"{PREFIX}step-{step}" if isinstance(step, int) and step >= 0 else f"{PREFIX}start"
    name, n = base, 2
    while name in branches:
        name, n = f"{base}-{n}", n + 1
    return name
