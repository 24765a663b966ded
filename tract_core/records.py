"""Read models returned by the public API: commits, annotations, status and reflog entries."""

from __future__ import annotations

import datetime as _dt
import json
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import display
from .errors import InvalidInputError, TractError, shown
from .objects import Operation, Priority
from .usage import Usage

if TYPE_CHECKING:
    from .tree.lifecycle import Lifecycle
    from .tree.placement import Placement

__all__ = ["CommitInfo", "CommitLog", "AnnotationInfo", "LifecycleInfo", "TractStatus", "ReflogEntry", "VerifyReport"]


def _iso(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class AnnotationInfo:
    """One annotation: a priority given to a message, with why and where.

    Attributes:
        target: Hash of the message's (APPEND) commit.
        priority: The priority given.
        reason: Why, if the caller said.
        anchor: The commit HEAD was on when the annotation was made.
        created_at: When, as a UNIX timestamp.
    """

    target: str
    priority: Priority
    reason: str | None
    anchor: str
    created_at: float


@dataclass(frozen=True)
class LifecycleInfo:
    """One lifecycle change (``t.set_lifecycle``): a new lifecycle given to a message, with why and where.

    Attributes:
        target: Hash of the message's (APPEND) commit.
        lifecycle: The lifecycle given (None: permanent).
        reason: Why, if the caller said.
        anchor: The commit HEAD was on when the change was made (its ages count from that cycle).
        created_at: When, as a UNIX timestamp.
    """

    target: str
    lifecycle: Lifecycle | None
    reason: str | None
    anchor: str
    created_at: float


@dataclass(frozen=True)
class CommitInfo:
    """A commit as the API shows it. Pass it anywhere a commit reference is accepted.

    Attributes:
        hash: The commit id (SHA-256 hex).
        parents: Parent commit ids.
        role: The message role (None for commits without a message).
        content_type: The content type.
        operation: ``APPEND`` or ``EDIT``.
        response_to: For an EDIT, the commit whose message it replaces.
        message: The commit message, if one was given.
        metadata: Caller metadata.
        generation_config: Settings of the model call that produced the message.
        content: The message content (string or content parts), None if there is none.
        body: The whole stored message body (content, tool calls, ...).
        created_at: When the commit was written (UNIX timestamp; not hashed).
        usage: Provider token usage recorded for this commit, if any.
        token_count: Estimated tokens of the message (tract's tokenizer), overhead included.
        annotations: The annotations of this message, oldest first (filled by ``show()``).
        lifecycle: The lifecycle the commit was made with (a :class:`~tract_core.tree.Lifecycle`, or None:
            permanent); later changes are in ``lifecycle_changes``.
        key: The message's node key (a newer message with the same key supersedes it), or None.
        lifecycle_changes: The lifecycle changes of this message (``set_lifecycle``), oldest first
            (filled by ``show()``).
        placement: Where the message is shown relative to another (a
            :class:`~tract_core.tree.Placement`: pre-context of ``attach_to`` for a negative
            ``offset``, post-context for a positive one), or None (a core node at its own place).
    """

    hash: str
    parents: tuple[str, ...]
    role: str | None
    content_type: str
    operation: Operation
    response_to: str | None
    message: str | None
    metadata: Mapping[str, Any] | None
    generation_config: Mapping[str, Any] | None
    content: Any
    body: Mapping[str, Any] | None
    created_at: float
    usage: Usage | None = None
    token_count: int | None = None
    annotations: tuple[AnnotationInfo, ...] = field(default=(), repr=False)
    lifecycle: Lifecycle | None = None
    key: str | None = None
    lifecycle_changes: tuple[LifecycleInfo, ...] = field(default=(), repr=False)
    placement: Placement | None = None

    @property
    def short_hash(self) -> str:
        """The first 12 characters of the hash."""
        return self.hash[:12]

    @property
    def created(self) -> str:
        """``created_at`` as an ISO-8601 UTC string."""
        return _iso(self.created_at)

    @property
    def parent(self) -> str | None:
        """The first parent, or None for a root commit."""
        return self.parents[0] if self.parents else None

    def preview(self, width: int = 60) -> str:
        """A one-line preview of the content, at most ``width`` (at least 1) characters."""
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise InvalidInputError(f"width must be a positive number of characters, not {shown(width)}")
        content = self.content
        calls = self.body.get("tool_calls") if self.body else None
        if isinstance(content, str):
            text = content
        elif content is None:
            text = "" if calls else self.message or ""
        else:
            text = json.dumps(content, ensure_ascii=False)
        if calls:  # an assistant message calling tools shows its calls: search(query="...")
            listed = ", ".join(_call_preview(call) for call in calls)
            text = f"{text} → {listed}" if text.strip() else listed
        text = " ".join(text.split())
        return text if len(text) <= width else text[: width - 1] + "…"

    def _repr_html_(self) -> str:
        """The notebook view: the commit's fields, annotations and message."""
        return display.commit_html(self)

    def __rich__(self) -> Any:
        """The terminal view (``rich.print(commit)``)."""
        return display.commit_rich(self)


class CommitLog(list[CommitInfo]):
    """Commits as :meth:`~tract_core.Tract.log` returns them, newest first: a plain list of
    :class:`CommitInfo` (it compares equal to a list of the same commits, slices to a list and
    pickles as one) that a notebook shows as a table, with the branch graph beside it when the
    commits fork or merge, and ``rich.print`` as a terminal table.

    Example:
        >>> from tract_core import Tract
        >>> with Tract.open() as t:
        ...     _ = t.user("Hi")
        ...     log = t.log()
        ...     [c.role for c in log], log == list(log), "<table" in log._repr_html_()
        (['user'], True, True)
    """

    __slots__ = ("_tract",)

    def __init__(self, commits: Iterable[CommitInfo] = (), *, tract: Any = None) -> None:
        super().__init__(commits)
        self._tract = None if tract is None else weakref.ref(tract)

    @property
    def labels(self) -> dict[str, list[str]]:
        """The ref names to show beside the commits (``{hash: ["HEAD -> main", "draft"]}``), read now
        from the tract the log came from; empty when that tract is closed or gone."""
        tract = self._tract() if self._tract is not None else None
        if tract is None or tract.closed:
            return {}
        try:
            return display.ref_labels(tract.list_branches(), tract.head)
        except TractError:
            return {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (CommitLog, (list(self),))

    def _repr_html_(self) -> str:
        """The notebook view: a table of the commits, with the branch graph when they fork or merge."""
        return display.log_html(self, self.labels)

    def __rich__(self) -> Any:
        """The terminal view (``rich.print(log)``): a table, with the graph's lanes when it branches."""
        return display.log_rich(self, self.labels)


def _call_preview(call: Any) -> str:
    """One tool call as ``name(arg=value, ...)`` (values as JSON), from the OpenAI shape tract stores."""
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping):
        return "?()"
    name = function.get("name") or "?"
    arguments = function.get("arguments")
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        parsed = arguments
    if isinstance(parsed, Mapping):
        listed = ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in parsed.items())
    elif parsed in (None, ""):
        listed = ""
    else:
        listed = parsed if isinstance(parsed, str) else json.dumps(parsed, ensure_ascii=False)
    return f"{name}({listed})"


