"""tract: version control for what an LLM sees.

Every message, edit and annotation is an immutable, content-addressed commit; ``compile()`` turns
a commit's history into the exact message list for an LLM call, deterministically.
"""

from .branches import BranchInfo, ResetResult
from .components import Mounted, Scaffold, ScaffoldInfo, TaskList, WorkingMemory, operation
from .compress import CompressionResult, PendingCompression
from .config import TractConfig
from .diff import ContextDiff, MessageChange
from .entries import CompiledMessage
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
from .objects import APPEND, EDIT, NORMAL, PINNED, SKIP, ContentType, Operation, Priority
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
