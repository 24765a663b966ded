"""The ``tract`` command line: inspect a tract store; branch, merge, reset, compress and gc it; review
what its policies propose, from a terminal.

A thin layer over the public :class:`~tract_core.Tract` API: each command opens an existing tract
(``create=False``), calls one or two API methods and renders the result with rich, laid out for the
terminal's width (long output paged on a terminal); ``--json`` prints plain JSON instead, ready for
a pipe. :func:`graph_lines` draws the commit graph of ``tract log --graph``.

This package is the entry point (:func:`main`); the commands live in ``listing`` (list),
``history`` (log, show, status, compile, diff, reflog, demo), ``branching`` (branch, switch,
merge, reset, cherry-pick, rebase), ``editing`` (checkout, annotate, edit), ``maintenance``
(compress, gc, verify), ``policies`` (policies, proposals, approve, reject), ``orchestrator``
(health, orchestrate), ``tree`` (snapshot, tree, select), ``events`` (events, push) and ``mcp``
(the agent toolkit served over the Model Context Protocol), each imported only when one of its
commands runs, so ``tract --help`` loads neither rich nor the store. ``parser`` wires them to their
options, ``options`` opens the tract they name, ``render``, ``graph`` and ``jsonout`` draw what
they print, ``pager`` pages it and ``wording`` puts the library's errors in the command line's terms.

Example:
    $ tract demo
    $ tract --db tract-demo.db log --graph
    $ tract --db tract-demo.db compile --json | python -m json.tool
"""

from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any

from .options import EXIT_ERROR, CommandFailed, UsageError
from .parser import build_parser

if TYPE_CHECKING:
    from .graph import _merge_logs as _merge_logs  # re-exported: the tests check the merged log order
    from .graph import graph_lines
    from .options import open_tract

__all__ = ["main", "build_parser", "open_tract", "graph_lines"]

_LAZY = {"graph_lines": ".graph", "_merge_logs": ".graph", "open_tract": ".options"}
"""Names imported when first used, so that ``tract --help`` loads neither rich nor the store."""


if not TYPE_CHECKING:  # type checkers see the imports above

    def __getattr__(name: str) -> Any:
        """Import :func:`graph_lines` (and the rest of :data:`_LAZY`) on first use (PEP 562)."""
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def main(argv: list[str] | None = None) -> int:
    """Run the ``tract`` command line.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when ``tract merge`` has conflicts, ``tract verify``
        finds damage (listed on stderr) or an action of ``tract orchestrate`` failed, 2 on any
        error (reported in one line on stderr).
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version and usage errors
        return stop.code if isinstance(stop.code, int) else EXIT_ERROR
    from rich.console import Console

    from ..errors import TokenizerFallbackWarning, TractError
    from .pager import paging
    from .wording import cli_wording

    out = Console()  # colors only on a terminal, $NO_COLOR and $COLUMNS respected (rich's own rules)
    with warnings.catch_warnings():
        # `tract status` reports the offline-tokenizer fallback; no need to warn on every command.
        warnings.simplefilter("ignore", TokenizerFallbackWarning)
        try:
            with paging(args, out):
                status = args.handler(args, out)
        except (TractError, UsageError, CommandFailed, ImportError, OSError) as error:
            message = cli_wording(" ".join(str(error).split())) or type(error).__name__
            sys.stderr.write(f"tract: error: {message}\n")
            return EXIT_ERROR
    return status or 0
