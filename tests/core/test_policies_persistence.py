"""A tract's policies persist with it (DESIGN §12): built-ins by name and parameters, custom
policies by import path, brought back by ``Tract.open``; a stored policy that cannot be imported is
a warning, not a failure. And the schema's forward migration to version 5 (the policy tables), on
a file written by the version-4 code and on PostgreSQL.
"""

from __future__ import annotations

import importlib
import shutil
import sqlite3
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from tract_core import PolicyWarning, Tract
from tract_core.policies import ArchivePolicy, BranchPolicy, CompressPolicy, PinPolicy
from tract_core.store import migrations
from tract_core.store.sql import SqlStore
from tract_core.testing import ScriptedLLM

HERE = Path(__file__).resolve().parent
POLICY_TABLES = {"tract_policies", "tract_proposals", "tract_policy_log"}


@pytest.fixture
def helpers(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """tests/core/_policies_helpers.py, importable as ``_policies_helpers`` in this process."""
    monkeypatch.syspath_prepend(str(HERE))
    return importlib.import_module("_policies_helpers")


def described(policies: list[Any]) -> list[tuple[type, dict[str, Any], Any]]:
    return [(type(p), p.to_config(), getattr(p, "autonomy", None)) for p in policies]


def test_configured_policies_come_back_when_the_tract_is_reopened(factory, helpers):
    configured = [
        CompressPolicy(
            0.7,
            keep_recent=3,
            target_tokens=50,
            token_budget=1000,
            llm=ScriptedLLM(["s"]),
            name="squeeze",
            priority=7,
            autonomy="manual",
        ),
        PinPolicy(content_types=["instruction", "summary"], patterns=["must never"]),
        BranchPolicy(window=8),
        ArchivePolicy(days=3, keep=["main", "release"], check_every=60),
        helpers.KeywordSkipPolicy(["ssn", "password"], name="pii", priority=3),
    ]
    t = factory.open(tract_id="agent")
    t.configure_policies(configured, autonomy="autonomous", on_proposal=lambda p: True)

    reopened = factory.open(tract_id="agent")

    assert described(reopened.policies) == described(configured)
    assert [p.name for p in reopened.policies] == ["squeeze", "pin", "branch", "archive", "pii"]
    assert reopened.policies[0].llm is None  # models are not stored
    assert type(reopened.policies[-1]).__module__ == helpers.MODULE
    secret = reopened.user("my password is hunter2")  # autonomous, as stored: the custom policy acts
    [done] = reopened.proposals()
    assert (done.policy, done.status, done.decided_by) == ("pii", "executed", "autonomy:autonomous")
    assert [a.priority.value for a in reopened.show(secret).annotations] == ["skip"]
    assert "my password is hunter2" not in [m["content"] for m in reopened.compile().messages]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_stored_policy_whose_module_is_gone_is_a_warning_and_the_others_still_run(
    factory, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    module = tmp_path / "plugins" / "vanishing_policy.py"
    module.parent.mkdir()
    module.write_text(
        "class Vanishing:\n"
        "    name = 'vanishing'\n"
        "    priority = 1\n"
        "    trigger = 'commit'\n"
        "    def evaluate(self, tract):\n"
        "        return None\n"
    )
    monkeypatch.syspath_prepend(str(module.parent))
    monkeypatch.delitem(sys.modules, "vanishing_policy", raising=False)
    vanishing = importlib.import_module("vanishing_policy").Vanishing
    t = factory.open()
    t.configure_policies([vanishing(), PinPolicy(patterns=["must never"])], autonomy="autonomous")
    module.unlink()
    del sys.modules["vanishing_policy"]
    importlib.invalidate_caches()

    with pytest.warns(PolicyWarning, match=r"the stored policy vanishing_policy:Vanishing could not be restored"):
        reopened = factory.open()

    assert [p.name for p in reopened.policies] == ["pin"]
    must = reopened.user("You must never share the vault password.")
    assert [a.priority.value for a in reopened.show(must).annotations] == ["pinned"]


@pytest.mark.parametrize("backend", ["memory"])
def test_a_policy_whose_parameters_cannot_be_stored_is_refused(factory):
    class Opaque:
        name, priority, trigger = "opaque", 1, "commit"

        def to_config(self) -> list[str]:
            return ["not", "keywords"]

        def evaluate(self, tract: Tract) -> None:
            return None

    t = factory.open()
    with pytest.raises(Exception, match="to_config\\(\\) must return a dict"):
        t.configure_policies([Opaque()])
    assert t.policies == []


# -- schema version 5 ---------------------------------------------------------------------------

V4_HEAD = "3973bfa54732494bd0fecfbfc6cce6777c62deb3c635edc383a8ac88d025dc93"
V4_DIGEST = "4e4ac5fde649ae2a462a5d8fbefb4b045449549fa44236ddd97bca348c0566e9"
V4_REFUND_DIGEST = "81e0dbe9c259b232a62611a2390210e3915079821e95980a0d3b21ece0f0265f"
"""What the version-4 code (commit 5322f67) reads from tests/data/schema_v4.db."""


def _sqlite_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT version FROM tract_schema").fetchone()[0])


def test_a_version_4_file_is_upgraded_keeps_its_history_and_takes_policies(tmp_path):
    path = tmp_path / "v4.db"
    shutil.copy(HERE.parent / "data" / "schema_v4.db", path)
    assert _sqlite_version(path) == 4

    with Tract.open(path=path) as t:
        assert t.head == V4_HEAD and t.current_branch == "main"
        assert t.compile().digest == V4_DIGEST
        assert t.compile(at_commit="refund-path").digest == V4_REFUND_DIGEST
        assert [b.name for b in t.list_branches()] == ["main", "refund-path"]
        assert len(t.compressions()) == 1
        assert t.verify() == 11
        assert t.policies == [] and t.proposals() == [] and t.policy_log() == []
        t.configure_policies([PinPolicy(patterns=["must never"])], autonomy="collaborative")
        must = t.user("You must never promise a refund date.")
        assert [a.priority.value for a in t.show(must).annotations] == ["pinned"]

    assert _sqlite_version(path) == migrations.SCHEMA_VERSION >= 7
    with Tract.open(path=path) as t:
        assert [type(p) for p in t.policies] == [PinPolicy]
        assert [p.status for p in t.proposals()] == ["executed"]
        assert t.verify() > 11


def _take_back_to_version_4(url: str) -> None:
    """Undo version 5 (the policy tables), as the version-4 code left the database."""
    store = SqlStore(url=url)
    with store.engine.begin() as conn:
        for table in sorted(POLICY_TABLES):
            conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text("UPDATE tract_schema SET version = 4"))
    store.close()


def _state(url: str) -> tuple[int | None, set[str]]:
    """The schema version and tables, read without tract (opening a SqlStore would migrate)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return migrations.schema_version(conn), set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_the_version_5_migration_runs_on_postgresql(postgres_server):
    from tract_core.testing import create_database

    url = create_database(postgres_server)
    with Tract.open(url=url, tract_id="pg") as t:
        t.system("You are terse.")
        t.annotate(t.user("Where is order 1182?"), "pinned")
        t.branch("side")
        head, digest = t.head, t.compile().digest
    _take_back_to_version_4(url)
    version, tables = _state(url)
    assert version == 4 and not POLICY_TABLES & tables

    with Tract.open(url=url, tract_id="pg") as t:
        assert t.head == head and t.compile().digest == digest and t.verify() > 0
        assert [b.name for b in t.list_branches()] == ["main", "side"]
        t.configure_policies([PinPolicy(patterns=["must never"])], autonomy="manual")
        t.user("You must never promise a date.")
        assert [p.status for p in t.pending_proposals()] == ["pending"]

    version, tables = _state(url)
    assert version == migrations.SCHEMA_VERSION and tables >= POLICY_TABLES
    with Tract.open(url=url, tract_id="pg") as t:
        assert [type(p) for p in t.policies] == [PinPolicy] and len(t.pending_proposals()) == 1
