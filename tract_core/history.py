"""Reading history: commit records, the log walk, a commit's details, the reflog."""

from __future__ import annotations

import heapq
from collections.abc import Set

from .annotations import annotation_info, lifecycle_info
from .compile import Compiler
from .errors import RESTORE, CorruptObjectError, NotFoundError, damage_summary, damaged
from .graph import ancestors
from .objects import Blob
from .records import CommitInfo, ReflogEntry, VerifyReport
from .refs import Ref, resolve
from .store.base import RefEntry, Session, StoredBlob, StoredCommit
from .store.integrity import REPAIR_FILE
from .tokens import MESSAGE_OVERHEAD, TokenCounter, count_body
from .tree.lifecycle import lifecycle_of_json
from .tree.placement import placement_of_json
from .usage import Usage

__all__ = ["commit_info", "message_blob", "walk_log", "show_commit", "read_reflog", "verify_objects", "in_history"]


def commit_info(
    stored: StoredCommit,
    blob: Blob | None,
    tokens: int | None,
    *,
    with_annotations: tuple = (),
    lifecycle_changes: tuple = (),
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
        lifecycle=lifecycle_of_json(commit.lifecycle_json, commit=commit.hash),
        key=commit.key,
        lifecycle_changes=lifecycle_changes,
        placement=placement_of_json(commit.placement_json, commit=commit.hash),
    )


def _commit_what(tract_id: str, hash: str) -> str:
    return f"commit {hash[:12]} of tract {tract_id!r}"


def message_blob(session: Session, tract_id: str, stored: StoredCommit) -> StoredBlob | None:
    """The verified blob of a commit's message (None for a commit without one).

    Raises:
        CorruptObjectError: The blob is missing or damaged (naming the commit).
    """
    blob_hash = stored.commit.blob
    if not blob_hash:
        return None
    try:
        found = session.blobs.get(blob_hash)
    except CorruptObjectError as error:
        raise damaged(_commit_what(tract_id, stored.commit.hash), f"its message ({error.problems[0]})") from None
    if found is None:
        raise damaged(_commit_what(tract_id, stored.commit.hash), f"its message (blob {blob_hash[:12]}) is missing")
    return found


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
        found = message_blob(session, tract_id, stored)
        if found is not None:
            blob = found.blob
            tokens = compiler.blob_tokens(blob, found)
        result.append(commit_info(stored, blob, tokens))
        new_parents = [p for p in stored.commit.parents if p not in seen]
        if new_parents:
            parents = session.commits.get_many(tract_id, new_parents)
            for parent_hash in new_parents:
                parent = parents.get(parent_hash)
                if parent is None:
                    raise damaged(_commit_what(tract_id, hash), f"its parent {parent_hash[:12]} is missing")
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
    found = message_blob(session, tract_id, stored)
    if found is not None:
        blob, tokens = found.blob, compiler.blob_tokens(found.blob, found)
    key = stored.commit.response_to or hash
    rows = session.annotations.for_target(tract_id, key)
    notes = tuple(annotation_info(r) for r in rows if r.lifecycle is None)
    changes = tuple(lifecycle_info(r) for r in rows if r.lifecycle is not None)
    return commit_info(stored, blob, tokens, with_annotations=notes, lifecycle_changes=changes)


def read_reflog(session: Session, tract_id: str, ref: str | None, limit: int | None) -> list[ReflogEntry]:
    """Recorded ref moves, newest first."""
    return [ReflogEntry(r.ref, r.old, r.new, r.action, r.created_at) for r in session.reflog.read(tract_id, ref, limit)]


_ADVICE = f"{RESTORE}; a branch or HEAD that lost its commit can be pointed back at one that reflog() lists"


