"""Message-level diffs between two compiled contexts."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from . import display
from .formats import CompiledContext

__all__ = ["MessageChange", "ContextDiff", "diff_contexts"]


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, indent=1)
    extras = {k: v for k, v in message.items() if k not in ("role", "content")}
    if extras:
        text += "\n" + json.dumps(extras, ensure_ascii=False, sort_keys=True, indent=1)
    return text


@dataclass(frozen=True)
class MessageChange:
    """One difference between two contexts.

    Attributes:
        kind: ``"added"``, ``"removed"`` or ``"changed"``.
        index_a: Position in the first context (None for an added message).
        index_b: Position in the second context (None for a removed message).
        hash_a: Commit of the message in the first context.
        hash_b: Commit of the message in the second context.
        before: The message in the first context (None if added).
        after: The message in the second context (None if removed).
        unified: For a change, a unified diff of the message text.
    """

    kind: str
    index_a: int | None
    index_b: int | None
    hash_a: str | None
    hash_b: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    unified: str = ""

    @property
    def role(self) -> str:
        """The role of the message (after the change, if any)."""
        message = self.after or self.before or {}
        return str(message.get("role", ""))


@dataclass(frozen=True)
class ContextDiff:
    """What changed between two compiled contexts, message by message.

    Attributes:
        a: Commit of the first context.
        b: Commit of the second context.
        changes: Every change, in the order of the second context.
        token_delta: ``tokens(b) - tokens(a)``.
    """

    a: str | None
    b: str | None
    changes: tuple[MessageChange, ...]
    token_delta: int

    @property
    def added(self) -> list[MessageChange]:
        """Messages only in the second context."""
        return [c for c in self.changes if c.kind == "added"]

    @property
    def removed(self) -> list[MessageChange]:
        """Messages only in the first context."""
        return [c for c in self.changes if c.kind == "removed"]

    @property
    def changed(self) -> list[MessageChange]:
        """Messages present in both whose content differs."""
        return [c for c in self.changes if c.kind == "changed"]

    @property
    def is_empty(self) -> bool:
        """True when both contexts are identical."""
        return not self.changes

    def __bool__(self) -> bool:
        return not self.is_empty

    def render(self) -> str:
        """A readable text rendering: one block per change."""
        if not self.changes:
            return "no differences"
        lines = []
        for change in self.changes:
            where = change.index_b if change.index_b is not None else change.index_a
            if change.kind == "added":
                lines.append(f"+ [{where}] {change.role}: {_text(change.after or {})}")
            elif change.kind == "removed":
                lines.append(f"- [{where}] {change.role}: {_text(change.before or {})}")
            else:
                lines.append(f"~ [{where}] {change.role}:\n{change.unified.rstrip()}")
        sign = "+" if self.token_delta >= 0 else ""
        lines.append(f"tokens: {sign}{self.token_delta}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def _repr_html_(self) -> str:
        """The notebook view: the two contexts side by side, removed, added and changed messages marked."""
        return display.diff_html(self)

    def __rich__(self) -> Any:
        """The terminal view (``rich.print(diff)``): a before / after table."""
        return display.diff_rich(self)


def _changed(i: int, j: int, ha: str, hb: str, before: dict, after: dict, a: str, b: str) -> MessageChange:
    diff = difflib.unified_diff(
        _text(before).splitlines(), _text(after).splitlines(), fromfile=f"{a}:{i}", tofile=f"{b}:{j}", lineterm=""
    )
    return MessageChange("changed", i, j, ha, hb, before, after, "\n".join(diff))


def diff_contexts(a: CompiledContext, b: CompiledContext) -> ContextDiff:
    """Compare two contexts.

    Messages are matched by the commit that created them, so an EDIT shows up as a change of
    that message. Where one side has messages the other lacks at the same place (two drafts on two
    branches), same-role messages are paired up as changes so their text can be compared.
    """
    ma, mb = a.messages, b.messages
    ka, kb = list(a.commit_hashes), list(b.commit_hashes)
    name_a, name_b = (a.head or "empty")[:8], (b.head or "empty")[:8]
    changes: list[MessageChange] = []
    matcher = difflib.SequenceMatcher(a=ka, b=kb, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                if ma[i] != mb[j]:
                    changes.append(_changed(i, j, ka[i], kb[j], ma[i], mb[j], name_a, name_b))
            continue
        left, right = list(range(i1, i2)), list(range(j1, j2))
        while left and right and ma[left[0]]["role"] == mb[right[0]]["role"]:
            i, j = left.pop(0), right.pop(0)
            if ma[i] != mb[j]:
                changes.append(_changed(i, j, ka[i], kb[j], ma[i], mb[j], name_a, name_b))
        changes.extend(MessageChange("removed", i, None, ka[i], None, ma[i], None) for i in left)
        changes.extend(MessageChange("added", None, j, None, kb[j], None, mb[j]) for j in right)
    return ContextDiff(a.head, b.head, tuple(changes), b.token_count - a.token_count)
