"""The plain JSON the reading commands print with ``--json``: the records of the public API as
JSON objects (full hashes, UNIX times, message bodies as stored), one shape per record.

Each function returns plain data for :func:`~tract_core.cli.render.dumps`; docs/cli.md documents
the shapes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from .. import CommitInfo, ContextDiff, ReflogEntry, TractStatus

__all__ = ["commit_dict", "status_dict", "reflog_dict", "diff_dict", "branches_dict", "plain"]


def plain(value: Any) -> Any:
    """An enum as its value (``"append"``, ``"pinned"``), anything else as it is."""
    return getattr(value, "value", value)


def commit_dict(commit: CommitInfo, *, full: bool = False) -> dict[str, Any]:
    """A commit: ``hash``, ``parents``, ``role``, ``content_type``, ``operation``, ``response_to``,
    ``message`` (the commit message), ``created_at``, ``token_count`` and ``body`` (the message as
    stored, without its role; None for a commit without a message). With ``full`` (``tract show``),
    also ``metadata``, ``generation_config``, ``usage``, ``key``, ``lifecycle``, ``placement`` and
    the message's ``annotations`` (oldest first: ``priority``, ``reason``, ``anchor``, ``created_at``).
    """
    data: dict[str, Any] = {
        "hash": commit.hash,
        "parents": list(commit.parents),
        "role": commit.role,
        "content_type": commit.content_type,
        "operation": plain(commit.operation),
        "response_to": commit.response_to,
        "message": commit.message,
        "created_at": commit.created_at,
        "token_count": commit.token_count,
        "body": None if commit.body is None else dict(commit.body),
    }
    if full:
        data.update(
            metadata=None if commit.metadata is None else dict(commit.metadata),
            generation_config=None if commit.generation_config is None else dict(commit.generation_config),
            usage=None if commit.usage is None else dataclasses.asdict(commit.usage),
            key=commit.key,
            lifecycle=None if commit.lifecycle is None else commit.lifecycle.to_dict(),
            placement=None
            if commit.placement is None
            else {"attach_to": commit.placement.attach_to, "offset": commit.placement.offset},
            annotations=[
                {
                    "priority": plain(note.priority),
                    "reason": note.reason,
                    "anchor": note.anchor,
                    "created_at": note.created_at,
                }
                for note in commit.annotations
            ],
        )
    return data


def status_dict(status: TractStatus, pending: int, archived: int) -> dict[str, Any]:
    """A tract's status: every field of :class:`~tract_core.TractStatus` (``last_usage`` as an
    object or None), ``remaining_tokens``, and the counts of pending compression drafts and
    archived commits."""
    data = dataclasses.asdict(status)
    data["remaining_tokens"] = status.remaining_tokens
    data["pending_compressions"] = pending
    data["archived_commits"] = archived
    return data


def reflog_dict(entry: ReflogEntry) -> dict[str, Any]:
    """One move of a ref: ``ref``, ``old``, ``new``, ``action``, ``created_at``."""
    return dataclasses.asdict(entry)


def diff_dict(diff: ContextDiff) -> dict[str, Any]:
    """A context diff: ``a``, ``b``, ``token_delta`` and ``changes`` (each: ``kind``, ``role``,
    ``index_a``, ``index_b``, ``hash_a``, ``hash_b``, ``before``, ``after``, ``unified``)."""
    return {
        "a": diff.a,
        "b": diff.b,
        "token_delta": diff.token_delta,
        "changes": [{"kind": c.kind, "role": c.role, **dataclasses.asdict(c)} for c in diff.changes],
    }


def branches_dict(head: str | None, branches: Sequence[Any]) -> dict[str, Any]:
    """The branches: ``head``, ``branch`` (the checked-out one, None when detached) and ``branches``
    (each: ``name``, ``commit``, ``current``)."""
    current = next((b.name for b in branches if b.current), None)
    return {
        "head": head,
        "branch": current,
        "branches": [{"name": b.name, "commit": b.commit, "current": b.current} for b in branches],
    }
