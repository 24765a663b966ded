"""Sealed messages: message bodies encrypted with the saver's serializer when it encrypts.

With LangGraph's ``EncryptedSerializer`` (or any serde whose output does not contain its input),
the messages of a checkpoint must not reach the disk as text either. A sealed message is still one
commit of the thread's tract, but the commit holds no text: its blob body is
``{"content": "", "sealed": <key>}`` and its metadata ``{"sealed": <key>}``, where ``key`` is the
SHA-256 of the message's canonical plaintext. Commit and blob ids are therefore computed over the
plaintext, not over ciphertext: the same history gives the same ids in every database and with
every key, and the objects stay consistent for tract (``Tract.verify`` passes, gc works).

The message itself (its OpenAI-shaped body and the LangChain fields) is serialised and encrypted
by the saver's serde and stored in ``tract_lg_sealed``, keyed by the blob's hash, so a message
stored twice is stored once. Reading decrypts with the saver's serde; a saver whose serde cannot
(no key, another key) raises :class:`~tract_core.InvalidInputError`. The role of each
message, the ids and the graph's shape stay readable, as with the stock savers' metadata.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tract_core import InvalidInputError
from tract_core.objects import canonical_json
from tract_core.storage import Transaction

from .rows import CheckpointStore

__all__ = ["Sealer", "Sealed", "encrypts", "is_sealed"]

SEALED = "sealed"
_MARK = '{"sealed":"'
_MARKED_LENGTH = len(_MARK) + 64 + 2  # the canonical JSON of {"sealed": <sha-256 hex>}


def is_sealed(metadata_json: str | None) -> bool:
    """Whether a commit's metadata marks a sealed message."""
    return metadata_json is not None and len(metadata_json) == _MARKED_LENGTH and metadata_json.startswith(_MARK)


def encrypts(serde: Any) -> bool:
    """Whether ``serde`` hides what it serialises (its output does not contain a probe text)."""
    probe = "tract-probe-" + secrets.token_hex(12)
    _, data = serde.dumps_typed(probe)
    return probe.encode("utf-8") not in bytes(data)


@dataclass(frozen=True)
class Sealed:
    """What a sealed message's commit carries, and the ciphertext stored beside it (keyed by the
    content id of ``body`` once written)."""

    body: dict[str, Any]
    metadata: dict[str, Any]
    typed: tuple[str, bytes]


class Sealer:
    """Seals messages on write (when ``enabled``) and opens sealed ones on read, with ``serde``.

    Args:
        serde: The saver's serializer.
        rows: The saver's SQL.
        enabled: Seal new messages (the serde encrypts).
    """

    def __init__(self, serde: Any, rows: CheckpointStore, *, enabled: bool) -> None:
        self.serde = serde
        self.rows = rows
        self.enabled = enabled

    def seal(self, key: str, body: Mapping[str, Any], metadata: Mapping[str, Any]) -> Sealed:
        """The commit form of a message whose plaintext is ``body`` and ``metadata``."""
        plaintext = canonical_json({"body": dict(body), "metadata": dict(metadata)}, what="message")
        return Sealed({"content": "", SEALED: key}, {SEALED: key}, self.serde.dumps_typed(plaintext))

    def put(self, tx: Transaction, content: str, sealed: Sealed) -> None:
        """Store a sealed message's ciphertext under the content id of the commit's blob (once per blob)."""
        self.rows.put_sealed(tx, content, sealed.typed)

    def open_many(self, tx: Transaction, tract_id: str, blobs: Iterable[str]) -> dict[str, tuple[dict[str, Any], str]]:
        """Decrypt sealed messages: blob hash -> (body, metadata JSON)."""
        wanted = sorted(set(blobs))
        found = self.rows.sealed_many(tx, wanted)
        opened: dict[str, tuple[dict[str, Any], str]] = {}
        for blob in wanted:
            if blob not in found:
                raise InvalidInputError(
                    f"the encrypted text of message blob {blob[:12]} of tract {tract_id!r} is missing; "
                    "the store was changed outside the saver (restore it from a backup)"
                )
            try:
                plaintext = json.loads(self.serde.loads_typed(found[blob]))
            except Exception as exc:
                raise InvalidInputError(
                    f"the messages of tract {tract_id!r} were encrypted by the saver's serializer "
                    f"({found[blob][0]!r}) and this saver's serde cannot decrypt them ({type(exc).__name__}: {exc}); "
                    "open TractSaver with serde= the EncryptedSerializer (same key) that wrote them"
                ) from exc
            opened[blob] = (plaintext["body"], canonical_json(plaintext["metadata"]))
        return opened

    def forget(self, tx: Transaction, gone: Iterable[str]) -> None:
        """Delete the ciphertext of messages the store no longer holds (``gone``: their content ids,
        as :meth:`~tract_core.storage.Transaction.delete_tract` returns them)."""
        doomed = set(gone)
        if doomed:
            self.rows.delete_sealed(tx, doomed)