@dataclass(frozen=True)
class TractStatus:
    """Where a tract stands before the next LLM call.

    Attributes:
        tract_id: The tract.
        branch: The checked-out branch (None when HEAD is detached).
        head: The commit HEAD points at (None for an empty tract).
        detached: Whether HEAD is detached from any branch.
        commit_count: Commits in HEAD's history.
        message_count: Messages in the compiled context.
        token_count: Estimated tokens of the compiled context (tract's tokenizer).
        token_budget: The configured budget, or None.
        budget_ratio: ``token_count / token_budget`` (None without a budget).
        tokenizer: The tokenizer that produced ``token_count``.
        tokenizer_note: Why the tokenizer is not the model's own (offline fallback), else None.
        last_usage: The provider's numbers for the latest call recorded on HEAD's line, if any.
        cached_prefix_tokens: The cache-friendly prefix: tokens at the start of the compiled
            context that the context before HEAD's latest move began with too (HEAD's previous
            commit in the reflog: the parent after a commit, the old tip after a compression or a
            reset), i.e. what a provider's prompt cache can still serve if that earlier context
            was sent (:meth:`~tract_core.CompiledContext.stable_prefix`). After an append it is
            all of the earlier context; after an EDIT, a SKIP or a compression it stops at the
            first message that changed; 0 when there is no earlier context.
    """

    tract_id: str
    branch: str | None
    head: str | None
    detached: bool
    commit_count: int
    message_count: int
    token_count: int
    token_budget: int | None
    budget_ratio: float | None
    tokenizer: str
    tokenizer_note: str | None
    last_usage: Usage | None
    cached_prefix_tokens: int = 0

    @property
    def remaining_tokens(self) -> int | None:
        """Tokens left before the budget (negative when over it), or None without a budget."""
        return None if self.token_budget is None else self.token_budget - self.token_count

    @property
    def over_budget(self) -> bool:
        """Whether the compiled context exceeds the budget."""
        return self.token_budget is not None and self.token_count > self.token_budget

    def _repr_html_(self) -> str:
        """The notebook view: branch, HEAD, counts and a budget bar coloured by how full it is."""
        return display.status_html(self)

    def __rich__(self) -> Any:
        """The terminal view (``rich.print(status)``)."""
        return display.status_rich(self)


