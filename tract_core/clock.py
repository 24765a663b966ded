"""The clock tract stamps rows with (never hashed), replaceable for simulations and tests.

Timestamps are kept beside commits, reflog entries, proposals and the like; they never enter a
hash, so a simulated clock changes no commit id. Replace the clock to run a long session in
simulated time (gc retention windows, ArchivePolicy's idle days)::

    from tract_core.clock import use_clock
    with use_clock(lambda: start + 8 * 3600):
        ...
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .errors import InvalidInputError

__all__ = ["now", "use_clock"]

_clock: Callable[[], float] = time.time


def now() -> float:
    """The current time in UNIX seconds, from the clock in use (the system clock by default)."""
    return float(_clock())


@contextmanager
def use_clock(clock: Callable[[], float]) -> Iterator[None]:
    """Use ``clock`` (a callable returning UNIX seconds) for every timestamp tract takes in this
    process while the block runs; the previous clock comes back afterwards.

    Raises:
        InvalidInputError: ``clock`` is not callable.
    """
    global _clock
    if not callable(clock):
        raise InvalidInputError("use_clock() takes a callable returning UNIX seconds, e.g. time.time")
    previous = _clock
    _clock = clock
    try:
        yield
    finally:
        _clock = previous
