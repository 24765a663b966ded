"""Public test helpers: backend factories, the pytest plugin and the store/tract contract suite.

Run the contract suite against tract's backends (or your own deployment) with::

    # conftest.py
    pytest_plugins = ["tract_core.testing.plugin"]

    # test_contract.py
    from tract_core.testing.contract import TractContract

    class TestTract(TractContract):
        pass
"""

from .blocking import no_blocking_io
from .chat_api import assert_chat_api_valid
from .factory import BACKENDS, TractFactory, create_database, start_postgres
from .llm import ScriptedLLM
from .processes import ChildProcess, wait_for_files, write_atomically
from .snapshot import database_digest, store_snapshot

__all__ = [
    "BACKENDS",
    "TractFactory",
    "ScriptedLLM",
    "store_snapshot",
    "database_digest",
    "start_postgres",
    "create_database",
    "ChildProcess",
    "wait_for_files",
    "write_atomically",
    "no_blocking_io",
    "assert_chat_api_valid",
]
