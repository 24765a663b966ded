"""``tract policies``, ``tract proposals``, ``tract approve`` and ``tract reject``: run in-process
through ``main()`` (as tests/core/test_cli.py does) on real SQLite files and PostgreSQL, and as a
real process where what matters is what another process can import."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from tract_core import SKIP, Tract, TractConfig
from tract_core.cli.options import UsageError
from tract_core.cli.policies import parse_changes
from tract_core.errors import ProposalDecidedError
from tract_core.policies import CompressPolicy, PinPolicy, PolicyAction
from tract_core.policies.examples import PIIPolicy, SkipOldToolOutputs
from tract_core.testing import create_database
from tract_core.testing.cli import run_cli as run

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")

WORKTREE = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render rich output 200 columns wide so no cell is cut, and ignore the caller's $TRACT_DB."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("TRACT_DB", raising=False)


def assert_one_line_error(code: int, out: str, err: str, *expected: str) -> None:
    assert code == 2
    assert out == ""
    assert err.startswith("tract: error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err, err


def reopen(where: dict[str, Any], tract_id: str = "default") -> Tract:
    return Tract.open(**where, tract_id=tract_id, create=False)


def clinic(where: dict[str, Any], tract_id: str = "default") -> dict[str, str]:
    """A clinic assistant whose policies are all manual: every action waits as a proposal.

    Proposals: #1 pin the system prompt, #2 skip the message with an email address, #3 pin the
    "must never" rule. Returns the commits by name.
    """
    with Tract.open(**where, tract_id=tract_id, config=TractConfig(token_budget=100_000)) as t:
        t.configure_policies(
            [PIIPolicy(), PinPolicy(patterns=["must never"]), CompressPolicy(0.8, keep_recent=4, autonomy="manual")],
            autonomy="manual",
        )
        system = t.system("You are the intake assistant of a small clinic.")
        t.user("Hi, I need to move my appointment.")
        email = t.user("You can reach me at maria.lopez@example.com.")
        t.assistant("Thanks Maria, which day suits you?")
        rule = t.user("You must never share my results by phone.")
        t.assistant("Understood: results only in person.")
        assert [p.id for p in t.pending_proposals()] == [1, 2, 3]
    return {"system": system.hash, "email": email.hash, "rule": rule.hash}


@pytest.fixture
def store(tmp_path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    where = {"path": tmp_path / "clinic.db"}
    return where, clinic(where)


def db_args(where: dict[str, Any]) -> list[str]:
    return ["--db", str(where.get("path") or where["url"])]


# -- tract policies -------------------------------------------------------------------------------


def test_policies_lists_what_is_configured(store, capsys):
    where, _ = store
    code, out, err = run(capsys, *db_args(where), "policies")
    assert (code, err) == (0, "")
    assert "Policies of tract 'default': autonomy manual, running" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert rows["pii"][1:5] == ["PIIPolicy", "commit", "5", "manual"]
    assert rows["pin"][1:5] == ["PinPolicy", "commit", "10", "manual"]
    assert rows["compress"][1:5] == ["CompressPolicy", "commit", "100", "manual"]
    assert rows["pii"][5] == "(tract)" and rows["compress"][5] != "(tract)"  # the tract's level, or the policy's own
    assert 'patterns=["must never"]' in out and "threshold=0.8 keep_recent=4" in out
    assert "proposed" in out  # the last thing each policy did
    assert "3 proposals pending: `tract proposals` lists them." in out


def test_policies_json_names_each_policy_and_its_own_autonomy(store, capsys):
    where, _ = store
    code, out, err = run(capsys, *db_args(where), "policies", "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["tract"], data["autonomy"], data["paused"], data["warnings"]) == ("default", "manual", False, [])
    assert [p["name"] for p in data["policies"]] == ["pii", "pin", "compress"]  # by priority
    compress = data["policies"][2]
    assert compress == {
        "name": "compress",
        "class": "CompressPolicy",
        "trigger": "commit",
        "priority": 100,
        "autonomy": "manual",
        "settings": {"threshold": 0.8, "keep_recent": 4},
    }
    assert data["policies"][1]["settings"] == {"content_types": ["instruction"], "patterns": ["must never"]}


def test_a_tract_without_policies(tmp_path, capsys):
    path = tmp_path / "plain.db"
    with Tract.open(path=path) as t:
        t.user("hello")
    code, out, err = run(capsys, "--db", path, "policies")
    assert (code, err) == (0, "")
    assert "autonomy collaborative, running" in out and "No policies are configured" in out
    code, out, _ = run(capsys, "--db", path, "proposals")
    assert code == 0 and "no pending proposals in tract 'default'" in out
    code, out, _ = run(capsys, "--db", path, "policies", "--log")
    assert code == 0 and "the policy log of tract 'default' is empty" in out


def test_pause_and_resume_are_seen_by_every_process(store, capsys):
    where, _ = store
    code, out, err = run(capsys, *db_args(where), "policies", "pause")
    assert (code, err) == (0, "") and "Paused the policies of tract 'default'" in out
    with reopen(where) as t:
        assert t.policies_paused
        t.user("Write to maria@example.org instead.")  # would be proposed, but the policies are paused
        assert len(t.proposals()) == 3
    code, out, _ = run(capsys, *db_args(where), "policies")
    assert code == 0 and "autonomy manual, paused" in out and "tract policies resume" in out
    code, out, err = run(capsys, *db_args(where), "policies", "resume")
    assert (code, err) == (0, "") and "Resumed the policies" in out
    with reopen(where) as t:
        assert not t.policies_paused
        t.user("Or call 555-123-4567.")
        assert [p.reason for p in t.pending_proposals()][-1].endswith("(phone number); skip it")


def test_policy_log_newest_first_with_a_limit(store, capsys):
    where, hashes = store
    with reopen(where) as t:
        t.reject_proposal(1, reason="instructions are pinned by default")
    code, out, err = run(capsys, *db_args(where), "policies", "--log")
    assert (code, err) == (0, "")
    lines = [line for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert [line.split()[0] for line in lines] == ["4", "3", "2", "1"]
    assert "rejected" in lines[0] and "instructions are pinned by default" in out
    assert f"Message {hashes['email'][:12]} (user) contains personal data (email address); skip it" in out
    code, out, _ = run(capsys, *db_args(where), "policies", "--log", "-n", "2")
    lines = [line for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert code == 0 and [line.split()[0] for line in lines] == ["4", "3"]
    assert "older entries exist: -n 0 lists all" in out
    code, out, _ = run(capsys, *db_args(where), "policies", "--log", "--limit", "0", "--json")
    entries = json.loads(out)
    assert code == 0 and [e["id"] for e in entries] == [4, 3, 2, 1]
    assert entries[0]["decision"] == "rejected" and entries[0]["proposal_id"] == 1
    assert entries[0]["detail"]["reason"] == "instructions are pinned by default"
    assert entries[2] == {**entries[2], "policy": "pii", "trigger": "commit", "kind": "annotate", "proposal_id": 2}


# -- tract proposals ------------------------------------------------------------------------------


def test_proposals_lists_the_pending_ones(store, capsys):
    where, hashes = store
    with reopen(where) as t:
        t.reject_proposal(1)
    code, out, err = run(capsys, *db_args(where), "proposals")
    assert (code, err) == (0, "")
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("#") and line.split()[0] != "#"]
    assert [row[:4] for row in rows] == [["#2", "pii", "annotate", "low"], ["#3", "pin", "annotate", "low"]]
    assert rows[0][4] == hashes["email"][:12]  # the HEAD it was made against
    assert rows[0][5].endswith("s")  # its age, seconds old
    assert f"priority=skip reason=PIIPolicy: email address target={hashes['email'][:12]}" in out
    assert "`tract approve ID`" in out and "status" not in out


def test_proposals_all_and_by_status(store, capsys):
    where, _ = store
    with reopen(where) as t:
        t.reject_proposal(1, reason="pinned already", decided_by="dr.house")
        t.approve_proposal(3)
    code, out, err = run(capsys, *db_args(where), "proposals", "--all")
    assert (code, err) == (0, "")
    assert "rejected by dr.house: reason=pinned already" in out and "executed by user" in out
    assert [line.split()[4] for line in out.splitlines() if line.strip()[:2] in ("#1", "#2", "#3")] == [
        "rejected",
        "pending",
        "executed",
    ]
    code, out, _ = run(capsys, *db_args(where), "proposals", "--status", "rejected", "--json")
    data = json.loads(out)
    assert code == 0 and [p["id"] for p in data] == [1]
    assert data[0]["status"] == "rejected" and data[0]["decided_by"] == "dr.house"
    assert data[0]["outcome"] == {"reason": "pinned already"} and data[0]["decided_at"] >= data[0]["created_at"]
    code, out, _ = run(capsys, *db_args(where), "proposals", "--status", "failed")
    assert code == 0 and "no failed proposals in tract 'default'" in out


def test_proposals_marks_those_whose_commits_left_the_history_stale(store, capsys):
    where, hashes = store
    with reopen(where) as t:
        t.reset("HEAD~2")  # the "must never" message (proposal 3) leaves HEAD's history
    code, out, _ = run(capsys, *db_args(where), "proposals", "--json")
    assert code == 0 and [p["id"] for p in json.loads(out)] == [1, 2]
    code, out, _ = run(capsys, *db_args(where), "proposals", "--status", "stale", "--json")
    assert [(p["id"], p["outcome"]) for p in json.loads(out)] == [(3, {"missing": [hashes["rule"]]})]


# -- tract approve / reject -----------------------------------------------------------------------


def test_approve_executes_and_says_what_it_did(store, capsys):
    where, hashes = store
    code, out, err = run(capsys, *db_args(where), "approve", "2")
    assert (code, err) == (0, "")
    assert out.startswith("Approved proposal #2 (annotate, by policy 'pii'): executed.")
    assert "priority: skip" in out and f"target: {hashes['email'][:12]}" in out
    assert "HEAD is now at " in out
    with reopen(where) as t:
        assert hashes["email"] not in t.compile().commit_hashes
        decided = t.proposals(status="executed")
        assert [p.id for p in decided] == [2] and decided[0].decided_by.startswith("cli")
        assert [p.id for p in t.pending_proposals()] == [1, 3]


def test_a_proposal_decided_in_the_cli_is_decided_for_the_application(store, capsys):
    where, hashes = store
    with reopen(where) as app:
        assert [p.id for p in app.pending_proposals()] == [1, 2, 3]
        assert run(capsys, *db_args(where), "approve", "3", "--by", "dr.house")[0] == 0
        assert run(capsys, *db_args(where), "reject", "1")[0] == 0
        assert [p.id for p in app.pending_proposals()] == [2]
        with pytest.raises(ProposalDecidedError, match="already executed"):
            app.approve_proposal(3)
        assert app.show(hashes["rule"]).annotations[-1].priority.value == "pinned"
        assert app.proposals(status="executed")[0].decided_by == "dr.house"


def test_reject_stores_the_reason_and_changes_nothing(store, capsys):
    where, hashes = store
    with reopen(where) as t:
        before = t.compile().digest
    code, out, err = run(
        capsys, *db_args(where), "reject", "2", "--reason", "the patient asked to be emailed", "--by", "nurse"
    )
    assert (code, err) == (0, "")
    assert out.startswith("Rejected proposal #2 (annotate, by policy 'pii'); nothing was changed")
    with reopen(where) as t:
        assert t.compile().digest == before and hashes["email"] in t.compile().commit_hashes
        rejected = t.proposals(status="rejected")[0]
        assert (rejected.decided_by, rejected.outcome) == ("nurse", {"reason": "the patient asked to be emailed"})
    code, out, _ = run(capsys, *db_args(where), "reject", "3", "--json")
    assert code == 0 and json.loads(out)["status"] == "rejected"


def test_approve_refuses_decided_unknown_and_stale_proposals(store, capsys):
    where, _ = store
    assert run(capsys, *db_args(where), "reject", "1")[0] == 0
    assert_one_line_error(*run(capsys, *db_args(where), "approve", "1"), "proposal 1 is already rejected")
    assert_one_line_error(*run(capsys, *db_args(where), "reject", "1"), "proposal 1 is already rejected")
    assert_one_line_error(*run(capsys, *db_args(where), "approve", "42"), "has no proposal 42")
    with reopen(where) as t:
        t.reset("HEAD~2")
    assert_one_line_error(
        *run(capsys, *db_args(where), "approve", "3"), "is no longer in HEAD's history; it is now stale"
    )
    with reopen(where) as t:
        assert t.proposals(status="stale")[0].id == 3


def compress_proposal(where: dict[str, Any]) -> tuple[int, list[str]]:
    """A tract over 80% of a small budget, with a pending compress proposal; returns its id and the
    commits, oldest first."""
    with Tract.open(**where, config=TractConfig(token_budget=300)) as t:
        t.configure_policies([CompressPolicy(0.8, keep_recent=2)], autonomy="manual")
        t.system("You are a terse assistant.")
        for n in range(40):
            t.user(f"Question {n}: what is {n} squared?")
            pending = t.pending_proposals()
            if pending:
                break
        assert [p.kind for p in pending] == ["compress"]
        return pending[0].id, [c.hash for c in reversed(t.log(limit=None))]


def test_approve_with_changes_parses_json_values(tmp_path, capsys):
    where = {"path": tmp_path / "long.db"}
    proposal, commits = compress_proposal(where)
    code, out, err = run(
        capsys, *db_args(where), "approve", proposal, "--set", "keep_recent=4", "--set", "content=Squares of 0 onwards."
    )
    assert (code, err) == (0, "")
    assert f"Approved proposal #{proposal} (compress, by policy 'compress') with keep_recent=4" in out
    assert "executed." in out and "compression: 1" in out and "tokens_before:" in out
    with reopen(where) as t:
        messages = [m["content"] for m in t.compile().messages]
        assert messages[:2] == ["You are a terse assistant.", "Squares of 0 onwards."]
        assert len(messages) == 2 + 4  # keep_recent arrived as the number 4
        assert t.proposals(status="executed")[0].params["keep_recent"] == 4


def test_approve_resolves_a_commit_prefix_to_the_full_hash(tmp_path, capsys):
    where = {"path": tmp_path / "long.db"}
    proposal, commits = compress_proposal(where)
    target = commits[3]
    code, out, err = run(
        capsys, *db_args(where), "approve", proposal, "--set", f"to_commit={target[:8]}", "--set", "content=Q 0-2."
    )
    assert (code, err) == (0, "")
    with reopen(where) as t:
        executed = t.proposals(status="executed")[0]
        assert executed.params["to_commit"] == target
        contents = [m["content"] for m in t.compile().messages]
        assert contents[1] == "Q 0-2." and contents[2] == "Question 3: what is 3 squared?"


def test_approve_with_a_branch_reference_and_bad_changes(tmp_path, capsys):
    where = {"path": tmp_path / "long.db"}
    proposal, commits = compress_proposal(where)
    assert_one_line_error(
        *run(capsys, *db_args(where), "approve", proposal, "--set", "to_commit=nosuchref", "--set", "content=x"),
        "'nosuchref' is neither a branch nor a commit hash",
    )
    assert_one_line_error(*run(capsys, *db_args(where), "approve", proposal, "--set", "keep_recent"), "KEY=VALUE")
    code, _, err = run(capsys, *db_args(where), "approve", proposal, "--set", "to_commit=HEAD~3", "--set", "content=x")
    assert (code, err) == (0, "")
    with reopen(where) as t:
        assert t.proposals(status="executed")[0].params["to_commit"] == commits[-4]


def test_approving_a_compression_without_an_llm_is_refused_and_stays_pending(tmp_path, capsys):
    where = {"path": tmp_path / "long.db"}
    proposal, _ = compress_proposal(where)
    assert_one_line_error(
        *run(capsys, *db_args(where), "approve", proposal),
        f"proposal {proposal} compresses with an LLM, and this process has none",
        "--set content=",
        "stays pending",
    )
    with reopen(where) as t:
        assert [p.id for p in t.pending_proposals()] == [proposal]


def test_parse_changes():
    assert parse_changes(None) == {}
    assert parse_changes(["keep_recent=10", "vacuum=true", "tips=[1, 2]", "x=null", "reason=a=b"]) == {
        "keep_recent": 10,
        "vacuum": True,
        "tips": [1, 2],
        "x": None,
        "reason": "a=b",
    }
    assert parse_changes(["content=Hello world", "target_tokens=1e3", "start=1234", "head=HEAD~2"]) == {
        "content": "Hello world",
        "target_tokens": 1000.0,
        "start": "1234",  # commit parameters stay references, even all digits
        "head": "HEAD~2",
    }
    for bad, expected in (
        (["keep_recent"], "KEY=VALUE"),
        (["=3"], "KEY=VALUE"),
        (["two words=3"], "KEY=VALUE"),
        (["a=1", "a=2"], "given twice"),
        (["decided_by=me"], "--by NAME"),
    ):
        with pytest.raises(UsageError, match=expected):
            parse_changes(bad)


class MergeFromNowhere:
    """Proposes merging a branch that does not exist: executing it fails."""

    name = "merger"
    priority = 1
    trigger = "commit"

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        return PolicyAction("merge", {"source": "no-such-branch"}, reason="Merge the reviewed branch")


class Exploding:
    """A custom kind whose execute raises something that is not a TractError."""

    name = "exploding"
    priority = 2
    trigger = "commit"

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        return PolicyAction("explode", {"n": 1}, reason="Try the impossible")

    def execute(self, tract: Tract, action: PolicyAction) -> None:
        raise RuntimeError("the disk is on fire")


def test_a_failed_execution_is_one_line_and_marks_the_proposal_failed(tmp_path, capsys):
    where = {"path": tmp_path / "fails.db"}
    with Tract.open(**where) as t:
        t.configure_policies([MergeFromNowhere(), Exploding()], autonomy="manual")
        t.user("hello")
        assert [(p.id, p.kind) for p in t.pending_proposals()] == [(1, "merge"), (2, "explode")]
    assert_one_line_error(
        *run(capsys, *db_args(where), "approve", "1"),
        "proposal 1 was approved but executing it failed (",
        "no-such-branch",
        "it is now failed",
    )
    assert_one_line_error(
        *run(capsys, *db_args(where), "approve", "2"), "RuntimeError: the disk is on fire", "it is now failed"
    )
    with reopen(where) as t:
        assert [p.id for p in t.proposals(status="failed")] == [1, 2]
    code, out, _ = run(capsys, *db_args(where), "policies", "--log")
    assert code == 0 and "failed" in out and "the disk is on fire" in out


# -- what the CLI process can import --------------------------------------------------------------

RULES = '''
"""A clinic's own policies, importable only where this file is on the path."""

