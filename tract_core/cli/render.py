"""Rendering helpers shared by the ``tract`` commands: short hashes, times, roles, JSON, usage, a
commit on one line, and tables laid out for the console's width.

Each returns plain text or a rich renderable; the command modules compose them into tables and panels.
:func:`fitted_table` keeps whole the cells that must not be cut (hashes, branch names, times) and
drops the less important columns when the console is too narrow for all of them; :func:`print_line`
prints one line cut to the width (never wrapped), :func:`print_whole` one line never cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.cells import cell_len
from rich.console import Console, Group, JustifyMethod, OverflowMethod, RenderableType
from rich.table import Table
from rich.text import Text

from .. import CommitInfo, Operation, Tract, Usage

__all__ = [
    "short",
    "when",
    "role_text",
    "json_block",
    "usage_text",
    "message_body",
    "field_grid",
    "dumps",
    "counted",
    "commit_summary",
    "tip",
    "tip_line",
    "Column",
    "fitted_table",
    "print_line",
    "print_whole",
]

ROLE_STYLES = {"system": "magenta", "developer": "magenta", "user": "cyan", "assistant": "green", "tool": "yellow"}
"""The color of each message role."""


def short(hash: str | None) -> str:
    """A hash cut to 12 characters (``-`` for none)."""
    return hash[:12] if hash else "-"


def when(timestamp: float) -> str:
    """A timestamp as local date and time."""
    return datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def role_text(role: str | None) -> Text:
    """A message role, in its color."""
    return Text(role or "-", style=ROLE_STYLES.get(role or "", "white"))


def json_block(data: Any) -> RenderableType:
    """Data as indented, highlighted JSON (``none`` for None)."""
    if data is None:
        return Text("none", style="dim")
    from rich.json import JSON  # imported when a command shows JSON, not when the parser loads

    return JSON(dumps(data), indent=2)


def usage_text(usage: Usage | None) -> Text:
    """A provider's token usage on one line, with where the numbers came from."""
    if usage is None:
        return Text("none recorded", style="dim")
    text = f"prompt {usage.prompt_tokens:,} · completion {usage.completion_tokens:,} · total {usage.total_tokens:,}"
    if usage.cache_read_tokens or usage.cache_write_tokens:
        text += f" · cache read {usage.cache_read_tokens:,} / written {usage.cache_write_tokens:,}"
    return Text(f"{text} ({usage.source})")


def message_body(message: Mapping[str, Any]) -> RenderableType:
    """A message's content as text (or JSON for content parts), then its other fields as JSON."""
    content = message.get("content")
    parts: list[RenderableType] = []
    if isinstance(content, str):
        parts.append(Text(content))
    elif content is not None:
        parts.append(json_block(content))
    extras = {k: v for k, v in message.items() if k not in ("role", "content")}
    if extras:
        parts.append(json_block(extras))
    return Group(*parts) if parts else Text("(empty)", style="dim")


