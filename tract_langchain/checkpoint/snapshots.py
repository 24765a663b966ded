"""Private copies of LangChain messages: a fingerprint to detect any change, a new object per read.

A checkpointer must not share message objects with its callers: LangGraph's nodes, ``get_state``
callers and ``update_state`` callers may change a message in place, and that must neither change
what is stored nor go unnoticed by the next ``put``. A :class:`Snapshot` keeps a message's fields
as bytes (``marshal``, version 2: exact types, no object sharing, so equal fields give equal bytes)
and rebuilds a new, independent object from them on every read, which costs a fraction of
deserialising it. Messages holding values ``marshal`` cannot write (an Enum, a model object) keep a
deep copy instead and are fingerprinted by their canonical JSON. Snapshot bytes live only in
memory; nothing read from the database is ever unmarshalled.
"""

from __future__ import annotations

import copy
import marshal
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from langchain_core.messages import BaseMessage

__all__ = ["Snapshot", "fingerprint", "fingerprints", "thaw_all"]

_MARSHAL_VERSION = 2  # version 3+ writes back-references that depend on reference counts
_OTHER = b"\x00"  # starts the fingerprint of a message marshal cannot write (marshal output never does)
_set_attribute = object.__setattr__
_tags: dict[type, str] = {}
_fields_sets: dict[frozenset[str], frozenset[str]] = {}  # a handful of distinct sets, shared by every snapshot


def _tag(cls: type) -> str:
    """A name for the exact class (the id tells apart classes of the same name; the dict keeps it alive)."""
    tag = _tags.get(cls)
    if tag is None:
        tag = _tags[cls] = f"{cls.__module__}.{cls.__qualname__}#{id(cls)}"
    return tag


def fingerprint(message: Any, key: Callable[[BaseMessage], str]) -> bytes:
    """What identifies a message's exact content: equal fingerprints mean equal messages.

    The bytes (not a tuple) keep a put from allocating objects the garbage collector tracks.

    Args:
        message: The message (anything else raises ``TypeError``).
        key: The message's canonical-JSON hash, used when its fields are not plain data.

    Returns:
        The class and every field, marshalled; or a marker and ``key`` for a message with other values.
    """
    if not isinstance(message, BaseMessage):
        raise TypeError("not a list of LangChain messages")
    try:
        return marshal.dumps((_tag(type(message)), message.__dict__, message.__pydantic_extra__), _MARSHAL_VERSION)
    except ValueError:  # a value marshal cannot hold
        return _OTHER + key(message).encode("ascii")


def fingerprints(messages: Sequence[Any], key: Callable[[BaseMessage], str]) -> list[bytes]:
    """:func:`fingerprint` of each message, in one pass without a call per message where it can."""
    dumps, tags = marshal.dumps, _tags
    try:  # only classes fingerprinted before are in _tags, so a KeyError also catches non-messages
        return [dumps((tags[type(m)], m.__dict__, m.__pydantic_extra__), _MARSHAL_VERSION) for m in messages]
    except (KeyError, ValueError):
        return [fingerprint(message, key) for message in messages]


class Snapshot:
    """An immutable private copy of a message, taken when it is stored or read from the database."""

    __slots__ = ("print", "_cls", "_fields_set", "_copy")

    def __init__(self, message: BaseMessage, print: bytes, *, owned: bool = False) -> None:
        """Take a snapshot of ``message`` whose :func:`fingerprint` is ``print``.

        Args:
            message: The message.
            print: Its fingerprint.
            owned: ``message`` is a private object nobody else holds (decoded from the database),
                so it need not be copied when its fields are not plain data.
        """
        self.print = print
        self._cls = type(message)
        fields_set = frozenset(message.__pydantic_fields_set__)
        self._fields_set = _fields_sets.setdefault(fields_set, fields_set)
        plain = not print.startswith(_OTHER) and message.__pydantic_private__ is None
        self._copy = None if plain else message if owned else copy.deepcopy(message)

    @property
    def private(self) -> bool:
        """Whether the snapshot holds no object (only bytes), so the message it was taken of is free to hand out."""
        return self._copy is None


def thaw_all(snapshots: Iterable[Snapshot]) -> list[BaseMessage]:
    """New message objects equal to those the snapshots were taken of, sharing nothing with them."""
    loads, set_attribute = marshal.loads, _set_attribute
    thawed = []
    for snapshot in snapshots:
        if snapshot._copy is not None:
            thawed.append(copy.deepcopy(snapshot._copy))
            continue
        cls = snapshot._cls
        _, fields, extra = loads(snapshot.print)
        message = cls.__new__(cls)
        set_attribute(message, "__dict__", fields)
        set_attribute(message, "__pydantic_extra__", extra)
        set_attribute(message, "__pydantic_fields_set__", set(snapshot._fields_set))
        set_attribute(message, "__pydantic_private__", None)
        thawed.append(message)
    return thawed
