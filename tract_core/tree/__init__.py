"""The context tree (DESIGN 14): regions, cycles and coordinates of a compiled context, temporal
addresses, snapshots with canonical bytes, and PACT diffs. All of it is computed from history, so
it is deterministic and identical on every backend.

- :mod:`.coordinates`: ``^sys`` / ``^seq`` / ``^ah`` and ``(depth, index, offset)`` of each message.
- :mod:`.temporal`: ``@t0``, ``@t-k``, ``@t-a..@t-b``, ``@history``.
- :mod:`.snapshot`: :class:`Snapshot` and :class:`Node`.
- :mod:`.diff`: :func:`diff_snapshots`, PACT's ``{added, removed, changed}``.
- :mod:`.lifecycle`: :class:`Lifecycle` and its presets (``ttl``, ``cadence``/``window``, ``sticky``).
- :mod:`.placement`: :class:`Placement`, pre- and post-context nodes (``attach_to=``/``offset=``, ``at=``).
- :mod:`.selectors`: the selector language (``t.select("^seq .tool_result")``): :class:`Selection`,
  :class:`SelectionSeries`, :func:`parse_selector`.

``Tract.snapshot(at=...)`` and ``Tract.diff(a, b, format="pact")`` are the usual way in; see
docs/context-tree.md.
"""

from .coordinates import AH, REGIONS, SEQ, SYS, Coordinate, context_coordinates, coordinates_of_roles, region_of
from .diff import COMPARED_FIELDS, diff_snapshots
from .lifecycle import Cyclic, Lifecycle, Permanent, Sticky, Temporary
from .placement import Placement
from .selectors import Selection, SelectionSeries, parse_selector, select_snapshot
from .snapshot import SNAPSHOT_VERSION, Node, Snapshot, snapshot_of
from .temporal import HISTORY, TemporalAddress, is_temporal, parse_temporal

__all__ = [
    "SYS",
    "SEQ",
    "AH",
    "REGIONS",
    "Coordinate",
    "region_of",
    "coordinates_of_roles",
    "context_coordinates",
    "HISTORY",
    "TemporalAddress",
    "is_temporal",
    "parse_temporal",
    "SNAPSHOT_VERSION",
    "Node",
    "Snapshot",
    "snapshot_of",
    "COMPARED_FIELDS",
    "diff_snapshots",
    "Lifecycle",
    "Permanent",
    "Temporary",
    "Sticky",
    "Cyclic",
    "Placement",
    "Selection",
    "SelectionSeries",
    "parse_selector",
    "select_snapshot",
]
