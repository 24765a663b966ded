"""The LLM protocol: messages in, text and usage out, sync and async.

Everything in tract that calls a model (LLM summaries in ``compress``, LLM merge resolvers,
policies) takes an :class:`LLM`. :func:`as_llm` turns what users already have into one: any
LangChain chat model or Runnable (:class:`LangChainChatLLM`), any LlamaIndex LLM
(:class:`LlamaIndexLLM`), an OpenAI-compatible client (OpenAI, vLLM, Ollama, LiteLLM proxies, ...)
with a ``model=`` (:class:`OpenAIChatLLM`), or a plain function (:class:`CallableLLM`). Messages
are OpenAI chat-shaped dicts, exactly what ``CompiledContext.to_openai()`` returns. The framework
adapters are duck-typed and import LangChain/LlamaIndex only when they are called.

Example:
    >>> from tract_core.llm import as_llm
    >>> llm = as_llm(lambda messages: f"{len(messages)} message(s) seen")
    >>> llm.complete([{"role": "user", "content": "Hi"}]).text
    '1 message(s) seen'
"""

from __future__ import annotations

from .callables import CallableLLM
from .dispatch import as_llm
from .langchain import LangChainChatLLM
from .llamaindex import LlamaIndexLLM
from .openai import OpenAIChatLLM
from .protocol import LLM, AsyncOnlyError, LLMError, LLMResponse
from .protocol import content_text as _content_text  # noqa: F401  (tract_core.testing.llm imports these two)
from .protocol import message_list as _message_list  # noqa: F401

__all__ = [
    "LLM",
    "LLMResponse",
    "LLMError",
    "AsyncOnlyError",
    "CallableLLM",
    "OpenAIChatLLM",
    "LangChainChatLLM",
    "LlamaIndexLLM",
    "as_llm",
]
