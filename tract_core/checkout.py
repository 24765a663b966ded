"""What one :class:`~tract_core.Tract` handle has checked out: its own HEAD, like a git worktree.

Several handles (in one process or many) can work on one tract at once. Each appends to the branch
*it* has checked out (or moves its own detached HEAD), whatever the others switch to. The HEAD row
stored with the tract only says where a newly opened handle starts; every switch or checkout
updates it, so reopening a tract continues where it was left.

The operations (``commits``, ``branches``, ``merge``, ...) read and move HEAD through
``session.refs``; a handle gives them a *view* of the unit of work whose ``refs`` answer with the
handle's HEAD (:class:`HandleRefs`), so they need not know about handles. :class:`HandleWork`
opens those views: the reading and writing units of work of one handle, joined to the store's open
batch if there is one, with the handle's HEAD put back when what moved it rolls back.
"""

from __future__ import annotations

import contextvars
import copy
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from .compile import Compiler
from .errors import BranchDeletedError, InvalidInputError
from .history import show_commit
from .records import CommitInfo
from .refs import DEFAULT_BRANCH, HEAD, Ref, current_head, resolve
from .store.base import Head, RefRepository, Session

__all__ = [
    "Checkout",
    "HeadPointer",
    "HandleRefs",
    "HandleWork",
    "handle_view",
    "checked_out",
    "checkout_ref",
    "stored_checkout",
    "BRANCH_DELETED",
]

BRANCH_DELETED = "branch: deleted"
"""The reflog action of a deleted branch (how a handle tells a deleted branch from an unborn one)."""


@dataclass(frozen=True, slots=True)
class Checkout:
    """A handle's HEAD: attached to ``branch``, or (``branch`` None) detached at ``commit``."""

    branch: str | None
    commit: str | None = None


def stored_checkout(refs: RefRepository, tract_id: str) -> Checkout:
    """Where a newly opened handle starts: the HEAD stored with the tract (``main`` if it has none)."""
    stored = refs.head(tract_id)
    if stored.branch is None and stored.commit is None:  # no HEAD row: a tract's default
        return Checkout(DEFAULT_BRANCH)
    return Checkout(stored.branch, stored.commit if stored.branch is None else None)


class HeadPointer:
    """A handle's mutable HEAD, restored when the transaction that moved it rolls back.

    ``current`` is set when the handle is opened (:func:`stored_checkout`); None means "not read
    yet", and the first read then starts it at the stored HEAD.
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
            current = self._pointer.current = stored_checkout(self._refs, self._tract_id)
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
    view.__dict__["refs"] = HandleRefs(session, tract_id, pointer)  # the copy's own refs; the rest is shared
    return view


def checked_out(session: Session, tract_id: str) -> Checkout:
    """What the handle of ``session`` (a :func:`handle_view`) has checked out; the stored HEAD otherwise."""
    refs = session.refs
    if isinstance(refs, HandleRefs):
        return refs.checkout()
    stored = refs.head(tract_id)
    return Checkout(stored.branch, stored.commit if stored.branch is None else None)


def checkout_ref(session: Session, compiler: Compiler, tract_id: str, ref: Ref) -> CommitInfo:
    """Move HEAD to a branch (attached) or to any commit (detached); return the commit it is at.

    Raises:
        InvalidInputError: The branch has no commits yet (HEAD is attached to it all the same).
    """
    head = current_head(session, tract_id, lock=True)
    branch = session.refs.get(tract_id, ref) if isinstance(ref, str) else None
    if branch is not None:
        target = branch.commit
        session.refs.set_head(tract_id, branch=branch.name, commit=None)
        action = f"checkout: moving to {branch.name}"
    else:
        target = resolve(session, tract_id, ref, head=head)
        session.refs.set_head(tract_id, branch=None, commit=target)
        action = f"checkout: moving to {target[:12]} (detached)"
    session.reflog.append(tract_id, HEAD, head.commit, target, action)
    if target is None:
        raise InvalidInputError(f"branch {ref!r} has no commits yet")
    return show_commit(session, compiler, tract_id, target)


class _BatchingStore(Protocol):
    """What a handle needs of its store (:class:`~tract_core.store.SqlStore`): units of work and batches."""

    def read(self) -> AbstractContextManager[Session]: ...
    def write(self) -> AbstractContextManager[Session]: ...
    def batch(self, on_rollback: Callable[[], None] | None = None) -> AbstractContextManager[Session]: ...
    def join_batch(self, on_rollback: Callable[[], None] | None = None) -> Session | None: ...


class _Snapshot:
    """A handle's shared read: its session (opened at the first read) and a memo of what was read."""

    __slots__ = ("session", "memo", "stack")

    def __init__(self) -> None:
        self.session: Session | None = None
        self.memo: dict[str, Any] = {}
        self.stack = ExitStack()


