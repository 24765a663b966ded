"""Reading a tract as LlamaIndex messages: the compiled context (with each message's size and
priority) and the raw history behind compressions."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from llama_index.core.base.llms.types import ChatMessage

from tract_core import CommitInfo, CommitNotFoundError, CompiledMessage, Operation, Tract

from .messages import decode, role_of

__all__ = ["ContextView", "Entry", "MessageReader"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of a compiled context: the commit that added it, its LlamaIndex role, size and
    pin, and the compiled message (:attr:`body`, with its ``role``, as the model is sent it)."""

    key: str
    role: str
    tokens: int
    pinned: bool
    compiled: CompiledMessage

    @property
    def body(self) -> dict[str, Any]:
        """The compiled message (a new copy)."""
        return self.compiled.message


@dataclass(frozen=True, slots=True)
class ContextView:
    """A compiled context as entries, with its total token count (tract's tokenizer)."""

    entries: tuple[Entry, ...]
    tokens: int


class MessageReader:
    """Turns a tract's compiled context and history into new ``ChatMessage`` objects.

    Commit metadata (where the exact LlamaIndex message is kept) is decoded once per commit and
    remembered: commits never change.
    """

    def __init__(self, tract: Tract) -> None:
        self.tract = tract
        self._metadata: dict[str, Mapping[str, Any] | None] = {}
        self._lock = threading.Lock()

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
        compiled = context.entries()
        with self._lock:
            for entry in compiled:
                if entry.commit not in self._metadata:
                    self._metadata[entry.commit] = entry.metadata
            roles = [role_of(entry.role, self._metadata[entry.commit]) for entry in compiled]
        entries = tuple(
            Entry(entry.commit, role, entry.tokens, entry.pinned, entry)
            for entry, role in zip(compiled, roles, strict=True)
        )
        return ContextView(entries, context.token_count)

    def messages(self, entries: Iterable[Entry]) -> list[ChatMessage]:
        """New ``ChatMessage`` objects for ``entries`` (callers may mutate them freely)."""
        with self._lock:
            return [decode(e.compiled.message, self._metadata.get(e.key)) for e in entries]

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
