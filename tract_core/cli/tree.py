"""The ``tract`` commands for the context tree: ``snapshot`` (the nodes of the context at a point of
history, as a table or JSON), ``tree`` (its regions and cycles drawn as a tree) and ``select`` (the
nodes a selector query picks, docs/selectors.md).

All read only; ``--at`` takes a temporal address (``@t0``, ``@t-3``; ``snapshot`` and ``select`` also
a range or ``@history``) or any commit name. Imported only when one of them runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..errors import SelectorSyntaxError
from ..tree import AH, SEQ, SYS, Node, Selection, Snapshot, is_temporal, parse_selector, parse_temporal
from .options import EXIT_ERROR, open_from
from .render import Column, counted, fitted_table, role_text, short

__all__ = ["cmd_snapshot", "cmd_tree", "cmd_select", "preview"]

PREVIEW = 60
"""How many characters of a message the table and the tree show."""
REGION_STYLES = {SYS: "magenta", SEQ: "blue", AH: "green"}
"""The color of each region."""


def preview(message: Mapping[str, Any], width: int = PREVIEW) -> str:
    """A message on one line: its text, or the tool calls it makes, cut to ``width`` characters.

    Example:
        >>> preview({"role": "user", "content": "Hello\\nthere"})
        'Hello there'
        >>> preview({"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "w"}}]})
        '→ w()'
    """
    content = message.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = " ".join(str(p.get("text", f"[{p.get('type')}]")) for p in content if isinstance(p, Mapping))
    else:
        text = ""
    calls = message.get("tool_calls") or []
    names = [str((c.get("function") or {}).get("name", "?")) for c in calls if isinstance(c, Mapping)]
    if names:
        text = (text + " " if text else "") + " ".join(f"→ {name}()" for name in names)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _snapshots(args: argparse.Namespace) -> list[Snapshot]:
    with open_from(args) as t:
        taken = t.snapshot(args.at or "@t0")
    return taken if isinstance(taken, list) else [taken]


def _title(snapshot: Snapshot) -> str:
    return (
        f"{snapshot.at} · head {short(snapshot.head)} · {counted(len(snapshot), 'message')} · "
        f"{snapshot.token_count:,} tokens · digest {snapshot.digest[:12]}"
    )


def _table(out: Console, snapshot: Snapshot, title: str | None = None, keep: set[str] | None = None) -> Table:
    columns = [
        Column("region", drop=4, whole=True),
        Column("(d,i,o)", whole=True, rigid=True),
        Column("id", whole=True, rigid=True),
        Column("role", drop=5, whole=True),
        Column("type", drop=7, whole=True),
        Column("tokens", drop=3, whole=True, rigid=True, justify="right"),
        Column("pinned", drop=6, whole=True, justify="center"),
        Column("preview", min_width=12, overflow="ellipsis"),
    ]
    rows = []
    for node, message in zip(snapshot.nodes, snapshot.messages, strict=True):
        if keep is not None and node.id not in keep:
            continue
        rows.append(
            [
                Text(node.region, style=REGION_STYLES[node.region]),
                "({},{},{})".format(*node.coordinate),
                short(node.id),
                role_text(node.role),
                node.content_type,
                f"{node.tokens:,}",
                "✓" if node.pinned else "",
                Text(preview(message), no_wrap=True, overflow="ellipsis"),
            ]
        )
    caption = None
    if not snapshot.nodes:
        caption = "empty context"
    elif keep is not None and not keep:
        caption = "nothing selected"
    return fitted_table(
        out, columns, rows, title=title or _title(snapshot), title_justify="left", box=box.SIMPLE_HEAD, caption=caption
    )


def cmd_snapshot(args: argparse.Namespace, out: Console) -> None:
    """``tract snapshot [--at ADDRESS] [--json]``: the nodes of the context, one row each
    (``--json``: the snapshot's canonical JSON; a JSON array for a range)."""
    snapshots = _snapshots(args)
    if args.json:
        texts = [s.to_json() for s in snapshots]
        sys.stdout.write(("[" + ",".join(texts) + "]" if _is_range(args.at) else texts[0]) + "\n")
        return
    out.print(Group(*[_table(out, s) for s in snapshots]))


def _is_range(at: str | None) -> bool:
    return is_temporal(at) and not parse_temporal(at).single


def _label(node: Node, message: Mapping[str, Any]) -> Text:
    label = Text("({},{},{}) ".format(*node.coordinate), style="bold")
    label.append_text(role_text(node.role))
    label.append(f" {node.content_type} · {node.tokens:,} tok", style="dim")
    if node.pinned:
        label.append(" · pinned", style="yellow")
    label.append(f" · {short(node.id)}  ", style="dim")
    label.append(preview(message))
    return label


def _draw(snapshot: Snapshot) -> RenderableType:
    root = Tree(Text(_title(snapshot), style="bold"))
    pairs = list(zip(snapshot.nodes, snapshot.messages, strict=True))
    system = root.add(Text(f"{SYS}  system (depth -1)", style=REGION_STYLES[SYS]))
    history = root.add(Text(f"{SEQ}  sealed cycles, oldest first (depth ≥ 1)", style=REGION_STYLES[SEQ]))
    head = root.add(Text(f"{AH}  active head: the next call (depth 0)", style=REGION_STYLES[AH]))
    cycles: dict[int, Tree] = {}
    for node, message in pairs:
        if node.region == SYS:
            system.add(_label(node, message))
        elif node.region == AH:
            head.add(_label(node, message))
        else:
            if node.depth not in cycles:
                back = "the last call" if node.depth == 1 else f"{node.depth} calls ago"
                cycles[node.depth] = history.add(Text(f"cycle d={node.depth} ({back})", style="bold"))
            cycles[node.depth].add(_label(node, message))
    for branch in (system, history, head):
        if not branch.children:
            branch.add(Text("(empty)", style="dim"))
    return root


def cmd_tree(args: argparse.Namespace, out: Console) -> None:
    """``tract tree [--at ADDRESS] [--json]``: the regions and cycles of the context, each message at
    its coordinates (``--json``: what ``tract snapshot --json`` prints)."""
    if args.json:
        cmd_snapshot(args, out)  # the same data: the snapshot's canonical JSON
        return
    out.print(Group(*[_draw(s) for s in _snapshots(args)]))


def cmd_select(args: argparse.Namespace, out: Console) -> int | None:
    """``tract select QUERY [--at ADDRESS] [--json]``: the nodes a selector query picks, one row each
    (``--json``: the selection's JSON; for a range, the series with its diffs). A malformed query is
    reported with its caret line."""
    try:
        parse_selector(args.query)
    except SelectorSyntaxError as error:
        sys.stderr.write(f"tract: error: {error}\n")
        return EXIT_ERROR
    with open_from(args) as t:
        picked = t.select(args.query, at=args.at)
        if args.json:
            sys.stdout.write(picked.to_json() + "\n")
            return None
        selections = [picked] if isinstance(picked, Selection) else list(picked.selections)
        tables: list[RenderableType] = []
        for selection in selections:
            title = f"{args.query}  ·  {selection.at} · {counted(len(selection), 'node')} selected"
            snapshot = t.snapshot(selection.head) if selection.head is not None else None
            if isinstance(snapshot, Snapshot):
                tables.append(_table(out, snapshot, title, {node.id for node in selection.nodes}))
            else:
                tables.append(Text(f"{title}: empty context"))
    out.print(Group(*tables))
    return None
