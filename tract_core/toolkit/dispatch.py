"""Carrying out a tool call a model made: read the call in any provider's shape, check it, run it,
and answer in the same shape.

Accepted calls: an OpenAI tool call (``{"id", "type": "function", "function": {"name",
"arguments": "<json>"}}`` or the SDK's object), an Anthropic ``tool_use`` block (``{"type":
"tool_use", "id", "name", "input"}`` or the SDK's block), a LangChain ``ToolCall`` (``{"name",
"args", "id"}``) and plain ``{"name", "arguments"}`` (a dict or JSON text).

A bad call (unknown tool, arguments that are not JSON or do not match the schema, an unknown
commit, an operation the tract refuses) is answered with an error result the model can read and
recover from, and writes nothing. A call that changes the context goes through the tract's
proposals: it is recorded and executed as the autonomy allows, or left pending for approval.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError, TractError, shown
from ..policies.policy import PolicyAction
from .operations import tools_for
from .registry import TOOLS, ToolSpec

__all__ = [
    "ToolCall",
    "ToolResult",
    "read_call",
    "run_call",
    "result_message",
    "DEFAULT_PREFIX",
    "tool_calls_of",
    "check_autonomy_or_default",
    "check_prefix",
]

DEFAULT_PREFIX = "context_"
"""Tool names are the operation with this prefix: ``context_compress``, ``context_annotate``, ..."""


@dataclass(frozen=True)
class ToolCall:
    """A tool call read from a provider's shape.

    Attributes:
        shape: ``openai``, ``anthropic``, ``langchain`` or ``plain``: how to answer it.
        id: The call's id (None for plain calls without one).
        name: The tool's name as the model gave it.
        arguments: The arguments, or None when they could not be read (see ``error``).
        error: Why the call could not be read.
    """

    shape: str
    id: str | None
    name: str | None
    arguments: dict[str, Any] | None
    error: str | None = None


@dataclass(frozen=True)
class ToolResult:
    """What a tool call gave.

    Attributes:
        call: The call.
        data: The result as JSON data (for an error: ``{"error": ...}``).
        is_error: Whether the call failed (nothing was written).
        proposal: The id of the proposal a context-changing call made, if any.
    """

    call: ToolCall
    data: Any
    is_error: bool = False
    proposal: int | None = None

    @property
    def content(self) -> str:
        """The result as the text a model reads."""
        if self.is_error:
            return f"Error: {self.data['error']}"
        return json.dumps(self.data, ensure_ascii=False, default=str)


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _arguments(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    if raw is None or raw == "":
        return {}, None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            return None, f"the arguments are not valid JSON ({error.msg} at character {error.pos}); send a JSON object"
    if not isinstance(raw, Mapping):
        return None, f"the arguments must be a JSON object, not {type(raw).__name__}"
    return dict(raw), None


def read_call(call: Any) -> ToolCall:
    """The :class:`ToolCall` in any accepted shape (an unreadable one carries its ``error``)."""
    function = _get(call, "function")
    if function is not None:  # OpenAI
        arguments, error = _arguments(_get(function, "arguments"))
        return ToolCall("openai", _get(call, "id"), _get(function, "name"), arguments, error)
    if _get(call, "type") == "tool_use":  # Anthropic
        arguments, error = _arguments(_get(call, "input"))
        return ToolCall("anthropic", _get(call, "id"), _get(call, "name"), arguments, error)
    if _get(call, "args") is not None and _get(call, "name") is not None:  # LangChain ToolCall
        arguments, error = _arguments(_get(call, "args"))
        return ToolCall("langchain", _get(call, "id"), _get(call, "name"), arguments, error)
    name = _get(call, "name")
    if name is None:
        return ToolCall("plain", None, None, None, f"not a tool call: {shown(call)} has no tool name")
    arguments, error = _arguments(_get(call, "arguments"))
    return ToolCall("plain", _get(call, "id"), name, arguments, error)


def tool_calls_of(reply: Any) -> list[Any]:
    """The tool calls in a model's reply: an :class:`~tract_core.llm.LLMResponse` (its ``raw``), an
    OpenAI response or message, an Anthropic message (``tool_use`` blocks), a LangChain AI message or
    a LlamaIndex chat response."""
    raw = _get(reply, "raw") if type(reply).__name__ == "LLMResponse" else reply
    if raw is None:
        return []
    choices = _get(raw, "choices")
    if choices:
        raw = _get(choices[0], "message")
    message = _get(raw, "message")  # a LlamaIndex ChatResponse
    if message is not None and not isinstance(raw, Mapping):
        raw = message
    calls = _get(raw, "tool_calls")
    if calls:
        return list(calls)
    kwargs = _get(raw, "additional_kwargs")
    if isinstance(kwargs, Mapping) and kwargs.get("tool_calls"):
        return list(kwargs["tool_calls"])
    content = _get(raw, "content")
    if isinstance(content, list):
        return [block for block in content if _get(block, "type") == "tool_use"]
    return []


def run_call(
    tract: Any,
    engine: Any,
    call: ToolCall,
    *,
    profile: str,
    prefix: str,
    autonomy: str,
    by: str,
    llm: Any = None,
    ask: Any = None,
    operations: Mapping[str, tuple[ToolSpec, Any]] | None = None,
) -> ToolResult:
    """Check and run one call on ``tract``; never raises for a bad call (the result says what was wrong).

    ``operations`` are further tools by their full name, each with the object its ``fn`` is called
    with instead of the tract (a mounted scaffold's operations): they return JSON data and run at once.
    """
    if call.error is not None:
        return ToolResult(call, {"error": call.error}, True)
    offered = {prefix + spec.name: spec for spec in tools_for(profile)}
    target: Any = tract
    spec: ToolSpec | None = offered.get(call.name or "")
    if spec is None and operations and (call.name or "") in operations:
        spec, target = operations[call.name or ""]
    if spec is None:
        other = call.name is not None and call.name.removeprefix(prefix) in TOOLS
        why = f"is not offered in the {profile!r} profile" if other else "does not exist"
        names = ", ".join(sorted({*offered, *(operations or {})}))
        return ToolResult(call, {"error": f"tool {call.name!r} {why}; the tools are: {names}"}, True)
    try:
        arguments = spec.validate(call.arguments or {})
        outcome = spec.fn(target, **arguments)
    except TractError as error:
        return ToolResult(call, {"error": str(error)}, True)
    except (ValueError, TypeError, KeyError) as error:  # an argument the operation refused
        return ToolResult(call, {"error": f"{type(error).__name__}: {error}"}, True)
    if target is not tract:
        return ToolResult(call, {"ok": True} if outcome is None else outcome)
    if not isinstance(outcome, PolicyAction):
        return ToolResult(call, outcome)
    unsummarised = outcome.kind == "compress" and "content" not in outcome.params
    if unsummarised and autonomy == "autonomous" and llm is None and tract.config.llm is None:
        # refused now: it would run at once and fail (a proposal that waits can be approved with a summary)
        why = "no summarizer is configured here: write the summary yourself in 'summary'"
        return ToolResult(call, {"error": why}, True)
    # the same call id at the same HEAD is one action (a retried call runs once); anything else is new
    nonce = f"{call.id or uuid.uuid4().hex}@{tract.head or ''}"
    try:
        proposal = engine.submit(outcome, by=by, autonomy=autonomy, trigger="tool", nonce=nonce, llm=llm, ask=ask)
    except TractError as error:
        return ToolResult(call, {"error": str(error)}, True)
    data: dict[str, Any] = {"status": proposal.status, "proposal": proposal.id}
    failure: Any
    if proposal.status == "executed":
        data["outcome"] = proposal.outcome
    elif proposal.status == "pending":
        data["note"] = f"waiting for approval (proposal {proposal.id}): {proposal.reason}"
    elif proposal.status in ("failed", "stale"):
        failure = proposal.outcome.get("error") if isinstance(proposal.outcome, Mapping) else proposal.outcome
        return ToolResult(call, {"error": f"{outcome.kind} {proposal.status}: {failure}"}, True, proposal.id)
    elif proposal.status == "rejected":
        data["note"] = "rejected: nothing was changed"
    return ToolResult(call, data, False, proposal.id)


def result_message(result: ToolResult) -> dict[str, Any]:
    """The result as the message its provider expects next in the conversation."""
    call = result.call
    if call.shape == "anthropic":
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call.id, "content": result.content}
        if result.is_error:
            block["is_error"] = True
        return block
    if call.shape == "openai":
        return {"role": "tool", "tool_call_id": call.id, "content": result.content}
    if call.shape == "langchain":  # the fields of a LangChain ToolMessage
        return {
            "role": "tool",
            "tool_call_id": call.id,
            "name": call.name,
            "content": result.content,
            "status": "error" if result.is_error else "success",
        }
    message: dict[str, Any] = {"name": call.name, "content": result.content, "is_error": result.is_error}
    if call.id is not None:
        message["id"] = call.id
    return message


def check_autonomy_or_default(value: Any) -> str:
    """The autonomy a tool call runs with (``"autonomous"`` when None)."""
    from ..policies.policy import check_autonomy

    return "autonomous" if value is None else check_autonomy(value)


def check_prefix(prefix: Any) -> str:
    """``prefix`` if it makes valid tool names (letters, digits, ``_`` and ``-``)."""
    if not isinstance(prefix, str) or not all(ch.isalnum() or ch in "_-" for ch in prefix):
        raise InvalidInputError(f"prefix must be letters, digits, _ or -, not {shown(prefix)}")
    return prefix
