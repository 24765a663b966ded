"""Normalising the token usage that LLM providers report.

``record_usage`` accepts OpenAI (Chat Completions and Responses), Anthropic and LangChain
``usage_metadata`` shapes, as dicts or as the SDKs' objects, whole responses or messages that carry
usage, or plain keyword integers. Everything becomes one :class:`Usage`, kept beside the commit it
belongs to (:func:`store_usage`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .errors import InvalidInputError, damaged, shown
from .refs import HEAD, Ref, resolve
from .store.base import Session

__all__ = ["Usage", "normalize_usage", "store_usage"]

_SHAPES = (
    "OpenAI {'prompt_tokens', 'completion_tokens'}, Anthropic {'input_tokens', 'output_tokens', "
    "'cache_read_input_tokens', ...}, LangChain usage_metadata {'input_tokens', 'output_tokens', "
    "'total_tokens'}, a response or AIMessage carrying one of those, or keyword integers "
    "record_usage(prompt_tokens=..., completion_tokens=...)"
)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one LLM call, as the provider reported it.

    Attributes:
        prompt_tokens: All input tokens, cached ones included.
        completion_tokens: Output tokens.
        total_tokens: ``prompt_tokens + completion_tokens`` unless the provider said otherwise.
        cache_read_tokens: Input tokens served from the provider's prompt cache.
        cache_write_tokens: Input tokens written to the provider's prompt cache.
        source: Which shape the numbers came from (``openai``, ``anthropic``, ``langchain``, ``manual``).
    """

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    source: str = "manual"

    def to_json(self) -> str:
        """Canonical JSON for storage."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Usage:
        """Rebuild from :meth:`to_json` output.

        Raises:
            CorruptObjectError: The stored text is not what :meth:`to_json` writes.
        """
        try:
            return cls(**json.loads(text))
        except (TypeError, ValueError):
            raise damaged("a recorded token usage", f"{str(text)[:60]!r} is not what tract stores") from None


def _as_mapping(obj: Any) -> Mapping[str, Any] | None:
    if isinstance(obj, Mapping):
        return obj
    if hasattr(obj, "model_dump"):
        dumped = obj.model_dump()
        return dumped if isinstance(dumped, Mapping) else None
    if hasattr(obj, "__dict__"):
        return {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    return None


def _int(data: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"usage field {key!r} must be a whole number of tokens, not {shown(value)}")
    if value < 0:
        raise InvalidInputError(f"usage field {key!r} cannot be negative ({shown(value)})")
    if value >= 2**63:
        raise InvalidInputError(f"usage field {key!r} is too large to be a token count ({shown(value)})")
    return value


def _nested(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    mapped = _as_mapping(value) if value is not None else None
    return mapped or {}


def _unwrap(usage: Any) -> Mapping[str, Any] | None:
    """Find the usage numbers in a usage object, a response or a message."""
    metadata = getattr(usage, "usage_metadata", None)
    if metadata:
        return _as_mapping(metadata)
    inner = getattr(usage, "usage", None)
    if inner is not None and not isinstance(usage, Mapping):
        return _as_mapping(inner)
    data = _as_mapping(usage)
    if data is None:
        return None
    for key in ("usage", "usage_metadata", "token_usage"):
        if (
            key in data
            and _as_mapping(data[key]) is not None
            and not any(k in data for k in ("prompt_tokens", "input_tokens"))
        ):
            return _as_mapping(data[key])
    return data


def normalize_usage(usage: Any = None, **numbers: int) -> Usage:
    """Turn any supported usage shape (or keyword integers) into a :class:`Usage`.

    Raises:
        InvalidInputError: The shape is not recognised or a number is negative or not an integer.
    """
    if isinstance(usage, Usage) and not numbers:
        return usage
    if isinstance(getattr(usage, "usage", None), Usage) and not numbers:
        return usage.usage
    if usage is None:
        if not numbers:
            raise InvalidInputError(f"record_usage needs usage numbers: pass {_SHAPES}")
        data: Mapping[str, Any] | None = numbers
    else:
        if numbers:
            raise InvalidInputError("pass either a usage object or keyword numbers, not both")
        data = _unwrap(usage)
    if data is None:
        raise InvalidInputError(f"cannot read token usage from a {type(usage).__name__}; pass {_SHAPES}")
    if "prompt_tokens" in data or "completion_tokens" in data:
        prompt = _int(data, "prompt_tokens")
        completion = _int(data, "completion_tokens")
        details = _nested(data, "prompt_tokens_details")
        return Usage(
            prompt,
            completion,
            _int(data, "total_tokens", prompt + completion),
            cache_read_tokens=_int(details, "cached_tokens"),
            source="openai" if usage is not None else "manual",
        )
    if "input_tokens" in data or "output_tokens" in data:
        inp, out = _int(data, "input_tokens"), _int(data, "output_tokens")
        anthropic = (
            "cache_creation_input_tokens" in data or "cache_read_input_tokens" in data or "total_tokens" not in data
        )
        if anthropic:
            read = _int(data, "cache_read_input_tokens")
            write = _int(data, "cache_creation_input_tokens")
            prompt = inp + read + write
            return Usage(prompt, out, prompt + out, read, write, source="anthropic")
        responses_api = "input_tokens_details" in data
        details = _nested(data, "input_tokens_details" if responses_api else "input_token_details")
        read = _int(details, "cached_tokens" if responses_api else "cache_read")
        return Usage(
            inp,
            out,
            _int(data, "total_tokens", inp + out),
            cache_read_tokens=read,
            cache_write_tokens=_int(details, "cache_creation"),
            source="openai" if responses_api else "langchain",
        )
    raise InvalidInputError(f"cannot find token counts in {sorted(shown(k) for k in data)[:8]}; pass {_SHAPES}")


def store_usage(session: Session, tract_id: str, commit: Ref, usage: Usage) -> None:
    """Keep ``usage`` beside ``commit`` (HEAD when None), replacing what it had."""
    target = resolve(session, tract_id, commit if commit is not None else HEAD)
    session.commits.set_usage(tract_id, target, usage.to_json())
