"""``tract mcp``: serve a tract's agent toolkit over the Model Context Protocol on stdin/stdout, for
an MCP client (Claude Desktop, an IDE, an agent framework) to start as a subprocess.

The MCP SDK is imported only when the command runs (``tract --help`` stays fast); without it the
command fails with the ``pip install`` line to run. Like the reading commands, the server opens
the tract without its configured policies: the agent's own process runs those.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from .options import open_from

__all__ = ["cmd_mcp"]


def cmd_mcp(args: argparse.Namespace, out: Console) -> int | None:
    """``tract mcp [--profile P] [--autonomy A]``: serve the tract over MCP (stdio) until the client
    disconnects. Nothing but the protocol goes to standard output; one line on standard error says
    what is served."""
    from ..mcp import require_sdk, serve

    require_sdk()  # before opening anything: without the SDK, the error is the line to install it
    t = open_from(args)
    with t:
        sys.stderr.write(
            f"tract: serving tract {t.tract_id!r} over MCP on stdin/stdout (profile {args.profile}, autonomy "
            f"{args.autonomy or 'autonomous'}) until the client disconnects\n"
        )
        sys.stderr.flush()
        try:
            serve(t, profile=args.profile, autonomy=args.autonomy)
        except KeyboardInterrupt:
            return 130
    return None