def verify_objects(session: Session, tract_id: str, counter: TokenCounter) -> VerifyReport:
    """Check everything stored for a tract (like ``git fsck``); return what was checked.

    Checks the database pages (SQLite's integrity check); re-hashes every commit and blob; decodes
    every row (commits, blobs, annotations, compression records, the tract's settings); checks every
    link (parents, EDIT targets, blobs, branches, HEAD); re-computes the annotation chain; and
    recounts the cached token counts made by ``counter``'s tokenizer.

    HEAD may name a branch that has no row only while that branch is unborn: on a new tract, or
    after the branch was emptied (``start_over``, ``reset(None)``) or deleted through tract, which
    the reflog records. A branch whose last recorded move put it at a commit but whose row is gone
    was removed outside tract, and is reported (the reflog says where it was).

    Raises:
        CorruptObjectError: Listing every problem found (``problems``), the damaged pages alone if
            the file itself is damaged.
    """
    pages = session.check_pages()
    if pages:
        raise damage_summary(f"the database of tract {tract_id!r}", pages, REPAIR_FILE)
    problems: list[str] = []
    try:
        session.tracts.get(tract_id)
    except CorruptObjectError as error:
        problems.extend(error.problems)
    broken: dict[str, str] = {}
    commits = session.commits.all(tract_id, broken)
    problems.extend(broken[hash] for hash in sorted(broken))
    present = commits.keys() | broken.keys()  # a damaged commit is reported once, not as missing too
    carriers: dict[str, list[str]] = {}
    for hash, stored in sorted(commits.items()):
        if stored.commit.blob:
            carriers.setdefault(stored.commit.blob, []).append(hash)
    damaged_blobs: dict[str, str] = {}
    blobs = session.blobs.get_many(carriers, damaged_blobs)
    for blob_hash in sorted(carriers.keys() - blobs.keys()):
        problem = damaged_blobs.get(blob_hash, f"blob {blob_hash[:12]} is missing")
        for hash in carriers[blob_hash]:
            problems.append(f"{_commit_what(tract_id, hash)}: its message ({problem})")
    for hash, stored in sorted(commits.items()):
        for parent in stored.commit.parents:
            if parent not in present:
                problems.append(f"{_commit_what(tract_id, hash)}: its parent {parent[:12]} is missing")
        target = stored.commit.response_to
        if target is not None and target not in present:
            problems.append(f"{_commit_what(tract_id, hash)}: the commit it EDITs ({target[:12]}) is missing")
    recounted = 0
    for blob_hash, found in sorted(blobs.items()):
        if found.tokenizer != counter.name or found.token_count is None:
            continue
        recounted += 1
        actual = count_body(counter, found.blob.body)
        if actual != found.token_count:
            problems.append(
                f"{_commit_what(tract_id, carriers[blob_hash][0])}: the cached token count of its message "
                f"(blob {blob_hash[:12]}) is {found.token_count}, but {counter.name} counts {actual} tokens"
            )
    refs = session.refs.list(tract_id)
    for ref in refs:
        if ref.commit is not None and ref.commit not in present:
            problems.append(
                f"branch {ref.name!r} of tract {tract_id!r}: it points at a missing commit {ref.commit[:12]}"
            )
    problems.extend(_head_problems(session, tract_id, present, refs))
    annotations, chain = session.annotations.check(tract_id)
    problems.extend(chain)
    compressions = session.compressions.list(tract_id, problems=problems)
    if problems:
        raise damage_summary(f"tract {tract_id!r}", problems, _ADVICE)
    return VerifyReport(
        commits=len(commits),
        blobs=len(blobs),
        annotations=annotations,
        refs=len(refs),
        compressions=len(compressions),
        token_counts=recounted,
        pages=None if pages is None else True,
    )


def _head_problems(session: Session, tract_id: str, commits: Set[str], refs: list[RefEntry]) -> list[str]:
    """What is wrong with the stored HEAD (see :func:`verify_objects` for an unborn branch)."""
    what = f"HEAD of tract {tract_id!r}"
    stored = session.refs.head_row(tract_id)
    if stored is None:
        return [f"{what}: it is missing (switch() to a branch writes it again)"]
    branch, detached = stored
    if branch is not None and detached is not None:
        return [f"{what}: it names both branch {branch!r} and commit {detached[:12]}"]
    if branch is None and detached is None:
        return [f"{what}: it names neither a branch nor a commit (switch() to a branch writes it again)"]
    if branch is None:
        assert detached is not None
        return [] if detached in commits else [f"{what}: it points at a missing commit {detached[:12]}"]
    if any(ref.name == branch for ref in refs):
        return []
    last = session.reflog.read(tract_id, branch, 1)
    if not last or last[0].new is None:
        return []  # unborn: never had a commit, or emptied or deleted through tract
    return [
        f"{what}: it is on branch {branch!r}, which does not exist, though its last recorded move put it at "
        f"{last[0].new[:12]}: the branch was removed outside tract (branch({branch!r}, {last[0].new[:12]!r}) "
        "recreates it)"
    ]


def in_history(
    session: Session, tract_id: str, ref: Ref, known: tuple[str, frozenset[str]] | None = None
) -> tuple[bool, tuple[str, frozenset[str]] | None]:
    """Whether ``ref`` names a commit in the history of HEAD (False if it names no commit).

    Also returns HEAD's ancestry (``(head, commits)``) for the caller to pass back as ``known``:
    a commit's ancestors never change, so it stays valid while HEAD is the same commit.
    """
    head = session.refs.head(tract_id)
    if head.commit is None:
        return False, known
    try:
        target = resolve(session, tract_id, ref, head=head)
    except NotFoundError:
        return False, known
    if target == head.commit:
        return True, known
    if known is None or known[0] != head.commit:
        graph = session.commits.graph(tract_id)
        known = (head.commit, frozenset(ancestors(head.commit, lambda h: graph[h][0] if h in graph else ())))
    return target in known[1], known
