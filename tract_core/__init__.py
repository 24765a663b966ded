"""tract: version control for what an LLM sees.

Every message, edit and annotation is an immutable, content-addressed commit; ``compile()`` turns
a commit's history into the exact message list for an LLM call, deterministically.

The package imports its light parts (the errors, priorities and operations) at once and the rest
when first used (PEP 562: ``from tract_core import Tract`` imports the tract module then), so a
program that needs only a little of it, such as ``tract --help``, starts fast.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from .errors import (
    AmbiguousRefError,
    BranchDeletedError,
    BranchExistsError,
    BranchNotFoundError,
    CommitNotFoundError,
    ConcurrentUpdateError,
    ConfigError,
    CorruptObjectError,
    DatabaseNotFoundError,
    EditTargetError,
    InvalidInputError,
    InvalidRoleError,
    MergeConflict,
    NotFoundError,
    PolicyWarning,
    ProposalDecidedError,
    ProposalNotFoundError,
    RebaseSafetyError,
    ScaffoldClassError,
    ScaffoldNotFoundError,
    SchemaVersionError,
    SelectorSyntaxError,
    StaleProposalError,
    StorageBusyError,
    StorageError,
    StorageFullError,
    StorageReadOnlyError,
    StorageUnavailableError,
    TemporalAddressError,
    TokenizerFallbackWarning,
    TractClosedError,
    TractError,
    TractNotFoundError,
    TractWarning,
)
from .objects import APPEND, EDIT, NORMAL, PINNED, SKIP, ContentType, Operation, Priority

if TYPE_CHECKING:  # the names imported on first use, for type checkers
    from .branches import BranchInfo, ResetResult
    from .components import Mounted, Scaffold, ScaffoldInfo, TaskList, WorkingMemory, operation
    from .compress import CompressionResult, PendingCompression
    from .config import TractConfig
    from .diff import ContextDiff, MessageChange
    from .entries import CompiledMessage
    from .events import EventInfo
    from .formats import CompiledContext
    from .gc import GCResult
    from .llm import (
        LLM,
        AsyncOnlyError,
        CallableLLM,
        LangChainChatLLM,
        LlamaIndexLLM,
        LLMError,
        LLMResponse,
        OpenAIChatLLM,
        as_llm,
    )
    from .merge import Conflict, LLMResolver, MergeResult, PendingMerge
    from .records import AnnotationInfo, CommitInfo, CommitLog, LifecycleInfo, ReflogEntry, TractStatus, VerifyReport
    from .replay import ReplayResult
    from .store.base import CompressionEntry
    from .summarize import SummaryDraft
    from .tokens import TiktokenCounter, TokenCounter
    from .tract import Tract
    from .tree.lifecycle import Cyclic, Lifecycle, Permanent, Sticky, Temporary
    from .usage import Usage

__version__ = "0.1.0"

__all__ = [
    "Tract",
    "Lifecycle",
    "Permanent",
    "Temporary",
    "Sticky",
    "Cyclic",
    "Scaffold",
    "operation",
    "Mounted",
    "ScaffoldInfo",
    "TaskList",
    "WorkingMemory",
    "TractConfig",
    "CompiledContext",
    "CompiledMessage",
    "CommitInfo",
    "CommitLog",
    "EventInfo",
    "AnnotationInfo",
    "LifecycleInfo",
    "TractStatus",
    "ReflogEntry",
    "ContextDiff",
    "MessageChange",
    "Usage",
    "BranchInfo",
    "ResetResult",
    "ReplayResult",
    "CompressionResult",
    "PendingCompression",
    "CompressionEntry",
    "SummaryDraft",
    "GCResult",
    "VerifyReport",
    "MergeResult",
    "PendingMerge",
    "Conflict",
    "LLMResolver",
    "LLM",
    "LLMResponse",
    "CallableLLM",
    "OpenAIChatLLM",
    "LangChainChatLLM",
    "LlamaIndexLLM",
    "as_llm",
    "LLMError",
    "AsyncOnlyError",
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
    "BranchDeletedError",
    "TractNotFoundError",
    "DatabaseNotFoundError",
    "EditTargetError",
    "TemporalAddressError",
    "SelectorSyntaxError",
    "ConcurrentUpdateError",
    "SchemaVersionError",
    "TractClosedError",
    "CorruptObjectError",
    "BranchExistsError",
    "MergeConflict",
    "RebaseSafetyError",
    "ProposalNotFoundError",
    "ProposalDecidedError",
    "StaleProposalError",
    "ScaffoldNotFoundError",
    "ScaffoldClassError",
    "PolicyWarning",
    "StorageError",
    "StorageBusyError",
    "StorageFullError",
    "StorageReadOnlyError",
    "StorageUnavailableError",
    "__version__",
]

_LAZY: dict[str, str] = {
    "BranchInfo": ".branches",
    "ResetResult": ".branches",
    "Mounted": ".components",
    "Scaffold": ".components",
    "ScaffoldInfo": ".components",
    "TaskList": ".components",
    "WorkingMemory": ".components",
    "operation": ".components",
    "CompressionResult": ".compress",
    "PendingCompression": ".compress",
    "TractConfig": ".config",
    "ContextDiff": ".diff",
    "MessageChange": ".diff",
    "CompiledMessage": ".entries",
    "EventInfo": ".events",
    "CompiledContext": ".formats",
    "GCResult": ".gc",
    "LLM": ".llm",
    "AsyncOnlyError": ".llm",
    "CallableLLM": ".llm",
    "LangChainChatLLM": ".llm",
    "LlamaIndexLLM": ".llm",
    "LLMError": ".llm",
    "LLMResponse": ".llm",
    "OpenAIChatLLM": ".llm",
    "as_llm": ".llm",
    "Conflict": ".merge",
    "LLMResolver": ".merge",
    "MergeResult": ".merge",
    "PendingMerge": ".merge",
    "AnnotationInfo": ".records",
    "CommitInfo": ".records",
    "CommitLog": ".records",
    "LifecycleInfo": ".records",
    "ReflogEntry": ".records",
    "TractStatus": ".records",
    "VerifyReport": ".records",
    "ReplayResult": ".replay",
    "CompressionEntry": ".store.base",
    "SummaryDraft": ".summarize",
    "TiktokenCounter": ".tokens",
    "TokenCounter": ".tokens",
    "Tract": ".tract",
    "Cyclic": ".tree.lifecycle",
    "Lifecycle": ".tree.lifecycle",
    "Permanent": ".tree.lifecycle",
    "Sticky": ".tree.lifecycle",
    "Temporary": ".tree.lifecycle",
    "Usage": ".usage",
}
"""Each name imported on first use, and the module that defines it."""


if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all attribute

    def __getattr__(name: str) -> Any:
        """Import a public name on first use (PEP 562); it is then an ordinary attribute. A
        submodule (``tract_core.storage``) is imported too, as the eager package used to."""
        module = _LAZY.get(name)
        if module is not None:
            value = getattr(importlib.import_module(module, __name__), name)
        elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
            value = importlib.import_module(f"{__name__}.{name}")
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
