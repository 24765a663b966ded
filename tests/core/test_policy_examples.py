"""The two custom policies of scenario 6.3 (tract_core/policies/examples.py), as a user relies on
them: PIIPolicy keeps personal data out of the compiled context, SkipOldToolOutputs hides tool
outputs more than N user turns old and leaves every tool call paired with its result."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tract_core import EDIT, NORMAL, PINNED, SKIP, Tract
from tract_core.errors import InvalidInputError
from tract_core.policies.examples import PII_KINDS, PIIPolicy, SkipOldToolOutputs, find_pii

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")

WORKTREE = Path(__file__).resolve().parents[2]


# -- finding personal data ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Hi, I'm Maria, you can email me at maria.lopez@example.com", ["email address"]),
        ("My number is (415) 555-0132, call after 5pm", ["phone number"]),
        ("Call me on +44 20 7946 0958 tomorrow", ["phone number"]),
        ("or 555.867.5309, that's my cell", ["phone number"]),
        ("SSN 123-45-6789 for the insurance form", ["SSN-like number"]),
        ("Charge my Visa 4111 1111 1111 1111, exp 09/27", ["card number"]),
        ("card: 5555-5555-5555-4444", ["card number"]),
        (
            "Patient record: DOB 1980-04-12, SSN 078-05-1120, phone 555.867.5309, email jd@clinic.org",
            ["email address", "SSN-like number", "phone number"],
        ),
        ("Order SO-48213 shipped on 2024-03-15 at 10:30", []),
        ("Your invoice total is $1,234.56 for 3 items", []),
        ("Tracking number 1Z999AA10123456784", []),
        ("Upgrade to Python 3.10.12 and restart", []),
        ("The order id is 4111111111111112", []),  # card-like, but fails the Luhn checksum
        ("Dosage: 2 tablets every 8 hours, 500 mg; ref 2024-0001-7788", []),
        ("Call the front desk at extension 4402", []),
        ("IP 192.168.1.10, invoice 1234 5678 9012, score +3 1 2", []),
    ],
)
def test_find_pii_in_realistic_messages(text: str, kinds: list[str]) -> None:
    assert find_pii(text) == kinds


def test_find_pii_only_the_kinds_asked_for() -> None:
    text = "mail a@b.org or call 555-123-4567"
    assert find_pii(text, ["phone number"]) == ["phone number"]
    assert find_pii(text, []) == []
    assert set(PII_KINDS) == {"email address", "card number", "SSN-like number", "phone number"}


# -- PIIPolicy ------------------------------------------------------------------------------------


def contents(t: Tract) -> list[Any]:
    return [m.get("content") for m in t.compile().messages]


def test_pii_is_proposed_for_review_and_approval_hides_it(tmp_path: Path) -> None:
    with Tract.open(path=tmp_path / "clinic.db") as t:
        t.configure_policies([PIIPolicy()], autonomy="manual")
        t.system("You are the intake assistant. Escalate to support@clinic.example.org.")  # instructions: not scanned
        t.user("I need to move my appointment to Friday.")
        email = t.user("Reach me at maria.lopez@example.com or (415) 555-0132.")
        t.assistant("Thanks, I have noted your contact details.")
        record = t.tool_result("call_1", '{"patient": "M. Lopez", "ssn": "078-05-1120"}')
        card = t.user("Bill the copay to 4111 1111 1111 1111.")
        t.assistant("Done, the copay is billed.")

        pending = t.pending_proposals()
        assert [p.params["target"] for p in pending] == [email.hash, record.hash, card.hash]
        assert {(p.policy, p.kind, p.risk, p.params["priority"]) for p in pending} == {
            ("pii", "annotate", "low", "skip")
        }
        assert pending[0].reason == (
            f"Message {email.hash[:12]} (user) contains personal data (email address, phone number); skip it"
        )
        assert pending[1].reason.endswith("(tool) contains personal data (SSN-like number); skip it")
        for proposal in pending:  # the proposal and the log never repeat the data itself
            text = repr(proposal.to_dict()) + repr(t.policy_log(None))
            for secret in ("maria.lopez", "555-0132", "078-05-1120", "4111"):
                assert secret not in text
        assert len(t.compile().messages) == 7  # nothing hidden until someone approves

        for proposal in pending:
            assert t.approve_proposal(proposal).status == "executed"
        assert contents(t) == [
            "You are the intake assistant. Escalate to support@clinic.example.org.",
            "I need to move my appointment to Friday.",
            "Thanks, I have noted your contact details.",
            "Done, the copay is billed.",
        ]
        assert t.show(email).annotations[-1].priority == SKIP
        assert t.show(email).annotations[-1].reason == "PIIPolicy: email address, phone number"


def test_collaborative_hides_it_at_once_and_a_person_can_bring_it_back() -> None:
    with Tract.open() as t:
        t.configure_policies([PIIPolicy()])  # collaborative: low-risk actions execute
        t.user("Hello")
        leaked = t.user("My SSN is 123-45-6789")
        assert contents(t) == ["Hello"]
        assert [(p.status, p.decided_by) for p in t.proposals()] == [("executed", "autonomy:collaborative")]
        t.annotate(leaked, NORMAL, reason="reviewed: a test number")
        t.user("thanks")
        assert contents(t) == ["Hello", "My SSN is 123-45-6789", "thanks"]


def test_a_rejected_finding_does_not_block_the_next_one() -> None:
    with Tract.open() as t:
        t.configure_policies([PIIPolicy()], autonomy="manual")
        first = t.user("Write to ops@example.com")
        [proposal] = t.pending_proposals()
        t.reject_proposal(proposal, reason="a team mailbox, not a person")
        t.user("ok")
        second = t.user("and call 555-123-4567")
        assert [p.params["target"] for p in t.pending_proposals()] == [second.hash]
        assert first.hash in t.compile().commit_hashes


def test_a_batch_of_messages_is_scanned_message_by_message() -> None:
    with Tract.open() as t:
        t.configure_policies([PIIPolicy()], autonomy="manual")
        t.user("Hello")
        with t.batch():
            a = t.user("a@example.com")
            t.assistant("noted")
            b = t.user("+44 20 7946 0958")
            c = t.tool_result("call_9", "card 5555-5555-5555-4444 on file")
        assert [p.params["target"] for p in t.pending_proposals()] == [a.hash]  # one action per evaluation
        t.run_policies()
        t.run_policies()
        assert t.run_policies() == []
        assert [p.params["target"] for p in t.pending_proposals()] == [a.hash, b.hash, c.hash]


def test_edits_and_tool_call_arguments_are_scanned() -> None:
    with Tract.open() as t:
        t.configure_policies([PIIPolicy()], autonomy="manual")
        answer = t.assistant("I will send it to you.")
        t.commit("I will send it to maria@example.com.", role="assistant", operation=EDIT, response_to=answer)
        call = t.assistant(
            tool_calls=[
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "send_mail", "arguments": '{"to": "maria@example.com"}'},
                }
            ]
        )
        assert [p.params["target"] for p in t.pending_proposals()] == [answer.hash, call.hash]


def test_only_the_kinds_and_roles_asked_for() -> None:
    with Tract.open() as t:
        t.configure_policies([PIIPolicy(["email address"], roles=["user"])], autonomy="manual")
        t.user("call 555-123-4567")
        t.assistant("or write to help@example.com")
        mail = t.user("mine is me@example.com")
        assert [p.params["target"] for p in t.pending_proposals()] == [mail.hash]
    with pytest.raises(InvalidInputError, match="not 'address'"):
        PIIPolicy(["address"])
    with pytest.raises(InvalidInputError, match="lists"):
        PIIPolicy("email address")


# -- SkipOldToolOutputs ---------------------------------------------------------------------------


def call(call_id: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "lookup_order", "arguments": "{}"}}


def agent_session(t: Tract, turns: int) -> None:
    """``turns`` user turns, each with a tool round trip. Turn 0's assistant also says something;
    turn 1 makes two calls at once."""
    t.system("You look up orders.")
    for n in range(turns):
        t.user(f"Where is order {n}?")
        if n == 0:
            t.assistant("Let me check.", tool_calls=[call("c0")])
        elif n == 1:
            t.assistant(tool_calls=[call("c1"), call("c1b")])
            t.tool_result("c1b", '{"order": "1b", "status": "packed"}')
        else:
            t.assistant(tool_calls=[call(f"c{n}")])
        t.tool_result(f"c{n}", f'{{"order": {n}, "status": "shipped"}}')
        t.assistant(f"Order {n} has shipped.")


def assert_tool_pairs_valid(messages: Sequence[Mapping[str, Any]]) -> None:
    """Every result answers a call made before it, and every call has its result."""
    called: set[str] = set()
    answered: set[str] = set()
    for message in messages:
        for tool_call in message.get("tool_calls") or ():
            called.add(tool_call["id"])
        if message["role"] == "tool":
            assert message["tool_call_id"] in called, message
            answered.add(message["tool_call_id"])
    assert called == answered


def tool_ids(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    return [m["tool_call_id"] for m in messages if m["role"] == "tool"]


def test_tool_outputs_more_than_ten_turns_old_are_skipped_and_pairs_stay_valid() -> None:
    with Tract.open() as t:
        t.configure_policies([SkipOldToolOutputs()])  # turns=10, collaborative: low risk executes
        agent_session(t, 14)
        compiled = t.compile()  # the compile that triggers it already returns the trimmed context
        messages = compiled.messages
        # turn n has 13 - n user turns after it: turns 0, 1 and 2 are more than 10 old, turn 3 is 10 old
        assert tool_ids(messages) == [f"c{n}" for n in range(3, 14)]
        assert_tool_pairs_valid(messages)
        assert {"role": "assistant", "content": "Let me check."} in messages  # its call went, its text stayed
        assert "Order 0 has shipped." in [m.get("content") for m in messages]
        [entry] = t.policy_log()
        assert (entry.policy, entry.kind, entry.decision, entry.detail) == (
            "old-tool-outputs",
            "skip",
            "executed",
            {"skipped": 4},  # c0, c1b, c1, c2
        )
        assert t.compile().digest == compiled.digest and len(t.policy_log()) == 1  # nothing more to do: no loop
        t.user("Where is order 14?")
        assert tool_ids(t.compile().messages) == [f"c{n}" for n in range(4, 14)]
        assert [e.detail for e in t.policy_log()] == [{"skipped": 1}, {"skipped": 4}]
        assert_tool_pairs_valid(t.compile().messages)


def test_an_annotated_tool_output_is_left_alone() -> None:
    with Tract.open() as t:
        t.configure_policies([SkipOldToolOutputs(2)])
        agent_session(t, 3)
        keep = next(c for c in t.log(limit=None) if c.role == "tool" and c.body["tool_call_id"] == "c0")
        t.annotate(keep, PINNED, reason="the customer's address is in it")
        t.user("thanks")
        t.user("bye")
        messages = t.compile().messages
        assert tool_ids(messages) == ["c0", "c2"]  # c1 and c1b are skipped, the pinned c0 stays
        assert_tool_pairs_valid(messages)


def test_under_manual_autonomy_the_skip_waits_for_approval() -> None:
    with Tract.open() as t:
        t.configure_policies([SkipOldToolOutputs(1)], autonomy="manual")
        agent_session(t, 4)
        assert tool_ids(t.compile().messages) == ["c0", "c1b", "c1", "c2", "c3"]
        [proposal] = t.pending_proposals()
        assert (proposal.kind, proposal.risk, len(proposal.params["targets"])) == ("skip", "low", 3)
        assert proposal.reason == "Skip 3 tool output(s) more than 1 user turns old"
        assert t.approve_proposal(proposal).outcome == {"skipped": 3}
        messages = t.compile().messages
        assert tool_ids(messages) == ["c2", "c3"]
        assert_tool_pairs_valid(messages)


def test_turns_must_be_a_count() -> None:
    for bad in (-1, 2.5, True, "10"):
        with pytest.raises(InvalidInputError, match="non-negative integer"):
            SkipOldToolOutputs(bad)  # type: ignore[arg-type]


# -- persistence ----------------------------------------------------------------------------------


def test_both_come_back_when_the_tract_is_reopened_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    with Tract.open(path=path) as t:
        t.configure_policies(
            [PIIPolicy(["email address"], name="no-emails"), SkipOldToolOutputs(3, autonomy="manual")],
            autonomy="collaborative",
        )
    with Tract.open(path=path) as t:
        restored = t.policies
        assert [type(p) for p in restored] == [PIIPolicy, SkipOldToolOutputs]
        assert restored[0].to_config() == {
            "kinds": ["email address"],
            "roles": ["user", "assistant", "tool"],
            "name": "no-emails",
            "priority": 5,
        }
        assert (restored[1].turns, restored[1].autonomy) == (3, "manual")
    script = (
        "import sys, warnings\n"
        "warnings.simplefilter('error')\n"
        "from tract_core import Tract\n"
        "with Tract.open(path=sys.argv[1]) as t:\n"
        "    t.user('write to me@example.com')\n"
        "    print(repr(t.policies), [p.status for p in t.proposals()], len(t.compile().messages))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[PIIPolicy(kinds=['email address']), SkipOldToolOutputs(turns=3)] ['executed'] 0"
