"""Context policies for LangGraph graphs and LangChain agents: compress at a budget, without losing anything.

Two ways to run the same policy on a conversation that lives in graph state:

* :class:`TractCompressNode`, a LangGraph node (``builder.add_node("compress", TractCompressNode(...))``);
* :class:`TractCompressMiddleware`, a LangChain 1.x ``create_agent`` middleware (``before_model``).

When the messages reach ``trigger_ratio * token_budget`` (tract's token counter on their
OpenAI-shaped form, as ``Tract.compile()`` counts them), the older messages are summarised with
tract's summariser (:func:`tract_core.summarize.summarize`, so any model :func:`tract_core.llm.as_llm`
accepts works, LangChain chat models included) and the state update replaces the list::

    [RemoveMessage(REMOVE_ALL_MESSAGES), *leading instructions, summary, *pinned (in order), *recent]

The rules are those of ``Tract.compress``: the leading pinned messages (the system prompt: system
messages are pinned, as instructions are in a tract) stay first; pinned messages in the summarised
stretch are kept verbatim after the summary, in their order; skipped messages there are left out
of the summary and of the new list; a tool call and its results are never separated (the boundary
moves back, and a message kept verbatim keeps its tool partners with it); the last ``keep_recent``
messages (skipped ones not counted) are kept as they are. The summary is a message (a ``SystemMessage`` by
default) marked in ``additional_kwargs["tract_summary"]``; a later pass folds it into the new one.

When to compress is :class:`tract_core.policies.CompressPolicy`'s decision
(:meth:`~tract_core.policies.CompressPolicy.action_for`, the one threshold rule tract has): the node
and middleware measure the state's messages and ask it, and the summary message carries the
policy's reason in ``response_metadata["tract_reason"]`` ("Context at 84% of 8,000 tokens; compress
the 14 messages before the last 6"). To run a thread's configured policies (compress, pin, branch,
archive, your own) with proposals as interrupts, see :mod:`tract_langchain.policy_node`.

With ``saver=`` (the graph's :class:`~tract_langchain.TractSaver`), the thread's tract
(``saver.tract(thread_id)``) says what is pinned and skipped and supplies edited text. Messages are
matched to its commits by their LangChain ``id``. A message's priority is the latest
``tract.annotate(...)`` made on a commit holding it, so a pin follows the message when the list is
rewritten (the kept messages become new commits of the new line). Its text is the one HEAD
compiles, EDITs included, when HEAD holds the same message as the state.

Nothing is lost: ``TractSaver`` stores each message once, and the line the replaced list leaves
behind is kept as a branch ``lg/...`` of the thread's tract, so ``saver.tract(thread_id)`` still
logs, diffs and compiles every original message (``compile(at_commit="lg/...")``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.internal_call_transformer import InternalCallTransformer, internal_call_metadata
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.constants import TAG_NOSTREAM
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from tract_core import (
    InvalidInputError,
    LangChainChatLLM,
    Priority,
    TokenCounter,
    TractError,
    TractNotFoundError,
    as_llm,
    storage,
)
from tract_core.config import token_budget_argument
from tract_core.messages import normalize_message
from tract_core.policies import CompressPolicy
from tract_core.summarize import summarize
from tract_core.tokens import MESSAGE_OVERHEAD, REPLY_PRIMING, TiktokenCounter, count_body

if TYPE_CHECKING:
    from .checkpoint import TractSaver

__all__ = ["TractCompressNode", "TractCompressMiddleware", "SUMMARY_MARKER", "DEFAULT_SUMMARY_PREFIX"]

SUMMARY_MARKER = "tract_summary"
"""The ``additional_kwargs`` key that marks a summary message (its value: ``{"messages": <originals folded in>}``)."""

DEFAULT_SUMMARY_PREFIX = "Summary of the earlier conversation:\n\n"
"""What the summary message's content starts with, before the summary text."""

