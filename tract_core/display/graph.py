"""The commit graph: lanes laid out as ``git log --graph`` does, drawn as text lines or as SVG.

:func:`lane_layout` is the one layout: which lane each commit sits in and where every lane goes on
the next commit line. ``tract log --graph`` draws it as text (:func:`graph_rows`), the notebook views
as SVG (:func:`graph_svg`, and :func:`row_svgs` for one slice per table row). :func:`merge_logs`,
:func:`ref_labels` and :func:`history` gather what to draw from a tract.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .html import esc, short

__all__ = [
    "LaneRow",
    "GraphRow",
    "LANE_COLOURS",
    "lane_layout",
    "graph_rows",
    "merge_logs",
    "ref_labels",
    "history",
    "recent_history",
    "RECENT_BRANCHES",
    "branched",
    "graph_svg",
    "row_svgs",
]

LANE_COLOURS = ("#ef4444", "#22c55e", "#eab308", "#3b82f6", "#d946ef", "#06b6d4")
"""The colour of each lane, by column (the CLI's red, green, yellow, blue, magenta, cyan)."""


@dataclass(frozen=True)
class LaneRow:
    """One commit line of the graph.

    Attributes:
        commit: The commit drawn on this line.
        column: Its lane.
        lanes: Lanes on this line.
        following: Lanes on the next commit line.
        edges: ``(lane here, lane on the next commit line)`` for every lane that goes on: each
            waiting lane, and one edge per parent from the commit's own lane.
    """

    commit: str
    column: int
    lanes: int
    following: int
    edges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class GraphRow:
    """One text line of the commit graph: lane characters, and the commit drawn on it (None for a
    line that only connects lanes)."""

    graph: str
    commit: str | None = None


def lane_layout(commits: Iterable[tuple[str, Sequence[str]]]) -> list[LaneRow]:
    """Lay out the lanes of a commit graph, as ``git log --graph`` does.

    Each lane waits for one commit. A commit is drawn in its lane (a new lane on the right if nothing
    waits for it); its lane then waits for its parents, the first parent in place and any further
    parent in a lane inserted to its right. A parent that a lane further left already waits for is
    joined there, so a fork point is drawn once.

    Args:
        commits: ``(hash, parents)`` pairs, every commit before its parents (log order).
    """
    rows: list[LaneRow] = []
    lanes: list[str] = []
    for commit, parents in commits:
        column = _lane_for(lanes, commit)
        following: list[str] = []
        edges: list[tuple[int, int]] = []
        for index, waiting_for in enumerate(lanes):
            if index == column:
                edges.extend((index, _lane_for(following, parent)) for parent in dict.fromkeys(parents))
            else:
                edges.append((index, _lane_for(following, waiting_for)))
        rows.append(LaneRow(commit, column, len(lanes), len(following), tuple(edges)))
        lanes = following
    return rows


def _lane_for(lanes: list[str], commit: str) -> int:
    """The lane waiting for ``commit``, added on the right if none is."""
    if commit not in lanes:
        lanes.append(commit)
    return lanes.index(commit)


def graph_rows(commits: Iterable[tuple[str, Sequence[str]]]) -> list[GraphRow]:
    """:func:`lane_layout` as text lines: ``*`` for a commit and ``|`` for a lane (two characters a
    lane), with lines of ``/`` and ``\\`` between commit lines where lanes move. A lane that moves
    several columns takes one line per column, all leftward moves before rightward ones (so no two
    moves share a character).

    Args:
        commits: ``(hash, parents)`` pairs, every commit before its parents (log order).
    """
    rows: list[GraphRow] = []
    for row in lane_layout(commits):
        cells = "".join("* " if index == row.column else "| " for index in range(row.lanes))
        rows.append(GraphRow(cells.ljust(2 * max(row.lanes, row.following)), row.commit))
        rows.extend(GraphRow(line) for line in _connecting_lines(row.edges))
    return rows


def _connecting_lines(edges: Sequence[tuple[int, int]]) -> list[str]:
    """The lines that move each edge from its lane to its next lane, one column per line."""
    if all(start == end for start, end in edges):
        return []
    at = [start for start, _ in edges]
    lines: list[str] = []
    for step, mark in ((-1, "/"), (1, "\\")):
        while any((end - position) * step > 0 for position, (_, end) in zip(at, edges, strict=True)):
            chars: dict[int, str] = {}
            for index, (_, end) in enumerate(edges):
                if (end - at[index]) * step > 0:
                    chars[2 * at[index] + step] = mark
                    at[index] += step
                else:
                    chars[2 * at[index]] = "|"
            lines.append("".join(chars.get(i, " ") for i in range(max(chars) + 1)))
    return lines


def merge_logs(logs: Iterable[Sequence[Any]]) -> list[Any]:
    """One log of several: every commit once, each before its parents, otherwise in the given order.

    A stable topological sort: of the commits whose children have all been listed, the one met
    first in ``logs`` (read in order) comes next. Each log must list its commits (anything with
    ``hash`` and ``parents``) before their parents, as ``Tract.log`` does; a log already in that
    order comes out unchanged.
    """
    found: dict[str, Any] = {}
    for log in logs:
        for commit in log:
            found.setdefault(commit.hash, commit)
    order = list(found)
    rank = {hash: index for index, hash in enumerate(order)}
    children = dict.fromkeys(order, 0)
    for commit in found.values():
        for parent in set(commit.parents):
            if parent in children:
                children[parent] += 1
    ready = [rank[hash] for hash, count in children.items() if count == 0]
    heapq.heapify(ready)
    merged: list[Any] = []
    while ready:
        commit = found[order[heapq.heappop(ready)]]
        merged.append(commit)
        for parent in set(commit.parents):
            if parent in children:
                children[parent] -= 1
                if children[parent] == 0:
                    heapq.heappush(ready, rank[parent])
    return merged


def ref_labels(branches: Sequence[Any], head: str | None) -> dict[str, list[str]]:
    """The names to show beside each commit: ``HEAD -> branch`` (or ``HEAD`` when detached), then the
    other branches.

    Args:
        branches: The tract's branches (``list_branches()``).
        head: The commit HEAD points at.
    """
    labels: dict[str, list[str]] = {}
    if head is not None and not any(branch.current for branch in branches):
        labels.setdefault(head, []).append("HEAD")
    for branch in sorted(branches, key=lambda b: not b.current):
        if branch.commit is not None:
            labels.setdefault(branch.commit, []).append(f"HEAD -> {branch.name}" if branch.current else branch.name)
    return labels


def history(tract: Any, limit: int | None, every_branch: bool, start: str | None = None) -> tuple[list[Any], bool]:
    """The commits to draw of a tract (HEAD's or ``start``'s history, or every branch's, newest
    first) and whether older ones exist beyond ``limit``."""
    if every_branch:
        logs: list[Sequence[Any]] = []
        seen: set[str] = set()
        tips = [tract.head, *(branch.commit for branch in tract.list_branches())]
        for tip in tips:
            if tip is not None and tip not in seen:  # a commit seen brings its whole history
                logs.append(tract.log(limit=None, start=tip))
                seen.update(commit.hash for commit in logs[-1])
        commits = merge_logs(logs)
    else:
        commits = list(tract.log(limit=None if limit is None else limit + 1, start=start or "HEAD"))
    more = limit is not None and len(commits) > limit
    return (commits[:limit] if more else commits), more


RECENT_BRANCHES = 12
"""At most this many branches (the most recently committed to) are drawn by :func:`recent_history`."""


def recent_history(tract: Any, per_branch: int) -> tuple[list[Any], bool]:
    """The newest ``per_branch`` commits of HEAD and of the branches committed to most recently (at
    most :data:`RECENT_BRANCHES`), merged (each before its parents), and whether anything older or
    left out exists: a bounded read, whatever the size of the history or the number of branches."""
    branches = sorted(tract.list_branches(), key=lambda b: b.last_commit_at or 0.0, reverse=True)
    logs: list[Sequence[Any]] = []
    more = len(branches) > RECENT_BRANCHES
    seen: set[str] = set()
    for tip in [tract.head, *(branch.commit for branch in branches[:RECENT_BRANCHES])]:
        if tip is not None and tip not in seen:
            log = list(tract.log(limit=per_branch + 1, start=tip))
            more = more or len(log) > per_branch
            logs.append(log[:per_branch])
            seen.update(commit.hash for commit in logs[-1])
    return merge_logs(logs), more


def branched(layout: Sequence[LaneRow]) -> bool:
    """Whether the graph has more than one lane anywhere (a fork or a merge is drawn)."""
    return any(row.lanes > 1 or row.following > 1 for row in layout)


ROW = 22
"""Height of one commit line in the SVG, in pixels."""
LANE = 14
"""Width of one lane in the SVG, in pixels."""
_MONO_FONTS = "ui-monospace,Menlo,Consolas,monospace"


def _x(column: int) -> float:
    return LANE * column + LANE / 2 + 2


def _y(row: int) -> float:
    return ROW * row + ROW / 2


def _colour(column: int) -> str:
    return LANE_COLOURS[column % len(LANE_COLOURS)]


def _lanes_width(layout: Sequence[LaneRow]) -> int:
    return LANE * max((max(r.lanes, r.following) for r in layout), default=1) + 4


def _row_shapes(layout: Sequence[LaneRow], index: int, heads: frozenset[str]) -> list[str]:
    """The SVG shapes that touch commit line ``index``: the edges into it, the edges out of it, its dot."""
    shapes = []
    for at in (index - 1, index):
        if at < 0:
            continue
        for start, end in layout[at].edges:
            x1, y1, x2, y2 = _x(start), _y(at), _x(end), _y(at + 1)
            colour = _colour(max(start, end))
            if start == end:
                shapes.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="2"/>')
            else:
                middle = (y1 + y2) / 2
                shapes.append(
                    f'<path d="M{x1} {y1} C{x1} {middle} {x2} {middle} {x2} {y2}" fill="none" '
                    f'stroke="{colour}" stroke-width="2"/>'
                )
    row = layout[index]
    ring = ' stroke="currentColor" stroke-width="2"' if row.commit in heads else ""
    shapes.append(f'<circle cx="{_x(row.column)}" cy="{_y(index)}" r="4.5" fill="{_colour(row.column)}"{ring}/>')
    return shapes


def row_svgs(layout: Sequence[LaneRow], heads: Iterable[str] = ()) -> list[str]:
    """One small SVG per commit line (``ROW`` pixels high, all as wide), to sit in a table row: put
    together, they draw the whole graph."""
    width = _lanes_width(layout)
    marked = frozenset(heads)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{ROW}" '
        f'viewBox="0 {ROW * index} {width} {ROW}" style="display:block;overflow:hidden">'
        + "".join(_row_shapes(layout, index, marked))
        + "</svg>"
        for index in range(len(layout))
    ]


