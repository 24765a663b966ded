"""Conversation names: the tract that holds a framework's conversation, from the name its user knows.

Each adapter stores one conversation in one tract; these functions are the one mapping from the
framework's name for a conversation to that tract's id. The adapters call them, and so does the
``tract`` command line (``tract log --thread ID``, ``--session ID``, ``--chat KEY``), which is why
they live in the core (the core never imports an adapter).

* a LangGraph thread (``TractSaver``): ``thread_id`` and ``checkpoint_ns`` -> :func:`thread_tract_id`;
* a LangChain chat history (``TractChatMessageHistory``): ``session_id`` -> :func:`session_tract_id`
  (the session id itself);
* a LlamaIndex ``TractMemory``: ``session_id`` -> :func:`session_tract_id` (the session id itself);
* a LlamaIndex ``Memory`` on ``TractChatStore``: the chat store key (the ``Memory``'s ``session_id``)
  -> :func:`chat_tract_id` (``"chat/<key>"``; its archived messages: ``"chat-archived/<key>"``).

A thread id is a non-blank string (an integer or UUID is taken as its decimal or canonical string,
as LangGraph's stock savers do) of at most :data:`MAX_ID_BYTES` bytes of UTF-8 without NUL; a
checkpoint namespace is a string of the same limits, possibly empty. :func:`thread_tract_id` is
injective:

* a thread id without ``|``: the thread itself for the root graph, ``"<thread>|<ns>"`` for a
  subgraph namespace (LangGraph namespaces may contain ``|`` themselves; the thread part cannot);
* a thread id containing ``|``: ``"|<thread, with % and | percent-encoded>|<ns>"``, which starts
  with ``|`` (no id of the first form does);
* any of those longer than a tract id may be (255 characters): ``"||"`` followed by the SHA-256 of
  the pair (:func:`hashed_tract_id`; no id of the other forms starts with ``||``).

Example:
    >>> thread_tract_id("support-42"), thread_tract_id("support-42", "tools:1f2e"), thread_tract_id(7)
    ('support-42', 'support-42|tools:1f2e', '7')
    >>> session_tract_id("user-7"), chat_tract_id("user-7"), chat_tract_id("user-7", prefix=ARCHIVED_CHAT_PREFIX)
    ('user-7', 'chat/user-7', 'chat-archived/user-7')
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from .errors import InvalidInputError
from .objects import check_text

__all__ = [
    "MAX_ID_BYTES",
    "MAX_TRACT_ID",
    "SEPARATOR",
    "CHAT_PREFIX",
    "ARCHIVED_CHAT_PREFIX",
    "check_thread_id",
    "check_namespace",
    "thread_tract_id",
    "hashed_tract_id",
    "session_tract_id",
    "chat_tract_id",
]

MAX_ID_BYTES = 1024
"""Longest thread id, and longest checkpoint namespace, in bytes of UTF-8 (so every key of the
LangGraph saver's tables fits one PostgreSQL index entry, on every backend alike)."""

MAX_TRACT_ID = 255
"""Longest tract id, in characters."""

SEPARATOR = "|"
"""Joins a thread id and a namespace in a tract id."""

CHAT_PREFIX = "chat/"
"""What ``TractChatStore`` puts before a key to name the tract of its active messages (its default ``prefix``)."""

ARCHIVED_CHAT_PREFIX = "chat-archived/"
"""What ``TractChatStore`` puts before a key to name the tract of its archived messages (its default
``archive_prefix``)."""


def _checked_text(value: str, what: str) -> str:
    if "\x00" in value:
        raise InvalidInputError(f"{what} must not contain NUL characters ('\\x00'): {value!r}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{what} must be valid Unicode text (it holds a lone surrogate): {value!r}") from exc
    if size > MAX_ID_BYTES:
        raise InvalidInputError(
            f"{what} is {size} bytes long in UTF-8; the saver stores at most {MAX_ID_BYTES}. "
            f"Use a shorter id (for example a hash of it): {value[:40]!r}..."
        )
    return value


def check_thread_id(value: Any) -> str:
    """The thread id a caller gave, as the string the LangGraph saver stores.

    Raises:
        InvalidInputError: None, a blank string, a type other than str/int/UUID, a NUL character,
            or more than :data:`MAX_ID_BYTES` bytes.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise InvalidInputError(
            f"thread_id must be a non-empty string (or an int or UUID), not {type(value).__name__} {value!r}; "
            'pass it as config={"configurable": {"thread_id": "..."}}'
        )
    if not value.strip():
        raise InvalidInputError(f"thread_id must not be empty or blank, not {value!r}")
    return _checked_text(value, "thread_id")


def check_namespace(value: Any) -> str:
    """The checkpoint namespace a caller gave (None is the root graph's ``""``).

    Raises:
        InvalidInputError: Not a string, a NUL character, or more than :data:`MAX_ID_BYTES` bytes.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInputError(f"checkpoint_ns must be a string, not {type(value).__name__} {value!r}")
    return _checked_text(value, "checkpoint_ns")


def thread_tract_id(thread_id: Any, checkpoint_ns: str | None = "") -> str:
    """The tract holding the messages of a LangGraph thread (root graph) or of one of its subgraph namespaces.

    ``TractSaver.tract(thread_id, checkpoint_ns)`` opens this tract. (A database written by a
    version of the saver before this mapping keeps the tract its messages are in; the saver reads
    that from its own tables.)

    Args:
        thread_id: The ``configurable["thread_id"]`` of the graph's config (str, int or UUID).
        checkpoint_ns: ``""`` (or None) for the root graph, else a subgraph's namespace.

    Returns:
        A tract id of at most 255 characters; distinct pairs give distinct ids.

    Raises:
        InvalidInputError: A thread id or namespace :func:`check_thread_id` / :func:`check_namespace` refuse.
    """
    thread_id, checkpoint_ns = check_thread_id(thread_id), check_namespace(checkpoint_ns)
    if SEPARATOR not in thread_id:
        tract_id = thread_id if not checkpoint_ns else f"{thread_id}{SEPARATOR}{checkpoint_ns}"
    else:
        escaped = thread_id.replace("%", "%25").replace(SEPARATOR, "%7C")
        tract_id = f"{SEPARATOR}{escaped}{SEPARATOR}{checkpoint_ns}"
    return tract_id if len(tract_id) <= MAX_TRACT_ID else hashed_tract_id(thread_id, checkpoint_ns)


def hashed_tract_id(thread_id: str, checkpoint_ns: str = "") -> str:
    """``"||"`` and the SHA-256 of the pair: the form of long ids, which no other pair can have."""
    pair = json.dumps([thread_id, checkpoint_ns], ensure_ascii=False).encode("utf-8")
    return SEPARATOR * 2 + hashlib.sha256(pair).hexdigest()


def session_tract_id(session_id: Any) -> str:
    """The tract of a LangChain chat history session (``TractChatMessageHistory``) or a LlamaIndex
    ``TractMemory`` session: the session id itself.

    Raises:
        InvalidInputError: Not a non-blank string of at most 255 characters, or text the store
            cannot hold (NUL, a lone surrogate).
    """
    if not isinstance(session_id, str) or not session_id.strip() or len(session_id) > MAX_TRACT_ID:
        raise InvalidInputError(
            f"session_id is the tract_id: a non-empty string of at most {MAX_TRACT_ID} characters, not {session_id!r}"
        )
    return check_text(session_id, "session_id")


def chat_tract_id(key: Any, prefix: str = CHAT_PREFIX) -> str:
    """The tract of a LlamaIndex chat store key's messages in ``TractChatStore``: ``prefix + key``.

    LlamaIndex's ``Memory`` uses its ``session_id`` as the key. The key's archived messages are in
    ``chat_tract_id(key, prefix=ARCHIVED_CHAT_PREFIX)``; a store built with other prefixes uses
    those (``TractChatStore(prefix=..., archive_prefix=...)``).

    Raises:
        InvalidInputError: An empty or non-string key, or a tract id longer than 255 characters.
    """
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"a chat store key is a non-empty string, not {key!r}")
    tract_id = check_text(prefix, "prefix") + check_text(key, "chat store key")
    if len(tract_id) > MAX_TRACT_ID:
        raise InvalidInputError(
            f"chat store key {key[:40]!r}... is too long: with the prefix {prefix!r} its tract id would have "
            f"{len(tract_id)} characters, at most {MAX_TRACT_ID} fit"
        )
    return tract_id
