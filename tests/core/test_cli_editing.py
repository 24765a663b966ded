"""``tract annotate``, ``tract edit`` and ``tract checkout``: what needed Python before, from a
terminal; and errors worded for the command line (``--force``, ``tract reflog``), not the API."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tract_core import Priority, Tract
from tract_core.testing.cli import run_cli as run

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("TRACT_DB", raising=False)


@dataclass(frozen=True)
class Chat:
    path: Path
    system: str
    question: str
    call: str
    result: str
    answer: str


@pytest.fixture
def chat(tmp_path: Path) -> Chat:
    path = tmp_path / "chat.db"
    with Tract.open(path=path) as t:
        system = t.system("You are a support assistant.").hash
        question = t.user("How long do I have to return shoes?").hash
        calls = [{"id": "call_1", "type": "function", "function": {"name": "policy", "arguments": "{}"}}]
        call = t.commit({"role": "assistant", "content": "Checking.", "tool_calls": calls}).hash
        result = t.tool_result("call_1", '{"days": 30}').hash
        answer = t.assistant("You have 60 days.").hash
    return Chat(path, system, question, call, result, answer)


def compiled(path: Path) -> list[dict]:
    with Tract.open(path=path, create=False) as t:
        return t.compile().messages


def test_annotate_pins_skips_and_resets_a_message(chat, capsys):
    code, out, err = run(capsys, "--db", chat.path, "annotate", chat.result[:8], "--skip", "--reason", "raw API dump")
    assert (code, err) == (0, "")
    assert out.startswith(f"Skipped {chat.result[:12]}  tool: ") and "reason: raw API dump" in out
    assert all(m.get("role") != "tool" for m in compiled(chat.path))
    with Tract.open(path=chat.path, create=False) as t:
        (note,) = t.show(chat.result).annotations
        assert (note.priority, note.reason) == (Priority.SKIP, "raw API dump")

    assert run(capsys, "--db", chat.path, "annotate", chat.result, "--normal")[0] == 0
    assert any(m.get("role") == "tool" for m in compiled(chat.path))
    assert run(capsys, "--db", chat.path, "annotate", "HEAD~3", "--pin")[0] == 0
    with Tract.open(path=chat.path, create=False) as t:
        assert t.show(chat.question).annotations[-1].priority is Priority.PINNED

    code, _, err = run(capsys, "--db", chat.path, "annotate", "HEAD")
    assert code == 2 and "--pin" in err
    code, _, err = run(capsys, "--db", chat.path, "annotate", "HEAD", "--pin", "--skip")
    assert code == 2 and "not allowed" in err


def test_edit_replaces_the_content_and_keeps_the_rest_of_the_message(chat, capsys):
    code, out, err = run(capsys, "--db", chat.path, "edit", chat.answer[:8], "--content", "You have 30 days.")
    assert (code, err) == (0, "")
    assert out.startswith(f"Edited {chat.answer[:12]} with ") and "assistant (edit): You have 30 days." in out
    assert compiled(chat.path)[-1] == {"role": "assistant", "content": "You have 30 days."}

    code, out, err = run(
        capsys, "--db", chat.path, "edit", chat.call, "--content", "Let me check the policy.", "-m", "tone"
    )
    assert code == 0, err
    with Tract.open(path=chat.path, create=False) as t:
        edit = t.show("HEAD")
        assert (edit.response_to, edit.message, edit.content_type) == (
            chat.call,
            "tone",
            t.show(chat.call).content_type,
        )
    call = next(m for m in compiled(chat.path) if m.get("tool_calls"))
    assert call["content"] == "Let me check the policy." and call["tool_calls"][0]["id"] == "call_1"

    # an EDIT commit names the message it edits: editing it again edits that message
    code, _, err = run(capsys, "--db", chat.path, "edit", "HEAD~1", "--content", "You have 30 days from delivery.")
    assert code == 0, err
    with Tract.open(path=chat.path, create=False) as t:
        assert t.show("HEAD").response_to == chat.answer
    assert compiled(chat.path)[-1]["content"] == "You have 30 days from delivery."


def test_edit_from_a_file_or_the_editor(chat, capsys, tmp_path, monkeypatch):
    text = tmp_path / "answer.txt"
    text.write_text("Thirty days, unworn.\n", encoding="utf-8")
    assert run(capsys, "--db", chat.path, "edit", chat.answer, "--file", text)[0] == 0
    assert compiled(chat.path)[-1]["content"] == "Thirty days, unworn."

    seen = tmp_path / "seen.txt"
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, pathlib\n"
        "path = pathlib.Path(sys.argv[1])\n"
        f"pathlib.Path({str(seen)!r}).write_text(path.read_text())\n"
        "path.write_text(path.read_text().replace('Thirty', '30'))\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    code, _, err = run(capsys, "--db", chat.path, "edit", chat.answer)
    assert code == 0, err
    assert seen.read_text() == "Thirty days, unworn.\n"  # the editor opened the current content
    assert compiled(chat.path)[-1]["content"] == "30 days, unworn."

    with Tract.open(path=chat.path, create=False) as t:
        head = t.head
    emptied = tmp_path / "empty.py"
    emptied.write_text("import sys, pathlib\npathlib.Path(sys.argv[1]).write_text('\\n')\n", encoding="utf-8")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {emptied}")
    code, out, err = run(capsys, "--db", chat.path, "edit", chat.answer)
    assert (code, out) == (2, "") and "empty: nothing was committed" in err
    monkeypatch.setenv("EDITOR", "true")
    code, _, err = run(capsys, "--db", chat.path, "edit", chat.answer)
    assert code == 2 and "unchanged: nothing was committed" in err
    monkeypatch.setenv("EDITOR", "false")
    code, _, err = run(capsys, "--db", chat.path, "edit", chat.answer)
    assert code == 2 and "exited with status 1" in err
    with Tract.open(path=chat.path, create=False) as t:
        assert t.head == head  # nothing was written


def test_edit_refuses_what_it_cannot_do(chat, capsys, tmp_path):
    code, _, err = run(capsys, "--db", chat.path, "edit", chat.answer, "--content", "a", "--file", tmp_path / "x")
    assert code == 2 and "not both" in err
    code, _, err = run(capsys, "--db", chat.path, "edit", chat.answer, "--file", tmp_path / "missing.txt")
    assert code == 2 and "cannot read" in err
    with Tract.open(path=chat.path) as t:
        t.branch("side", switch=True)
        t.user("a side question")
        t.switch("main")
        t.merge("side", strategy="no-ff")
    code, _, err = run(capsys, "--db", chat.path, "edit", "HEAD", "--content", "x")
    assert code == 2 and "has no message" in err


def test_checkout_detaches_head_and_goes_back(chat, capsys):
    code, out, _ = run(capsys, "--db", chat.path, "checkout", "HEAD~2")
    assert code == 0 and out.startswith(f"HEAD is now detached at {chat.call[:12]}")
    with Tract.open(path=chat.path, create=False) as t:
        assert t.head == chat.call and t.current_branch is None
    code, out, _ = run(capsys, "--db", chat.path, "branch")
    assert out.splitlines()[0].split()[:4] == ["*", "(HEAD", "detached)", chat.call[:12]]
    code, out, _ = run(capsys, "--db", chat.path, "checkout", "main")
    assert code == 0 and out.startswith(f"Switched to branch 'main' at {chat.answer[:12]}")
    with Tract.open(path=chat.path, create=False) as t:
        assert t.head == chat.answer and t.current_branch == "main"


def test_errors_speak_the_command_lines_language(chat, capsys):
    with Tract.open(path=chat.path) as t:
        t.branch("draft", switch=True)
        t.user("an unmerged idea")
        t.switch("main")
    code, _, err = run(capsys, "--db", chat.path, "branch", "-d", "draft")
    assert code == 2 and "or pass --force" in err and "`tract reflog` finds them" in err
    assert "delete_branch" not in err and "reflog()" not in err
    code, _, err = run(capsys, "--db", chat.path, "switch", "nope")
    assert code == 2 and "create it with `tract branch nope` or `tract checkout REF`" in err
    with Tract.open(path=chat.path) as t:
        t.branch("early", chat.question, switch=True)  # lacks the tool call the result answers
    code, _, err = run(capsys, "--db", chat.path, "cherry-pick", chat.result, "--strict")
    assert code == 2 and "refused (--strict)" in err and "strict=True" not in err
    code, _, err = run(capsys, "--db", chat.path.parent / "missing.db", "log")
    assert code == 2 and "check the path (or run `tract demo` to write one)" in err and "Tract.open" not in err
