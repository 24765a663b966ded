""":class:`WorkingMemory`: key/value notes the model keeps for itself (tools ``memory_set``,
``memory_delete``, ``memory_clear``).

Example:
    >>> memory = WorkingMemory()
    >>> memory.set("city", "Lisbon")
    {'key': 'city', 'notes': 1}
    >>> memory.set("budget", "1500 EUR")
    {'key': 'budget', 'notes': 2}
    >>> print(memory.render())
    Working memory (memory): 2 notes
    - budget: 1500 EUR
    - city: Lisbon
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from ..errors import InvalidInputError
from .scaffold import Scaffold, operation

__all__ = ["WorkingMemory"]

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")


class WorkingMemory(Scaffold):
    """Notes by key, rendered sorted by key, one per line.

    Bounded by class attributes (a subclass changes them): ``max_notes`` notes, keys of at most
    ``max_key`` characters, values of at most ``max_value``.
    """

    name = "memory"
    max_notes: int = 40
    """At most this many notes."""
    max_key: int = 40
    """At most this many characters per key."""
    max_value: int = 500
    """At most this many characters per value."""

    class State(BaseModel):
        """The notes, by key."""

        notes: dict[str, str] = Field(default_factory=dict)

    def _known(self, key: str) -> None:
        if key not in self.state.notes:
            keys = ", ".join(sorted(self.state.notes)) or "none (the memory is empty)"
            raise InvalidInputError(f"there is no note {key!r}; the keys are: {keys}")

    @operation
    def set(self, key: str, value: str) -> dict[str, object]:
        """Write a note to your working memory (replaces the note with that key).

        Args:
            key: A short name: letters, digits and _ . : / - (e.g. "user.city").
            value: What to remember.
        """
        if len(key) > self.max_key or not _KEY.match(key):
            raise InvalidInputError(
                f"a key is 1 to {self.max_key} letters, digits or _ . : / - starting with a letter or digit, "
                f"not {key[:60]!r}"
            )
        value = value.strip()
        if not value:
            raise InvalidInputError(f"a note needs a value; delete a note with {self.name}_delete")
        if len(value) > self.max_value:
            raise InvalidInputError(f"a value is at most {self.max_value} characters (got {len(value)}): shorten it")
        if key not in self.state.notes and len(self.state.notes) >= self.max_notes:
            raise InvalidInputError(
                f"the working memory is full ({self.max_notes} notes): delete one with {self.name}_delete first"
            )
        self.state.notes[key] = value
        return {"key": key, "notes": len(self.state.notes)}

    @operation
    def delete(self, key: str) -> dict[str, object]:
        """Delete a note from your working memory.

        Args:
            key: The note's key.
        """
        self._known(key)
        del self.state.notes[key]
        return {"deleted": key, "notes": len(self.state.notes)}

    @operation
    def clear(self) -> dict[str, int]:
        """Delete every note of your working memory."""
        count = len(self.state.notes)
        self.state.notes.clear()
        return {"deleted": count}

    def render(self) -> str:
        """``Working memory (<name>): N notes`` and one ``- key: value`` line per note, sorted by key."""
        notes = self.state.notes
        if not notes:
            return f"Working memory ({self.name}): empty (write notes with {self.name}_set)"
        lines = [f"Working memory ({self.name}): {len(notes)} note{'s' if len(notes) != 1 else ''}"]
        lines += [f"- {key}: {notes[key]}" for key in sorted(notes)]
        return "\n".join(lines)
