"""Long output through a pager, as git does: ``tract log``, ``show``, ``compile``, ``diff`` and
``reflog`` on a terminal, when what they print is taller than the terminal.

The pager is ``$TRACT_PAGER``, else ``$PAGER``, else ``less`` (run with ``LESS=FRX`` unless ``$LESS``
is set: quit at once when the text fits, keep the colors, leave the text on screen). An empty
value or ``cat`` turns paging off, and so does ``--no-pager``. Output to a pipe or a file is never
paged, nor is JSON.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from contextlib import AbstractContextManager, nullcontext

from rich.console import Console
from rich.pager import Pager

__all__ = ["PAGED_COMMANDS", "PAGER_ENV", "pager_command", "paging", "TerminalPager"]

PAGED_COMMANDS = frozenset({"log", "show", "compile", "diff", "reflog"})
"""The commands whose output goes through the pager when it is taller than the terminal."""

PAGER_ENV = "TRACT_PAGER"
"""Environment variable naming the pager of ``tract`` (before ``$PAGER``)."""


def pager_command() -> str | None:
    """The pager to run (a shell command line), or None when paging is turned off."""
    for name in (PAGER_ENV, "PAGER"):
        value = os.environ.get(name)
        if value is not None:
            value = value.strip()
            return None if value in ("", "cat") else value
    return "less"


class TerminalPager(Pager):
    """Shows text in ``command`` when it has more lines than ``height``, else writes it out."""

    def __init__(self, command: str, height: int) -> None:
        self.command = command
        self.height = height

    def show(self, content: str) -> None:
        """Page ``content``, or write it to standard output when it fits the terminal (or the
        pager cannot be started)."""
        if content.count("\n") < self.height:
            _write(content)
            return
        env = dict(os.environ)
        env.setdefault("LESS", "FRX")
        try:
            done = subprocess.run(self.command, shell=True, input=content.encode("utf-8", "replace"), env=env)
        except OSError:
            _write(content)
            return
        if done.returncode in (126, 127):  # the shell found no such command: show the text anyway
            _write(content)


def _write(content: str) -> None:
    try:
        sys.stdout.write(content)
        sys.stdout.flush()
    except BrokenPipeError:
        pass


def paging(args: argparse.Namespace, out: Console) -> AbstractContextManager[object]:
    """Where a command prints: through the pager when it is one of :data:`PAGED_COMMANDS`, prints
    for a person (no ``--json``), standard output is a terminal and paging is on; else the console."""
    command = pager_command()
    if (
        command is None
        or getattr(args, "command", None) not in PAGED_COMMANDS
        or getattr(args, "json", False)
        or getattr(args, "pact", False)
        or getattr(args, "no_pager", False)
        or not sys.stdout.isatty()
        or not out.is_terminal
    ):
        return nullcontext()
    return out.pager(TerminalPager(command, out.height), styles=True)
