"""Value objects of the object model and their canonical, reproducible hashing.

A :class:`Blob` is a message payload stored once by the SHA-256 of its canonical JSON. A
:class:`Commit` names its parents, its blob and what it does (``APPEND`` a message or ``EDIT`` an
earlier one); its hash covers exactly those fields, never timestamps, token counts or usage, so the
same history built twice, on any machine and backend, has the same hashes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NewType

from .errors import CorruptObjectError, InvalidInputError, damaged

__all__ = [
    "ObjectId",
    "Priority",
    "Operation",
    "ContentType",
    "PINNED",
    "SKIP",
    "NORMAL",
    "APPEND",
    "EDIT",
    "FORMAT_VERSION",
    "MAX_JSON_DEPTH",
    "check_text",
    "canonical_json",
    "sha256_hex",
    "Blob",
    "Commit",
    "json_or_none",
]

ObjectId = NewType("ObjectId", str)
"""A lowercase hex SHA-256 digest naming a blob or a commit."""

FORMAT_VERSION = 1
"""Version of the canonical encoding; part of every hashed payload."""

MAX_JSON_DEPTH = 100
"""How many levels of dicts and lists a JSON value (metadata, a message, a config) may nest."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f]")


class Priority(str, Enum):
    """How compile treats a message: keep it (``NORMAL``), protect it (``PINNED``) or drop it (``SKIP``)."""

    NORMAL = "normal"
    PINNED = "pinned"
    SKIP = "skip"

    def __str__(self) -> str:
        return self.value


class Operation(str, Enum):
    """What a commit does: add a message, or replace the content of an earlier one."""

    APPEND = "append"
    EDIT = "edit"

    def __str__(self) -> str:
        return self.value


class ContentType:
    """Well-known content types. Any lowercase identifier is accepted as a content type."""

    INSTRUCTION = "instruction"
    DIALOGUE = "dialogue"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    RETRIEVAL = "retrieval"
    SUMMARY = "summary"
    MERGE = "merge"


PINNED = Priority.PINNED
SKIP = Priority.SKIP
NORMAL = Priority.NORMAL
APPEND = Operation.APPEND
EDIT = Operation.EDIT