from tract_core.policies import PolicyAction


class Redact:
    """A custom kind, carried out by this class."""

    name = "redact"
    priority = 1
    trigger = "commit"

    def evaluate(self, tract):
        head = tract.log(1)[0]
        if "secret" in str(head.content):
            return PolicyAction("redact", {"target": head.hash}, reason="Redact the secret", risk="high")
        return None

    def execute(self, tract, action):
        tract.annotate(action.params["target"], "skip", reason="redacted")
        return {"redacted": action.params["target"]}


class FlagCode:
    """A built-in kind: any process can carry it out."""

    name = "flag-code"
    priority = 2
    trigger = "commit"

    def evaluate(self, tract):
        head = tract.log(1)[0]
        if "code" in str(head.content):
            return PolicyAction("annotate", {"target": head.hash, "priority": "skip"}, reason="Hide the code")
        return None
'''


def cli_process(*argv: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m tract_core`` in a process that has tract on its path, and nothing else of the test's."""
    env = {**os.environ, "PYTHONPATH": str(WORKTREE), "COLUMNS": "200"}
    env.pop("TRACT_DB", None)
    command = [sys.executable, "-m", "tract_core", *map(str, argv)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.mark.slow
def test_custom_policies_the_cli_cannot_import(tmp_path, monkeypatch):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "clinic_rules_cli.py").write_text(textwrap.dedent(RULES))
    monkeypatch.syspath_prepend(str(rules))
    import clinic_rules_cli  # the application can import them

    path = tmp_path / "clinic.db"
    with Tract.open(path=path) as t:
        t.configure_policies([clinic_rules_cli.Redact(), clinic_rules_cli.FlagCode(), PIIPolicy()], autonomy="manual")
        t.user("The secret code is 1234.")
        assert [(p.id, p.kind) for p in t.pending_proposals()] == [(1, "redact"), (2, "annotate")]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    listed = cli_process("--db", path, "policies", cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    warnings = listed.stderr.splitlines()
    assert len(warnings) == 2 and all(line.startswith("tract: warning: ") for line in warnings)
    assert "clinic_rules_cli:Redact could not be restored" in warnings[0]
    assert "clinic_rules_cli:FlagCode could not be restored" in warnings[1]
    assert "pii" in listed.stdout and "PIIPolicy" in listed.stdout and "Redact" not in listed.stdout

    refused = cli_process("--db", path, "approve", "1", cwd=elsewhere)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    error = refused.stderr.splitlines()[-1]
    assert error.startswith("tract: error: proposal 1 is a 'redact' action, which only its policy 'redact'")
    assert "is not configured in this process" in error and "stays pending" in error

    approved = cli_process("--db", path, "approve", "2", cwd=elsewhere)  # a built-in kind: no import needed
    assert approved.returncode == 0, approved.stderr
    assert "Approved proposal #2 (annotate, by policy 'flag-code'): executed." in approved.stdout

    with Tract.open(path=path) as t:  # where the module imports, the refused proposal is still there to approve
        assert [p.id for p in t.pending_proposals()] == [1]
        assert t.approve_proposal(1).status == "executed"
        assert t.compile().messages == []


class NoExecute:
    """A custom kind, and no execute to carry it out."""

    name = "no-execute"
    priority = 1
    trigger = "commit"

    def evaluate(self, tract: Tract) -> PolicyAction:
        return PolicyAction("shout", {"volume": 11}, reason="Be loud")


def test_a_custom_kind_without_an_execute_is_refused_and_stays_pending(tmp_path, capsys):
    where = {"path": tmp_path / "loud.db"}
    with Tract.open(**where) as t:
        t.configure_policies([NoExecute()], autonomy="manual")
        t.user("hello")
    assert_one_line_error(
        *run(capsys, *db_args(where), "approve", "1"),
        "proposal 1 is a 'shout' action",
        "has no execute(tract, action) method",
        "stays pending",
    )
    with reopen(where) as t:
        assert [p.id for p in t.pending_proposals()] == [1]


# -- reading commands do not run policies ---------------------------------------------------------


def test_reading_commands_never_evaluate_the_policies(tmp_path, capsys):
    where = {"path": tmp_path / "agent.db"}
    with Tract.open(**where) as t:
        t.configure_policies([SkipOldToolOutputs(turns=1)], autonomy="autonomous")
        t.system("You look up orders.")
        for n in range(4):
            t.user(f"Where is order {n}?")
            t.assistant(tool_calls=[{"id": f"c{n}", "type": "function", "function": {"name": "f", "arguments": "{}"}}])
            t.tool_result(f"c{n}", f'{{"order": {n}, "status": "shipped"}}')
            t.assistant(f"Order {n} has shipped.")
    for argv in (["log"], ["compile", "--json"], ["compile"], ["status"], ["diff", "HEAD~2"], ["log", "--graph"]):
        code, _, err = run(capsys, *db_args(where), *argv)
        assert (code, err) == (0, ""), argv
    for argv in (["policies"], ["policies", "--log"], ["proposals", "--all"]):
        assert run(capsys, *db_args(where), *argv)[0] == 0
    with reopen(where) as t:
        assert t.policy_log() == [] and t.proposals() == []
        assert len(t.compile().messages) == 17 - 4  # the application's compile runs it: 2 outputs and calls go
        assert [e.decision for e in t.policy_log()] == ["executed"]


# -- PostgreSQL and usage -------------------------------------------------------------------------


def test_proposals_and_approve_on_postgres(postgres_server, capsys):
    where = {"url": create_database(postgres_server)}
    hashes = clinic(where, tract_id="intake")
    code, out, err = run(capsys, *db_args(where), "--tract", "intake", "proposals", "--json")
    assert (code, err) == (0, "") and [p["id"] for p in json.loads(out)] == [1, 2, 3]
    code, out, err = run(capsys, *db_args(where), "--tract", "intake", "approve", "2", "--json")
    assert (code, err) == (0, "")
    decided = json.loads(out)
    assert decided["status"] == "executed" and decided["outcome"] == {"priority": "skip", "target": hashes["email"]}
    code, out, _ = run(capsys, *db_args(where), "--tract", "intake", "policies", "--log", "--json")
    assert code == 0 and [e["decision"] for e in json.loads(out)][:2] == ["executed", "approved"]
    with reopen(where, "intake") as t:
        assert hashes["email"] not in t.compile().commit_hashes
        assert t.show(hashes["email"]).annotations[-1].priority == SKIP


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["policies", "pause", "--log"], "tract policies pause takes no --log, -n or --json"),
        (["policies", "-n", "3"], "-n N limits the policy log: use it with --log"),
        (["policies", "stop"], "invalid choice: 'stop'"),
        (["proposals", "--all", "--status", "pending"], "give one of them"),
        (["proposals", "--status", "done"], "invalid choice: 'done'"),
        (["approve", "one"], "'one' is not a whole number"),
        (["approve"], "the following arguments are required: ID"),
        (["reject", "-1"], "-1 is negative"),
    ],
)
def test_usage_errors(store, capsys, argv, expected):
    where, _ = store
    code, _, err = run(capsys, *db_args(where), *argv)
    assert code == 2 and expected in err


def test_help_and_a_missing_database(tmp_path, capsys):
    for command in ("policies", "proposals", "approve", "reject"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and f"usage: tract {command}" in out and "--db" in out and "--json" in out
        missing = tmp_path / "missing.db"
        argv = [command, "1"] if command in ("approve", "reject") else [command]
        assert_one_line_error(*run(capsys, "--db", missing, *argv), "missing.db")
        assert list(tmp_path.iterdir()) == []


# -- the documentation ----------------------------------------------------------------------------

POLICIES_PAGE = WORKTREE / "docs" / "policies.md"


def page_examples(page: Path) -> list[tuple[str, list[str]]]:
    """In page order: each ``$ tract ...`` line of a console block with the output lines shown
    under it, and each python block (as ``("python", [its lines])``)."""
    examples: list[tuple[str, list[str]]] = []
    block: str | None = None
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            block = line[3:] or None
            if block == "python":
                examples.append(("python", []))
        elif block == "python":
            examples[-1][1].append(line)
        elif block == "console" and line.startswith("$ "):
            examples.append((line[2:], []))
        elif block == "console" and examples:
            examples[-1][1].append(line)
    return examples


@pytest.mark.slow
def test_the_policies_page_runs_in_order(tmp_path, monkeypatch, capsys):
    """docs/policies.md from top to bottom in one directory: the python blocks write the stores the
    commands then use. Output shown under a command is its exact output (an error on stderr with
    status 2, anything else on stdout with status 0)."""
    monkeypatch.chdir(tmp_path)
    examples = page_examples(POLICIES_PAGE)
    commands = [command for command, _ in examples if command != "python"]
    assert len(commands) >= 6 and all(command.startswith("tract --db clinic.db ") for command in commands)
    for command, shown in examples:
        if command == "python":
            module = types.ModuleType("__doc_example__")
            monkeypatch.setitem(sys.modules, module.__name__, module)
            exec(compile("\n".join(shown), "docs/policies.md", "exec"), module.__dict__)
            capsys.readouterr()
            continue
        code, out, err = run(capsys, *shlex.split(command)[1:])
        if shown and shown[0].startswith("tract: error: "):
            assert (code, out, err.splitlines()) == (2, "", shown), command
        elif shown:
            assert (code, err, out.splitlines()) == (0, "", shown), command
        else:
            assert (code, err) == (0, ""), command
            assert out
    with Tract.open(path="clinic.db") as t:
        assert [p.status for p in t.proposals()] == ["rejected", "executed", "executed"]
        assert t.compile().messages[1]["content"] == "The patient moved their appointment to Friday."
