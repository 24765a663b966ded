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
from .render import Column, counted, dumps, fitted_table, when

__all__ = ["cmd_events", "cmd_push"]


def _table(out: Console, events: list[EventInfo]) -> Table:
    columns = [
        Column("id", whole=True, rigid=True),
        Column("pushed", drop=2, whole=True),
        Column("source", drop=3, whole=True),
        Column("role", drop=4, whole=True),
        Column("key", drop=1, whole=True),
        Column("message", min_width=16),
    ]
    rows = [
        [
            str(event.id),
            when(event.created_at),
            event.source or "-",
            event.role,
            event.key or "-",
            Text(event_message(event)["content"]),
        ]
        for event in events
    ]
    return fitted_table(
        out, columns, rows, box=box.SIMPLE, title=counted(len(events), "pending event"), title_justify="left"
    )


def cmd_events(args: argparse.Namespace, out: Console) -> None:
    """``tract events``: the events pushed to the tract and not drained yet, oldest first."""
    with open_from(args) as t:
        events = t.pending_events()
    if args.json:
        sys.stdout.write(dumps([e.to_dict() for e in events]) + "\n")
    else:
        out.print(_table(out, events))


def cmd_push(args: argparse.Namespace, out: Console) -> None:
    """``tract push TEXT``: queue an event (the next drain commits it as a message)."""
    with open_from(args) as t:
        event = t.push(args.text, source=args.source, key=args.key, role=args.role)
    if args.json:
        sys.stdout.write(dumps(event.to_dict()) + "\n")
    else:
        out.print(Text(f"queued event {event.id}: {event_message(event)['content']}"))  # not rich markup
