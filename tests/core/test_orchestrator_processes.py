"""The orchestrator across processes: two processes running ``orchestrate()`` on one SQLite file at the
same HEAD carry the compression out once; the other one finds the same proposal (DESIGN §12-13:
an action at a HEAD is one proposal, recorded and executed once).

Children are real interpreters (:class:`~tract_core.testing.ChildProcess`) started together and
released at once through a file; the summariser is a deterministic :class:`ScriptedLLM`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tract_core import Tract, TractConfig
from tract_core.orchestrator import OrchestratorConfig
from tract_core.testing.processes import WAIT_FOR_FILE, ChildProcess, wait_for_files

pytestmark = pytest.mark.slow

BUDGET = 600
SUMMARY = "Summary of the older notes."

RUNNER = (
    WAIT_FOR_FILE
    + """
import json, sys
from pathlib import Path
from tract_core import Tract, TractConfig
from tract_core.testing import ScriptedLLM

args = json.loads(sys.argv[1])
folder = Path(args["folder"])
summariser = ScriptedLLM([args["summary"]], repeat_last=True)
t = Tract.open(args["path"], config=TractConfig(token_budget=args["budget"], llm=summariser))
head = t.head
write_atomically(folder / f"ready-{args['me']}", "ready")
wait_for_file(folder / "go")
run = t.orchestrate()
steps = [[s.tool, s.proposal.id, s.proposal.status, s.is_error] for s in run.steps]
print(json.dumps({"head": head, "stopped": run.stopped, "steps": steps, "summaries": summariser.calls}))
"""
)


def test_two_processes_orchestrating_the_same_head_compress_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    t = Tract.open(path, config=TractConfig(token_budget=BUDGET))
    with t.batch():
        for i in range(40):
            t.commit(f"note {i}: the patient reports item {i} of the history", role="user" if i % 2 else "assistant")
    t.configure_orchestrator(OrchestratorConfig(keep_recent=4))  # stored: both children run these settings
    assert t.health()["budget_pressure"].severity == "act"
    head = t.head

    args = {"path": str(path), "folder": str(tmp_path), "budget": BUDGET, "summary": SUMMARY}
    children = [ChildProcess(RUNNER, {**args, "me": me}, tmp_path, f"orchestrator-{me}") for me in (0, 1)]
    try:
        wait_for_files([tmp_path / "ready-0", tmp_path / "ready-1"], children)
        (tmp_path / "go").write_text("go")
        results = [child.result(timeout=30) for child in children]
    finally:
        for child in children:
            child.kill()

    assert [r["head"] for r in results] == [head, head], "both started from the same HEAD"
    compresses = [step for r in results for step in r["steps"] if step[0] == "compress"]
    assert len(compresses) == 2 and len({step[1] for step in compresses}) == 1, "both saw one and the same proposal"
    assert not any(step[3] for r in results for step in r["steps"]), "neither failed"
    assert sum(r["summaries"] for r in results) == 1, "one summary written, not two"

    executed = [p for p in t.proposals() if p.kind == "compress"]
    assert [(p.policy, p.status) for p in executed] == [("orchestrator", "executed")]
    assert len(t.compressions()) == 1
    assert [m["content"] for m in t.compile().to_openai()][0] == SUMMARY
    assert len(t.compile()) == 5
    t.close()
