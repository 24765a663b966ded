"""Private copies of LangChain messages: a fingerprint to detect any change, a new object per read.

A checkpointer must not share message objects with its callers: LangGraph's nodes, ``get_state``
callers and ``update_state`` callers may change a message in place, and that must neither change
what is stored nor go unnoticed by the next ``put``. A :class:`Snapshot` keeps a message's fields
as bytes (``marshal``, version 2: exact types, no object sharing, so equal fields give equal bytes)
and rebuilds a new, independent object from them on every read, which costs a fraction of
deserialising it. Messages holding values ``marshal`` cannot write (an Enum, a model object) keep a
deep copy instead and are fingerprinted by their canonical JSON.
"""

from __future__ import annotations

import copy
import marshal
from collections.abc import Callable
from typing import Any

from langchain_core.messages import BaseMessage

__all__ = ["Snapshot", "fingerprint"]

_MARSHAL_VERSION = 2  # version 3+ writes back-references that depend on reference counts
_set_attribute = object.__setattr__


def fingerprint(message: Any, key: Callable[[BaseMessage], str]) -> tuple[Any, ...]:
    """What identifies a message's exact content: equal fingerprints mean equal messages.

    Args:
        message: The message (anything else raises ``TypeError``).
        key: The message's canonical-JSON hash, used when its fields are not plain data.

    Returns:
        ``(class, bytes of every field)``, or ``("json", key)`` for a message with other values.
    """
    if not isinstance(message, BaseMessage):
        raise TypeError("not a list of LangChain messages")
    try:
        return type(message), marshal.dumps((message.__dict__, message.__pydantic_extra__), _MARSHAL_VERSION)
    except ValueError:  # a value marshal cannot hold
        return "json", key(message)


class Snapshot:
    """An immutable private copy of a message, taken when it is stored or read from the database."""

    __slots__ = ("print", "_fields_set", "_copy")

    def __init__(self, message: BaseMessage, print: tuple[Any, ...], *, owned: bool = False) -> None:
        """Take a snapshot of ``message`` whose :func:`fingerprint` is ``print``.

        Args:
            message: The message.
            print: Its fingerprint.
            owned: ``message`` is a private object nobody else holds (decoded from the database),
                so it need not be copied when its fields are not plain data.
        """
        self.print = print
        self._fields_set = frozenset(message.__pydantic_fields_set__)
        plain = print[0] != "json" and message.__pydantic_private__ is None
        self._copy = None if plain else message if owned else copy.deepcopy(message)

    def thaw(self) -> BaseMessage:
        """A new message object equal to the one the snapshot was taken of, sharing nothing with it."""
        if self._copy is not None:
            return copy.deepcopy(self._copy)
        cls, data = self.print
        fields, extra = marshal.loads(data)
        message = cls.__new__(cls)
        _set_attribute(message, "__dict__", fields)
        _set_attribute(message, "__pydantic_extra__", extra)
        _set_attribute(message, "__pydantic_fields_set__", set(self._fields_set))
        _set_attribute(message, "__pydantic_private__", None)
        return message
