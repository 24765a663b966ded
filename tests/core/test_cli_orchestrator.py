"""``tract health`` and ``tract orchestrate``: run in-process through ``main()`` (as the other CLI
tests do) on real SQLite files, plus the core behaviour they rely on: with no model to write a
summary, the rules' compression waits for a person instead of failing."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path
from typing import Any

import pytest

from tract_core import SKIP, Tract, TractConfig
from tract_core.clock import use_clock
from tract_core.orchestrator import OrchestratorConfig, TriggerConfig
from tract_core.policies import BranchPolicy
from tract_core.testing import ScriptedLLM
from tract_core.testing.cli import run_cli as run

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")

WORKTREE = Path(__file__).resolve().parents[2]
FINDINGS = [
    "budget_pressure",
    "fragmentation",
    "stale_branches",
    "tangent_branches",
    "oversized_tool_outputs",
    "pending_proposals",
]
DAY = 86_400.0


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render rich output 200 columns wide so no cell is cut, and ignore the caller's $TRACT_DB."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("TRACT_DB", raising=False)


def rows(out: str) -> dict[str, list[str]]:
    """The health table's rows by finding: value, severity, then the reason's words."""
    found = {}
    for line in out.splitlines():
        words = line.split()
        if words and words[0] in FINDINGS:
            found[words[0]] = words[1:]
    return found


def notes(path: Path, *, budget: int = 1_050, **config: Any) -> list[str]:
    """A medical documentation session: 50 notes after a system prompt (51 messages, about 84% of a
    1,050-token budget). Returns the notes' commits, oldest first."""
    with Tract.open(path=path, config=TractConfig(token_budget=budget)) as t:
        if config:
            t.configure_orchestrator(OrchestratorConfig(**config))
        t.system("You are a medical documentation assistant.")
        hashes = []
        for i in range(1, 26):
            hashes.append(t.user(f"Note {2 * i - 1}: patient reports symptom {i} with moderate intensity.").hash)
            hashes.append(t.assistant(f"Note {2 * i}: documented symptom {i}; follow-up and lab work advised.").hash)
    return hashes


