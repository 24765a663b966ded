"""Telling LangChain and LlamaIndex objects apart from each other and from tract's own LLMs.

By their class's module first, then by duck typing; neither framework is imported.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInputError
from .protocol import LLM

__all__ = ["framework_class", "framework", "is_tract_llm", "needs_instance"]


def _framework_module(module: str | None) -> str | None:
    root = (module or "").split(".")[0]
    if root.startswith(("langchain", "langgraph")):
        return "langchain"
    if root.startswith("llama_index"):
        return "llamaindex"
    return None


def framework_class(obj: Any) -> str | None:
    """``"langchain"``/``"llamaindex"`` when ``obj``'s class (or a base class) comes from that framework."""
    for klass in type(obj).__mro__:
        found = _framework_module(getattr(klass, "__module__", None))
        if found is not None:
            return found
    return None


def framework(obj: Any) -> str | None:
    """``"langchain"``/``"llamaindex"`` when ``obj`` is one of their models (or quacks like one)."""
    found = framework_class(obj)
    if found is not None:
        return found
    if callable(getattr(obj, "invoke", None)) and callable(getattr(obj, "ainvoke", None)):
        return "langchain"  # a Runnable
    if callable(getattr(obj, "chat", None)) and callable(getattr(obj, "achat", None)):
        return "llamaindex"
    return None


def is_tract_llm(obj: Any) -> bool:
    """Implements the protocol itself (a LlamaIndex LLM has ``complete``/``acomplete`` too, with other meanings)."""
    if not isinstance(obj, LLM):
        return False
    if framework_class(obj) == "llamaindex":
        return False  # a CustomLLM subclass defines complete(prompt: str) itself: still LlamaIndex's meaning
    complete = getattr(type(obj), "complete", None)
    return _framework_module(getattr(complete, "__module__", None)) is None


def needs_instance(obj: Any, adapter: str) -> None:
    """Refuse a class where ``adapter`` needs an instance of it."""
    if isinstance(obj, type):
        raise InvalidInputError(f"{adapter} needs an instance, not the class {obj.__name__}; call it first")
