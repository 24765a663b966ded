"""Thread ids and checkpoint namespaces: what the saver accepts, and the tract each pair maps to.

A thread id is a non-blank string (an integer or UUID is taken as its decimal or canonical string,
as LangGraph's stock savers do) of at most :data:`MAX_ID_BYTES` bytes of UTF-8 without NUL; a
checkpoint namespace is a string of the same limits, possibly empty. Anything else raises
:class:`~tract_core.InvalidInputError` before the store is touched.

:func:`tract_id_for` is injective and keeps the ids earlier versions gave:

* a thread id without ``|``: the thread itself for the root graph, ``"<thread>|<ns>"`` for a
  subgraph namespace (LangGraph namespaces may contain ``|`` themselves; the thread part cannot);
* a thread id containing ``|``: ``"|<thread, with % and | percent-encoded>|<ns>"``, which starts
  with ``|`` (no id of the first form does);
* any of those longer than a tract id may be (255 characters): ``"||"`` followed by the SHA-256 of
  the pair (no id of the other forms starts with ``||``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from tract_core import InvalidInputError

__all__ = ["MAX_ID_BYTES", "SEPARATOR", "check_thread_id", "check_namespace", "tract_id_for", "hashed_tract_id"]

MAX_ID_BYTES = 1024
"""Longest thread id, and longest checkpoint namespace, in bytes of UTF-8 (so every key of the
saver's tables fits one PostgreSQL index entry, on every backend alike)."""

SEPARATOR = "|"
"""Joins a thread id and a namespace in a tract id."""

_MAX_TRACT_ID = 255


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
    """The thread id a caller gave, as the string the saver stores.

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


def tract_id_for(thread_id: str, checkpoint_ns: str = "") -> str:
    """The tract holding the messages of a thread (root graph) or of one of its subgraph namespaces.

    Args:
        thread_id: A thread id accepted by :func:`check_thread_id`.
        checkpoint_ns: ``""`` for the root graph, else a subgraph's namespace.

    Returns:
        A tract id of at most 255 characters; distinct pairs give distinct ids.
    """
    thread_id, checkpoint_ns = check_thread_id(thread_id), check_namespace(checkpoint_ns)
    if SEPARATOR not in thread_id:
        tract_id = thread_id if not checkpoint_ns else f"{thread_id}{SEPARATOR}{checkpoint_ns}"
    else:
        escaped = thread_id.replace("%", "%25").replace(SEPARATOR, "%7C")
        tract_id = f"{SEPARATOR}{escaped}{SEPARATOR}{checkpoint_ns}"
    return tract_id if len(tract_id) <= _MAX_TRACT_ID else hashed_tract_id(thread_id, checkpoint_ns)


def hashed_tract_id(thread_id: str, checkpoint_ns: str = "") -> str:
    """``"||"`` and the SHA-256 of the pair: the form of long ids, which no other pair can have."""
    pair = json.dumps([thread_id, checkpoint_ns], ensure_ascii=False).encode("utf-8")
    return SEPARATOR * 2 + hashlib.sha256(pair).hexdigest()
