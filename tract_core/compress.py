"""Compression: replace a stretch of history with a summary, without losing the originals.

The range's NORMAL messages (with their EDITs applied) become one summary message; its PINNED
messages, and those whose lifecycle or node key is still live (DESIGN 14), are replayed verbatim
after the summary, in their original order; its SKIP messages, and those whose lifecycle expired or
whose key a newer message took over, are left out. Everything after the range is replayed on top.
No lifecycle node's age changes: the summary records the cycles it stands for, and a node kept
verbatim records the summarised cycles that followed it (see :mod:`tract_core.tree.lifecycle`).
The commits that left HEAD's history are *archived*: recorded with the compression (its
provenance), still readable with ``show`` and ``compile(at_commit=<old head>)``, until
``gc`` removes them after its archive window.

Compression can be manual (the caller writes the summary), by an LLM (within ``target_tokens``), or
collaborative: the LLM drafts, the draft is stored as a *pending* compression, and a person
approves it (possibly edited) or rejects it. A pending compression planned on an older HEAD is
refused when approved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from .compile import Slot
from .errors import CommitNotFoundError, ConcurrentUpdateError, InvalidInputError, TractError, shown
from .graph import linearize
from .history import commit_info
from .messages import normalize_message
from .objects import Blob, ContentType, Operation, Priority, canonical_json, check_text
from .records import CommitInfo
from .refs import Ref, move_head_commit, resolve
from .replay import carry_lifecycles, carry_priorities, lifecycle_targets, lifecycles_of, replay_commits
from .store.base import HistoryEntry, Session
from .summarize import SummaryDraft, asummarize, summarize
from .tokens import MESSAGE_OVERHEAD, TokenCounter, count_body
from .tree.lifecycle import SUMMARY_CYCLES, Lifecycle, cycles_sealed, lifecycle_of_json
from .writes import NewCommit, put_chain

if TYPE_CHECKING:
    from .compile import Compiler

__all__ = [
    "DEFAULT_KEEP_RECENT",
    "CompressionOwner",
    "CompressionPlan",
    "CompressionResult",
    "PendingCompression",
    "plan_compression",
    "apply_compression",
    "archive_range",
    "summary_llm",
    "draft_summary",
    "adraft_summary",
    "store_pending",
    "approve_pending",
    "reject_pending",
    "list_pending",
    "compression_id",
]

DEFAULT_KEEP_RECENT = 6
"""Messages at the end of the context a default-range compression leaves alone."""


@dataclass(frozen=True)
class CompressionPlan:
    """What a compression would do, computed from one consistent read. Writes nothing.

    Attributes:
        old_head: HEAD when planned.
        order: HEAD's history in compile order.
        start: Index in ``order`` of the range's first commit.
        end: Index in ``order`` of the range's last commit.
        summarised: The messages that go into the summary (EDITs applied).
        pinned: Keys of the messages kept verbatim: PINNED ones, and those whose lifecycle or node key
            is still live (see :meth:`~tract_core.compile.CompileState.lifecycle_split`).
        skipped: Keys of the SKIP messages left out.
        tokens_before: Tokens of the compiled context before.
    """

    old_head: str
    order: tuple[str, ...]
    start: int
    end: int
    summarised: tuple[Slot, ...]
    pinned: tuple[str, ...]
    skipped: tuple[str, ...]
    tokens_before: int

    @property
    def range_from(self) -> str:
        """The range's first commit."""
        return self.order[self.start]

    @property
    def range_to(self) -> str:
        """The range's last commit."""
        return self.order[self.end]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages to summarise, as fresh OpenAI-shaped dicts."""
        return [dict(slot.message) for slot in self.summarised]

    @property
    def summarised_tokens(self) -> int:
        """Tokens those messages take in the context now."""
        return sum(slot.tokens for slot in self.summarised)


@dataclass(frozen=True)
class CompressionResult:
    """What a committed compression did.

    Attributes:
        id: The compression record (its provenance).
        summary: The summary commit (None for ``Tract.archive``, which writes none).
        head: HEAD afterwards.
        replaced: The commits whose messages went into the summary.
        kept: The pinned messages replayed verbatim (their new commits), in order.
        archived: Every commit that left HEAD's history (readable until gc).
        tokens_before: Tokens of the compiled context before.
        tokens_after: Tokens after.
        draft: How an LLM summary was obtained (None for a manual one).
    """

    id: int
    summary: CommitInfo | None
    head: str | None
    replaced: tuple[str, ...]
    kept: tuple[str, ...]
    archived: tuple[str, ...]
    tokens_before: int
    tokens_after: int
    draft: SummaryDraft | None = None


class CompressionOwner(Protocol):
    """Where a :class:`PendingCompression` is approved or rejected: the tract that drafted it."""

    def approve_compression(self, pending: PendingCompression | int, *, content: Any = None) -> CompressionResult:
        """Commit a pending compression (see :meth:`tract_core.Tract.approve_compression`)."""
        ...

    def reject_compression(self, pending: PendingCompression | int) -> None:
        """Drop a pending compression (see :meth:`tract_core.Tract.reject_compression`)."""
        ...


@dataclass
class PendingCompression:
    """A drafted compression waiting for a person (``compress(auto_commit=False)``).

    It is stored, so it can be reviewed from another process (``Tract.pending_compressions()``).
    Approve it (optionally with edited content) or reject it; rejecting leaves history untouched.

    Attributes:
        id: The stored record.
        draft: The drafted summary text.
        range_from: First commit of the range.
        range_to: Last commit of the range.
        old_head: HEAD the draft was made on; approving after HEAD moved is refused.
        messages: The messages the draft summarises.
        details: Token counts and how the draft was obtained.
        stale: The draft no longer applies (HEAD moved, or its range changed): reject it.
    """

    tract: CompressionOwner = field(repr=False)
    id: int
    draft: str
    range_from: str
    range_to: str
    old_head: str
    messages: list[dict[str, Any]] = field(default_factory=list, repr=False)
    details: dict[str, Any] = field(default_factory=dict, repr=False)
    stale: bool = False

    def approve(self, content: str | None = None) -> CompressionResult:
        """Commit the compression with ``content`` (default: the draft)."""
        return self.tract.approve_compression(self, content=content)

    def reject(self) -> None:
        """Drop the draft; history stays as it is."""
        self.tract.reject_compression(self)


def _index_of(order: Sequence[str], session: Session, tract_id: str, ref: Ref, what: str) -> int:
    commit = resolve(session, tract_id, ref)
    try:
        return order.index(commit)
    except ValueError:
        raise InvalidInputError(
            f"{what} {commit[:12]} is not in HEAD's history; compress commits HEAD can reach"
        ) from None


def _tool_ids(slot: Slot) -> tuple[set[str | None], set[str | None]]:
    calls = {c.get("id") for c in slot.message.get("tool_calls") or () if isinstance(c, Mapping)}
    results = {slot.message.get("tool_call_id")} if slot.role == "tool" else set()
    return calls, results


def _default_end(slots: Sequence[Slot], position: Mapping[str, int], keep_recent: int) -> int:
    visible = [s for s in slots if s.priority is not Priority.SKIP]
    if keep_recent == 0:
        return max(position.values())
    if keep_recent >= len(visible):
        return -1
    first_kept = len(visible) - keep_recent
    if keep_recent:  # never leave a tool result behind without its call
        while first_kept > 0 and visible[first_kept].role == "tool":
            first_kept -= 1
    return position[visible[first_kept].key] - 1


def plan_compression(
    session: Session,
    compiler: Compiler,
    tract_id: str,
    *,
    from_commit: Ref = None,
    to_commit: Ref = None,
    keep_recent: int = DEFAULT_KEEP_RECENT,
    at: str | None = None,
    exact: bool = False,
) -> CompressionPlan:
    """Work out what compressing a range of HEAD's history (or of commit ``at``'s) means.

    With ``exact`` (archiving), every message of the range leaves the context, pinned ones too,
    and a tool call may be separated from its result: the caller chose the range.

    Raises:
        InvalidInputError: Empty, all-pinned or inverted range; a range that would split a tool
            call from its result; a range that starts inside merged history.
    """
    if isinstance(keep_recent, bool) or not isinstance(keep_recent, int) or keep_recent < 0:
        raise InvalidInputError(f"keep_recent must be a non-negative number of messages, not {shown(keep_recent)}")
    head, marker = session.refs.head_with_marker(tract_id)
    tip = at if at is not None else head.commit
    if tip is None:
        raise InvalidInputError("there is nothing to compress: the tract has no commits")
    history = session.commits.history(tract_id)
    if tip not in history:
        raise CommitNotFoundError(f"commit {tip[:12]} is no longer in tract {tract_id!r}")
    state = compiler.state(session, tip, marker)
    order = linearize(tip, lambda h: history[h].parents)
    position = {h: i for i, h in enumerate(order)}
    if from_commit is None:  # after the leading pinned messages (the system prompt stays first)
        leading = next((s for s in state.slots if s.priority is not Priority.PINNED), None)
        start = position[leading.key] if leading is not None else len(order)
    else:
        start = _index_of(order, session, tract_id, from_commit, "from_commit")
    if to_commit is None:
        end = _default_end(state.slots, position, keep_recent)
    else:
        end = _index_of(order, session, tract_id, to_commit, "to_commit")
    if end < start:
        raise InvalidInputError(
            "the range to compress is empty (from_commit comes after to_commit, or only the most recent "
            f"{keep_recent} messages exist); lower keep_recent or give from_commit/to_commit"
        )
    if start > 0 and linearize(order[start - 1], lambda h: history[h].parents) != list(order[:start]):
        raise InvalidInputError("the range starts inside merged history; compress from before the merge or after it")
    in_range = set(order[start : end + 1])
    leaving = (Priority.NORMAL, Priority.PINNED) if exact else (Priority.NORMAL,)
    # a message with a live lifecycle or key is kept verbatim like a PINNED one; an expired or
    # superseded one is no longer shown, so it is dropped like a SKIP one (not summarised)
    live, gone = state.lifecycle_split() if not exact else (frozenset(), frozenset())
    # the newest instance of a key hides the older ones even when it is not shown itself (its ttl ran
    # out, or it is SKIP): dropping it would bring back an older instance left outside the range, so
    # it is kept verbatim (with its priority), still showing nothing
    holding: frozenset[str] = frozenset()
    if not exact and any(s.node_key is not None for s in state.slots):
        newest = {s.node_key: s for s in state.slots if s.node_key is not None}
        outside = {s.node_key for s in state.slots if s.node_key is not None and s.key not in in_range}
        holding = frozenset(
            s.key
            for k, s in newest.items()
            if k in outside and s.key in in_range and (s.key in gone or s.priority is Priority.SKIP)
        )
    summarised = [
        s
        for s in state.slots
        if s.key in in_range and s.priority in leaving and s.key not in live and s.key not in gone
    ]
    pinned = (
        []
        if exact
        else [
            s.key
            for s in state.slots
            if s.key in in_range
            and (
                s.key in holding
                or (
                    s.key not in gone  # a pinned message hidden for good by its ttl or key is not shown
                    and (s.priority is Priority.PINNED or (s.key in live and s.priority is not Priority.SKIP))
                )
            )
        ]
    )
    skipped = [
        s.key
        for s in state.slots
        if s.key in in_range and s.key not in holding and (s.priority is Priority.SKIP or (s.key in gone and not exact))
    ]
    if exact and not summarised:
        raise InvalidInputError("nothing to archive in that range: it holds no message in the context")
    if exact:
        return CompressionPlan(
            tip, tuple(order), start, end, tuple(summarised), (), tuple(skipped), state.context.token_count
        )
    if not summarised:
        raise InvalidInputError(
            "nothing to compress in that range: it holds no message that is neither pinned nor skipped"
        )
    gone_calls: set[str | None] = set()
    gone_results: set[str | None] = set()
    for slot in summarised:
        calls, results = _tool_ids(slot)
        gone_calls |= calls
        gone_results |= results
    for slot in state.slots:
        if slot.priority is Priority.SKIP or slot in summarised or slot.key in gone:
            continue
        calls, results = _tool_ids(slot)
        if results & gone_calls or calls & gone_results:
            raise InvalidInputError(
                f"the range would separate a tool call from its result (message {slot.key[:12]}); "
                "move from_commit/to_commit so both are inside or both outside"
            )
    return CompressionPlan(
        tip,
        tuple(order),
        start,
        end,
        tuple(summarised),
        tuple(pinned),
        tuple(skipped),
        state.context.token_count,
    )


def apply_compression(
    session: Session,
    compiler: Compiler,
    tract_id: str,
    plan: CompressionPlan,
    content: Any,
    *,
    summary_role: str,
    pending_id: int | None = None,
    draft: SummaryDraft | None = None,
) -> CompressionResult:
    """Write the compression in the caller's transaction (compare-and-swap on the planned HEAD)."""
    head = session.refs.head(tract_id, lock=True)
    if head.commit != plan.old_head:
        raise ConcurrentUpdateError(
            f"HEAD moved since this compression was planned (it was {plan.old_head[:12]}, it is "
            f"{str(head.commit)[:12]}); nothing was written. Compress again"
        )
    marker = session.refs.head_with_marker(tract_id)[1]
    old_state = compiler.state(session, plan.old_head, marker)
    summarised_keys = {slot.key for slot in plan.summarised}
    pinned_since = [s.key for s in old_state.slots if s.key in summarised_keys and s.priority is Priority.PINNED]
    if pinned_since and content is not None:  # an archive (no content) takes pinned messages out too
        raise ConcurrentUpdateError(
            f"message {pinned_since[0][:12]} was pinned since this compression was planned (while the summary "
            "was written); nothing was written. Compress again"
        )
    base = plan.order[plan.start - 1] if plan.start else None
    history = session.commits.history(tract_id)
    cycles, aged = _summarised_cycles(plan, history, tract_id)
    stored_summary = summary_blob = None
    onto = base
    if content is not None:  # None: an archive, the range just leaves the context
        summary_message = normalize_message(content, role=summary_role, content_type=ContentType.SUMMARY)
        summary_blob = Blob.from_body(summary_message.body)
        base_depth = session.commits.get(tract_id, base).depth if base else 0  # type: ignore[union-attr]
        written = put_chain(
            session,
            tract_id,
            [
                NewCommit(
                    blob=summary_blob,
                    role=summary_message.role,
                    content_type=ContentType.SUMMARY,
                    metadata_json=canonical_json(
                        {
                            "compression": {
                                "from": plan.range_from,
                                "to": plan.range_to,
                                "messages": len(plan.summarised),
                                SUMMARY_CYCLES: cycles,
                            }
                        }
                    ),
                    message=f"compress {len(plan.summarised)} messages",
                    tokens=count_body(compiler.counter, summary_blob.body),
                    tokenizer=compiler.counter.name,
                )
            ],
            parent=base,
            parent_depth=base_depth,
        )
        stored_summary = written.commits[0]
        onto = written.tip
    summarised = {slot.key for slot in plan.summarised}
    pinned = set(plan.pinned)
    dropped = set(plan.order[plan.start : plan.end + 1]) - pinned
    replay_order = []
    for i, commit in enumerate(plan.order[plan.start :], start=plan.start):
        entry = history[commit]
        if entry.blob is None:
            continue  # merge commits: replaying flattens history
        if entry.operation is Operation.EDIT:
            if entry.response_to in dropped:
                continue  # already applied to the text the summary was written from (or skipped)
        elif i <= plan.end and commit not in pinned:
            continue
        replay_order.append(commit)
    stored = session.commits.get_many(tract_id, replay_order)
    replayed = [stored[h] for h in replay_order]
    tip, mapping, _ = replay_commits(session, compiler, tract_id, replayed, onto, marker, aged)
    tip = tip or onto
    wanted = {mapping[s.key]: s.priority for s in old_state.slots if s.key in mapping}
    # messages before the range keep their identity, but annotations made later were anchored at
    # commits the compression archives: pin their priorities down again at the new tip
    prefix = set(plan.order[: plan.start])
    wanted.update({s.key: s.priority for s in old_state.slots if s.key in prefix})
    if tip is not None:
        carry_priorities(session, compiler, tract_id, wanted, tip, "kept by compression")
        changed = lifecycle_targets(compiler) & (set(mapping) | prefix)
        carry_lifecycles(
            session, compiler, tract_id, lifecycles_of(old_state, mapping, changed), tip, "kept by compression"
        )
    action = (
        f"archive: {len(plan.summarised)} messages"
        if stored_summary is None
        else f"compress: {len(plan.summarised)} messages into {stored_summary.commit.hash[:12]}"
    )
    move_head_commit(session, tract_id, head, tip, action)
    archived = plan.order[plan.start :]
    new_state = compiler.state(session, tip, session.refs.head_with_marker(tract_id)[1])
    summary_tokens = 0 if summary_blob is None else count_body(compiler.counter, summary_blob.body)
    kept = [mapping[k] for k in plan.pinned if k in mapping]
    details: dict[str, Any] = {
        "replaced": [k for k in plan.order if k in summarised],  # in history order
        "kept": kept,
        "skipped": list(plan.skipped),
        "tokens_before": plan.tokens_before,
        "tokens_after": new_state.context.token_count,
        "summary_tokens": 0
        if summary_blob is None
        else count_body(compiler.counter, summary_blob.body) + MESSAGE_OVERHEAD,
    }
    if stored_summary is None:
        details["archive"] = True
    if draft is not None:
        details.update(target_tokens=draft.target_tokens, attempts=draft.attempts, trimmed=draft.trimmed)
    if pending_id is None:
        record = session.compressions.add(
            tract_id,
            status="committed",
            old_head=plan.old_head,
            range_from=plan.range_from,
            range_to=plan.range_to,
            draft=None,
            details=details,
            summary_commit=None if stored_summary is None else stored_summary.commit.hash,
            new_head=tip,
        )
    else:
        record = pending_id
        if not session.compressions.decide(
            tract_id,
            record,
            expected="pending",
            status="committed",
            summary_commit=None if stored_summary is None else stored_summary.commit.hash,
            new_head=tip,
            details=details,
        ):
            raise ConcurrentUpdateError(f"compression {record} is no longer pending (approved or rejected elsewhere)")
    session.compressions.archive(tract_id, record, archived)
    result = CompressionResult(
        id=record,
        summary=None
        if stored_summary is None or summary_blob is None
        else commit_info(stored_summary, summary_blob, summary_tokens),
        head=tip,
        replaced=tuple(k for k in plan.order if k in summarised),
        kept=tuple(kept),
        archived=tuple(archived),
        tokens_before=plan.tokens_before,
        tokens_after=new_state.context.token_count,
        draft=draft,
    )
    return result


