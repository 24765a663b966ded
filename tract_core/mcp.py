"""The agent toolkit over the Model Context Protocol: any MCP client (Claude Desktop, an IDE, an
agent framework's MCP adapter) manages a tract's context with the same tools ``as_tools`` gives.

:func:`build_server` makes an MCP server (the ``mcp`` SDK's low-level ``Server``) for one tract:

* **tools**: the profile's toolkit (:func:`tract_core.toolkit.tools_for`) with their names
  (``context_status``, ``context_annotate``, ...), descriptions and JSON Schemas unchanged. A call
  runs through :meth:`~tract_core.Tract.execute_tool`, so context-changing calls are proposals
  under the autonomy given, and a bad call (unknown tool or commit, wrong arguments) is a tool
  result with ``isError`` and the reason, with nothing written;
* **resources**: ``tract://context`` (the compiled context as OpenAI messages, JSON),
  ``tract://log`` (the newest commits, JSON) and ``tract://health`` (the health report, JSON).

Every tract call runs in a worker thread, one at a time, never on the event loop: the store is
SQLite or PostgreSQL, shared with the agent's own process. Each call reads the store afresh, so the
client sees what other processes committed since its last call.

:func:`serve` runs it over stdio (what ``tract mcp --db agent.db`` does). The SDK is the ``mcp``
extra: ``pip install "tract-context[mcp]"``; importing this module does not need it.

Example:
    >>> from tract_core import Tract
    >>> from tract_core.mcp import build_server
    >>> t = Tract.open()
    >>> server = build_server(t, profile="self")
    >>> server.name
    'tract'
    >>> t.close()
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import __version__
from .errors import InvalidInputError, TractError, shown
from .toolkit.dispatch import DEFAULT_PREFIX, check_autonomy_or_default, check_prefix
from .toolkit.operations import tools_for
from .toolkit.registry import check_profile

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server

    from .tract import Tract

__all__ = ["build_server", "serve", "serve_stdio", "require_sdk", "RESOURCES", "INSTALL_HINT", "LOG_LIMIT"]

INSTALL_HINT = 'pip install "tract-context[mcp]"'
"""How to install the MCP SDK this module needs."""

LOG_LIMIT = 50
"""How many of the newest commits ``tract://log`` lists."""

RESOURCES: dict[str, tuple[str, str]] = {
    "tract://context": (
        "context",
        "What the model sees next: the compiled context as OpenAI-style messages, with its HEAD, digest and tokens.",
    ),
    "tract://log": ("log", f"The newest {LOG_LIMIT} commits of the history, newest first (full hashes)."),
    "tract://health": (
        "health",
        "The context's health: budget pressure, fragmentation, stale and tangent branches, oversized tool "
        "outputs and pending proposals, each with a severity and a reason.",
    ),
}
"""The resources a server offers: URI -> (name, description); each is JSON."""

PREVIEW = 200
"""Characters of a message's text in ``tract://log``."""

logger = logging.getLogger(__name__)

T = TypeVar("T")


def require_sdk() -> None:
    """Check that the MCP SDK can be imported.

    Raises:
        ImportError: It is not installed (the message says how to install it).
    """
    try:
        import mcp.server.lowlevel  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"serving tract over MCP needs the MCP SDK (mcp>=2.0): {INSTALL_HINT}") from exc


def _preview(content: Any) -> str:
    if isinstance(content, str):
        text = content
    elif content is None:
        text = ""
    else:
        text = json.dumps(content, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def _context_json(tract: Tract) -> dict[str, Any]:
    context = tract.compile()
    return {
        "tract": tract.tract_id,
        "branch": tract.current_branch,
        "head": context.head,
        "digest": context.digest,
        "token_count": context.token_count,
        "messages": context.to_openai(),
    }


def _log_json(tract: Tract) -> dict[str, Any]:
    commits = [
        {
            "commit": c.hash,
            "parents": list(c.parents),
            "role": c.role,
            "type": c.content_type,
            "operation": str(c.operation.value),
            "edits": c.response_to,
            "message": c.message,
            "tokens": c.token_count,
            "created": c.created,
            "text": _preview(c.content),
        }
        for c in tract.log(LOG_LIMIT)
    ]
    return {"tract": tract.tract_id, "branch": tract.current_branch, "head": tract.head, "commits": commits}


def _health_json(tract: Tract) -> dict[str, Any]:
    return {"tract": tract.tract_id, "health": tract.health().to_json()}


_READERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "tract://context": _context_json,
    "tract://log": _log_json,
    "tract://health": _health_json,
}