@dataclass(frozen=True)
class ReflogEntry:
    """One recorded move of a ref (a branch or HEAD)."""

    ref: str
    old: str | None
    new: str | None
    action: str
    created_at: float

    @property
    def created(self) -> str:
        """``created_at`` as an ISO-8601 UTC string."""
        return _iso(self.created_at)


class VerifyReport(int):
    """What :meth:`~tract_core.Tract.verify` checked and found sound (damage raises instead).

    As an ``int`` the report is the number of commits and blobs re-hashed, what ``verify()``
    returned before it had a report, so ``t.verify() > 0`` keeps working.

    Attributes:
        commits: Commits re-hashed (every commit of the tract, reachable or not).
        blobs: Blobs (the messages of those commits) re-hashed.
        annotations: Annotation rows decoded, their chain re-computed.
        refs: Branches whose commit was found (HEAD is always checked too).
        compressions: Compression records decoded.
        token_counts: Cached token counts recounted (those made by the tract's tokenizer).
        pages: Whether SQLite's integrity check ran over every page of the file (True), or None on
            PostgreSQL, which checks its own pages (data checksums, ``amcheck``).
    """

    commits: int
    blobs: int
    annotations: int
    refs: int
    compressions: int
    token_counts: int
    pages: bool | None

    _FIELDS = ("commits", "blobs", "annotations", "refs", "compressions", "token_counts", "pages")

    def __new__(
        cls,
        *,
        commits: int,
        blobs: int,
        annotations: int = 0,
        refs: int = 0,
        compressions: int = 0,
        token_counts: int = 0,
        pages: bool | None = None,
    ) -> VerifyReport:
        report = super().__new__(cls, commits + blobs)
        values = (commits, blobs, annotations, refs, compressions, token_counts, pages)
        for name, value in zip(cls._FIELDS, values, strict=True):
            object.__setattr__(report, name, value)
        return report

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a VerifyReport cannot be changed")

    def __getnewargs_ex__(self) -> tuple[tuple[()], dict[str, Any]]:
        return (), self.as_dict()

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data."""
        return {name: getattr(self, name) for name in self._FIELDS}

    def __repr__(self) -> str:
        return "VerifyReport(" + ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items()) + ")"

    def __str__(self) -> str:
        return int.__repr__(self)
