"""Public test helpers: backend factories, the pytest plugin and the store/tract contract suite.

Run the contract suite against tract's backends (or your own deployment) with::

    # conftest.py
    pytest_plugins = ["tract_core.testing.plugin"]

    # test_contract.py
    from tract_core.testing.contract import TractContract

    class TestTract(TractContract):
        pass

Every test then runs once per registered backend: ``memory``, ``sqlite`` and ``postgres``. A new
backend runs the whole suite by registering one factory in the conftest (it makes a fresh database
per test and returns the keywords of ``Tract.open`` that open it)::

    from tract_core.testing import register_backend

    register_backend("staging", lambda context: {"url": create_my_database()})

See :mod:`tract_core.testing.backends` for cleanups, fixtures and ``pytest --tract-backend staging``.
"""

from .backends import (
    Backend,
    BackendContext,
    backend_names,
    get_backend,
    register_backend,
    unregister_backend,
)
from .blocking import no_blocking_io
from .chat_api import assert_chat_api_valid
from .factory import BACKENDS, TractFactory
from .llm import ScriptedLLM, tool_reply
from .postgres import create_database, start_postgres
from .processes import ChildProcess, wait_for_files, write_atomically
from .snapshot import database_digest, store_snapshot

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendContext",
    "register_backend",
    "unregister_backend",
    "get_backend",
    "backend_names",
    "TractFactory",
    "ScriptedLLM",
    "tool_reply",
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
