"""The agent toolkit (DESIGN §13, scenario 7.1): ``t.as_tools()`` definitions and ``t.execute_tool()``.

Definitions: every profile in the OpenAI and Anthropic formats is valid JSON Schema (checked against
the 2020-12 metaschema), names and describes every parameter of the function behind it, and agrees
with the pydantic validation the calls meet. Calls: every accepted shape (OpenAI dict and the openai
SDK's own object, Anthropic ``tool_use``, LangChain ``ToolCall``, plain), bad calls answered with an
error a model can read and no write at all (the whole database compared before and after, proposals
and the policy log included), and context-changing calls going through proposals and autonomy.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openai.types.chat import ChatCompletionMessageToolCall

from tract_core import InvalidInputError, Tract, TractConfig
from tract_core.testing import ScriptedLLM, database_digest, store_snapshot
from tract_core.toolkit import PROFILES, tools_for

SELF = [
    *["status", "log", "show", "overview", "health", "select", "annotate", "set_lifecycle", "edit", "compress"],
    *["branch", "switch", "merge"],
]
SUPERVISOR = [
    *["status", "log", "show", "overview", "health", "branches", "diff", "children", "proposals", "merge"],
    *["archive_branch", "restore_branch", "gc", "spawn", "absorb", "approve", "reject"],
]
FULL_ONLY = ["commit", "reset", "cherry_pick"]
SUMMARY = "Summary: questions 0 to 3 about the billing service were answered."


def names(tools: list[dict[str, Any]]) -> list[str]:
    return [tool["function"]["name"] if "function" in tool else tool["name"] for tool in tools]


def schema_of(tool: dict[str, Any]) -> dict[str, Any]:
    return tool["function"]["parameters"] if "function" in tool else tool["input_schema"]


def description_of(tool: dict[str, Any]) -> str:
    return tool["function"]["description"] if "function" in tool else tool["description"]


def open_tract(path: Path, *, llm: Any = None) -> Tract:
    """A tract with a system prompt and six question/answer pairs, on a SQLite file."""
    t = Tract.open(path, config=TractConfig(token_budget=2000, llm=llm))
    t.system("You are a billing assistant.")
    for i in range(6):
        t.user(f"question {i} about the billing service")
        t.assistant(f"answer {i} about the billing service")
    return t


@pytest.fixture
def t(tmp_path: Path) -> Iterator[Tract]:
    tract = open_tract(tmp_path / "toolkit.db")
    yield tract
    tract.close()


def messages(t: Tract) -> list[str]:
    return [m["content"] for m in t.compile().to_openai()]


def stored_state(t: Tract) -> tuple[Any, ...]:
    """Every stored row of the tract (commits, refs, reflog, annotations, blobs), its proposals,
    policy log and compressions."""
    return store_snapshot(t), t.proposals(), t.policy_log(None), t.compressions()


@contextmanager
def writes_nothing(t: Tract) -> Iterator[None]:
    before = stored_state(t)
    yield
    assert stored_state(t) == before


def plain(tool: str, /, **arguments: Any) -> dict[str, Any]:
    return {"name": f"context_{tool}", "arguments": arguments}


def run(t: Tract, tool: str, /, **arguments: Any) -> Any:
    """Call a tool the plain way and return its result as data (the call must succeed)."""
    result = t.execute_tool(plain(tool, **arguments))
    assert result["is_error"] is False, result["content"]
    return json.loads(result["content"])


# -- definitions --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
@pytest.mark.parametrize("profile", PROFILES)
def test_every_definition_is_valid_json_schema_describing_its_function(t: Tract, profile: str, fmt: str) -> None:
    tools = t.as_tools(profile=profile, format=fmt)
    expected = {"self": SELF, "supervisor": SUPERVISOR, "full": [*SELF, *SUPERVISOR, *FULL_ONLY]}[profile]
    assert sorted(names(tools)) == sorted({f"context_{name}" for name in expected})
    assert len(set(names(tools))) == len(tools), "tool names are unique"
    specs = {f"context_{spec.name}": spec for spec in tools_for(profile)}
    for tool in tools:
        name, schema = names([tool])[0], schema_of(tool)
        if fmt == "openai":
            assert tool["type"] == "function" and set(tool["function"]) == {"name", "description", "parameters"}
        else:
            assert set(tool) == {"name", "description", "input_schema"}
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert description_of(tool).strip(), f"{name} has no description"

        parameters = list(inspect.signature(specs[name].fn).parameters.values())[1:]  # after the tract
        assert list(schema["properties"]) == [p.name for p in parameters], name
        required = [p.name for p in parameters if p.default is inspect.Parameter.empty]
        assert schema.get("required", []) == required, name
        for p in parameters:
            prop = schema["properties"][p.name]
            assert prop.get("description", "").strip(), f"{name}.{p.name} has no description"
            if p.default is not inspect.Parameter.empty:
                assert prop["default"] == p.default, f"{name}.{p.name}: the schema's default is the function's"


def test_openai_and_anthropic_definitions_carry_the_same_schemas_and_a_prefix_renames_them(t: Tract) -> None:
    openai_tools = t.as_tools(profile="full", format="openai")
    anthropic_tools = t.as_tools(profile="full", format="anthropic")
    assert [(names([o]), schema_of(o), description_of(o)) for o in openai_tools] == [
        (names([a]), schema_of(a), description_of(a)) for a in anthropic_tools
    ]
    assert names(t.as_tools(prefix="memory_"))[:2] == ["memory_status", "memory_log"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.as_tools(profile="everything"), "profile must be 'self', 'supervisor' or 'full'"),
        (lambda t: t.as_tools(format="gemini"), "unknown tool format 'gemini'; use one of anthropic"),
        (lambda t: t.as_tools(prefix="my tools "), "prefix must be letters, digits, _ or -"),
        (lambda t: t.execute_tool({"name": "context_status"}, profile="root"), "profile must be"),
        (lambda t: t.execute_tool({"name": "context_status"}, autonomy="yolo"), "autonomy must be"),
        (lambda t: t.execute_tool({"name": "context_status"}, on_proposal=3), "on_proposal must be a function"),
    ],
)
def test_bad_toolkit_settings_are_a_clear_error(t: Tract, call: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
        call(t)


def _valid_value(prop: dict[str, Any]) -> Any:
    if "enum" in prop:
        return prop["enum"][-1]
    kind = prop["type"] if "type" in prop else next(o["type"] for o in prop["anyOf"] if o["type"] != "null")
    return {"string": "abc123", "integer": 3, "number": 1.5, "boolean": True, "object": {"a": 1}}[kind]


def _wrong_values(prop: dict[str, Any]) -> list[Any]:
    if "enum" in prop:
        return ["not-one-of-them", 1]
    kind = prop["type"] if "type" in prop else next(o["type"] for o in prop["anyOf"] if o["type"] != "null")
    return {
        "string": [5, True, ["abc"]],
        "integer": ["5", True, 2.5],
        "number": ["1.5", True],
        "boolean": ["true", 1],
        "object": ["{}", [1]],
    }[kind]


def test_the_schema_and_the_validation_of_calls_agree() -> None:
    for spec in tools_for("full"):
        schema = spec.parameters
        validator = Draft202012Validator(schema)
        properties = schema["properties"]
        required = {name: _valid_value(properties[name]) for name in schema.get("required", [])}
        everything = {name: _valid_value(prop) for name, prop in properties.items()}
        for arguments in (required, everything):
            validator.validate(arguments)
            checked = spec.validate(arguments)
            assert set(checked) == set(properties), spec.name
            for name, prop in properties.items():  # what the model left out gets the schema's default
                assert checked[name] == arguments.get(name, prop.get("default")), f"{spec.name}.{name}"
        for name, prop in properties.items():
            for wrong in _wrong_values(prop):
                arguments = {**required, name: wrong}
                assert not validator.is_valid(arguments), (spec.name, name, wrong)
                with pytest.raises(InvalidInputError, match=f"bad arguments for {spec.name}: {name}"):
                    spec.validate(arguments)
        if schema.get("required"):
            with pytest.raises(InvalidInputError, match="Field required"):
                spec.validate({})
        with pytest.raises(InvalidInputError, match="Extra inputs are not permitted"):
            spec.validate({**required, "surprise": 1})


# -- the shapes of a call -------------------------------------------------------------------------


def test_a_call_in_every_shape_gets_the_answer_its_provider_expects(t: Tract) -> None:
    status = t.status()
    expected = {
        "branch": "main",
        "head": status.head[:12],
        "messages": status.message_count,
        "commits": status.commit_count,
        "tokens": status.token_count,
        "token_budget": 2000,
        "budget_used": round(status.budget_ratio, 4),
    }

    openai_dict = {"id": "call_1", "type": "function", "function": {"name": "context_status", "arguments": "{}"}}
    answer = t.execute_tool(openai_dict)
    assert set(answer) == {"role", "tool_call_id", "content"}
    assert (answer["role"], answer["tool_call_id"], json.loads(answer["content"])) == ("tool", "call_1", expected)

    sdk = ChatCompletionMessageToolCall(
        id="call_2", type="function", function={"name": "context_log", "arguments": json.dumps({"limit": 2})}
    )
    answer = t.execute_tool(sdk)
    assert (answer["role"], answer["tool_call_id"]) == ("tool", "call_2")
    assert [c["commit"] for c in json.loads(answer["content"])] == [c.hash[:12] for c in t.log(2)]

    anthropic = {"type": "tool_use", "id": "toolu_1", "name": "context_status", "input": {}}
    answer = t.execute_tool(anthropic)
    assert set(answer) == {"type", "tool_use_id", "content"}, "no is_error key on success"
    assert (answer["type"], answer["tool_use_id"]) == ("tool_result", "toolu_1")
    assert json.loads(answer["content"]) == expected

    langchain = {"name": "context_status", "args": {}, "id": "lc_1", "type": "tool_call"}
    answer = t.execute_tool(langchain)
    assert answer == {
        "role": "tool",
        "tool_call_id": "lc_1",
        "name": "context_status",
        "content": answer["content"],
        "status": "success",
    }
    assert json.loads(answer["content"]) == expected

    for arguments in ({"limit": 1}, '{"limit": 1}'):
        answer = t.execute_tool({"name": "context_log", "arguments": arguments})
        assert answer["name"] == "context_log" and answer["is_error"] is False
        assert json.loads(answer["content"])[0]["commit"] == t.head[:12]
    assert json.loads(t.execute_tool({"name": "context_status"})["content"]) == expected, "no arguments: {}"


def test_errors_in_every_shape_are_marked_as_errors(t: Tract) -> None:
    bad = {"name": "context_nope", "arguments": {}}
    openai_answer = t.execute_tool({"id": "c", "type": "function", "function": bad})
    assert openai_answer["role"] == "tool" and openai_answer["content"].startswith("Error: tool 'context_nope'")
    anthropic_answer = t.execute_tool({"type": "tool_use", "id": "tu", "name": "context_nope", "input": {}})
    assert anthropic_answer["is_error"] is True and anthropic_answer["tool_use_id"] == "tu"
    langchain_answer = t.execute_tool({"name": "context_nope", "args": {}, "id": "lc", "type": "tool_call"})
    assert langchain_answer["status"] == "error"
    assert t.execute_tool(bad)["is_error"] is True
    not_a_call = t.execute_tool("please compress")
    assert not_a_call["is_error"] is True and "has no tool name" in not_a_call["content"]


# -- bad calls: an error the model reads, nothing written -----------------------------------------

BAD_CALLS = {
    "unknown tool": (lambda h: plain("compact"), "tool 'context_compact' does not exist; the tools are:"),
    "outside the profile": (
        lambda h: {**plain("gc"), "profile": "self"},
        "tool 'context_gc' is not offered in the 'self' profile",
    ),
    "invalid JSON": (
        lambda h: {"id": "c", "type": "function", "function": {"name": "context_log", "arguments": '{"limit": 3'}},
        "the arguments are not valid JSON",
    ),
    "non-object JSON": (
        lambda h: {"name": "context_annotate", "arguments": json.dumps([h["first"], "pinned"])},
        "the arguments must be a JSON object, not list",
    ),
    "wrong type": (lambda h: plain("log", limit="many"), "limit: Input should be a valid integer"),
    "a boolean for a number": (lambda h: plain("log", limit=True), "bad arguments for log: limit"),
    "missing required": (lambda h: plain("annotate", commit=h["first"]), "priority: Field required"),
    "extra argument": (
        lambda h: plain("annotate", commit=h["first"], priority="pinned", forever=True),
        "forever: Extra inputs are not permitted",
    ),
    "bad choice": (lambda h: plain("annotate", commit=h["first"], priority="urgent"), "priority: Input should be"),
    "unknown commit": (
        lambda h: plain("annotate", commit="deadbeef00", priority="pinned"),
        "commit 'deadbeef00': no commit 'deadbeef00'",
    ),
    "unknown commit to edit": (lambda h: plain("edit", commit="0123abcd", content="x"), "Call context_log"),
    "commit not in HEAD's history": (
        lambda h: plain("annotate", commit=h["elsewhere"], priority="skip"),
        "is not in the current history",
    ),
    "compress nothing": (lambda h: plain("compress", keep_recent=40, summary=SUMMARY), "nothing was compressed"),
    "compress an inverted range": (
        lambda h: plain("compress", from_commit=h["last"], to_commit=h["first"], summary=SUMMARY),
        "nothing was compressed",
    ),
    "branch name taken": (lambda h: plain("branch", name="side"), "a branch named 'side' exists already"),
    "bad branch name": (lambda h: plain("branch", name="two words"), "is not a valid branch name"),
    "merge an unknown branch": (lambda h: plain("merge", source="nowhere"), "source 'nowhere'"),
    "switch to an unknown branch": (lambda h: plain("switch", branch="nowhere"), "no branch 'nowhere'"),
    "approve an unknown proposal": (lambda h: plain("approve", proposal=999), "has no proposal 999"),
    "archive the current branch": (lambda h: plain("archive_branch", name="main"), "'main' is checked out"),
    "restore what is not archived": (lambda h: plain("restore_branch", name="side"), "no branch 'archive/side'"),
    "reset to an unknown commit": (lambda h: plain("reset", commit="feedface"), "Call context_log"),
    "log limit out of range": (lambda h: plain("log", limit=0), "limit must be between 1 and 200"),
    "empty edit": (lambda h: plain("edit", commit=h["first"], content="  "), "content must not be empty"),
}


@pytest.fixture(scope="module")
def stocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Tract, dict[str, str]]]:
    """A tract with a side branch, an earlier executed and a pending proposal, and a policy log."""
    t = open_tract(tmp_path_factory.mktemp("bad") / "bad.db")
    history = [c.hash for c in reversed(t.log(None))]
    t.branch("side", switch=True)
    elsewhere = t.user("a message only the side branch has").hash
    t.switch("main")
    run(t, "annotate", commit=history[0][:12], priority="pinned")
    pending = t.execute_tool(plain("annotate", commit=history[2], priority="skip"), autonomy="manual")
    assert "waiting for approval" in pending["content"]
    assert len(t.proposals()) == 2 and len(t.policy_log(None)) == 2
    yield t, {"first": history[1], "last": history[-1], "elsewhere": elsewhere}
    t.close()


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_a_bad_call_is_an_error_the_model_can_read_and_writes_nothing(
    stocked: tuple[Tract, dict[str, str]], case: str
) -> None:
    t, hashes = stocked
    make, message = BAD_CALLS[case]
    for autonomy in ("autonomous", "manual"):
        call = make(hashes)
        profile = call.pop("profile", "full")
        with writes_nothing(t):
            answer = t.execute_tool(call, profile=profile, autonomy=autonomy)
        assert answer.get("is_error", answer.get("role") == "tool") is True
        assert answer["content"].startswith("Error: ")
        assert message in answer["content"], answer["content"]


def test_bad_calls_leave_every_row_of_the_database_as_it_was(stocked: tuple[Tract, dict[str, str]]) -> None:
    t, hashes = stocked
    digest = database_digest(t.store)  # every table, whatever it belongs to
    for make, _ in BAD_CALLS.values():
        call = make(hashes)
        profile = call.pop("profile", "full")
        for autonomy in ("autonomous", "collaborative", "manual"):
            assert t.execute_tool(dict(call), profile=profile, autonomy=autonomy)["content"].startswith("Error: ")
    assert database_digest(t.store) == digest


def test_a_compression_without_a_summarizer_asks_for_the_summary_and_works_with_one(t: Tract) -> None:
    with writes_nothing(t):
        answer = t.execute_tool(plain("compress", keep_recent=4))
    assert answer["is_error"] is True and "'summary'" in answer["content"], answer["content"]
    done = run(t, "compress", keep_recent=4, summary=SUMMARY)
    assert done["status"] == "executed"
    assert messages(t)[:2] == ["You are a billing assistant.", SUMMARY]


# -- context-changing calls go through proposals ------------------------------------------------


def test_manual_autonomy_makes_every_change_a_pending_proposal_until_someone_approves(t: Tract) -> None:
    target = t.log(None)[-2]  # the first question
    before = messages(t)
    answer = t.execute_tool(plain("annotate", commit=target.hash[:10], priority="skip"), autonomy="manual")
    data = json.loads(answer["content"])
    assert data["status"] == "pending"
    assert data["note"].startswith(f"waiting for approval (proposal {data['proposal']})")
    assert messages(t) == before and t.show(target).annotations == ()
    [pending] = t.pending_proposals()
    assert (pending.id, pending.policy, pending.kind) == (data["proposal"], "agent", "annotate")
    assert pending.params == {"target": target.hash, "priority": "skip"}

    assert t.approve_proposal(pending).status == "executed"
    assert target.content not in messages(t)


def test_collaborative_autonomy_runs_low_risk_changes_and_proposes_the_others(t: Tract) -> None:
    target = t.log(None)[-2]
    pin = run_with(t, plain("annotate", commit=target.hash, priority="pinned", reason="the key question"))
    assert pin["status"] == "executed" and pin["outcome"]["priority"] == "pinned"
    compress = run_with(t, plain("compress", keep_recent=4, summary=SUMMARY))
    assert compress["status"] == "pending" and "waiting for approval" in compress["note"]
    assert SUMMARY not in messages(t)

    seen = []
    approved = t.execute_tool(
        plain("compress", keep_recent=4, summary=SUMMARY), autonomy="collaborative", on_proposal=seen.append
    )
    assert json.loads(approved["content"])["status"] == "pending", "a callback returning None leaves it pending"
    assert [p.kind for p in seen] == ["compress"]

    approved = t.execute_tool(
        plain("compress", keep_recent=4, summary=SUMMARY), autonomy="collaborative", on_proposal=lambda p: True
    )
    data = json.loads(approved["content"])
    assert data["status"] == "executed" and data["outcome"]["summary"] is not None
    assert messages(t)[:3] == ["You are a billing assistant.", target.content, SUMMARY], "the pinned one survives"
    assert t.proposals()[-1].decided_by == "callback"

    rejected = t.execute_tool(plain("branch", name="idea"), autonomy="manual", on_proposal=lambda p: False)
    assert json.loads(rejected["content"])["status"] == "rejected"
    assert [b.name for b in t.list_branches()] == ["main"]


def run_with(t: Tract, call: dict[str, Any], autonomy: str = "collaborative") -> Any:
    answer = t.execute_tool(call, autonomy=autonomy)
    assert answer["is_error"] is False, answer["content"]
    return json.loads(answer["content"])


def test_autonomous_calls_execute_and_are_recorded_as_the_agents_proposals(tmp_path: Path) -> None:
    t = open_tract(tmp_path / "auto.db", llm=ScriptedLLM([SUMMARY], repeat_last=True))
    first = t.log(None)[-2]
    edited = run(t, "edit", commit=first.hash[:8], content="question 0 about the invoicing service")
    annotated = run(t, "annotate", commit=first.hash[:8], priority="pinned")
    branched = run(t, "branch", name="explore/pricing", switch=False)
    compressed = run(t, "compress", keep_recent=2)  # the tract's summarizer writes the summary
    assert {d["status"] for d in (edited, annotated, branched, compressed)} == {"executed"}

    assert messages(t) == [
        "You are a billing assistant.",
        "question 0 about the invoicing service",  # pinned (and edited): kept verbatim
        SUMMARY,
        "question 5 about the billing service",
        "answer 5 about the billing service",
    ]
    assert [(p.policy, p.kind, p.status, p.decided_by) for p in t.proposals()] == [
        ("agent", kind, "executed", "autonomy:autonomous") for kind in ("edit", "annotate", "branch", "compress")
    ]
    assert [e.decision for e in t.policy_log(None)] == ["executed"] * 4
    assert [b.name for b in t.list_branches()] == ["explore/pricing", "main"] and t.current_branch == "main"

    merged = run(t, "merge", source="explore/pricing")
    assert merged["status"] == "executed"
    t.branch("old")
    gc = t.execute_tool(plain("gc"), profile="supervisor")
    assert json.loads(gc["content"])["status"] == "executed"
    archived = t.execute_tool(plain("archive_branch", name="old"), profile="supervisor", autonomy="collaborative")
    assert json.loads(archived["content"])["status"] == "executed", "archiving is low risk"
    assert [b.name for b in t.list_branches(include_archived=True)] == ["archive/old", "explore/pricing", "main"]
    assert [p.kind for p in t.proposals()][-3:] == ["merge", "gc", "archive"]
    t.close()


def test_the_same_openai_call_sent_twice_is_one_proposal(t: Tract) -> None:
    target = t.log(None)[-2].hash
    call = {"id": "call_pin", "type": "function", "function": {"name": "context_annotate", "arguments": ""}}
    call["function"]["arguments"] = json.dumps({"commit": target, "priority": "pinned"})
    first = json.loads(t.execute_tool(call, autonomy="manual")["content"])
    again = json.loads(t.execute_tool(call, autonomy="manual")["content"])
    assert first["proposal"] == again["proposal"] and len(t.proposals()) == 1


# -- reading tools return what they say ---------------------------------------------------------


def test_reading_tools_report_the_tract_as_it_is(t: Tract) -> None:
    system, first_question = t.log(None)[-1], t.log(None)[-2]
    t.annotate(first_question.hash, "pinned", reason="the key question")
    t.commit(
        "answer 5 about the billing service, corrected",
        role="assistant",
        operation="edit",
        response_to=t.log(None)[0].hash,
    )
    t.branch("side")

    with writes_nothing(t):
        status = run(t, "status")
        log = run(t, "log", limit=3)
        show = run(t, "show", commit=first_question.hash[:9])
        overview = run(t, "overview", last=4)
        full_overview = run(t, "overview", last=500)
        health = run(t, "health")
        branches = json.loads(t.execute_tool(plain("branches"), profile="supervisor")["content"])

    s = t.status()
    assert (status["messages"], status["commits"], status["tokens"], status["token_budget"]) == (
        s.message_count,
        s.commit_count,
        s.token_count,
        s.token_budget,
    )
    assert status["budget_used"] == round(s.budget_ratio, 4) and status["head"] == s.head[:12]

    assert [entry["commit"] for entry in log] == [c.hash[:12] for c in t.log(3)], "newest first"
    assert log[0]["operation"] == "edit" and log[0]["edits"] == t.log(None)[1].hash[:12]

    assert show["commit"] == first_question.hash and show["text"] == "question 0 about the billing service"
    assert show["priority_history"][0]["priority"] == "pinned"
    assert show["priority_history"][0]["reason"] == "the key question"

    context = t.compile()
    assert overview["messages"] == len(context) == 13 and overview["tokens"] == context.token_count
    assert [line["index"] for line in overview["lines"]] == [10, 11, 12, 13]
    assert overview["shown_from"] == 10
    lines = full_overview["lines"]
    assert [line["commit"] for line in lines] == [context.entry(i).commit[:12] for i in range(len(context))]
    assert [line["pinned"] for line in lines] == [True, True] + [False] * 11, "the system prompt and the pin"
    assert lines[-1]["edited"] is True and lines[-1]["text"] == "answer 5 about the billing service, corrected"
    assert lines[0]["text"] == system.content

    assert health == t.health().to_json()
    assert [(b["name"], b["current"]) for b in branches] == [("main", True), ("side", False)]


def test_supervisor_tools_list_proposals_diffs_and_sub_agents(t: Tract) -> None:
    pending = t.execute_tool(plain("annotate", commit=t.head, priority="skip"), autonomy="manual")
    proposal = json.loads(pending["content"])["proposal"]

    def call(tool: str, /, **arguments: Any) -> Any:
        answer = t.execute_tool(plain(tool, **arguments), profile="supervisor")
        assert answer["is_error"] is False, answer["content"]
        return json.loads(answer["content"])

    listed = call("proposals")
    assert [(p["id"], p["by"], p["kind"], p["status"]) for p in listed] == [(proposal, "agent", "annotate", "pending")]
    assert call("approve", proposal=proposal)["status"] == "executed"
    assert call("proposals") == [] and [p["id"] for p in call("proposals", status="executed")] == [proposal]

    earlier = t.log(3)[2]
    diff = call("diff", a=earlier.hash[:12])
    expected = t.diff(earlier.hash)
    assert [(c["kind"], c["commit"]) for c in diff["changes"]] == [
        (c.kind, (c.hash_b or c.hash_a)[:12]) for c in expected.changes
    ]
    assert diff["changes"] and diff["token_delta"] == expected.token_delta

    child = call("spawn", name="researcher")
    assert child["messages"] == 1, "a sub-agent starts with the pinned system prompt"
    assert [c["tract"] for c in call("children")] == [child["tract"]]


def test_a_call_id_reused_at_a_later_head_is_a_new_action_and_a_retry_at_the_same_head_runs_once() -> None:
    t = Tract.open()
    t.system("Be brief.")
    first = t.user("first")
    call = {
        "id": "call_0",
        "type": "function",
        "function": {"name": "context_annotate", "arguments": json.dumps({"commit": first.hash, "priority": "pinned"})},
    }
    done = t.execute_tool(call)
    again = t.execute_tool(call)  # a framework retrying the very same call: recorded and executed once
    assert json.loads(done["content"])["proposal"] == json.loads(again["content"])["proposal"]
    assert len(t.proposals(status="executed")) == 1
    t.user("second")
    unpin = {
        "id": "call_0",
        "type": "function",
        "function": {"name": "context_annotate", "arguments": json.dumps({"commit": first.hash, "priority": "normal"})},
    }
    t.execute_tool(unpin)
    t.user("third")
    t.execute_tool(call)  # the same id and arguments as the first call, at a later HEAD: pinned again
    assert [p.status for p in t.proposals()] == ["executed", "executed", "executed"]
    assert [str(a.priority) for a in t.show(first).annotations][-1] == "pinned"


def test_a_compression_with_no_summarizer_is_refused_when_it_would_run_and_waits_for_a_summary_otherwise(
    tmp_path: Path,
) -> None:
    t = open_tract(tmp_path / "nosummary.db")
    before = len(t.compile())
    refused = t.execute_tool(plain("compress", keep_recent=2))  # autonomous: it would run now and fail
    assert refused["is_error"] and "write the summary yourself in 'summary'" in refused["content"]
    assert t.proposals() == [] and t.policy_log(None) == []
    waiting = json.loads(t.execute_tool(plain("compress", keep_recent=2), autonomy="manual")["content"])
    assert waiting["status"] == "pending"  # a person can approve it with the summary they write
    t.approve_proposal(waiting["proposal"], content="The earlier turns, in short.")
    texts = [m["content"] for m in t.compile().messages]
    assert (
        "The earlier turns, in short." in texts
        and len(texts) < before
        and texts[-1] == "answer 5 about the billing service"
    )
