"""The ``tract`` commands for a tract's events: ``events`` (what waits to be drained) and ``push``
(queue one, as an application or a webhook would).
"""

from __future__ import annotations

import argparse
import sys

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..events import EventInfo, event_message
from .options import open_from
from .render import counted, dumps, when

__all__ = ["cmd_events", "cmd_push"]


def _table(events: list[EventInfo]) -> Table:
    table = Table(box=box.SIMPLE, title=counted(len(events), "pending event"), title_justify="left")
    for column in ("id", "pushed", "source", "role", "key", "message"):
        table.add_column(column, overflow="fold" if column == "message" else "ellipsis")
    for event in events:
        table.add_row(
            str(event.id),
            when(event.created_at),
            event.source or "-",
            event.role,
            event.key or "-",
            Text(event_message(event)["content"]),
        )
    return table


def cmd_events(args: argparse.Namespace, out: Console) -> None:
    """``tract events``: the events pushed to the tract and not drained yet, oldest first."""
    with open_from(args) as t:
        events = t.pending_events()
    if args.json:
        sys.stdout.write(dumps([e.to_dict() for e in events]) + "\n")
    else:
        out.print(_table(events))


def cmd_push(args: argparse.Namespace, out: Console) -> None:
    """``tract push TEXT``: queue an event (the next drain commits it as a message)."""
    with open_from(args) as t:
        event = t.push(args.text, source=args.source, key=args.key, role=args.role)
    if args.json:
        sys.stdout.write(dumps(event.to_dict()) + "\n")
    else:
        out.print(Text(f"queued event {event.id}: {event_message(event)['content']}"))  # not rich markup
