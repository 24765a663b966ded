"""The orchestrator (DESIGN §13; scenarios 7.2, 7.3, X.1, X.2): ``t.health()``, triggers, the
deterministic rules, callbacks deciding its proposals, the LLM mode, and the two cross-cutting
scenarios end to end.

Tracts are real SQLite files. Models are deterministic :class:`ScriptedLLM`: a summariser, a model
that answers "nothing to do" (one call per run, so its call count counts the runs), and models that
call the tools well or badly.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tract_core import InvalidInputError, Tract, TractConfig
from tract_core.clock import use_clock
from tract_core.orchestrator import ORCHESTRATOR_PROMPT, OrchestratorConfig, TriggerConfig
from tract_core.policies import BranchPolicy, PinPolicy, cached_prefix_lost
from tract_core.testing import ScriptedLLM, database_digest, store_snapshot, tool_reply

SUMMARY = "Summary: the early visit notes (items 1 to 40) were reviewed."
DAY = 86_400.0
T0 = 1_800_000_000.0


def contents(t: Tract) -> list[str]:
    return [m["content"] for m in t.compile().to_openai()]


def summariser(text: str = SUMMARY) -> ScriptedLLM:
    return ScriptedLLM([text], repeat_last=True)


def quiet_model() -> ScriptedLLM:
    """An orchestrator model that finds nothing to do: one call per run."""
    return ScriptedLLM(["Nothing needs doing."], repeat_last=True)


def note(i: int) -> str:
    return f"Visit note {i}: the patient reports item {i} of the history."


def stored_state(t: Tract) -> tuple[Any, ...]:
    return store_snapshot(t), t.proposals(), t.policy_log(None), t.compressions()


class Clock:
    """A clock the test moves (tract_core.clock.use_clock)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    moved = Clock()
    with use_clock(moved):
        yield moved


@pytest.fixture(scope="module")
def fifty_notes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A closed SQLite file holding 50 visit notes (about 88% of an 800-token budget); copied per test."""
    path = tmp_path_factory.mktemp("template") / "notes.db"
    with Tract.open(path, config=TractConfig(token_budget=800)) as t, t.batch():
        hashes = [t.commit(note(i), role="user" if i % 2 else "assistant").hash for i in range(1, 51)]
    return path, hashes


def open_copy(template: tuple[Path, list[str]], tmp_path: Path, **config: Any) -> tuple[Tract, list[str]]:
    path, hashes = template
    shutil.copy(path, tmp_path / "notes.db")
    return Tract.open(tmp_path / "notes.db", config=TractConfig(token_budget=800, **config)), hashes


# -- health ---------------------------------------------------------------------------------------


def test_budget_pressure_is_the_compiled_context_over_the_budget(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "h.db", config=TractConfig(token_budget=200))
    t.configure_orchestrator(OrchestratorConfig(compress_at=0.5))
    severities = []
    for i in range(14):
        t.user(note(i))
        item = t.health()["budget_pressure"]
        status = t.status()
        assert item.value == round(status.token_count / 200, 4)
        assert item.details == {"tokens": status.token_count, "budget": 200, "threshold": 0.5}
        expected = "act" if item.value >= 0.5 else "warn" if item.value >= 0.4 else "ok"
        assert item.severity == expected
        severities.append(item.severity)
    assert severities[0] == "ok" and severities[-1] == "act" and "warn" in severities
    assert f"context at {t.status().token_count / 200:.0%} of 200 tokens (compress at 50%)" == item.reason

    no_budget = Tract.open(tmp_path / "free.db")
    no_budget.user("hello")
    free = no_budget.health()["budget_pressure"]
    assert (free.value, free.severity) == (0.0, "ok") and "no token budget" in free.reason


def test_fragmentation_counts_summaries_of_separate_compressions(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "f.db")
    summaries = []
    for k in range(3):
        stretch = [t.user(f"stretch {k} message {i}").hash for i in range(3)]
        done = t.compress(f"summary {k}", from_commit=stretch[0], to_commit=stretch[-1])
        summaries.append(done.summary.hash)
        item = t.health()["fragmentation"]
        assert item.value == k + 1 and item.details["summaries"] == summaries
        assert item.severity == ("warn" if k == 2 else "ok")
    assert "3 summaries" in item.reason and "one compression over them would tidy it" in item.reason


def test_a_branch_idle_past_stale_days_is_stale(tmp_path: Path, clock: Clock) -> None:
    t = Tract.open(tmp_path / "s.db")
    t.user("start")
    t.branch("idea", switch=True)
    t.user("an idea")
    t.switch("main")
    clock.now += 6.9 * DAY
    t.user("main goes on")
    assert t.health()["stale_branches"].value == 0
    clock.now += 0.2 * DAY
    item = t.health()["stale_branches"]
    assert (item.value, item.severity) == (1, "act")
    assert [(b["name"], b["idle_days"]) for b in item.details["branches"]] == [("idea", 7.1)]
    assert "idea" in item.reason

    t.configure_orchestrator(OrchestratorConfig(stale_days=10))
    assert t.health()["stale_branches"].value == 0
    clock.now += 30 * DAY
    assert [b["name"] for b in t.health()["stale_branches"].details["branches"]] == ["idea"], "never the current one"


def test_oversized_tool_outputs_outside_the_newest_messages_are_counted(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "o.db", config=TractConfig(token_budget=20_000))
    t.configure_orchestrator(OrchestratorConfig(tool_output_tokens=300, keep_recent=4))
    old = tool_round(t, "c1", "row " * 400)
    tool_round(t, "c2", "row " * 50)  # small
    pinned = tool_round(t, "c3", "row " * 400)
    t.annotate(pinned, "pinned")
    for i in range(3):
        t.user(f"follow-up {i}")
    tool_round(t, "c4", "row " * 400)  # among the newest 4 messages
    item = t.health()["oversized_tool_outputs"]
    assert (item.value, item.severity) == (1, "act")
    assert item.details["limit"] == 300
    assert [o["commit"] for o in item.details["outputs"]] == [old]
    assert item.details["outputs"][0]["tokens"] == t.show(old).token_count > 300
    assert "outside the newest 4 messages" in item.reason


def tool_round(t: Tract, call_id: str, output: str) -> str:
    """An assistant tool call and its result; returns the result's commit."""
    t.assistant(
        None, tool_calls=[{"id": call_id, "type": "function", "function": {"name": "search", "arguments": "{}"}}]
    )
    return t.tool_result(call_id, output).hash


