"""The ``tract`` commands that look after a store: compress (a stretch of history replaced by a
summary, or the review of pending drafts), gc (unreachable commits and unused content removed) and
verify (everything stored checked, like ``git fsck``).

``tract verify`` exits with :data:`EXIT_DAMAGED` and lists every problem on stderr when it finds damage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console, Group, RenderableType
from rich.text import Text

from .. import CorruptObjectError, Tract
from ..compress import DEFAULT_KEEP_RECENT, CompressionResult, PendingCompression
from ..gc import GCResult
from ..records import VerifyReport
from .options import UsageError, open_from, read_text_file
from .render import counted, dumps, short, tip_line
from .wording import cli_wording

__all__ = ["cmd_compress", "cmd_gc", "cmd_verify", "EXIT_DAMAGED"]

EXIT_DAMAGED = 1
"""Exit status of ``tract verify`` when it finds damage (an outcome, not a usage error)."""


def _days_text(days: float) -> str:
    return "1 day" if days == 1 else f"{days:g} days"


def _summary_text(args: argparse.Namespace) -> str | None:
    """The summary given with ``--content`` or read from ``--file`` (``-``: standard input), or None."""
    if args.content is not None and args.file is not None:
        raise UsageError("give the summary with --content or with --file, not both")
    text = args.content if args.file is None else read_text_file(args.file, "the summary file")
    if text is not None and not text.strip():
        raise UsageError("the summary is empty: give the text that replaces the compressed messages")
    return None if text is None else text.strip()


def _compress_action(args: argparse.Namespace) -> str | None:
    """Which of ``--pending``, ``--approve``, ``--reject`` was given (None: a new compression)."""
    given = [
        flag
        for flag, present in (
            ("--pending", args.pending),
            ("--approve", args.approve is not None),
            ("--reject", args.reject is not None),
        )
        if present
    ]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} do not go together: give one")
    action = given[0] if given else None
    ranging = [
        flag
        for flag, value in (("--from", args.start), ("--to", args.end), ("--keep-recent", args.keep_recent))
        if value is not None
    ]
    if action is not None and ranging:
        raise UsageError(f"{', '.join(ranging)}: only for a new compression, not with {action}")
    if args.end is not None and args.keep_recent is not None:
        raise UsageError("--keep-recent sets where the default range ends: not with --to")
    if action in ("--pending", "--reject") and (args.content is not None or args.file is not None):
        raise UsageError(f"--content and --file give a summary: not for {action}")
    return action


def _find_pending(t: Tract, record_id: int) -> PendingCompression:
    pending = t.pending_compressions()
    for draft in pending:
        if draft.id == record_id:
            return draft
    decided = next((entry for entry in t.compressions() if entry.id == record_id), None)
    if decided is not None:
        raise UsageError(f"compression {record_id} is already {decided.status}, not pending")
    known = ", ".join(str(draft.id) for draft in pending) or "none"
    raise UsageError(
        f"no pending compression {record_id} in tract {t.tract_id!r} (pending: {known}); "
        "`tract compress --pending` lists them"
    )


def _render_compression(t: Tract, result: CompressionResult) -> Group:
    """The summary commit, what went into it and what stayed, the tokens, and what was archived."""
    record = next((entry for entry in t.compressions() if entry.id == result.id), None)
    skipped = len(record.details.get("skipped", ())) if record is not None else 0
    summarised = counted(len(result.replaced), "message")
    summary = result.summary.hash if result.summary is not None else None
    parts: list[RenderableType] = [tip_line(t, f"Compressed {summarised} into the summary ", summary)]
    kept = Text(f"Kept {counted(len(result.kept), 'pinned message')} verbatim after the summary")
    if result.kept:
        kept.append(": ").append(", ".join(short(h) for h in result.kept), style="yellow")
    parts.append(kept.append("."))
    if skipped:
        parts.append(Text(f"Left out {counted(skipped, 'skipped message')}."))
    delta = result.tokens_after - result.tokens_before
    parts.append(Text(f"Tokens: {result.tokens_before:,} → {result.tokens_after:,} ({delta:+,})."))
    parts.append(tip_line(t, "HEAD is now at ", result.head, style=""))
    parts.append(
        Text(
            f"Archived {counted(len(result.archived), 'commit')} (compression #{result.id}): `tract show` still "
            "finds them; `tract gc` removes them once the archive window (30 days by default) has passed."
        )
    )
    return Group(*parts)


def _render_pending(t: Tract, pending: Sequence[PendingCompression]) -> Group:
    """Each stored draft: id, range, where it was drafted, how, and the first line of its text."""
    if not pending:
        return Group(Text(f"no pending compressions in tract {t.tract_id!r}", style="dim"))
    head = t.head
    parts: list[RenderableType] = []
    for draft in pending:
        messages = draft.details.get("messages")
        line = Text(f"#{draft.id}", style="bold").append(
            f"  {counted(messages, 'message') if isinstance(messages, int) else 'messages'} from "
        )
        line.append(short(draft.range_from), style="yellow").append(" to ")
        line.append(short(draft.range_to), style="yellow").append(", drafted at HEAD ")
        line.append(short(draft.old_head), style="yellow")
        attempts = draft.details.get("attempts")
        if attempts:
            line.append(f" by an LLM ({counted(attempts, 'attempt')}")
            line.append(", trimmed to fit)" if draft.details.get("trimmed") else ")")
        parts.append(line)
        if draft.old_head != head:
            parts.append(Text("    stale: HEAD has moved since, so approving is refused; reject it", style="red"))
        first = next((text for text in draft.draft.splitlines() if text.strip()), "")
        parts.append(Text(f"    {first}", no_wrap=True, overflow="ellipsis"))
    parts.append(
        Text(
            "Approve one with `tract compress --approve ID` (--content or --file replaces the draft), "
            "or drop it with `tract compress --reject ID`.",
            style="dim",
        )
    )
    return Group(*parts)


def cmd_compress(args: argparse.Namespace, out: Console) -> None:
    """``tract compress``: replace a stretch of history with a summary, or review the pending drafts."""
    action = _compress_action(args)
    summary = _summary_text(args)
    if action is None and summary is None:
        raise UsageError(
            "tract compress needs the summary: --content TEXT or --file PATH "
            "(to have an LLM write it, use the Python API: t.compress(llm=...))"
        )
    with open_from(args) as t:
        if action == "--pending":
            out.print(_render_pending(t, t.pending_compressions()))
        elif action == "--reject":
            t.reject_compression(_find_pending(t, args.reject))
            out.print(Text(f"Rejected compression #{args.reject}; the history is unchanged.", style="bold"))
        elif action == "--approve":
            draft = _find_pending(t, args.approve)
            result = t.approve_compression(draft, content=summary)
            edited = " with the summary given" if summary is not None else " with its draft"
            out.print(Text(f"Approved compression #{draft.id}{edited}.", style="bold"))
            out.print(_render_compression(t, result))
        else:
            keep_recent = DEFAULT_KEEP_RECENT if args.keep_recent is None else args.keep_recent
            compressed = t.compress(summary, from_commit=args.start, to_commit=args.end, keep_recent=keep_recent)
            assert isinstance(compressed, CompressionResult)
            out.print(_render_compression(t, compressed))


def _render_gc(t: Tract, result: GCResult, args: argparse.Namespace, archived_left: int) -> Group:
    """What gc removed (or would remove), what it kept, and the file size."""
    dry = result.dry_run
    orphan_window, archive_window = _days_text(args.orphan_days), _days_text(args.archive_days)
    title = (
        f"gc of tract {t.tract_id!r}: orphans older than {orphan_window}, archived commits older than {archive_window}"
    )
    parts: list[RenderableType] = [Text(title + (" (dry run: nothing was removed)" if dry else ""), style="bold")]
    removed, expired = ("Would remove", "Would expire") if dry else ("Removed", "Expired")
    parts.append(
        Text(
            f"{removed} {counted(len(result.commits), 'commit')}: {counted(result.orphans, 'orphan')}, "
            f"{result.archived:,} archived by compressions."
        )
    )
    parts.append(
        Text(f"{removed} {counted(result.blobs, 'blob')} no commit uses any more ({result.blob_bytes:,} bytes).")
    )
    parts.append(Text(f"{expired} {counted(result.reflog_entries, 'reflog entry', 'reflog entries')}."))
    if result.kept_unreachable:
        parts.append(Text(f"Kept {counted(result.kept_unreachable, 'unreachable commit')} still inside their window."))
    if archived_left:
        parts.append(
            Text(
                f"Kept {counted(archived_left, 'archived commit')}: inside the archive window, or still "
                "reached by a branch or HEAD."
            )
        )
    before, after = result.file_bytes_before, result.file_bytes_after
    if before is not None and after is not None:
        parts.append(Text(f"File size: {before:,} → {after:,} bytes ({after - before:+,})."))
    elif before is not None:
        parts.append(Text(f"File size: {before:,} bytes."))
    return Group(*parts)


def cmd_gc(args: argparse.Namespace, out: Console) -> None:
    """``tract gc``: remove unreachable commits past their retention windows, and unused content."""
    vacuum = None if args.vacuum == "none" else args.vacuum
    with open_from(args) as t:
        result = t.gc(args.orphan_days, args.archive_days, dry_run=args.dry_run, vacuum=vacuum)
        archived_left = len(t.archived()) - (result.archived if result.dry_run else 0)
        out.print(_render_gc(t, result, args, archived_left))


def _render_verify(t: Tract, report: VerifyReport) -> Group:
    """What ``tract verify`` checked, when everything is sound."""
    pages = "every page of the SQLite file checked" if report.pages else "pages: checked by the database server itself"
    return Group(
        Text(f"tract {t.tract_id!r} is sound.", style="bold green"),
        Text(f"Re-hashed {counted(report.commits, 'commit')} and {counted(report.blobs, 'blob')}."),
        Text(
            f"Checked {counted(report.annotations, 'annotation')} (chain intact), "
            f"{counted(report.refs, 'branch', 'branches')} and HEAD, "
            f"{counted(report.compressions, 'compression record')}."
        ),
        Text(f"Recounted {counted(report.token_counts, 'cached token count')} ({t.counter.name}); {pages}."),
    )


def _damage_report(tract_id: str, error: CorruptObjectError) -> str:
    """What ``tract verify`` prints on stderr when it finds damage: every problem, then what to do."""
    lines = [f"tract: verify: tract {tract_id!r} is damaged ({counted(len(error.problems), 'problem')}):"]
    lines += [f"  {cli_wording(problem)}" for problem in error.problems]
    lines.append(
        "hint: restore the database from a backup; a branch or HEAD that lost its commit can be pointed "
        "back at one from `tract reflog`"
    )
    return "\n".join(lines) + "\n"


def cmd_verify(args: argparse.Namespace, out: Console) -> int | None:
    """``tract verify``: check everything stored for the tract, like ``git fsck``."""
    t = open_from(args)
    with t:
        try:
            report = t.verify()
        except CorruptObjectError as error:
            if args.json:
                problems = [cli_wording(problem) for problem in error.problems]
                sys.stdout.write(dumps({"tract": t.tract_id, "sound": False, "problems": problems}) + "\n")
            else:
                sys.stderr.write(_damage_report(t.tract_id, error))
            return EXIT_DAMAGED
        if args.json:
            data = {"tract": t.tract_id, "sound": True, "problems": [], **report.as_dict(), "tokenizer": t.counter.name}
            sys.stdout.write(dumps(data) + "\n")
        else:
            out.print(_render_verify(t, report))
    return None
