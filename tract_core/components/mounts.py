"""Scaffolds mounted on a tract: :class:`Mounted` (one scaffold) and :class:`Mounts` (a handle's).

What is mounted is read from history: a scaffold is mounted at HEAD when the newest commit with its
key ``scaffold:<name>`` records its class and state (``metadata["scaffold"]``); the commit that
unmounts it records ``"unmounted": true`` and is SKIPped. A handle keeps the scaffold objects it
mounted or restored, and before each operation checks that the instance it knows is still the newest
at HEAD (another handle, a branch switch or a reset may have moved it): if not, it loads the newer
instance's state first, so an operation always starts from the state the model was shown.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError, ScaffoldClassError, ScaffoldNotFoundError, shown
from ..objects import Priority
from ..records import CommitInfo
from ..toolkit.registry import ToolSpec
from ..tree.lifecycle import Lifecycle, coerce_lifecycle
from .history import METADATA_KEY, Instance, scaffold_key, scan
from .scaffold import Scaffold, check_scaffold_name, class_path, scaffold_class, tool_specs

__all__ = ["Mounted", "ScaffoldInfo", "Mounts", "CONTENT_TYPE"]

CONTENT_TYPE = "scaffold"
"""The content type of a scaffold's instances."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class ScaffoldInfo:
    """A scaffold mounted at HEAD, as its newest instance records it (read without loading its class).

    Attributes:
        name: Its name (tools ``<name>_<operation>``).
        key: Its node key, ``scaffold:<name>``.
        class_path: Its class, ``module:QualifiedName``.
        commit: The newest instance's commit.
        state: The state that instance records (JSON data).
        lifecycle: The instance's lifecycle (None: permanent).
        loaded: Whether this handle holds the scaffold object (mounted or restored here).
    """

    name: str
    key: str
    class_path: str
    commit: str
    state: dict[str, Any]
    lifecycle: Lifecycle | None
    loaded: bool


class Mounted:
    """A scaffold mounted on a tract handle (returned by :meth:`~tract_core.Tract.mount`).

    Attributes:
        scaffold: The scaffold object; call its operations directly from Python too.
        name: Its name.
        key: Its node key (``scaffold:<name>``).
        commit: Its newest instance's commit.
        lifecycle: The lifecycle its instances are committed with.
    """

    def __init__(
        self, mounts: Mounts, scaffold: Scaffold, commit: str | None, lifecycle: Lifecycle | None, saved: Any
    ) -> None:
        self._mounts = mounts
        self.scaffold = scaffold
        self.commit = commit
        self.lifecycle = lifecycle
        self._saved: tuple[str, str] | None = saved
        self._depth = 0

    @property
    def name(self) -> str:
        """The scaffold's name."""
        return self.scaffold.name

    @property
    def key(self) -> str:
        """The node key of its instances."""
        return scaffold_key(self.scaffold.name)

    @property
    def class_path(self) -> str:
        """Its class as instances record it (``module:QualifiedName``)."""
        return class_path(type(self.scaffold))

    @property
    def state(self) -> Any:
        """The scaffold's current state (its ``State`` model)."""
        return self.scaffold.state

    @property
    def tools(self) -> list[ToolSpec]:
        """Its operations as tool specs (``<name>_<operation>``)."""
        return list(tool_specs(type(self.scaffold), self.scaffold.name))

    def instances(self) -> list[CommitInfo]:
        """Every instance of it in HEAD's history, newest first (history keeps every state)."""
        return [c for c in self._mounts.tract.log(limit=None) if c.key == self.key]

    def _run(self, method: Callable[..., Any], op: str, scaffold: Scaffold, args: Any, kwargs: Any) -> Any:
        return self._mounts.run(self, method, op, scaffold, args, kwargs)

    def __repr__(self) -> str:
        commit = None if self.commit is None else self.commit[:12]
        return f"Mounted({self.name!r}, {self.class_path}, commit={commit!r})"


