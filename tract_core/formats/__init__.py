"""The compiled context and its exporters, one module per provider format.

:class:`CompiledContext` (:mod:`.context`) holds the messages in OpenAI chat shape, tract's own
message shape; each provider's module turns that list into what its API or framework takes:

* :mod:`.openai`: OpenAI Chat Completions ``messages`` (``CompiledContext.to_openai()`` returns its
  read-only messages in a fresh list; ``to_openai(messages)`` copies any others).
* :mod:`.anthropic`: the Anthropic Messages API's ``system`` and ``messages``.
* :mod:`.gemini`: the Gemini API's ``system_instruction`` and ``contents``.
* :mod:`.langchain`: LangChain ``BaseMessage`` objects (imports ``langchain-core`` when called).
* :mod:`.llamaindex`: LlamaIndex ``ChatMessage`` objects (imports ``llama-index-core`` when called).

:mod:`.content` holds the helpers they share (copying messages, the text of content parts);
:mod:`.frozen` the read-only message types the context hands out (:class:`FrozenDict`,
:class:`FrozenList`) and :func:`thaw`, which makes plain, mutable copies of them.
"""

from .content import copy_message, text_of
from .context import CompiledContext
from .frozen import FrozenDict, FrozenList, thaw
from .llamaindex import llamaindex_message

__all__ = ["CompiledContext", "FrozenDict", "FrozenList", "copy_message", "llamaindex_message", "text_of", "thaw"]
