"""``tract log --graph``: the commit graph drawn in lanes, as ``git log --graph`` does.

:func:`graph_lines` lays the graph out as plain lines; :func:`print_graph` draws HEAD's history (or
every branch's) in color, with the refs beside their commits.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from .. import CommitInfo, Tract
from .render import ROLE_STYLES, commit_summary, print_line, short

__all__ = ["graph_lines", "print_graph"]

_LANE_STYLES = ("red", "green", "yellow", "blue", "magenta", "cyan")


@dataclass(frozen=True)
class _GraphRow:
    """One line of the commit graph: lane characters, and the commit drawn on it (None for a
    line that only connects lanes)."""

    graph: str
    commit: str | None = None


def _graph_rows(commits: Iterable[tuple[str, Sequence[str]]]) -> list[_GraphRow]:
    """Lay out the lanes of a commit graph, as ``git log --graph`` does.

    Each lane (two characters wide) waits for one commit. A commit is drawn as ``*`` in its lane
    (a new lane on the right if nothing waits for it); its lane then waits for its parents, the
    first parent in place and any further parent in a lane inserted to its right. A parent that a
    lane further left already waits for is joined there (``/``), so a fork point is drawn once.
    Lines of ``/`` and ``\\`` connect the lanes of one commit line to those of the next; a lane
    that moves several columns takes one line per column, all leftward moves before rightward ones
    (so no two moves share a character).

    Args:
        commits: ``(hash, parents)`` pairs, every commit before its parents (log order).
    """
    rows: list[_GraphRow] = []
    lanes: list[str] = []
    for commit, parents in commits:
        column = _lane_for(lanes, commit)
        following: list[str] = []
        edges: list[tuple[int, int]] = []  # (lane on the commit line, lane on the next commit line)
        for index, waiting_for in enumerate(lanes):
            if index == column:
                edges.extend((index, _lane_for(following, parent)) for parent in dict.fromkeys(parents))
            else:
                edges.append((index, _lane_for(following, waiting_for)))
        cells = "".join("* " if index == column else "| " for index in range(len(lanes)))
        rows.append(_GraphRow(cells.ljust(2 * max(len(lanes), len(following))), commit))
        rows.extend(_GraphRow(line) for line in _connecting_lines(edges))
        lanes = following
    return rows


def _lane_for(lanes: list[str], commit: str) -> int:
    """The lane waiting for ``commit``, added on the right if none is."""
    if commit not in lanes:
        lanes.append(commit)
    return lanes.index(commit)


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


def graph_lines(
    commits: Iterable[tuple[str, Sequence[str]]],
    labels: Mapping[str, Sequence[str]] | None = None,
    messages: Mapping[str, str] | None = None,
) -> list[str]:
    """The commit graph as plain lines, like ``git log --graph --oneline``.

    Args:
        commits: ``(hash, parents)`` pairs in log order: every commit before its parents.
        labels: Ref names to show beside a commit, e.g. ``{hash: ["HEAD -> main", "feature"]}``.
        messages: A one-line message per commit.

    Returns:
        One line per commit (graph, short hash, labels in parentheses, message), with lines of
        ``|``, ``/`` and ``\\`` between them where lanes fork, merge or move.

    Example:
        >>> for line in graph_lines([("m", ["b", "f"]), ("f", ["a"]), ("b", ["a"]), ("a", [])],
        ...                         labels={"m": ["HEAD -> main"], "f": ["feature"]}):
        ...     print(line)
        *   m (HEAD -> main)
        |\\
        | * f (feature)
        * | b
        |/
        * a
    """
    lines = []
    for row in _graph_rows(commits):
        if row.commit is None:
            lines.append(row.graph)
            continue
        line = row.graph + short(row.commit)
        names = (labels or {}).get(row.commit)
        if names:
            line += f" ({', '.join(names)})"
        message = (messages or {}).get(row.commit)
        if message:
            line += f" {message}"
        lines.append(line)
    return lines


def _merge_logs(logs: Iterable[Sequence[CommitInfo]]) -> list[CommitInfo]:
    """One log of several: every commit once, each before its parents, otherwise in the given order.

    A stable topological sort: of the commits whose children have all been listed, the one met
    first in ``logs`` (read in order) comes next. Each log must list its commits before their
    parents (as :meth:`Tract.log` does); a log already in that order comes out unchanged.
    """
    found: dict[str, CommitInfo] = {}
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
    merged: list[CommitInfo] = []
    while ready:
        commit = found[order[heapq.heappop(ready)]]
        merged.append(commit)
        for parent in set(commit.parents):
            if parent in children:
                children[parent] -= 1
                if children[parent] == 0:
                    heapq.heappush(ready, rank[parent])
    return merged


def _ref_labels(t: Tract) -> dict[str, list[str]]:
    """The names to show beside each commit: ``HEAD -> branch`` (or ``HEAD``), then the branches."""
    labels: dict[str, list[str]] = {}
    branches = t.list_branches()
    head = t.head
    if head is not None and not any(branch.current for branch in branches):
        labels.setdefault(head, []).append("HEAD")
    for branch in sorted(branches, key=lambda b: not b.current):
        if branch.commit is not None:
            labels.setdefault(branch.commit, []).append(f"HEAD -> {branch.name}" if branch.current else branch.name)
    return labels


def _graph_history(
    t: Tract, limit: int | None, every_branch: bool, start: str | None = None
) -> tuple[list[CommitInfo], bool]:
    """The commits to draw (HEAD's or ``start``'s history, or every branch's) and whether older ones exist."""
    if every_branch:
        logs: list[list[CommitInfo]] = []
        seen: set[str] = set()
        tips = [t.head, *(branch.commit for branch in t.list_branches())]
        for tip in tips:
            if tip is not None and tip not in seen:  # a commit seen brings its whole history
                logs.append(t.log(limit=None, start=tip))
                seen.update(commit.hash for commit in logs[-1])
        commits = _merge_logs(logs)
    else:
        commits = t.log(limit=None if limit is None else limit + 1, start=start or "HEAD")
    more = limit is not None and len(commits) > limit
    return (commits[:limit] if more else commits), more


def _render_graph(commits: Sequence[CommitInfo], labels: Mapping[str, Sequence[str]]) -> list[Text]:
    """The lines of :func:`graph_lines`, colored: lanes by column, hashes, refs and roles."""
    by_hash = {commit.hash: commit for commit in commits}
    lines = []
    for row in _graph_rows((commit.hash, commit.parents) for commit in commits):
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, char in enumerate(row.graph):
            style = "bold" if char == "*" else _LANE_STYLES[index // 2 % len(_LANE_STYLES)]
            text.append(char, style=style if char != " " else "")
        if row.commit is not None:
            commit = by_hash[row.commit]
            text.append(commit.short_hash, style="yellow")
            names = labels.get(commit.hash)
            if names:
                text.append(" (", style="yellow")
                for index, name in enumerate(names):
                    if index:
                        text.append(", ", style="yellow")
                    if name.startswith("HEAD"):
                        text.append(name, style="bold cyan")
                    else:
                        text.append(name, style="bold green")
                text.append(")", style="yellow")
            message = commit_summary(commit)
            if commit.role is not None:
                text.append(" ")
                text.append(message[: len(commit.role)], style=ROLE_STYLES.get(commit.role, "white"))
                text.append(message[len(commit.role) :])
            else:
                text.append(f" {message}", style="dim")
        lines.append(text)
    return lines


def print_graph(t: Tract, out: Console, limit: int | None, every_branch: bool, start: str | None = None) -> None:
    """Print the commit graph of ``tract log --graph``: HEAD's history (or ``start``'s), or every branch's.

    Args:
        t: The tract.
        out: Where to print.
        limit: At most this many commits (None: all).
        every_branch: Draw every branch, not only HEAD's history.
        start: Draw this commit's history instead of HEAD's (a branch, hash prefix, ``HEAD~N``...).
    """
    commits, more = _graph_history(t, limit, every_branch, start)
    if not commits:
        out.print(Text(f"tract {t.tract_id!r} has no commits yet", style="dim"))
        return
    for line in _render_graph(commits, _ref_labels(t)):
        print_line(out, line)  # never wrapped (that would break the lanes): the message is cut
    if more:
        out.print(Text("older commits exist: --limit 0 lists all", style="dim"))