@pytest.fixture
def clinic(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "clinic.db"
    return path, notes(path)


# -- tract health ---------------------------------------------------------------------------------


def test_health_has_one_row_per_finding(clinic, capsys):
    path, _ = clinic
    with Tract.open(path=path, create=False) as t:
        report = t.health()
    code, out, err = run(capsys, "--db", path, "health")
    assert (code, err) == (0, "")
    assert out.startswith(
        f"Health of tract 'default' on main at {report.head[:12]}: {report.token_count:,} tokens of 1,050"
    )
    assert "Orchestrator: not configured (default thresholds" in out and "running" in out
    found = rows(out)
    assert list(found) == FINDINGS
    share = report["budget_pressure"].value
    assert found["budget_pressure"][:2] == [f"{share:.0%}", "act"] and share >= 0.8
    assert " ".join(found["budget_pressure"][2:]) == report["budget_pressure"].reason
    assert all(found[name][:2] == ["0", "ok"] for name in FINDINGS[1:])
    assert "1 finding calls for action (budget_pressure): `tract orchestrate --dry-run`" in out


def test_health_json_is_the_report_with_the_orchestrator_state(clinic, capsys):
    path, _ = clinic
    with Tract.open(path=path, create=False) as t:
        report = t.health().to_json()
    code, out, err = run(capsys, "--db", path, "health", "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert {k: data[k] for k in report} == report
    assert data["tract"] == "default" and data["healthy"] is False
    assert data["orchestrator"]["configured"] is False and data["orchestrator"]["paused"] is False
    assert [item["name"] for item in data["items"]] == FINDINGS


def test_health_uses_the_thresholds_stored_with_the_tract(tmp_path, capsys):
    path = tmp_path / "clinic.db"
    notes(path, triggers=TriggerConfig(on_commit_count=20, on_token_threshold=0.95))
    code, out, _ = run(capsys, "--db", path, "health")
    assert code == 0
    assert "Orchestrator: triggers every 20 commits and at 95% of the budget; autonomy autonomous; running" in out
    assert rows(out)["budget_pressure"][1] == "warn"  # over 80% of the 95% threshold, under it
    assert "(compress at 95%)" in out and "Nothing calls for action." in out


def test_health_of_an_empty_tract_without_a_budget(tmp_path, capsys):
    path = tmp_path / "empty.db"
    Tract.open(path=path).close()
    code, out, _ = run(capsys, "--db", path, "health")
    assert code == 0 and "Health of tract 'default' on main: no commits yet" in out
    assert rows(out)["budget_pressure"][:2] == ["-", "ok"] and "no token budget is configured" in out


# -- tract orchestrate ----------------------------------------------------------------------------


def test_dry_run_lists_the_plan_and_changes_nothing(clinic, capsys):
    path, hashes = clinic
    with Tract.open(path=path, create=False) as t:
        head = t.head
    code, out, err = run(capsys, "--db", path, "orchestrate", "--dry-run")
    assert (code, err) == (0, "")
    assert "Dry run of the orchestrator of tract 'default': rules (default settings: none configured)" in out
    assert "Health: budget_pressure 85% [act]" in out
    (row,) = [line.split() for line in out.splitlines() if line.split()[:2] == ["1", "compress"]]
    assert row[2] == "high"
    assert "recommend compressing messages 1-45 (keep the last 6)" in out
    assert f"to_commit={hashes[43][:12]}" in out  # message 45 is the 44th note (message 1 is the system prompt)
    assert "Stopped: dry_run, a dry run executes nothing" in out
    with Tract.open(path=path, create=False) as t:
        assert t.head == head and t.proposals() == []


def test_without_a_model_the_compression_waits_for_a_summary(clinic, capsys):
    path, hashes = clinic
    code, out, err = run(capsys, "--db", path, "orchestrate")
    assert (code, err) == (0, "")
    assert "Orchestrator run on tract 'default': rules, autonomy autonomous (default settings" in out
    (row,) = [line.split() for line in out.splitlines() if line.split()[:2] == ["1", "compress"]]
    assert row[2:4] == ["pending", "#1"]
    assert "waits for a summary: tract approve 1 --set content='...'" in out
    assert "Stopped: done, nothing more to do." in out
    assert "1 proposal (#1) waits for a decision" in out
    code, again, _ = run(capsys, "--db", path, "orchestrate")  # what waits for a decision is not proposed again
    assert code == 0 and "pending_proposals 1 [warn]" in again and "No action was taken." in again
    with Tract.open(path=path, create=False) as t:
        assert [p.id for p in t.proposals()] == [1]
    code, out, err = run(capsys, "--db", path, "approve", "1", "--set", "content=Notes 1-44: symptoms 1-22.")
    assert (code, err) == (0, "") and "executed" in out
    with Tract.open(path=path, create=False) as t:
        contents = [m["content"] for m in t.compile().messages]
        assert contents[1] == "Notes 1-44: symptoms 1-22." and contents[2].startswith("Note 45:")
        assert t.health().healthy
    code, out, _ = run(capsys, "--db", path, "health")
    assert rows(out)["fragmentation"][:2] == ["1", "ok"] and "Nothing calls for action." in out


def test_actions_that_need_no_model_run_at_once(tmp_path, capsys):
    path = tmp_path / "agent.db"
    start = time.time() - 30 * DAY
    with use_clock(lambda: start), Tract.open(path=path, config=TractConfig(token_budget=100_000)) as t:
        t.configure_orchestrator(OrchestratorConfig(tool_output_tokens=200, keep_recent=2))
        t.user("Run the test suite.")
        t.assistant(tool_calls=[{"id": "c1", "type": "function", "function": {"name": "pytest", "arguments": "{}"}}])
        dump = t.tool_result("c1", "FAILED test_x.py::test_y - AssertionError\n" * 60)
        t.branch("draft-fix")
        t.assistant("One test fails: test_y in test_x.py.")
        t.user("Fix it.")
        t.assistant("Fixed; all tests pass.")
    code, out, err = run(capsys, "--db", path, "orchestrate")
    assert (code, err) == (0, "")
    lines = {line.split()[1]: line.split() for line in out.splitlines() if line.split()[:1] in (["1"], ["2"])}
    assert lines["annotate"][2:4] == ["executed", "#1"] and lines["archive"][2:4] == ["executed", "#2"]
    assert "no branch idle" not in out and "branches with no commit for 7 days: draft-fix" in out
    assert "archived [archive/draft-fix]" in out
    with Tract.open(path=path, create=False) as t:
        assert t.show(dump).annotations[-1].priority == SKIP
        assert [b.name for b in t.list_branches(include_archived=True)] == ["archive/draft-fix", "main"]
    code, out, _ = run(capsys, "--db", path, "orchestrate", "--json")
    data = json.loads(out)
    assert code == 0 and data["steps"] == [] and data["stopped"] == "done"


def test_json_has_each_step_with_its_proposal(clinic, capsys):
    path, hashes = clinic
    code, out, err = run(capsys, "--db", path, "orchestrate", "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["mode"], data["trigger"], data["stopped"], data["pending"]) == ("rules", "manual", "done", [1])
    assert data["health"]["items"][0]["severity"] == "act" and data["planned"] == []
    (step,) = data["steps"]
    assert (step["tool"], step["status"], step["is_error"]) == ("compress", "pending", False)
    assert step["arguments"] == {"to_commit": hashes[43]}
    assert "recommend compressing messages 1-45 (keep the last 6); drops a cached prefix of " in step["reason"]
    assert step["proposal"]["id"] == 1 and step["proposal"]["policy"] == "orchestrator"
    code, out, _ = run(capsys, "--db", path, "orchestrate", "--dry-run", "--json")
    planned = json.loads(out)
    assert planned["stopped"] == "dry_run" and planned["steps"] == []
    assert planned["planned"] == [
        {"kind": "compress", "params": {"to_commit": hashes[43]}, "reason": step["reason"], "risk": "high"}
    ]


def test_a_failed_action_is_listed_and_exits_1(tmp_path, capsys):
    path = tmp_path / "agent.db"
    start = time.time() - 30 * DAY
    with use_clock(lambda: start), Tract.open(path=path) as t:
        t.user("hello")
        t.branch("draft")
        t.archive_branch("draft")
        t.branch("draft")  # a second idle "draft": archiving it collides with archive/draft
    code, out, err = run(capsys, "--db", path, "orchestrate")
    assert code == 1 and err == ""
    (row,) = [line.split() for line in out.splitlines() if line.split()[:2] == ["1", "archive"]]
    assert row[2:4] == ["failed", "#1"] and "BranchExistsError" in out
    with Tract.open(path=path, create=False) as t:
        assert {b.name for b in t.list_branches(include_archived=True)} == {"archive/draft", "draft", "main"}


def test_a_stalled_tangent_is_folded_once_a_person_writes_the_summary(tmp_path, capsys):
    path = tmp_path / "pm.db"
    with Tract.open(path=path) as t:
        t.configure_policies([BranchPolicy()], autonomy="autonomous")
        t.system("You are the project assistant of the Atlas migration.")
        for n in range(6):
            t.user(f"Atlas migration plan, step {n}: move service {n} to Kubernetes with its database.")
            t.assistant(f"Service {n} moves to Kubernetes in milestone {n}; its database migrates with it.")
        for n in range(8):
            t.user(f"Naming: camelCase or snake_case for variable kind {n}? Prefixes, plurals, abbreviations?")
            t.assistant(f"For kind {n}: snake_case, no Hungarian prefixes, singular names, spelled-out words.")
        assert t.current_branch == "tangent/1"
        t.configure_orchestrator()
    code, out, _ = run(capsys, "--db", path, "orchestrate")
    assert code == 0 and "tangent/1 has stalled" in out and "into main as a one-paragraph summary" in out
    (row,) = [line.split() for line in out.splitlines() if line.split()[:2] == ["1", "fold"]]
    assert row[2:4] == ["pending", "#2"]  # proposal #1 is BranchPolicy's branch
    summary = "Side discussion on naming: snake_case, singular names, no prefixes."
    code, out, err = run(capsys, "--db", path, "approve", "2", "--set", f"content={summary}")
    assert (code, err) == (0, "") and "archived: archive/tangent/1" in out
    with Tract.open(path=path, create=False, policies=False) as t:
        messages = t.compile().messages
        assert t.current_branch == "main" and messages[-1]["content"] == summary
        assert not any("camelCase" in str(m["content"]) for m in messages)
        assert [b.name for b in t.list_branches()] == ["main"]


def test_pause_and_resume_reach_every_process(clinic, capsys):
    path, _ = clinic
    code, out, err = run(capsys, "--db", path, "orchestrate", "pause")
    assert (code, err) == (0, "") and "Paused the orchestrator of tract 'default'" in out
    with Tract.open(path=path, create=False) as t:
        assert t.orchestrator_paused and t.orchestrate().stopped == "paused"
    code, out, _ = run(capsys, "--db", path, "orchestrate")
    assert code == 0 and "Stopped: paused, the orchestrator is paused (`tract orchestrate resume`" in out
    code, out, _ = run(capsys, "--db", path, "orchestrate", "--json")
    assert json.loads(out)["stopped"] == "paused" and json.loads(out)["health"] is None
    code, out, _ = run(capsys, "--db", path, "health")
    assert code == 0 and "; paused" in out.splitlines()[1]
    code, out, err = run(capsys, "--db", path, "orchestrate", "resume")
    assert (code, err) == (0, "") and "Resumed the orchestrator" in out
    with Tract.open(path=path, create=False) as t:
        assert not t.orchestrator_paused and t.proposals() == []  # nothing ran while paused


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["orchestrate"], "no tract database at"),
        (["--tract", "ward-7", "orchestrate"], "no tract 'ward-7'"),
        (["--tract", "ward-7", "health"], "no tract 'ward-7'"),
        (["orchestrate", "pause", "--dry-run"], "tract orchestrate pause takes no --dry-run or --json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(clinic, capsys, argv, expected):
    path, _ = clinic
    db = path.with_name("missing.db") if expected == "no tract database at" else path
    code, out, err = run(capsys, "--db", db, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("tract: error: ") and err.count("\n") == 1 and expected in err, err
    assert not path.with_name("missing.db").exists()


def test_help_does_not_import_the_orchestrator_commands():
    code = (
        "import sys; from tract_core.cli import main; "
        "assert main(['--help']) == 0; "
        "assert 'tract_core.cli.orchestrator' not in sys.modules; print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=WORKTREE,
        env={"PYTHONPATH": str(WORKTREE), "TRACT_TIKTOKEN_OFFLINE": "1", "PATH": ""},
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr


# -- the core behaviour the command line relies on ------------------------------------------------


def test_rules_without_a_model_propose_the_compression_instead_of_failing(tmp_path):
    path = tmp_path / "clinic.db"
    hashes = notes(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a failed action would warn
        with Tract.open(path=path, create=False) as t:
            run_ = t.orchestrate()
            (step,) = run_.steps
            assert (step.tool, step.is_error, step.proposal.status) == ("compress", False, "pending")
            assert run_.pending == [step.proposal] and t.health()["pending_proposals"].value == 1
            t.approve_proposal(step.proposal, content="Notes 1-44.")
            assert t.compile().messages[1]["content"] == "Notes 1-44."
        # a callback can give the summary itself
        other = tmp_path / "other.db"
        notes(other)
        with Tract.open(path=other, create=False) as t:
            t.configure_orchestrator(OrchestratorConfig(callbacks=lambda p: {"content": f"Summary for {p.kind}."}))
            done = t.orchestrate()
            assert [s.proposal.status for s in done.steps] == ["executed", "executed"]  # compress, then gc
            assert done.steps[0].arguments == {"to_commit": hashes[43], "content": "Summary for compress."}
        # with a model, the same rule executes at once
        third = tmp_path / "third.db"
        notes(third)
        llm = ScriptedLLM(["Notes 1-44, summarised."])
        with Tract.open(path=third, create=False, config=TractConfig(token_budget=1_050, llm=llm)) as t:
            done = t.orchestrate()
            assert done.steps[0].proposal.status == "executed" and done.steps[0].proposal.decided_by.startswith(
                "autonomy"
            )
            assert t.compile().messages[1]["content"] == "Notes 1-44, summarised."


def test_health_after_a_commit_builds_no_message_objects(tmp_path, monkeypatch):
    """health() reads what it needs from compile's slots: no CompiledMessage per message after every
    commit (that was O(n) objects, 25 ms at 4,000 messages; benchmarks/orchestrator.py)."""
    import tract_core.formats.context as context_module

    built = []
    real = context_module._entry
    monkeypatch.setattr(context_module, "_entry", lambda slot: built.append(slot) or real(slot))
    with Tract.open(path=tmp_path / "long.db", config=TractConfig(token_budget=10_000)) as t:
        big = None
        for n in range(60):
            call = {"id": f"call_{n}", "type": "function", "function": {"name": "search", "arguments": "{}"}}
            t.assistant(tool_calls=[call])
            output = t.tool_result(f"call_{n}", "result " * (700 if n == 3 else 5))
            if n == 3:
                big = output.hash
        t.health()
        t.user("one more")
        report = t.health()
        assert built == []  # no CompiledMessage was built
        (found,) = report["oversized_tool_outputs"].details["outputs"]
        assert found == {"commit": big, "tokens": t.show(big).token_count} and found["tokens"] > 500


def test_editing_a_tool_definition_changes_no_other():
    """as_tools() hands out fresh schemas: adapting one (strict mode sets "required" on every
    schema, say) must not leak into the next call, another tract or the orchestrator's model."""
    shapes = {
        "openai": (lambda d: d["function"]["name"], lambda d: d["function"]["parameters"]),
        "anthropic": (lambda d: d["name"], lambda d: d["input_schema"]),
    }
    with Tract.open() as t:
        for fmt, (name_of, schema_of) in shapes.items():
            for definition in t.as_tools(profile="full", format=fmt):
                schema = schema_of(definition)
                schema["required"] = sorted(schema["properties"])
                schema["properties"].clear()
            with Tract.open() as other:
                again = {name_of(d): schema_of(d) for d in other.as_tools(profile="full", format=fmt)}
            assert "required" not in again["context_compress"]
            assert again["context_compress"]["properties"]["keep_recent"]["default"] == 6


# -- the documentation ----------------------------------------------------------------------------

PAGE = WORKTREE / "docs" / "orchestrator.md"


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


def test_the_orchestrator_page_runs_in_order(tmp_path, monkeypatch, capsys):
    """docs/orchestrator.md from top to bottom in one directory: the python blocks write the store the
    commands then use. Output shown under a command is its exact output (an error on stderr with
    status 2, anything else on stdout with status 0)."""
    monkeypatch.chdir(tmp_path)
    examples = page_examples(PAGE)
    commands = [command for command, _ in examples if command != "python"]
    assert len(commands) >= 8 and all(command.startswith("tract --db ward.db ") for command in commands)
    for command, shown in examples:
        if command == "python":
            module = types.ModuleType("__doc_example__")
            monkeypatch.setitem(sys.modules, module.__name__, module)
            exec(compile("\n".join(shown), "docs/orchestrator.md", "exec"), module.__dict__)
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
    with Tract.open(path="ward.db", create=False) as t:
        assert [(p.kind, p.status) for p in t.proposals()] == [("compress", "executed")]
        assert t.compile().messages[1]["content"] == "Notes 1-44: symptoms 1-22 documented; labs ordered."
        assert t.health().healthy and not t.orchestrator_paused
