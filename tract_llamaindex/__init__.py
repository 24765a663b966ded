"""tract for LlamaIndex: agent memory and chat storage that never lose a message.

- :class:`TractMemory`: a ``BaseMemory`` for ``FunctionAgent`` / ``AgentWorkflow``
  (``agent.run(msg, memory=TractMemory.from_defaults(path="agent.db", session_id="u42"))``),
  compressing non-destructively when its token limit is passed.
- :class:`TractChatStore`: an ``AsyncDBChatStore`` so LlamaIndex's ``Memory`` (and its memory
  blocks) keeps its messages in tracts, ARCHIVED mapped to tract's archive records.
- :class:`LlamaIndexLLM`: any LlamaIndex LLM as tract's ``llm=`` (summaries, merge resolution).
"""

from tract_core import LlamaIndexLLM

from .chat_store import TractChatStore
from .connections import close_stores
from .memory import TractMemory

__all__ = ["LlamaIndexLLM", "TractChatStore", "TractMemory", "close_stores"]