def test_pending_proposals_are_counted(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "p.db")
    first = t.user("first").hash
    second = t.user("second").hash
    assert t.health()["pending_proposals"].value == 0
    for target in (first, second):
        call = {"name": "context_annotate", "arguments": {"commit": target, "priority": "pinned"}}
        t.execute_tool(call, autonomy="manual")
    item = t.health()["pending_proposals"]
    ids = [p.id for p in t.pending_proposals()]
    assert (item.value, item.severity, item.details["ids"]) == (2, "warn", ids)
    assert "#1 annotate by agent" in item.reason


X1_ARCHITECTURE = [
    "We are splitting the billing monolith into services. Where should the service boundaries go?",
    "Draw the boundaries around business capabilities: invoicing, payments, subscriptions and tax. Each service "
    "owns its data and exposes it only through its API.",
    "Should the services share one Postgres database or get a database each?",
    "A database per service. A shared database couples the services through the schema, so one migration can "
    "break three deployments. Each service owns its tables.",
    "How do the invoicing and payments services talk when an invoice is paid?",
    "Publish an InvoicePaid event on the event bus. Payments consumes it asynchronously, so invoicing never waits "
    "on payments and a payments outage does not block invoicing.",
    "Which event bus: Kafka or RabbitMQ for these services?",
    "Kafka, because you want to replay the event log when a new service joins, and the partitioned log keeps "
    "events for one invoice in order.",
    "What about the API gateway in front of the services?",
    "One gateway handles authentication, rate limits and routing to each service. Keep business logic out of the "
    "gateway so the services stay independent.",
    "How do we keep data consistent across services without distributed transactions?",
    "Use a saga: each service commits its local transaction and publishes an event; a failed step publishes a "
    "compensating event that the earlier services consume to undo their part.",
    "And the outbox pattern for publishing the events reliably from each service?",
    "Yes: write the event into an outbox table in the same database transaction as the business change, and a "
    "relay publishes the outbox rows to Kafka. No event is lost when a service crashes.",
]
X1_TANGENT = [
    "Side question: should our Python variables use camelCase or snake_case? The team keeps arguing about it.",
    "PEP 8 says snake_case for variables and functions, CapWords for classes and UPPER_CASE for constants. Pick "
    "that and let a linter enforce it.",
    "And booleans? Prefix them with is_ or has_, or leave the prefix off?",
    "Prefixes like is_active or has_children read as questions, which makes conditionals read naturally. Most "
    "style guides recommend them for flags.",
    "What about abbreviations inside names, like HTTPClient versus HttpClient?",
    "Treat acronyms as words: HttpClient and parse_url. Capitalised acronyms glued together, like HTTPSURLParser, "
    "are hard to read.",
    "Should private helpers start with one underscore or two underscores?",
    "One leading underscore marks a name as internal. Two underscores trigger name mangling, which is rarely what "
    "anyone wants.",
    "URLs: kebab-case or underscores in the path segments?",
    "Kebab-case with lowercase letters is the common convention for paths; underscores hide under link underlines "
    "and look odd.",
]
X1_BACK = [
    "Back to the services: how should payments handle a retried InvoicePaid event?",
    "Make the consumer idempotent: store the event id with the payment and ignore an event whose id is already "
    "stored, so a redelivered event never charges twice.",
]
X1_SUMMARY = (
    "Naming side discussion: snake_case for variables, is_/has_ prefixes for booleans, acronyms written as words "
    "(HttpClient), one leading underscore for private helpers, kebab-case URL paths."
)


def say(t: Tract, texts: list[str], start_role: str = "user") -> list[str]:
    roles = ("user", "assistant") if start_role == "user" else ("assistant", "user")
    return [t.commit(text, role=roles[i % 2]).hash for i, text in enumerate(texts)]


