"""``tract`` starts fast: ``import tract_core`` and ``tract --help`` load neither the store
(SQLAlchemy, pydantic) nor rich nor the command modules; the package's names are imported on first
use (PEP 562) and all still importable. The reading commands on a SQLite file load the store's SQL
Core and nothing of the ORM, PostgreSQL, the async engine, the toolkit, the scaffolds, the
orchestrator or sub-agents. ``benchmarks/cli_startup.py`` times it."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import tract_core
from tract_core import Tract
from tract_core.cli import parser

ROOT = Path(__file__).resolve().parents[2]

HEAVY = (
    "sqlalchemy",
    "pydantic",
    "rich",
    "tiktoken",
    "tract_core.store",
    "tract_core.tract",
    "tract_core.compress",
    "tract_core.merge",
    "tract_core.policies",
    "tract_core.toolkit",
    "tract_core.orchestrator",
    "tract_core.cli.history",
    "tract_core.cli.graph",
)
"""Modules a ``tract --help`` has no use for."""


NOT_FOR_READING = (
    "sqlmodel",
    "sqlalchemy.orm",
    "sqlalchemy.ext",  # the async engine (sqlalchemy.ext.asyncio) among them
    "sqlalchemy.dialects.postgresql",
    "psycopg",
    "asyncpg",
    "pydantic",
    "tract_core.components",
    "tract_core.toolkit",
    "tract_core.agents",
    "tract_core.orchestrator",
    "tract_core.mcp",
)
"""Modules ``tract log`` and ``tract status`` on a SQLite file have no use for. (``asyncio`` itself is
not among them: ``import sqlalchemy`` loads it, in ``sqlalchemy.util.compat``.)"""


def _child(script: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRACT_TIKTOKEN_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_and_the_package_import_none_of_the_heavy_modules():
    found = _child(
        f"""
        import contextlib, io, json, sys
        import tract_core
        after_import = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))
        from tract_core.cli import main
        with contextlib.redirect_stdout(io.StringIO()) as shown:
            code = main(["--help"])
        with contextlib.redirect_stdout(io.StringIO()) as log_help:
            main(["log", "--help"])
        after_help = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))
        print(json.dumps({{"import": after_import, "help": after_help, "code": code,
                          "shown": shown.getvalue(), "log_help": log_help.getvalue()}}))
        """
    )
    assert found["import"] == [] and found["help"] == []
    assert found["code"] == 0 and "list" in found["shown"] and "annotate" in found["shown"]
    assert "--no-pager" in found["log_help"] and "--json" in found["log_help"]


def test_log_and_status_on_a_sqlite_file_load_only_what_reading_needs(tmp_path):
    path = tmp_path / "read.db"
    with Tract.open(path) as t:
        t.system("You are terse.")
        head = t.user("How big?").hash
    found = _child(
        f"""
        import contextlib, io, json, sys
        from tract_core.cli import main
        runs = {{}}
        for command in (["log", "--no-pager"], ["status"]):
            with contextlib.redirect_stdout(io.StringIO()) as shown:
                code = main(["--db", {str(path)!r}, *command])
            runs[command[0]] = [code, shown.getvalue()]
        loaded = sorted(m for m in sys.modules if m.startswith({NOT_FOR_READING!r}))
        print(json.dumps({{"runs": runs, "loaded": loaded}}))
        """
    )
    code, shown = found["runs"]["log"]
    assert code == 0 and head[:12] in shown and "How big?" in shown and "You are terse." in shown
    code, shown = found["runs"]["status"]
    assert code == 0 and head[:12] in shown and "2 in HEAD's history" in shown
    assert found["loaded"] == []


def test_every_public_name_is_importable_and_listed():
    found = _child(
        """
        import json, sys
        import tract_core
        names = {name: type(getattr(tract_core, name)).__name__ for name in tract_core.__all__}
        from tract_core import Tract, storage, TractConfig
        print(json.dumps({"names": names, "dir": dir(tract_core), "tract": Tract.__module__,
                          "storage": storage.__name__, "loaded": "tract_core.store" in sys.modules}))
        """
    )
    assert set(found["names"]) == set(tract_core.__all__)
    assert found["names"]["Tract"] == "type" and found["names"]["PINNED"] == "Priority"
    assert set(tract_core.__all__) <= set(found["dir"])
    assert (found["tract"], found["storage"], found["loaded"]) == ("tract_core.tract", "tract_core.storage", True)


def test_the_parsers_written_out_choices_match_the_core():
    from tract_core.cli.options import DEFAULT_TRACT_ID as CLI_DEFAULT
    from tract_core.compress import DEFAULT_KEEP_RECENT
    from tract_core.demo import DEFAULT_DEMO_PATH
    from tract_core.merge import STRATEGIES
    from tract_core.policies.policy import AUTONOMY_LEVELS
    from tract_core.policies.proposal import PROPOSAL_STATUSES
    from tract_core.toolkit.registry import PROFILES
    from tract_core.tract import DEFAULT_TRACT_ID

    assert parser.KEEP_RECENT == DEFAULT_KEEP_RECENT
    assert parser.DEMO_PATH == DEFAULT_DEMO_PATH
    assert tuple(STRATEGIES) == parser.MERGE_STRATEGIES
    assert tuple(AUTONOMY_LEVELS) == parser.AUTONOMY
    assert tuple(PROPOSAL_STATUSES) == parser.STATUSES
    assert tuple(PROFILES) == parser.TOOL_PROFILES
    assert CLI_DEFAULT == DEFAULT_TRACT_ID


def test_the_tool_prefix_written_out_in_the_tract_api_is_the_toolkits():
    from tract_core.toolkit.dispatch import DEFAULT_PREFIX

    for method in (Tract.as_tools, Tract.execute_tool):
        assert inspect.signature(method).parameters["prefix"].default == DEFAULT_PREFIX