_SUMMARY_ROLES = {"system": SystemMessage, "human": HumanMessage, "user": HumanMessage}


# --------------------------------------------------------------------------- counting


class _Sizes:
    """OpenAI form and token count of messages, cached per message object (bounded)."""

    def __init__(self, counter: TokenCounter, limit: int = 100_000) -> None:
        self.counter = counter
        self._cache: OrderedDict[int, tuple[BaseMessage, tuple[int, Any], dict[str, Any], int]] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def of(self, message: BaseMessage) -> tuple[dict[str, Any], int]:
        """The message in OpenAI shape and its tokens (overhead included)."""
        fingerprint = (id(message.content), message.id)
        with self._lock:
            known = self._cache.get(id(message))
        if known is not None and known[0] is message and known[1] == fingerprint:
            return known[2], known[3]
        try:
            normalized = normalize_message(message)
            shaped = {"role": normalized.role, **normalized.body}
        except TractError:  # a role the chat APIs do not have (e.g. a ChatMessage with a custom role)
            shaped = {"role": "user", "content": message.text}
        tokens = count_body(self.counter, {k: v for k, v in shaped.items() if k != "role"}) + MESSAGE_OVERHEAD
        with self._lock:
            self._cache[id(message)] = (message, fingerprint, shaped, tokens)
            self._cache.move_to_end(id(message))
            while len(self._cache) > self._limit:
                self._cache.popitem(last=False)
        return shaped, tokens

    def total(self, messages: Sequence[BaseMessage]) -> int:
        """Prompt tokens of a message list, as ``CompiledContext.token_count`` counts them."""
        tokens = sum(self.of(m)[1] for m in messages)
        return tokens + REPLY_PRIMING if messages else tokens


# --------------------------------------------------------------------------- the thread's view


@dataclass(frozen=True)
class _Known:
    """What HEAD of the thread's tract holds for one message: its compiled form (EDITs applied) and stored body."""

    compiled: Mapping[str, Any]
    stored: Mapping[str, Any] | None


@dataclass(frozen=True)
class _View:
    """The thread's tract, by message id: HEAD's messages, and the latest priority given to each message."""

    known: dict[str, _Known]
    annotated: dict[str, Priority]


_EMPTY_VIEW = _View({}, {})


def _graph_namespace(task_namespace: str | None) -> str:
    """The checkpoint namespace of the graph a node runs in (its task namespace minus the last step)."""
    if not task_namespace:
        return ""
    return task_namespace.rsplit("|", 1)[0] if "|" in task_namespace else ""


def _message_id(metadata_json: str | None) -> str | None:
    """The LangChain message id a ``TractSaver`` commit records in its metadata."""
    if not metadata_json:
        return None
    extra = json.loads(metadata_json).get("lc")
    data = extra.get("data") if isinstance(extra, Mapping) else None
    found = data.get("id") if isinstance(data, Mapping) else None
    return found if isinstance(found, str) else None


def _tract_view(saver: TractSaver, thread_id: str, checkpoint_ns: str) -> _View:
    """Read the thread's tract: HEAD's compiled messages and every annotation, keyed by message id.

    A priority follows the message: the latest annotation made on any commit holding a message
    counts, so a pin survives the list being rewritten (which stores kept messages as new commits).
    """
    try:
        tract = saver.tract(thread_id, checkpoint_ns)
    except TractNotFoundError:
        return _EMPTY_VIEW
    try:
        context = tract.compile()
        if context.head is None:
            return _EMPTY_VIEW
        tract_id = tract.tract_id
        history, annotations = storage.run_read(
            tract.store, lambda tx: (tx.history(tract_id), tx.annotations(tract_id))
        )
    finally:
        tract.close()
    known: dict[str, _Known] = {}
    for entry in context.entries():
        message_id = _message_id(entry.metadata_json)
        stored = history.get(entry.commit)
        if message_id is not None and stored is not None:
            known[message_id] = _Known(entry.message, stored.body)
    annotated: dict[str, Priority] = {}
    for annotation in annotations:  # oldest first: the latest wins
        target = history.get(annotation.target)
        message_id = _message_id(target.metadata_json) if target is not None else None
        if message_id is not None:
            annotated[message_id] = annotation.priority
    return _View(known, annotated)


