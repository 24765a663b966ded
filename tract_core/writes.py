"""The one write path: a chain of commits, and a ref moved onto it by compare-and-swap, in one transaction.

Every commit tract stores goes through :func:`put_chain`; :func:`write_chain` adds the ref move
(compare-and-swap, logged in the reflog) and an optional hold, all in the caller's unit of work,
so they land together or not at all. ``Tract.commit`` writes a chain of one commit; cherry-pick,
rebase and compression replay through it; adapters reach it through
:meth:`tract_core.storage.Transaction.write_chain` (the LangGraph checkpointer stores each turn's
new messages with one call).

The rules every commit passes here: a known role (or none, for a commit without a message), a
valid content type, canonical JSON for the body and metadata (so the same history gives the same
ids everywhere), a parent that exists in the tract (its depth is read, never trusted from the
caller), and an EDIT that names the commit it replaces. A ref moves only from the commit the caller
expects; when it moved meanwhile, :class:`~tract_core.ConcurrentUpdateError` is raised before
anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from .errors import CommitNotFoundError, EditTargetError, InvalidInputError, shown
from .messages import check_content_type, check_role
from .objects import Blob, Commit, ObjectId, Operation, check_text
from .refs import HEAD, check_branch_name, move_ref
from .store.base import Session, StoredCommit

__all__ = ["NewCommit", "ChainWrite", "EXPECT_PARENT", "put_chain", "write_chain"]


class _ExpectParent:
    def __repr__(self) -> str:
        return "EXPECT_PARENT"


EXPECT_PARENT: Final[Any] = _ExpectParent()
"""The default ``expected`` of :func:`write_chain`: the ref must point at the chain's parent."""


@dataclass(frozen=True, slots=True)
class NewCommit:
    """A commit to write, before its parents are known (:func:`put_chain` links them).

    Attributes:
        blob: The message payload, or None for a commit without a message.
        role: The message role (None without a message).
        content_type: The content type.
        operation: ``APPEND`` or ``EDIT``.
        response_to: For an EDIT, the commit whose message it replaces.
        metadata_json: Canonical JSON metadata (see :func:`~tract_core.objects.json_or_none`), or None.
        generation_config_json: Canonical JSON generation settings, or None.
        message: A commit message, or None.
        tokens: The blob's token count for ``tokenizer``, kept beside it (None: counted when compiled).
        tokenizer: The tokenizer that produced ``tokens``.
        stored: The blob is known to be stored already (a replayed commit): it is not put again.
        other_parents: Parents after the first (a merge commit's other side); the chain links the first.
        lifecycle_json: The message's lifecycle as canonical JSON (see
            :meth:`~tract_core.tree.Lifecycle.to_json`), or None.
        key: The node key, or None.
        placement_json: The message's placement as canonical JSON (see
            :meth:`~tract_core.tree.placement.Placement.to_json`), or None.
    """

    blob: Blob | None
    role: str | None
    content_type: str
    operation: Operation = Operation.APPEND
    response_to: str | None = None
    metadata_json: str | None = None
    generation_config_json: str | None = None
    message: str | None = None
    tokens: int | None = None
    tokenizer: str | None = None
    stored: bool = False
    other_parents: tuple[str, ...] = ()
    lifecycle_json: str | None = None
    key: str | None = None
    placement_json: str | None = None


@dataclass(frozen=True, slots=True)
class ChainWrite:
    """What :func:`write_chain` (or :func:`put_chain`) wrote.

    Attributes:
        tip: The last commit of the chain (the parent when no commit was given).
        commits: The commits written, in order.
        blobs: Their blobs (None for a commit without a message).
        moved: Whether the ref moved (False when none was given or it already pointed at ``tip``).
    """

    tip: str | None
    commits: tuple[StoredCommit, ...]
    blobs: tuple[Blob | None, ...]
    moved: bool = False

    @property
    def hashes(self) -> tuple[str, ...]:
        """The ids of the commits written, in order."""
        return tuple(stored.commit.hash for stored in self.commits)


def _check(new: NewCommit) -> None:
    if not isinstance(new, NewCommit):
        raise InvalidInputError(f"a chain holds NewCommit records, not {shown(new)}")
    if new.blob is None:
        if new.role is not None:
            raise InvalidInputError(f"a commit with role {new.role!r} needs a message (a blob)")
    else:
        check_role(new.role)
    check_content_type(new.content_type)
    if new.operation is Operation.EDIT:
        if new.response_to is None:
            raise EditTargetError("an EDIT needs response_to=<the commit whose message it replaces>")
    elif new.response_to is not None:
        raise InvalidInputError("response_to is only for operation=EDIT")
    if new.message is not None:
        check_text(new.message, "commit message")


_DEPTHS: dict[str, int] = {}
"""Depths of commits this process wrote or read, by id. A commit's depth is a function of its id
(the length of its first-parent line, which the id covers), so an entry is never wrong; it only
skips the read of the depth when something else proves the parent is in the tract (the
compare-and-swap of a ref that points at it)."""
_DEPTHS_MAX = 1 << 16


def _remember_depth(hash: str, depth: int) -> None:
    if len(_DEPTHS) >= _DEPTHS_MAX:
        _DEPTHS.clear()
    _DEPTHS[hash] = depth