def test_tangent_branches_are_stalled_by_their_length_or_by_being_left(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "t.db")
    t.configure_policies([BranchPolicy()], autonomy="autonomous")
    t.configure_orchestrator(OrchestratorConfig(tangent_limit=8))
    t.system("You are a software architect helping a team.")
    architecture = say(t, X1_ARCHITECTURE)
    assert t.health()["tangent_branches"].value == 0
    tangent = say(t, X1_TANGENT[:6])
    assert t.current_branch == "tangent/1", "BranchPolicy moved the tangent to its own branch"
    item = t.health()["tangent_branches"]
    [found] = item.details["tangents"]
    assert (item.value, item.severity) == (1, "warn")
    assert (found["name"], found["into"], found["at"]) == ("tangent/1", "main", architecture[-1])
    assert (found["messages"], found["current"], found["stalled"]) == (6, True, False)

    say(t, X1_TANGENT[6:8])  # 8 messages of its own: as long as tangent_limit
    item = t.health()["tangent_branches"]
    assert item.severity == "act" and item.details["tangents"][0]["stalled"] is True
    assert "tangent/1: 8 messages" in item.reason

    t.configure_orchestrator(OrchestratorConfig(tangent_limit=20))
    assert t.health()["tangent_branches"].severity == "warn"
    t.switch("main")  # the conversation left it
    [found] = t.health()["tangent_branches"].details["tangents"]
    assert (found["current"], found["stalled"]) == (False, True)
    assert tangent[0] not in {c.hash for c in t.log(None)}


def test_health_is_read_only_and_reads_as_text_and_json(tmp_path: Path, clock: Clock) -> None:
    t = Tract.open(tmp_path / "r.db", config=TractConfig(token_budget=2000))
    t.configure_orchestrator(OrchestratorConfig(tool_output_tokens=100, keep_recent=2))
    t.user("start")
    t.branch("idea")
    tool_round(t, "c1", "row " * 200)
    t.execute_tool({"name": "context_annotate", "arguments": {"commit": t.head, "priority": "skip"}}, autonomy="manual")
    for i in range(3):
        t.user(f"message {i}")
    clock.now += 8 * DAY
    digest, state = database_digest(t.store), stored_state(t)
    report = t.health()
    assert database_digest(t.store) == digest and stored_state(t) == state

    assert [i.name for i in report] == [
        "budget_pressure",
        "fragmentation",
        "stale_branches",
        "tangent_branches",
        "oversized_tool_outputs",
        "pending_proposals",
    ]
    assert [i.name for i in report.findings] == ["stale_branches", "oversized_tool_outputs", "pending_proposals"]
    assert report.healthy is False
    lines = report.text().splitlines()
    assert lines[0] == f"Context on main: {t.status().token_count:,} tokens of 2,000."
    assert lines[3].startswith("- stale_branches = 1 [act]: 1 branches with no commit for 7 days: idea")
    data = report.to_json()
    assert json.loads(json.dumps(data)) == data and data["head"] == t.head[:12]
    with pytest.raises(KeyError):
        report["nothing"]


# -- triggers -------------------------------------------------------------------------------------


def test_on_commit_count_runs_exactly_every_n_commits(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "c.db")
    model = quiet_model()
    t.configure_orchestrator(OrchestratorConfig(triggers=TriggerConfig(on_commit_count=3), llm=model))
    runs = []
    for i in range(10):
        t.user(f"message {i}")
        runs.append(model.calls)
    assert runs == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3]
    assert t.orchestrate().stopped == "done" and model.calls == 4, "orchestrate() runs at once, whatever the count"
    assert [p["role"] for p in model.prompts[0]] == ["system", "user"]


def test_on_token_threshold_runs_once_per_crossing(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "k.db", config=TractConfig(token_budget=300))
    model = quiet_model()
    t.configure_orchestrator(OrchestratorConfig(triggers=TriggerConfig(on_token_threshold=0.5), llm=model))
    runs = []
    for i in range(20):
        t.user(note(i))
        runs.append((t.status().token_count >= 150, model.calls))
    crossing = next(i for i, (above, _) in enumerate(runs) if above)
    assert all(calls == 0 for _, calls in runs[:crossing])
    assert all(calls == 1 for _, calls in runs[crossing:]), "once per crossing, not once per commit above"

    t.compress("Summary of the notes.", keep_recent=1)
    t.user("a short one")
    assert t.status().token_count < 150 and model.calls == 1
    for i in range(20):
        t.user(note(100 + i))
        if t.status().token_count >= 150:
            break
    assert model.calls == 2, "crossing again after the context dropped below runs it again"


