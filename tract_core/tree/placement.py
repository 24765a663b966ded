"""Pre- and post-context: a message shown right before or after another one (DESIGN 14).

A *core* node is a message at its own place in history. ``t.commit(..., attach_to=h, offset=-1)``
(or ``at=(depth, index, offset)``, coordinates in the current context) makes the new message a
node *attached* to message ``h``: compile shows it right before ``h`` (a negative offset: pre-context)
or right after it (positive: post-context), whatever came in between, cycle after cycle. Nodes
attached to one message are ordered by offset, then by history; they take the message's depth and
index in the tree, and their own offset. The placement is part of the hashed commit, like the
lifecycle, so the tree is the same on every run and backend.

Rules, all computed from history:

- The anchor is the APPEND commit of a message in HEAD's history (an EDIT names the message it edits);
  it must be a core node itself (attach to the message, not to another attachment).
- An attached node is context, not a turn: a ``user``, ``system`` or ``developer`` message without
  tool calls. Replies and tool results are core nodes (they seal cycles and pair up).
- Only the place follows the anchor: an attached node keeps its own priority and lifecycle (SKIP the
  anchor and the node still shows, where the anchor would be; give both the same lifecycle to make
  them come and go together). A sticky lifecycle wins over a placement: the node is shown next to
  the active head.
- If the anchor is not in the history being compiled (a cherry-pick to a line without it, or a
  compression that summarised the anchor away), the node is a core node at its own place.

Example:
    >>> from tract_core import Tract
    >>> with Tract.open() as t:
    ...     _ = t.system("Be brief.")
    ...     question = t.user("What is 6 x 7?")
    ...     _ = t.user("(answer in digits)", attach_to=question, offset=1)
    ...     _ = t.user("(quiz mode)", attach_to=question, offset=-1)
    ...     [m["content"] for m in t.compile().messages]
    ['Be brief.', '(quiz mode)', 'What is 6 x 7?', '(answer in digits)']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError, damaged, shown

__all__ = ["Placement", "placement_of_json", "check_offset", "display_order", "ATTACHABLE_ROLES"]

ATTACHABLE_ROLES = frozenset({"user", "system", "developer"})
"""The roles of messages that can be attached to another (context, not turns)."""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an attached node is shown: ``offset`` places before (< 0) or after (> 0) ``attach_to``.

    Attributes:
        attach_to: The APPEND commit of the anchor message.
        offset: Non-zero: negative for pre-context, positive for post-context.
    """

    attach_to: str
    offset: int

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, compact), as stored in the commit."""
        return json.dumps({"attach_to": self.attach_to, "offset": self.offset}, sort_keys=True, separators=(",", ":"))


def check_offset(offset: Any) -> int:
    """An offset of an attached node: a non-zero whole number.

    Raises:
        InvalidInputError: Anything else (0 is the message itself, the core).
    """
    if isinstance(offset, bool) or not isinstance(offset, int) or offset == 0:
        raise InvalidInputError(
            f"offset must be a non-zero whole number: negative to show the message before the one it is "
            f"attached to (pre-context), positive after it (post-context); not {shown(offset)}"
        )
    return offset


def placement_of_json(text: str | None, *, commit: str | None = None, tract_id: str | None = None) -> Placement | None:
    """The placement stored as ``text`` (see :meth:`Placement.to_json`), or None.

    Raises:
        CorruptObjectError: The text is not a stored placement (the database was changed outside tract).
    """
    if text is None:
        return None
    try:
        data = json.loads(text)
        placement = Placement(data["attach_to"], data["offset"])
        if not isinstance(placement.attach_to, str) or set(data) != {"attach_to", "offset"}:
            raise ValueError
        check_offset(placement.offset)
    except (ValueError, TypeError, KeyError, InvalidInputError):
        what = "a stored commit" if commit is None else f"commit {commit[:12]}"
        if tract_id is not None:
            what += f" of tract {tract_id!r}"
        raise damaged(what, f"its placement {shown(text)} is not a stored placement") from None
    return placement


def display_order(keys: Sequence[str], placements: Sequence[Placement | None]) -> list[int] | None:
    """The order compile shows messages in: each core message with its attached nodes around it.

    Args:
        keys: The APPEND commit of each message, in history order.
        placements: The placement of each (None for a core node), parallel to ``keys``.

    Returns:
        Positions in ``keys``, in display order; None when it is the history order (nothing attached).
    """
    if all(p is None for p in placements):
        return None
    where = {key: i for i, (key, p) in enumerate(zip(keys, placements, strict=True)) if p is None}
    before: dict[int, list[tuple[int, int]]] = {}
    after: dict[int, list[tuple[int, int]]] = {}
    for i, p in enumerate(placements):
        if p is not None and (anchor := where.get(p.attach_to)) is not None:
            (before if p.offset < 0 else after).setdefault(anchor, []).append((p.offset, i))
    if not before and not after:
        return None
    order: list[int] = []
    for i, p in enumerate(placements):
        if p is not None and p.attach_to in where:
            continue  # shown with its anchor
        order.extend(j for _, j in sorted(before.get(i, ())))
        order.append(i)
        order.extend(j for _, j in sorted(after.get(i, ())))
    return order