def _summarised_cycles(
    plan: CompressionPlan, history: Mapping[str, HistoryEntry], tract_id: str
) -> tuple[int, dict[str, str | None]]:
    """The cycles the range's messages that leave the context sealed (the summary stands for them), and
    the aged lifecycle (canonical JSON) of each node kept verbatim whose age depends on cycles among them.

    A kept node is replayed after the summary, which counts all those cycles, so its new commit is
    born that many cycles later than it was, less the ones that came after it: its lifecycle's
    ``elapsed`` grows by the latter, and it is shown in the same cycles as without the compression.
    """
    kept = set(plan.pinned)
    total = 0
    after: list[tuple[str, Lifecycle, int]] = []  # (kept commit, its lifecycle, cycles left before it)
    for commit in plan.order[plan.start : plan.end + 1]:
        entry = history[commit]
        if entry.operation is not Operation.APPEND or entry.blob is None or entry.role is None:
            continue
        if commit in kept:
            life = lifecycle_of_json(entry.lifecycle_json, commit=commit, tract_id=tract_id)
            if life is not None and life.ages:
                after.append((commit, life, total))
            continue
        total += cycles_sealed(entry.role, entry.content_type, entry.metadata_json)
    aged: dict[str, str | None] = {}
    for commit, life, before in after:
        if total > before:
            aged[commit] = replace(life, elapsed=life.elapsed + total - before).to_json()
    return total, aged