# --------------------------------------------------------------------------- planning


def _tool_ids(message: BaseMessage) -> set[str]:
    """The tool-call ids a message makes (an AI message) or answers (a tool message)."""
    if isinstance(message, ToolMessage):
        return {message.tool_call_id}
    if isinstance(message, AIMessage):
        return {call_id for call in message.tool_calls if (call_id := call.get("id"))}
    return set()


def _is_summary(message: BaseMessage) -> bool:
    return isinstance(message.additional_kwargs.get(SUMMARY_MARKER), Mapping)


@dataclass(frozen=True)
class _Plan:
    leading: list[BaseMessage]
    summarised: list[BaseMessage]
    inputs: list[dict[str, Any]]
    kept: list[BaseMessage]
    tail: list[BaseMessage]
    folded: int
    target_tokens: int
    reason: str


class _Compressor:
    """The policy both adapters run: when to compress, what to keep, and the new message list."""

    def __init__(
        self,
        llm: Any,
        *,
        token_budget: int,
        trigger_ratio: float,
        keep_recent: int,
        target_tokens: int | None,
        prompt: str | None,
        token_counter: TokenCounter | None,
        saver: TractSaver | None,
        summary_role: str,
        summary_prefix: str,
    ) -> None:
        if isinstance(token_budget, bool) or not isinstance(token_budget, int) or token_budget <= 0:
            raise InvalidInputError(f"token_budget must be a positive whole number of tokens, not {token_budget!r}")
        if isinstance(trigger_ratio, bool) or not isinstance(trigger_ratio, (int, float)) or not 0 < trigger_ratio <= 1:
            raise InvalidInputError(f"trigger_ratio must be a share of token_budget in (0, 1], not {trigger_ratio!r}")
        if isinstance(keep_recent, bool) or not isinstance(keep_recent, int) or keep_recent < 0:
            raise InvalidInputError(f"keep_recent must be a non-negative number of messages, not {keep_recent!r}")
        if target_tokens is not None and (
            isinstance(target_tokens, bool) or not isinstance(target_tokens, int) or target_tokens <= 0
        ):
            raise InvalidInputError(f"target_tokens must be a positive whole number, not {target_tokens!r}")
        if summary_role not in _SUMMARY_ROLES:
            raise InvalidInputError(f"summary_role must be 'system' or 'human' (or 'user'), not {summary_role!r}")
        if isinstance(llm, Runnable):  # keep the summary call out of the graph's message stream
            config = {
                "tags": [TAG_NOSTREAM],
                "metadata": {"lc_source": "tract_compression", **internal_call_metadata()},
            }
            self.llm: Any = LangChainChatLLM(llm, config=config)
        else:
            self.llm = as_llm(llm)
        self.token_budget = token_budget
        self.trigger_ratio = trigger_ratio
        self.keep_recent = keep_recent
        self.target_tokens = target_tokens
        # the trigger is CompressPolicy's (the summary's size and what is kept are decided here,
        # on the state's messages, by the rules of Tract.compress)
        self.policy = CompressPolicy(trigger_ratio, keep_recent=keep_recent, token_budget=token_budget)
        self.prompt = prompt
        self.sizes = _Sizes(token_counter or TiktokenCounter())
        self.saver = saver
        self.summary_role = summary_role
        self.summary_prefix = summary_prefix

    @property
    def threshold(self) -> float:
        return self.trigger_ratio * self.token_budget

    def plan(self, messages: Sequence[BaseMessage], thread: tuple[str, str] | None) -> _Plan | None:
        """What to summarise and keep, or None when under the threshold or nothing can be summarised."""
        if not messages:
            return None
        action = self.policy.action_for(self.sizes.total(messages), self.token_budget, len(messages))
        if action is None:
            return None
        view = _tract_view(self.saver, *thread) if self.saver is not None and thread is not None else _EMPTY_VIEW
        priorities = []
        for message in messages:
            annotated = view.annotated.get(message.id) if message.id else None
            if annotated is not None:
                priorities.append(annotated)
            elif _is_summary(message):
                priorities.append(Priority.NORMAL)  # an earlier summary: folded into the new one
            else:  # instructions are pinned, as in a tract
                priorities.append(Priority.PINNED if isinstance(message, SystemMessage) else Priority.NORMAL)
        start = 0
        while start < len(messages) and priorities[start] is Priority.PINNED:
            start += 1
        visible = [i for i in range(start, len(messages)) if priorities[i] is not Priority.SKIP]
        if self.keep_recent == 0:
            end = len(messages)
        elif self.keep_recent >= len(visible):
            return None
        else:
            first_kept = len(visible) - self.keep_recent
            while first_kept > 0 and isinstance(messages[visible[first_kept]], ToolMessage):
                first_kept -= 1  # never leave a tool result behind without its call
            end = visible[first_kept]
        in_range = range(start, end)
        summarised = {i for i in in_range if priorities[i] is Priority.NORMAL}
        dropped = {i for i in in_range if priorities[i] is Priority.SKIP}
        kept = {i for i in in_range if priorities[i] is Priority.PINNED}
        outside = [i for i in range(len(messages)) if i not in in_range and priorities[i] is not Priority.SKIP]
        partners: set[str] = set()
        for i in [*outside, *kept]:
            partners |= _tool_ids(messages[i])
        changed = True
        while changed:  # a message kept verbatim keeps its tool calls (or results) with it
            changed = False
            for i in sorted(summarised | dropped):
                ids = _tool_ids(messages[i])
                if ids & partners:
                    summarised.discard(i)
                    dropped.discard(i)
                    kept.add(i)
                    partners |= ids
                    changed = True
        if not summarised:
            return None
        inputs = []
        folded = 0
        for i in sorted(summarised):
            message = messages[i]
            shaped = self.sizes.of(message)[0]
            known = view.known.get(message.id) if message.id else None
            body = {k: v for k, v in shaped.items() if k != "role"}
            if known is not None and known.stored == body:  # the tract's version, EDITs applied
                shaped = dict(known.compiled)
            inputs.append(dict(shaped))
            marker = message.additional_kwargs.get(SUMMARY_MARKER)
            folded += int(marker.get("messages", 1)) if isinstance(marker, Mapping) else 1
        leading = list(messages[:start])
        kept_messages = [messages[i] for i in sorted(kept)]
        tail = list(messages[end:])
        target = self.target_tokens
        if target is None:
            staying = sum(self.sizes.of(m)[1] for m in (*leading, *kept_messages, *tail))
            prefix = self.sizes.counter.count_text(self.summary_prefix) + MESSAGE_OVERHEAD + REPLY_PRIMING
            room = int(self.threshold) - staying - prefix
            written = sum(self.sizes.of(messages[i])[1] for i in summarised)
            target = max(64, min(2000, written // 4, room))
        summarised_messages = [messages[i] for i in sorted(summarised)]
        return _Plan(leading, summarised_messages, inputs, kept_messages, tail, folded, target, action.reason)

    def summarise(self, plan: _Plan) -> str:
        """The summary text (the model is asked again, or the text trimmed, if it is too long)."""
        draft = summarize(
            self.llm, plan.inputs, counter=self.sizes.counter, target_tokens=plan.target_tokens, prompt=self.prompt
        )
        return draft.text

    def update(self, plan: _Plan, text: str) -> list[BaseMessage]:
        """The new message list, headed by ``RemoveMessage(REMOVE_ALL_MESSAGES)``."""
        ids = "\n".join(m.id or hashlib.sha256(m.text.encode()).hexdigest() for m in plan.summarised)
        summary = _SUMMARY_ROLES[self.summary_role](
            content=self.summary_prefix + text,
            id="tract-summary-" + hashlib.sha256(ids.encode()).hexdigest()[:24],
            additional_kwargs={SUMMARY_MARKER: {"messages": plan.folded}},
            response_metadata={"tract_reason": plan.reason},
        )
        return [RemoveMessage(id=REMOVE_ALL_MESSAGES), *plan.leading, summary, *plan.kept, *plan.tail]

    def run(self, messages: Sequence[BaseMessage], thread: tuple[str, str] | None) -> list[BaseMessage] | None:
        plan = self.plan(messages, thread)
        return None if plan is None else self.update(plan, self.summarise(plan))

    async def arun(self, messages: Sequence[BaseMessage], thread: tuple[str, str] | None) -> list[BaseMessage] | None:
        # tract's store and summariser are synchronous: run them in a worker thread (contextvars,
        # and so LangChain callbacks, come along), leaving the event loop free
        return await asyncio.to_thread(self.run, messages, thread)


def _budget(where: str, token_budget: int | None, budget_tokens: int | None) -> int:
    """The budget given as ``token_budget`` (or its deprecated name ``budget_tokens``, which warns)."""
    # stacklevel 4: the warning points at the code constructing the node or middleware
    budget = token_budget_argument(token_budget, {"budget_tokens": budget_tokens}, where=where, stacklevel=4)
    if budget is None:
        raise InvalidInputError(f"{where} needs token_budget=<the context budget, in tokens>")
    return budget


def _ensure_ids(messages: Sequence[BaseMessage]) -> None:
    for message in messages:
        if message.id is None:
            message.id = str(uuid.uuid4())


def _messages_of(state: Any, key: str) -> list[BaseMessage]:
    value = state.get(key) if isinstance(state, Mapping) else getattr(state, key, None)
    if value is None:
        return []
    if not isinstance(value, Sequence) or not all(isinstance(m, BaseMessage) for m in value):
        raise InvalidInputError(f"state[{key!r}] must be a list of LangChain messages")
    return list(value)


class TractCompressNode(Runnable[Any, dict[str, Any]]):
    """A LangGraph node that compresses the conversation in state when it outgrows its budget.

    Add it before the model node: ``builder.add_node("compress", TractCompressNode(model,
    token_budget=8000))``. It runs synchronously (``invoke``, or calling it) and asynchronously
    (``ainvoke``), so it works in ``graph.invoke`` and ``graph.ainvoke`` alike. Below
    ``trigger_ratio * token_budget`` it returns ``{}``; from there on, ``{messages_key: [RemoveMessage(
    REMOVE_ALL_MESSAGES), *instructions, summary, *pinned, *recent]}``. See the module docstring
    for the rules. The thread comes from the node's config (``thread_id``, and the graph's
    checkpoint namespace for a subgraph).

    Args:
        llm: The model that writes summaries: a LangChain chat model (``init_chat_model(...)``,
            ``ChatOpenAI(...)``), or anything :func:`tract_core.llm.as_llm` accepts. A LangChain
            model's summary call is tagged ``nostream``, so it stays out of the graph's message stream.
        token_budget: The context budget, in tokens (required; the name ``TractConfig`` uses).
        trigger_ratio: Compress when the messages reach ``trigger_ratio * token_budget`` (0 < ratio <= 1;
            :class:`~tract_core.policies.CompressPolicy`'s ``threshold``).
        keep_recent: Messages at the end kept as they are (more when a tool result would be cut off
            from its call).
        target_tokens: The most tokens the summary may have (default: what fits under the trigger
            beside the kept messages, at least 64, at most 2,000 and a quarter of what is summarised).
        prompt: Replaces tract's summary instructions (:data:`tract_core.summarize.DEFAULT_SUMMARY_PROMPT`).
        token_counter: A :class:`tract_core.tokens.TokenCounter` (default: ``TiktokenCounter()``).
        saver: The graph's :class:`~tract_langchain.TractSaver`: pinned, skipped and edited messages of
            the thread's tract apply (matched by message ``id``).
        summary_role: ``"system"`` (a ``SystemMessage``, default) or ``"human"`` (a ``HumanMessage``).
        summary_prefix: What the summary message starts with.
        messages_key: The state key holding the messages.
        budget_tokens: Deprecated name of ``token_budget`` (warns with a ``DeprecationWarning``).

    Raises:
        InvalidInputError: No budget, both ``token_budget`` and ``budget_tokens``, or a bad value.
    """

    def __init__(
        self,
        llm: Any,
        *,
        token_budget: int | None = None,
        trigger_ratio: float = 0.8,
        keep_recent: int = 6,
        target_tokens: int | None = None,
        prompt: str | None = None,
        token_counter: TokenCounter | None = None,
        messages_key: str = "messages",
        saver: TractSaver | None = None,
        summary_role: str = "system",
        summary_prefix: str = DEFAULT_SUMMARY_PREFIX,
        budget_tokens: int | None = None,
    ) -> None:
        self._policy = _Compressor(
            llm,
            token_budget=_budget("TractCompressNode", token_budget, budget_tokens),
            trigger_ratio=trigger_ratio,
            keep_recent=keep_recent,
            target_tokens=target_tokens,
            prompt=prompt,
            token_counter=token_counter,
            saver=saver,
            summary_role=summary_role,
            summary_prefix=summary_prefix,
        )
        self.messages_key = messages_key

    @property
    def token_budget(self) -> int:
        """The context budget, in tokens."""
        return self._policy.token_budget

    def __repr__(self) -> str:
        p = self._policy
        return (
            f"TractCompressNode(token_budget={p.token_budget}, trigger_ratio={p.trigger_ratio}, "
            f"keep_recent={p.keep_recent})"
        )

    def _thread(self, config: RunnableConfig | None) -> tuple[str, str] | None:
        configurable = (config or {}).get("configurable") or {}
        thread_id = configurable.get("thread_id")
        if thread_id is None:
            return None
        return str(thread_id), _graph_namespace(configurable.get("checkpoint_ns"))

    def _result(self, messages: list[BaseMessage] | None) -> dict[str, Any]:
        return {} if messages is None else {self.messages_key: messages}

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """Compress ``input[messages_key]`` if it is over the trigger; return the state update (``{}`` if not)."""
        messages = _messages_of(input, self.messages_key)
        _ensure_ids(messages)
        return self._result(self._policy.run(messages, self._thread(config)))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """:meth:`invoke` without blocking the event loop (the work runs in a worker thread)."""
        messages = _messages_of(input, self.messages_key)
        _ensure_ids(messages)
        return self._result(await self._policy.arun(messages, self._thread(config)))

    def __call__(self, state: Any, config: RunnableConfig | None = None) -> dict[str, Any]:
        """Same as :meth:`invoke`."""
        return self.invoke(state, config)


class TractCompressMiddleware(AgentMiddleware):
    """A ``create_agent`` middleware that compresses the agent's messages before a model call.

    ``create_agent(model, tools, middleware=[TractCompressMiddleware(summary_model,
    token_budget=8000, saver=saver)], checkpointer=saver)``. It hooks ``before_model`` (and
    ``abefore_model``), as LangChain's ``SummarizationMiddleware`` does, and returns the same kind
    of state update, with tract's rules (see the module docstring). Only the state's messages are
    counted: the agent's ``system_prompt`` is not part of them. Unlike ``SummarizationMiddleware``,
    nothing is lost with a ``TractSaver``: the messages replaced stay in the thread's tract, on a
    branch ``lg/...``.

    Args:
        llm: The model that writes summaries: a LangChain chat model (``init_chat_model(...)``,
            ``ChatOpenAI(...)``), or anything :func:`tract_core.llm.as_llm` accepts. A LangChain
            model's summary call is tagged ``nostream``, so it stays out of the graph's message stream.
        token_budget: The context budget, in tokens (required; the name ``TractConfig`` uses).
        trigger_ratio: Compress when the messages reach ``trigger_ratio * token_budget`` (0 < ratio <= 1;
            :class:`~tract_core.policies.CompressPolicy`'s ``threshold``).
        keep_recent: Messages at the end kept as they are (more when a tool result would be cut off
            from its call).
        target_tokens: The most tokens the summary may have (default: what fits under the trigger
            beside the kept messages, at least 64, at most 2,000 and a quarter of what is summarised).
        prompt: Replaces tract's summary instructions (:data:`tract_core.summarize.DEFAULT_SUMMARY_PROMPT`).
        token_counter: A :class:`tract_core.tokens.TokenCounter` (default: ``TiktokenCounter()``).
        saver: The graph's :class:`~tract_langchain.TractSaver`: pinned, skipped and edited messages of
            the thread's tract apply (matched by message ``id``).
        summary_role: ``"system"`` (a ``SystemMessage``, default) or ``"human"`` (a ``HumanMessage``).
        summary_prefix: What the summary message starts with.
        budget_tokens: Deprecated name of ``token_budget`` (warns with a ``DeprecationWarning``).

    Raises:
        InvalidInputError: No budget, both ``token_budget`` and ``budget_tokens``, or a bad value.
    """

    transformers = (InternalCallTransformer,)

    def __init__(
        self,
        llm: Any,
        *,
        token_budget: int | None = None,
        trigger_ratio: float = 0.8,
        keep_recent: int = 6,
        target_tokens: int | None = None,
        prompt: str | None = None,
        token_counter: TokenCounter | None = None,
        saver: TractSaver | None = None,
        summary_role: str = "system",
        summary_prefix: str = DEFAULT_SUMMARY_PREFIX,
        budget_tokens: int | None = None,
    ) -> None:
        super().__init__()
        self._policy = _Compressor(
            llm,
            token_budget=_budget("TractCompressMiddleware", token_budget, budget_tokens),
            trigger_ratio=trigger_ratio,
            keep_recent=keep_recent,
            target_tokens=target_tokens,
            prompt=prompt,
            token_counter=token_counter,
            saver=saver,
            summary_role=summary_role,
            summary_prefix=summary_prefix,
        )

    @property
    def token_budget(self) -> int:
        """The context budget, in tokens."""
        return self._policy.token_budget

    @staticmethod
    def _thread(runtime: Any) -> tuple[str, str] | None:
        info = getattr(runtime, "execution_info", None)
        if info is not None and info.thread_id is not None:
            return str(info.thread_id), _graph_namespace(info.checkpoint_ns)
        try:
            from langgraph.config import get_config

            configurable = get_config().get("configurable") or {}
        except RuntimeError:  # not inside a graph run
            return None
        thread_id = configurable.get("thread_id")
        if thread_id is None:
            return None
        return str(thread_id), _graph_namespace(configurable.get("checkpoint_ns"))

    def before_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Compress the agent's messages if they are over the trigger (``None``: no change)."""
        messages = _messages_of(state, "messages")
        _ensure_ids(messages)
        update = self._policy.run(messages, self._thread(runtime))
        return None if update is None else {"messages": update}

    async def abefore_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """:meth:`before_model` without blocking the event loop."""
        messages = _messages_of(state, "messages")
        _ensure_ids(messages)
        update = await self._policy.arun(messages, self._thread(runtime))
        return None if update is None else {"messages": update}