class Mounts:
    """The scaffolds of one tract handle: mounting, restoring, committing instances, their tools.

    Args:
        tract: The :class:`~tract_core.Tract` handle.
        lock: The handle's tool lock: operations run one at a time, like other tool calls.
    """

    def __init__(self, tract: Any, lock: threading.RLock) -> None:
        self.tract = tract
        self._lock = lock
        self._entries: dict[str, Mounted] = {}
        self._index: tuple[str | None, dict[str, Instance]] | None = None

    # -- what history says ----------------------------------------------------------------

    def _instances(self) -> dict[str, Instance]:
        """The newest instance of each scaffold key at HEAD (scanned since the last call's HEAD)."""
        tract = self.tract
        with tract._reading() as session:
            head = session.refs.head(tract.tract_id).commit
            if self._index is not None and self._index[0] == head:
                return self._index[1]
            stop = None if self._index is None else self._index[0]
            found, reached = scan(session, tract.tract_id, head, stop=stop)
        known = {**self._index[1], **found} if reached and self._index is not None else found
        self._index = (head, known)
        return known

    def _mounted_names(self, instances: dict[str, Instance]) -> list[str]:
        return sorted(name for name, instance in instances.items() if instance.mounted)

    def _not_mounted(self, name: str, instances: dict[str, Instance]) -> ScaffoldNotFoundError:
        names = ", ".join(self._mounted_names(instances)) or "none"
        return ScaffoldNotFoundError(
            f"no scaffold named {name!r} is mounted on this tract's current history (mounted: {names}); "
            f"mount one with t.mount(...)"
        )

    def _content(self, commit: str) -> str:
        return _canonical(self.tract.show(commit).content)

    # -- reading -------------------------------------------------------------------------------

    def infos(self) -> list[ScaffoldInfo]:
        """The scaffolds mounted at HEAD, by name."""
        with self._lock:
            instances = self._instances()
            found = []
            for name in self._mounted_names(instances):
                instance = instances[name]
                entry = self._entries.get(name)
                assert instance.class_path is not None and instance.state is not None  # mounted
                found.append(
                    ScaffoldInfo(
                        name=name,
                        key=scaffold_key(name),
                        class_path=instance.class_path,
                        commit=instance.commit,
                        state=instance.state,
                        lifecycle=instance.lifecycle,
                        loaded=entry is not None and entry.commit == instance.commit,
                    )
                )
            return found

    def restore(self, name: str) -> Mounted:
        """Scaffold ``name`` as mounted at HEAD: this handle's object (brought up to date), or one
        built from its newest instance (``cls(name=name)`` with the recorded state).

        Raises:
            ScaffoldNotFoundError: It is not mounted at HEAD.
            ScaffoldClassError: Its class cannot be loaded or built, or the state does not fit it.
        """
        check_scaffold_name(name)
        with self._lock:
            instances = self._instances()
            instance = instances.get(name)
            if instance is None or not instance.mounted:
                raise self._not_mounted(name, instances)
            entry = self._entries.get(name)
            if entry is not None and entry.class_path == instance.class_path:
                self._sync(entry)
                return entry
            assert instance.class_path is not None and instance.state is not None
            cls = scaffold_class(instance.class_path, name)
            try:
                scaffold = cls(name=name)
            except Exception as error:  # noqa: BLE001 - a constructor that needs arguments, or fails
                raise ScaffoldClassError(
                    f"scaffold {name!r} cannot be rebuilt as {instance.class_path}(name={name!r}) ({error}); "
                    f"mount an instance of it with t.mount(...) (the stored state is loaded into it)"
                ) from None
            scaffold.load_state(instance.state)
            saved = (scaffold.state_json(), self._content(instance.commit))
            return self._attach(scaffold, instance.commit, instance.lifecycle, saved)

    def tools(self, *, strict: bool) -> list[tuple[ToolSpec, Scaffold]]:
        """The operations of every scaffold mounted at HEAD, with the scaffold each runs on.

        Args:
            strict: Raise for a scaffold that cannot be restored (else leave its tools out).
        """
        with self._lock:
            found = []
            for name in self._mounted_names(self._instances()):
                try:
                    entry = self.restore(name)
                except ScaffoldClassError:
                    if strict:
                        raise
                    continue
                found += [(spec, entry.scaffold) for spec in tool_specs(type(entry.scaffold), name)]
            return found

    # -- writing -------------------------------------------------------------------------------

    def mount(self, scaffold: Any, lifecycle: Any, name: str | None, resume: bool) -> Mounted:
        """See :meth:`tract_core.Tract.mount`."""
        if not isinstance(scaffold, Scaffold):
            raise InvalidInputError(f"mount takes a Scaffold (TaskList(), WorkingMemory(), ...), not {shown(scaffold)}")
        if not isinstance(resume, bool):
            raise InvalidInputError(f"resume must be True or False, not {shown(resume)}")
        name = scaffold.name if name is None else check_scaffold_name(name)
        life = coerce_lifecycle(lifecycle)
        path = class_path(type(scaffold))
        with self._lock, self.tract.batch():  # read what is mounted and commit in one transaction
            current = scaffold._mounted
            if current is not None and (current._mounts is not self or current.name != name):
                raise InvalidInputError(
                    f"this {type(scaffold).__name__} is already mounted as {current.name!r} on "
                    f"{current._mounts.tract!r}; a scaffold object lives in one place: mount another instance"
                )
            instances = self._instances()
            self._check_tool_names(type(scaffold), name, instances)
            instance = instances.get(name)
            saved = None
            if instance is not None and instance.mounted:
                if instance.class_path != path:
                    raise ScaffoldClassError(
                        f"scaffold {name!r} is mounted as {instance.class_path}, not {path}: unmount it first "
                        f"(t.unmount({name!r})) or mount yours under another name (name=...)"
                    )
                if resume:
                    assert instance.state is not None
                    scaffold.load_state(instance.state)
                saved = (_canonical(instance.state), self._content(instance.commit))
            scaffold.name = name
            before = self._entries.get(name)
            entry = self._attach(
                scaffold,
                instance.commit if saved is not None and instance is not None else None,
                instance.lifecycle if saved is not None and instance is not None else None,
                saved,
            )
            try:
                self._save(entry, life, "mount")
            except BaseException:
                self._detach(name)
                if before is not None:
                    self._entries[name] = before
                    before.scaffold._mounted = before
                raise
            if before is not None and before.scaffold is not scaffold:
                before.scaffold._mounted = None
            return entry

    def unmount(self, name: str) -> CommitInfo:
        """See :meth:`tract_core.Tract.unmount`."""
        check_scaffold_name(name)
        tract = self.tract
        with self._lock:
            with tract.batch():
                instances = self._instances()
                instance = instances.get(name)
                if instance is None or not instance.mounted:
                    raise self._not_mounted(name, instances)
                info: CommitInfo = tract.commit(
                    {"role": "user", "content": f"(scaffold {name} unmounted)"},
                    content_type=CONTENT_TYPE,
                    key=scaffold_key(name),
                    metadata={METADATA_KEY: {"class": instance.class_path, "unmounted": True}},
                    commit_message=f"unmount scaffold {name}",
                )
                tract.annotate(info.hash, Priority.SKIP, reason=f"scaffold {name} unmounted")
            self._detach(name)
            return info

    def run(
        self, entry: Mounted, method: Callable[..., Any], op: str, scaffold: Scaffold, args: Any, kwargs: Any
    ) -> Any:
        """Run operation ``op`` of a mounted scaffold; commit an instance if it changed anything.

        The state is restored if the operation (or the commit) raises: nothing is written then.
        """
        with self._lock:
            if entry._depth:  # an operation calling another: the outer one commits
                return method(scaffold, *args, **kwargs)
            if self._entries.get(entry.name) is not entry:
                raise ScaffoldNotFoundError(
                    f"scaffold {entry.name!r} is no longer mounted by this handle; mount it again with t.mount(...)"
                )
            with self.tract.batch():  # one write transaction: no other handle or process commits in between
                return self._run_in_batch(entry, method, op, scaffold, args, kwargs)

    def _run_in_batch(
        self, entry: Mounted, method: Callable[..., Any], op: str, scaffold: Scaffold, args: Any, kwargs: Any
    ) -> Any:
        self._sync(entry)
        before = scaffold.state.model_copy(deep=True)
        entry._depth += 1
        try:
            result = method(scaffold, *args, **kwargs)
            self._save(entry, entry.lifecycle, op)
        except BaseException:
            scaffold.state = before
            raise
        finally:
            entry._depth -= 1
        return result

    # -- helpers ---------------------------------------------------------------------------------

    def _attach(self, scaffold: Scaffold, commit: str | None, lifecycle: Lifecycle | None, saved: Any) -> Mounted:
        entry = Mounted(self, scaffold, commit, lifecycle, saved)
        old = self._entries.get(scaffold.name)
        if old is not None and old.scaffold is not scaffold:
            old.scaffold._mounted = None
        self._entries[scaffold.name] = entry
        scaffold._mounted = entry
        return entry

    def _detach(self, name: str) -> None:
        entry = self._entries.pop(name, None)
        scaffold = None if entry is None else entry.scaffold
        if scaffold is not None and scaffold._mounted is entry:
            scaffold._mounted = None

    def _sync(self, entry: Mounted) -> None:
        """Bring ``entry`` up to its newest instance at HEAD (it may have moved since)."""
        instances = self._instances()
        instance = instances.get(entry.name)
        if instance is not None and instance.commit == entry.commit:
            return
        if instance is None or not instance.mounted:
            self._detach(entry.name)
            raise ScaffoldNotFoundError(
                f"scaffold {entry.name!r} is not mounted on this tract's current history any more (unmounted, "
                f"or HEAD moved to a history without it); mount it again with t.mount(...)"
            )
        if instance.class_path != entry.class_path:
            self._detach(entry.name)
            raise ScaffoldClassError(
                f"scaffold {entry.name!r} is now mounted as {instance.class_path}, not {entry.class_path}"
            )
        assert instance.state is not None
        entry.scaffold.load_state(instance.state)
        entry.commit = instance.commit
        entry.lifecycle = instance.lifecycle
        entry._saved = (entry.scaffold.state_json(), self._content(instance.commit))

    def _save(self, entry: Mounted, lifecycle: Lifecycle | None, why: str) -> None:
        """Commit an instance if the state, the rendering or the lifecycle changed."""
        scaffold = entry.scaffold
        rendered = scaffold.render()
        if not isinstance(rendered, str) and not (
            isinstance(rendered, list) and all(isinstance(part, dict) for part in rendered)
        ):
            raise InvalidInputError(
                f"{type(scaffold).__qualname__}.render() must return text or a list of content parts, "
                f"not {shown(rendered)}"
            )
        state = scaffold.dump_state()
        now = (_canonical(state), _canonical(rendered))
        if entry.commit is not None and entry._saved == now and entry.lifecycle == lifecycle:
            return
        info = self.tract.commit(
            {"role": type(scaffold).role, "content": rendered},
            content_type=CONTENT_TYPE,
            key=entry.key,
            lifecycle=lifecycle,
            metadata={METADATA_KEY: {"class": entry.class_path, "state": state}},
            commit_message=f"scaffold {entry.name}: {why}",
        )
        entry.commit, entry.lifecycle, entry._saved = info.hash, lifecycle, now

    def _check_tool_names(self, cls: type[Scaffold], name: str, instances: dict[str, Instance]) -> None:
        """Refuse a mount whose tool names would be another mounted scaffold's."""
        mine = {spec.name for spec in tool_specs(cls, name)}
        for other in self._mounted_names(instances):
            if other == name:
                continue
            entry = self._entries.get(other)
            try:
                other_cls = type(entry.scaffold) if entry is not None else None
                if other_cls is None:
                    path = instances[other].class_path
                    assert path is not None
                    other_cls = scaffold_class(path, other)
            except ScaffoldClassError:
                continue  # its tools cannot be offered here anyway
            clash = mine & {spec.name for spec in tool_specs(other_cls, other)}
            if clash:
                raise InvalidInputError(
                    f"scaffold {name!r} would offer {', '.join(sorted(clash))}, a tool of mounted scaffold {other!r}; "
                    f"mount it under another name (name=...)"
                )
