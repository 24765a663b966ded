"""Tool definitions in each provider's or framework's shape.

``openai`` and ``anthropic`` are JSON data built here. Framework formats (``langchain``,
``llamaindex``) come from the adapter packages, found through the ``tract_core.tool_formats`` entry
point group (the core never imports an adapter): an entry point names a function
``build(tract, tools, *, prefix, autonomy) -> list`` that wraps each :class:`~.registry.ToolSpec`
in the framework's tool type and runs calls through :meth:`~tract_core.Tract.execute_tool`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from ..errors import InvalidInputError, shown
from .registry import ToolSpec

__all__ = ["FORMATS", "FormatBuilder", "tool_definitions", "register_tool_format", "openai_tool", "anthropic_tool"]

ENTRY_POINT_GROUP = "tract_core.tool_formats"

FormatBuilder = Callable[..., list[Any]]
"""``build(tract, tools, *, prefix, autonomy) -> list`` of the format's tool objects."""


def openai_tool(spec: ToolSpec, prefix: str) -> dict[str, Any]:
    """An OpenAI (Chat Completions) function tool definition."""
    return {
        "type": "function",
        "function": {"name": prefix + spec.name, "description": spec.description, "parameters": spec.parameters},
    }


def anthropic_tool(spec: ToolSpec, prefix: str) -> dict[str, Any]:
    """An Anthropic Messages API tool definition."""
    return {"name": prefix + spec.name, "description": spec.description, "input_schema": spec.parameters}


def _openai(tract: Any, tools: list[ToolSpec], *, prefix: str, autonomy: str | None) -> list[Any]:
    return [openai_tool(spec, prefix) for spec in tools]


def _anthropic(tract: Any, tools: list[ToolSpec], *, prefix: str, autonomy: str | None) -> list[Any]:
    return [anthropic_tool(spec, prefix) for spec in tools]


FORMATS: dict[str, FormatBuilder] = {"openai": _openai, "anthropic": _anthropic}
"""Formats known so far (plugins are added the first time they are asked for)."""


def register_tool_format(name: str, build: FormatBuilder) -> None:
    """Add (or replace) a tool format: ``build(tract, tools, *, prefix, autonomy) -> list``."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError("a tool format needs a name")
    if not callable(build):
        raise InvalidInputError("a tool format needs a build(tract, tools, *, prefix, autonomy) function")
    FORMATS[name] = build


def _plugin(name: str) -> FormatBuilder | None:
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == name:
            build = point.load()  # an ImportError here names the missing framework
            FORMATS[name] = build
            return build
    return None


def tool_definitions(tract: Any, tools: list[ToolSpec], fmt: str, *, prefix: str, autonomy: str | None) -> list[Any]:
    """The tools in format ``fmt``.

    Raises:
        InvalidInputError: An unknown format (the message lists the known ones).
    """
    build = FORMATS.get(fmt) if isinstance(fmt, str) else None
    if build is None and isinstance(fmt, str):
        build = _plugin(fmt)
    if build is None:
        known = sorted({*FORMATS, *(p.name for p in entry_points(group=ENTRY_POINT_GROUP))})
        raise InvalidInputError(f"unknown tool format {shown(fmt)}; use one of {', '.join(known)}")
    return build(tract, tools, prefix=prefix, autonomy=autonomy)
