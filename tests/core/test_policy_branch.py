"""BranchPolicy on a tract: a drifting conversation moves its tangent to ``tangent/<n>``; a focused one
of the same length is left alone (the fixture conversations of tests/data/drift)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tract_core import Tract
from tract_core.policies import BranchPolicy

DRIFT = Path(__file__).resolve().parents[1] / "data" / "drift"


def _replay(t: Tract, name: str) -> tuple[dict[str, str], dict]:
    """Commit a fixture conversation message by message; return fixture key -> commit hash."""
    data = json.loads((DRIFT / f"{name}.json").read_text())
    hashes = {}
    for message in data["messages"]:
        if message["role"] == "tool":  # tool results need their call ids; their text is not topic anyway
            continue
        info = t.commit(message["text"], role=message["role"], content_type=message["content_type"])
        hashes[message["key"]] = info.hash
    return hashes, data


def test_a_tangent_moves_to_its_own_branch_and_main_stays_where_it_began(factory) -> None:
    t = factory.open()
    t.configure_policies([BranchPolicy()], autonomy="autonomous")
    hashes, data = _replay(t, "tangent_refund_to_japan")
    start = hashes[data["tangent_start"]]

    executed = [e for e in t.policy_log(None) if e.decision == "executed"]
    assert len(executed) == 1, "one tangent, one branch: the policy does not fire again on its own branch"
    assert executed[0].kind == "branch" and executed[0].detail["branch"] == "tangent/1"
    assert t.current_branch == "tangent/1", "the conversation goes on where the tangent is"

    main_history = [c.hash for c in t.log(None, start="main")]
    assert start not in main_history
    assert main_history[0] == t.show(start).parents[0], "main stays exactly where the tangent began"
    tangent_history = [c.hash for c in t.log(None, start="tangent/1")]
    assert start in tangent_history and len(tangent_history) == len(data["messages"])

    proposal = t.proposals(status="executed")[0]
    assert proposal.params["start"] == start
    assert "tangent" in proposal.reason


@pytest.mark.parametrize("name", ["focused_postgres_pool", "aside_router_wifi"])
def test_a_focused_conversation_of_the_same_length_stays_on_main(factory, name) -> None:
    t = factory.open()
    t.configure_policies([BranchPolicy()], autonomy="autonomous")
    _replay(t, name)
    assert len(t.log(None)) >= 34
    assert [b.name for b in t.list_branches()] == ["main"]
    assert t.policy_log(None) == []


def test_collaborative_mode_proposes_the_branch_once_and_approving_it_moves_the_tangent(tmp_path) -> None:
    t = Tract.open(tmp_path / "drift.db")
    t.configure_policies([BranchPolicy()])  # collaborative: branching is high risk
    hashes, data = _replay(t, "tangent_migration_to_garden")
    pending = t.pending_proposals()
    assert [p.kind for p in pending] == ["branch"], "one pending proposal while it waits, not one per commit"
    assert t.current_branch == "main" and len(t.list_branches()) == 1
    done = t.approve_proposal(pending[0])
    assert done.status == "executed" and t.current_branch == "tangent/1"
    assert hashes[data["tangent_start"]] in {c.hash for c in t.log(None)}
    assert hashes[data["tangent_start"]] not in {c.hash for c in t.log(None, start="main")}
