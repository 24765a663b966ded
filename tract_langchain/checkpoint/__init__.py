"""The LangGraph checkpointer: ``TractSaver``."""

from .saver import HOLDER, TractSaver, tract_id_for

__all__ = ["TractSaver", "tract_id_for", "HOLDER"]
