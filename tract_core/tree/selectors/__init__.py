"""The selector language of the context tree (DESIGN 15): CSS-like queries over a snapshot's nodes.

``t.select("^seq .tool_result(d11..d*)")`` returns a :class:`Selection` (the nodes, in context
order); a temporal range (``"@t-5..@t-1 .user"``) a :class:`SelectionSeries`. The grammar is one
lark file, ``selector.lark`` (LALR); :func:`parse_selector` reads a query into plain data (cached per
query string) and raises :class:`~tract_core.SelectorSyntaxError` for a malformed one. The syntax,
with an example of every construct, is in docs/selectors.md.

- :mod:`.syntax`: the parser and the data a query is read into.
- :mod:`.engine`: evaluation on a compiled context, and ``Tract.select``'s work.
- :mod:`.selection`: :class:`Selection` and :class:`SelectionSeries`.

Example:
    >>> from tract_core import Tract
    >>> with Tract.open() as t:
    ...     _ = t.system("Be brief.")
    ...     _ = t.user("Weather in Paris?")
    ...     _ = t.assistant("Sunny.")
    ...     _ = t.user("And in Rome?")
    ...     picked = t.select("^seq .user, ^ah > *")
    >>> [(n.region, n.coordinate, n.role) for n in picked]
    [('^seq', (1, 0, 0), 'user'), ('^ah', (0, 0, 0), 'user')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .selection import Selection, SelectionSeries
from .syntax import SelectorQuery, parse_selector

if TYPE_CHECKING:
    from ..snapshot import Snapshot

__all__ = ["Selection", "SelectionSeries", "SelectorQuery", "parse_selector", "select_snapshot"]


def select_snapshot(snapshot: Snapshot, query: str) -> Selection:
    """The nodes ``query`` selects in a snapshot you hold (``t.snapshot()``, ``Snapshot.from_bytes``).

    A snapshot keeps no commit metadata or generation configs: an attribute that is not a node field
    is missing there (``Tract.select`` reads both). A temporal prefix is refused.

    Raises:
        SelectorSyntaxError: A malformed query.
        InvalidInputError: The query has a temporal prefix (a snapshot is one point of history).
    """
    from .engine import select_snapshot as select

    return select(snapshot, query)
