"""tract for LangChain and LangGraph: the ``TractSaver`` checkpointer and ``TractChatMessageHistory``.

Needs ``langchain-core``: ``pip install 'tract-context[langchain]'``.
"""

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "tract_langchain needs langchain-core, which is not installed: pip install 'tract-context[langchain]'"
    ) from exc

from .chat_message_histories import TractChatMessageHistory
from .checkpoint import AsyncTractSaver, TractSaver
from .policies import SUMMARY_MARKER, TractCompressMiddleware, TractCompressNode

__all__ = [
    "TractSaver",
    "AsyncTractSaver",
    "TractChatMessageHistory",
    "TractCompressNode",
    "TractCompressMiddleware",
    "SUMMARY_MARKER",
]
