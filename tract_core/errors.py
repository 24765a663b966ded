"""The exceptions and warnings tract raises.

Every error derives from :class:`TractError` and its message says what to do next. Input errors
also derive from :class:`ValueError` (and lookup errors from :class:`LookupError`) so code that
already catches the builtin families keeps working.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "shown",
    "TractError",
    "TractWarning",
    "TokenizerFallbackWarning",
    "InvalidInputError",
    "InvalidRoleError",
    "ConfigError",
    "NotFoundError",
    "CommitNotFoundError",
    "AmbiguousRefError",
    "BranchNotFoundError",
    "BranchDeletedError",
    "TractNotFoundError",
    "DatabaseNotFoundError",
    "EditTargetError",
    "TemporalAddressError",
    "SelectorSyntaxError",
    "ConcurrentUpdateError",
    "SchemaVersionError",
    "TractClosedError",
    "CorruptObjectError",
    "BranchExistsError",
    "MergeConflict",
    "RebaseSafetyError",
    "ProposalNotFoundError",
    "ProposalDecidedError",
    "StaleProposalError",
    "ScaffoldNotFoundError",
    "ScaffoldClassError",
    "PolicyWarning",
    "RESTORE",
    "damaged",
    "damage_summary",
    "StorageError",
    "StorageBusyError",
    "StorageFullError",
    "StorageReadOnlyError",
    "StorageUnavailableError",
]

RESTORE = "the database was changed outside tract: restore it from a backup (Tract.verify() lists all the damage)"
"""What to do about damaged stored data: tract cannot rebuild what was lost."""


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 60, 60, 40


def shown(value: Any, limit: int = 80) -> str:
    """A short ``repr`` of a caller's value for an error message.

    Never raises and never grows with the value: deep, cyclic or huge values (a 5,000-digit int, an
    object whose ``repr`` fails) are cut or named by their type.
    """
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a broken or refused __repr__ (e.g. int digit limits)
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TractError(Exception):
    """Base class of every error tract raises."""


class TractWarning(UserWarning):
    """Base class of tract's warnings."""


class TokenizerFallbackWarning(TractWarning):
    """The configured model's tokenizer could not be loaded; an offline encoding is used instead."""


class PolicyWarning(TractWarning):
    """A policy failed, was paused after failing, or could not be restored when a tract was opened."""


class InvalidInputError(TractError, ValueError):
    """An argument has the wrong shape or value; nothing was written."""


class InvalidRoleError(InvalidInputError):
    """A message role tract does not know."""


class ConfigError(InvalidInputError):
    """A :class:`~tract_core.TractConfig` value is out of range."""


class NotFoundError(TractError, LookupError):
    """Something named by the caller does not exist."""


class CommitNotFoundError(NotFoundError):
    """No commit of this tract matches the given reference."""


class AmbiguousRefError(NotFoundError):
    """A hash prefix matches more than one commit."""

    def __init__(self, prefix: str, candidates: Iterable[str]) -> None:
        self.prefix = prefix
        self.candidates = sorted(candidates)
        shown = ", ".join(c[:12] for c in self.candidates[:10])
        more = "" if len(self.candidates) <= 10 else f" and {len(self.candidates) - 10} more"
        super().__init__(
            f"hash prefix {prefix!r} is ambiguous: it matches {shown}{more}; give more characters of the hash"
        )


class ProposalNotFoundError(NotFoundError):
    """No proposal of this tract has the given id."""


class BranchNotFoundError(NotFoundError):
    """No branch of this tract has the given name."""


class BranchDeletedError(BranchNotFoundError):
    """The branch this handle has checked out was deleted by another handle or process.

    Attributes:
        branch: The deleted branch's name.
    """

    def __init__(self, message: str, branch: str) -> None:
        super().__init__(message)
        self.branch = branch


class TractNotFoundError(NotFoundError):
    """The database holds no tract with the given id."""


class DatabaseNotFoundError(NotFoundError):
    """The database file or server named by the caller does not exist or cannot be reached."""


class ScaffoldNotFoundError(NotFoundError):
    """No scaffold of the given name is mounted in HEAD's history (see :meth:`tract_core.Tract.mount`)."""


class ScaffoldClassError(TractError):
    """A scaffold's recorded class cannot be used here: it cannot be imported, is not a
    :class:`~tract_core.Scaffold`, its stored state does not fit the class, or another class is
    mounted under that name."""


class ProposalDecidedError(TractError):
    """The proposal was already decided (approved, rejected, executed...), here or in another process."""


