"""The notebook (``_repr_html_``) and terminal (``__rich__``) views of tract's objects.

Each view shows what a user looks for (roles, tokens, badges, branches, the budget), escapes every
piece of user data (hostile content is shown as text, never becomes markup), and stays small on huge
inputs. The views are built from a real tract in a SQLite file; the browser test
(``test_display_browser.py``) renders them in Chromium.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tract_core import CommitLog, CompiledContext, InvalidInputError, Tract, TractConfig
from tract_core.policies import PolicyAction
from tract_core.testing import tool_reply

SCRIPT = "<script>document.title='pwned'</script>"
IMG = '"><img src=x onerror="document.title=\'pwned\'">'
RICH_MARKUP = "[bold red]loud[/] [link=https://evil.example]click[/link]"

SAFE_TAGS = {"div", "span", "b", "table", "tr", "td", "th", "svg", "line", "path", "circle", "text", "tspan"}
SAFE_ATTRIBUTES = {
    "style", "title", "colspan", "xmlns", "width", "height", "viewbox", "x", "y", "x1", "y1", "x2", "y2",
    "cx", "cy", "r", "d", "fill", "stroke", "stroke-width", "font-size", "font-weight", "font-family", "opacity",
}  # fmt: skip


class _Page(HTMLParser):
    """What a browser would build from a view: its tags, attributes and text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.values: list[str] = []
        self.chunks: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)
        self.values.extend(value or "" for _, value in attrs)

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def assert_safe(markup: str) -> _Page:
    """The view is inert markup: known tags and attributes only, no handler, no script, no stylesheet."""
    page = _Page(markup)
    assert page.tags <= SAFE_TAGS, page.tags - SAFE_TAGS
    assert page.attributes <= SAFE_ATTRIBUTES, page.attributes - SAFE_ATTRIBUTES
    assert not any("javascript:" in value.lower() or "url(" in value.lower() for value in page.values)
    assert "<script" not in markup.lower() and "<img" not in markup.lower() and "<style" not in markup.lower()
    return page


@dataclasses.dataclass
class Scene:
    t: Tract
    system: str
    user: str
    secret: str
    reply: str
    edit: str
    draft: str


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """A tract named and filled with hostile text: a pinned system prompt, tool calls, a skipped
    message, a branch merged back, and an EDIT."""
    path = tmp_path_factory.mktemp("display") / "t.db"
    with Tract.open(path, tract_id=f"demo{SCRIPT}", config=TractConfig(token_budget=400)) as t:
        system = t.system(f"Rules {SCRIPT}").hash
        user = t.user(f"Hello {IMG}", metadata={"tags": [f"tag{SCRIPT}"], "note": IMG}).hash
        t.commit(tool_reply(("search", {"query": SCRIPT}), text="Looking"))
        t.tool_result("call_0", f"found {RICH_MARKUP}", name="search")
        secret = t.user("the password is hunter2").hash
        t.annotate(secret, "skip", reason=f"secret {SCRIPT}")
        t.branch("draft", switch=True)
        draft = t.assistant(f"draft {SCRIPT}").hash
        t.switch("main")
        reply = t.assistant("main answer\nsecond line").hash
        t.merge("draft")
        edit = t.commit(
            {"role": "assistant", "content": "main answer\nchanged line"}, operation="edit", response_to=reply
        ).hash
        yield Scene(t, system, user, secret, reply, edit, draft)


def views(scene: Scene) -> dict[str, Any]:
    t = scene.t
    return {
        "tract": t,
        "status": t.status(),
        "context": t.compile(),
        "log": t.log(),
        "commit": t.show(scene.user),
        "diff": t.diff(scene.system, "main"),
        "snapshot": t.snapshot(),
        "health": t.health(),
    }


@pytest.mark.parametrize("name", ["tract", "status", "context", "log", "commit", "diff", "snapshot", "health"])
def test_every_view_is_inert_markup_that_shows_hostile_text_as_text(scene: Scene, name: str) -> None:
    view = views(scene)[name]
    markup = view._repr_html_()
    page = assert_safe(markup)
    assert SCRIPT not in markup and IMG not in markup
    if name != "health":  # the health report quotes no message, name or metadata
        assert SCRIPT in page.text or IMG in page.text  # the user sees exactly what was written
        assert "&lt;script&gt;" in markup or "&lt;img" in markup


def test_context_view_is_chat_bubbles_with_tokens_badges_and_tool_calls(scene: Scene) -> None:
    context = scene.t.compile()
    markup = context._repr_html_()
    text = assert_safe(markup).text
    for entry in context.entries():
        assert f"{entry.tokens} tok" in text and entry.commit[:12] in text
    assert [role for role in ("system", "user", "assistant", "tool") if f">{role}</b>" in markup] == [
        "system",
        "user",
        "assistant",
        "tool",
    ]
    assert text.count("PINNED") == sum(e.pinned for e in context.entries()) == 1  # the system prompt
    assert text.count("EDITED") == 1 and "changed line" in text and "second line" not in text
    assert "hunter2" not in text and "SKIP" not in text  # a skipped message is not in the context
    assert f'⚙ search(query="{SCRIPT}")' in text  # the tool call, as a compact block
    assert "result of call_0" in text and RICH_MARKUP in text
    assert f"{len(context)} messages" in text and f"{context.token_count} tokens" in text


