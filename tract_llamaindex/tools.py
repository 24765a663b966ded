"""Tract's agent toolkit as LlamaIndex ``FunctionTool`` objects: a ``FunctionAgent`` manages its own context.

``tract.as_tools(format="llamaindex")`` reaches :func:`build_tools` through the
``tract_core.tool_formats`` entry point::

    tools = memory.tract.as_tools(profile="self", format="llamaindex")
    agent = FunctionAgent(tools=[*tools, *my_tools], llm=llm)

Each tool carries the operation's name (``context_compress``), its description and its argument
model as ``fn_schema``; a call runs through :meth:`tract_core.Tract.execute_tool`, so it is checked,
recorded as a proposal when it changes the context, and carried out as the autonomy allows. A bad
call (an unknown commit, a wrong argument type) returns the error text with ``is_error`` set on
the ``ToolOutput``: the agent loop goes on and the model reads what to fix.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from llama_index.core.tools import FunctionTool, ToolMetadata, ToolOutput

from tract_core import InvalidInputError
from tract_core.policies import AUTONOMY_LEVELS

if TYPE_CHECKING:
    from tract_core import Tract
    from tract_core.toolkit import ToolSpec

__all__ = ["TractTool", "build_tools"]

_ERROR = "Error: "
"""How :meth:`~tract_core.Tract.execute_tool` begins the content of a failed call (a result is JSON)."""


class TractTool(FunctionTool):
    """A ``FunctionTool`` running a tract operation; its ``ToolOutput`` has ``is_error`` set when the
    call failed (nothing was written and the content says why, starting with ``Error:``)."""

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        """Run the operation in this thread."""
        return _mark(super().call(*args, **kwargs))

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        """Run the operation in a worker thread (the event loop keeps running)."""
        return _mark(await super().acall(*args, **kwargs))


def _mark(output: ToolOutput) -> ToolOutput:
    if isinstance(output.raw_output, str) and output.raw_output.startswith(_ERROR):
        output.is_error = True
    return output


def _tool(tract: Tract, spec: ToolSpec, prefix: str, autonomy: str | None) -> TractTool:
    name = prefix + spec.name

    def run(**arguments: Any) -> str:
        result = tract.execute_tool({"name": name, "arguments": arguments}, prefix=prefix, autonomy=autonomy)
        return str(result["content"])

    async def arun(**arguments: Any) -> str:
        return await asyncio.to_thread(run, **arguments)

    run.__name__ = arun.__name__ = name
    run.__doc__ = arun.__doc__ = spec.description
    metadata = ToolMetadata(description=spec.description, name=name, fn_schema=spec.model)
    return TractTool(fn=run, async_fn=arun, metadata=metadata)


def build_tools(tract: Tract, tools: list[ToolSpec], *, prefix: str, autonomy: str | None) -> list[FunctionTool]:
    """The tools as LlamaIndex ``FunctionTool`` objects (``Tract.as_tools(format="llamaindex")``).

    Args:
        tract: The tract the calls act on.
        tools: The operations (``tract_core.toolkit.tools_for(profile)``).
        prefix: Put before each operation's name (``context_`` gives ``context_compress``).
        autonomy: Which context-changing calls run at once (None: ``"autonomous"``); with
            ``"manual"`` or ``"collaborative"`` the high-risk ones wait for approval and the
            result says so.

    Returns:
        One :class:`TractTool` per operation. Its sync function runs the call in the calling
        thread, its async one in a worker thread (``asyncio.to_thread``); calls on one tract run
        one at a time. Each returns the result's text: JSON data, or ``Error: ...`` for a bad
        call (then ``ToolOutput.is_error`` is set and nothing was written).

    Raises:
        InvalidInputError: ``prefix`` is not a string or ``autonomy`` is not an autonomy level.
    """
    if not isinstance(prefix, str):
        raise InvalidInputError(f"prefix must be a string such as 'context_', not {prefix!r}")
    if autonomy is not None and autonomy not in AUTONOMY_LEVELS:
        raise InvalidInputError(f"autonomy must be 'manual', 'collaborative' or 'autonomous', not {autonomy!r}")
    return [_tool(tract, spec, prefix, autonomy) for spec in tools]
