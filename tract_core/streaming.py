"""Streaming replies (scenario X.5): chunks in, one commit out.

``with t.stream(generation_config=...) as s:`` gives a :class:`ReplyStream`. Feed it the chunks a
provider streams back (``s.feed(chunk)``, or ``for chunk in s.wrap(stream)``, which hands every
chunk on unchanged); it accumulates them in memory and writes nothing per chunk. It reads:

- OpenAI Chat Completions chunks (``ChatCompletionChunk`` or their dicts), tool-call deltas with
  index-based argument fragments included, and the final usage chunk sent with
  ``stream_options={"include_usage": True}``;
- Anthropic message stream events (``message_start``, ``content_block_start``/``_delta``/``_stop``
  with ``text_delta`` and ``input_json_delta``, ``message_delta`` with usage and stop reason,
  ``message_stop``), as SDK objects or dicts, and the events of the SDK's ``client.messages.stream()``
  helper (its ``text``/``input_json`` events repeat the raw deltas and are read past);
- LangChain ``AIMessageChunk`` (merged the way LangChain merges them: ``tool_call_chunks``,
  summed ``usage_metadata``, ``response_metadata``);
- LlamaIndex ``ChatResponse`` deltas (``delta`` plus the cumulative ``message``; usage from the
  ``raw`` provider chunk or ``additional_kwargs`` when present);
- plain ``str`` pieces of text.

When the block ends normally the assembled message is committed once, with the provider's usage
and the generation config: the same commit (body and usage record) as a non-streamed reply with the
same content. When the block ends with an exception (including ``asyncio.CancelledError`` and
``KeyboardInterrupt``) what arrived is committed flagged partial (metadata ``{"partial": true,
"error": "<exception type>"}``, and a commit message saying so), then the exception propagates.
``t.stream(retry=True)`` (or ``retry=<commit>``) EDITs that partial reply instead of appending.

Example:
    >>> from tract_core import Tract
    >>> with Tract.open() as t:
    ...     _ = t.user("Say hello")
    ...     with t.stream(generation_config={"model": "demo"}) as s:
    ...         for piece in s.wrap(["Hel", "lo!"]):
    ...             pass
    ...     s.commit.content, s.commit.generation_config
    ('Hello!', {'model': 'demo'})
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Protocol, TypeVar, overload

from .errors import EditTargetError, InvalidInputError, shown
from .llm.protocol import content_text, field_of
from .messages import check_role, normalize_message
from .objects import Operation
from .records import CommitInfo
from .refs import Ref, check_ref
from .usage import Usage, normalize_usage

__all__ = ["ReplyStream", "StreamTarget", "KINDS"]

KINDS = ("text", "openai", "anthropic", "langchain", "llamaindex")
"""The kinds of chunk a :class:`ReplyStream` reads (``ReplyStream.kind``)."""

_ANTHROPIC_EVENTS = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
    }
)
_ANTHROPIC_HELPER_EVENTS = frozenset({"text", "input_json", "citation", "thinking", "signature"})
"""What ``client.messages.stream()`` yields beside the raw events (repeating them): read past."""
_ACCEPTED = (
    "a str, an OpenAI ChatCompletionChunk, an Anthropic message stream event, a LangChain AIMessageChunk "
    "or a LlamaIndex ChatResponse"
)

T = TypeVar("T")


class StreamTarget(Protocol):
    """What a :class:`ReplyStream` commits through (a :class:`~tract_core.Tract`)."""

    def commit(
        self,
        message: Any,
        *,
        operation: Operation | str = ...,
        response_to: Ref = ...,
        generation_config: dict[str, Any] | None = ...,
        metadata: dict[str, Any] | None = ...,
        commit_message: str | None = ...,
    ) -> CommitInfo:
        """Commit a message."""
        ...

    def record_usage(self, usage: Any = None, *, commit: Ref = None, **numbers: int) -> Usage:
        """Record provider usage beside a commit."""
        ...

    def show(self, ref: Ref = ...) -> CommitInfo:
        """One commit in full."""
        ...

    def batch(self) -> AbstractContextManager[Any]:
        """One transaction for the block."""
        ...

    def contains(self, ref: Ref) -> bool:
        """Whether a commit is in HEAD's history."""
        ...

    @property
    def head(self) -> str | None:
        """HEAD's commit."""
        ...


