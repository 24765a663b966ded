"""Storage: the contract (:mod:`.base`), the SQL tables (:mod:`.schema`), migrations and the SQL store."""

from .base import Head, Session, Store, StoredBlob, StoredCommit
from .engine import display_url, strip_password
from .migrations import SCHEMA_VERSION
from .sql import SqlStore

__all__ = [
    "Store",
    "Session",
    "SqlStore",
    "Head",
    "StoredBlob",
    "StoredCommit",
    "SCHEMA_VERSION",
    "display_url",
    "strip_password",
]
