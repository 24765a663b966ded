"""SelectPolicy: scenario 6.3's "tool outputs older than 10 turns are skipped" as one selector query."""

from __future__ import annotations

from pathlib import Path

import pytest

from tract_core import NORMAL, SKIP, InvalidInputError, SelectorSyntaxError, Tract
from tract_core.policies import SelectPolicy

OLD_TOOL_OUTPUTS = "^seq .tool_result(d11..d*)"


def cycle(t: Tract, i: int) -> None:
    t.user(f"check service {i}")
    call = {"id": f"call_{i}", "type": "function", "function": {"name": "status", "arguments": f'{{"id": {i}}}'}}
    t.assistant(None, tool_calls=[call])
    t.tool_result(f"call_{i}", f"service {i}: healthy " + "x" * 200, name="status")
    t.assistant(f"service {i} is fine")


def tool_outputs(t: Tract) -> list[str]:
    return [m["content"].split(":")[0] for m in t.compile().to_openai() if m["role"] == "tool"]


def test_tool_outputs_older_than_ten_turns_are_skipped_and_the_context_stays_valid(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    with Tract.open(path=path) as t:
        t.configure_policies([SelectPolicy(OLD_TOOL_OUTPUTS, SKIP)], autonomy="autonomous")
        t.system("You watch services.")
        for i in range(8):
            cycle(t, i)
        # each cycle is two replies (the call and the answer): depth 11+ means the oldest results
        shown = tool_outputs(t)
        assert shown[0] != "service 0" and shown[-1] == "service 7"
        context = t.compile().to_openai()
        calls = {c["id"] for m in context for c in m.get("tool_calls") or ()}
        results = {m["tool_call_id"] for m in context if m["role"] == "tool"}
        assert calls == results  # skipped results took their calls out: every provider accepts it
        skipped = [c for c in t.log(limit=None) if c.role == "tool" and c.hash not in t.compile().commit_hashes]
        assert skipped and all(t.show(c).annotations[-1].reason == f"selected by {OLD_TOOL_OUTPUTS}" for c in skipped)
        before = len(skipped)
    with Tract.open(path=path) as t:  # the policy is stored with the tract and keeps working
        assert [repr(p) for p in t.policies] == [f"SelectPolicy({OLD_TOOL_OUTPUTS!r}, SKIP)"]
        cycle(t, 8)
        cycle(t, 9)
        shown = t.compile().commit_hashes
        assert sum(1 for c in t.log(limit=None) if c.role == "tool" and c.hash not in shown) > before


def test_a_human_decision_is_never_overridden() -> None:
    with Tract.open() as t:
        t.configure_policies([SelectPolicy(".user:contains('secret')", SKIP)], autonomy="autonomous")
        t.system("S")
        note = t.user("the secret plan")
        assert "the secret plan" not in [m["content"] for m in t.compile().messages]
        t.annotate(note, NORMAL, reason="needed after all")
        t.user("more")
        assert "the secret plan" in [m["content"] for m in t.compile().messages]


def test_under_manual_autonomy_it_proposes_with_a_reason_naming_the_query() -> None:
    with Tract.open() as t:
        t.configure_policies([SelectPolicy(".user:contains('secret')", SKIP)], autonomy="manual")
        t.system("S")
        t.user("secret one")
        t.user("secret two")
        proposal = t.pending_proposals()[-1]
        assert proposal.kind == "annotate" and "selects 2 messages to mark SKIP" in proposal.reason
        assert [m["content"] for m in t.compile().messages] == ["S", "secret one", "secret two"]  # waits
        t.approve_proposal(proposal)
        assert [m["content"] for m in t.compile().messages] == ["S"]


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("^seq .tool_result(d11..",), {}, SelectorSyntaxError),
        (("@t-1 .user",), {}, InvalidInputError),
        ((".user",), {"annotate": "hidden"}, InvalidInputError),
        ((".user",), {"trigger": "sometimes"}, InvalidInputError),
    ],
)
def test_bad_configurations_are_refused_when_the_policy_is_made(args, kwargs, error) -> None:
    with pytest.raises(error):
        SelectPolicy(*args, **kwargs)