def graph_svg(
    commits: Sequence[Any], labels: Mapping[str, Sequence[str]] | None = None, *, more: bool = False, width: int = 900
) -> str:
    """The commit graph as one SVG: a dot per commit in its lane, lines to its parents, then its
    short hash, ref names and a one-line preview.

    Args:
        commits: Commits (``hash``, ``parents`` and optionally ``preview()``), each before its parents.
        labels: Ref names per commit (``{hash: ["HEAD -> main"]}``).
        more: Older commits exist: the lanes run on past the last line, and a note says so.
        width: Width of the drawing in pixels (longer text is cut off).
    """
    labels = labels or {}
    layout = lane_layout((c.hash, tuple(c.parents)) for c in commits)
    heads = frozenset(h for h, names in labels.items() if any(n.startswith("HEAD") for n in names))
    text_x = _lanes_width(layout) + 6
    parts: list[str] = []
    for index, commit in enumerate(commits):
        parts.extend(_row_shapes(layout, index, heads))
        y = _y(index) + 4
        names = labels.get(commit.hash, ())
        text = [f'<tspan fill="#d97706" font-family="{_MONO_FONTS}">{esc(short(commit.hash))}</tspan>']
        if names:
            text.append(f'<tspan font-weight="bold" fill="#0891b2"> ({esc(", ".join(names))})</tspan>')
        preview = commit.preview(72) if hasattr(commit, "preview") else ""
        role = getattr(commit, "role", None)
        if role:
            text.append(f'<tspan opacity="0.7"> {esc(role)}:</tspan>')
        if preview:
            text.append(f"<tspan> {esc(preview)}</tspan>")
        parts.append(f'<text x="{text_x}" y="{y}" font-size="12" fill="currentColor">{"".join(text)}</text>')
    height = ROW * len(commits) + (ROW if more else 0)
    if more:
        parts.append(
            f'<text x="{text_x}" y="{ROW * len(commits) + 15}" font-size="11" fill="currentColor" opacity="0.6">'
            "… older commits</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="display:block;overflow:hidden;color:inherit;'
        f'font-family:system-ui,sans-serif">{"".join(parts)}</svg>'
    )
