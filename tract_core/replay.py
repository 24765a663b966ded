"""Replaying commits onto a new base: the one mechanism behind cherry-pick, rebase and compression.

Each replayed commit keeps its message, role, content type, operation, metadata, generation
config and commit message, and gets a new parent (so a new id). EDITs that pointed at replayed
commits are re-pointed at their copies. Priorities the messages had on their old line are carried
over with annotations anchored at the new tip. Safety checks report an EDIT whose target, or a tool
result whose tool call, is not in the new history (``strict=True`` turns those into an error and
nothing is written).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .annotations import carry_lifecycle
from .compile import Compiler, CompileState
from .errors import InvalidInputError, RebaseSafetyError, damaged
from .graph import ancestors, linearize
from .objects import Operation
from .refs import Ref, move_head_commit, resolve
from .store.base import Session, StoredCommit
from .tree.lifecycle import Lifecycle
from .tree.placement import Placement, placement_of_json
from .writes import NewCommit, put_chain

__all__ = [
    "ReplayResult",
    "replay_commits",
    "carry_priorities",
    "carry_lifecycles",
    "lifecycle_targets",
    "lifecycles_of",
    "cherry_pick",
    "rebase",
]


@dataclass(frozen=True)
class ReplayResult:
    """What a cherry-pick or rebase did.

    Attributes:
        head: The new tip (HEAD's commit afterwards).
        mapping: Each replayed commit's old id mapped to its new id, in replay order.
        warnings: Semantic problems found (EDIT targets or tool calls missing from the new history).
    """

    head: str | None
    mapping: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def replayed(self) -> list[str]:
        """The new commit ids, in order."""
        return list(self.mapping.values())


def _call_ids(message: Mapping[str, Any]) -> set[str | None]:
    return {call.get("id") for call in message.get("tool_calls") or () if isinstance(call, Mapping)}


def replay_commits(
    session: Session,
    compiler: Compiler,
    tract_id: str,
    commits: Sequence[StoredCommit],
    onto: str | None,
    marker: int,
    lifecycles: Mapping[str, str | None] | None = None,
) -> tuple[str | None, dict[str, str], list[str]]:
    """Write copies of ``commits`` (in order) on top of ``onto``; return (tip, mapping, warnings).

    Merge commits (no message, several parents) are not copied: replaying flattens history.
    ``lifecycles`` maps a replayed commit to the lifecycle (canonical JSON) its copy gets instead of
    its own (compression ages the nodes it keeps: see :mod:`tract_core.tree.lifecycle`).
    """
    base_state = compiler.state(session, onto, marker)
    keys = {slot.key for slot in base_state.slots}
    calls: set[str | None] = set()
    for slot in base_state.slots:
        calls |= _call_ids(slot.message)
    blobs = session.blobs.get_many(c.commit.blob for c in commits if c.commit.blob)
    tip, depth = onto, None
    mapping: dict[str, str] = {}
    warnings: list[str] = []
    for stored in commits:
        commit = stored.commit
        if commit.blob is None and len(commit.parents) > 1:
            continue
        if commit.blob is not None and commit.blob not in blobs:
            what = f"commit {commit.hash[:12]} of tract {tract_id!r}"
            raise damaged(what, f"its message (blob {commit.blob[:12]}) is missing")
        blob = blobs[commit.blob].blob if commit.blob is not None else None
        body = blob.body if blob is not None else {}
        target: str | None = commit.response_to
        if commit.operation is Operation.EDIT and target is not None:
            if target in mapping:
                target = mapping[target]
            elif target not in keys:
                warnings.append(
                    f"EDIT {commit.hash[:12]} replaces {target[:12]}, which is not in the new history; "
                    "its change will not show"
                )
        if commit.role == "tool" and body.get("tool_call_id") not in calls:
            warnings.append(
                f"tool result {commit.hash[:12]} answers call {body.get('tool_call_id')!r}, which is not "
                "in the new history"
            )
        placement = placement_of_json(commit.placement_json, commit=commit.hash)
        if placement is not None:
            if placement.attach_to in mapping:
                placement = Placement(mapping[placement.attach_to], placement.offset)
            elif placement.attach_to not in keys:
                warnings.append(
                    f"{commit.hash[:12]} is attached to {placement.attach_to[:12]}, which is not in the new "
                    "history; it shows at its own place"
                )
        copy = NewCommit(
            blob=blob,
            role=commit.role,
            content_type=commit.content_type,
            operation=commit.operation,
            response_to=target,
            metadata_json=commit.metadata_json,
            generation_config_json=commit.generation_config_json,
            message=commit.message,
            stored=True,
            lifecycle_json=lifecycles.get(commit.hash, commit.lifecycle_json) if lifecycles else commit.lifecycle_json,
            key=commit.key,
            placement_json=None if placement is None else placement.to_json(),
        )
        written = put_chain(session, tract_id, [copy], parent=tip, parent_depth=depth)
        tip, depth = written.tip, written.commits[0].depth
        assert tip is not None
        mapping[commit.hash] = tip
        if commit.operation is Operation.APPEND:
            keys.add(tip)
            calls |= _call_ids(body)
    return tip, mapping, warnings


def carry_priorities(
    session: Session,
    compiler: Compiler,
    tract_id: str,
    wanted: Mapping[str, Any],
    tip: str,
    reason: str,
) -> None:
    """Annotate, anchored at ``tip``, every message whose priority at ``tip`` differs from ``wanted``."""
    marker = session.refs.head_with_marker(tract_id)[1]
    state = compiler.state(session, tip, marker)
    for slot in state.slots:
        priority = wanted.get(slot.key)
        if priority is not None and priority is not slot.priority:
            session.annotations.add(tract_id, slot.key, priority.value, reason, tip, ())


def lifecycle_targets(compiler: Compiler, anchors: Iterable[str] | None = None) -> set[str]:
    """Messages some lifecycle row (``set_lifecycle``) targets: every one, or those anchored at ``anchors``."""
    rows = compiler.annotations() if anchors is None else [r for h in anchors for r in compiler.anchored_at(h)]
    return {row.target for row in rows if row.lifecycle is not None}


def lifecycles_of(
    state: CompileState, mapping: Mapping[str, str], only: Iterable[str]
) -> dict[str, tuple[Lifecycle | None, int]]:
    """For the slots of ``only``: their effective lifecycle and its age at ``state`` (keyed through ``mapping``)."""
    keep = set(only)
    return {mapping.get(s.key, s.key): (s.lifecycle, state.cycles - s.born) for s in state.slots if s.key in keep}


def carry_lifecycles(
    session: Session,
    compiler: Compiler,
    tract_id: str,
    wanted: Mapping[str, tuple[Lifecycle | None, int]],
    tip: str,
    reason: str,
) -> None:
    """Write a lifecycle row, anchored at ``tip``, for every message whose lifecycle (or, for one that is not
    permanent, its age) at ``tip`` differs from ``wanted``: the changed lifecycle goes on counting."""
    if not wanted:
        return
    marker = session.refs.head_with_marker(tract_id)[1]
    state = compiler.state(session, tip, marker)
    for slot in state.slots:
        if slot.key not in wanted:
            continue
        life, age = wanted[slot.key]
        if slot.lifecycle != life or (life is not None and state.cycles - slot.born != age):
            carry_lifecycle(session, tract_id, slot.key, life, age, tip, reason)


def _priorities(state: CompileState, mapping: Mapping[str, str], only: Iterable[str] | None = None) -> dict:
    keep = None if only is None else set(only)
    return {mapping.get(slot.key, slot.key): slot.priority for slot in state.slots if keep is None or slot.key in keep}


def _finish(warnings: list[str], strict: bool, what: str) -> None:
    if strict and warnings:
        raise RebaseSafetyError(f"{what} refused (strict=True): " + "; ".join(warnings), warnings)


def cherry_pick(session: Session, compiler: Compiler, tract_id: str, ref: Ref, *, strict: bool) -> ReplayResult:
    """Copy one commit onto HEAD."""
    marker = session.refs.head_with_marker(tract_id)[1]
    head = session.refs.head(tract_id, lock=True)
    source = resolve(session, tract_id, ref, head=head)
    stored = session.commits.get(tract_id, source)
    assert stored is not None
    if stored.commit.blob is None:
        raise InvalidInputError(f"commit {source[:12]} carries no message (a merge commit); pick the commits it merged")
    source_state = compiler.state(session, source, marker)
    tip, mapping, warnings = replay_commits(session, compiler, tract_id, [stored], head.commit, marker)
    _finish(warnings, strict, "cherry-pick")
    assert tip is not None
    wanted = _priorities(source_state, mapping, only=[source])
    carry_priorities(session, compiler, tract_id, wanted, tip, f"carried over from {source[:12]} by cherry-pick")
    lives = lifecycles_of(source_state, mapping, only=lifecycle_targets(compiler) & {source})
    carry_lifecycles(session, compiler, tract_id, lives, tip, f"carried over from {source[:12]} by cherry-pick")
    move_head_commit(session, tract_id, head, tip, f"cherry-pick: {source[:12]}")
    return ReplayResult(tip, mapping, tuple(warnings))


def rebase(session: Session, compiler: Compiler, tract_id: str, onto: Ref, *, strict: bool) -> ReplayResult:
    """Replay the commits of HEAD's line that ``onto`` lacks on top of ``onto``."""
    marker = session.refs.head_with_marker(tract_id)[1]
    head = session.refs.head(tract_id, lock=True)
    if head.commit is None:
        raise InvalidInputError("there is nothing to rebase: the branch has no commits")
    target = resolve(session, tract_id, onto, head=head)
    graph = session.commits.graph(tract_id)

    def parents_of(h: str) -> tuple[str, ...]:
        return graph[h][0]

    behind = ancestors(target, parents_of)
    mine = ancestors(head.commit, parents_of)
    if head.commit in behind:
        raise InvalidInputError(
            f"{onto!r} is a descendant of the current line: nothing to rebase; merge it instead (a fast-forward)"
        )
    if target in mine:
        return ReplayResult(head.commit)
    order = [h for h in linearize(head.commit, parents_of) if h not in behind]
    stored = session.commits.get_many(tract_id, order)
    old_state = compiler.state(session, head.commit, marker)
    tip, mapping, warnings = replay_commits(session, compiler, tract_id, [stored[h] for h in order], target, marker)
    _finish(warnings, strict, "rebase")
    assert tip is not None
    # Carry the replayed messages' priorities, and a shared message's only where the branch's own
    # annotations set it: what ``onto`` did to shared messages must survive the rebase.
    changed = {row.target for h in order for row in compiler.anchored_at(h)}
    wanted = _priorities(old_state, mapping, only=[*mapping, *changed])
    carry_priorities(session, compiler, tract_id, wanted, tip, f"carried over from {head.commit[:12]} by rebase")
    lives = lifecycles_of(old_state, mapping, only=lifecycle_targets(compiler, order))
    carry_lifecycles(session, compiler, tract_id, lives, tip, f"carried over from {head.commit[:12]} by rebase")
    move_head_commit(session, tract_id, head, tip, f"rebase: onto {target[:12]}")
    return ReplayResult(tip, mapping, tuple(warnings))
