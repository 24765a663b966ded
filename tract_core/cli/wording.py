"""Error messages in the command line's words.

The library's errors advise Python calls (``delete_branch(name, force=True)``, ``reflog()``); the
command line says the same with its own commands and options (``--force``, ``tract reflog``).
:func:`cli_wording` rewrites a message; the core's messages are left as they are.
"""

from __future__ import annotations

import re

__all__ = ["cli_wording"]

_REWORDINGS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"or delete_branch\(name, force=True\)", "or pass --force"),
        (r"reflog\(\) finds them", "`tract reflog` finds them"),
        (r"one that reflog\(\) lists", "one that `tract reflog` lists (`tract reset`)"),
        (r"create it with branch\('((?:[^'\\]|\\.)*)'\)", r"create it with `tract branch \1`"),
        (r"or use checkout\(\) to look at a commit", "or `tract checkout REF` to look at a commit"),
        (
            r"switch back to a branch first \(switch\('((?:[^'\\]|\\.)*)'\)\)",
            r"switch back to a branch first (`tract switch \1`)",
        ),
        (r"switch\(\) to a branch writes it again", "`tract switch BRANCH` writes it again"),
        (
            r"switch\(\) to another branch, or branch\('((?:[^'\\]|\\.)*)', from_=\.\.\.\) to re-create it",
            r"`tract switch` to another branch, or `tract branch \1 --from REF` to re-create it",
        ),
        (r"\(branch\('((?:[^'\\]|\\.)*)', '([0-9a-f]+)'\)", r"(`tract branch \1 --from \2`"),
        (r"refused \(strict=True\)", "refused (--strict)"),
        (
            r"Pass resolutions=, a resolver=, strategy='ours'/'theirs', or merge\(auto_commit=False\) to review",
            "Use --strategy ours or --strategy theirs, or resolve each message in Python",
        ),
        (r"list commits with t\.log\(\) or `tract log`", "list commits with `tract log`"),
        (
            r"; pass a hash, a prefix, a CommitInfo, a branch name or 'HEAD~N'",
            "; give a hash, a prefix, a branch name or HEAD~N",
        ),
        (
            r"check the path, or create one with Tract\.open\(path=\.\.\.\) \(or run `tract demo`\)",
            "check the path (or run `tract demo` to write one)",
        ),
        (r"or approve it with content='<your summary>'", "or approve it with --set content='<your summary>'"),
        (r"keep_recent must be", "--keep-recent must be"),
        (r"Reject it and compress again", "Reject it (`tract compress --reject ID`) and compress again"),
    )
)


def cli_wording(message: str) -> str:
    """``message`` with the Python calls it advises replaced by the commands that do the same.

    Example:
        >>> cli_wording("merge it first, or delete_branch(name, force=True) (reflog() finds them)")
        'merge it first, or pass --force (`tract reflog` finds them)'
    """
    for pattern, replacement in _REWORDINGS:
        message = pattern.sub(replacement, message)
    return message
