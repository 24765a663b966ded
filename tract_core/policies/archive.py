"""``ArchivePolicy``: move branches nobody has committed to for a while out of sight."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..arguments import check_number
from ..branches import ARCHIVE_PREFIX
from ..clock import now
from ..errors import InvalidInputError, shown
from .execute import TANGENT_PREFIX
from .policy import PolicyAction

if TYPE_CHECKING:
    from ..tract import Tract

__all__ = ["ArchivePolicy"]

DAY = 86_400.0


class ArchivePolicy:
    """Archives branches with no commit for ``days``: each becomes ``archive/<name>``, hidden from
    ``list_branches()`` (``include_archived=True`` shows it), restorable with
    ``Tract.restore_branch()``, and never deleted by gc (it is still a branch). The checked-out
    branch and those in ``keep`` are never archived; a branch restored by hand (or whose archiving
    was rejected) is not archived again until it gets new commits.

    Evaluation lists branches at most once per ``check_every`` seconds (of the clock in use), so
    the commits in between cost nothing. Low risk: it executes in ``collaborative`` mode.

    Args:
        days: Idle days before a branch is archived.
        keep: Branch names never archived (default: ``main``).
        check_every: Seconds between two looks at the branches.
        name: The policy's name; priority: lower runs first; autonomy: overrides the tract's.
    """

    trigger = "commit"

    def __init__(
        self,
        days: float = 7,
        *,
        keep: tuple[str, ...] | list[str] = ("main",),
        check_every: float = 3600.0,
        name: str = "archive",
        priority: int = 300,
        autonomy: str | None = None,
    ) -> None:
        check_number(days, "days")
        check_number(check_every, "check_every")
        if isinstance(keep, str):
            raise InvalidInputError(f"ArchivePolicy keep is a list of branch names, not {shown(keep)}")
        self.days = days
        self.keep = tuple(keep)
        self.check_every = check_every
        self.name = name
        self.priority = priority
        self.autonomy = autonomy
        self._checked: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"ArchivePolicy(days={self.days})"

    def to_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this policy."""
        return {
            "days": self.days,
            "keep": list(self.keep),
            "check_every": self.check_every,
            "name": self.name,
            "priority": self.priority,
        }

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        """An archive action for the idle branches, at most once per ``check_every``."""
        moment = now()
        key = f"{id(tract.store)}:{tract.tract_id}"
        if moment < self._checked.get(key, float("-inf")) + self.check_every:
            return None
        self._checked[key] = moment
        cutoff = moment - self.days * DAY
        idle = [
            b
            for b in tract.list_branches()
            if not b.current
            and b.name not in self.keep
            and not b.name.startswith(ARCHIVE_PREFIX)
            and b.last_commit_at is not None
            and b.last_commit_at <= cutoff
        ]
        if idle:  # a branch archived before and restored by hand (or whose archiving was rejected) stays
            decided = {
                (name, tip)
                for status in ("executed", "rejected")
                for p in tract.proposals(status=status)
                if p.policy == self.name and p.kind == "archive"
                for name, tip in zip(p.params.get("branches", ()), p.params.get("tips", ()), strict=False)
            }
            idle = [b for b in idle if (b.name, b.commit) not in decided]
        if not idle:
            return None
        names = [b.name for b in idle]
        tangents = sum(n.startswith(TANGENT_PREFIX) for n in names)
        shown_names = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return PolicyAction(
            "archive",
            {"branches": names, "tips": [b.commit for b in idle]},
            reason=(
                f"{len(names)} branch(es) had no commit for {self.days:g} days ({shown_names}"
                + (f"; {tangents} of them tangents" if tangents else "")
                + f"): move them to {ARCHIVE_PREFIX}<name>"
            ),
        )
