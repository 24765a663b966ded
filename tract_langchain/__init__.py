"""tract for LangChain and LangGraph: the ``TractSaver`` checkpointer and ``TractChatMessageHistory``.

Needs ``langchain-core``, ``langgraph`` and ``langchain``: ``pip install 'tract-context[langchain]'``.
"""

try:
    import langchain  # noqa: F401
    import langchain_core  # noqa: F401
    import langgraph  # noqa: F401
except ImportError as _exc:  # exercised in a subprocess by tests/core/test_packaging.py
    raise ImportError(
        f"tract_langchain needs langchain-core, langgraph and langchain ({_exc.name or _exc} is missing): "
        "pip install 'tract-context[langchain]'",
        name=_exc.name,
    ) from _exc

from .chat_message_histories import TractChatMessageHistory
from .checkpoint import TractSaver
from .policies import SUMMARY_MARKER, TractCompressMiddleware, TractCompressNode

__all__ = ["TractSaver", "TractChatMessageHistory", "TractCompressNode", "TractCompressMiddleware", "SUMMARY_MARKER"]