def check_text(value: Any, what: str, *, control: bool = False) -> str:
    """Refuse text that the store cannot hold identically on every backend; return it unchanged.

    Args:
        value: The text to check.
        what: How to name it in the error message (``"reason"``, ``"ref"``, ...).
        control: Also refuse control characters (names and refs never contain them).

    Raises:
        InvalidInputError: ``value`` is not a string, contains NUL (PostgreSQL text cannot hold it,
            so tract refuses it everywhere and histories can move between backends), a lone
            surrogate (not valid Unicode, so not encodable), or (``control``) a control character.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise InvalidInputError(_nul_message(what))
    if control:
        found = _CONTROL.search(value)
        if found:
            raise InvalidInputError(
                f"{what} {value[:40]!r} contains a control character ({found.group()!r}); remove it"
            )
    if not value.isascii():
        found = _SURROGATE.search(value)
        if found:
            raise InvalidInputError(_surrogate_message(what, found.group()))
    return value


def _nul_message(what: str) -> str:
    return (
        f"{what} contains a NUL character (\\x00), which PostgreSQL cannot store; tract refuses it on every "
        "backend so a history can move between them. Remove it"
    )


def _surrogate_message(what: str, char: str) -> str:
    return (
        f"{what} contains a lone surrogate ({char!r}), which is not valid Unicode and cannot be stored; "
        "fix the text at its source (e.g. decode bytes with errors='replace')"
    )


def _check_structure(value: Any, what: str, nul: bool) -> None:
    """Refuse what ``json.dumps`` would silently change or choke on: non-string dict keys (it turns
    them into strings), nesting deeper than :data:`MAX_JSON_DEPTH` (or a cycle), and, when ``nul``
    is False, NUL in any string (PostgreSQL's ``jsonb`` cannot hold ``\\u0000``)."""
    if not isinstance(value, (dict, list, tuple)):
        if not nul and isinstance(value, str) and "\x00" in value:
            raise InvalidInputError(_nul_message(what))
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= MAX_JSON_DEPTH:
            raise InvalidInputError(
                f"{what} is nested more than {MAX_JSON_DEPTH} levels deep (or contains itself); flatten it"
            )
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    raise InvalidInputError(f"{what} has a non-string key {key!r}; JSON object keys must be strings")
                if not nul and "\x00" in key:
                    raise InvalidInputError(_nul_message(f"a key of {what}"))
            children = item.values()
        else:
            children = item
        for child in children:
            if isinstance(child, (dict, list, tuple)):
                stack.append((child, depth + 1))
            elif not nul and isinstance(child, str) and "\x00" in child:
                raise InvalidInputError(_nul_message(what))


def _check_json(value: Any, path: str) -> None:
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{path} is {value!r}; JSON has no NaN or infinity, store it as a string")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json(item, f"{path}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")
        return
    raise InvalidInputError(
        f"{path} is a {type(value).__name__}, which is not JSON-serializable; "
        "convert it to a string, number, list or dict first"
    )


def canonical_json(value: Any, *, what: str = "value", nul: bool = True) -> str:
    """Encode ``value`` as canonical JSON: sorted keys, compact separators, UTF-8, no NaN.

    Args:
        value: Plain JSON data (dicts with string keys, lists, tuples, str, int, float, bool, None),
            nested at most :data:`MAX_JSON_DEPTH` levels.
        what: How to name the value in the error message if it cannot be encoded.
        nul: Whether strings may contain NUL (escaped as ``\\u0000``; False for values PostgreSQL
            reads as ``jsonb``, which cannot hold it).

    Returns:
        The canonical text; equal values always give equal text.

    Raises:
        InvalidInputError: ``value`` holds something JSON cannot represent.
    """
    _check_structure(value, what, nul)
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        _check_json(value, what)
        raise InvalidInputError(f"{what} cannot be encoded as JSON: {exc}") from exc
    if not text.isascii():
        found = _SURROGATE.search(text)
        if found:
            raise InvalidInputError(_surrogate_message(what, found.group()))
    return text


def sha256_hex(text: str) -> ObjectId:
    """SHA-256 of the UTF-8 encoding of ``text``, as lowercase hex."""
    return ObjectId(hashlib.sha256(text.encode("utf-8")).hexdigest())


@dataclass(frozen=True, slots=True)
class Blob:
    """A message payload (everything but the role), stored once by content hash.

    Attributes:
        body: The OpenAI-shaped message without its ``role``: ``content`` plus optional
            ``name``, ``tool_calls``, ``tool_call_id`` and any extra provider fields.
        text: The canonical encoding that is hashed and stored.
        hash: SHA-256 of ``text``.
    """

    body: Mapping[str, Any]
    text: str
    hash: ObjectId

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Blob:
        """Build a blob from a message body, computing its canonical text and hash."""
        text = canonical_json({"v": FORMAT_VERSION, "body": body}, what="message")
        return cls(body=body, text=text, hash=sha256_hex(text))

    @classmethod
    def from_stored(cls, hash: str, text: str, *, verify: bool = True, decoded: Any = None) -> Blob:
        """Rebuild a blob read from a store.

        Args:
            hash: The id it was stored under.
            text: The stored canonical text.
            verify: Check that ``text`` still hashes to ``hash`` (bulk reads skip it for speed).
            decoded: ``json.loads(text)``, when the caller already parsed it (in bulk).
        """
        if not isinstance(text, str):
            raise damaged(f"blob {str(hash)[:12]}", f"its content is stored as {type(text).__name__}, not text")
        if verify and sha256_hex(text) != hash:
            raise damaged(f"blob {hash[:12]}", "it does not match its content hash")
        try:
            if decoded is None:
                decoded = json.loads(text)
            body = decoded["body"]
        except (ValueError, KeyError, TypeError):
            body = None
        if not isinstance(body, Mapping):
            raise damaged(f"blob {str(hash)[:12]}", "its content is not a stored message (a JSON object with a body)")
        return cls(body=body, text=text, hash=ObjectId(hash))


_encode_str = json.encoder.encode_basestring  # what json.dumps(..., ensure_ascii=False) does to a str


def _str(value: str | None) -> str:
    return "null" if value is None else _encode_str(value)


@dataclass(frozen=True, slots=True)
class Commit:
    """One immutable step of a tract's history.

    Only the fields below are hashed. JSON-valued fields are kept as canonical text so a commit
    read back from any backend re-hashes to the same id.

    Attributes:
        parents: Parent commit hashes (none for a root, two or more for a merge).
        blob: Hash of the message payload, or None for a commit that carries no message.
        role: Message role (``system``, ``user``, ``assistant``, ``tool``, ``developer``).
        content_type: What kind of content the message is (see :class:`ContentType`).
        operation: ``APPEND`` or ``EDIT``.
        response_to: For an EDIT, the commit whose message it replaces.
        metadata_json: Caller metadata as canonical JSON, or None.
        generation_config_json: The generation settings that produced the message, or None.
        message: A commit message, or None.
        hash: SHA-256 of the canonical encoding of the fields above.
        lifecycle_json: The message's lifecycle (see :mod:`tract_core.tree.lifecycle`) as canonical
            JSON of its non-default fields, or None (permanent).
        key: The node key (``"weather:NYC"``): a newer message with the same key supersedes this
            one in compile; or None.
        placement_json: Where the message is shown relative to another (``{"attach_to": h,
            "offset": -1}``: a pre-context node of message ``h``; a positive offset is post-context),
            as canonical JSON; or None (a core node at its own place).

    ``lifecycle_json``, ``key`` and ``placement_json`` enter the hashed payload only when set, so every
    commit without them keeps the id it always had.
    """

    parents: tuple[ObjectId, ...]
    blob: ObjectId | None
    role: str | None
    content_type: str
    operation: Operation
    response_to: ObjectId | None = None
    metadata_json: str | None = None
    generation_config_json: str | None = None
    message: str | None = None
    hash: ObjectId = field(default=ObjectId(""), compare=False)
    lifecycle_json: str | None = None
    key: str | None = None
    placement_json: str | None = None

    def __post_init__(self) -> None:
        computed = self.compute_hash()
        if not self.hash:
            object.__setattr__(self, "hash", computed)
        elif self.hash != computed:
            raise CorruptObjectError(
                f"commit {self.hash[:12]} does not match its content hash; the database was "
                "modified outside tract. Restore it from a backup"
            )

    def payload(self) -> dict[str, Any]:
        """The exact mapping whose canonical JSON is hashed."""
        payload: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "parents": list(self.parents),
            "blob": self.blob,
            "role": self.role,
            "content_type": self.content_type,
            "operation": self.operation.value,
            "response_to": self.response_to,
            "metadata": None if self.metadata_json is None else json.loads(self.metadata_json),
            "generation_config": (
                None if self.generation_config_json is None else json.loads(self.generation_config_json)
            ),
            "message": self.message,
        }
        if self.key is not None:
            payload["key"] = self.key
        if self.lifecycle_json is not None:
            payload["lifecycle"] = json.loads(self.lifecycle_json)
        if self.placement_json is not None:
            payload["placement"] = json.loads(self.placement_json)
        return payload

    def canonical_text(self) -> str:
        """``canonical_json(self.payload())``, assembled without re-parsing the JSON-valued fields.

        The keys are written in sorted order and the JSON fields are already canonical, so the
        result is byte-identical to encoding :meth:`payload` (a unit test holds it to that).
        """
        key = "" if self.key is None else f'"key":{_str(self.key)},'
        lifecycle = "" if self.lifecycle_json is None else f'"lifecycle":{self.lifecycle_json},'
        placement = "" if self.placement_json is None else f'"placement":{self.placement_json},'
        return (
            f'{{"blob":{_str(self.blob)},"content_type":{_str(self.content_type)},'
            f'"generation_config":{self.generation_config_json or "null"},{key}{lifecycle}'
            f'"message":{_str(self.message)},'
            f'"metadata":{self.metadata_json or "null"},"operation":{_str(self.operation.value)},'
            f'"parents":[{",".join(_str(p) for p in self.parents)}],{placement}"response_to":{_str(self.response_to)},'
            f'"role":{_str(self.role)},"v":{FORMAT_VERSION}}}'
        )

    def compute_hash(self) -> ObjectId:
        """Hash of the canonical encoding of :meth:`payload`."""
        return sha256_hex(self.canonical_text())

    @property
    def parent(self) -> ObjectId | None:
        """First parent, or None for a root commit."""
        return self.parents[0] if self.parents else None

    @property
    def metadata(self) -> dict[str, Any] | None:
        """A fresh copy of the commit's metadata."""
        return None if self.metadata_json is None else json.loads(self.metadata_json)

    @property
    def generation_config(self) -> dict[str, Any] | None:
        """A fresh copy of the generation settings."""
        return None if self.generation_config_json is None else json.loads(self.generation_config_json)


def json_or_none(value: Mapping[str, Any] | None, what: str, *, nul: bool = True) -> str | None:
    """Canonical JSON of an optional mapping (None and ``{}`` both give None); see :func:`canonical_json`."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must be a dict, not {type(value).__name__}")
    if not value:
        return None
    return canonical_json(dict(value), what=what, nul=nul)
