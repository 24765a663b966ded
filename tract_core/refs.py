"""Naming commits and moving refs.

A commit can be named by a full hash, a unique prefix (at least 4 hex characters), a
:class:`~tract_core.CommitInfo`, a branch name, ``HEAD``, or any of those followed by ``~N`` (N
first parents back) or ``^`` (one back); or by a temporal address, ``@t0`` (HEAD) or ``@t-k`` (the
context the model was sent k cycles ago, see :mod:`tract_core.tree.temporal`). A ref is parsed in
one pass over at most :data:`MAX_REF_LENGTH` characters, before any database work, so a malformed
one is refused at once and never while a lock is held. Refs move by compare-and-swap, and every
move is written to the reflog in the same transaction.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import (
    AmbiguousRefError,
    BranchDeletedError,
    BranchNotFoundError,
    CommitNotFoundError,
    ConcurrentUpdateError,
    InvalidInputError,
    damaged,
    shown,
)
from .objects import check_text
from .store.base import HEAD, Head, Session
from .tree.temporal import is_temporal, parse_temporal, resolve_temporal

__all__ = [
    "HEAD",
    "DEFAULT_BRANCH",
    "MAX_REF_LENGTH",
    "MAX_STEP_DIGITS",
    "resolve",
    "parse_ref",
    "check_ref",
    "check_branch_name",
    "move_head_commit",
    "move_ref",
    "swap_ref",
    "current_head",
    "Ref",
]

DEFAULT_BRANCH = "main"
MIN_PREFIX = 4
MAX_REF_LENGTH = 256
"""The longest ref accepted (a branch name is at most 200 characters, a hash 64)."""
MAX_STEP_DIGITS = 9
"""The most digits of one ``~N`` step count."""
_HEX = re.compile(r"^[0-9a-f]+$")
_BRANCH_RE = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/\-]{1,200}(?<![./])$")
_DIGITS = frozenset("0123456789")

Ref = Any
"""Anything that names a commit: a hash, a prefix, a CommitInfo, a branch name, ``HEAD``, ``HEAD~N``."""


def check_branch_name(name: Any, what: str = "branch name") -> str:
    """Validate a branch name (letters, digits, ``._/-``; not ``HEAD``; no ``..``)."""
    if isinstance(name, str):
        check_text(name, what, control=True)
    if not isinstance(name, str) or name == HEAD or not _BRANCH_RE.match(name) or _HEX.match(name) and len(name) >= 40:
        raise InvalidInputError(
            f"{shown(name)} is not a valid {what}; use letters, digits, '.', '_', '/' and '-' "
            "(not 'HEAD', not a hash, no '..')"
        )
    return name


def parse_ref(ref: Ref) -> tuple[str, int]:
    """Split a ref into the name it starts from and how many first parents to go back.

    ``"main~2^"`` gives ``("main", 3)``. One pass from the end, linear in the length, touching
    no database: call it before taking any lock.

    Raises:
        InvalidInputError: ``ref`` is not a string or commit record, is empty or longer than
            :data:`MAX_REF_LENGTH`, holds a control character or a lone surrogate, has a step
            count of more than :data:`MAX_STEP_DIGITS` digits, or is only steps.
    """
    hash_attr = getattr(ref, "hash", None)
    if isinstance(hash_attr, str):
        ref = hash_attr
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInputError(
            f"cannot name a commit with {shown(ref)}; pass a hash, a prefix, a CommitInfo, a branch name or 'HEAD~N'"
        )
    text = ref.strip()
    if len(text) > MAX_REF_LENGTH:
        raise InvalidInputError(
            f"a ref is at most {MAX_REF_LENGTH} characters, this one has {len(text)} ({text[:20]!r}...); "
            "name a commit by its hash, a branch or HEAD~N"
        )
    check_text(text, "ref", control=True)
    end, steps = len(text), 0
    while end > 0:
        if text[end - 1] == "^":
            steps, end = steps + 1, end - 1
            continue
        start = end
        while start > 0 and text[start - 1] in _DIGITS:
            start -= 1
        if start == 0 or text[start - 1] != "~":
            break
        digits = text[start:end]
        if len(digits) > MAX_STEP_DIGITS:
            raise InvalidInputError(
                f"~N in ref {text[:20]!r}... takes at most {MAX_STEP_DIGITS} digits, not {len(digits)}"
            )
        steps, end = steps + (int(digits) if digits else 1), start - 1
    if end == 0:
        raise InvalidInputError(f"ref {text!r} names no commit: put a hash, a branch or HEAD before ~N or ^")
    return text[:end], steps


def check_ref(ref: Ref) -> Ref:
    """Refuse a malformed ref (see :func:`parse_ref`) before any database work; return it unchanged.

    ``None`` (meaning "the default", e.g. HEAD) passes. A temporal address is checked by
    :func:`~tract_core.tree.temporal.parse_temporal` (a range passes here; :func:`resolve` refuses it).
    """
    if is_temporal(ref):
        parse_temporal(ref)
    elif ref is not None:
        parse_ref(ref)
    return ref


def _base(session: Session, tract_id: str, name: str, head: Head) -> str:
    if name == HEAD:
        if head.commit is None:
            raise CommitNotFoundError(f"HEAD of tract {tract_id!r} has no commits yet; commit a message first")
        return head.commit
    branch = session.refs.get(tract_id, name)
    if branch is not None:
        if branch.commit is None:
            raise CommitNotFoundError(f"branch {name!r} has no commits yet")
        return branch.commit
    lowered = name.lower()
    if _HEX.match(lowered):
        if len(lowered) < MIN_PREFIX:
            raise InvalidInputError(f"hash prefix {name!r} is too short; give at least {MIN_PREFIX} characters")
        matches = session.commits.with_prefix(tract_id, lowered, 11)
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise AmbiguousRefError(lowered, matches)
        shown = name if len(name) < 20 else name[:12] + "…"
        hint = "list commits with t.log() or `tract log`"
        raise CommitNotFoundError(f"no commit {shown!r} in tract {tract_id!r}; {hint}")
    branches = ", ".join(ref.name for ref in session.refs.list(tract_id)) or "none"
    raise BranchNotFoundError(
        f"{name!r} is neither a branch nor a commit hash of tract {tract_id!r} (branches: {branches})"
    )


def resolve(session: Session, tract_id: str, ref: Ref, *, head: Head | None = None) -> str:
    """The full hash of the commit ``ref`` names.

    Raises:
        CommitNotFoundError: No such commit, or ``~N`` walks past the root.
        AmbiguousRefError: A prefix matches several commits.
        BranchNotFoundError: A name that is neither a branch nor hex.
        InvalidInputError: ``ref`` is malformed (see :func:`parse_ref`).
        TemporalAddressError: A malformed temporal address, a range, or one that goes back past
            the first cycle of HEAD's history (the message says how many cycles exist).
    """
    if is_temporal(ref):
        return resolve_temporal(session, tract_id, ref, head)
    base_name, steps = parse_ref(ref)
    if head is None and (base_name == HEAD):
        head = session.refs.head(tract_id)
    commit = _base(session, tract_id, base_name, head or Head(None, None))
    named = str(getattr(ref, "hash", ref)).strip() if steps else ""  # a string: parse_ref checked it
    for step in range(steps):
        stored = session.commits.get(tract_id, commit)
        if stored is None:
            raise damaged(
                f"commit {commit[:12]} of tract {tract_id!r}", f"it is missing, though {named!r} goes through it"
            )
        if not stored.commit.parents:
            raise CommitNotFoundError(f"{named!r} goes back past the first commit (only {step} steps exist)")
        commit = stored.commit.parents[0]
    return commit


def current_head(session: Session, tract_id: str, *, lock: bool = False) -> Head:
    """HEAD, where a checked-out branch that was deleted meanwhile reads as empty instead of raising
    (so a handle can always list branches and switch away from it)."""
    try:
        return session.refs.head(tract_id, lock=lock)
    except BranchDeletedError as exc:
        return Head(exc.branch, None)


def swap_ref(session: Session, tract_id: str, ref: str, old: str | None, new: str | None) -> bool:
    """Move ``ref`` (a branch, or ``HEAD`` when detached) from ``old`` to ``new`` by compare-and-swap.

    ``old=None`` means the branch has no commit yet: it is created at ``new`` unless it exists.
    Nothing is logged; returns whether it moved (False: another writer moved it first).
    """
    if ref != HEAD and old is None:
        return session.refs.create(tract_id, ref, new) or session.refs.compare_and_swap(tract_id, ref, None, new)
    return session.refs.compare_and_swap(tract_id, ref, old, new)


def move_ref(session: Session, tract_id: str, ref: str, old: str | None, new: str | None, action: str) -> None:
    """:func:`swap_ref`, then log the move in the reflog.

    Raises:
        ConcurrentUpdateError: ``ref`` is no longer at ``old`` (nothing was moved).
    """
    if not swap_ref(session, tract_id, ref, old, new):
        raise ConcurrentUpdateError(
            f"{ref!r} of tract {tract_id!r} moved while this update was being made; nothing was "
            "written. Read the new state and retry"
        )
    session.reflog.append(tract_id, ref, old, new, action)


def move_head_commit(session: Session, tract_id: str, head: Head, new: str | None, action: str) -> None:
    """Point the checked-out branch (or a detached HEAD) at ``new``, by compare-and-swap, and log it.

    ``new=None`` on a branch empties it (HEAD stays on the unborn branch).
    """
    move_ref(session, tract_id, head.branch or HEAD, head.commit, new, action)
    if new is None and head.branch is not None:
        session.refs.delete(tract_id, head.branch)  # an emptied branch is unborn, as on a new tract
