"""Checking the arguments of public methods before any database work.

Each check raises :class:`~tract_core.errors.InvalidInputError` naming the parameter, so a wrong
type or value never surfaces as an ``AttributeError``, a ``KeyError`` or a driver error from deep
inside an operation, and never while a lock is held.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from .errors import InvalidInputError, shown

__all__ = ["MAX_LIMIT", "check_flag", "check_limit", "check_number", "check_mapping", "check_callable"]

MAX_LIMIT = 2**62
"""The largest count a database accepts for LIMIT (SQLite and PostgreSQL integers are 64-bit)."""


def check_flag(value: Any, what: str) -> bool:
    """``value`` must be True or False."""
    if not isinstance(value, bool):
        raise InvalidInputError(f"{what} must be True or False, not {shown(value)}")
    return value


def check_limit(value: Any, what: str = "limit") -> int | None:
    """``value`` must be None (no limit) or a whole number from 0 up to :data:`MAX_LIMIT`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
        raise InvalidInputError(f"{what} must be a non-negative integer or None, not {shown(value)}")
    return value


def check_number(value: Any, what: str, *, optional: bool = False) -> float | None:
    """``value`` must be a finite, non-negative real number (or None when ``optional``)."""
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not math.isfinite(value))
        or value < 0
    ):
        raise InvalidInputError(f"{what} must be a non-negative number, not {shown(value)}")
    return value


def check_mapping(value: Any, what: str) -> Mapping[Any, Any]:
    """``value`` must be None or a dict-like mapping; returns it (``{}`` for None)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must be a dict, not {type(value).__name__}")
    return value


def check_callable(value: Any, what: str) -> Callable[..., Any] | None:
    """``value`` must be None or callable."""
    if value is not None and not callable(value):
        raise InvalidInputError(f"{what} must be a function (or None), not {type(value).__name__}")
    return value
