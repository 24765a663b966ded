"""LangGraph's checkpointer conformance suite: 81 of 81 checks, every capability detected.

Run on SQLite and PostgreSQL, through the async methods (what the suite calls) and again through
the sync methods (a subclass whose async methods call the sync ones directly on the event loop).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate

from tract_core.testing import create_database
from tract_langchain import TractSaver

CAPABILITIES = {"put", "put_writes", "get_tuple", "list", "delete_thread", "copy_thread", "prune", "delete_for_runs"}


class SyncPathSaver(TractSaver):
    """Routes the suite's async calls to the sync methods (so they are what gets validated)."""

    async def aget_tuple(self, config: Any) -> Any:
        return self.get_tuple(config)

    async def alist(self, config: Any, *, filter: Any = None, before: Any = None, limit: Any = None) -> Any:
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def adelete_for_runs(self, run_ids: Any) -> None:
        self.delete_for_runs(run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.copy_thread(source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Any, *, strategy: str = "keep_latest") -> None:
        self.prune(thread_ids, strategy=strategy)


@pytest.mark.parametrize("path", ["async", "sync"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_conformance_81_of_81(backend: str, path: str, tmp_path, request: pytest.FixtureRequest) -> None:
    cls = TractSaver if path == "async" else SyncPathSaver
    server = request.getfixturevalue("postgres_server") if backend == "postgres" else None
    counter = iter(range(100))

    @checkpointer_test(name=f"{cls.__name__}[{backend}]")
    async def factory() -> AsyncIterator[TractSaver]:
        conn = create_database(server) if server is not None else str(tmp_path / f"saver{next(counter)}.db")
        saver = cls(conn)  # a path or a URL: the saver opens the store and closes it
        yield saver
        saver.close()

    report = await validate(factory)
    results = report.to_dict()["results"]
    failures = {name: r["failures"] for name, r in results.items() if r["passed"] is False}
    assert report.passed_all(), failures
    assert {name for name, r in results.items() if r["detected"]} == CAPABILITIES
    assert sum(r["tests_passed"] for r in results.values()) == 81
    assert sum(r["tests_failed"] + r["tests_skipped"] for r in results.values()) == 0
