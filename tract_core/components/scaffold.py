"""The :class:`Scaffold` base class and the :func:`operation` decorator (DESIGN §16).

A scaffold is a small piece of state that lives in the context: it renders itself into a message
the model reads, and exposes operations the model calls as tools to change it. Its state is a
pydantic model (the subclass's nested ``State`` class), so it is validated when it is restored and
stored as plain JSON in the metadata of each instance the scaffold commits.

Example:
    >>> from pydantic import BaseModel
    >>> class Counter(Scaffold):
    ...     name = "counter"
    ...
    ...     class State(BaseModel):
    ...         value: int = 0
    ...
    ...     def render(self) -> str:
    ...         return f"Counter: {self.state.value}"
    ...
    ...     @operation
    ...     def bump(self, by: int = 1) -> int:
    ...         '''Add to the counter.
    ...
    ...         Args:
    ...             by: How much to add.
    ...         '''
    ...         self.state.value += by
    ...         return self.state.value
    >>> c = Counter()
    >>> c.bump(2), c.render()
    (2, 'Counter: 2')
    >>> sorted(Counter.operations())
    ['bump']
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, TypeVar, get_type_hints

from pydantic import BaseModel, ValidationError

from ..errors import InvalidInputError, ScaffoldClassError, shown
from ..toolkit.registry import PROFILES, ToolSpec

__all__ = [
    "Scaffold",
    "operation",
    "check_scaffold_name",
    "class_path",
    "scaffold_class",
    "tool_specs",
    "MountPoint",
    "RESERVED_NAMES",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
RESERVED_NAMES = frozenset({"context"})
"""Names a scaffold cannot take: ``context_*`` are the toolkit's own tools."""

_OPERATION = "__tract_operation__"
F = TypeVar("F", bound=Callable[..., Any])

# every Scaffold subclass defined in this process, by class path: restores classes that cannot be
# imported by path (defined in a function or a notebook cell) as long as they are alive
_CLASSES: weakref.WeakValueDictionary[str, type[Scaffold]] = weakref.WeakValueDictionary()


class MountPoint(Protocol):
    """Where a scaffold is mounted, as its operations see it (:class:`~tract_core.Mounted` is one)."""

    _mounts: Any

    @property
    def name(self) -> str: ...

    def _run(self, method: Callable[..., Any], op: str, scaffold: Scaffold, args: Any, kwargs: Any) -> Any: ...


