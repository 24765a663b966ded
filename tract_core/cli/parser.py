"""The argument parser of ``tract``: its global options, and each command with its options and the
function that runs it.
"""

from __future__ import annotations

import argparse
import importlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import __version__
from .options import DB_ENV, DEFAULT_TRACT_ID

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["build_parser"]

Handler = Callable[[argparse.Namespace, "Console"], "int | None"]
"""A command: runs with the parsed arguments and prints to the console; returns its exit status
(None for success)."""

# The choices and defaults the options show, written out so that building the parser (and so
# `tract --help`) imports none of the modules that define them; tests/core/test_cli_startup.py
# checks each against its source.
KEEP_RECENT = 6
"""``tract compress --keep-recent`` by default: :data:`tract_core.compress.DEFAULT_KEEP_RECENT`."""
DEMO_PATH = "tract-demo.db"
"""Where ``tract demo`` writes: :data:`tract_core.demo.DEFAULT_DEMO_PATH`."""
MERGE_STRATEGIES = ("auto", "no-ff", "ff-only", "ours", "theirs")
"""``tract merge --strategy``: :data:`tract_core.merge.STRATEGIES`."""
AUTONOMY = ("manual", "collaborative", "autonomous")
"""``tract mcp --autonomy``: :data:`tract_core.policies.policy.AUTONOMY_LEVELS`."""
STATUSES = ("pending", "approved", "rejected", "executed", "failed", "stale")
"""``tract proposals --status``: :data:`tract_core.policies.proposal.PROPOSAL_STATUSES`."""
TOOL_PROFILES = ("self", "supervisor", "full")
"""``tract mcp --profile``: :data:`tract_core.toolkit.registry.PROFILES`."""


def _lazy(name: str, module: str) -> Handler:
    """The command ``name`` of the module ``module`` of this package (``orchestrator``, ``tree``, ...),
    imported when it runs (so ``tract --help`` and the other commands never load it)."""

    def run(args: argparse.Namespace, out: Console) -> int | None:
        handler: Handler = getattr(importlib.import_module(f"{__package__}.{module}"), name)
        return handler(args, out)

    run.__name__ = name
    return run


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a non-negative number of days")
    return value


