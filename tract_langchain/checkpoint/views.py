"""What the graph sees of its tract, once changes made through the tract reach it.

A checkpoint's message list is the *view* of the commit its channel points at: the messages of
that commit's history, EDITs applied (an EDIT is a commit, so it never changes later), minus the
messages an *update marker* hides. Priorities are annotations, and annotations can be added to a
commit later, so the view never reads them directly: when a tract-side change reaches the graph
(``TractSaver._update_in``), the saver freezes the set of SKIP messages into a marker commit
on top of ``main`` (no message; its metadata lists the hidden messages; its commit message says
so). A checkpoint's messages are therefore a function of its commit alone, however the tract is
annotated afterwards: every old checkpoint keeps reading what the graph had, and every later turn
builds on the marker.

The view follows compile's own rules (:meth:`tract_core.storage.Transaction.priorities`): a hidden
tool result takes its call out of the assistant message (and the message, when nothing else is
left), a hidden call takes its results.

A commit the saver appended for a message is *plain*: its view is its parent's plus one message,
which is how a turn stays O(new messages). Only histories that hold something else (an EDIT, a
marker, a merge) are folded from the start, once, and cached like any chain.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.messages.utils import convert_to_messages

from tract_core.objects import Operation, Priority
from tract_core.storage import ChainMarker, HistoryEntry, Transaction, compile_order

__all__ = [
    "MARKER_KEY",
    "MARKER_TYPE",
    "UPDATE_ACTION",
    "SAVER_ACTIONS",
    "is_plain",
    "marker_hidden",
    "marker_commit",
    "hidden_now",
    "frozen_hidden",
    "history_of",
    "edited_message",
    "fold",
]

MARKER_KEY = "langgraph_update"
"""The metadata key of an update marker: ``{"hidden": [<APPEND commit>, ...]}``."""

MARKER_TYPE = "langgraph_update"
"""The content type of an update marker commit."""

UPDATE_ACTION = "langgraph: update from the tract"
"""The reflog action of ``main`` moving to an update marker."""

SAVER_ACTIONS = frozenset({"checkpoint", UPDATE_ACTION})
"""Reflog actions of ``main`` moves the saver makes; any other move was made through the tract."""


def is_plain(entry: HistoryEntry) -> bool:
    """Whether a commit only appends a message to its single parent's history."""
    return (
        entry.operation is Operation.APPEND
        and entry.role is not None
        and entry.blob is not None
        and len(entry.parents) <= 1
    )


def marker_hidden(entry: HistoryEntry) -> frozenset[str] | None:
    """The messages an update marker hides, or None if the commit is not a marker."""
    if entry.blob is not None or entry.content_type != MARKER_TYPE or not entry.metadata_json:
        return None
    found = json.loads(entry.metadata_json).get(MARKER_KEY)
    if not isinstance(found, Mapping):
        return None
    return frozenset(str(key) for key in found.get("hidden") or ())


def marker_commit(hidden: frozenset[str]) -> ChainMarker:
    """The update marker that hides ``hidden``, to write on ``main`` (deterministic: same parent and
    input, same hash)."""
    count = len(hidden)
    what = "no message hidden" if not count else f"{count} message{'s' if count != 1 else ''} hidden"
    return ChainMarker(MARKER_TYPE, {MARKER_KEY: {"hidden": sorted(hidden)}}, f"LangGraph update: {what}")


def history_of(head: str, history: Mapping[str, HistoryEntry]) -> list[HistoryEntry]:
    """``head``'s history in compile order, oldest first."""
    return compile_order(head, history)


def hidden_now(tx: Transaction, tract_id: str, order: Sequence[HistoryEntry]) -> frozenset[str]:
    """The messages the tract's compile of ``order[-1]`` skips now (every annotation made so far)."""
    priorities = tx.priorities(tract_id, order)
    return frozenset(key for key, priority in priorities.items() if priority is Priority.SKIP)