def build_server(
    tract: Tract,
    profile: str = "self",
    *,
    prefix: str = DEFAULT_PREFIX,
    autonomy: str | None = None,
    name: str = "tract",
) -> Server[Any]:
    """An MCP server that offers ``tract.as_tools(profile)`` as tools, and the context, log and
    health as resources.

    The server does not own the tract: close it after the server stops. Run the server with
    :func:`serve_stdio` (or any transport of the SDK, e.g. ``server.streamable_http_app()``).

    Args:
        tract: The tract the tools work on. Its HEAD is the server's: ``context_switch`` moves it.
        profile: ``"self"``, ``"supervisor"`` or ``"full"`` (see :meth:`~tract_core.Tract.as_tools`).
        prefix: Put before each operation's name (``context_status``).
        autonomy: Which context-changing calls run at once (as in
            :meth:`~tract_core.Tract.execute_tool`; default ``"autonomous"``). With ``"manual"``
            or ``"collaborative"`` the others wait as proposals for ``tract approve``.
        name: The server's name, as clients show it.

    Raises:
        InvalidInputError: An unknown profile or autonomy, or a prefix that makes invalid names.
        ImportError: The MCP SDK is not installed.
    """
    from .tract import Tract

    if not isinstance(tract, Tract):
        raise InvalidInputError(f"build_server() serves an open Tract, not {shown(tract)}")
    check_profile(profile)
    check_prefix(prefix)
    run_autonomy = check_autonomy_or_default(autonomy)
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"name must be a non-empty string, not {shown(name)}")
    require_sdk()
    import anyio.to_thread
    from mcp import types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError

    specs = tools_for(profile)
    tools = [
        types.Tool(
            name=prefix + spec.name,
            description=spec.description,
            input_schema=spec.parameters,
            annotations=types.ToolAnnotations(read_only_hint=not spec.writes),
        )
        for spec in specs
    ]
    resources = [
        types.Resource(uri=uri, name=label, description=description, mime_type="application/json")
        for uri, (label, description) in RESOURCES.items()
    ]
    lock = threading.Lock()  # one tract call at a time: the handle is used by one thread at once

    async def on_worker(fn: Callable[[], T]) -> T:
        def locked() -> T:
            with lock:
                return fn()

        return await anyio.to_thread.run_sync(locked)

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        call = {"name": params.name, "arguments": params.arguments or {}}

        def run() -> dict[str, Any]:
            return tract.execute_tool(call, profile=profile, prefix=prefix, autonomy=run_autonomy)

        try:
            result = await on_worker(run)
        except Exception as error:  # not a bad call (those come back as results): the store failed
            logger.exception("tool %r failed", params.name)
            result = {"content": f"Error: {type(error).__name__}: {error}", "is_error": True}
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result["content"])], is_error=bool(result["is_error"])
        )

    async def list_resources(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=resources)

    async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        reader = _READERS.get(uri)
        if reader is None:
            known = ", ".join(RESOURCES)
            raise MCPError(types.INVALID_PARAMS, f"unknown resource {uri!r}; the resources are: {known}", {"uri": uri})
        try:
            data = await on_worker(lambda: reader(tract))
        except TractError as error:
            raise MCPError(types.INTERNAL_ERROR, f"reading {uri}: {error}", {"uri": uri}) from error
        text = json.dumps(data, ensure_ascii=False, default=str)
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
        )

    instructions = (
        f"Tools to manage your own context: tract {tract.tract_id!r}, profile {profile!r}. "
        f"Call {prefix}status or {prefix}health to see where it stands and {prefix}log for the commits; "
        f"name commits by the hash prefix {prefix}log shows. Context-changing calls are recorded as proposals "
        f"(autonomy {run_autonomy!r}); a bad call changes nothing and says why."
    )
    if tract.config.llm is None and any(spec.name == "compress" for spec in specs):
        instructions += f" This server has no model to write summaries: give {prefix}compress your own summary."
    return Server(
        name,
        version=__version__,
        instructions=instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


async def serve_stdio(server: Server[Any]) -> None:
    """Serve ``server`` over this process's stdin and stdout until the client disconnects.

    Raises:
        ImportError: The MCP SDK is not installed.
    """
    require_sdk()
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


URL_PREFIXES = ("sqlite://", "postgresql")
"""How a database URL starts (anything else given to :func:`serve` is a SQLite file path)."""


def serve(
    target: Tract | str | os.PathLike[str],
    *,
    tract_id: str | None = None,
    profile: str = "self",
    prefix: str = DEFAULT_PREFIX,
    autonomy: str | None = None,
) -> None:
    """Serve a tract's toolkit over MCP on stdin/stdout until the client disconnects (blocking).

    Args:
        target: An open :class:`~tract_core.Tract`, or a SQLite file / database URL holding the
            tract (opened without creating anything, and closed afterwards).
        tract_id: With a file or URL: which tract (default ``"default"``).
        profile: ``"self"``, ``"supervisor"`` or ``"full"``.
        prefix: Put before each operation's name.
        autonomy: Which context-changing calls run at once (default ``"autonomous"``).

    Raises:
        InvalidInputError: Bad arguments, or ``tract_id`` given with an open tract.
        DatabaseNotFoundError: The file or server does not exist.
        TractNotFoundError: The database has no such tract.
        ImportError: The MCP SDK is not installed.
    """
    from .tract import DEFAULT_TRACT_ID, Tract

    require_sdk()
    import anyio

    if isinstance(target, Tract):
        if tract_id is not None:
            raise InvalidInputError("tract_id names the tract of a database: leave it out when passing an open Tract")
        server = build_server(target, profile, prefix=prefix, autonomy=autonomy)
        anyio.run(serve_stdio, server)
        return
    if not isinstance(target, (str, os.PathLike)):
        raise InvalidInputError(f"serve() takes a Tract, a SQLite file or a database URL, not {shown(target)}")
    where = os.fspath(target)
    url = where if where.startswith(URL_PREFIXES) else None
    opened = Tract.open(
        None if url else where, url=url, tract_id=tract_id or DEFAULT_TRACT_ID, create=False, policies=False
    )
    with opened as tract:
        server = build_server(tract, profile, prefix=prefix, autonomy=autonomy)
        anyio.run(serve_stdio, server)
