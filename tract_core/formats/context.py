"""The compiled context: the immutable message list one commit compiles to.

A :class:`CompiledContext` holds read-only messages (:class:`~tract_core.formats.frozen.FrozenDict`,
built once by compile and shared by consecutive compiles): :attr:`~CompiledContext.messages` and
:meth:`~CompiledContext.to_openai` return a fresh list of them without copying them (a pointer copy,
so an LLM call does not pay for the whole history), and a caller that tries to change one gets a
``TypeError`` instead of corrupting tract's compile cache. Its other ``to_*`` methods build new,
mutable data, handing the messages to the provider modules of this package (:mod:`.openai`,
:mod:`.anthropic`, :mod:`.gemini`, :mod:`.langchain`, :mod:`.llamaindex`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .. import display
from ..entries import CompiledMessage
from ..errors import InvalidInputError
from ..objects import FORMAT_VERSION, canonical_json
from ..sequence import MaskedSequence, SharedSequence
from ..tokens import REPLY_PRIMING
from .anthropic import to_anthropic
from .frozen import FrozenDict, freeze_message
from .gemini import to_gemini
from .langchain import to_langchain
from .llamaindex import to_llamaindex

__all__ = ["CompiledContext"]


def _langchain_body(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    from langchain_core.messages import messages_to_dict

    return {"messages": messages_to_dict(to_langchain(messages))}


def _llamaindex_body(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"messages": [message.model_dump(mode="json") for message in to_llamaindex(messages)]}


_BODIES: dict[str, Any] = {
    "openai": lambda messages: {"messages": list(messages)},  # read-only messages: nothing to copy
    "anthropic": to_anthropic,
    "gemini": to_gemini,
    "langchain": _langchain_body,
    "llamaindex": _llamaindex_body,
}
"""Each byte format: the messages in tract's shape -> the request body's JSON data."""


_VIEWS = (SharedSequence, MaskedSequence)
"""compile's immutable views, kept as they are (anything else is copied into a tuple)."""


def _as_list(items: Sequence[Any]) -> Sequence[Any]:
    return items.tolist() if isinstance(items, (SharedSequence, MaskedSequence)) else items


def _entry(slot: Any) -> CompiledMessage:
    """The :class:`CompiledMessage` of one of compile's slots."""
    return CompiledMessage(
        commit=slot.key,
        source=slot.source,
        role=slot.role,
        content_type=slot.content_type,
        tokens=slot.tokens,
        priority=slot.priority,
        content_hash=slot.blob,
        edited=slot.blob != slot.origin,
        metadata_json=slot.metadata_json,
        message=slot.message,
    )


