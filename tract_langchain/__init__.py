"""tract for LangChain and LangGraph: the ``TractSaver`` checkpointer and ``TractChatMessageHistory``,
context policies and the orchestrator as graph nodes and agent middleware (``TractPolicyNode``,
``TractPolicyMiddleware``, ``TractOrchestratorNode``, ``TractOrchestratorMiddleware``,
``TractCompressNode``, ``TractCompressMiddleware``), events pushed to a tract drained into a graph's
messages (``TractEventsNode``), and a tract's operations as tools for
``create_agent`` (``t.as_tools(format="langchain")``, built by :func:`build_tools`).

The tract of a conversation: :func:`thread_tract_id` (a LangGraph thread, as ``TractSaver`` stores
it) and :func:`session_tract_id` (a chat history session); see :mod:`tract_core.names`.

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

from tract_core.names import session_tract_id, thread_tract_id

from .chat_message_histories import TractChatMessageHistory
from .checkpoint import AsyncTractSaver, TractSaver
from .events_node import TractEventsNode
from .orchestrator_node import TractOrchestratorMiddleware, TractOrchestratorNode
from .policies import SUMMARY_MARKER, TractCompressMiddleware, TractCompressNode
from .policy_node import TractPolicyMiddleware, TractPolicyNode
from .tools import build_tools

__all__ = [
    "TractSaver",
    "AsyncTractSaver",
    "TractChatMessageHistory",
    "TractCompressNode",
    "TractCompressMiddleware",
    "TractPolicyNode",
    "TractPolicyMiddleware",
    "TractOrchestratorNode",
    "TractOrchestratorMiddleware",
    "TractEventsNode",
    "build_tools",
    "SUMMARY_MARKER",
    "thread_tract_id",
    "session_tract_id",
]