def test_a_long_message_is_cut_and_a_huge_context_shows_its_ends(tmp_path: Path) -> None:
    with Tract.open(tmp_path / "big.db") as t:
        t.user("x" * 5_000 + "THE-END")
        with t.batch():
            for i in range(1, 250):
                t.user(f"message number {i}.")
        context = t.compile()
        text = assert_safe(context._repr_html_()).text
    assert "x" * 2_000 in text and "x" * 2_001 not in text and "THE-END" not in text
    assert "… 3,007 more chars" in text
    assert "message number 49." in text and "message number 150." in text and "message number 249." in text
    assert "message number 50." not in text and "message number 149." not in text
    assert "… 100 more messages …" in text


def test_a_context_built_by_hand_shows_its_messages_without_tokens() -> None:
    context = CompiledContext([{"role": "user", "content": f"hi {SCRIPT}"}], ["c0ffee"], 9, None)
    text = assert_safe(context._repr_html_()).text
    assert f"hi {SCRIPT}" in text and "c0ffee" in text and " tok" not in text.replace("9 tokens", "")


def test_diff_view_puts_the_contexts_side_by_side(scene: Scene) -> None:
    t = scene.t
    edited = t.diff(scene.reply, scene.edit)  # the merge brought the draft in, the EDIT changed a line
    markup = edited._repr_html_()
    text = assert_safe(markup).text
    assert "+1 added" in text and "-0 removed" in text and "~1 changed" in text
    assert f"draft {SCRIPT}" in text
    removed_line = 'background:rgba(239,68,68,0.18);min-height:1.2em">second line</div>'
    added_line = 'background:rgba(34,197,94,0.18);min-height:1.2em">changed line</div>'
    assert removed_line in markup and added_line in markup
    assert markup.index(removed_line) < markup.index(added_line)  # before on the left, after on the right
    assert "no differences" in t.diff("main", "main")._repr_html_()
    back = assert_safe(t.diff(scene.edit, scene.system)._repr_html_()).text
    assert "-0 removed" not in back and "Looking" in back  # the messages after the system prompt, removed


def test_log_is_still_a_list(scene: Scene) -> None:
    log = scene.t.log()
    assert isinstance(log, CommitLog) and isinstance(log, list)
    assert log == list(log) and list(log) == log and repr(log) == repr(list(log))
    assert type(log[:2]) is list and log[0].hash == scene.t.head
    again = pickle.loads(pickle.dumps(log))
    assert type(again) is CommitLog and again == log and again.labels == {}


def test_log_view_draws_the_branch_graph_when_it_forks(scene: Scene, tmp_path: Path) -> None:
    log = scene.t.log()
    markup = log._repr_html_()
    text = assert_safe(markup).text
    assert log.labels[log[0].hash] == ["HEAD -> main"] and "HEAD -> main" in text and "draft" in text
    assert markup.count("<svg") == len(log)  # a slice of the graph in each row
    assert all(c.short_hash in text for c in log) and all(c.preview(72) in text for c in log)
    with Tract.open(tmp_path / "line.db") as t:
        t.system("one")
        t.user("two")
        linear = t.log()
        assert "<svg" not in linear._repr_html_() and "two" in linear._repr_html_()
    assert linear.labels == {}  # the tract is closed: no refs to show
    assert "two" in assert_safe(linear._repr_html_()).text
    assert "no commits" in CommitLog()._repr_html_()


@pytest.mark.parametrize(
    ("budget", "colour", "width"),
    [(None, None, None), (1_000, "#16a34a", "4.7%"), (70, "#d97706", "67.1%"), (40, "#dc2626", "100.0%")],
)
def test_status_shows_a_budget_bar_coloured_by_fill(
    tmp_path: Path, budget: int | None, colour: Any, width: Any
) -> None:
    with Tract.open(tmp_path / "s.db") as t:
        t.user("word " * 40)
        status = t.status()
    assert status.token_count == 47
    status = dataclasses.replace(status, token_budget=budget, budget_ratio=budget and status.token_count / budget)
    markup = status._repr_html_()
    text = assert_safe(markup).text
    assert "main" in text and status.head[:12] in text and "cl100k_base" in text
    if budget is None:
        assert "47 tokens" in text and "no budget set" in text
        return
    assert f"47 / {budget:,} tokens" in text
    assert f"width:{width};height:100%;background:{colour}" in markup
    assert ("OVER BUDGET" in text) == (budget < 47)


