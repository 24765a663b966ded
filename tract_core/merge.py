"""Merging branches: fast-forward, merge commits, conflicts and how they are resolved.

A merge is planned from a consistent read, its conflicts are resolved (by the caller's
resolutions, a resolver callback, an :class:`LLMResolver`, or a side-picking strategy) without
holding any database lock, and then applied in one transaction that compare-and-swaps the branch
from the commit the plan was made on. If the branch moved meanwhile, the merge fails with
:class:`~tract_core.errors.ConcurrentUpdateError` and writes nothing.

The compiled context of a merge commit is "ours, then theirs since the merge base". A conflict is
a message both sides EDITed to different contents, annotated to different priorities, or gave
different lifecycles (``set_lifecycle``); the same change on both sides is no conflict.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .compile import Compiler
from .errors import ConcurrentUpdateError, InvalidInputError, MergeConflict, shown
from .graph import ancestors, linearize, merge_base
from .objects import ContentType, Operation, Priority
from .refs import HEAD, Ref, move_head_commit, resolve
from .replay import carry_lifecycles, carry_priorities
from .store.base import Session
from .tree.lifecycle import Lifecycle, coerce_lifecycle
from .writes import NewCommit, put_chain

__all__ = [
    "STRATEGIES",
    "Conflict",
    "MergeResult",
    "PendingMerge",
    "LLMResolver",
    "Resolver",
    "check_strategy",
    "plan_merge",
    "resolve_conflicts",
    "apply_merge",
]

STRATEGIES = ("auto", "no-ff", "ff-only", "ours", "theirs")
"""``auto``: fast-forward when possible, else a merge commit; ``no-ff``: always a merge commit;
``ff-only``: refuse unless it can fast-forward; ``ours``/``theirs``: a merge commit whose conflicts
take that side."""


@dataclass(frozen=True)
class Conflict:
    """One message both sides changed differently.

    Attributes:
        kind: ``"edit"`` (different contents), ``"annotation"`` (different priorities) or ``"lifecycle"``
            (different lifecycles, each a :class:`~tract_core.tree.Lifecycle` or None for permanent).
        target: The message's (APPEND) commit.
        role: The message role.
        base: The content (priority, lifecycle) at the merge base.
        ours: The content (priority, lifecycle) on the branch being merged into.
        theirs: The content (priority, lifecycle) on the branch being merged.
    """

    kind: str
    target: str
    role: str
    base: Any
    ours: Any
    theirs: Any

    def describe(self) -> str:
        """One line for error messages."""

        def short(value: Any) -> str:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            return text if len(text) <= 40 else text[:39] + "…"

        where = f"{self.kind} of {self.role} message {self.target[:12]}"
        return f"{where}: ours {short(self.ours)!r}, theirs {short(self.theirs)!r}"

    @property
    def slot(self) -> str:
        """The key of this conflict's resolution: the target, or ``lifecycle:<target>`` for a lifecycle conflict
        (a message can have an edit or annotation conflict and a lifecycle conflict at once)."""
        return f"lifecycle:{self.target}" if self.kind == "lifecycle" else self.target


Resolver = Callable[[Conflict], Any]
"""A function from a :class:`Conflict` to its resolution: new content (str, content parts or a
message dict) for an edit conflict, a :class:`~tract_core.Priority` for an annotation conflict, a
:class:`~tract_core.tree.Lifecycle` (a dict of its fields, or None for permanent) for a lifecycle conflict."""


@dataclass(frozen=True)
class MergeResult:
    """What a merge did.

    Attributes:
        kind: ``"fast-forward"``, ``"merge"`` or ``"up-to-date"``.
        head: The branch's commit afterwards.
        merge_commit: The merge commit (None unless ``kind == "merge"``).
        base: The merge base.
        resolved: Each conflict with the resolution applied.
    """

    kind: str
    head: str | None
    merge_commit: str | None = None
    base: str | None = None
    resolved: tuple[tuple[Conflict, Any], ...] = ()


@dataclass
class PendingMerge:
    """A planned merge waiting to be reviewed and committed (``merge(..., auto_commit=False)``).

    Resolve what :attr:`unresolved` lists with :meth:`resolve`, then :meth:`commit`. Nothing is
    written before that; if the branch moves meanwhile, :meth:`commit` raises
    :class:`~tract_core.errors.ConcurrentUpdateError`.

    ``on_commit`` is how :meth:`commit` applies the plan: the tract's write unit of work around
    :func:`apply_merge`.
    """

    tract_id: str
    source: str
    ours: str | None
    theirs: str
    base: str | None
    kind: str
    conflicts: list[Conflict]
    expected: dict[str, Priority] = field(repr=False)
    resolutions: dict[str, Any] = field(default_factory=dict)
    lifecycles: dict[str, tuple[Lifecycle | None, int]] = field(default_factory=dict, repr=False)
    ages: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)
    on_commit: Callable[[PendingMerge], MergeResult] = field(repr=False, compare=False, kw_only=True)

    @property
    def unresolved(self) -> list[Conflict]:
        """Conflicts still waiting for a resolution."""
        return [c for c in self.conflicts if c.slot not in self.resolutions]

    def resolve(self, target: Any, resolution: Any) -> None:
        """Set the resolution of the conflict on ``target`` (a hash, unique prefix or CommitInfo).

        When a message has a lifecycle conflict and another one, a Lifecycle, None or a dict of lifecycle
        fields resolves the lifecycle conflict and anything else the other."""
        key = getattr(target, "hash", target)
        matches = [c for c in self.conflicts if isinstance(key, str) and key and c.target.startswith(key)]
        if len(matches) > 1 and len({c.target for c in matches}) == 1:
            lifecycle = _looks_like_lifecycle(resolution)
            matches = [c for c in matches if (c.kind == "lifecycle") == lifecycle]
        if len(matches) != 1:
            raise InvalidInputError(f"{shown(target)} names no single conflict of this merge")
        self.resolutions[matches[0].slot] = _check_resolution(matches[0], resolution)

    def commit(self) -> MergeResult:
        """Apply the merge (all conflicts must be resolved)."""
        return self.on_commit(self)


def _looks_like_lifecycle(value: Any) -> bool:
    if value is None or isinstance(value, Lifecycle):
        return True
    return isinstance(value, Mapping) and all(k in ("ttl", "cadence", "window", "sticky") for k in value)


def _check_resolution(conflict: Conflict, resolution: Any) -> Any:
    if conflict.kind == "lifecycle":
        try:
            return coerce_lifecycle(resolution)
        except InvalidInputError as error:
            raise InvalidInputError(
                f"the lifecycle conflict on {conflict.target[:12]} needs a Lifecycle, a dict of its fields or None "
                f"(permanent): {error}"
            ) from None
    if conflict.kind == "annotation":
        if isinstance(resolution, Priority):
            return resolution
        if isinstance(resolution, str) and resolution.lower() in {p.value for p in Priority}:
            return Priority(resolution.lower())
        raise InvalidInputError(
            f"the annotation conflict on {conflict.target[:12]} needs PINNED, SKIP or NORMAL, not {shown(resolution)}"
        )
    if isinstance(resolution, Mapping):
        if resolution.get("role", conflict.role) != conflict.role:
            raise InvalidInputError(f"the resolution of {conflict.target[:12]} must keep the role {conflict.role!r}")
        return dict(resolution)
    if isinstance(resolution, (str, list)):
        return resolution
    raise InvalidInputError(
        f"the edit conflict on {conflict.target[:12]} needs new content (a string, content parts or a message dict)"
    )


def check_strategy(strategy: Any) -> str:
    """Validate a merge strategy (one of :data:`STRATEGIES`); return it."""
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise InvalidInputError(f"unknown merge strategy {shown(strategy)}; use one of {', '.join(STRATEGIES)}")
    return strategy


def plan_merge(
    session: Session,
    compiler: Compiler,
    tract_id: str,
    source: Ref,
    strategy: str,
    on_commit: Callable[[PendingMerge], MergeResult],
) -> PendingMerge:
    """Work out what merging ``source`` into HEAD means, conflicts included. Writes nothing.

    ``on_commit`` becomes the plan's :attr:`PendingMerge.on_commit`.
    """
    check_strategy(strategy)
    head, marker = session.refs.head_with_marker(tract_id)
    compiler.sync_annotations(session, marker)
    theirs = resolve(session, tract_id, source, head=head)
    name = source if isinstance(source, str) else theirs[:12]
    ours = head.commit

    def pending(
        kind: str,
        base: str | None = None,
        conflicts: list[Conflict] | None = None,
        expected: dict[str, Priority] | None = None,
    ) -> PendingMerge:
        return PendingMerge(
            tract_id, name, ours, theirs, base, kind, conflicts or [], expected or {}, on_commit=on_commit
        )

    if ours is None:
        return pending("fast-forward")
    graph = session.commits.graph(tract_id)

    def parents_of(h: str) -> tuple[str, ...]:
        return graph[h][0]

    mine = ancestors(ours, parents_of)
    if theirs in mine:
        return pending("up-to-date", theirs)
    theirs_line = ancestors(theirs, parents_of)
    fast_forward = ours in theirs_line and not _annotated_after_fork(compiler, ours, theirs_line, graph)
    if fast_forward and strategy not in ("no-ff", "ours", "theirs"):
        return pending("fast-forward", ours)
    if strategy == "ff-only":
        raise InvalidInputError(
            f"cannot fast-forward to {name!r}: the branches have diverged; merge with another strategy"
        )
    base = merge_base(ours, theirs, parents_of, lambda h: graph[h][1])
    if base is None:
        raise InvalidInputError(f"{name!r} shares no history with HEAD; there is nothing to merge against")
    conflicts, expected, lifecycles, ages = _conflicts(
        session, compiler, tract_id, base, ours, theirs, marker, parents_of
    )
    plan = pending("merge", base, conflicts, expected)
    plan.lifecycles, plan.ages = lifecycles, ages
    if strategy in ("ours", "theirs"):
        for conflict in conflicts:
            plan.resolutions[conflict.slot] = getattr(conflict, strategy)
    return plan


def resolve_conflicts(plan: PendingMerge, resolutions: Mapping[Any, Any], resolver: Resolver | None) -> None:
    """Resolve a plan's conflicts: first the given ``resolutions`` (by target), then ``resolver`` for the rest.

    Runs no database work: a resolver (an LLM, a person) may take its time without holding a lock.
    """
    for target, value in resolutions.items():
        plan.resolve(target, value)
    if resolver is not None:
        for conflict in plan.unresolved:
            plan.resolve(conflict.target, resolver(conflict))


def _children_on(commit: str, line: set[str], graph: Mapping[str, tuple[tuple[str, ...], int]]) -> set[str]:
    """Children of ``commit`` within ``line``."""
    return {h for h in line if commit in graph[h][0]}


def _annotated_after_fork(
    compiler: Compiler, ours: str, theirs_line: set[str], graph: Mapping[str, tuple[tuple[str, ...], int]]
) -> bool:
    """Whether HEAD was annotated after theirs went on from it (a fast-forward would drop that)."""
    rows = compiler.anchored_at(ours)
    if not rows:
        return False
    children = _children_on(ours, theirs_line, graph)
    return any(children & set(row.excluded) for row in rows)


def _base_state(
    session: Session,
    compiler: Compiler,
    base: str,
    tips: tuple[str, str],
    marker: int,
    parents_of: Callable[[str], tuple[str, ...]],
    graph: Mapping[str, tuple[tuple[str, ...], int]],
) -> Any:
    """The merge base as both sides saw it when they went on from it.

    Annotations anchored at the base but made after a side went on from it belong to the other
    side's changes, not to the common ancestor, so they are left out of the three-way comparison.
    """
    late_rows = compiler.anchored_at(base)
    if late_rows:
        forks: set[str] = set()
        for tip in tips:
            forks |= _children_on(base, ancestors(tip, parents_of), graph)
        late = [r for r in late_rows if forks & set(r.excluded)]
        if late:
            from .compile import build_state

            history = session.commits.history(compiler.tract_id)
            with_late = {id(r) for r in late}
            rows = [r for r in compiler.annotations() if id(r) not in with_late]
            order = linearize(base, parents_of)
            return build_state(base, [history[h] for h in order], rows, marker, compiler)
    return compiler.state(session, base, marker)


def _conflicts(
    session: Session,
    compiler: Compiler,
    tract_id: str,
    base: str,
    ours: str,
    theirs: str,
    marker: int,
    parents_of: Callable[[str], tuple[str, ...]],
) -> tuple[list[Conflict], dict[str, Priority], dict[str, tuple[Lifecycle | None, int]], dict[str, tuple[int, int]]]:
    shared = ancestors(base, parents_of)
    history = session.commits.history(tract_id)

    def last_edits(tip: str) -> dict[str, str]:
        edits: dict[str, str] = {}
        for h in linearize(tip, parents_of):
            entry = history[h]
            if h not in shared and entry.operation is Operation.EDIT and entry.response_to:
                edits[entry.response_to] = h
        return edits

    graph = session.commits.graph(tract_id)
    states = {side: compiler.state(session, tip, marker) for side, tip in (("ours", ours), ("theirs", theirs))}
    states["base"] = _base_state(session, compiler, base, (ours, theirs), marker, parents_of, graph)
    slots = {side: {s.key: s for s in state.slots} for side, state in states.items()}
    conflicts: list[Conflict] = []
    ours_edits, theirs_edits = last_edits(ours), last_edits(theirs)
    for target in sorted(ours_edits.keys() & theirs_edits.keys()):
        mine, other = slots["ours"].get(target), slots["theirs"].get(target)
        if mine is None or other is None or mine.message == other.message:
            continue
        original = slots["base"].get(target)
        conflicts.append(
            Conflict(
                "edit",
                target,
                mine.role,
                None if original is None else original.message.get("content"),
                mine.message.get("content"),
                other.message.get("content"),
            )
        )
    expected: dict[str, Priority] = {}
    for key in slots["ours"].keys() | slots["theirs"].keys():
        b = slots["base"].get(key)
        o = slots["ours"].get(key)
        t = slots["theirs"].get(key)
        if o is None or t is None or b is None:
            expected[key] = (o or t).priority  # type: ignore[union-attr]
            continue
        if o.priority is not b.priority and t.priority is not b.priority and o.priority is not t.priority:
            conflicts.append(Conflict("annotation", key, o.role, b.priority, o.priority, t.priority))
        expected[key] = o.priority if o.priority is not b.priority else t.priority
    # lifecycles (set_lifecycle): a side changed one when it differs from the base's; the changed side's
    # lifecycle goes on with the age it has there
    lifecycles: dict[str, tuple[Lifecycle | None, int]] = {}
    ages: dict[str, tuple[int, int]] = {}
    now = {side: state.cycles for side, state in states.items()}
    for key in slots["ours"].keys() & slots["theirs"].keys() & slots["base"].keys():
        b, o, t = slots["base"][key], slots["ours"][key], slots["theirs"][key]
        if o.lifecycle == b.lifecycle and t.lifecycle == b.lifecycle:
            continue
        ours_age, theirs_age = now["ours"] - o.born, now["theirs"] - t.born
        if o.lifecycle != b.lifecycle and t.lifecycle != b.lifecycle and o.lifecycle != t.lifecycle:
            conflicts.append(Conflict("lifecycle", key, o.role, b.lifecycle, o.lifecycle, t.lifecycle))
            ages[key] = (ours_age, theirs_age)
        elif t.lifecycle != b.lifecycle:
            lifecycles[key] = (t.lifecycle, theirs_age)
        else:
            lifecycles[key] = (o.lifecycle, ours_age)
    return conflicts, expected, lifecycles, ages


def apply_merge(session: Session, compiler: Compiler, plan: PendingMerge) -> MergeResult:
    """Write a planned merge in the caller's transaction (compare-and-swap on the planned HEAD)."""
    tract_id = plan.tract_id
    missing = plan.unresolved
    if missing:
        raise MergeConflict(
            f"merging {plan.source!r} conflicts on {len(missing)} message(s): "
            + "; ".join(c.describe() for c in missing)
            + ". Pass resolutions=, a resolver=, strategy='ours'/'theirs', or merge(auto_commit=False) to review",
            missing,
        )
    head = session.refs.head(tract_id, lock=True)
    if head.commit != plan.ours:
        where = head.branch or HEAD
        raise ConcurrentUpdateError(
            f"{where!r} moved since this merge was planned (it was {str(plan.ours)[:12]}, it is "
            f"{str(head.commit)[:12]}); nothing was written. Plan the merge again"
        )
    if plan.kind == "up-to-date":
        return MergeResult("up-to-date", head.commit, base=plan.base)
    if plan.kind == "fast-forward":
        move_head_commit(session, tract_id, head, plan.theirs, f"merge {plan.source}: fast-forward")
        return MergeResult("fast-forward", plan.theirs, base=plan.base)
    assert plan.ours is not None
    depths = session.commits.get_many(tract_id, [plan.ours, plan.theirs])
    into = head.branch or "HEAD"
    depth = max(d.depth for d in depths.values())
    merge = put_chain(
        session,
        tract_id,
        [
            NewCommit(
                blob=None,
                role=None,
                content_type=ContentType.MERGE,
                message=f"Merge {plan.source!r} into {into!r}",
                other_parents=(plan.theirs,),
            )
        ],
        parent=plan.ours,
        parent_depth=depth,
    )
    depth += 1
    tip: str = merge.hashes[0]
    resolved: list[tuple[Conflict, Any]] = []
    expected = dict(plan.expected)
    lifecycles = dict(plan.lifecycles)
    for conflict in plan.conflicts:
        resolution = plan.resolutions[conflict.slot]
        resolved.append((conflict, resolution))
        if conflict.kind == "annotation":
            expected[conflict.target] = resolution
            continue
        if conflict.kind == "lifecycle":
            ours_age, theirs_age = plan.ages.get(conflict.target, (0, 0))
            age = ours_age if resolution == conflict.ours else theirs_age if resolution == conflict.theirs else 0
            lifecycles[conflict.target] = (resolution, age)
            continue
        message = resolution if isinstance(resolution, dict) else {"role": conflict.role, "content": resolution}
        message = {**message, "role": conflict.role}
        edit = _edit_commit(session, compiler, tract_id, tip, conflict.target, message, depth)
        depth += 1
        tip = edit
    carry_priorities(session, compiler, tract_id, expected, tip, f"merge of {plan.source!r}")
    carry_lifecycles(session, compiler, tract_id, lifecycles, tip, f"merge of {plan.source!r}")
    move_head_commit(session, tract_id, head, tip, f"merge {plan.source}: {merge.hashes[0][:12]}")
    return MergeResult("merge", tip, merge.hashes[0], plan.base, tuple(resolved))


