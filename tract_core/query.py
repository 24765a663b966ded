"""Finding commits by the generation config that produced them (run in the database)."""

from __future__ import annotations

import math
from typing import Any

from .arguments import check_limit
from .compile import Compiler
from .errors import InvalidInputError, shown
from .history import commit_info
from .objects import check_text
from .records import CommitInfo
from .store.base import Session

__all__ = ["OPERATORS", "run_config_query"]

OPERATORS = {"==": "==", "=": "==", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


def _path(key: Any) -> tuple[str, ...]:
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise InvalidInputError(
            f"a config key must be a name such as 'temperature' or 'sampling.top_p', not {shown(key)}"
        )
    return tuple(check_text(key, "config key", control=True).split("."))


def _check_value(value: Any) -> Any:
    if value is None or not isinstance(value, (str, int, float, bool)):
        raise InvalidInputError(f"compare config values with a string, number or bool, not {shown(value)}")
    if isinstance(value, str):
        check_text(value, "the value to compare")
    elif isinstance(value, float) and not math.isfinite(value) or isinstance(value, int) and abs(value) >= 2**63:
        raise InvalidInputError(f"the value to compare must be a finite number within 64 bits, not {shown(value)}")
    return value


def run_config_query(
    session: Session,
    compiler: Compiler,
    tract_id: str,
    key: str | None,
    op: str | None,
    value: Any,
    limit: int | None,
    equals: dict[str, Any],
) -> list[CommitInfo]:
    """Commits whose generation config satisfies every condition, newest first."""
    conditions: list[tuple[tuple[str, ...], str, Any]] = []
    if key is not None:
        if not isinstance(op, str) or op not in OPERATORS:
            raise InvalidInputError(f"operator must be one of {' '.join(OPERATORS)}, not {shown(op)}")
        conditions.append((_path(key), OPERATORS[op], _check_value(value)))
    elif op is not None or value is not None:
        raise InvalidInputError("give a key with the operator: query_by_config('temperature', '>', 0.5)")
    conditions += [(_path(k), "==", _check_value(v)) for k, v in equals.items()]
    if not conditions:
        raise InvalidInputError("say what to look for: query_by_config(model='gpt-4o') or ('temperature', '>', 0.5)")
    check_limit(limit)
    matches: list[str] | None = None
    for path, operator, expected in conditions:
        found = session.commits.query_config(tract_id, path, operator, expected)
        matches = found if matches is None else [h for h in matches if h in set(found)]
    hashes = (matches or [])[:limit] if limit is not None else (matches or [])
    stored = session.commits.get_many(tract_id, hashes)
    blobs = session.blobs.get_many(s.commit.blob for s in stored.values() if s.commit.blob)
    result = []
    for h in hashes:
        commit = stored[h]
        found_blob = blobs.get(commit.commit.blob) if commit.commit.blob else None
        blob = found_blob.blob if found_blob else None
        tokens = compiler.blob_tokens(blob, found_blob) if blob else None
        result.append(commit_info(commit, blob, tokens))
    return result
