"""Run in a child process by ``test_secrets.py``: imports only what reconnecting a memory needs."""

from __future__ import annotations

import os
from typing import Any

from tract_core import TractError
from tract_llamaindex import TractMemory, close_stores


def _read(data: dict[str, Any], **kwargs: Any) -> Any:
    try:
        return [m.content for m in TractMemory.from_dict(data, **kwargs).get()]
    except TractError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    finally:
        close_stores()


def child_reconnects(data: dict[str, Any], password: str, url: str) -> dict[str, Any]:
    """A serialised memory reconnected in a new process: as is, with ``PGPASSWORD`` set, then
    (without it) with the full URL passed again."""
    os.environ.pop("PGPASSWORD", None)
    results = {"as is": _read(data)}
    os.environ["PGPASSWORD"] = password
    results["PGPASSWORD"] = _read(data)
    del os.environ["PGPASSWORD"]
    results["db=url"] = _read(data, db=url)
    return results
