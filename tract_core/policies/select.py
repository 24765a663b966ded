"""``SelectPolicy``: give whatever a selector query selects a priority, cycle after cycle.

Scenario 6.3's "tool outputs older than 10 turns are skipped" is one line::

    t.configure_policies([SelectPolicy("^seq .tool_result(d11..d*)", SKIP)])

The query is the selector language of :mod:`tract_core.tree.selectors` (DESIGN 15), checked when the
policy is made. After each commit (or compile, with ``trigger="compile"``) the policy selects in the
current context and proposes one ``annotate`` action for the selected messages that do not have the
priority yet. A message someone has annotated (pinned, skipped or restored with NORMAL) is left
alone, so a human decision is never overridden.

Example:
    >>> from tract_core import SKIP, Tract
    >>> from tract_core.policies import SelectPolicy
    >>> with Tract.open() as t:
    ...     _ = t.configure_policies([SelectPolicy(".user:contains('password')", SKIP)], autonomy="autonomous")
    ...     _ = t.system("Be brief.")
    ...     _ = t.user("my password is hunter2")
    ...     [m["content"] for m in t.compile().messages]
    ['Be brief.']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, shown
from ..objects import Priority
from ..tree.selectors import Selection, parse_selector
from .policy import TRIGGERS, PolicyAction

if TYPE_CHECKING:
    from ..tract import Tract

__all__ = ["SelectPolicy"]


class SelectPolicy:
    """Annotates the messages a selector query selects (see the module docstring).

    Args:
        query: A selector (``"^seq .tool_result(d11..d*)"``); temporal addresses are not allowed (the
            policy always looks at the current context).
        annotate: The priority to give them: ``SKIP`` (default), ``PINNED`` or ``NORMAL``.
        reason: The annotations' reason (default: the query).
        trigger: ``"commit"`` (default) or ``"compile"``.
        name: The policy's name; priority: lower runs first; autonomy: overrides the tract's.

    Raises:
        SelectorSyntaxError: The query does not parse.
        InvalidInputError: A temporal query, an unknown priority or trigger.
    """

    def __init__(
        self,
        query: str,
        annotate: Priority | str = Priority.SKIP,
        *,
        reason: str | None = None,
        trigger: str = "commit",
        name: str = "select",
        priority: int = 50,
        autonomy: str | None = None,
    ) -> None:
        parsed = parse_selector(query)
        if parsed.temporal is not None:
            raise InvalidInputError(
                f"SelectPolicy looks at the current context; drop the temporal address from {shown(query)}"
            )
        if trigger not in TRIGGERS:
            raise InvalidInputError(f"SelectPolicy trigger must be one of {list(TRIGGERS)}, not {shown(trigger)}")
        try:
            self.annotate = Priority(annotate.lower() if isinstance(annotate, str) else annotate)
        except ValueError:
            raise InvalidInputError(
                f"SelectPolicy annotate must be PINNED, SKIP or NORMAL, not {shown(annotate)}"
            ) from None
        self.query = query
        self.reason = reason
        self.trigger = trigger
        self.name = name
        self.priority = priority
        self.autonomy = autonomy

    def __repr__(self) -> str:
        return f"SelectPolicy({self.query!r}, {self.annotate.name})"

    def to_config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this policy when the tract is reopened."""
        return {
            "query": self.query,
            "annotate": self.annotate.value,
            "reason": self.reason,
            "trigger": self.trigger,
            "name": self.name,
            "priority": self.priority,
        }

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        """One ``annotate`` action for the selected messages without the priority or an annotation."""
        selection = tract.select(self.query)
        if not isinstance(selection, Selection):  # a temporal range: refused when the policy was made
            return None
        wanted = self.annotate.value
        targets = [node.id for node in selection if node.priority != wanted and not tract.show(node.id).annotations]
        if not targets:
            return None
        count = f"{len(targets)} message{'s' if len(targets) != 1 else ''}"
        return PolicyAction(
            "annotate",
            {"targets": targets, "priority": wanted, "reason": self.reason or f"selected by {self.query}"},
            reason=f"{self.query} selects {count} to mark {self.annotate.name}",
        )
