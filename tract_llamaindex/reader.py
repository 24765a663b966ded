"""Reading a tract as LlamaIndex messages: the compiled context (with each message's size and
priority) and the raw history behind compressions."""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from llama_index.core.base.llms.types import ChatMessage

from tract_core import CommitInfo, CommitNotFoundError, CompiledContext, CompiledMessage, Operation, Tract

from .messages import decode, decoded, role_of

__all__ = ["ContextView", "Entry", "MessageReader"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of a compiled context: the commit that added it, its LlamaIndex role, size and
    pin, the compiled message (:attr:`body`, with its ``role``, as the model is sent it), and
    ``copy``, which returns a new ``ChatMessage`` of it at each call (decoded once)."""

    key: str
    role: str
    tokens: int
    pinned: bool
    compiled: CompiledMessage
    copy: Callable[[], ChatMessage]

    @property
    def body(self) -> dict[str, Any]:
        """The compiled message (a new copy)."""
        return self.compiled.message


@dataclass(frozen=True, slots=True)
class ContextView:
    """A compiled context as entries, with its total token count (tract's tokenizer)."""

    entries: tuple[Entry, ...]
    tokens: int


_Outline = tuple[str, str, str, int, Any]


class MessageReader:
    """Turns a tract's compiled context and history into new ``ChatMessage`` objects.

    Commit metadata (where the exact LlamaIndex message is kept) is decoded once per commit and
    remembered: commits never change. The entries of the last :meth:`view` are kept too: compile
    shares its (read-only) messages between consecutive contexts, so the next view reuses the
    entry of every message that is the very same object with the same outline (commit, role,
    content type, tokens, priority) and decodes only the new ones: a turn costs O(new messages)
    in decoding, plus pointer comparisons over the history. Each entry keeps its decoded message
    as a template that is never handed out; :meth:`messages` returns copies of it.
    """

    def __init__(self, tract: Tract) -> None:
        self.tract = tract
        self._metadata: dict[str, Mapping[str, Any] | None] = {}
        self._lock = threading.Lock()
        # the last view: its compiled messages, their outline, and its entries (same positions)
        self._seen: tuple[list[Any], list[_Outline], list[Entry]] = ([], [], [])

    def remember(self, commit: str, metadata: Mapping[str, Any] | None) -> None:
        """Record the metadata of a commit just written (saves decoding it)."""
        with self._lock:
            self._metadata[commit] = metadata

    def commit(self, encoded: Iterable[tuple[Mapping[str, Any], Mapping[str, Any] | None]]) -> None:
        """Commit encoded messages (see :func:`~tract_llamaindex.messages.encode`) in order, as one
        transaction, remembering their metadata."""
        with self.tract.batch():
            for body, metadata in encoded:
                stored = None if metadata is None else dict(metadata)
                self.remember(self.tract.commit(body, metadata=stored).hash, stored)

    def metadata(self, commit: str) -> Mapping[str, Any] | None:
        """The metadata of a commit seen by :meth:`view` or :meth:`remember`."""
        with self._lock:
            return self._metadata.get(commit)

    def view(self) -> ContextView:
        """The compiled context at HEAD."""
        context = self.tract.compile()
        messages = context.messages
        outline = list(context.outline())
        with self._lock:
            seen_messages, seen_outline, seen_entries = self._seen
            n = len(seen_messages)
            if (
                len(messages) >= n and all(map(operator.is_, messages, seen_messages)) and outline[:n] == seen_outline
            ):  # the usual turn: the same messages, and new ones after them
                entries = seen_entries[:]
                entries.extend(self._entry(context, i) for i in range(n, len(messages)))
            else:  # an edit, a compression, another branch: reuse what is unchanged wherever it moved
                where = {id(m): i for i, m in enumerate(seen_messages)}
                entries = []
                for i, message in enumerate(messages):
                    j = where.get(id(message), -1)
                    same = j >= 0 and seen_messages[j] is message and seen_outline[j] == outline[i]
                    entries.append(seen_entries[j] if same else self._entry(context, i))
            self._seen = (messages, outline, entries)
        return ContextView(tuple(entries), context.token_count)

    def _entry(self, context: CompiledContext, index: int) -> Entry:
        """The entry of message ``index`` of ``context``, decoded (under the lock)."""
        compiled = context.entry(index)
        if compiled.commit not in self._metadata:
            self._metadata[compiled.commit] = compiled.metadata
        metadata = self._metadata[compiled.commit]
        role, copy = role_of(compiled.role, metadata), decoded(compiled.message, metadata)
        return Entry(compiled.commit, role, compiled.tokens, compiled.pinned, compiled, copy)

    @staticmethod
    def messages(entries: Iterable[Entry]) -> list[ChatMessage]:
        """New ``ChatMessage`` objects for ``entries``, sharing nothing with each other, earlier
        calls or the reader's templates (callers may mutate them freely)."""
        return [e.copy() for e in entries]

    def history(self) -> list[ChatMessage]:
        """Every message committed on HEAD's line, in order, as it was put, compressions undone.

        A compression (or archive) replaced part of the line with a summary: its record names
        the HEAD before it, whose line still holds the originals until ``gc`` collects them, so
        the history is that line's history followed by what came after the compression. Once
        gc has collected the originals, the summary stands in for them.
        """
        tract = self.tract
        # (new head, old head) of each committed compression
        records = [
            (r.new_head, r.old_head)
            for r in tract.compressions()
            if r.status == "committed" and r.new_head and r.old_head
        ]
        commits: list[CommitInfo] = []
        start: str | None = tract.head
        while start is not None:
            line = list(reversed(tract.log(limit=None, start=start)))
            position = {c.hash: i for i, c in enumerate(line)}
            latest = max((r for r in records if r[0] in position), key=lambda r: position[r[0]], default=None)
            if latest is None or not self._exists(latest[1]):
                commits[:0] = line
                break
            records.remove(latest)
            commits[:0] = line[position[latest[0]] + 1 :]
            start = latest[1]
        return [
            decode({"role": c.role, **c.body}, c.metadata)
            for c in commits
            if c.operation is Operation.APPEND and c.role is not None and c.body is not None
        ]

    def _exists(self, commit: str) -> bool:
        try:
            self.tract.show(commit)
        except CommitNotFoundError:
            return False
        return True
