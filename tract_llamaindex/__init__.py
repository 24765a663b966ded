"""tract for LlamaIndex: agent memory and chat storage that never lose a message.

- :class:`TractMemory`: a ``BaseMemory`` for ``FunctionAgent`` / ``AgentWorkflow``
  (``agent.run(msg, memory=TractMemory.from_defaults(path="agent.db", session_id="u42"))``),
  compressing non-destructively when its token limit is passed.
- :class:`TractChatStore`: an ``AsyncDBChatStore`` so LlamaIndex's ``Memory`` (and its memory
  blocks) keeps its messages in tracts, ARCHIVED mapped to tract's archive records.
- :class:`LlamaIndexLLM`: any LlamaIndex LLM as tract's ``llm=`` (summaries, merge resolution).
- :func:`build_tools` (what ``tract.as_tools(format="llamaindex")`` returns): tract's agent toolkit
  as ``FunctionTool`` objects (:class:`TractTool`), so a ``FunctionAgent`` manages its own context.
- :func:`chat_tract_id` (a chat store key: ``"chat/<key>"``) and :func:`session_tract_id` (a
  ``TractMemory`` session: the id itself): the tract of a conversation (see :mod:`tract_core.names`).

Needs ``llama-index-core``: ``pip install 'tract-context[llamaindex]'``.
"""

try:
    import llama_index.core  # noqa: F401
except ImportError as _exc:  # exercised in a subprocess by tests/core/test_packaging.py
    raise ImportError(
        f"tract_llamaindex needs llama-index-core ({_exc.name or _exc} is missing): "
        "pip install 'tract-context[llamaindex]'",
        name=_exc.name,
    ) from _exc

from tract_core import LlamaIndexLLM
from tract_core.names import chat_tract_id, session_tract_id

from .chat_store import TractChatStore
from .connections import close_stores
from .memory import TractMemory
from .tools import TractTool, build_tools

__all__ = [
    "LlamaIndexLLM",
    "TractChatStore",
    "TractMemory",
    "TractTool",
    "build_tools",
    "close_stores",
    "chat_tract_id",
    "session_tract_id",
]
