"""Rendering helpers shared by the ``tract`` commands: short hashes, times, roles, JSON, usage, and a
commit on one line.

Each returns plain text or a rich renderable; the command modules compose them into tables and panels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.json import JSON
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
