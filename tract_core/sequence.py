"""An immutable sequence that shares an append-only list with its descendants.

Compile keeps one state per commit. Each new commit's state is its parent's plus one message, so
copying the parent's tuple would make every commit cost O(history). A :class:`SharedSequence` is a
view of the first ``length`` items of a list; appending to the view that ends at the list's end
extends the list in place (O(1)) and returns a longer view, leaving every existing view unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

__all__ = ["SharedSequence", "MaskedSequence"]

T = TypeVar("T")
_append_lock = threading.Lock()


class SharedSequence(Sequence[T], Generic[T]):
    """An immutable view of the first ``length`` items of a list that only ever grows."""

    __slots__ = ("_items", "_length")

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: list[T] = list(items)
        self._length = len(self._items)

    @classmethod
    def _view(cls, items: list[T], length: int) -> SharedSequence[T]:
        view = cls.__new__(cls)
        view._items = items
        view._length = length
        return view

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self._items[: self._length][index]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("SharedSequence index out of range")
        return self._items[index]

    def __iter__(self) -> Iterator[T]:
        items, length = self._items, self._length
        for i in range(length):
            yield items[i]

    def __reversed__(self) -> Iterator[T]:
        items = self._items
        for i in range(self._length - 1, -1, -1):
            yield items[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (SharedSequence, MaskedSequence)):
            return self.tolist() == other.tolist()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SharedSequence({self.tolist()!r})"

    def tolist(self) -> list[T]:
        """The items as a new list."""
        return self._items[: self._length]

    def append(self, item: T) -> SharedSequence[T]:
        """A view one item longer; O(1) when this view ends where the shared list ends."""
        with _append_lock:
            if len(self._items) == self._length:
                self._items.append(item)
                return self._view(self._items, self._length + 1)
        items = self._items[: self._length]
        items.append(item)
        return self._view(items, len(items))

    def replace(self, index: int, item: T) -> SharedSequence[T]:
        """A copy with the item at ``index`` replaced (O(n))."""
        items = self._items[: self._length]
        items[index] = item
        return self._view(items, len(items))


class MaskedSequence(Sequence[T], Generic[T]):
    """An immutable view of a :class:`SharedSequence` with some positions left out and items added.

    Compile shows most of a history unchanged from one cycle to the next; only messages with a
    lifecycle or a node key come and go, and sticky ones move next to the active head. This view
    leaves out the ``mask`` positions of ``base`` (sorted, each < ``len(base)``), shows ``pre`` just
    before base position ``pre_at`` and appends ``tail``, so a cycle's context costs O(mask + pre +
    tail) to build instead of a copy of the history. The items are laid out in a list the first time
    they are read (once per view).
    """

    __slots__ = ("_base", "_mask", "_tail", "_pre_at", "_pre", "_length", "_list")

    def __init__(
        self,
        base: SharedSequence[T],
        mask: tuple[int, ...],
        tail: tuple[T, ...] = (),
        pre_at: int = 0,
        pre: tuple[T, ...] = (),
    ) -> None:
        self._base = base
        self._mask = mask
        self._tail = tail
        self._pre_at = pre_at
        self._pre = pre
        self._length = len(base) - len(mask) + len(pre) + len(tail)
        self._list: list[T] | None = None

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: Any) -> Any:
        items = self._items()
        if isinstance(index, slice):
            return items[index]
        return items[index]

    def __iter__(self) -> Iterator[T]:
        return iter(self._items())

    def __reversed__(self) -> Iterator[T]:
        return reversed(self._items())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (SharedSequence, MaskedSequence)):
            return self.tolist() == other.tolist()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MaskedSequence({self.tolist()!r})"

    def tolist(self) -> list[T]:
        """The items as a new list."""
        return list(self._items())

    def _items(self) -> list[T]:
        if self._list is None:
            items = self._base._items
            out: list[T] = []
            start = 0
            pre_at, pre = self._pre_at, self._pre
            for masked in (*self._mask, len(self._base)):
                if pre and start <= pre_at <= masked:
                    out.extend(items[start:pre_at])
                    out.extend(pre)
                    start, pre = pre_at, ()
                out.extend(items[start:masked])
                start = masked + 1
            out.extend(self._tail)
            self._list = out
        return self._list
