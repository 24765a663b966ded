"""A tract's operations as LangChain tools: ``t.as_tools(format="langchain")`` for ``create_agent``.

::

    from langchain.agents import create_agent

    agent = create_agent(model, tools=t.as_tools(profile="self", format="langchain"))

Each tool is a ``StructuredTool`` named ``context_<operation>`` (the prefix is ``as_tools``'s), with
the operation's description and its pydantic argument model as ``args_schema``, so the schema the
model sees is the one its calls are checked against. A call runs through
:meth:`tract_core.Tract.execute_tool`: context-changing calls are proposals decided by the
``autonomy`` given to ``as_tools`` (``"collaborative"``: compressing waits for approval, and the tool
says so). The tool returns the result's text. A bad call (unknown commit, wrong argument type,
an operation the tract refuses) writes nothing and gives the error text as the tool's result with
``status="error"`` on the ``ToolMessage``, so the agent loop goes on and the model reads what to fix.

Calls on one tract are run one at a time (an agent may call several tools at once, in threads); the
async path (``ainvoke``, async agents) runs the call in a worker thread, so the event loop is never
blocked by the database or a summariser.

This module is found through the ``tract_core.tool_formats`` entry point ``langchain``; call
:meth:`tract_core.Tract.as_tools` rather than :func:`build_tools`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.tools import StructuredTool, ToolException
from pydantic import ValidationError

from tract_core.toolkit import ToolSpec

__all__ = ["build_tools"]

_SHOWN = 80  # characters of a bad argument value quoted back to the model


def _bad_arguments(name: str) -> Any:
    """The text a call with arguments that fail ``args_schema`` gets (as the tract words it)."""

    def describe(error: ValidationError) -> str:
        problems = []
        for e in error.errors():
            where = ".".join(str(p) for p in e["loc"]) or "arguments"
            got = repr(e.get("input"))
            got = "" if e["type"] == "missing" else f" (got {got if len(got) <= _SHOWN else got[:_SHOWN] + '...'})"
            problems.append(f"{where}: {e['msg']}{got}")
        return f"Error: bad arguments for {name}: " + "; ".join(problems)

    return describe


def _tool(tract: Any, spec: ToolSpec, prefix: str, autonomy: str | None) -> StructuredTool:
    name = prefix + spec.name

    def call(**arguments: Any) -> str:
        result = tract.execute_tool({"name": name, "arguments": arguments}, prefix=prefix, autonomy=autonomy)
        if result["is_error"]:
            raise ToolException(result["content"])  # the tool's result, with status="error"
        return str(result["content"])

    async def acall(**arguments: Any) -> str:
        return await asyncio.to_thread(call, **arguments)

    return StructuredTool(
        name=name,
        description=spec.description,
        args_schema=spec.model,
        func=call,
        coroutine=acall,
        response_format="content",
        handle_tool_error=True,
        handle_validation_error=_bad_arguments(name),
    )


def build_tools(tract: Any, tools: Sequence[ToolSpec], *, prefix: str, autonomy: str | None) -> list[StructuredTool]:
    """The ``langchain`` tool format: one ``StructuredTool`` per tool spec, running calls on ``tract``.

    Args:
        tract: The :class:`~tract_core.Tract` the tools act on.
        tools: The tools of the profile (:func:`tract_core.toolkit.tools_for`).
        prefix: Put before each operation's name (``context_``).
        autonomy: Which context-changing calls run at once (None: ``"autonomous"``), as in
            :meth:`~tract_core.Tract.execute_tool`.

    Returns:
        The tools, for ``create_agent(model, tools=...)`` or ``model.bind_tools(...)``.
    """
    return [_tool(tract, spec, prefix, autonomy) for spec in tools]