def _add_globals(parser: argparse.ArgumentParser, db_help: str) -> None:
    # SUPPRESS defaults: a value given before the command is not reset by the command's parser.
    parser.add_argument("--db", metavar="PATH_OR_URL", default=argparse.SUPPRESS, help=db_help)
    parser.add_argument(
        "--no-pager",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print long output straight to the terminal (default: log, show, compile, diff and reflog page "
        "output taller than the terminal through $TRACT_PAGER, $PAGER or less)",
    )
    parser.add_argument(
        "--tract", metavar="ID", default=argparse.SUPPRESS, help=f"the tract to use (default: {DEFAULT_TRACT_ID!r})"
    )
    parser.add_argument(
        "--thread",
        metavar="ID",
        default=argparse.SUPPRESS,
        help="instead of --tract: the tract of a LangGraph thread (TractSaver's thread_id)",
    )
    parser.add_argument(
        "--ns",
        metavar="NS",
        default=argparse.SUPPRESS,
        help="with --thread: a subgraph's checkpoint namespace (default: the root graph)",
    )
    parser.add_argument(
        "--session",
        metavar="ID",
        default=argparse.SUPPRESS,
        help="instead of --tract: the tract of a LangChain chat history or LlamaIndex TractMemory session",
    )
    parser.add_argument(
        "--chat",
        metavar="KEY",
        default=argparse.SUPPRESS,
        help="instead of --tract: the tract of a LlamaIndex chat store key (TractChatStore; Memory's session_id)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tract`` and its commands."""
    db_help = f"SQLite file, or a sqlite:// or postgresql URL (default: ${DB_ENV})"
    parser = argparse.ArgumentParser(
        prog="tract",
        description="Inspect tract stores; branch, merge, reset, compress and gc them: version control for what an "
        "LLM sees.",
    )
    parser.add_argument("--version", action="version", version=f"tract {__version__}")
    _add_globals(parser, db_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary)
        _add_globals(sub, db_help)
        sub.set_defaults(handler=handler)
        return sub

    listing = command(
        "list",
        _lazy("cmd_list", "listing"),
        "List every tract of the database: its kind (LangGraph thread, LangChain or LlamaIndex session, "
        "LlamaIndex chat, plain tract), the name you know it by, messages, branches, last activity and the "
        "options that open it.",
    )
    listing.add_argument("--json", action="store_true", help="print plain JSON: one object per tract")
    log = command(
        "log",
        _lazy("cmd_log", "history"),
        "List the commits of HEAD's history (or draw the commit graph), newest first.",
    )
    log.add_argument(
        "ref",
        metavar="REF",
        nargs="?",
        help="list this commit's history instead of HEAD's: a branch, a hash or unique prefix, HEAD~N",
    )
    log.add_argument(
        "--limit", type=_non_negative, default=20, metavar="N", help="at most N commits; 0 for all (default: 20)"
    )
    log.add_argument("--graph", action="store_true", help="draw the commit graph, one line per commit")
    log.add_argument("--all", action="store_true", help="with --graph: every branch, not only HEAD's history")
    log.add_argument("--json", action="store_true", help="print plain JSON: an array of commits, newest first")
    show = command("show", _lazy("cmd_show", "history"), "Show one commit in full.")
    show.add_argument("ref", metavar="REF", help="a hash, a unique prefix, a branch, HEAD or HEAD~N")
    show.add_argument("--json", action="store_true", help="print the commit as plain JSON, annotations included")
    status = command(
        "status", _lazy("cmd_status", "history"), "Show the branch, HEAD, tokens against the budget and the last usage."
    )
    status.add_argument("--json", action="store_true", help="print the status as plain JSON")
    compiled = command("compile", _lazy("cmd_compile", "history"), "Print the messages the next LLM call gets.")
    compiled.add_argument("--at", metavar="REF", help="compile at this commit instead of HEAD (time travel)")
    compiled.add_argument("--json", action="store_true", help="print plain JSON: head, digest, token_count, messages")
    diff = command(
        "diff", _lazy("cmd_diff", "history"), "Compare the compiled contexts of two commits, message by message."
    )
    diff.add_argument("a", metavar="A", help="the earlier commit")
    diff.add_argument("b", metavar="B", nargs="?", default="HEAD", help="the later commit (default: HEAD)")
    diff.add_argument(
        "--pact",
        action="store_true",
        help="print PACT's JSON diff of the two snapshots: added, removed and changed node ids (with the fields)",
    )
    diff.add_argument("--json", action="store_true", help="print the diff as plain JSON: a, b, token_delta, changes")
    snapshot = command(
        "snapshot",
        _lazy("cmd_snapshot", "tree"),
        "Show the context tree's nodes at a point of history: region, (depth,index,offset), role, type, tokens.",
    )
    snapshot.add_argument(
        "--at",
        metavar="ADDRESS",
        help="@t0 (default), @t-K (K cycles ago), a range @t-A..@t-B, @history, or any commit name",
    )
    snapshot.add_argument("--json", action="store_true", help="print the snapshot's canonical JSON")
    select = command(
        "select",
        _lazy("cmd_select", "tree"),
        "List the nodes a selector query picks (docs/selectors.md), e.g. tract select '^seq .tool_result(d11..d*)'.",
    )
    select.add_argument("query", metavar="QUERY", help="a selector query; it may start with @t-K, a range or @history")
    select.add_argument(
        "--at",
        metavar="ADDRESS",
        help="where to look when the query has no temporal prefix: @t0 (default), @t-K, a range, @history, a commit",
    )
    select.add_argument("--json", action="store_true", help="print the selection as JSON (ids, coordinates, nodes)")
    tree = command(
        "tree",
        _lazy("cmd_tree", "tree"),
        "Draw the regions and cycles of the context, each message at its coordinates.",
    )
    tree.add_argument("--at", metavar="ADDRESS", help="@t0 (default), @t-K (K cycles ago) or any commit name")
    tree.add_argument("--json", action="store_true", help="print the snapshot's canonical JSON (as snapshot --json)")
    branch = command(
        "branch",
        _lazy("cmd_branch", "branching"),
        "List the branches, create one (tract branch NAME) or delete one (tract branch -d NAME).",
    )
    branch.add_argument("name", metavar="NAME", nargs="?", help="the branch to create (or, with -d, to delete)")
    branch.add_argument("--from", dest="start", metavar="REF", help="create it at this commit (default: HEAD)")
    branch.add_argument("--switch", action="store_true", help="also switch to the new branch")
    branch.add_argument("-d", "--delete", action="store_true", help="delete the branch NAME")
    branch.add_argument("--json", action="store_true", help="list the branches as plain JSON")
    branch.add_argument(
        "--force", action="store_true", help="with -d: delete even if no other branch reaches its commits"
    )
    checkout = command(
        "checkout",
        _lazy("cmd_checkout", "editing"),
        "Move HEAD to a branch (attached), or to any commit to look at the past (detached).",
    )
    checkout.add_argument("ref", metavar="REF", help="a branch, or a hash, unique prefix, HEAD~N")
    annotate = command(
        "annotate",
        _lazy("cmd_annotate", "editing"),
        "Give a message a priority from HEAD on: pin it (kept by compressions), skip it (left out of the "
        "context) or make it normal again. The record is kept; older contexts are unchanged.",
    )
    annotate.add_argument("ref", metavar="REF", help="the message (a hash, unique prefix, branch, HEAD~N)")
    priority = annotate.add_mutually_exclusive_group(required=True)
    priority.add_argument("--pin", action="store_true", help="PINNED: always in the context, kept verbatim")
    priority.add_argument("--skip", action="store_true", help="SKIP: left out of the context")
    priority.add_argument("--normal", action="store_true", help="NORMAL: its content type's default again")
    annotate.add_argument("--reason", metavar="TEXT", help="why (stored with the annotation, shown by tract show)")
    edit = command(
        "edit",
        _lazy("cmd_edit", "editing"),
        "Replace a message's content with an EDIT commit (the original stays in history): with --content, "
        "--file, or in $VISUAL / $EDITOR.",
    )
    edit.add_argument("ref", metavar="REF", help="the message (an EDIT commit names the message it edits)")
    edit.add_argument("--content", metavar="TEXT", help="the new content")
    edit.add_argument("--file", metavar="PATH", help="read the new content from a UTF-8 file (- for standard input)")
    edit.add_argument("-m", "--message", metavar="TEXT", help="a commit message saying why")
    switch = command("switch", _lazy("cmd_switch", "branching"), "Attach HEAD to a branch.")
    switch.add_argument("name", metavar="NAME", help="an existing branch")
    merge = command("merge", _lazy("cmd_merge", "branching"), "Merge a branch (or commit) into the current branch.")
    merge.add_argument("source", metavar="SOURCE", help="the branch or commit to merge")
    merge.add_argument(
        "--strategy",
        choices=MERGE_STRATEGIES,
        default="auto",
        help="auto: fast-forward when possible; no-ff: always a merge commit; ff-only: refuse to merge diverged "
        "branches; ours/theirs: a merge commit whose conflicts take that side (default: auto)",
    )
    reset = command(
        "reset", _lazy("cmd_reset", "branching"), "Move the current branch (or a detached HEAD) to another commit."
    )
    reset.add_argument("ref", metavar="REF", help="where to move it")
    reset.add_argument(
        "--hard",
        action="store_true",
        help="delete the commits nothing reaches any more (default: soft, which keeps them until gc)",
    )
    reflog = command(
        "reflog", _lazy("cmd_reflog", "history"), "List the recorded moves of HEAD and the branches, newest first."
    )
    reflog.add_argument(
        "--limit", type=_non_negative, default=20, metavar="N", help="at most N entries; 0 for all (default: 20)"
    )
    reflog.add_argument("--ref", metavar="NAME", help="only the moves of this branch (or HEAD)")
    reflog.add_argument("--json", action="store_true", help="print plain JSON: an array of moves, newest first")
    pick = command("cherry-pick", _lazy("cmd_cherry_pick", "branching"), "Copy one commit onto HEAD.")
    pick.add_argument("ref", metavar="REF", help="the commit to copy (from any branch, or one found with reflog)")
    rebase = command(
        "rebase", _lazy("cmd_rebase", "branching"), "Replay the current branch's own commits on top of another commit."
    )
    rebase.add_argument("onto", metavar="ONTO", help="the branch or commit to replay onto")
    for replaying in (pick, rebase):
        replaying.add_argument(
            "--strict",
            action="store_true",
            help="refuse (writing nothing) when an EDIT or a tool result would point outside the new history",
        )
    compress = command(
        "compress",
        _lazy("cmd_compress", "maintenance"),
        "Replace a stretch of history with a summary you wrote (the originals are archived, not lost), "
        "or review the pending drafts made with the Python API.",
    )
    compress.add_argument("--content", metavar="TEXT", help="the summary")
    compress.add_argument("--file", metavar="PATH", help="read the summary from a UTF-8 file (- for standard input)")
    compress.add_argument(
        "--from", dest="start", metavar="REF", help="first commit to compress (default: after the leading pinned ones)"
    )
    compress.add_argument(
        "--to", dest="end", metavar="REF", help="last commit to compress (default: all but the --keep-recent newest)"
    )
    compress.add_argument(
        "--keep-recent",
        type=_non_negative,
        metavar="N",
        help=f"without --to: leave the N most recent messages alone (default: {KEEP_RECENT})",
    )
    compress.add_argument("--pending", action="store_true", help="list the drafts waiting for approval")
    compress.add_argument(
        "--approve",
        type=_non_negative,
        metavar="ID",
        help="commit pending compression ID (with --content or --file: that summary instead of the draft)",
    )
    compress.add_argument("--reject", type=_non_negative, metavar="ID", help="drop pending compression ID")
    gc = command(
        "gc",
        _lazy("cmd_gc", "maintenance"),
        "Remove unreachable commits past their retention windows, and the content no commit uses any more.",
    )
    gc.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    gc.add_argument(
        "--orphan-days",
        type=_days,
        default=7.0,
        metavar="D",
        help="remove commits left behind by resets, deleted branches and rebases after D days, and expire "
        "reflog entries older than that (default: 7)",
    )
    gc.add_argument(
        "--archive-days",
        type=_days,
        default=30.0,
        metavar="D",
        help="remove commits archived by compressions after D days (default: 30)",
    )
    gc.add_argument(
        "--vacuum",
        choices=("incremental", "full", "none"),
        default="incremental",
        help="SQLite: give freed space back to the file system (full: rewrite the file; none: leave the file as "
        "it is) (default: incremental)",
    )
    policies = command(
        "policies",
        _lazy("cmd_policies", "policies"),
        "List the policies configured on the tract (or, with --log, what they did); pause or resume them.",
    )
    policies.add_argument(
        "action",
        nargs="?",
        choices=("pause", "resume"),
        metavar="pause|resume",
        help="pause: no process evaluates the tract's policies until resume (pending proposals can still be decided)",
    )
    policies.add_argument("--log", action="store_true", help="the policy log, newest first")
    policies.add_argument(
        "-n",
        "--limit",
        type=_non_negative,
        metavar="N",
        help="with --log: at most N entries; 0 for all (default: 20)",
    )
    policies.add_argument("--json", action="store_true", help="print plain JSON")
    proposals = command(
        "proposals",
        _lazy("cmd_proposals", "policies"),
        "List the proposals of the tract's policies that wait for a decision.",
    )
    proposals.add_argument("--all", action="store_true", help="every proposal, decided ones included")
    proposals.add_argument("--status", choices=STATUSES, help="only the proposals in this status (default: pending)")
    proposals.add_argument("--json", action="store_true", help="print plain JSON")
    approve = command("approve", _lazy("cmd_approve", "policies"), "Approve a pending proposal and execute it.")
    approve.add_argument("id", type=_non_negative, metavar="ID", help="the proposal (`tract proposals` lists them)")
    approve.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="change a parameter of the action before it executes (repeatable); VALUE is JSON if it parses "
        "(keep_recent=10 is a number), else text; commit parameters take any commit reference",
    )
    reject = command("reject", _lazy("cmd_reject", "policies"), "Reject a pending proposal: nothing changes.")
    reject.add_argument("id", type=_non_negative, metavar="ID", help="the proposal (`tract proposals` lists them)")
    reject.add_argument("--reason", metavar="TEXT", help="why (stored with the proposal and in the policy log)")
    for deciding in (approve, reject):
        deciding.add_argument(
            "--by", metavar="NAME", help="who decides, stored with the proposal (default: cli:<login name>)"
        )
        deciding.add_argument("--json", action="store_true", help="print the decided proposal as plain JSON")
    health = command(
        "health",
        _lazy("cmd_health", "orchestrator"),
        "Assess the context's health: budget pressure, fragmentation, stale and tangent branches, oversized "
        "tool outputs and pending proposals, each a value, a severity (ok, warn, act) and a reason.",
    )
    health.add_argument("--json", action="store_true", help="print the report as plain JSON")
    orchestrate = command(
        "orchestrate",
        _lazy("cmd_orchestrate", "orchestrator"),
        "Run the tract's orchestrator once: assess the health, then act by its rules, every action a proposal "
        "its autonomy decides; print each step and why it stopped. Or pause / resume it.",
    )
    orchestrate.add_argument(
        "action",
        nargs="?",
        choices=("pause", "resume"),
        metavar="pause|resume",
        help="pause: in every process, no trigger fires and no run (nor policy) acts until resume",
    )
    orchestrate.add_argument(
        "--dry-run", action="store_true", help="only list the actions the rules would take, with their reasons"
    )
    orchestrate.add_argument("--json", action="store_true", help="print the run as plain JSON")
    events = command(
        "events",
        _lazy("cmd_events", "events"),
        "List the events pushed to the tract and not drained yet, oldest first.",
    )
    events.add_argument("--json", action="store_true", help="print plain JSON")
    push = command(
        "push",
        _lazy("cmd_push", "events"),
        "Queue an event for the model: the next drain (t.drain_events(), or an events node) commits it as a "
        "message on the checked-out branch.",
    )
    push.add_argument("text", metavar="TEXT", help="what happened")
    push.add_argument("--source", metavar="S", help="who says so, shown in the message ('[event from S] TEXT')")
    push.add_argument("--key", metavar="K", help="a node key: a newer event with the same key replaces it")
    push.add_argument(
        "--role", choices=("user", "system"), default="user", help="the role of its message (default: user)"
    )
    push.add_argument("--json", action="store_true", help="print the queued event as plain JSON")
    verify = command(
        "verify",
        _lazy("cmd_verify", "maintenance"),
        "Check everything stored for the tract, like git fsck: hashes, links, HEAD, the annotation chain, "
        "cached token counts and (SQLite) every page of the file. Exits 1 and lists the damage if there is any.",
    )
    verify.add_argument(
        "--json", action="store_true", help="print plain JSON: sound, the counts checked, or the problems found"
    )
    mcp = command(
        "mcp",
        _lazy("cmd_mcp", "mcp"),
        "Serve the tract's agent toolkit over the Model Context Protocol on stdin/stdout, for an MCP client "
        "to start (needs pip install 'tract-context[mcp]').",
    )
    mcp.add_argument(
        "--profile",
        choices=TOOL_PROFILES,
        default="self",
        help="the tools offered: self (the agent's own context), supervisor (branches, sub-agents, proposals) "
        "or full (all, plus commit, reset, cherry-pick) (default: self)",
    )
    mcp.add_argument(
        "--autonomy",
        choices=AUTONOMY,
        help="which context-changing calls run at once; with manual or collaborative the others wait as "
        "proposals for `tract approve` (default: autonomous)",
    )
    demo = commands.add_parser(
        "demo",
        help="Write a demo store and tour it.",
        description="Write a customer-support conversation to a SQLite file (replacing it) and tour it.",
    )
    _add_globals(demo, f"the SQLite file to write (default: {DEMO_PATH}; replaced if it exists)")
    demo.set_defaults(handler=_lazy("cmd_demo", "history"))
    return parser
