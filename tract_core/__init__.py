"""tract: version control for what an LLM sees.

Every message, edit and annotation is an immutable, content-addressed commit; ``compile()`` turns
a commit's history into the exact message list for an LLM call, deterministically.
"""

from .config import TractConfig
from .diff import ContextDiff, MessageChange
from .errors import (
    AmbiguousRefError,
    BranchNotFoundError,
    CommitNotFoundError,
    ConcurrentUpdateError,
    ConfigError,
    CorruptObjectError,
    DatabaseNotFoundError,
    EditTargetError,
    InvalidInputError,
    InvalidRoleError,
    NotFoundError,
    SchemaVersionError,
    TokenizerFallbackWarning,
    TractError,
    TractNotFoundError,
    TractWarning,
)
from .formats import CompiledContext
from .objects import APPEND, EDIT, NORMAL, PINNED, SKIP, ContentType, Operation, Priority
from .records import AnnotationInfo, CommitInfo, ReflogEntry, TractStatus
from .tokens import TiktokenCounter, TokenCounter
from .tract import Tract
from .usage import Usage

__version__ = "0.1.0"

__all__ = [
    "Tract",
    "TractConfig",
    "CompiledContext",
    "CommitInfo",
    "AnnotationInfo",
    "TractStatus",
    "ReflogEntry",
    "ContextDiff",
    "MessageChange",
    "Usage",
    "TokenCounter",
    "TiktokenCounter",
    "Priority",
    "Operation",
    "ContentType",
    "PINNED",
    "SKIP",
    "NORMAL",
    "APPEND",
    "EDIT",
    "TractError",
    "TractWarning",
    "TokenizerFallbackWarning",
    "InvalidInputError",
    "InvalidRoleError",
    "ConfigError",
    "NotFoundError",
    "CommitNotFoundError",
    "AmbiguousRefError",
    "BranchNotFoundError",
    "TractNotFoundError",
    "DatabaseNotFoundError",
    "EditTargetError",
    "ConcurrentUpdateError",
    "SchemaVersionError",
    "CorruptObjectError",
    "__version__",
]