# --------------------------------------------------------------------------- assembling chunks


def _kind(chunk: Any) -> str:
    """Which provider a chunk comes from, or raise :class:`InvalidInputError`."""
    if isinstance(chunk, str):
        return "text"
    classes = type(chunk).__mro__
    packages = {cls.__module__.split(".")[0] for cls in classes}
    if "langchain_core" in packages:
        if any(cls.__name__ == "BaseMessageChunk" for cls in classes):
            return "langchain"
        raise InvalidInputError(
            f"a LangChain {type(chunk).__name__} is not a stream chunk: feed the AIMessageChunks of "
            "model.stream() / model.astream() (commit a whole message with t.commit(message))"
        )
    if "llama_index" in packages and hasattr(chunk, "message") and hasattr(chunk, "delta"):
        return "llamaindex"
    if field_of(chunk, "choices") is not None or field_of(chunk, "object") == "chat.completion.chunk":
        return "openai"
    event = field_of(chunk, "type")
    if isinstance(event, str) and (
        event in _ANTHROPIC_EVENTS or ("anthropic" in packages and event in _ANTHROPIC_HELPER_EVENTS)
    ):
        return "anthropic"
    raise InvalidInputError(f"cannot read a stream chunk of type {type(chunk).__name__}; feed {_ACCEPTED}")


def _tool_call(call_id: Any, name: Any, arguments: str) -> dict[str, Any]:
    """A tool call as tract stores it (OpenAI's shape)."""
    return {"id": call_id, "type": "function", "function": {"name": name or "", "arguments": arguments}}


class _Assembler:
    """Text and indexed tool calls, filled by a provider's chunks (the text and OpenAI/Anthropic kinds)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.refusal: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}  # index -> {"id", "name", "arguments": [fragments]}
        self.usage: Usage | None = None
        self.finish_reason: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def feed(self, chunk: Any) -> None:
        self.parts.append(chunk)

    def call(self, index: int) -> dict[str, Any]:
        return self.calls.setdefault(index, {"id": None, "name": "", "arguments": []})

    def arguments(self, fragments: list[str]) -> str:
        return "".join(fragments)

    def message(self, role: str) -> dict[str, Any]:
        calls = [_tool_call(c["id"], c["name"], self.arguments(c["arguments"])) for _, c in sorted(self.calls.items())]
        text = self.text
        message: dict[str, Any] = {"role": role, "content": text if text or not calls else None}
        if calls:
            message["tool_calls"] = calls
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        return message


class _OpenAI(_Assembler):
    """Chat Completions chunks: the first choice's deltas, and the usage chunk."""

    def feed(self, chunk: Any) -> None:
        usage = field_of(chunk, "usage")
        if usage is not None:
            self.usage = normalize_usage(usage)
        for choice in field_of(chunk, "choices") or ():
            if (field_of(choice, "index") or 0) != 0:
                continue  # n > 1: tract commits the first candidate
            delta = field_of(choice, "delta")
            if field_of(choice, "finish_reason") is not None:
                self.finish_reason = field_of(choice, "finish_reason")
            if delta is None:
                continue
            if isinstance(field_of(delta, "content"), str):
                self.parts.append(field_of(delta, "content"))
            if isinstance(field_of(delta, "refusal"), str):
                self.refusal.append(field_of(delta, "refusal"))
            for fragment in field_of(delta, "tool_calls") or ():
                index = field_of(fragment, "index")
                call = self.call(index if isinstance(index, int) else len(self.calls))
                if field_of(fragment, "id"):
                    call["id"] = call["id"] or field_of(fragment, "id")
                function = field_of(fragment, "function")
                if function is not None:
                    call["name"] += field_of(function, "name") or ""
                    call["arguments"].append(field_of(function, "arguments") or "")