class StaleProposalError(TractError):
    """The proposal was made against a history HEAD no longer holds; re-evaluate with ``run_policies()``."""


class EditTargetError(InvalidInputError):
    """An EDIT names a commit that is missing from the current history or cannot be edited."""


class TemporalAddressError(InvalidInputError):
    """A temporal address (``@t0``, ``@t-3``, ``@t-5..@t0``, ``@history``) is malformed, goes back
    past the first cycle of HEAD's history, or is a range where one commit is needed."""


class SelectorSyntaxError(InvalidInputError):
    """A selector query (``t.select("^seq .tool_result")``, docs/selectors.md) is malformed.

    The message shows the query with a caret under the problem and says what was expected there.

    Attributes:
        query: The query as given.
        column: The 1-based column of the problem in ``query``.
        problem: What is wrong, in a few words.
        expected: What the grammar accepts at that column, named readably (may be empty).
    """

    def __init__(self, query: str, column: int, problem: str, expected: Iterable[str] = ()) -> None:
        self.query = query
        self.column = column
        self.problem = problem
        self.expected = tuple(expected)
        flat = "".join(" " if ch in "\t\r\n\v\f" else ch for ch in query)
        lines = [f"bad selector at column {column}: {problem}", f"  {flat}", "  " + " " * (column - 1) + "^"]
        if self.expected:
            lines.append("expected " + " or ".join(self.expected))
        lines.append("see docs/selectors.md for the syntax")
        super().__init__("\n".join(lines))


class ConcurrentUpdateError(TractError):
    """Another writer moved a ref between our read and our compare-and-swap update."""


class SchemaVersionError(TractError):
    """The database schema was written by a newer (or unknown) version of tract."""


class TractClosedError(TractError):
    """The :class:`~tract_core.Tract` handle was closed; open the tract again to use it."""


class CorruptObjectError(TractError):
    """Stored data was damaged or changed outside tract: a row that no longer matches its hash or
    cannot be decoded, a link to something missing, a broken annotation chain, a damaged file.

    Attributes:
        problems: What is wrong, one line each (``Tract.verify()`` lists every problem it finds).
    """

    def __init__(self, message: str, problems: Iterable[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems) if problems is not None else [message]


def damaged(what: str, problem: str, advice: str = RESTORE) -> CorruptObjectError:
    """The error for one damaged thing.

    Args:
        what: What is damaged, e.g. ``"commit 1a2b3c4d5e6f of tract 'support'"``.
        problem: What is wrong with it.
        advice: What to do about it.
    """
    return CorruptObjectError(f"{what} is damaged: {problem}; {advice}", [f"{what}: {problem}"])


def damage_summary(subject: str, problems: list[str], advice: str = RESTORE) -> CorruptObjectError:
    """One error listing several problems of ``subject`` (the first ten in the message, all in ``problems``)."""
    if len(problems) == 1:
        return CorruptObjectError(f"{subject} is damaged: {problems[0]}; {advice}", problems)
    more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
    return CorruptObjectError(
        f"{subject} is damaged ({len(problems)} problems): {'; '.join(problems[:10])}{more}; {advice}", problems
    )


class BranchExistsError(InvalidInputError):
    """A branch with that name already exists."""


class MergeConflict(TractError):
    """Both sides of a merge changed the same message differently.

    Attributes:
        conflicts: One :class:`~tract_core.merge.Conflict` per message, each with both versions.
    """

    def __init__(self, message: str, conflicts: list[Any]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


class RebaseSafetyError(TractError):
    """A rebase or cherry-pick (with ``strict=True``) would leave an EDIT or a tool result dangling.

    Attributes:
        warnings: What would break, one line each.
    """

    def __init__(self, message: str, warnings: list[str]) -> None:
        super().__init__(message)
        self.warnings = warnings


class StorageError(TractError):
    """The database failed or refused an operation; what it was doing was rolled back.

    Raised instead of the database driver's own exception, which is kept as ``__cause__``. The
    message says what to check and never repeats SQL parameters (message content).
    """


class StorageBusyError(StorageError):
    """Another writer held the database's lock longer than tract waits for it; retry."""


class StorageFullError(StorageError):
    """The disk (or a size limit of the database) is full; free space, then retry."""


class StorageReadOnlyError(StorageError):
    """The database cannot be written: file or folder permissions, a read-only disk or replica."""


class StorageUnavailableError(StorageError):
    """The database server cannot be reached, or the connection to it was lost."""