def check_scaffold_name(name: Any) -> str:
    """``name`` if it can name a scaffold (its tools are ``<name>_<operation>``).

    Raises:
        InvalidInputError: Not a letter followed by up to 31 letters, digits or ``_``, or reserved.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(
            f"a scaffold name is a letter followed by up to 31 letters, digits or _ (it prefixes its "
            f"tools: tasks -> tasks_add), not {shown(name)}"
        )
    if name in RESERVED_NAMES:
        raise InvalidInputError(f"the scaffold name {name!r} is reserved (the toolkit's tools are {name}_*)")
    return name


def operation(fn: F | None = None, *, name: str | None = None) -> Any:
    """Mark a method of a :class:`Scaffold` as an operation: a tool the model can call.

    The method's signature (with type hints) and its Google-style docstring become the tool's JSON
    Schema and description, exactly as for the toolkit's own tools; the tool is named
    ``<scaffold name>_<operation name>``. The method changes ``self.state`` in place and returns
    JSON data for the model (or None). It refuses bad input by raising
    :class:`~tract_core.InvalidInputError` (or ``ValueError``) with a message that says what to do:
    the state is then left as it was and nothing is written.

    On a mounted scaffold, each call (from the model through ``execute_tool``, or from Python) runs
    under the tract's tool lock and, when it changed the state or the rendering, commits a new
    instance. On a scaffold that is not mounted it is a plain method.

    Args:
        fn: The method (``@operation``), or None (``@operation(name="...")``).
        name: The operation's name (default: the method's).
    """

    def mark(method: F) -> F:
        if not callable(method) or not inspect.isfunction(method):
            raise InvalidInputError(f"@operation decorates a method defined with def, not {shown(method)}")
        op_name = method.__name__ if name is None else name
        if not isinstance(op_name, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,30}$", op_name):
            raise InvalidInputError(f"an operation name is a letter then letters, digits or _, not {shown(op_name)}")

        @functools.wraps(method)
        def run(self: Scaffold, *args: Any, **kwargs: Any) -> Any:
            mount = self._mounted
            if mount is None:
                return method(self, *args, **kwargs)
            return mount._run(method, op_name, self, args, kwargs)

        setattr(run, _OPERATION, op_name)
        return run  # type: ignore[return-value]

    return mark if fn is None else mark(fn)


def _check_operation(cls: type, attribute: str, fn: Callable[..., Any]) -> None:
    """Refuse, when the class is defined, an operation whose schema could not be built."""
    where = f"{cls.__qualname__}.{attribute}"
    params = list(inspect.signature(fn).parameters.values())[1:]
    for param in params:
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise InvalidInputError(f"operation {where} takes *{param.name}; a tool takes named arguments only")
    try:
        hints = get_type_hints(fn)
    except Exception:  # noqa: BLE001 - an unresolvable annotation: checked again when the schema is built
        return
    missing = [p.name for p in params if p.name not in hints]
    if missing:
        raise InvalidInputError(f"operation {where}: give {', '.join(missing)} a type hint (it makes the tool schema)")


def class_path(cls: type) -> str:
    """``module:QualifiedName`` of a class, as a scaffold instance records it."""
    return f"{cls.__module__}:{cls.__qualname__}"


def scaffold_class(path: str, name: str) -> type[Scaffold]:
    """The :class:`Scaffold` subclass recorded as ``path`` (for scaffold ``name``).

    Looks first among the subclasses defined in this process, then imports the module.

    Raises:
        ScaffoldClassError: It cannot be found or imported, or is not a Scaffold subclass.
    """
    import importlib

    found: Any = _CLASSES.get(path)
    if found is None:
        module_name, _, qualname = path.partition(":")
        advice = f"import it before reopening, or mount an instance with t.mount({qualname.rsplit('.', 1)[-1]}(...))"
        try:
            found = importlib.import_module(module_name)
            for part in qualname.split("."):
                found = getattr(found, part)
        except Exception as error:  # noqa: BLE001 - any failure to import is the same advice
            raise ScaffoldClassError(
                f"scaffold {name!r} was mounted as {path}, which cannot be loaded here ({error}); {advice}"
            ) from None
    if not (isinstance(found, type) and issubclass(found, Scaffold)):
        raise ScaffoldClassError(f"scaffold {name!r} was mounted as {path}, which is not a Scaffold subclass")
    return found


# the tool specs of each class by mounted name (a spec builds its pydantic model once)
_SPECS: weakref.WeakKeyDictionary[type, dict[str, tuple[ToolSpec, ...]]] = weakref.WeakKeyDictionary()


def tool_specs(cls: type[Scaffold], name: str) -> tuple[ToolSpec, ...]:
    """The operations of ``cls`` mounted as ``name``: tool specs named ``<name>_<operation>``, built
    by the toolkit's own machinery (schema from the signature and docstring, pydantic validation).
    The spec's ``fn`` is the operation, called with the scaffold as its first argument."""
    by_name = _SPECS.setdefault(cls, {})
    specs = by_name.get(name)
    if specs is None:
        specs = tuple(ToolSpec(f"{name}_{op}", fn, frozenset(PROFILES), True) for op, fn in cls._operations.items())
        by_name[name] = specs
    return specs


