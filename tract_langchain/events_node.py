"""Events pushed to a tract, drained into a LangGraph graph's ``messages`` before the model runs.

Reactive context (DESIGN §16): anything outside the conversation (a CI job, a webhook handler, a
monitor, another agent) calls ``Tract.open(db, tract_id="inbox").push("build 41 failed",
source="ci")`` from its own process. :class:`TractEventsNode`, placed before the node that calls the
model, drains the inbox's pending events (:meth:`tract_core.Tract.drain_events`: committed there as
messages, in the order they were pushed, each exactly once however many graphs drain the inbox)
and adds them to the graph state::

    builder.add_node("events", TractEventsNode(inbox))
    builder.add_node("model", call_model)
    builder.add_edge(START, "events")
    builder.add_edge("events", "model")

Each event becomes a ``HumanMessage`` (a ``SystemMessage`` if pushed with ``role="system"``) whose
content is ``"[event from <source>] <payload>"``, whose ``id`` is the inbox commit it became, and
whose ``response_metadata["tract_event"]`` holds the event's ``id``, ``source``, ``key`` and
``commit`` (kept out of what providers are sent). With no pending event the node returns ``{}``.

The inbox is a tract of its own: the events stay there, committed, with their history; the graph's
checkpointer (a :class:`~tract_langchain.TractSaver`, or any other) stores the messages it added
like any others. For one inbox per conversation, pass a function of the run's config that opens it
(``lambda config: Tract.open(db, tract_id="inbox/" + config["configurable"]["thread_id"])``); the
node closes the handles it opened that way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from tract_core import EventInfo, InvalidInputError, Tract

from .messages import from_body

__all__ = ["TractEventsNode", "EVENT_METADATA"]

EVENT_METADATA = "tract_event"
"""The key of a drained event's message ``response_metadata``: ``{"id", "source", "key", "commit"}``."""

Inbox = Tract | Callable[[RunnableConfig], Tract]


def _event_messages(tract: Tract, events: list[EventInfo]) -> list[BaseMessage]:
    """The LangChain messages the drained ``events`` became (read from the commits they became)."""
    messages = []
    for event in events:
        assert event.commit is not None  # drained
        commit = tract.show(event.commit)
        message = from_body({**(commit.body or {}), "role": commit.role})
        meta = {"id": event.id, "source": event.source, "key": event.key, "commit": event.commit}
        messages.append(message.model_copy(update={"id": event.commit, "response_metadata": {EVENT_METADATA: meta}}))
    return messages


class TractEventsNode(Runnable[Any, dict[str, Any]]):
    """A LangGraph node that drains a tract's pending events into the graph's ``messages``.

    ``builder.add_node("events", TractEventsNode(inbox))`` before the model node. Sync and async
    (``ainvoke``: the drain runs in a worker thread).

    Args:
        inbox: The tract events are pushed to (a :class:`~tract_core.Tract` handle this node uses and
            leaves open), or a function of the run's ``RunnableConfig`` returning a newly opened
            handle (closed after each run), for one inbox per thread.
        limit: Drain at most this many events per run (the oldest); None: all.

    Raises:
        InvalidInputError: ``inbox`` is neither a Tract nor callable, or a bad ``limit``.
    """

    def __init__(self, inbox: Inbox, *, limit: int | None = None) -> None:
        if not isinstance(inbox, Tract) and not callable(inbox):
            raise InvalidInputError(
                f"TractEventsNode needs the inbox Tract (or a function of the run's config opening it), "
                f"not {type(inbox).__name__}"
            )
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
            raise InvalidInputError(f"limit must be a positive whole number or None, not {limit!r}")
        self.inbox = inbox
        self.limit = limit

    def _drain(self, config: RunnableConfig | None) -> dict[str, Any]:
        if isinstance(self.inbox, Tract):
            return self._update(self.inbox)
        tract = self.inbox(config or {})
        if not isinstance(tract, Tract):
            raise InvalidInputError(f"the inbox function must return a Tract, not {type(tract).__name__}")
        with tract:
            return self._update(tract)

    def _update(self, tract: Tract) -> dict[str, Any]:
        drained = tract.drain_events(self.limit)
        return {"messages": _event_messages(tract, drained)} if drained else {}

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """Drain the inbox: ``{"messages": [...]}`` with the events' messages, or ``{}``."""
        return self._drain(config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """:meth:`invoke` in a worker thread (the store is synchronous)."""
        return await asyncio.to_thread(self._drain, config)

    def __repr__(self) -> str:
        return f"TractEventsNode({self.inbox!r}, limit={self.limit!r})"