class CompiledContext:
    """The message list an LLM call needs, as compiled from one commit.

    Attributes:
        token_count: Estimated prompt tokens of the messages (tokenizer of the tract's model).
        head: The commit this context was compiled from (None for an empty tract).
    """

    __slots__ = ("_messages", "_keys", "_slots", "_hashes", "_entries", "token_count", "head", "_bytes")

    def __init__(
        self,
        messages: Sequence[Mapping[str, Any]],
        commit_hashes: Sequence[str],
        token_count: int,
        head: str | None,
        slots: Sequence[Any] | None = None,
    ) -> None:
        # compile's views hold frozen messages already; messages given by hand are frozen copies
        self._messages: Sequence[FrozenDict] = (
            messages if isinstance(messages, _VIEWS) else tuple(freeze_message(m) for m in messages)
        )
        self._keys: Sequence[str] = commit_hashes if isinstance(commit_hashes, _VIEWS) else tuple(commit_hashes)
        self._slots = slots  # compile's slot of each message (see entries())
        self._hashes: tuple[str, ...] | None = None
        self._entries: tuple[CompiledMessage, ...] | None = None
        self.token_count = token_count
        self.head = head
        self._bytes: bytes | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, "_bytes") and name not in ("_bytes", "_hashes", "_entries"):
            raise AttributeError("CompiledContext is immutable")
        object.__setattr__(self, name, value)

    @property
    def commit_hashes(self) -> tuple[str, ...]:
        """For each message, the commit that added it (EDITs keep the original's hash)."""
        if self._hashes is None:
            object.__setattr__(self, "_hashes", tuple(self._keys))
        return self._hashes  # type: ignore[return-value]

    def entries(self) -> tuple[CompiledMessage, ...]:
        """The messages with what tract knows about each: commit, tokens, priority, metadata, content hash.

        One :class:`~tract_core.CompiledMessage` per message, in order (``entries()[i].message ==
        messages[i]``), read from the compile without touching the store. Adapters use it to map
        framework messages to commits, to size and pin them, and to tell edited ones apart.

        Example:
            >>> from tract_core import Tract
            >>> with Tract.open() as t:
            ...     _ = t.system("Be brief.")
            ...     hello = t.user("Hello", metadata={"source": "web"})
            ...     [(e.role, e.pinned, e.metadata) for e in t.compile().entries()]
            [('system', True, None), ('user', False, {'source': 'web'})]

        Raises:
            InvalidInputError: The context was built by hand, not by ``Tract.compile()``.
        """
        if self._entries is None:
            if self._slots is None:
                raise InvalidInputError("entries() needs a context made by Tract.compile(), not one built by hand")
            entries = tuple(_entry(s) for s in self._slots)
            object.__setattr__(self, "_entries", entries)
        return self._entries  # type: ignore[return-value]

    def entry(self, index: int) -> CompiledMessage:
        """One message's :class:`~tract_core.CompiledMessage` (``entries()[index]``, negative indexes
        too) without building the others: O(1), for code that looks at the newest messages only.

        Raises:
            IndexError: No message at ``index``.
            InvalidInputError: The context was built by hand, not by ``Tract.compile()``.
        """
        if self._entries is not None:
            return self._entries[index]
        if self._slots is None:
            raise InvalidInputError("entry() needs a context made by Tract.compile(), not one built by hand")
        return _entry(self._slots[index])

    def outline(self) -> Iterator[tuple[str, str, str, int, Any]]:
        """``(commit, role, content_type, tokens, priority)`` of each message, in order: what a scan
        of a whole context needs, read straight from the compile (no :class:`CompiledMessage` is built,
        so it stays cheap on a fresh context of thousands of messages).

        Raises:
            InvalidInputError: The context was built by hand, not by ``Tract.compile()``.
        """
        if self._slots is None:
            raise InvalidInputError("outline() needs a context made by Tract.compile(), not one built by hand")
        return ((s.key, s.role, s.content_type, s.tokens, s.priority) for s in self._slots)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages in OpenAI chat shape (``role``, ``content``, ...), in a fresh list.

        The list is yours (append, slice, reorder it freely); the messages in it are read-only
        (:class:`~tract_core.formats.frozen.FrozenDict`) and shared with tract's compile cache, so
        getting them costs a pointer copy of the list, not a copy of the history. They read, compare
        (``==`` plain dicts), serialise (``json.dumps``, pickle) and pass to SDKs and frameworks like
        plain dicts; changing one raises ``TypeError``. For a message you can change, take
        ``copy.deepcopy(message)`` (or ``dict(message)`` for a shallow copy).

        Example:
            >>> from tract_core import Tract
            >>> with Tract.open() as t:
            ...     _ = t.user("Hi")
            ...     messages = t.compile().messages
            >>> messages
            [{'role': 'user', 'content': 'Hi'}]
            >>> messages.append({"role": "assistant", "content": "Hello"})  # the list is a fresh one
            >>> first = dict(messages[0])  # a mutable copy of a message
            >>> first["content"] = "Hi there"
        """
        items = self._messages
        return items.tolist() if isinstance(items, _VIEWS) else list(items)

    def __len__(self) -> int:
        return len(self._messages)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.messages)

    def __repr__(self) -> str:
        head = self.head[:12] if self.head else None
        return f"CompiledContext(messages={len(self)}, token_count={self.token_count}, head={head!r})"

    def _repr_html_(self) -> str:
        """The notebook view: a chat bubble per message, with its tokens and PINNED/EDITED badges."""
        return display.context_html(self)

    def __rich__(self) -> Any:
        """The terminal view (``rich.print(context)``): a panel per message."""
        return display.context_rich(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledContext) and self.canonical_bytes() == other.canonical_bytes()

    def __hash__(self) -> int:
        return hash(self.digest)

    def canonical_bytes(self) -> bytes:
        """The messages as canonical JSON bytes; identical for identical contexts on every run and backend."""
        if self._bytes is None:
            text = canonical_json({"v": FORMAT_VERSION, "messages": list(self._messages)}, what="context")
            object.__setattr__(self, "_bytes", text.encode("utf-8"))
        return self._bytes  # type: ignore[return-value]

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of :meth:`canonical_bytes`."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    def to_openai(self) -> list[dict[str, Any]]:
        """Messages for the OpenAI Chat Completions API (``messages=``): :attr:`messages`, a fresh
        list of read-only messages (tract's own message shape is OpenAI's). Changing a message raises
        ``TypeError``; ``copy.deepcopy`` gives a mutable copy."""
        return self.messages

    def to_anthropic(self, cache_breakpoints: str | Sequence[int] | None = None) -> dict[str, Any]:
        """Arguments for the Anthropic Messages API: ``{"system": ..., "messages": [...]}``.

        Leading system/developer messages become the ``system`` string (joined by blank lines);
        later ones become user text, since Anthropic only takes a system prompt up front. Tool
        calls become ``tool_use`` blocks and tool results ``tool_result`` blocks in a user turn.
        Consecutive messages of the same role are merged into one turn of content blocks, so roles
        alternate as the API expects.

        Args:
            cache_breakpoints: Where to put prompt-cache marks (``cache_control: {"type":
                "ephemeral"}`` on a message's last block): ``"auto"`` marks the system prompt and
                the last assistant message (the end of the last sealed cycle, which the next call
                repeats); a list of at most four message indexes marks those; None (the default)
                gives exactly the output without marks.

        Raises:
            InvalidInputError: A ``cache_breakpoints`` that is not ``"auto"``, None or at most four
                indexes of messages of this context.
        """
        return to_anthropic(self._messages, cache_breakpoints)

    def to_gemini(self) -> dict[str, Any]:
        """Arguments for the Gemini API (google-genai): ``{"system_instruction": {"parts": [...]},
        "contents": [...]}``; see :func:`~tract_core.formats.gemini.to_gemini`.

        Leading system/developer messages become ``system_instruction`` (absent without them);
        ``assistant`` turns are ``model`` turns; tool calls are ``function_call`` parts and tool
        results ``function_response`` parts of a user turn; same-role turns are merged.
        """
        return to_gemini(self._messages)

    def stable_prefix(self, previous: CompiledContext | None) -> int:
        """Tokens of the longest run of leading messages this context shares with ``previous``: the
        part of the prompt a provider's prompt cache can still serve after ``previous`` was sent.

        Messages are compared by their content (role, text, tool calls...), so an appended message
        keeps the whole previous context stable, while an EDIT, a SKIP or a compression early on
        cuts the prefix at the first message that changed. Tokens are this context's per-message
        estimates (:meth:`outline`), without the reply priming ``token_count`` adds.

        Example:
            >>> from tract_core import Tract
            >>> with Tract.open() as t:
            ...     _ = t.system("Be brief.")
            ...     before = t.compile()
            ...     _ = t.user("Hello")
            ...     t.compile().stable_prefix(before) == sum(m[3] for m in before.outline())
            True

        Args:
            previous: An earlier compile (None: nothing was sent before, so 0).

        Raises:
            InvalidInputError: This context was built by hand, not by ``Tract.compile()`` (it has
                no per-message token counts).
        """
        if self._slots is None:
            raise InvalidInputError("stable_prefix() needs a context made by Tract.compile(), not one built by hand")
        if previous is None or not len(previous) or not len(self):
            return 0
        mine, theirs = self._messages, previous._messages
        if (
            isinstance(mine, SharedSequence)
            and isinstance(theirs, SharedSequence)
            and mine._items is theirs._items
            and previous._slots is not None
        ):  # views of one append-only list (a compile and its ancestor's): the shorter is the prefix
            shorter = self if len(self) <= len(previous) else previous
            return shorter.token_count - REPLY_PRIMING
        tokens = 0
        for a, b, slot in zip(_as_list(mine), _as_list(theirs), _as_list(self._slots), strict=False):
            if a is not b and a != b:
                break
            tokens += slot.tokens
        return tokens

    def to_bytes(self, fmt: str = "openai") -> bytes:
        """The request body's messages for ``fmt`` as canonical JSON bytes (sorted keys, compact,
        UTF-8): identical for identical contexts on every run and backend.

        ``openai``: ``{"messages": [...]}``; ``anthropic``: ``{"system": ..., "messages": [...]}``
        (:meth:`to_anthropic`); ``gemini``: ``{"system_instruction": ..., "contents": [...]}``
        (:meth:`to_gemini`); ``langchain``: ``{"messages": [...]}`` as LangChain's
        ``messages_to_dict`` of :meth:`to_langchain`; ``llamaindex``: ``{"messages": [...]}``, each
        ``ChatMessage`` of :meth:`to_llamaindex` as ``model_dump(mode="json")``. The last two import
        their framework when called.

        Raises:
            InvalidInputError: An unknown format (the message lists the known ones).
        """
        build = _BODIES.get(fmt) if isinstance(fmt, str) else None
        if build is None:
            raise InvalidInputError(f"unknown format {fmt!r}; use one of {', '.join(sorted(_BODIES))}")
        return canonical_json(build(self._messages), what="request body").encode("utf-8")

    def to_langchain(self) -> list[Any]:
        """The messages as LangChain ``BaseMessage`` objects (needs ``langchain-core``)."""
        return to_langchain(self._messages)

    def to_llamaindex(self) -> list[Any]:
        """The messages as LlamaIndex ``ChatMessage`` objects (needs ``llama-index-core``)."""
        return to_llamaindex(self._messages)
