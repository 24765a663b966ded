"""Writing one message: validate it, then write it as a chain of one commit (see :mod:`tract_core.writes`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .compile import Compiler
from .errors import CommitNotFoundError, EditTargetError, InvalidInputError, shown
from .messages import NormalizedMessage, normalize_message
from .objects import Blob, Operation, check_text, json_or_none
from .refs import HEAD, Ref, resolve
from .store.base import Session, StoredCommit
from .tokens import count_body
from .tree.coordinates import context_coordinates
from .tree.lifecycle import coerce_lifecycle
from .tree.placement import ATTACHABLE_ROLES, Placement, check_offset
from .writes import NewCommit, write_chain

__all__ = ["write_commit", "coerce_operation"]


def coerce_operation(operation: Any) -> Operation:
    """Accept ``APPEND``/``EDIT`` (or their string values)."""
    if isinstance(operation, Operation):
        return operation
    if isinstance(operation, str) and operation.lower() in {o.value for o in Operation}:
        return Operation(operation.lower())
    raise InvalidInputError(f"operation must be APPEND or EDIT, not {shown(operation)}")


def _edit_target(
    session: Session, compiler: Compiler, tract_id: str, head_commit: str | None, response_to: Ref, marker: int
) -> tuple[str, str]:
    """Resolve an EDIT's target to the appended message it replaces; return (target, role)."""
    if response_to is None:
        raise EditTargetError("an EDIT needs response_to=<the commit whose message it replaces>")
    if head_commit is None:
        raise EditTargetError("there is nothing to edit: the tract has no commits yet")
    try:
        target = resolve(session, tract_id, response_to)
    except LookupError as exc:
        raise EditTargetError(f"cannot EDIT {shown(response_to)}: {exc}") from exc
    stored = session.commits.get(tract_id, target)
    if stored is not None and stored.commit.operation is Operation.EDIT and stored.commit.response_to:
        target = stored.commit.response_to
    state = compiler.state(session, head_commit, marker)
    index = state.index_of(target)
    if index is None:
        raise EditTargetError(
            f"commit {target[:12]} is not a message in the current history (HEAD {head_commit[:12]}); "
            "EDIT a commit that HEAD can reach"
        )
    return target, state.slots[index].role


def _placement(
    session: Session, compiler: Compiler, tract_id: str, head: str | None, attach_to: Ref, offset: Any, at: Any
) -> Placement:
    """The placement ``attach_to=``/``offset=`` or ``at=`` ask for, checked against HEAD's context."""
    if head is None:
        raise InvalidInputError("there is no message to attach to yet: the tract has no commits")
    if at is not None:
        if attach_to is not None or offset is not None:
            raise InvalidInputError("give either at=(depth, index, offset) or attach_to= with offset=, not both")
        if (
            not isinstance(at, (tuple, list))
            or len(at) != 3
            or any(isinstance(v, bool) or not isinstance(v, int) for v in at)
        ):
            raise InvalidInputError(
                f"at= is a coordinate (depth, index, offset) of three whole numbers, not {shown(at)}"
            )
        depth, index, offset = at
        check_offset(offset)
        marker = session.refs.head_with_marker(tract_id)[1]
        context = compiler.state(session, head, marker).context
        coordinates = context_coordinates(context)
        for coordinate, key in zip(coordinates, context.commit_hashes, strict=True):
            if (coordinate.depth, coordinate.index, coordinate.offset) == (depth, index, 0):
                return Placement(key, offset)
        depths = sorted({c.depth for c in coordinates})
        raise InvalidInputError(
            f"no message at ({depth}, {index}, 0) in the current context"
            + (f" (its depths run from {depths[0]} to {depths[-1]})" if depths else " (it is empty)")
            + "; at= names the depth and index of the message to attach to, and the offset"
        )
    if attach_to is None:
        raise InvalidInputError(
            "offset= places a message before (-N) or after (+N) another: give attach_to=<that message> "
            "(or at=(depth, index, offset)) too"
        )
    if offset is None:
        raise InvalidInputError("attach_to= needs offset=: negative for pre-context, positive for post-context")
    check_offset(offset)
    try:
        anchor = resolve(session, tract_id, attach_to)
    except LookupError as exc:
        raise CommitNotFoundError(f"cannot attach to {shown(attach_to)}: {exc}") from exc
    stored = session.commits.get(tract_id, anchor)
    if stored is not None and stored.commit.operation is Operation.EDIT and stored.commit.response_to:
        anchor = stored.commit.response_to
    marker = session.refs.head_with_marker(tract_id)[1]
    state = compiler.state(session, head, marker)
    position = state.index_of(anchor)
    if position is None:
        raise CommitNotFoundError(
            f"commit {anchor[:12]} carries no message in the current history (HEAD {head[:12]}); "
            "attach to a message HEAD can reach"
        )
    attached = state.slots[position].placement
    if attached is not None:
        raise InvalidInputError(
            f"commit {anchor[:12]} is itself attached to another message; attach to that message "
            f"({attached.attach_to[:12]}) instead"
        )
    return Placement(anchor, offset)