class Scaffold(ABC):
    """Base class of live components: state, a rendering and operations (see the module docstring).

    A subclass defines:

    - ``name``: the default name it is mounted under (its tools are ``<name>_<operation>`` and its
      node key ``scaffold:<name>``); without one, the class name in lower case.
    - ``State``: a nested pydantic model with defaults for every field: the state, stored as JSON
      with each instance and validated when restored.
    - ``render()``: the text (or list of content parts) the model reads.
    - methods marked :func:`operation`.
    - ``role`` (optional): the role of the message it renders as, ``"user"`` (default) or ``"system"``.

    Settings given to a subclass's constructor (limits, say) are not stored: a scaffold restored by
    :meth:`~tract_core.Tract.scaffold` is built with ``cls(name=...)``; mount your own instance to
    keep yours (the stored state is loaded into it).

    Args:
        name: The name to mount it under (default: the class's ``name``).
        state: The initial state: a ``State`` or a dict of its fields (default: ``State()``).

    Raises:
        InvalidInputError: A bad name or state.
    """

    name: str = ""
    role: ClassVar[str] = "user"
    State: ClassVar[type[BaseModel]]
    _operations: ClassVar[dict[str, Callable[..., Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        operations: dict[str, Callable[..., Any]] = {}
        for klass in reversed(cls.__mro__):
            for attribute, value in vars(klass).items():
                op_name = getattr(value, _OPERATION, None)
                if op_name is not None:
                    _check_operation(cls, attribute, value)
                    operations[op_name] = value
        cls._operations = operations
        if cls.role not in ("user", "system"):
            raise InvalidInputError(f"{cls.__qualname__}.role must be 'user' or 'system', not {shown(cls.role)}")
        _CLASSES[class_path(cls)] = cls

    def __init__(self, *, name: str | None = None, state: BaseModel | Mapping[str, Any] | None = None) -> None:
        model = getattr(type(self), "State", None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise InvalidInputError(
                f"{type(self).__qualname__} needs a nested `class State(pydantic.BaseModel)` holding its state"
            )
        self.name = check_scaffold_name(name or type(self).name or type(self).__name__.lower())
        self.state: Any = model() if state is None else self._checked_state(state)
        self._mounted: MountPoint | None = None

    def _checked_state(self, state: Any) -> BaseModel:
        model = type(self).State
        if isinstance(state, model):
            return state.model_copy(deep=True)
        if isinstance(state, BaseModel):
            state = state.model_dump(mode="json")
        if not isinstance(state, Mapping):
            raise InvalidInputError(f"state must be a {model.__qualname__} or a dict of its fields, not {shown(state)}")
        try:
            return model.model_validate(dict(state))
        except ValidationError as error:
            raise InvalidInputError(f"state does not fit {type(self).__qualname__}.State: {error}") from None

    @abstractmethod
    def render(self) -> str | list[dict[str, Any]]:
        """What the model reads: text, or a list of content parts (``{"type": "text", "text": ...}``)."""

    @classmethod
    def operations(cls) -> dict[str, Callable[..., Any]]:
        """The class's operations by name (the decorated methods)."""
        return dict(cls._operations)

    @property
    def mounted(self) -> MountPoint | None:
        """Where it is mounted: its :class:`~tract_core.Mounted` record (None: not mounted; its
        operations are then plain methods)."""
        return self._mounted

    def dump_state(self) -> dict[str, Any]:
        """The state as JSON data (what an instance records)."""
        data: dict[str, Any] = self.state.model_dump(mode="json")
        return data

    def state_json(self) -> str:
        """The state as canonical JSON text (sorted keys, compact)."""
        return json.dumps(self.dump_state(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def load_state(self, data: Mapping[str, Any]) -> None:
        """Replace the state with stored JSON data.

        Raises:
            ScaffoldClassError: The data does not fit ``State`` (the class changed since it was stored).
        """
        try:
            self.state = type(self).State.model_validate(dict(data))
        except ValidationError as error:
            raise ScaffoldClassError(
                f"the stored state of scaffold {self.name!r} does not fit {class_path(type(self))}.State "
                f"({error.error_count()} problem(s): {error.errors()[0]['msg']}); mount it with resume=False "
                f"to start over, or convert the state"
            ) from None

    def __repr__(self) -> str:
        where = "" if self._mounted is None else ", mounted"
        return f"{type(self).__name__}(name={self.name!r}{where})"
