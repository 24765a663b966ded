"""What one :class:`~tract_core.Tract` handle has checked out: its own HEAD, like a git worktree.

Several handles (in one process or many) can work on one tract at once. Each appends to the branch
*it* has checked out (or moves its own detached HEAD), whatever the others switch to. The HEAD row
stored with the tract only says where a newly opened handle starts; every switch or checkout
updates it, so reopening a tract continues where it was left.

The operations (``commits``, ``branches``, ``merge``, ...) read and move HEAD through
``session.refs``; a handle gives them a *view* of the unit of work whose ``refs`` answer with the
handle's HEAD (:class:`HandleRefs`), so they need not know about handles.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .errors import BranchDeletedError
from .refs import DEFAULT_BRANCH, HEAD
from .store.base import Head, Session

__all__ = ["Checkout", "HeadPointer", "HandleRefs", "handle_view", "BRANCH_DELETED"]

BRANCH_DELETED = "branch: deleted"
"""The reflog action of a deleted branch (how a handle tells a deleted branch from an unborn one)."""


@dataclass(frozen=True, slots=True)
class Checkout:
    """A handle's HEAD: attached to ``branch``, or (``branch`` None) detached at ``commit``."""

    branch: str | None
    commit: str | None = None


class HeadPointer:
    """A handle's mutable HEAD, restored when the transaction that moved it rolls back.

    ``current`` is None until first read (it then starts at the stored HEAD).
    """

    __slots__ = ("current", "_batch", "_saved")

    def __init__(self, current: Checkout | None = None) -> None:
        self.current = current
        self._batch: Any = None
        self._saved: Checkout | None = None

    def mark(self, batch: Any) -> None:
        """Remember where HEAD is as ``batch`` (a unit of work) starts using this handle."""
        if self._batch is not batch:
            self._batch, self._saved = batch, self.current

    def restore(self) -> None:
        """Put HEAD back where it was when the rolled-back batch started using this handle."""
        if self._batch is not None:
            self.current, self._batch = self._saved, None


class HandleRefs:
    """``session.refs`` as one handle sees it: HEAD is the handle's own; everything else delegates.

    Args:
        session: The unit of work.
        tract_id: The handle's tract (other tracts' HEADs are read from the store as usual).
        pointer: The handle's HEAD.
    """

    __slots__ = ("_refs", "_session", "_tract_id", "_pointer")

    def __init__(self, session: Session, tract_id: str, pointer: HeadPointer) -> None:
        self._refs = session.refs
        self._session = session
        self._tract_id = tract_id
        self._pointer = pointer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._refs, name)

    def checkout(self) -> Checkout:
        """The handle's HEAD (read from the stored HEAD the first time)."""
        current = self._pointer.current
        if current is None:
            stored = self._refs.head(self._tract_id)
            if stored.branch is None and stored.commit is None:  # no HEAD row: a tract's default
                current = Checkout(DEFAULT_BRANCH)
            else:
                current = Checkout(stored.branch, stored.commit if stored.branch is None else None)
            self._pointer.current = current
        return current

    def stored_head(self, tract_id: str) -> Head:
        """The HEAD stored with the tract (where a newly opened handle starts)."""
        return self._refs.head(tract_id)

    def head(self, tract_id: str, *, lock: bool = False) -> Head:
        """The handle's HEAD and its branch's tip; ``lock`` also locks the branch for this writer.

        Raises:
            BranchDeletedError: The checked-out branch was deleted (by another handle or process).
        """
        if tract_id != self._tract_id:
            return self._refs.head(tract_id, lock=lock)
        current = self.checkout()
        if current.branch is None:
            return Head(None, current.commit)
        tip = self._refs.tip(tract_id, current.branch, lock=lock)
        if tip is None:
            self._check_not_deleted(current.branch)
        return Head(current.branch, tip)

    def head_with_marker(self, tract_id: str) -> tuple[Head, int]:
        """The handle's HEAD and the tract's newest annotation id, in one round trip."""
        if tract_id != self._tract_id:
            return self._refs.head_with_marker(tract_id)
        current = self.checkout()
        tip, marker = self._refs.tip_with_marker(tract_id, current.branch or HEAD)
        if current.branch is None:
            return Head(None, current.commit), marker
        if tip is None:
            self._check_not_deleted(current.branch)
        return Head(current.branch, tip), marker

    def set_head(self, tract_id: str, *, branch: str | None, commit: str | None) -> None:
        """Move the handle's HEAD, and the stored HEAD (where the next handle opened starts)."""
        self._refs.set_head(tract_id, branch=branch, commit=commit)
        if tract_id == self._tract_id:
            self._pointer.current = Checkout(branch, None if branch is not None else commit)

    def compare_and_swap(self, tract_id: str, name: str, old: str | None, new: str | None) -> bool:
        """Move a branch by compare-and-swap; ``HEAD`` of this tract means the handle's detached HEAD."""
        if tract_id != self._tract_id or name != HEAD:
            return self._refs.compare_and_swap(tract_id, name, old, new)
        current = self.checkout()
        if current.branch is not None or current.commit != old:
            return False
        self.set_head(tract_id, branch=None, commit=new)
        return True

    def _check_not_deleted(self, branch: str) -> None:
        last = self._session.reflog.read(self._tract_id, ref=branch, limit=1)
        if last and last[0].new is None and last[0].action == BRANCH_DELETED:
            raise BranchDeletedError(
                f"branch {branch!r} of tract {self._tract_id!r} was deleted (by another handle or process) while "
                f"this handle had it checked out; nothing was written. switch() to another branch, or "
                f"branch({branch!r}, from_=...) to re-create it",
                branch,
            )


def handle_view(session: Session, tract_id: str, pointer: HeadPointer) -> Session:
    """``session`` with its ``refs`` answering as the handle whose HEAD is ``pointer``."""
    view = copy.copy(session)
    view.refs = HandleRefs(session, tract_id, pointer)  # type: ignore[assignment]
    return view