def frozen_hidden(order: Sequence[HistoryEntry]) -> frozenset[str]:
    """The messages the view of ``order[-1]`` hides: those of the last marker in its history."""
    for entry in reversed(order):
        found = marker_hidden(entry)
        if found is not None:
            return found
    return frozenset()


def _tool_calls(body: Mapping[str, Any]) -> list[Any]:
    if not body.get("tool_calls"):
        return []
    message = convert_to_messages([{"role": "assistant", **body}])[0]
    return list(message.tool_calls) if isinstance(message, AIMessage) else []


def edited_message(original: BaseMessage, body: Mapping[str, Any]) -> BaseMessage:
    """``original`` with the content (and, for an assistant message, the tool calls) an EDIT gives it."""
    content = body.get("content")
    update: dict[str, Any] = {"content": "" if content is None else content}
    if isinstance(original, AIMessage):
        update["tool_calls"] = _tool_calls(body)
    return original.model_copy(update=update, deep=True)


@dataclass
class _Slot:
    key: str
    message: BaseMessage
    clean: bool  # no EDIT, marker or merge before it: its own commit's view is the view so far
    edited: bool = False


Decode = Callable[[HistoryEntry], BaseMessage]


def fold(order: Sequence[HistoryEntry], decode: Decode) -> list[tuple[BaseMessage, str | None]]:
    """The view of ``order[-1]``: its messages, and for each the commit whose view ends there (or None).

    Args:
        order: The commit's history in compile order.
        decode: The LangChain message an appending commit stores.

    Returns:
        The visible messages in order, each with a commit whose own view is exactly the messages up to
        it (so a fork may share that prefix), or None where no commit has that view. The last one's
        is always ``order[-1]``.
    """
    slots: list[_Slot] = []
    index: dict[str, int] = {}
    hidden: frozenset[str] = frozenset()
    clean = True
    for entry in order:
        marked = marker_hidden(entry)
        if marked is not None:
            hidden, clean = marked, False
        elif entry.operation is Operation.APPEND and entry.role is not None and entry.blob is not None:
            index[entry.hash] = len(slots)
            slots.append(_Slot(entry.hash, decode(entry), clean and len(entry.parents) <= 1))
        elif entry.operation is Operation.EDIT and entry.response_to in index and entry.body is not None:
            slot = slots[index[entry.response_to]]
            slot.message, slot.edited, clean = edited_message(slot.message, entry.body), True, False
        else:
            clean = False
    shown = _pair_tools(slots, hidden)
    view: list[tuple[BaseMessage, str | None]] = []
    exact = True
    for slot, message in zip(slots, shown, strict=True):
        if message is None or message is not slot.message or slot.edited:
            exact = False
        if message is not None:
            view.append((message, slot.key if exact and slot.clean else None))
    if view and order:
        view[-1] = (view[-1][0], order[-1].hash)
    return view


def _pair_tools(slots: Sequence[_Slot], hidden: frozenset[str]) -> list[BaseMessage | None]:
    """Each slot's message as shown (None: left out), keeping tool calls and results in pairs as compile does."""
    hidden_results = {s.message.tool_call_id for s in slots if s.key in hidden and isinstance(s.message, ToolMessage)}
    hidden_calls = {
        call.get("id")
        for s in slots
        if s.key in hidden and isinstance(s.message, AIMessage)
        for call in s.message.tool_calls
    }
    shown: list[BaseMessage | None] = []
    for slot in slots:
        message: BaseMessage | None = slot.message
        if slot.key in hidden or (isinstance(message, ToolMessage) and message.tool_call_id in hidden_calls):
            message = None
        elif hidden_results and isinstance(message, AIMessage) and message.tool_calls:
            kept = [call for call in message.tool_calls if call.get("id") not in hidden_results]
            if len(kept) != len(message.tool_calls):
                message = None if not kept and not message.content else message.model_copy(update={"tool_calls": kept})
        shown.append(message)
    return shown