class _Anthropic(_Assembler):
    """Anthropic message stream events: text and tool_use blocks by index, usage from start and delta."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: dict[int, list[str]] = {}
        self.numbers: dict[str, int] = {}

    @property
    def text(self) -> str:
        return "".join("".join(parts) for _, parts in sorted(self.texts.items()))

    def _usage(self, usage: Any) -> None:
        for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
            value = field_of(usage, key)
            if value is not None:
                self.numbers[key] = value  # message_delta's counts are cumulative: the newest wins
        if self.numbers:
            self.usage = normalize_usage(dict(self.numbers))

    def feed(self, chunk: Any) -> None:
        kind = field_of(chunk, "type")
        index = field_of(chunk, "index")
        if kind == "message_start":
            message = field_of(chunk, "message")
            if field_of(message, "usage") is not None:
                self._usage(field_of(message, "usage"))
        elif kind == "content_block_start":
            block = field_of(chunk, "content_block")
            block_type = field_of(block, "type")
            if block_type == "text":
                self.texts[index] = [field_of(block, "text") or ""]
            elif block_type == "tool_use":
                call = self.call(index)
                call["id"], call["name"] = field_of(block, "id"), field_of(block, "name") or ""
                given = field_of(block, "input")
                if given:  # a block that arrives whole
                    call["arguments"].append(json.dumps(given, ensure_ascii=False))
        elif kind == "content_block_delta":
            delta = field_of(chunk, "delta")
            delta_type = field_of(delta, "type")
            if delta_type == "text_delta":
                self.texts.setdefault(index, []).append(field_of(delta, "text") or "")
            elif delta_type == "input_json_delta" and index in self.calls:
                self.call(index)["arguments"].append(field_of(delta, "partial_json") or "")
        elif kind == "message_delta":
            if field_of(chunk, "usage") is not None:
                self._usage(field_of(chunk, "usage"))
            stop = field_of(field_of(chunk, "delta"), "stop_reason")
            if stop is not None:
                self.finish_reason = stop

    def arguments(self, fragments: list[str]) -> str:
        raw = "".join(fragments)
        if not raw:
            return "{}"
        try:  # as a non-streamed reply's ``input`` would be written
            return json.dumps(json.loads(raw), ensure_ascii=False)
        except json.JSONDecodeError:
            return raw  # cut off mid-way: keep what arrived


class _LangChain:
    """``AIMessageChunk``s, merged with LangChain's own ``+`` when the reply is read (all pending at once)."""

    def __init__(self) -> None:
        self._merged: Any = None
        self._pending: list[Any] = []

    def feed(self, chunk: Any) -> None:
        self._pending.append(chunk)

    @property
    def merged(self) -> Any:
        if self._pending:
            pending, self._pending = self._pending, []
            if self._merged is None:
                self._merged, pending = pending[0], pending[1:]
            if pending and all(c.type == "AIMessageChunk" for c in [self._merged, *pending]):
                self._merged = self._merged + pending  # one merge of the lot (AIMessageChunk takes a list)
            else:
                for chunk in pending:
                    self._merged = self._merged + chunk
        return self._merged

    @property
    def text(self) -> str:
        return "" if self.merged is None else content_text(self.merged.content)

    @property
    def usage(self) -> Usage | None:
        metadata = None if self.merged is None else self.merged.usage_metadata
        return normalize_usage(metadata) if metadata else None

    @property
    def finish_reason(self) -> str | None:
        metadata = {} if self.merged is None else self.merged.response_metadata or {}
        reason = metadata.get("finish_reason") or metadata.get("stop_reason")
        return reason if isinstance(reason, str) else None

    def message(self, role: str) -> dict[str, Any]:
        if self.merged is None:
            return {"role": role, "content": ""}
        body = dict(normalize_message(self.merged, role=role).body)
        unread = [  # cut off mid-way: what arrived of a call LangChain could not parse
            _tool_call(c.get("id"), c.get("name"), c.get("args") or "") for c in self.merged.invalid_tool_calls or ()
        ]
        if unread:
            body["tool_calls"] = [*body.get("tool_calls", []), *unread]
        return {"role": role, **body}


