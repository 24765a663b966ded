"""The ``tract`` commands that change what the model sees without rewriting history: ``annotate``
(pin, skip or reset a message's priority), ``edit`` (an EDIT commit replacing a message's content)
and ``checkout`` (move HEAD to a branch, or to any commit to look at the past).

``tract edit`` without ``--content`` or ``--file`` opens the message's current content in
``$VISUAL`` or ``$EDITOR`` (``vi`` if neither is set), as ``git commit`` does; an empty result
aborts, and so does an unchanged one.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import tempfile
from typing import Any

from rich.console import Console
from rich.text import Text

from .. import CommitInfo, Tract
from .options import CommandFailed, UsageError, open_from, read_text_file
from .render import commit_summary, short, tip_line

__all__ = ["cmd_annotate", "cmd_edit", "cmd_checkout", "editor_command"]

PRIORITY_FLAGS = {"pin": "pinned", "skip": "skip", "normal": "normal"}
"""``tract annotate`` flags and the priority each gives."""


def _priority(args: argparse.Namespace) -> str:
    given = [flag for flag in PRIORITY_FLAGS if getattr(args, flag)]
    if len(given) != 1:
        raise UsageError("tract annotate needs one of --pin, --skip or --normal: the priority to give the message")
    return PRIORITY_FLAGS[given[0]]


def cmd_annotate(args: argparse.Namespace, out: Console) -> None:
    """``tract annotate REF --pin|--skip|--normal [--reason R]``: give a message a priority from HEAD on."""
    priority = _priority(args)
    with open_from(args) as t:
        target = _message(t, args.ref)
        note = t.annotate(target.hash, priority, reason=args.reason)
        verb = {"pinned": "Pinned", "skip": "Skipped", "normal": "Reset to normal"}[priority]
        line = Text(f"{verb} ", style="bold").append(short(target.hash), style="yellow")
        line.append(f"  {commit_summary(target)}")
        out.print(line)
        effect = {
            "pinned": "compile keeps it whatever a compression does",
            "skip": "compile leaves it out of the context from now on",
            "normal": "compile treats it by its content type's default again",
        }[priority]
        why = f" (reason: {note.reason})" if note.reason else ""
        out.print(Text(f"From HEAD {short(note.anchor)} on, {effect}{why}; `tract show` lists its annotations."))


def _message(t: Tract, ref: str) -> CommitInfo:
    """The message ``ref`` names: the commit itself, or for an EDIT commit the message it replaces."""
    commit = t.show(ref)
    if commit.response_to:
        commit = t.show(commit.response_to)
    if commit.role is None:
        raise UsageError(f"commit {short(commit.hash)} has no message ({commit.content_type}): name a message")
    return commit


def _current_body(t: Tract, target: CommitInfo) -> dict[str, Any]:
    """The message as HEAD's history has it now: its newest EDIT's, else the original."""
    for commit in t.log(limit=None):
        if commit.response_to == target.hash and commit.body is not None:
            return dict(commit.body)
    return dict(target.body or {})


def editor_command() -> str:
    """The editor ``tract edit`` opens: ``$VISUAL``, else ``$EDITOR``, else ``vi``."""
    for name in ("VISUAL", "EDITOR"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return "vi"


def _edit_in_editor(current: str) -> str:
    command = editor_command()
    handle, path = tempfile.mkstemp(prefix="tract-edit-", suffix=".txt")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(current if current.endswith("\n") else current + "\n")
        try:
            done = subprocess.run(f"{command} {shlex.quote(path)}", shell=True)
        except OSError as error:
            raise CommandFailed(f"cannot run the editor {command!r}: {error}") from None
        if done.returncode != 0:
            raise CommandFailed(
                f"the editor {command!r} exited with status {done.returncode}: nothing was committed "
                "(set $EDITOR, or give the content with --content or --file)"
            )
        with open(path, encoding="utf-8") as file:
            return file.read()
    finally:
        os.unlink(path)


def _new_content(args: argparse.Namespace, current: Any) -> str:
    if args.content is not None and args.file is not None:
        raise UsageError("give the new content with --content or with --file, not both")
    if args.content is not None:
        text = args.content
    elif args.file is not None:
        text = read_text_file(args.file)
    else:
        if not isinstance(current, str):
            raise UsageError(
                "this message's content is not plain text (content parts): give the new content with "
                "--content or --file"
            )
        text = _edit_in_editor(current)
    text = text.rstrip()
    if not text.strip():
        raise CommandFailed("the new content is empty: nothing was committed")
    return text


def cmd_edit(args: argparse.Namespace, out: Console) -> None:
    """``tract edit REF (--content TEXT | --file F)``, or in ``$EDITOR``: an EDIT commit replacing
    the message's content (its other fields, such as tool calls, are kept)."""
    with open_from(args) as t:
        target = _message(t, args.ref)
        body = _current_body(t, target)
        text = _new_content(args, body.get("content"))
        if text == body.get("content"):
            raise CommandFailed("the content is unchanged: nothing was committed")
        message = {**body, "role": target.role, "content": text}
        edit = t.commit(
            message,
            content_type=target.content_type,
            operation="edit",
            response_to=target.hash,
            commit_message=args.message,
        )
        out.print(tip_line(t, f"Edited {short(target.hash)} with ", edit.hash))
        out.print(Text("The model sees the new content from now on; `tract diff HEAD~1` shows the change."))


def cmd_checkout(args: argparse.Namespace, out: Console) -> None:
    """``tract checkout REF``: HEAD to a branch (attached) or to any commit (detached)."""
    with open_from(args) as t:
        commit = t.checkout(args.ref)
        branch = t.current_branch
        if branch is not None:
            out.print(tip_line(t, f"Switched to branch {branch!r} at ", commit.hash))
            return
        out.print(tip_line(t, "HEAD is now detached at ", commit.hash))
        out.print(
            Text(
                "Look around (tract log, compile, status); commits made here move only HEAD. "
                "`tract checkout BRANCH` goes back; `tract branch NAME` keeps where you are."
            )
        )
