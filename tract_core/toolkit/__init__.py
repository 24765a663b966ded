"""The agent toolkit: tract operations as tools a model calls to manage its own context (DESIGN §13).

``t.as_tools(profile="self", format="openai")`` gives the definitions; ``t.execute_tool(call)``
runs what the model called and returns the result message for its provider::

    tools = t.as_tools(profile="self", format="openai")
    reply = client.chat.completions.create(model=..., messages=t.compile().to_openai(), tools=tools)
    for call in reply.choices[0].message.tool_calls or []:
        messages.append(t.execute_tool(call))

Profiles: ``self`` (status, log, show, overview, health, annotate, set_lifecycle, edit, compress, branch, switch,
merge), ``supervisor`` (branches, diff, children, spawn, absorb, archive/restore branches, gc,
proposals, approve, reject, merge, health) and ``full`` (all of them, plus commit, reset and
cherry-pick). Formats: ``openai``, ``anthropic``, and through the adapters ``langchain``
(``StructuredTool``) and ``llamaindex`` (``FunctionTool``).
"""

from .dispatch import DEFAULT_PREFIX, ToolCall, ToolResult, read_call, result_message, tool_calls_of
from .formats import FORMATS, FormatBuilder, anthropic_tool, openai_tool, register_tool_format
from .operations import tools_for
from .registry import PROFILES, TOOLS, ToolSpec

__all__ = [
    "ToolSpec",
    "ToolCall",
    "ToolResult",
    "TOOLS",
    "PROFILES",
    "FORMATS",
    "FormatBuilder",
    "DEFAULT_PREFIX",
    "tools_for",
    "read_call",
    "result_message",
    "tool_calls_of",
    "register_tool_format",
    "openai_tool",
    "anthropic_tool",
]