class _LlamaIndex:
    """``ChatResponse``s: the newest ``message`` when each one holds the reply so far, else the deltas joined.

    The ``raw`` provider chunk, when it is an OpenAI chunk or an Anthropic event, is read for usage and
    the stop reason; otherwise usage comes from token counts in ``additional_kwargs``.
    """

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.deltas: list[str] = []
        self.cumulative = True  # every message so far extends the one before
        self.raw: Any = None  # an assembler of the provider's raw chunks
        self.counted: Usage | None = None

    def feed(self, chunk: Any) -> None:
        message = chunk.message
        if self.messages:
            before, now = self.messages[-1].content or "", message.content or ""
            self.cumulative = self.cumulative and now.startswith(before)
        self.messages.append(message)
        if isinstance(chunk.delta, str):
            self.deltas.append(chunk.delta)
        raw = chunk.raw
        kind = None
        if raw is not None and not isinstance(raw, str):
            try:
                kind = _kind(raw)
            except InvalidInputError:
                kind = None
        if kind in ("openai", "anthropic"):
            if self.raw is None:
                self.raw = _ASSEMBLERS[kind]()
            self.raw.feed(raw)
        extra = chunk.additional_kwargs or {}
        if any(k in extra for k in ("prompt_tokens", "input_tokens")):
            self.counted = normalize_usage({k: v for k, v in extra.items() if k.endswith("_tokens")})

    @property
    def usage(self) -> Usage | None:
        found = None if self.raw is None else self.raw.usage
        return found if found is not None else self.counted

    @property
    def finish_reason(self) -> str | None:
        return None if self.raw is None else self.raw.finish_reason

    @property
    def text(self) -> str:
        if not self.messages:
            return ""
        if self.cumulative:
            return self.messages[-1].content or ""
        return "".join(self.deltas)

    def message(self, role: str) -> dict[str, Any]:
        if not self.messages:
            return {"role": role, "content": ""}
        last = normalize_message(self.messages[-1], role=role).body
        chosen = self.messages[-1:] if self.cumulative else self.messages
        calls: dict[Any, dict[str, Any]] = {}
        for message in chosen:  # in tract's exact shape (a streamed OpenAI call also carries its index)
            for call in normalize_message(message, role=role).body.get("tool_calls") or ():
                function = call.get("function") or {}
                key = call.get("id") or len(calls)
                calls[key] = _tool_call(call.get("id"), function.get("name"), function.get("arguments") or "")
        body = {**last, "content": last.get("content") if self.cumulative else self.text}
        if calls:
            body["tool_calls"] = list(calls.values())
        elif "tool_calls" in body:
            del body["tool_calls"]
        return {"role": role, **body}


_ASSEMBLERS: dict[str, type[Any]] = {
    "text": _Assembler,
    "openai": _OpenAI,
    "anthropic": _Anthropic,
    "langchain": _LangChain,
    "llamaindex": _LlamaIndex,
}


# --------------------------------------------------------------------------- the stream