def field_grid(rows: Sequence[tuple[str, RenderableType]]) -> Table:
    """Labelled rows: a bold label, then its value."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def dumps(data: Any) -> str:
    """Data as indented JSON text (anything JSON cannot hold as its ``str``)."""
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """A count and the noun it counts, e.g. ``1 commit``, ``2 commits``, ``1,200 reflog entries``."""
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def commit_summary(commit: CommitInfo) -> str:
    """A commit on one line: ``role (edit): preview``, or the preview alone for a commit with no role."""
    if commit.role is None:
        return commit.preview(72)
    edit = " (edit)" if commit.operation is Operation.EDIT else ""
    return f"{commit.role}{edit}: {commit.preview(72)}"


def tip(t: Tract, hash: str | None) -> Text:
    """A commit as ``short-hash  preview``."""
    if hash is None:
        return Text("no commits yet", style="dim")
    return Text(short(hash), style="yellow").append(f"  {commit_summary(t.show(hash))}", style="")


def tip_line(t: Tract, prefix: str, hash: str | None, style: str = "bold") -> Text:
    """``prefix`` followed by a commit as ``short-hash  preview``, on one line (cut to fit)."""
    return Text(prefix, style=style, no_wrap=True, overflow="ellipsis").append(tip(t, hash))


def print_line(out: Console, line: Text) -> None:
    """Print ``line`` on one line of the console: never wrapped, cut with ``…`` to the width."""
    out.print(line, no_wrap=True, overflow="ellipsis", crop=True)


def print_whole(out: Console, line: Text) -> None:
    """Print ``line`` whole on one line, even past the console's width (a hash to copy): no
    wrapping, no cutting; a terminal narrower than the line folds it on screen only."""
    out.print(line, soft_wrap=True)


@dataclass(frozen=True)
class Column:
    """A column of a :func:`fitted_table`.

    Attributes:
        header: The column's title.
        drop: 0 for a column always shown; otherwise, when the console is too narrow for every
            column, the columns with the highest ``drop`` are left out first.
        whole: The cells are never cut nor wrapped while the table fits (hashes, names, times); the
            column is as wide as its widest line. Else the cells wrap (or are cut, by
            ``overflow``) to fit.
        rigid: A whole column that keeps its width even when nothing else can be dropped (short
            hashes, coordinates, numbers); the other whole columns then wrap (names fold, whole).
        cap: A whole column is at most this wide: a longer cell wraps (so one very long name does
            not push the other columns out).
        min_width: The narrowest a column that is not ``whole`` gets before columns are dropped.
        justify: How the cells are aligned.
        style: The style of the column's cells.
        overflow: What a cell too wide for its column does: ``fold`` (wrap anywhere) or ``ellipsis``.
    """

    header: str
    drop: int = 0
    whole: bool = False
    rigid: bool = False
    cap: int | None = None
    min_width: int = 10
    justify: JustifyMethod = "left"
    style: str | None = None
    overflow: OverflowMethod = "fold"


def _lines(cell: RenderableType) -> list[str]:
    """The plain text lines of a cell (text, or a group of texts)."""
    if isinstance(cell, str):
        return cell.splitlines() or [""]
    if isinstance(cell, Text):
        return cell.plain.splitlines() or [""]
    if isinstance(cell, Group):
        return [line for part in cell.renderables for line in _lines(part)]
    return [""]


def fitted_table(out: Console, columns: Sequence[Column], rows: Iterable[Sequence[Any]], **options: Any) -> Table:
    """A table that fits the console's width: whole columns keep their width, the others wrap, and
    when even that is too wide the columns with the highest ``drop`` are left out, one by one.

    Args:
        out: The console the table is printed on (its width decides).
        columns: The columns, in order.
        rows: One cell per column in each row.
        **options: Passed to :class:`rich.table.Table` (box, caption, show_lines, ...).
    """
    rows = [list(row) for row in rows]
    needs = [
        min(
            max(cell_len(line) for cell in [column.header, *(row[i] for row in rows)] for line in _lines(cell)),
            column.cap or out.width,
        )
        if column.whole
        else column.min_width
        for i, column in enumerate(columns)
    ]
    kept = list(range(len(columns)))
    while True:
        frame = Table(**options)
        for i in kept:
            frame.add_column(width=needs[i])
        fits = frame.__rich_measure__(out, out.options).minimum <= out.width
        droppable = [i for i in kept if columns[i].drop]
        if fits or not droppable:
            break
        kept.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    table = Table(**options)
    for i in kept:
        column = columns[i]
        fixed = column.whole and (fits or column.rigid)  # too narrow even so: only rigid columns stay whole
        table.add_column(
            column.header,
            justify=column.justify,
            style=column.style,
            overflow=column.overflow,
            width=needs[i] if fixed else None,
            min_width=column.min_width if fits and not column.whole else None,
        )
    for row in rows:
        table.add_row(*(row[i] for i in kept))
    return table
