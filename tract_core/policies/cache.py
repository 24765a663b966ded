"""What a compression costs in prompt cache (DESIGN 17): the cached prefix it would invalidate.

Kept apart from :mod:`.compress` so the orchestrator's rules can weigh the cache without importing
the policy machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..objects import Priority

if TYPE_CHECKING:
    from ..formats import CompiledContext

__all__ = ["cached_prefix_lost", "cache_note"]


def cached_prefix_lost(context: CompiledContext) -> int:
    """Tokens of prompt-cached prefix a compression of ``context`` would invalidate.

    A provider can have cached the context up to its last assistant message (the sealed cycles,
    which every later call repeats). A compression keeps the leading pinned messages (the system
    prompt) and rewrites everything after them, so what is lost is the sealed part after that
    leading pinned run. O(messages): call it once a compression is on the table.

    Example:
        >>> from tract_core import Tract
        >>> with Tract.open() as t:
        ...     _ = t.system("Be brief.")
        ...     _ = t.user("What is 2 + 2?")
        ...     _ = t.assistant("4")
        ...     _ = t.user("And 3 + 3?")
        ...     sizes = [m[3] for m in t.compile().outline()]
        ...     cached_prefix_lost(t.compile()) == sizes[1] + sizes[2]
        True

    Raises:
        InvalidInputError: The context was built by hand, not by ``Tract.compile()``.
    """
    leading = True
    lost = sealed = 0
    for _, role, _, tokens, priority in context.outline():
        if leading and priority is Priority.PINNED:
            continue
        leading = False
        lost += tokens
        if role == "assistant":
            sealed = lost
    return sealed


def cache_note(tokens: int | None) -> str:
    """The clause a compression's reason ends with: ``"; drops a cached prefix of 2,300 tokens"``
    (empty when nothing cached is lost)."""
    return f"; drops a cached prefix of {tokens:,} tokens" if tokens else ""
