"""Live components (scaffolds, DESIGN §16): state in the context that renders itself and changes
through tools the model calls.

A :class:`Scaffold` subclass holds a pydantic ``State``, renders it (``render()``) and marks methods
as :func:`operation`. ``t.mount(scaffold)`` commits its rendering as a keyed node (``scaffold:<name>``,
``Sticky()`` by default: shown at the end of the context every cycle); each operation that changes
the state or the rendering commits a new instance, so the model always sees the current state and
the history keeps every one. The operations are tools (``<name>_<operation>``) in
:meth:`~tract_core.Tract.as_tools` and run through :meth:`~tract_core.Tract.execute_tool`. A tract
reopened later restores each scaffold from its newest instance. Two ship with tract:
:class:`TaskList` and :class:`WorkingMemory`. See ``docs/components.md``.
"""

from .memory import WorkingMemory
from .mounts import Mounted, ScaffoldInfo
from .scaffold import Scaffold, operation
from .tasks import Task, TaskList

__all__ = ["Scaffold", "operation", "Mounted", "ScaffoldInfo", "TaskList", "Task", "WorkingMemory"]
