""":class:`TaskList`: a checklist the model keeps for itself (tools ``tasks_add``, ``tasks_complete``,
``tasks_remove``, ``tasks_reorder``).

Example:
    >>> tasks = TaskList()
    >>> tasks.add("Book the flights")
    {'id': 1}
    >>> tasks.add("Reserve a hotel")
    {'id': 2}
    >>> tasks.complete(1)
    {'id': 1, 'done': True}
    >>> print(tasks.render())
    Task list (tasks): 1 of 2 done
    [x] 1. Book the flights
    [ ] 2. Reserve a hotel
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..errors import InvalidInputError
from .scaffold import Scaffold, operation

__all__ = ["TaskList", "Task"]


class Task(BaseModel):
    """One task of a :class:`TaskList`."""

    id: int
    text: str
    done: bool = False


class TaskList(Scaffold):
    """A checklist of tasks with ids, rendered as one compact line per task.

    Ids are given in order (1, 2, ...) and never reused, so a model can refer to a task by its id
    after others were removed. Class attributes bound the list (``max_tasks``, ``max_text``); a
    subclass changes them (a restored list is built with the class's values).
    """

    name = "tasks"
    max_tasks: int = 50
    """At most this many tasks at once."""
    max_text: int = 300
    """At most this many characters per task."""

    class State(BaseModel):
        """The tasks in order, and the id the next one gets."""

        tasks: list[Task] = Field(default_factory=list)
        next_id: int = 1

    def _find(self, id: int) -> Task:
        for task in self.state.tasks:
            if task.id == id:
                return task
        ids = ", ".join(str(t.id) for t in self.state.tasks) or "none (the list is empty)"
        raise InvalidInputError(f"there is no task {id}; the task ids are: {ids}")

    def _text(self, text: str) -> str:
        text = " ".join(text.split())
        if not text:
            raise InvalidInputError("a task needs some text, e.g. 'Book the flights'")
        if len(text) > self.max_text:
            raise InvalidInputError(f"a task is at most {self.max_text} characters (got {len(text)}): shorten it")
        return text

    @operation
    def add(self, text: str) -> dict[str, int]:
        """Add a task at the end of your task list.

        Args:
            text: What is to be done, in a few words.
        """
        text = self._text(text)
        if len(self.state.tasks) >= self.max_tasks:
            raise InvalidInputError(
                f"the task list is full ({self.max_tasks} tasks): remove finished ones with {self.name}_remove first"
            )
        task = Task(id=self.state.next_id, text=text)
        self.state.tasks.append(task)
        self.state.next_id += 1
        return {"id": task.id}

    @operation
    def complete(self, id: int, done: bool = True) -> dict[str, object]:
        """Mark a task as done (or, with done=false, as not done again).

        Args:
            id: The task's id, as your task list shows it.
            done: Whether it is done.
        """
        self._find(id).done = done
        return {"id": id, "done": done}

    @operation
    def remove(self, id: int) -> dict[str, int]:
        """Remove a task from your task list.

        Args:
            id: The task's id, as your task list shows it.
        """
        task = self._find(id)
        self.state.tasks.remove(task)
        return {"removed": id, "left": len(self.state.tasks)}

    @operation
    def reorder(self, ids: list[int]) -> dict[str, list[int]]:
        """Change the order of your tasks: the ids given come first, in that order; the others follow
        in their current order.

        Args:
            ids: Task ids in the order they should come first.
        """
        if len(set(ids)) != len(ids):
            raise InvalidInputError(f"each id may appear once in ids, not {ids}")
        first = [self._find(id) for id in ids]
        rest = [t for t in self.state.tasks if t.id not in set(ids)]
        self.state.tasks = first + rest
        return {"order": [t.id for t in self.state.tasks]}

    def render(self) -> str:
        """``Task list (<name>): N of M done`` and one ``[x] id. text`` line per task."""
        tasks = self.state.tasks
        if not tasks:
            return f"Task list ({self.name}): empty (add tasks with {self.name}_add)"
        done = sum(t.done for t in tasks)
        lines = [f"Task list ({self.name}): {done} of {len(tasks)} done"]
        lines += [f"[{'x' if t.done else ' '}] {t.id}. {t.text}" for t in tasks]
        return "\n".join(lines)