def _edit_commit(
    session: Session, compiler: Compiler, tract_id: str, parent: str, target: str, message: dict, depth: int
) -> str:
    from .messages import normalize_message
    from .objects import Blob
    from .tokens import count_body

    normalized = normalize_message(message)
    blob = Blob.from_body(normalized.body)
    written = put_chain(
        session,
        tract_id,
        [
            NewCommit(
                blob=blob,
                role=normalized.role,
                content_type=normalized.content_type,
                operation=Operation.EDIT,
                response_to=target,
                message="merge resolution",
                tokens=count_body(compiler.counter, blob.body),
                tokenizer=compiler.counter.name,
            )
        ],
        parent=parent,
        parent_depth=depth,
    )
    return written.hashes[0]


_LLM_SYSTEM = (
    "You resolve merge conflicts in the context of an AI agent. Two branches changed the same message "
    "differently. Combine them into one message that keeps every correct fact from both and contradicts "
    "neither; when they disagree, prefer the more specific and more recent-looking information. Reply with "
    "the merged message text only, no commentary."
)


class LLMResolver:
    """Resolve merge conflicts with an LLM.

    Edit conflicts: the model sees the original and both versions and writes the merged message.
    Annotation conflicts need no model: the safer priority wins (PINNED over NORMAL over SKIP), so a
    merge never hides what one side protected. Lifecycle conflicts need none either: ours is kept.

    Args:
        llm: Anything :func:`tract_core.llm.as_llm` accepts (an LLM, a callable, an OpenAI client, a
            LangChain chat model, a LlamaIndex LLM).
        model: The model name, when ``llm`` is an OpenAI-compatible client.
        system_prompt: Replaces the default instructions.

    Attributes:
        calls: Every (conflict, merged text) the model produced.
    """

    def __init__(self, llm: Any, *, model: str | None = None, system_prompt: str | None = None) -> None:
        from .llm import as_llm

        self.llm = as_llm(llm, model=model)
        self.system_prompt = system_prompt or _LLM_SYSTEM
        self.calls: list[tuple[Conflict, str]] = []

    def messages(self, conflict: Conflict) -> list[dict[str, str]]:
        """The prompt for one edit conflict."""

        def text(value: Any) -> str:
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

        body = (
            f"Role of the message: {conflict.role}\n\n"
            f"Original:\n{text(conflict.base)}\n\n"
            f"Version A:\n{text(conflict.ours)}\n\n"
            f"Version B:\n{text(conflict.theirs)}"
        )
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": body}]

    def __call__(self, conflict: Conflict) -> Any:
        if conflict.kind == "lifecycle":
            return conflict.ours
        if conflict.kind == "annotation":
            order = (Priority.PINNED, Priority.NORMAL, Priority.SKIP)
            return min((conflict.ours, conflict.theirs), key=order.index)
        reply = self.llm.complete(self.messages(conflict)).text.strip()
        if not reply:
            raise InvalidInputError(f"the LLM returned an empty resolution for {conflict.target[:12]}")
        self.calls.append((conflict, reply))
        return reply
