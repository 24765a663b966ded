"""How tract's objects look in a notebook (``_repr_html_``) and in a rich terminal (``__rich__``).

Each class's hooks are one line that calls a function here: :mod:`.messages` and :mod:`.records`
build the HTML (from the pieces in :mod:`.html`), :mod:`.rich` the terminal renderables, and
:mod:`.graph` lays out the commit graph for both (``tract log --graph`` uses it too). The HTML is
escaped text and inline styles only, no script; long messages and long histories are cut so a
notebook stays quick. :mod:`.rich` is imported on first use, so ``import tract_core`` does not load rich.

These functions take the objects by their public attributes only; nothing here imports the classes
it draws (they import this package).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .graph import graph_svg, recent_history, ref_labels
from .messages import context_html, diff_html, snapshot_html
from .records import commit_html, health_html, log_html, proposal_html, status_html, tract_html

__all__ = [
    "context_html",
    "diff_html",
    "snapshot_html",
    "commit_html",
    "log_html",
    "status_html",
    "tract_html",
    "proposal_html",
    "health_html",
    "tract_graph_svg",
    "ref_labels",
    "context_rich",
    "diff_rich",
    "snapshot_rich",
    "commit_rich",
    "log_rich",
    "status_rich",
    "tract_rich",
    "proposal_rich",
    "health_rich",
]


def tract_graph_svg(tract: Any, per_branch: int) -> str:
    """The newest ``per_branch`` commits of HEAD and of every branch of ``tract`` as one SVG drawing."""
    commits, more = recent_history(tract, per_branch)
    return graph_svg(commits, ref_labels(tract.list_branches(), tract.head), more=more)


def context_rich(context: Any) -> Any:
    """The terminal view of a compiled context (:func:`.rich.context_view`)."""
    from .rich import context_view

    return context_view(context)


def diff_rich(diff: Any) -> Any:
    """The terminal view of a context diff (:func:`.rich.diff_view`)."""
    from .rich import diff_view

    return diff_view(diff)


def snapshot_rich(snapshot: Any) -> Any:
    """The terminal view of a snapshot (:func:`.rich.snapshot_view`)."""
    from .rich import snapshot_view

    return snapshot_view(snapshot)


def commit_rich(commit: Any) -> Any:
    """The terminal view of a commit (:func:`.rich.commit_view`)."""
    from .rich import commit_view

    return commit_view(commit)


def log_rich(log: Sequence[Any], labels: Mapping[str, Sequence[str]]) -> Any:
    """The terminal view of a log (:func:`.rich.log_view`)."""
    from .rich import log_view

    return log_view(log, labels)


def status_rich(status: Any) -> Any:
    """The terminal view of a status (:func:`.rich.status_view`)."""
    from .rich import status_view

    return status_view(status)


def tract_rich(tract: Any) -> Any:
    """The terminal view of a tract (:func:`.rich.tract_view`)."""
    from .rich import tract_view

    return tract_view(tract)


def proposal_rich(proposal: Any) -> Any:
    """The terminal view of a proposal (:func:`.rich.proposal_view`)."""
    from .rich import proposal_view

    return proposal_view(proposal)


def health_rich(report: Any) -> Any:
    """The terminal view of a health report (:func:`.rich.health_view`)."""
    from .rich import health_view

    return health_view(report)