def _build(
    session: Session,
    tract_id: str,
    commits: Sequence[NewCommit],
    parent: str | None,
    parent_depth: int | None,
    *,
    verified: bool = False,
) -> list[tuple[Commit, int]]:
    """The commits of the chain with their depths (nothing written yet). ``verified``: a ref
    pointing at ``parent`` is about to be compared-and-swapped, which proves ``parent`` is a commit
    of the tract, so a depth this process knows is used without reading it."""
    if not commits:
        return []
    if parent_depth is None and verified and parent is not None:
        parent_depth = _DEPTHS.get(parent)
    if parent is None:
        depth = 0
    elif parent_depth is not None:
        depth = parent_depth
    else:
        found = session.commits.depth(tract_id, parent)
        if found is None:
            raise CommitNotFoundError(
                f"cannot write on commit {str(parent)[:12]}: it is not a commit of tract {tract_id!r}"
            )
        depth = found
    built: list[tuple[Commit, int]] = []
    tip = parent
    for new in commits:
        _check(new)
        commit = Commit(
            parents=((ObjectId(tip),) if tip else ()) + tuple(ObjectId(p) for p in new.other_parents),
            blob=new.blob.hash if new.blob is not None else None,
            role=new.role,
            content_type=new.content_type,
            operation=new.operation,
            response_to=ObjectId(new.response_to) if new.response_to else None,
            metadata_json=new.metadata_json,
            generation_config_json=new.generation_config_json,
            message=new.message,
            lifecycle_json=new.lifecycle_json,
            key=new.key,
            placement_json=new.placement_json,
        )
        depth += 1
        built.append((commit, depth))
        tip = commit.hash
    _remember_depth(built[-1][0].hash, depth)
    return built


def _put(session: Session, tract_id: str, commits: Sequence[NewCommit], built: list[tuple[Commit, int]]) -> ChainWrite:
    stored: list[StoredCommit] = []
    for new, (commit, depth) in zip(commits, built, strict=True):
        if new.blob is not None and not new.stored:
            session.blobs.put(new.blob, new.tokens, new.tokenizer)
        stored.append(session.commits.put(tract_id, commit, depth, new.blob.body if new.blob is not None else None))
    tip = built[-1][0].hash if built else None
    return ChainWrite(tip, tuple(stored), tuple(new.blob for new in commits))


def put_chain(
    session: Session,
    tract_id: str,
    commits: Sequence[NewCommit],
    *,
    parent: str | None,
    parent_depth: int | None = None,
) -> ChainWrite:
    """Write ``commits`` as a chain on ``parent`` (each the first parent of the next), moving no ref.

    Args:
        session: The unit of work (a write transaction).
        tract_id: The tract.
        commits: The commits, oldest first.
        parent: The commit the chain starts from (None: a new root).
        parent_depth: The parent's depth when the caller holds it from a verified read (else it is read).

    Raises:
        CommitNotFoundError: ``parent`` is not a commit of the tract.
        InvalidInputError: A commit breaks a rule (see the module).
    """
    built = _build(session, tract_id, commits, parent, parent_depth)
    return _put(session, tract_id, commits, built) if built else ChainWrite(parent, (), ())


def write_chain(
    session: Session,
    tract_id: str,
    commits: Sequence[NewCommit],
    *,
    parent: str | None,
    ref: str | None = None,
    expected: Any = EXPECT_PARENT,
    action: str = "commit",
    hold: str | None = None,
    parent_depth: int | None = None,
) -> ChainWrite:
    """Write ``commits`` on ``parent`` and move ``ref`` to the new tip, in ``session``'s transaction.

    Args:
        session: The unit of work (a write transaction).
        tract_id: The tract.
        commits: The commits, oldest first (may be empty: then ``ref`` moves to ``parent``).
        parent: The commit the chain starts from (None: a new root).
        ref: The branch to move to the tip (``HEAD``: a detached HEAD), or None to move none.
        expected: Where ``ref`` must point now (compare-and-swap); None: the branch does not exist
            yet (it is created). Default: ``parent``.
        action: The reflog entry's description of the move.
        hold: Keep the tip from gc under this holder name (a tract-level record), or None.
        parent_depth: The parent's depth when the caller holds it from a verified read.

    Returns:
        What was written; ``moved`` says whether the ref moved.

    Raises:
        ConcurrentUpdateError: ``ref`` no longer points at ``expected``; nothing was written.
        CommitNotFoundError: ``parent`` is not a commit of the tract.
        InvalidInputError: A commit breaks a rule, or a bad ref name or action.
    """
    old = parent if expected is EXPECT_PARENT else expected
    verified = ref is not None and old == parent  # the compare-and-swap below proves the parent is there
    built = _build(session, tract_id, commits, parent, parent_depth, verified=verified)
    tip = built[-1][0].hash if built else parent
    moved = False
    if ref is not None:
        check_text(action, "reflog action")
        if ref != HEAD:
            check_branch_name(ref)
        if old != tip:
            move_ref(session, tract_id, ref, old, tip, action)  # first: a lost race writes nothing
            moved = True
    written = _put(session, tract_id, commits, built) if built else ChainWrite(tip, (), ())
    if hold is not None and tip is not None:
        check_text(hold, "holder")
        session.holds.hold(tract_id, [tip], hold)
    return ChainWrite(tip, written.commits, written.blobs, moved)
