"""The per-message view of a compiled context: :class:`CompiledMessage`.

``CompiledContext.messages`` is what a provider is sent. An adapter (or a policy) that decides what
to keep, pin or fold needs more about each message: the commit that added it (what every
:class:`~tract_core.Tract` method takes), its size in tokens, its priority, the metadata it was
committed with (where adapters keep the exact framework message) and a hash of its content.
``CompiledContext.entries()`` gives one :class:`CompiledMessage` per message, in order, without
another database read: compile already holds all of it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from .objects import Priority

__all__ = ["CompiledMessage", "copy_message"]

_ATOMS = (str, int, float, bool, type(None))


class CompiledMessage:
    """One message of a compiled context, with what tract knows about it. Immutable.

    Attributes:
        commit: The (APPEND) commit that added the message: pass it to ``annotate``, ``show``,
            ``commit(..., operation=EDIT, response_to=...)``. ``ctx.commit_hashes[i]``.
        source: The commit whose content is shown: ``commit`` itself, or the latest EDIT of it.
        role: The message role.
        content_type: The content type the message was committed with.
        tokens: Estimated tokens of the message as compiled, per-message overhead included (a
            context's ``token_count`` is the sum over its entries plus the reply priming).
        priority: ``PINNED`` or ``NORMAL`` (``SKIP`` messages are not in a compiled context).
        content_hash: The content id (SHA-256 hex of the canonical body, as blobs are named) of the
            message body as compiled.
        edited: Whether the body differs from the one the message was committed with: an EDIT
            replaced it, or compile left out a tool call whose result is skipped.
        metadata_json: The metadata the message was committed with, as stored (canonical JSON), or
            None; :attr:`metadata` decodes it.
    """

    __slots__ = (
        "commit",
        "source",
        "role",
        "content_type",
        "tokens",
        "priority",
        "content_hash",
        "edited",
        "metadata_json",
        "_message",
    )

    commit: str
    source: str
    role: str
    content_type: str
    tokens: int
    priority: Priority
    content_hash: str
    edited: bool
    metadata_json: str | None
    _message: Mapping[str, Any]

    def __init__(
        self,
        *,
        commit: str,
        source: str,
        role: str,
        content_type: str,
        tokens: int,
        priority: Priority,
        content_hash: str,
        edited: bool,
        metadata_json: str | None,
        message: Mapping[str, Any],
    ) -> None:
        values = (commit, source, role, content_type, tokens, priority, content_hash, edited, metadata_json, message)
        for name, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a CompiledMessage cannot be changed")

    @property
    def message(self) -> dict[str, Any]:
        """The message as compiled, in OpenAI chat shape (with its ``role``): a fresh copy."""
        return copy_message(self._message)

    @property
    def body(self) -> dict[str, Any]:
        """:attr:`message` without its ``role``: the body the content hash is computed over (a fresh copy)."""
        return {k: v for k, v in self.message.items() if k != "role"}

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The metadata the message was committed with (decoded anew on every access), or None."""
        return None if self.metadata_json is None else json.loads(self.metadata_json)

    @property
    def pinned(self) -> bool:
        """Whether the message is ``PINNED``."""
        return self.priority is Priority.PINNED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompiledMessage):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __hash__(self) -> int:
        return hash((self.commit, self.source, self.content_hash, self.priority, self.tokens))

    def __repr__(self) -> str:
        return (
            f"CompiledMessage(commit={self.commit[:12]!r}, role={self.role!r}, tokens={self.tokens}, "
            f"priority={self.priority.value!r}, edited={self.edited})"
        )


def copy_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a message dict (a plain dict copy in the common all-string case)."""
    out = dict(message)
    for key, value in out.items():
        if not isinstance(value, _ATOMS):
            out[key] = copy.deepcopy(value)
    return out
