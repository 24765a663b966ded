""":func:`as_llm`: turn what the caller has (an LLM, a framework model, a client, a function) into an LLM."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInputError
from .callables import CallableLLM
from .frameworks import framework, is_tract_llm
from .langchain import LangChainChatLLM
from .llamaindex import LlamaIndexLLM
from .openai import OpenAIChatLLM, chat_create
from .protocol import LLM

__all__ = ["as_llm"]


_ACCEPTED = (
    "an object with complete()/acomplete() (the tract LLM protocol), a LangChain chat model or Runnable, "
    "a LlamaIndex LLM, an OpenAI-compatible client such as openai.OpenAI(base_url=..., api_key=...) "
    "together with model=..., or a function (sync or async) from the message list to a str"
)


def as_llm(obj: Any, *, model: str | None = None) -> LLM:
    """Turn what the caller has into an :class:`LLM`.

    Args:
        obj: An :class:`LLM` (returned as is); a LangChain chat model, bound model or other Runnable
            (wrapped in :class:`LangChainChatLLM`); a LlamaIndex LLM (wrapped in
            :class:`LlamaIndexLLM`; its own ``complete(prompt)`` is not mistaken for tract's
            protocol); an OpenAI-compatible client such as ``openai.OpenAI(...)`` or
            ``openai.AsyncOpenAI(...)`` (wrapped in :class:`OpenAIChatLLM`); or a function, sync or
            async, from the message list to a ``str`` or a response (wrapped in :class:`CallableLLM`).
            Objects are told apart by their class's framework, then by duck typing:
            ``invoke``/``ainvoke`` means a Runnable, ``chat``/``achat`` a LlamaIndex LLM.
        model: The model name; required for a client, ignored otherwise (an LLM object, a framework
            model or a function already knows its model).

    Returns:
        An object with ``complete(messages, **options)`` and ``acomplete(messages, **options)``.
        For options on every call, configure the framework model (``model.bind(temperature=0)``)
        or build the adapter with defaults yourself (``LangChainChatLLM(model, stop=["###"])``).

    Raises:
        InvalidInputError: ``obj`` is none of the above, a client comes without ``model=``, or it is
            a LangChain/LlamaIndex object that is not a model (no ``invoke()``/``chat()``, or a
            LlamaIndex chat engine or index).

    Example:
        >>> llm = as_llm(lambda messages: messages[-1]["content"].upper())
        >>> reply = llm.complete([{"role": "user", "content": "echo"}], temperature=0)
        >>> reply.text, reply.usage
        ('ECHO', None)
        >>> as_llm(llm) is llm
        True
    """
    if isinstance(obj, type):
        raise InvalidInputError(f"as_llm needs an instance, not the class {obj.__name__}; call it first")
    if is_tract_llm(obj):
        return obj
    found = framework(obj)
    if found == "langchain":
        return LangChainChatLLM(obj)
    if found == "llamaindex":
        return LlamaIndexLLM(obj)
    if chat_create(obj) is not None:
        if model is None:
            raise InvalidInputError(
                f"as_llm({type(obj).__name__}) needs model=...: an OpenAI-compatible client does not pick a model"
            )
        return OpenAIChatLLM(obj, model)
    if callable(obj):
        return CallableLLM(obj)
    raise InvalidInputError(f"as_llm cannot use a {type(obj).__name__}; pass {_ACCEPTED}")
