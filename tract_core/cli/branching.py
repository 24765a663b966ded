"""The ``tract`` commands that move refs and rewrite history: branch, switch, merge, reset,
cherry-pick and rebase.

``tract merge`` exits with :data:`EXIT_CONFLICT` and lists both sides of each conflict on stderr when
the branches conflict; nothing is written then.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.text import Text

from .. import Conflict, MergeConflict, MergeResult, Tract
from .jsonout import branches_dict
from .options import UsageError, open_from
from .render import commit_summary, dumps, short, tip_line

__all__ = ["cmd_branch", "cmd_switch", "cmd_merge", "cmd_reset", "cmd_cherry_pick", "cmd_rebase"]

EXIT_CONFLICT = 1
"""Exit status of ``tract merge`` when the merge has conflicts (an outcome, not a usage error)."""


def _current(t: Tract) -> str:
    """The checked-out branch, or ``HEAD`` when detached."""
    return next((branch.name for branch in t.list_branches() if branch.current), "HEAD")


def _clip(value: Any, width: int = 60) -> str:
    """A conflict side (text, content parts or a priority) on one line."""
    text = value if isinstance(value, str) else str(value) if not isinstance(value, (list, dict)) else dumps(value)
    text = " ".join(text.split())
    return repr(text if len(text) <= width else text[: width - 1] + "…")


def _branch_lines(t: Tract, width: int) -> list[Text]:
    """The branches, one line each: ``*`` for the checked-out one (or a detached HEAD), the name
    (never cut), then as much of the tip (short hash, preview) as the width leaves room for."""
    branches = t.list_branches()
    head = t.head
    if not branches and head is None:
        return [Text(f"tract {t.tract_id!r} has no branches yet: the first commit creates one", style="dim")]
    rows: list[tuple[bool, Text, str | None]] = []
    if not any(branch.current for branch in branches):
        rows.append((True, Text("(HEAD detached)", style="red"), head))
    for branch in branches:
        rows.append((branch.current, Text(branch.name, style="bold green" if branch.current else ""), branch.commit))
    # names as wide as the longest that leaves room for the tip's hash; a longer one gets its own line
    names = max((len(name) for _, name, _ in rows if len(name) <= width - 16), default=0)
    lines = []
    for current, name, commit in rows:
        line = Text("* " if current else "  ", style="bold green").append_text(name)
        room = width - 2 - names
        if len(name) > names or room < 14:
            lines.append(line)  # no room for the tip beside the name: the name alone, whole
            continue
        line.pad_right(names - len(name))
        if commit is None:
            lines.append(line.append("  no commits yet", style="dim"))
            continue
        line.append(f"  {short(commit)}", style="yellow")
        room -= 14
        if room >= 12:
            summary = Text(commit_summary(t.show(commit)))
            summary.truncate(room - 2, overflow="ellipsis")
            line.append("  ").append_text(summary)
        lines.append(line)
    return lines


def cmd_branch(args: argparse.Namespace, out: Console) -> None:
    """``tract branch``: list the branches, create one (``NAME``) or delete one (``-d NAME``)."""
    if args.delete and args.name is None:
        raise UsageError("tract branch -d needs the name of the branch to delete")
    if args.delete and (args.start is not None or args.switch):
        raise UsageError("tract branch -d deletes a branch: --from and --switch do not apply")
    if args.force and not args.delete:
        raise UsageError("--force goes with -d (delete a branch whose commits no other branch reaches)")
    if args.name is None and (args.start is not None or args.switch):
        raise UsageError("--from and --switch need the name of the branch to create")
    if args.json and args.name is not None:
        raise UsageError("--json lists the branches: give no NAME, -d or --from with it")
    with open_from(args) as t:
        if args.json:
            sys.stdout.write(dumps(branches_dict(t.head, t.list_branches())) + "\n")
        elif args.name is None:
            for line in _branch_lines(t, out.width):
                out.print(line, overflow="fold")  # a name wider than the console wraps, whole
        elif args.delete:
            deleted = t.delete_branch(args.name, force=args.force)
            out.print(Text(f"Deleted branch {deleted.name!r} (was {short(deleted.commit)}).", style="bold"))
        else:
            created = t.branch(args.name, args.start, switch=args.switch)
            done = "Created branch and switched to" if args.switch else "Created branch"
            out.print(tip_line(t, f"{done} {created.name!r} at ", created.commit))


def cmd_switch(args: argparse.Namespace, out: Console) -> None:
    """``tract switch NAME``: attach HEAD to a branch."""
    with open_from(args) as t:
        branch = t.switch(args.name)
        out.print(tip_line(t, f"Switched to branch {branch.name!r} at ", branch.commit))


def _render_merge(t: Tract, source: str, into: str, before: str | None, result: MergeResult) -> Group:
    if result.kind == "up-to-date":
        return Group(Text(f"Already up to date: {into!r} contains {source!r}.", style="bold"))
    if result.kind == "fast-forward":
        line = tip_line(t, f"Fast-forward {into!r}: {short(before)} → ", result.head)
        return Group(line)
    assert result.merge_commit is not None
    parents = t.show(result.merge_commit).parents
    parts: list[RenderableType] = [
        Text(f"Merged {source!r} into {into!r}: merge commit ", style="bold")
        .append(short(result.merge_commit), style="yellow")
        .append(f" (parents {', '.join(short(p) for p in parents)})")
    ]
    if result.resolved:
        parts.append(Text(f"Resolved {len(result.resolved)} conflict(s):"))
        for conflict, resolution in result.resolved:
            side = "ours" if resolution == conflict.ours else "theirs" if resolution == conflict.theirs else "given"
            parts.append(
                Text(f"  {conflict.kind} of {conflict.role} message {short(conflict.target)}: took {side} ").append(
                    _clip(resolution), style="cyan"
                )
            )
    if result.head != result.merge_commit:
        parts.append(tip_line(t, "HEAD is now at ", result.head, style=""))
    return Group(*parts)


def _conflict_report(source: str, into: str, conflicts: Sequence[Conflict]) -> str:
    """What ``tract merge`` prints on stderr when the merge has conflicts: both versions of each."""
    lines = [
        f"tract: merge conflict: merging {source!r} into {into!r} conflicts on {len(conflicts)} message(s); "
        "nothing was written"
    ]
    for conflict in conflicts:
        lines.append(
            f"  {conflict.kind} of {conflict.role} message {short(conflict.target)}: "
            f"ours {_clip(conflict.ours)} vs theirs {_clip(conflict.theirs)}"
        )
    example = short(conflicts[0].target) if conflicts else "HASH"
    lines.append(
        f"hint: take one side for every conflict with --strategy ours or --strategy theirs, or resolve each "
        f"message in Python: t.merge({source!r}, resolutions={{{example!r}: ...}})"
    )
    return "\n".join(lines) + "\n"


def cmd_merge(args: argparse.Namespace, out: Console) -> int | None:
    """``tract merge SOURCE``: merge a branch (or commit) into the current branch."""
    with open_from(args) as t:
        into, before = _current(t), t.head
        try:
            result = t.merge(args.source, strategy=args.strategy)
        except MergeConflict as conflict:
            sys.stderr.write(_conflict_report(args.source, into, conflict.conflicts))
            return EXIT_CONFLICT
        assert isinstance(result, MergeResult)
        out.print(_render_merge(t, args.source, into, before, result))
    return None


def cmd_reset(args: argparse.Namespace, out: Console) -> None:
    """``tract reset REF``: move the current branch (or a detached HEAD) to another commit."""
    mode = "hard" if args.hard else "soft"
    with open_from(args) as t:
        result = t.reset(args.ref, mode=mode)
        out.print(tip_line(t, f"Reset {result.ref!r} ({mode}): {short(result.old)} → ", result.new))
    dropped = len(result.dropped)
    if not dropped:
        out.print(Text("No commit was dropped: every one is still reachable from a branch or HEAD."))
    elif mode == "hard":
        line = Text(f"{dropped} commit(s) dropped; {result.deleted} deleted from the store.", style="red")
        if result.deleted < dropped:
            line.append(
                f" {dropped - result.deleted} kept: commits left behind earlier (still in the reflog) build on them.",
                style="yellow",
            )
        out.print(line)
    else:
        where = f" --ref {result.ref}" if result.ref != "HEAD" else ""
        out.print(
            Text(f"{dropped} commit(s) dropped, kept in the store until gc. ")
            .append("To get them back: ")
            .append(f"tract reflog{where}", style="bold")
            .append(" shows where it was; ")
            .append(f"tract reset {short(result.old)}", style="bold")
            .append(" returns there.")
        )


def _print_warnings(out: Console, warnings: Sequence[str]) -> None:
    for warning in warnings:
        out.print(Text(f"warning: {warning}", style="yellow"))


def cmd_cherry_pick(args: argparse.Namespace, out: Console) -> None:
    """``tract cherry-pick REF``: copy one commit onto HEAD."""
    with open_from(args) as t:
        result = t.cherry_pick(args.ref, strict=args.strict)
        ((source, copy),) = result.mapping.items()
        out.print(tip_line(t, f"Cherry-picked {short(source)} onto {_current(t)!r} as ", copy))
    _print_warnings(out, result.warnings)


def cmd_rebase(args: argparse.Namespace, out: Console) -> None:
    """``tract rebase ONTO``: replay the current branch's own commits on top of another commit."""
    with open_from(args) as t:
        result = t.rebase(args.onto, strict=args.strict)
        current = _current(t)
        if not result.mapping:
            out.print(Text(f"Nothing to rebase: {args.onto!r} is already in the history of {current!r}.", style="bold"))
            return
        done = f"Rebased {len(result.mapping)} commit(s) of {current!r} onto {args.onto!r}: HEAD is now at "
        out.print(tip_line(t, done, result.head))
        for old, new in result.mapping.items():
            out.print(Text(f"  {short(old)} → ").append(short(new), style="yellow"))
    _print_warnings(out, result.warnings)
