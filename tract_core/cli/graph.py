"""``tract log --graph``: the commit graph drawn in lanes, as ``git log --graph`` does.

:func:`graph_lines` gives the graph as plain lines; :func:`print_graph` draws HEAD's history (or
every branch's) in color, with the refs beside their commits. The lane layout is
:mod:`tract_core.display.graph`'s, shared with the notebook views.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rich.console import Console
from rich.text import Text

from .. import CommitInfo, Tract
from ..display.graph import graph_rows, history, merge_logs, ref_labels
from .render import ROLE_STYLES, commit_summary, print_line, short

__all__ = ["graph_lines", "print_graph"]

_LANE_STYLES = ("red", "green", "yellow", "blue", "magenta", "cyan")

_merge_logs = merge_logs  # the CLI's name for it (tests import it from tract_core.cli)


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
    for row in graph_rows(commits):
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


def _render_graph(commits: Sequence[CommitInfo], labels: Mapping[str, Sequence[str]]) -> list[Text]:
    """The lines of :func:`graph_lines`, colored: lanes by column, hashes, refs and roles."""
    by_hash = {commit.hash: commit for commit in commits}
    lines = []
    for row in graph_rows((commit.hash, commit.parents) for commit in commits):
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
    commits, more = history(t, limit, every_branch, start)
    if not commits:
        out.print(Text(f"tract {t.tract_id!r} has no commits yet", style="dim"))
        return
    for line in _render_graph(commits, ref_labels(t.list_branches(), t.head)):
        print_line(out, line)  # never wrapped (that would break the lanes): the message is cut
    if more:
        out.print(Text("older commits exist: --limit 0 lists all", style="dim"))
