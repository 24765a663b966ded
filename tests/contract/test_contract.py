"""The public contract suite, run against in-memory SQLite, a SQLite file and PostgreSQL."""

from tract_core.testing.contract import TractContract


class TestTractContract(TractContract):
    """Every contract test, once per backend."""
