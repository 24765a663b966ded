"""A per-thread flag raised for the duration of a block: how the policy engine and the orchestrator
know they are inside their own pass (so the commits their actions make do not start another)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ThreadFlag"]


class ThreadFlag:
    """A flag each thread sees on its own; :meth:`raised` sets it for a block (nested blocks restore
    the outer value)."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def active(self) -> bool:
        """Whether this thread is inside a :meth:`raised` block."""
        return getattr(self._local, "active", False)

    @contextmanager
    def raised(self) -> Iterator[None]:
        """Set the flag for this thread while the block runs."""
        before = self.active
        self._local.active = True
        try:
            yield
        finally:
            self._local.active = before
