"""The tract contract suite: behaviour every backend must show, every scenario included.

Subclass :class:`TractContract` in a test module whose conftest loads
``tract_core.testing.plugin``; every test then runs on every registered backend: in-memory SQLite,
a SQLite file, PostgreSQL, and any backend added with
:func:`~tract_core.testing.register_backend` (the ``factory`` fixture is parametrised over them;
see :mod:`tract_core.testing.backends`).
"""

from .branching import BranchingContract
from .compression import CompressionContract
from .foundations import GOLDEN_HISTORY, FoundationsContract

__all__ = ["TractContract", "FoundationsContract", "BranchingContract", "CompressionContract", "GOLDEN_HISTORY"]


class TractContract(FoundationsContract, BranchingContract, CompressionContract):
    """Every contract test. Needs the ``factory`` fixture."""