def test_a_crossing_right_after_the_orchestrators_own_compression_runs_it_again(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "again.db", config=TractConfig(token_budget=400, llm=summariser("Short summary.")))
    t.configure_orchestrator(
        OrchestratorConfig(triggers=TriggerConfig(on_token_threshold=0.5), keep_recent=2, gc=False)
    )
    for i in range(30):  # up to the first crossing, where the orchestrator compresses
        t.user(note(i))
        if t.proposals():
            break
    assert [p.kind for p in t.proposals()] == ["compress"] and t.status().token_count < 200
    big = t.user("long report: " + "lab value normal, " * 60)  # this one commit crosses the threshold again
    assert t.compile(at_commit=big.hash).token_count >= 200
    assert [(p.kind, p.status) for p in t.proposals()] == [("compress", "executed")] * 2


def test_inside_a_batch_the_trigger_waits_for_the_commit_and_a_rollback_runs_nothing(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "b.db")
    model = quiet_model()
    t.configure_orchestrator(OrchestratorConfig(triggers=TriggerConfig(on_commit_count=5), llm=model))
    with t.batch():
        for i in range(12):
            t.user(f"batched {i}")
        assert model.calls == 0, "nothing runs inside the batch"
    assert model.calls == 1, "one run after the batch committed"

    t.user("one")
    with pytest.raises(RuntimeError), t.batch():
        for i in range(6):
            t.user(f"rolled back {i}")
        raise RuntimeError("abandon the batch")
    assert model.calls == 1, "a rolled-back batch runs nothing"
    t.user("two")
    assert model.calls == 1, "rolled-back commits do not count: 2 commits since the last run, not 8"

    with t.batch():
        for i in range(3):
            t.user(f"batched again {i}")
    assert model.calls == 2, "after a rollback, a batch that commits still runs the orchestrator"


def test_paused_nothing_automatic_runs_until_resumed(tmp_path: Path) -> None:
    path = tmp_path / "pause.db"
    t = Tract.open(path)
    model = quiet_model()
    t.configure_policies([PinPolicy(patterns=["must never"])], autonomy="autonomous")
    t.configure_orchestrator(OrchestratorConfig(triggers=TriggerConfig(on_commit_count=1), llm=model))
    t.pause_orchestrator()
    assert t.orchestrator_paused
    with Tract.open(path) as other:
        assert other.orchestrator_paused, "the pause is stored: every handle and process sees it"

    hidden = t.user("You must never quote the old price list.")
    t.user("another message")
    assert model.calls == 0 and t.proposals() == [] and t.show(hidden).annotations == ()
    run = t.orchestrate()
    assert (run.stopped, run.health, run.steps, model.calls) == ("paused", None, (), 0)

    t.resume_orchestrator()
    assert not t.orchestrator_paused
    t.user("You must never promise a delivery date.")
    assert model.calls == 1
    assert [(p.policy, p.kind, p.status) for p in t.proposals()] == [("pin", "annotate", "executed")]


