"""The LangGraph checkpointer: ``TractSaver`` (and ``AsyncTractSaver``, the same saver for asyncio code)."""

from .saver import HOLDER, AsyncTractSaver, TractSaver, tract_id_for

__all__ = ["TractSaver", "AsyncTractSaver", "tract_id_for", "HOLDER"]