def test_tract_view_shows_name_branch_head_budget_and_graph(scene: Scene, tmp_path: Path) -> None:
    t = scene.t
    status = t.status()
    markup = t._repr_html_()
    text = assert_safe(markup).text
    assert f"demo{SCRIPT}" in text and status.head[:12] in text
    assert f"messages{status.message_count}" in text and f"{status.token_count} / 400 tokens" in text
    assert "draft, main (current)" in text and "(HEAD -> main)" in text and "(draft)" in text
    assert markup.count("<svg") == 1 and markup.count("<circle") == status.commit_count
    svg = t.graph_svg(limit=2)
    assert svg.startswith("<svg") and svg.count("<circle") == 4 and "… older commits" in svg  # 2 of main, 2 of draft
    for bad in (0, -1, "10", True, 2.5):
        with pytest.raises(InvalidInputError, match="limit must be a positive number of commits"):
            t.graph_svg(limit=bad)
    closed = Tract.open(tmp_path / "c.db")
    closed.close()
    assert "CLOSED" in closed._repr_html_() and "closed" in _printed(closed)


def test_commit_view_shows_fields_badges_and_message(scene: Scene) -> None:
    t = scene.t
    user = assert_safe(t.show(scene.user)._repr_html_()).text
    assert scene.user in user and f"Hello {IMG}" in user and IMG.replace('"', '\\"') in user  # metadata, as JSON
    secret = assert_safe(t.show(scene.secret)._repr_html_()).text
    assert "SKIP" in secret and f"secret {SCRIPT}" in secret and "hunter2" in secret
    edit = assert_safe(t.show(scene.edit)._repr_html_()).text
    assert "EDIT" in edit and scene.reply[:12] in edit and "changed line" in edit
    merge = t.log(1, start=scene.edit)[0].parents[0]
    assert "none (root)" not in assert_safe(t.show(merge)._repr_html_()).text


def test_snapshot_view_shows_regions_coordinates_tags(scene: Scene) -> None:
    snapshot = scene.t.snapshot()
    text = assert_safe(snapshot._repr_html_()).text
    assert f"{len(snapshot)} nodes" in text and "^sys" in text and "^seq" in text
    assert f"+tag{SCRIPT}" in text and all(node.id[:12] in text for node in snapshot.nodes)


class HostilePin:
    """A policy that proposes pinning the newest message, with a reason quoting it."""

    name = f"pinner{SCRIPT}"
    priority = 1
    trigger = "commit"

    def evaluate(self, tract: Tract) -> PolicyAction | None:
        newest = tract.log(1)[0]
        if tract.show(newest.hash).annotations or newest.role != "user":
            return None
        return PolicyAction("annotate", {"target": newest.hash, "priority": "pinned"}, reason=f"pin {newest.content}")


def test_proposal_view_shows_the_action_its_reason_and_status(tmp_path: Path) -> None:
    with Tract.open(tmp_path / "p.db") as t:
        t.configure_policies([HostilePin()], autonomy="manual")
        t.user(f"keep {SCRIPT}")
        [proposal] = t.pending_proposals()
        text = assert_safe(proposal._repr_html_()).text
        assert "annotate" in text and "PENDING" in text and f"pin keep {SCRIPT}" in text
        assert f"pinner{SCRIPT}" in text and '"priority": "pinned"' in text
        done = t.approve_proposal(proposal)
        assert "EXECUTED" in assert_safe(done._repr_html_()).text


def test_health_view_shows_each_finding_with_its_severity(scene: Scene) -> None:
    report = scene.t.health()
    text = assert_safe(report._repr_html_()).text
    assert all(item.name in text and item.reason in text for item in report.items)
    assert ("HEALTHY" in text) == report.healthy and ("NEEDS ACTION" in text) == (not report.healthy)
    assert f"{report.token_count} / 400 tokens" in text


def _printed(view: Any) -> str:
    console = Console(record=True, width=140, file=io.StringIO(), color_system=None)
    console.print(view)
    return console.export_text()


def test_rich_views_print_user_text_as_typed(scene: Scene) -> None:
    t = scene.t
    printed = {name: _printed(view) for name, view in views(scene).items()}
    assert RICH_MARKUP in printed["context"] and f"Rules {SCRIPT}" in printed["context"]
    assert "PINNED" in printed["context"] and "EDITED" in printed["context"] and "⚙ search(query=" in printed["context"]
    assert f"demo{SCRIPT}" in printed["tract"] and "HEAD -> main" in printed["tract"] and "|\\" in printed["tract"]
    assert f"{t.status().token_count} / 400 tokens" in printed["status"]
    assert all(c.short_hash in printed["log"] for c in t.log()) and "|/" in printed["log"]
    assert f"Hello {IMG}" in printed["commit"] and f"draft {SCRIPT}" in printed["diff"]
    assert f"+tag{SCRIPT}" in printed["snapshot"] and "budget_pressure" in printed["health"]
    assert "██" in _printed(dataclasses.replace(t.status(), token_budget=60, budget_ratio=1.0))
