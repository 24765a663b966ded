"""Where each message of a compiled context sits in the context tree: its region and its
``(depth, index, offset)`` coordinates (DESIGN 14).

One *cycle* is one provider call, and the assistant message that records the reply seals it. On a
compiled context:

- the leading run of ``system`` / ``developer`` messages (the system prompt, and a system summary
  compile placed right after it) is the system region ``^sys``, depth -1;
- every other message's depth is the number of assistant messages at or after it: depth 1 is the
  last sealed exchange, 2 the one before, and so on (the region ``^seq``);
- the messages after the last assistant message are depth 0, the active head ``^ah``: what is
  being prepared for the next call.

``index`` orders the core messages of one depth (0, 1, ...); ``offset`` is 0 for them. A message
attached to another one (``t.commit(..., attach_to=h, offset=-1)``, see :mod:`.placement`) takes the
depth and index of the message it is attached to and its own offset: negative for pre-context, shown
before it, positive for post-context, after it. (When that message is not shown, the attached one is
a core node at its place.) Everything here is a pure function of the roles and placements, linear in
the number of messages.

Example:
    >>> [str(c) for c in coordinates_of_roles(["system", "user", "assistant", "user"])]
    ['^sys(-1,0,0)', '^seq(1,0,0)', '^seq(1,1,0)', '^ah(0,0,0)']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SYS",
    "SEQ",
    "AH",
    "REGIONS",
    "SYSTEM_ROLES",
    "Coordinate",
    "region_of",
    "coordinates_of_roles",
    "coordinates_of_nodes",
    "context_coordinates",
]

SYS = "^sys"
"""The system region: the leading system/instruction messages (depth -1)."""
SEQ = "^seq"
"""The sealed history: messages of cycles already sent and answered (depth >= 1)."""
AH = "^ah"
"""The active head: what follows the last assistant message (depth 0)."""
REGIONS = (SYS, SEQ, AH)
"""The regions in linearisation order."""
SYSTEM_ROLES = frozenset({"system", "developer"})
"""The roles whose leading run forms the system region."""


def region_of(depth: int) -> str:
    """The region of a depth: ``^sys`` for -1, ``^ah`` for 0, ``^seq`` for 1 and more.

    Example:
        >>> [region_of(d) for d in (-1, 0, 3)]
        ['^sys', '^ah', '^seq']
    """
    if depth < 0:
        return SYS
    return AH if depth == 0 else SEQ


@dataclass(frozen=True, slots=True, order=True)
class Coordinate:
    """A node's place in the tree.

    Attributes:
        depth: -1 in the system region, 0 in the active head, k >= 1 for the cycle sealed k
            assistant messages ago.
        index: The node's position among the messages of its depth (0, 1, ...).
        offset: 0 for a core node; negative for pre-context, positive for post-context of the
            core node at ``(depth, index, 0)``.
    """

    depth: int
    index: int
    offset: int = 0

    @property
    def region(self) -> str:
        """``^sys``, ``^seq`` or ``^ah`` (see :func:`region_of`)."""
        return region_of(self.depth)

    def __str__(self) -> str:
        return f"{self.region}({self.depth},{self.index},{self.offset})"


def coordinates_of_roles(roles: Iterable[str]) -> list[Coordinate]:
    """The coordinates of core messages with these roles, in context order.

    Args:
        roles: The role of each message of a compiled context, in order (none attached to another).

    Returns:
        One :class:`Coordinate` per message.
    """
    roles = list(roles)
    leading = 0
    while leading < len(roles) and roles[leading] in SYSTEM_ROLES:
        leading += 1
    remaining = sum(1 for role in roles[leading:] if role == "assistant")
    result = [Coordinate(-1, i) for i in range(leading)]
    index = 0
    for role in roles[leading:]:
        result.append(Coordinate(remaining, index))
        index += 1
        if role == "assistant":  # the reply seals its cycle: what follows is one cycle newer
            remaining, index = remaining - 1, 0
    return result


def coordinates_of_nodes(roles: Sequence[str], keys: Sequence[str], anchors: Sequence[Any]) -> list[Coordinate]:
    """The coordinates of the messages of a compiled context, attached ones included.

    Args:
        roles: The role of each message, in context order.
        keys: The APPEND commit of each.
        anchors: For each, ``(attach_to, offset)`` when it is attached to another message, else None.

    Returns:
        One :class:`Coordinate` per message: core ones by :func:`coordinates_of_roles`, attached ones
        at their anchor's depth and index with their offset (core ones when the anchor is not shown).
    """
    shown = set(keys)
    attached = [a is not None and a[0] in shown for a in anchors]
    if not any(attached):
        return coordinates_of_roles(roles)
    core = [i for i, a in enumerate(attached) if not a]
    placed = dict(zip((keys[i] for i in core), coordinates_of_roles(roles[i] for i in core), strict=True))
    result = []
    for key, anchor, is_attached in zip(keys, anchors, attached, strict=True):
        if is_attached:
            base = placed[anchor[0]]
            result.append(Coordinate(base.depth, base.index, anchor[1]))
        else:
            result.append(placed[key])
    return result


def context_coordinates(context: Any) -> list[Coordinate]:
    """The coordinates of every message of a compiled context.

    Args:
        context: A :class:`~tract_core.CompiledContext` made by ``Tract.compile()`` (its
            ``outline()`` and compile's slots are read, no message is copied).

    Raises:
        InvalidInputError: The context was built by hand, not by ``Tract.compile()``.
    """
    outline = list(context.outline())
    roles = [role for _, role, _, _, _ in outline]
    slots = context._slots if context._slots is not None else ()
    anchors = [None if s.placement is None else (s.placement.attach_to, s.placement.offset) for s in slots]
    if not any(a is not None for a in anchors):
        return coordinates_of_roles(roles)
    return coordinates_of_nodes(roles, [key for key, _, _, _, _ in outline], anchors)