class HandleWork:
    """The units of work of one handle: sessions of ``store`` whose ``refs`` answer with its HEAD.

    Inside a batch of the store (:meth:`batch`, or another handle's) they join the batch's
    transaction; a HEAD move that rolls back is undone, and ``forget`` (the handle drops what it
    cached) runs when a batch it worked in rolls back.

    Args:
        store: The store the handle works on.
        tract_id: The handle's tract.
        forget: Called when a batch this handle used rolls back.
        start: Where the handle's HEAD starts (None: the stored HEAD, read at first use).
    """

    __slots__ = ("_store", "_tract_id", "_forget", "head", "_snapshot")

    def __init__(
        self, store: _BatchingStore, tract_id: str, forget: Callable[[], None], start: Checkout | None = None
    ) -> None:
        self._store = store
        self._tract_id = tract_id
        self._forget = forget
        self.head = HeadPointer(start)
        self._snapshot: contextvars.ContextVar[_Snapshot | None] = contextvars.ContextVar(
            f"tract-handle-snapshot-{id(self)}", default=None
        )

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Inside the block, every read of this handle (in this thread or task) shares one read
        transaction, begun at the first read: one consistent snapshot, one transaction instead of
        one per call. Writes go on as usual (and are not seen by the snapshot). Nested or inside a
        batch, it changes nothing."""
        if self._snapshot.get() is not None or self._store.join_batch() is not None:
            yield
            return
        shared = _Snapshot()
        token = self._snapshot.set(shared)
        try:
            with shared.stack:
                yield
        finally:
            self._snapshot.reset(token)

    def snapshot_memo(self) -> dict[str, Any] | None:
        """A dict that lives as long as the open snapshot (None outside one): what was read in it
        stays true until it ends, so a result can be kept there (e.g. HEAD's compile)."""
        shared = self._snapshot.get()
        return None if shared is None else shared.memo

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only unit of work (the open batch, or the open snapshot, if any)."""
        active = self._store.join_batch()
        shared = self._snapshot.get()
        if active is None and shared is not None:
            if shared.session is None:
                shared.session = shared.stack.enter_context(self._store.read())
            active = shared.session
        if active is not None:
            yield handle_view(active, self._tract_id, self.head)
        else:
            with self._store.read() as session:
                yield handle_view(session, self._tract_id, self.head)

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction (the open batch, if any); HEAD moves made in it roll back with it."""
        active = self._store.join_batch(self.rolled_back)
        if active is not None:
            self.head.mark(active)
            yield handle_view(active, self._tract_id, self.head)
            return
        before = self.head.current
        try:
            with self._store.write() as session:
                yield handle_view(session, self._tract_id, self.head)
        except BaseException:
            self.head.current = before  # a HEAD move that rolled back did not happen
            raise

    @contextmanager
    def batch(self) -> Iterator[Session]:
        """One transaction for everything done on the store inside the block (see ``SqlStore.batch``)."""
        with self._store.batch(self.rolled_back) as session:
            self.head.mark(session)
            yield session

    def rolled_back(self) -> None:
        """A batch this handle wrote in rolled back: forget what it cached and moved."""
        self._forget()
        self.head.restore()