def write_commit(
    session: Session,
    compiler: Compiler,
    tract_id: str,
    message: Any,
    *,
    role: str | None,
    content_type: str | None,
    operation: Any,
    response_to: Ref,
    generation_config: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
    commit_message: str | None,
    lifecycle: Any = None,
    key: str | None = None,
    attach_to: Ref = None,
    offset: Any = None,
    at: Any = None,
) -> tuple[StoredCommit, Blob, int]:
    """Append one commit to the checked-out branch (or detached HEAD) inside ``session``'s transaction.

    Returns:
        The stored commit, its blob and the blob's token count.
    """
    op = coerce_operation(operation)
    gen_json = json_or_none(generation_config, "generation_config", nul=False)  # PostgreSQL queries it as jsonb
    meta_json = json_or_none(metadata, "metadata")
    if commit_message is not None:
        check_text(commit_message, "commit_message")
    life = coerce_lifecycle(lifecycle)
    if key is not None:
        check_text(key, "key", control=True)
        if not key.strip():
            raise InvalidInputError('a node key is a non-empty name such as "weather:NYC"')
    if op is Operation.EDIT and (life is not None or key is not None):
        raise InvalidInputError(
            "lifecycle= and key= belong to the APPEND commit that adds a message; an EDIT keeps the "
            "original's (changing a lifecycle later is not available yet)"
        )
    head = session.refs.head(tract_id, lock=True)
    target: str | None = None
    if op is Operation.EDIT:
        marker = session.refs.head_with_marker(tract_id)[1]
        target, target_role = _edit_target(session, compiler, tract_id, head.commit, response_to, marker)
        if role is not None and role != target_role:
            raise EditTargetError(
                f"an EDIT keeps the role of the message it replaces ({target_role!r}), got role={role!r}"
            )
        if isinstance(message, str) and role is None:
            role = target_role
        elif isinstance(message, Mapping) and "role" not in message and role is None:
            message = {**message, "role": target_role}
        normalized: NormalizedMessage = normalize_message(message, role=role, content_type=content_type)
        if normalized.role != target_role:
            raise EditTargetError(
                f"an EDIT keeps the role of the message it replaces ({target_role!r}), got {normalized.role!r}"
            )
    else:
        if response_to is not None:
            raise InvalidInputError("response_to is only for operation=EDIT")
        normalized = normalize_message(message, role=role, content_type=content_type)
    placement = None
    if attach_to is not None or offset is not None or at is not None:
        if op is Operation.EDIT:
            raise InvalidInputError(
                "attach_to=, offset= and at= place the APPEND commit that adds a message; an EDIT keeps its place"
            )
        placement = _placement(session, compiler, tract_id, head.commit, attach_to, offset, at)
        if normalized.role not in ATTACHABLE_ROLES or normalized.body.get("tool_calls"):
            raise InvalidInputError(
                f"only context can be attached to a message (a user, system or developer message without tool "
                f"calls), not a {normalized.role} message: replies and tool results are core nodes"
            )
    blob = Blob.from_body(normalized.body)
    tokens = count_body(compiler.counter, blob.body)
    cached = compiler.cached_commit(head.commit) if head.commit is not None else None
    new = NewCommit(
        blob=blob,
        role=normalized.role,
        content_type=normalized.content_type,
        operation=op,
        response_to=target,
        metadata_json=meta_json,
        generation_config_json=gen_json,
        message=commit_message,
        tokens=tokens,
        tokenizer=compiler.counter.name,
        lifecycle_json=None if life is None else life.to_json(),
        key=key,
        placement_json=None if placement is None else placement.to_json(),
    )
    summary = commit_message or f"{op.value} {normalized.role} {normalized.content_type}"
    written = write_chain(
        session,
        tract_id,
        [new],
        parent=head.commit,
        ref=head.branch or HEAD,
        action=f"commit: {summary}",
        parent_depth=cached.depth if cached is not None else None,
    )
    return written.commits[0], blob, tokens