def test_the_configuration_persists_without_the_model_and_callbacks(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "persist.db"
    config = OrchestratorConfig(
        triggers=TriggerConfig(on_commit_count=2, on_token_threshold=0.9),
        autonomy="collaborative",
        callbacks=lambda p: True,
        llm=quiet_model(),
        max_steps=4,
        keep_recent=3,
        stale_days=2,
    )
    with Tract.open(path) as t:
        t.user("start")
        t.branch("idea")
        assert t.configure_orchestrator(config) is config
    clock.now += 3 * DAY

    with Tract.open(path) as t:
        restored = t.orchestrator_config
        assert restored == config, "triggers, autonomy, thresholds: everything stored"
        assert restored.llm is None and restored.callbacks is None, "the model and the callbacks are not stored"
        t.user("one")
        assert t.proposals() == []
        t.user("two")  # the restored trigger fires; the rules archive the stale branch (low risk)
        assert [(p.policy, p.kind, p.status) for p in t.proposals()] == [("orchestrator", "archive", "executed")]
        assert [b.name for b in t.list_branches(include_archived=True)] == ["archive/idea", "main"]

    with Tract.open(path, policies=False) as inspector:
        assert inspector.orchestrator_config is None, "an inspection handle runs nothing"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TriggerConfig(on_commit_count=0), "on_commit_count must be a positive integer"),
        (lambda: TriggerConfig(on_commit_count=2.5), "on_commit_count must be a positive integer"),
        (
            lambda: TriggerConfig(on_token_threshold=1.5),
            r"on_token_threshold is a share of the token budget in \(0, 1\], not 1.5",
        ),
        (lambda: TriggerConfig(on_token_threshold=0), "on_token_threshold is a share"),
        (lambda: OrchestratorConfig(profile="x"), "profile must be 'self', 'supervisor' or 'full'"),
        (lambda: OrchestratorConfig(autonomy="sometimes"), "orchestrator autonomy must be 'manual'"),
        (lambda: OrchestratorConfig(callbacks=3), "callbacks must be a callable or a list of them"),
        (lambda: OrchestratorConfig(callbacks=[print, 3]), "callbacks must be callables"),
        (lambda: OrchestratorConfig(max_steps=0), "max_steps must be a positive integer"),
        (lambda: OrchestratorConfig(keep_recent=-1), "keep_recent must be 0 or more"),
        (lambda: OrchestratorConfig(triggers={"on_commit_count": 3}), "triggers must be a TriggerConfig"),
        (lambda: OrchestratorConfig(gc="yes"), "gc must be True or False"),
    ],
)
def test_a_bad_configuration_is_a_clear_error(make: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        make()


def test_configure_orchestrator_refuses_what_is_not_a_config(tmp_path: Path) -> None:
    with Tract.open(tmp_path / "x.db") as t, pytest.raises(InvalidInputError, match="must be an OrchestratorConfig"):
        t.configure_orchestrator({"max_steps": 3})  # type: ignore[arg-type]


# -- the rules --------------------------------------------------------------------------------------


def test_under_pressure_the_rules_compress_all_but_the_newest_and_pinned_messages_survive(
    fifty_notes: tuple[Path, list[str]], tmp_path: Path
) -> None:
    t, hashes = open_copy(fifty_notes, tmp_path, llm=summariser())
    t.annotate(hashes[9], "pinned", reason="the diagnosis")
    share = t.status().token_count / 800
    t.configure_orchestrator(OrchestratorConfig(compress_at=0.8))

    digest = database_digest(t.store)
    planned = t.orchestrate(dry_run=True)
    assert database_digest(t.store) == digest, "a dry run writes nothing"
    [action] = planned.planned
    reason = (
        f"Context at {share:.0%} of 800 tokens; recommend compressing messages 1-44 (keep the last 6)"
        f"; drops a cached prefix of {cached_prefix_lost(t.compile()):,} tokens"
    )
    assert (planned.stopped, action.kind, action.params, action.reason) == (
        "dry_run",
        "compress",
        {"to_commit": hashes[43]},
        reason,
    )

    run = t.orchestrate()
    assert (run.mode, run.trigger, run.stopped) == ("rules", "manual", "done")
    assert [(s.tool, s.proposal.status) for s in run.steps] == [("compress", "executed"), ("gc", "executed")]
    assert run.steps[0].reason == reason and run.steps[0].proposal.policy == "orchestrator"
    assert contents(t) == [SUMMARY, note(10), *[note(i) for i in range(45, 51)]], "pinned kept verbatim"
    assert t.health()["budget_pressure"].severity == "ok"
    assert t.orchestrate().steps == (), "nothing left to do"


def test_the_rules_propose_no_compression_when_everything_older_is_pinned(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "pinned.db", config=TractConfig(token_budget=150, llm=summariser()))
    t.system("You are the support agent of Acme. " * 8)
    for i in range(3):
        t.annotate(t.user(f"Rule {i}: never promise a delivery date.").hash, "pinned")
    for i in range(6):
        t.user(f"question {i}")
    t.configure_orchestrator(OrchestratorConfig(triggers=TriggerConfig(on_commit_count=1), keep_recent=7))
    assert t.health()["budget_pressure"].severity == "act", "the pressure is real, but pinned messages cannot go"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no failing action, no warning
        run = t.orchestrate()
        t.user("question 6")
    assert run.steps == () and run.stopped == "done"
    assert t.proposals() == [] and t.policy_log(None) == [], "nothing doomed to fail is recorded"


def test_gc_follows_a_compression_only_when_configured(fifty_notes: tuple[Path, list[str]], tmp_path: Path) -> None:
    t, _ = open_copy(fifty_notes, tmp_path, llm=summariser())
    t.configure_orchestrator(OrchestratorConfig(gc=False, keep_recent=10))
    run = t.orchestrate()
    assert [s.tool for s in run.steps] == ["compress"] and len(contents(t)) == 11


def test_oversized_tool_outputs_are_hidden_and_stale_branches_archived(tmp_path: Path, clock: Clock) -> None:
    t = Tract.open(tmp_path / "rules.db", config=TractConfig(token_budget=20_000))
    t.configure_orchestrator(OrchestratorConfig(tool_output_tokens=300, keep_recent=3, autonomy="collaborative"))
    t.user("Find the invoices of March.")
    t.branch("experiment")
    old = tool_round(t, "c1", "invoice line, " * 200)
    t.assistant("There are 200 invoices in March.")
    t.user("And April?")
    recent = tool_round(t, "c2", "invoice line, " * 200)
    clock.now += 8 * DAY

    run = t.orchestrate()
    assert [(s.tool, s.proposal.status) for s in run.steps] == [("annotate", "executed"), ("archive", "executed")]
    assert run.steps[0].arguments["targets"] == [old], "the recent output stays: it is among the newest 3"
    messages = t.compile().to_openai()
    assert [m["tool_call_id"] for m in messages if m["role"] == "tool"] == ["c2"]
    assert [c["id"] for m in messages for c in m.get("tool_calls") or []] == ["c2"], "the call goes with its output"
    assert t.show(old).content is not None, "hidden, still in history"
    assert t.show(recent).hash in {e.commit for e in t.compile().entries()}

    assert [b.name for b in t.list_branches()] == ["main"]
    assert [b.name for b in t.list_branches(include_archived=True)] == ["archive/experiment", "main"]
    assert t.restore_branch("experiment").name == "experiment"


# -- human in the loop (7.3) --------------------------------------------------------------------------


def test_a_callback_narrows_the_compression_compress_1_40_keep_41_50(
    fifty_notes: tuple[Path, list[str]], tmp_path: Path
) -> None:
    t, hashes = open_copy(fifty_notes, tmp_path, llm=summariser())
    asked = []

    def doctor(proposal: Any) -> Any:
        asked.append(proposal)
        return {"to_commit": hashes[39]} if proposal.kind == "compress" else True

    t.configure_orchestrator(OrchestratorConfig(callbacks=doctor))
    run = t.orchestrate()
    assert "recommend compressing messages 1-44 (keep the last 6); drops a cached prefix of " in asked[0].reason
    assert asked[0].params == {"to_commit": hashes[43]} and asked[0].status == "pending"
    compress = run.steps[0].proposal
    assert (compress.status, compress.decided_by, compress.params) == (
        "executed",
        "callback",
        {"to_commit": hashes[39]},
    )
    assert t.compressions()[-1].details["replaced"] == hashes[:40], "exactly notes 1-40"
    assert contents(t) == [SUMMARY, *[note(i) for i in range(41, 51)]]
    assert [s.tool for s in run.steps] == ["compress", "gc"] and run.stopped == "done"


def test_a_callback_approves_or_rejects(fifty_notes: tuple[Path, list[str]], tmp_path: Path) -> None:
    t, _ = open_copy(fifty_notes, tmp_path, llm=summariser())
    before = contents(t)
    answers: list[Any] = []
    t.configure_orchestrator(OrchestratorConfig(callbacks=lambda p: answers.append(p.kind) or False, gc=True))
    run = t.orchestrate()
    assert [(s.tool, s.proposal.status, s.proposal.decided_by) for s in run.steps] == [
        ("compress", "rejected", "callback")
    ]
    assert contents(t) == before and answers == ["compress"], "rejected: nothing changed, no gc"
    assert t.orchestrate().steps[0].proposal.status == "rejected" and answers == ["compress"], "not asked again"

    t.user("one more note")  # a new situation: a new proposal, this time approved by the second callback
    t.configure_orchestrator(OrchestratorConfig(callbacks=[lambda p: None, lambda p: True]))
    run = t.orchestrate()
    assert [(s.tool, s.proposal.status) for s in run.steps] == [("compress", "executed"), ("gc", "executed")]
    assert contents(t)[0] == SUMMARY and len(contents(t)) == 7


def test_a_callback_returning_none_leaves_the_proposal_for_later(
    fifty_notes: tuple[Path, list[str]], tmp_path: Path
) -> None:
    t, hashes = open_copy(fifty_notes, tmp_path, llm=summariser())
    t.configure_orchestrator(OrchestratorConfig(callbacks=lambda p: None))
    run = t.orchestrate()
    [waiting] = run.pending
    assert (waiting.kind, waiting.policy, waiting.params) == ("compress", "orchestrator", {"to_commit": hashes[43]})
    assert len(contents(t)) == 50 and t.pending_proposals() == [waiting]
    assert t.health()["pending_proposals"].value == 1

    assert t.approve_proposal(waiting).status == "executed"
    assert contents(t) == [SUMMARY, *[note(i) for i in range(45, 51)]]


def test_while_its_proposal_waits_the_orchestrator_does_not_propose_it_again(
    fifty_notes: tuple[Path, list[str]], tmp_path: Path
) -> None:
    t, hashes = open_copy(fifty_notes, tmp_path, llm=summariser())
    asked: list[Any] = []
    t.configure_orchestrator(
        OrchestratorConfig(triggers=TriggerConfig(on_commit_count=1), callbacks=asked.append, gc=False)
    )
    for i in range(51, 56):  # every commit runs the orchestrator, still under pressure
        t.user(note(i))
    [waiting] = t.pending_proposals()
    assert (waiting.kind, waiting.params) == ("compress", {"to_commit": hashes[44]}), "made at the first run"
    assert asked == [waiting], "the person is asked once, not after every commit"

    t.approve_proposal(waiting)
    t.user(note(56))
    assert t.pending_proposals() == [] and len(asked) == 1, "after the compression there is no pressure left"


# -- the LLM mode ---------------------------------------------------------------------------------


def test_a_model_compresses_through_the_tools(fifty_notes: tuple[Path, list[str]], tmp_path: Path) -> None:
    t, hashes = open_copy(fifty_notes, tmp_path)

    def model(messages: list[dict[str, Any]]) -> Any:
        if messages[-1]["role"] == "user":  # the health report: look first
            return tool_reply(("context_overview", {"last": 10}))
        if '"lines"' in messages[-1]["content"]:  # the overview: keep its last 10 lines
            first_kept = json.loads(messages[-1]["content"])["lines"][0]["index"]
            to_commit = hashes[first_kept - 2][:12]
            return tool_reply(("context_compress", {"to_commit": to_commit, "summary": SUMMARY}))
        return "Compressed the older notes; nothing else to do."

    llm = ScriptedLLM(model)
    t.configure_orchestrator(OrchestratorConfig(llm=llm))
    run = t.orchestrate()
    assert (run.mode, run.stopped, llm.calls) == ("llm", "done", 3)
    assert [(s.tool, s.is_error) for s in run.steps] == [("context_overview", False), ("context_compress", False)]
    proposal = run.steps[1].proposal
    assert (proposal.policy, proposal.kind, proposal.status) == ("orchestrator", "compress", "executed")
    assert contents(t) == [SUMMARY, *[note(i) for i in range(41, 51)]]

    first = llm.prompts[0]
    assert first == [
        {"role": "system", "content": ORCHESTRATOR_PROMPT},
        {"role": "user", "content": run.health.text()},
    ]
    assert llm.options[0]["tools"] == t.as_tools(profile="self", format="openai"), "the profile's tools"
    assert llm.prompts[2][-1]["role"] == "tool" and '"status": "executed"' in llm.prompts[2][-1]["content"]


def test_the_supervisor_profile_offers_its_own_tools(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "sup.db")
    t.user("hello")
    llm = quiet_model()
    t.configure_orchestrator(OrchestratorConfig(llm=llm, profile="supervisor"))
    assert t.orchestrate().stopped == "done"
    assert llm.options[0]["tools"] == t.as_tools(profile="supervisor")


def test_a_model_calling_tools_badly_reads_the_errors_and_is_stopped_having_written_nothing(
    fifty_notes: tuple[Path, list[str]], tmp_path: Path
) -> None:
    t, _ = open_copy(fifty_notes, tmp_path, llm=summariser())
    bad_json = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c9", "type": "function", "function": {"name": "context_show", "arguments": "{oops"}}],
    }
    llm = ScriptedLLM(
        [
            tool_reply(("context_shrink", {})),
            bad_json,
            tool_reply(("context_annotate", {"commit": "deadbeef", "priority": "pinned"})),
            "never reached",
        ]
    )
    t.configure_orchestrator(OrchestratorConfig(llm=llm))
    digest = database_digest(t.store)
    run = t.orchestrate()
    assert database_digest(t.store) == digest
    assert (run.stopped, llm.calls) == ("errors", 3)
    assert [s.is_error for s in run.steps] == [True] * 3

    unknown, not_json = llm.prompts[1][-1], llm.prompts[2][-1]
    assert unknown["role"] == "tool" and unknown["content"].startswith("Error: tool 'context_shrink' does not exist")
    assert "context_compress" in unknown["content"], "the error lists the tools there are"
    assert not_json["tool_call_id"] == "c9" and "not valid JSON" in not_json["content"]
    own_call = llm.prompts[2][-2]["tool_calls"][0]
    assert own_call["function"] == {"name": "context_show", "arguments": "{oops"}, "it sees what it sent, to fix it"
    assert "deadbeef" in run.steps[2].result["error"]


def test_a_good_call_between_bad_ones_resets_the_error_streak(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "streak.db")
    t.user("hello")
    bad = [tool_reply((f"context_nope_{i}", {})) for i in range(4)]
    llm = ScriptedLLM([bad[0], bad[1], tool_reply(("context_status", {})), bad[2], bad[3], "Done."])
    t.configure_orchestrator(OrchestratorConfig(llm=llm))
    run = t.orchestrate()
    assert (run.stopped, llm.calls) == ("done", 6)


def test_a_model_repeating_itself_is_stopped_as_a_loop(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "loop.db")
    t.user("hello")
    llm = ScriptedLLM([tool_reply(("context_log", {"limit": 5}))], repeat_last=True)
    t.configure_orchestrator(OrchestratorConfig(llm=llm))
    run = t.orchestrate()
    assert (run.stopped, len(run.steps), llm.calls) == ("loop", 3, 3)


def test_a_run_takes_at_most_max_steps_model_turns(tmp_path: Path) -> None:
    t = Tract.open(tmp_path / "steps.db")
    t.user("hello")
    llm = ScriptedLLM(lambda messages: tool_reply(("context_log", {"limit": len(messages)})))
    t.configure_orchestrator(OrchestratorConfig(llm=llm, max_steps=4))
    run = t.orchestrate()
    assert (run.stopped, len(run.steps), llm.calls) == ("max_steps", 4, 4)


def test_in_manual_mode_the_models_changes_wait_for_approval(
    fifty_notes: tuple[Path, list[str]], tmp_path: Path
) -> None:
    t, hashes = open_copy(fifty_notes, tmp_path)
    compress = tool_reply(("context_compress", {"to_commit": hashes[39], "summary": SUMMARY}))
    llm = ScriptedLLM([compress, "Proposed a compression."])
    t.configure_orchestrator(OrchestratorConfig(llm=llm, autonomy="manual"))
    run = t.orchestrate()
    assert run.stopped == "done" and [p.kind for p in run.pending] == ["compress"]
    assert "waiting for approval" in llm.prompts[1][-1]["content"] and len(contents(t)) == 50
    t.approve_proposal(run.pending[0])
    assert contents(t) == [SUMMARY, *[note(i) for i in range(41, 51)]]


# -- X.1: drift steering --------------------------------------------------------------------------


def test_x1_a_naming_tangent_is_branched_folded_into_one_summary_and_archived(tmp_path: Path) -> None:
    summary = summariser(X1_SUMMARY)
    t = Tract.open(tmp_path / "x1.db", config=TractConfig(token_budget=8000, llm=summary))
    t.configure_policies([BranchPolicy()], autonomy="autonomous")
    t.configure_orchestrator(OrchestratorConfig(triggers=TriggerConfig(on_commit_count=1), tangent_limit=10))
    system = "You are a software architect helping a team split a billing monolith."
    t.system(system)
    architecture = say(t, X1_ARCHITECTURE)
    tangent = say(t, X1_TANGENT)

    branched = t.proposals()[0]
    assert (branched.policy, branched.kind, branched.params["start"]) == ("branch", "branch", tangent[0])
    folded = t.proposals(status="executed")[1]
    assert (folded.policy, folded.kind, folded.params["branch"]) == ("orchestrator", "fold", "tangent/1")
    assert t.current_branch == "main", "back on track on the branch the tangent left"
    assert summary.calls == 1, "one summary for the whole tangent"
    asked = summary.prompts[0][-1]["content"]
    assert all(text in asked for text in X1_TANGENT) and X1_ARCHITECTURE[-1] not in asked

    back = say(t, X1_BACK)
    assert contents(t) == [system, *X1_ARCHITECTURE, X1_SUMMARY, *X1_BACK]
    main_history = {c.hash for c in t.log(None)}
    assert main_history.isdisjoint(tangent), "none of the tangent's messages is on main"
    assert set(architecture) | set(back) <= main_history
    assert [b.name for b in t.list_branches()] == ["main"]
    assert [b.name for b in t.list_branches(include_archived=True)] == ["archive/tangent/1", "main"]
    assert [t.show(h).content for h in tangent] == X1_TANGENT, "the originals stay readable in history"

    restored = t.restore_branch("tangent/1")
    assert restored.name == "tangent/1"
    tangent_side = [c.content for c in t.log(None, start="tangent/1")]
    assert X1_SUMMARY in tangent_side and X1_ARCHITECTURE[-1] in tangent_side
    assert not t.health()["tangent_branches"].details["tangents"][0]["stalled"], "folded already: not again"
    assert [s.tool for s in t.orchestrate().steps] == [] and summary.calls == 1


# -- X.2: a person steps in mid-conversation ------------------------------------------------------


def test_x2_pause_correct_the_quoted_price_pin_it_and_resume(tmp_path: Path) -> None:
    summary = summariser("Earlier: the customer compared the Basic and Pro plans.")
    t = Tract.open(tmp_path / "x2.db", config=TractConfig(token_budget=400, llm=summary))
    t.configure_orchestrator(
        OrchestratorConfig(triggers=TriggerConfig(on_commit_count=1, on_token_threshold=0.6), keep_recent=2)
    )
    t.system("You are the sales agent of Acme.")
    t.user("How much is the Pro plan?")
    wrong = t.assistant("The Pro plan costs $49 per month, billed monthly.")
    t.user("Does that include support?")

    t.pause_orchestrator()  # the supervisor noticed the outdated price
    for i in range(12):  # the conversation cannot stop: it goes on past the threshold, and nothing runs
        t.assistant(f"Support detail {i}: email support answers within one business day, every weekday.")
    assert t.health()["budget_pressure"].severity == "act" and t.proposals() == []
    position = [e.commit for e in t.compile().entries()].index(wrong.hash)
    size = len(t.compile())

    t.commit("The Pro plan costs $59 per month, billed monthly.", role="assistant", operation="edit", response_to=wrong)
    t.annotate(wrong.hash, "pinned", reason="corrected price, never compress it away")
    assert t.proposals() == [], "paused: the edit and the pin triggered nothing"
    t.resume_orchestrator()

    corrected = t.compile()
    assert len(corrected) == size, "the correction replaces the message, it adds none"
    entry = corrected.entry(position)
    assert entry.message["content"] == "The Pro plan costs $59 per month, billed monthly."
    assert (entry.edited, entry.pinned) == (True, True)
    assert not any("$49" in text for text in contents(t)), "as if the right price had always been there"

    t.user("Great, I'll take it.")  # the first commit after resuming: the orchestrator runs and compresses
    assert [(p.kind, p.status) for p in t.proposals()] == [("compress", "executed"), ("gc", "executed")]
    after = contents(t)
    assert after[:3] == [
        "You are the sales agent of Acme.",
        "Earlier: the customer compared the Basic and Pro plans.",
        "The Pro plan costs $59 per month, billed monthly.",
    ], "the pinned correction survives the compression verbatim"
    assert after[-1] == "Great, I'll take it." and len(after) == 5
    assert not any("$49" in str(m.get("content")) for prompt in summary.prompts for m in prompt)


def test_outline_gives_each_messages_commit_role_type_tokens_and_priority_like_entries() -> None:
    t = Tract.open()
    t.system("Be brief.")
    t.user("hi")
    t.assistant("hello")
    context = t.compile()
    assert list(context.outline()) == [
        (e.commit, e.role, e.content_type, e.tokens, e.priority) for e in context.entries()
    ]
