"""Two custom policies, written the way an application writes its own (DESIGN §12, scenario 6.3).

They use nothing but the public API: the :class:`~tract_core.policies.Policy` protocol (``name``,
``priority``, ``trigger``, ``evaluate``), :class:`~tract_core.policies.PolicyAction`, and
:class:`~tract_core.Tract` reads. Both live in this importable module, so a tract configured with
them gets them back on :meth:`~tract_core.Tract.open` (a policy class defined in ``__main__``
cannot be restored by another process).

* :class:`PIIPolicy` (trigger ``commit``): a message carrying personal data (an email address, a
  phone number, an SSN-like number, a payment card number) gets a SKIP annotation, so the model
  never sees it again. The built-in ``annotate`` kind: any process can approve it, the CLI too.
* :class:`SkipOldToolOutputs` (trigger ``compile``): tool outputs more than ``turns`` user turns old
  are skipped, all at once, by a custom ``skip`` kind the policy executes itself.

Example:
    >>> from tract_core import Tract
    >>> from tract_core.policies.examples import PIIPolicy
    >>> with Tract.open() as t:
    ...     _ = t.configure_policies([PIIPolicy()], autonomy="manual")
    ...     _ = t.user("Reach me at jane.doe@example.com")
    ...     [p.reason for p in t.pending_proposals()]  # doctest: +ELLIPSIS
    ['Message ... (user) contains personal data (email address); skip it']
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, shown
from ..formats.content import text_of
from ..objects import Operation, Priority
from .policy import PolicyAction

if TYPE_CHECKING:
    from ..records import CommitInfo
    from ..tract import Tract

__all__ = ["PIIPolicy", "SkipOldToolOutputs", "PII_KINDS", "find_pii"]

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_SSN = re.compile(r"(?<![\d-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+?1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-])"  # (415) 555-0132
    r"|(?<![\w+])\+\d{1,3}(?:[ .-]\d{1,4}){2,5}(?![\w-])"  # +44 20 7946 0958
)

PII_KINDS: tuple[str, ...] = ("email address", "card number", "SSN-like number", "phone number")
"""What :func:`find_pii` looks for, in the order it looks (a card number is not also a phone number)."""


def _luhn(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum payment card numbers carry."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _cards(text: str) -> list[re.Match[str]]:
    found = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            found.append(match)
    return found


def _phones(text: str) -> list[re.Match[str]]:
    return [m for m in _PHONE.finditer(text) if 8 <= len(re.sub(r"\D", "", m.group())) <= 15]


def find_pii(text: str, kinds: Sequence[str] = PII_KINDS) -> list[str]:
    """The kinds of personal data in ``text`` (a subset of :data:`PII_KINDS`, in that order).

    Deterministic patterns, tuned against false alarms on order numbers, dates and versions: card
    numbers must pass the Luhn checksum; phone numbers are North American (``(415) 555-0132``,
    ``555.867.5309``) or international with a ``+`` (``+44 20 7946 0958``), their groups separated.

    >>> find_pii("Card 4111 1111 1111 1111, call +1 415-555-0132 or mail a.b@example.org")
    ['email address', 'card number', 'phone number']
    >>> find_pii("Order SO-48213 shipped on 2024-03-15 (v3.10.12, total $1,234.56)")
    []
    """
    found = []
    for kind in PII_KINDS:
        if kind not in kinds:
            continue
        if kind == "card number":
            matches = _cards(text)
        elif kind == "phone number":
            matches = _phones(text)
        else:
            matches = list((_EMAIL if kind == "email address" else _SSN).finditer(text))
        if matches:
            found.append(kind)
            for match in reversed(matches):  # blank it out: its digits are no other kind's
                text = text[: match.start()] + " " * (match.end() - match.start()) + text[match.end() :]
    return found


def _texts(commit: CommitInfo) -> str:
    """The text of a message and of the arguments of its tool calls."""
    parts = [text_of(commit.content)]
    for call in (commit.body or {}).get("tool_calls") or ():
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            parts.append(str(function.get("arguments", "")))
    return "\n".join(parts)


@dataclass
class _Scan:
    """Where a PIIPolicy stands on one tract: the HEAD it has read up to, and findings not yet acted on."""

    head: str | None
    queue: deque[tuple[str, str, list[str]]] = field(default_factory=deque)


class PIIPolicy:
    """Skips messages that carry personal data, so the model never sees them.

    After each commit it reads the new messages (usually one: each evaluation reads only the
    commits since the last) and, for a message whose text or tool-call arguments contain an email
    address, a phone number, an SSN-like number or a payment card number (:func:`find_pii`),
    proposes a SKIP annotation of it (kind ``annotate``, priority ``skip``). The reason names what
    was found, never the data itself, so the proposal and the policy log carry no PII.

    The risk is low: hiding a message is reversible (``t.annotate(h, NORMAL)`` brings it back), so
    with the default ``collaborative`` autonomy the message is hidden at once; ``autonomy="manual"``
    makes every finding wait for a person's approval instead. Instructions (system and developer
    messages) are not scanned: a support address in a system prompt is meant to be there. A message
    that already carries an annotation is left alone (a person's decision stands). When several
    messages with personal data land at once (a batch), each evaluation acts on one of them, oldest
    first; ``t.run_policies()`` takes the next.

    Args:
        kinds: What to look for (default: every kind of :data:`PII_KINDS`).
        roles: The roles of the messages scanned.
        name: The policy's name; priority: lower runs first; autonomy: overrides the tract's.

    Raises:
        InvalidInputError: An unknown kind.
    """

    trigger = "commit"

    def __init__(
        self,
        kinds: Sequence[str] = PII_KINDS,
        *,
        roles: Sequence[str] = ("user", "assistant", "tool"),
        name: str = "pii",
        priority: int = 5,
        autonomy: str | None = None,
    ) -> None:
        if isinstance(kinds, str) or isinstance(roles, str):
            raise InvalidInputError("PIIPolicy kinds and roles are lists, e.g. kinds=['email address']")
        unknown = [k for k in kinds if k not in PII_KINDS]
        if unknown:
            raise InvalidInputError(f"PIIPolicy kinds are among {', '.join(PII_KINDS)}; not {shown(unknown[0])}")
        self.kinds = tuple(kinds)
        self.roles = tuple(roles)
        self.name = name
        self.priority = priority
        self.autonomy = autonomy
        self._scans: dict[tuple[int, str], _Scan] = {}

    def __repr__(self) -> str:
        return f"PIIPolicy(kinds={list(self.kinds)})"

    def to_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this policy when the tract is reopened."""
        return {"kinds": list(self.kinds), "roles": list(self.roles), "name": self.name, "priority": self.priority}

    def _new_commits(self, tract: Tract, seen: str | None) -> list[CommitInfo]:
        """The commits after ``seen`` in HEAD's history, newest first (HEAD alone if ``seen`` is not
        among the last 64: a first look, a reset or a switch)."""
        if seen is not None:
            for limit in (4, 64):  # usually one new commit: read a few first
                commits = tract.log(limit)
                hashes = [c.hash for c in commits]
                if seen in hashes:
                    return commits[: hashes.index(seen)]
        return tract.log(1)

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        """A SKIP annotation for the oldest new message with personal data, or None."""
        head = tract.head
        if head is None:
            return None
        key = (id(tract.store), tract.tract_id)
        scan = self._scans.setdefault(key, _Scan(None))
        if scan.head != head:
            for commit in reversed(self._new_commits(tract, scan.head)):
                if commit.role not in self.roles:
                    continue
                kinds = find_pii(_texts(commit), self.kinds)
                if kinds:
                    target = commit.response_to if commit.operation == Operation.EDIT else commit.hash
                    scan.queue.append((target or commit.hash, commit.role, kinds))
            scan.head = head
        while scan.queue:
            target, role, kinds = scan.queue.popleft()
            if not tract.contains(target) or tract.show(target).annotations:
                continue  # gone from the history, or someone already decided about it
            return PolicyAction(
                "annotate",
                {"target": target, "priority": Priority.SKIP.value, "reason": f"PIIPolicy: {', '.join(kinds)}"},
                reason=f"Message {target[:12]} ({role}) contains personal data ({', '.join(kinds)}); skip it",
                risk="low",
            )
        return None


class SkipOldToolOutputs:
    """Skips tool outputs more than ``turns`` user turns old, to save tokens.

    Evaluated after each compile: it walks the compiled context (already in memory) from the end,
    counting user messages, and collects the tool results that have more than ``turns`` user
    messages after them. Its action (a custom kind, ``skip``, which this policy executes) gives
    them all a SKIP annotation in one transaction, and the compile that triggered it returns the
    context without them. Compile keeps tool calls and results in pairs: a skipped result takes
    its call out of the assistant message (and the message, if nothing else is left), so the
    context stays valid for every provider. A tool output someone has annotated (pinned, or
    restored with NORMAL) is left alone.

    Low risk (hiding is reversible), so it executes in ``collaborative`` mode. Its ``skip`` kind
    can only be executed by a process that can import this policy.

    Args:
        turns: How many user turns a tool output stays visible.
        name: The policy's name; priority: lower runs first; autonomy: overrides the tract's.

    Raises:
        InvalidInputError: ``turns`` is not a non-negative integer.
    """

    trigger = "compile"

    def __init__(
        self, turns: int = 10, *, name: str = "old-tool-outputs", priority: int = 50, autonomy: str | None = None
    ) -> None:
        if isinstance(turns, bool) or not isinstance(turns, int) or turns < 0:
            raise InvalidInputError(f"SkipOldToolOutputs turns must be a non-negative integer, not {shown(turns)}")
        self.turns = turns
        self.name = name
        self.priority = priority
        self.autonomy = autonomy

    def __repr__(self) -> str:
        return f"SkipOldToolOutputs(turns={self.turns})"

    def to_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this policy when the tract is reopened."""
        return {"turns": self.turns, "name": self.name, "priority": self.priority}

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        """A ``skip`` action for the tool outputs past ``turns`` user turns, or None."""
        context = tract.compile()  # inside a policy pass: no new evaluation, and usually cached
        later_turns = 0
        old: list[str] = []
        for entry in reversed(context.entries()):
            if entry.role == "user":
                later_turns += 1
            elif entry.role == "tool" and later_turns > self.turns and entry.priority is Priority.NORMAL:
                old.append(entry.commit)
        targets = [commit for commit in reversed(old) if not tract.show(commit).annotations]
        if not targets or context.head is None:
            return None
        return PolicyAction(
            "skip",
            {"targets": targets, "head": context.head},
            reason=f"Skip {len(targets)} tool output(s) more than {self.turns} user turns old",
            risk="low",
        )

    def execute(self, tract: Tract, action: PolicyAction) -> dict[str, Any]:
        """Carry out a ``skip`` action: annotate every target SKIP, in one transaction."""
        targets = action.params["targets"]
        with tract.batch():
            for target in targets:
                tract.annotate(target, Priority.SKIP, reason=f"tool output more than {self.turns} user turns old")
        return {"skipped": len(targets)}
