"""Reading history: commit records, the log walk, a commit's details, the reflog."""

from __future__ import annotations

import heapq

from .annotations import annotation_info
from .compile import Compiler
from .errors import CorruptObjectError
from .objects import Blob
from .records import CommitInfo, ReflogEntry
from .store.base import Session, StoredCommit
from .tokens import MESSAGE_OVERHEAD
from .usage import Usage

__all__ = ["commit_info", "walk_log", "show_commit", "read_reflog", "verify_objects"]


def commit_info(
    stored: StoredCommit, blob: Blob | None, tokens: int | None, *, with_annotations: tuple = ()
) -> CommitInfo:
    """Build the public record of a stored commit."""
    commit = stored.commit
    body = dict(blob.body) if blob is not None else None
    return CommitInfo(
        hash=commit.hash,
        parents=tuple(commit.parents),
        role=commit.role,
        content_type=commit.content_type,
        operation=commit.operation,
        response_to=commit.response_to,
        message=commit.message,
        metadata=commit.metadata,
        generation_config=commit.generation_config,
        content=None if body is None else body.get("content"),
        body=body,
        created_at=stored.created_at,
        usage=None if stored.usage_json is None else Usage.from_json(stored.usage_json),
        token_count=None if tokens is None else tokens + MESSAGE_OVERHEAD,
        annotations=with_annotations,
    )


def walk_log(session: Session, compiler: Compiler, tract_id: str, start: str, limit: int | None) -> list[CommitInfo]:
    """Commits reachable from ``start``, newest first (children always before their parents)."""
    result: list[CommitInfo] = []
    seen = {start}
    first = session.commits.get(tract_id, start)
    if first is None:
        return result
    heap = [(-first.depth, start)]
    pending: dict[str, StoredCommit] = {start: first}
    while heap and (limit is None or len(result) < limit):
        _, hash = heapq.heappop(heap)
        stored = pending.pop(hash)
        blob = None
        tokens = None
        if stored.commit.blob:
            found = session.blobs.get(stored.commit.blob)
            if found is not None:
                blob = found.blob
                tokens = compiler.blob_tokens(blob, found)
        result.append(commit_info(stored, blob, tokens))
        new_parents = [p for p in stored.commit.parents if p not in seen]
        if new_parents:
            for parent_hash, parent in session.commits.get_many(tract_id, new_parents).items():
                seen.add(parent_hash)
                pending[parent_hash] = parent
                heapq.heappush(heap, (-parent.depth, parent_hash))
    return result


def show_commit(session: Session, compiler: Compiler, tract_id: str, hash: str) -> CommitInfo:
    """The full record of one commit, with the annotation history of its message."""
    stored = session.commits.get(tract_id, hash)
    assert stored is not None, "resolve() guarantees the commit exists"
    blob = None
    tokens = None
    if stored.commit.blob:
        found = session.blobs.get(stored.commit.blob)
        if found is not None:
            blob, tokens = found.blob, compiler.blob_tokens(found.blob, found)
    key = stored.commit.response_to or hash
    rows = tuple(annotation_info(r) for r in session.annotations.for_target(tract_id, key))
    return commit_info(stored, blob, tokens, with_annotations=rows)


def read_reflog(session: Session, tract_id: str, ref: str | None, limit: int | None) -> list[ReflogEntry]:
    """Recorded ref moves, newest first."""
    return [ReflogEntry(r.ref, r.old, r.new, r.action, r.created_at) for r in session.reflog.read(tract_id, ref, limit)]


def verify_objects(session: Session, tract_id: str) -> int:
    """Re-hash every commit and blob of a tract and check every link; return how many objects were checked.

    Raises:
        CorruptObjectError: An object no longer matches its hash, or a parent, EDIT target, blob
            or ref points at something missing.
    """
    commits = session.commits.all(tract_id)
    wanted = {c.commit.blob for c in commits.values() if c.commit.blob}
    blobs = session.blobs.get_many(wanted)
    problems = [f"blob {h[:12]} is missing" for h in sorted(wanted - blobs.keys())]
    for hash, stored in sorted(commits.items()):
        for parent in stored.commit.parents:
            if parent not in commits:
                problems.append(f"commit {hash[:12]} has a missing parent {parent[:12]}")
        target = stored.commit.response_to
        if target is not None and target not in commits:
            problems.append(f"EDIT {hash[:12]} replaces a missing commit {target[:12]}")
    for ref in session.refs.list(tract_id):
        if ref.commit is not None and ref.commit not in commits:
            problems.append(f"branch {ref.name!r} points at a missing commit {ref.commit[:12]}")
    head = session.refs.head(tract_id)
    if head.commit is not None and head.commit not in commits:
        problems.append(f"HEAD points at a missing commit {head.commit[:12]}")
    if problems:
        raise CorruptObjectError(f"tract {tract_id!r} is damaged: " + "; ".join(problems[:10]))
    return len(commits) + len(blobs)