def archive_range(
    session: Session, compiler: Compiler, tract_id: str, from_commit: Ref, to_commit: Ref
) -> CompressionResult:
    """Take an exact range out of HEAD's history without a summary (``from_commit`` None: the first commit)."""
    if from_commit is None:
        head = session.refs.head(tract_id).commit
        if head is None:
            raise InvalidInputError("there is nothing to archive: the tract has no commits")
        history = session.commits.history(tract_id)
        from_commit = linearize(head, lambda h: history[h].parents)[0]
    plan = plan_compression(session, compiler, tract_id, from_commit=from_commit, to_commit=to_commit, exact=True)
    return apply_compression(session, compiler, tract_id, plan, None, summary_role="system")


def summary_llm(llm: Any, default: Any) -> Any:
    """The model that writes a summary: ``llm``, else ``default`` (the tract's ``TractConfig(llm=...)``).

    Raises:
        InvalidInputError: Neither is set.
    """
    model = llm if llm is not None else default
    if model is None:
        raise InvalidInputError(
            "compress needs content= (a summary you wrote) or an llm= (or TractConfig(llm=...)) to write one"
        )
    return model


def _summary_budget(plan: CompressionPlan, target_tokens: int | None) -> int:
    """``target_tokens``, else a quarter of what the summarised messages take now (64 to 2000)."""
    return target_tokens or min(2000, max(64, plan.summarised_tokens // 4))


def draft_summary(
    plan: CompressionPlan, llm: Any, *, counter: TokenCounter, target_tokens: int | None, prompt: str | None
) -> SummaryDraft:
    """Have ``llm`` summarise the plan's messages within ``target_tokens`` (default: see above)."""
    budget = _summary_budget(plan, target_tokens)
    return summarize(llm, plan.messages, counter=counter, target_tokens=budget, prompt=prompt)


async def adraft_summary(
    plan: CompressionPlan, llm: Any, *, counter: TokenCounter, target_tokens: int | None, prompt: str | None
) -> SummaryDraft:
    """Async :func:`draft_summary`: the model is called with ``acomplete`` on the running loop."""
    budget = _summary_budget(plan, target_tokens)
    return await asummarize(llm, plan.messages, counter=counter, target_tokens=budget, prompt=prompt)


def store_pending(
    session: Session,
    owner: CompressionOwner,
    tract_id: str,
    plan: CompressionPlan,
    content: Any,
    *,
    summary_role: str,
    draft: SummaryDraft | None,
) -> PendingCompression:
    """Store a drafted compression for review (``compress(auto_commit=False)``); history is untouched."""
    if isinstance(content, str):
        check_text(content, "the summary draft (content)")
    details: dict[str, Any] = {"summary_role": summary_role, "messages": len(plan.summarised)}
    if draft is not None:
        details.update(target_tokens=draft.target_tokens, attempts=draft.attempts, trimmed=draft.trimmed)
    text = content if isinstance(content, str) else canonical_json(content)
    record = session.compressions.add(
        tract_id,
        status="pending",
        old_head=plan.old_head,
        range_from=plan.range_from,
        range_to=plan.range_to,
        draft=text,
        details=details,
    )
    return PendingCompression(
        owner, record, text, plan.range_from, plan.range_to, plan.old_head, plan.messages, details
    )


def approve_pending(
    session: Session, compiler: Compiler, tract_id: str, record_id: int, content: Any
) -> CompressionResult:
    """Commit pending compression ``record_id`` with ``content`` (None: its draft), re-planned on HEAD.

    Raises:
        ConcurrentUpdateError: HEAD moved since the draft was made, or it was already decided.
    """
    record = session.compressions.get(tract_id, record_id)
    if record is None:
        raise InvalidInputError(f"no compression {record_id} in tract {tract_id!r}")
    if record.status != "pending":
        raise ConcurrentUpdateError(f"compression {record_id} is already {record.status}")
    head = session.refs.head(tract_id, lock=True)
    if head.commit != record.old_head:
        raise ConcurrentUpdateError(
            f"HEAD moved since compression {record_id} was drafted (it was {str(record.old_head)[:12]}, "
            f"it is {str(head.commit)[:12]}); nothing was changed. Reject it and compress again"
        )
    plan = plan_compression(session, compiler, tract_id, from_commit=record.range_from, to_commit=record.range_to)
    return apply_compression(
        session,
        compiler,
        tract_id,
        plan,
        content if content is not None else record.draft,
        summary_role=record.details.get("summary_role", "system"),
        pending_id=record.id,
    )


def reject_pending(session: Session, tract_id: str, record_id: int) -> None:
    """Mark pending compression ``record_id`` rejected; history is untouched.

    Raises:
        ConcurrentUpdateError: It was already approved or rejected.
    """
    record = session.compressions.get(tract_id, record_id)
    if record is None:
        raise InvalidInputError(f"no compression {record_id} in tract {tract_id!r}")
    if not session.compressions.decide(tract_id, record_id, expected="pending", status="rejected"):
        raise ConcurrentUpdateError(f"compression {record_id} is already {record.status}")


def list_pending(
    session: Session, compiler: Compiler, tract_id: str, owner: CompressionOwner
) -> list[PendingCompression]:
    """The drafts waiting for approval, oldest first; those that no longer apply are marked ``stale``."""
    drafts = []
    head = session.refs.head(tract_id).commit
    for r in session.compressions.list(tract_id, "pending"):
        try:
            messages = plan_compression(
                session, compiler, tract_id, from_commit=r.range_from, to_commit=r.range_to, at=r.old_head
            ).messages
        except TractError:  # its range no longer holds anything to compress, or is gone
            messages = None
        draft = PendingCompression(
            owner, r.id, r.draft or "", r.range_from, r.range_to, r.old_head or "", messages or [], r.details
        )
        draft.stale = messages is None or head != r.old_head
        drafts.append(draft)
    return drafts


def compression_id(value: Any, what: str) -> int:
    """The record id of a compression given as a record (anything with an ``id``) or as the id."""
    record_id = getattr(value, "id", value)
    if isinstance(record_id, bool) or not isinstance(record_id, int):
        raise InvalidInputError(f"{what} must be a compression (or its id), not {shown(value)}")
    return record_id