class ReplyStream:
    """One streamed reply: chunks accumulate in memory; the block's end commits them once.

    Get one from :meth:`Tract.stream <tract_core.Tract.stream>` (``with``) or :meth:`Tract.astream
    <tract_core.Tract.astream>` (``async with``; the database work then runs in a worker thread).

    Attributes:
        generation_config: The settings of the model call, stored with the commit.
        role: The role of the committed message (``"assistant"``).
        metadata: Caller metadata for the commit (a partial reply adds ``partial`` and ``error``).
        commit: The commit written when the block ended: None before, when no chunk was fed at all, or when
            an interruption came before any text or tool call. Its ``usage`` is the provider's usage, if it
            reported any.
        partial: Whether the block ended with an exception (the commit, if any, is flagged partial).
        retry_of: The commit this stream's reply EDITs (from ``retry=``), or None: it appends.
    """

    def __init__(
        self,
        tract: StreamTarget,
        generation_config: dict[str, Any] | None = None,
        *,
        role: str = "assistant",
        metadata: dict[str, Any] | None = None,
        retry: Ref | bool = None,
    ) -> None:
        if generation_config is not None and not isinstance(generation_config, Mapping):
            raise InvalidInputError(f"generation_config must be a dict, not {type(generation_config).__name__}")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InvalidInputError(f"metadata must be a dict, not {type(metadata).__name__}")
        if metadata is not None and ("partial" in metadata or "error" in metadata):
            raise InvalidInputError("metadata keys 'partial' and 'error' are set by the stream itself; rename yours")
        if retry is not False and retry is not True:
            check_ref(retry)
        self._tract = tract
        self.generation_config = None if generation_config is None else dict(generation_config)
        self.role = check_role(role)
        self.metadata = None if metadata is None else dict(metadata)
        self._retry = retry
        self.retry_of: str | None = None
        self._kind: str | None = None
        self._assembler: Any = None
        self._state = "new"  # -> "open" -> "closed"
        self.commit: CommitInfo | None = None
        self.partial = False

    def __repr__(self) -> str:
        return f"ReplyStream(kind={self._kind!r}, state={self._state!r}, text={self.text[:40]!r})"

    # -- feeding ---------------------------------------------------------------------------

    def feed(self, chunk: T) -> T:
        """Take one chunk (see the module docstring for the kinds); return it unchanged.

        Raises:
            InvalidInputError: The chunk is of no known kind, of another kind than the earlier ones, or the
                stream is not open (outside its ``with`` block).
        """
        if self._state != "open":
            where = "has ended; open a new t.stream()" if self._state == "closed" else "is not open yet"
            raise InvalidInputError(f"this stream {where}: feed chunks inside its `with t.stream() as s:` block")
        kind = _kind(chunk)
        if self._kind is None:
            self._kind, self._assembler = kind, _ASSEMBLERS[kind]()
        elif kind != self._kind:
            raise InvalidInputError(
                f"this stream was fed {self._kind} chunks and now a {kind} chunk; use one stream each"
            )
        self._assembler.feed(chunk)
        return chunk

    @overload
    def wrap(self, chunks: AsyncIterable[T]) -> AsyncIterator[T]: ...
    @overload
    def wrap(self, chunks: Iterable[T]) -> Iterator[T]: ...

    def wrap(self, chunks: Iterable[T] | AsyncIterable[T]) -> Iterator[T] | AsyncIterator[T]:
        """Feed every chunk of ``chunks`` and hand it on unchanged: ``for chunk in s.wrap(stream):``.

        An async iterable (``llm.astream(...)``, ``await client.chat.completions.create(stream=True)``)
        gives an async iterator: ``async for chunk in s.wrap(stream):``.

        Raises:
            InvalidInputError: ``chunks`` is not iterable.
        """
        if hasattr(chunks, "__aiter__"):
            return self._awrap(chunks)  # type: ignore[arg-type]
        if isinstance(chunks, (str, bytes)) or not hasattr(chunks, "__iter__"):
            raise InvalidInputError(f"wrap() takes the provider's stream (an iterable of chunks), not {shown(chunks)}")
        return self._wrap(chunks)

    def _wrap(self, chunks: Iterable[T]) -> Iterator[T]:
        for chunk in chunks:
            yield self.feed(chunk)

    async def _awrap(self, chunks: AsyncIterable[T]) -> AsyncIterator[T]:
        async for chunk in chunks:
            yield self.feed(chunk)

    # -- the reply so far ------------------------------------------------------------------

    @property
    def kind(self) -> str | None:
        """Which kind of chunk this stream reads (one of :data:`KINDS`), None before the first."""
        return self._kind

    @property
    def text(self) -> str:
        """The reply's text so far."""
        return "" if self._assembler is None else self._assembler.text

    @property
    def message(self) -> dict[str, Any]:
        """The reply so far as tract stores it: ``{"role", "content", "tool_calls"?}`` (OpenAI's shape)."""
        if self._assembler is None:
            return {"role": self.role, "content": ""}
        return self._assembler.message(self.role)

    @property
    def usage(self) -> Usage | None:
        """The token usage the provider reported so far (None until it reports any)."""
        return None if self._assembler is None else self._assembler.usage

    @property
    def finish_reason(self) -> str | None:
        """Why the provider said it stopped (``"stop"``, ``"tool_calls"``, ``"end_turn"``, ...), if it said."""
        return None if self._assembler is None else self._assembler.finish_reason

    def _arrived(self) -> bool:
        message = self.message
        return bool(message.get("content") or message.get("tool_calls") or message.get("refusal"))

    # -- opening and committing ------------------------------------------------------------

    def _open(self) -> None:
        """Check the stream is new and find what ``retry=`` EDITs (reads the store)."""
        if self._state != "new":
            raise InvalidInputError("a stream is used for one `with` block; open a new t.stream()")
        if self._retry is True:
            head = self._tract.head
            found = self._tract.show(head) if head is not None else None
            if found is not None and found.role == self.role and (found.metadata or {}).get("partial") is True:
                self.retry_of = found.response_to or found.hash
        elif self._retry is not None and self._retry is not False:
            found = self._tract.show(self._retry)
            target = found.response_to or found.hash  # an EDIT names the reply it replaced
            if not self._tract.contains(target):
                raise EditTargetError(
                    f"retry={shown(self._retry)} names commit {target[:12]}, which is not in HEAD's history; "
                    "retry a reply HEAD can reach (or pass retry=True for the partial reply at HEAD)"
                )
            if found.role != self.role:
                raise EditTargetError(
                    f"retry={shown(self._retry)} names a {found.role} message, and this stream commits a "
                    f"{self.role} reply; an EDIT keeps the role of the message it replaces"
                )
            self.retry_of = target
        self._state = "open"

    def _finish(self, error: BaseException | None) -> CommitInfo | None:
        """Commit what arrived (flagged partial after ``error``), once; record the usage beside it."""
        self._state = "closed"
        self.partial = error is not None
        if self._kind is None or (error is not None and not self._arrived()):
            return None  # nothing arrived: nothing to keep
        metadata = dict(self.metadata or {})
        note = None
        if error is not None:
            metadata.update(partial=True, error=type(error).__name__)
            note = f"partial {self.role} reply: the stream was interrupted by {type(error).__name__}"
        edit = self.retry_of is not None
        usage = self.usage
        with self._tract.batch():
            info = self._tract.commit(
                self.message,
                operation=Operation.EDIT if edit else Operation.APPEND,
                response_to=self.retry_of,
                generation_config=self.generation_config,
                metadata=metadata or None,
                commit_message=note,
            )
            if usage is not None:
                self._tract.record_usage(usage, commit=info.hash)
        self.commit = replace(info, usage=usage)
        return self.commit

    def _close(self, error: BaseException | None) -> None:
        try:
            self._finish(error)
        except Exception as failure:
            if error is None:
                raise
            # the stream's own error is what the caller must see; say what happened to the partial reply
            add_note = getattr(error, "add_note", None)  # Python 3.11+
            if add_note is not None:
                add_note(f"tract could not commit the partial reply: {type(failure).__name__}: {failure}")
            warnings.warn(f"tract could not commit the partial reply: {failure}", RuntimeWarning, stacklevel=3)

    def __enter__(self) -> ReplyStream:
        self._open()
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        self._close(error)

    async def __aenter__(self) -> ReplyStream:
        await asyncio.to_thread(self._open)
        return self

    async def __aexit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        # shielded: a second cancellation while the commit runs does not lose the reply (the worker finishes it)
        await asyncio.shield(asyncio.to_thread(self._close, error))
