"""Read-only messages: how a compiled context hands out its messages without copying them.

Compile keeps every message it has built and shares it between consecutive compiles, so the
messages ``CompiledContext.messages`` and ``to_openai()`` return are that very data. Copying all of
them on every call would make each LLM call pay for the whole history (a deep copy of 8,000
messages takes milliseconds); instead each message is built once as a :class:`FrozenDict` (nested
lists as :class:`FrozenList`, nested objects as :class:`FrozenDict`) and every call returns a fresh
outer list of the same frozen messages: a pointer copy.

The frozen types are ``dict`` and ``list`` subclasses, so everything that reads messages works
unchanged: ``json.dumps``, ``==`` against plain dicts and lists, ``isinstance(m, dict)``, the
OpenAI and Anthropic SDKs, LangChain's ``convert_to_messages``, pydantic models. Every method that
would change one in place raises a :class:`TypeError` that says how to get a mutable copy instead:

* ``copy.deepcopy(message)`` or ``thaw(message)`` (:func:`thaw`): plain dicts and lists all the
  way down;
* ``dict(message)``, ``message.copy()``, ``copy.copy(message)``, ``{**message, "content": ...}``:
  a plain, mutable outer dict whose nested lists and objects are still frozen.

Pickling gives plain data too (a frozen message unpickles as a ``dict``).

Why read-only messages rather than the alternatives: copying on every read is O(history) per call,
and a cache of copies would have to prove on each read that no caller changed them, which takes
hashing (or comparing) every message, O(history) again. Read-only views that are not dicts
(``types.MappingProxyType``, tuples) copy nothing either, but ``json.dumps``, ``isinstance(m, dict)``
checks and pydantic's dict validation (the provider SDKs, LangChain, LlamaIndex) refuse them or
treat them differently. Subclasses of ``dict`` and ``list`` are taken everywhere a dict or list is,
and making one costs about as much as the plain dict compile built anyway, once per message.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, NoReturn

__all__ = ["FrozenDict", "FrozenList", "freeze", "freeze_message", "thaw"]

_ATOMS = (str, int, float, bool, type(None))
_HINT = (
    "messages of a compiled context are read-only, since tract shares them between compiles; "
    "for a copy you can change, use copy.deepcopy(message) (every level) or dict(message) (the outer dict)"
)


def _refuse(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(f"a {type(self).__name__} cannot be changed: {_HINT}")


_new_dict = dict.__new__
_fill_dict = dict.update
_new_list = list.__new__
_fill_list = list.extend


class FrozenDict(dict):
    """A ``dict`` that cannot be changed: a compiled message, or an object nested in one.

    ``FrozenDict(mapping)`` freezes a copy of ``mapping`` (nested values included); reading works as
    on any dict, and so do ``==``, ``|`` (which returns a plain dict), ``json.dumps`` and pickling
    (which gives a plain dict). Mutators raise :class:`TypeError`; ``copy.deepcopy`` gives plain,
    mutable data.

    Example:
        >>> message = FrozenDict({"role": "user", "content": "Hi"})
        >>> message == {"role": "user", "content": "Hi"}
        True
        >>> mutable = dict(message)
        >>> mutable["content"] = "Hello"
        >>> message["content"]
        'Hi'
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> FrozenDict:
        return _freeze_mapping(dict(*args, **kwargs))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The content is set by ``__new__``; calling ``__init__`` again changes nothing."""

    __setitem__ = _refuse
    __delitem__ = _refuse
    __ior__ = _refuse
    clear = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    update = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return thaw(self, memo)

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (thaw(self),))


class FrozenList(list):
    """A ``list`` that cannot be changed: the content parts or tool calls of a compiled message.

    Reading, slicing (which returns a plain list), ``+``, ``==``, ``json.dumps`` and pickling (which
    gives a plain list) work as on any list; mutators raise :class:`TypeError`; ``list(value)`` or
    ``copy.deepcopy`` give a mutable copy.
    """

    __slots__ = ()

    def __new__(cls, iterable: Any = ()) -> FrozenList:
        return _freeze_list(list(iterable))

    def __init__(self, iterable: Any = ()) -> None:
        """The content is set by ``__new__``; calling ``__init__`` again changes nothing."""

    __setitem__ = _refuse
    __delitem__ = _refuse
    __iadd__ = _refuse
    __imul__ = _refuse
    append = _refuse
    clear = _refuse
    extend = _refuse
    insert = _refuse
    pop = _refuse
    remove = _refuse
    reverse = _refuse
    sort = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return thaw(self, memo)

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (thaw(self),))


def _freeze_mapping(mapping: Mapping[Any, Any]) -> FrozenDict:
    frozen = _new_dict(FrozenDict)
    for value in mapping.values():
        if not isinstance(value, _ATOMS):
            _fill_dict(frozen, {key: freeze(item) for key, item in mapping.items()})
            return frozen
    _fill_dict(frozen, mapping)
    return frozen


def _freeze_list(items: list[Any]) -> FrozenList:
    frozen = _new_list(FrozenList)
    _fill_list(frozen, [item if isinstance(item, _ATOMS) else freeze(item) for item in items])
    return frozen


def freeze(value: Any) -> Any:
    """``value`` made read-only: dicts (any mapping) as :class:`FrozenDict`, lists as
    :class:`FrozenList`, tuples with their items frozen, everything else as it is. Frozen values
    are returned as they are (freezing twice copies nothing)."""
    cls = value.__class__
    if cls is FrozenDict or cls is FrozenList or isinstance(value, _ATOMS):
        return value
    if isinstance(value, Mapping):
        return _freeze_mapping(value)
    if isinstance(value, list):
        return _freeze_list(value)
    if isinstance(value, tuple):
        return tuple(freeze(item) for item in value)
    return value


def freeze_message(message: Mapping[str, Any]) -> FrozenDict:
    """A message dict made read-only (see :func:`freeze`); a :class:`FrozenDict` as it is."""
    return message if message.__class__ is FrozenDict else _freeze_mapping(message)


def thaw(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """A plain, mutable deep copy of ``value``: frozen dicts and lists (at any depth) become
    ``dict`` and ``list``; anything else is deep-copied as ``copy.deepcopy`` does.

    Example:
        >>> message = thaw(FrozenDict({"role": "user", "content": [{"type": "text", "text": "Hi"}]}))
        >>> message["content"].append({"type": "text", "text": "there"})
        >>> type(message), type(message["content"][0])
        (<class 'dict'>, <class 'dict'>)
    """
    if isinstance(value, _ATOMS):
        return value
    if memo is None:
        memo = {}
    if isinstance(value, FrozenDict):
        found = memo.get(id(value))
        if found is None:
            found = memo[id(value)] = {}
            for key, item in value.items():
                found[key] = thaw(item, memo)
        return found
    if isinstance(value, FrozenList):
        found = memo.get(id(value))
        if found is None:
            found = memo[id(value)] = []
            found.extend(thaw(item, memo) for item in value)
        return found
    return copy.deepcopy(value, memo)
