"""Branches and resets: creating, switching, listing and deleting branches; moving them back.

A branch is one row naming a commit, so creating or switching one costs O(1) whatever the size of
the history. Every move goes through compare-and-swap and the reflog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .checkout import BRANCH_DELETED
from .errors import BranchExistsError, BranchNotFoundError, CommitNotFoundError, InvalidInputError
from .graph import ancestors
from .objects import check_text
from .refs import HEAD, Ref, check_branch_name, current_head, move_head_commit, resolve
from .store.base import Head, Session

__all__ = [
    "BranchInfo",
    "ResetResult",
    "RESET_MODES",
    "create_branch",
    "switch_branch",
    "list_branches",
    "rename_branch",
    "ARCHIVE_PREFIX",
    "delete_branch",
    "reset_head",
    "reachable_from_refs",
    "check_keep_as",
    "start_over",
]

RESET_MODES = ("soft", "hard")

ARCHIVE_PREFIX = "archive/"
"""Archived branches are renamed ``archive/<name>``: hidden from ``list_branches()``, kept by gc."""


@dataclass(frozen=True)
class BranchInfo:
    """A branch: its name, the commit it points at, and whether HEAD is on it.

    ``last_commit_at`` is when its tip commit was written (UNIX seconds; None for an empty branch or
    where it was not read).
    """

    name: str
    commit: str | None
    current: bool = False
    last_commit_at: float | None = None

    @property
    def archived(self) -> bool:
        """Whether it is an archived branch (``archive/<name>``)."""
        return self.name.startswith(ARCHIVE_PREFIX)


@dataclass(frozen=True)
class ResetResult:
    """What a reset did.

    Attributes:
        ref: The ref that moved (a branch, or ``HEAD`` when detached).
        old: Where it was.
        new: Where it is now (None: the branch was emptied).
        mode: ``"soft"`` or ``"hard"``.
        dropped: Commits no longer reachable from any branch or HEAD.
        deleted: How many of them were removed from the store (hard mode only).
    """

    ref: str
    old: str | None
    new: str | None
    mode: str
    dropped: tuple[str, ...]
    deleted: int


def create_branch(session: Session, tract_id: str, name: str, from_: Ref, *, switch: bool) -> BranchInfo:
    """Create branch ``name`` at ``from_`` (default: HEAD), optionally switching to it."""
    check_branch_name(name)
    head = session.refs.head(tract_id, lock=True) if from_ is None else current_head(session, tract_id, lock=True)
    if from_ is None:
        if head.commit is None:
            raise CommitNotFoundError("there is nothing to branch from yet: commit a message first")
        start = head.commit
    else:
        start = resolve(session, tract_id, from_, head=head)
    if not session.refs.create(tract_id, name, start):
        raise BranchExistsError(f"branch {name!r} already exists; pick another name or switch to it")
    session.reflog.append(tract_id, name, None, start, f"branch: created from {start[:12]}")
    if switch:
        _attach(session, tract_id, head, name, start)
    return BranchInfo(name, start, current=switch)


def _attach(session: Session, tract_id: str, head: Head, name: str, commit: str | None) -> None:
    session.refs.set_head(tract_id, branch=name, commit=None)
    session.reflog.append(tract_id, HEAD, head.commit, commit, f"checkout: moving to {name}")


def switch_branch(session: Session, tract_id: str, name: str) -> BranchInfo:
    """Attach HEAD to the existing branch ``name``."""
    branch = session.refs.get(tract_id, name) if isinstance(name, str) else None
    if branch is None:
        raise BranchNotFoundError(
            f"no branch {name!r} in tract {tract_id!r}; create it with branch({name!r}) "
            "or use checkout() to look at a commit"
        )
    head = current_head(session, tract_id, lock=True)
    _attach(session, tract_id, head, branch.name, branch.commit)
    return BranchInfo(branch.name, branch.commit, current=True)


def list_branches(session: Session, tract_id: str, *, include_archived: bool = False) -> list[BranchInfo]:
    """Every branch (archived ones only with ``include_archived``), sorted by name, with the current
    one marked and the time of each tip commit."""
    current = current_head(session, tract_id).branch
    refs = [r for r in session.refs.list(tract_id) if include_archived or not r.name.startswith(ARCHIVE_PREFIX)]
    tips = session.commits.get_many(tract_id, {r.commit for r in refs if r.commit})
    return [
        BranchInfo(
            r.name,
            r.commit,
            current=r.name == current,
            last_commit_at=tips[r.commit].created_at if r.commit in tips else None,
        )
        for r in refs
    ]


def rename_branch(session: Session, tract_id: str, old: str, new: str, action: str) -> BranchInfo:
    """Give branch ``old`` the name ``new`` (same commit); refused for the checked-out branch.

    Raises:
        BranchNotFoundError: No branch ``old``.
        BranchExistsError: ``new`` is taken.
        InvalidInputError: ``old`` is the current branch.
    """
    check_branch_name(new)
    if not isinstance(old, str):
        raise InvalidInputError(f"a branch name is a string, not {type(old).__name__}")
    session.refs.tip(tract_id, old, lock=True)  # PostgreSQL: no commit lands on it meanwhile
    branch = session.refs.get(tract_id, old)
    if branch is None:
        raise BranchNotFoundError(f"no branch {old!r} in tract {tract_id!r}")
    if current_head(session, tract_id).branch == old:
        raise InvalidInputError(f"cannot {action} {old!r}: it is the current branch; switch to another branch first")
    if not session.refs.create(tract_id, new, branch.commit):
        raise BranchExistsError(f"branch {new!r} already exists; delete or rename it first")
    session.refs.delete(tract_id, old)
    session.reflog.append(tract_id, old, branch.commit, None, f"branch: {action}d as {new}")
    session.reflog.append(tract_id, new, None, branch.commit, f"branch: {action}d from {old}")
    created = session.commits.get(tract_id, branch.commit) if branch.commit else None
    return BranchInfo(new, branch.commit, last_commit_at=None if created is None else created.created_at)


def reachable_from_refs(session: Session, tract_id: str, *, skip: str | None = None) -> set[str]:
    """Every commit reachable from a branch (except ``skip``) or from HEAD."""
    graph = session.commits.graph(tract_id)

    def parents_of(h: str) -> tuple[str, ...]:
        return graph[h][0] if h in graph else ()

    tips = [r.commit for r in session.refs.list(tract_id) if r.name != skip and r.commit]
    head = session.refs.head(tract_id)
    if head.commit and head.branch != skip:
        tips.append(head.commit)
    found: set[str] = set()
    for tip in tips:
        if tip not in found:
            found |= ancestors(tip, parents_of)
    return found


def delete_branch(session: Session, tract_id: str, name: str, *, force: bool) -> BranchInfo:
    """Delete branch ``name``; refuse (unless ``force``) when that would orphan commits.

    The branch is locked first (PostgreSQL), so a commit another writer appends to it meanwhile is
    either seen by the check or waits and then finds the branch deleted (``BranchDeletedError``).
    """
    tip = session.refs.tip(tract_id, name, lock=True) if isinstance(name, str) else None
    branch = session.refs.get(tract_id, name) if tip is not None else None
    if branch is None:
        raise BranchNotFoundError(f"no branch {name!r} in tract {tract_id!r}")
    head = current_head(session, tract_id)
    if head.branch == name:
        raise InvalidInputError(f"cannot delete {name!r}: it is the current branch; switch to another branch first")
    if branch.commit is not None and not force:
        graph = session.commits.graph(tract_id)
        own = ancestors(branch.commit, lambda h: graph[h][0] if h in graph else ())
        only_here = own - reachable_from_refs(session, tract_id, skip=name)
        if only_here:
            raise InvalidInputError(
                f"branch {name!r} has {len(only_here)} commit(s) no other branch reaches; merge it first, "
                "or delete_branch(name, force=True) (they stay in the store; reflog() finds them)"
            )
    session.refs.delete(tract_id, name)
    session.reflog.append(tract_id, name, branch.commit, None, BRANCH_DELETED)
    return BranchInfo(name, branch.commit)


def reset_head(session: Session, tract_id: str, target: Ref, mode: str) -> ResetResult:
    """Move the current branch (or a detached HEAD) to ``target``.

    ``soft`` keeps the commits left behind in the store (findable through the reflog);
    ``hard`` deletes those no branch or HEAD still reaches, with their annotations and any blobs
    nothing else uses.
    """
    if mode not in RESET_MODES:
        raise InvalidInputError(f"reset mode must be 'soft' or 'hard', not {mode!r}")
    if mode == "hard":  # it deletes what it finds unreachable: no writer may move the history meanwhile
        session.locks.exclusive(tract_id)
    head = session.refs.head(tract_id, lock=True)
    before = reachable_from_refs(session, tract_id)
    if target is None:  # empty the branch: HEAD stays on it, as on a new tract (unborn)
        if head.branch is None:
            raise InvalidInputError(
                "reset(None) empties the current branch; HEAD is detached: switch to a branch first"
            )
        new = None
        if head.commit is not None:
            move_head_commit(session, tract_id, head, None, f"reset: emptying {head.branch} ({mode})")
    else:
        new = resolve(session, tract_id, target, head=head)
        move_head_commit(session, tract_id, head, new, f"reset: moving to {new[:12]} ({mode})")
    after = reachable_from_refs(session, tract_id)
    dropped = tuple(sorted(before - after))
    deleted = 0
    if mode == "hard" and dropped:
        # Archived originals stay readable until gc's archive window passes, as after any compression.
        candidates = set(dropped) - set(session.compressions.archived(tract_id))
        doomed = candidates - _still_needed(session, tract_id, candidates, after)
        blobs = [c.commit.blob for c in session.commits.get_many(tract_id, doomed).values() if c.commit.blob]
        deleted = session.commits.delete_many(tract_id, doomed)
        session.blobs.delete_unreferenced(blobs)
    return ResetResult(head.branch or HEAD, head.commit, new, mode, dropped, deleted)


def _still_needed(session: Session, tract_id: str, dropped: set[str], reachable: set[str]) -> set[str]:
    """Dropped commits still needed: by surviving commits (as ancestors or EDIT targets), or by a
    pending compression waiting for review.

    Older orphans (kept for the reflog) and EDITs copied without their target by a cherry-pick can
    point into what a hard reset drops; those commits (and their ancestors) are kept.
    """
    history = session.commits.history(tract_id)

    def parents_of(h: str) -> tuple[str, ...]:
        return history[h].parents if h in history else ()

    needed: set[str] = set()
    frontier = [h for h in history if h not in dropped]
    for record in session.compressions.list(tract_id, "pending"):  # a draft's commits wait for its review
        drafted = [h for h in (record.old_head, record.range_from, record.range_to) if h in history]
        needed.update(h for h in drafted if h in dropped)
        frontier += drafted
    seen: set[str] = set()
    while frontier:
        commit = frontier.pop()
        if commit in seen:
            continue
        seen.add(commit)
        entry = history.get(commit)
        if entry is None:
            continue
        for linked in (*entry.parents, entry.response_to):
            if linked is not None and linked not in seen:
                if linked in dropped:
                    needed.add(linked)
                frontier.append(linked)
    return needed


def check_keep_as(keep_as: Any) -> str | None:
    """Validate the prefix :func:`start_over` keeps the old line under (None: keep no branch)."""
    if keep_as is not None:
        check_branch_name(f"{check_text(keep_as, 'keep_as', control=True)}/1", "keep_as prefix")
    return keep_as


def start_over(session: Session, tract_id: str, keep_as: str | None) -> str | None:
    """Empty the current branch, first keeping its line as the branch ``<keep_as>/<next number>``.

    Returns:
        The name of the branch that keeps the old line, or None (the branch was already empty, or
        ``keep_as`` is None).

    Raises:
        InvalidInputError: HEAD is detached.
    """
    head = session.refs.head(tract_id, lock=True)
    if head.branch is None:
        raise InvalidInputError(
            f"cannot start tract {tract_id!r} over: HEAD is detached at {str(head.commit)[:12]}; "
            "switch back to a branch first (switch('main'))"
        )
    if head.commit is None:
        return None
    kept = None
    if keep_as is not None:
        prefix = f"{keep_as}/"
        taken = [b.name[len(prefix) :] for b in list_branches(session, tract_id) if b.name.startswith(prefix)]
        number = max((int(n) for n in taken if n.isdigit() and not n.startswith("0")), default=0) + 1
        kept = f"{prefix}{number}"
        create_branch(session, tract_id, kept, head.commit, switch=False)
    reset_head(session, tract_id, None, "soft")
    return kept
