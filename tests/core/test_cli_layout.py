"""The ``tract`` command line reads well at any width: names and hashes whole, graph lines never
wrapped, colors only on a terminal, long output paged on a terminal only."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import PagerContext

from tract_core import EDIT, Tract
from tract_core.cli import main
from tract_core.cli.pager import TerminalPager, pager_command

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")

LONG = "customer-support-escalation-review"
"""A branch name longer than the room a narrow table gives a column."""
WIDTHS = (40, 80, 200)
COLOR = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7])[;m]")
"""An ANSI color code (a foreground color; bold alone is not a color)."""


@dataclass(frozen=True)
class Store:
    path: Path
    merge: str
    fix: str
    answer: str
    draft: str


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    path = tmp_path_factory.mktemp("layout") / "layout.db"
    words = "the customer asks again about the return window for the trail running shoes they bought " * 3
    with Tract.open(path=path) as t:
        t.system("You are the support assistant of an online shoe store; answer in one short paragraph.")
        t.user(words)
        answer = t.assistant("Unworn shoes can be returned within 60 days of delivery, " + words).hash
        t.branch(LONG)
        t.branch("draft")
        t.user("Thanks! " + words)
        t.switch(LONG)
        fix = t.commit("Unworn shoes: 30 days. " + words, role="assistant", operation=EDIT, response_to=answer).hash
        t.switch("draft")
        draft = t.user("And for sandals? " + words).hash
        t.switch("main")
        merge = t.merge(LONG, strategy="no-ff").merge_commit
    assert merge is not None
    return Store(path, merge, fix, answer, draft)


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, width: int, *argv: object) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.delenv("TRACT_DB", raising=False)
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    return out


@pytest.mark.parametrize("width", WIDTHS)
def test_branch_names_are_whole_and_the_current_one_is_marked(store, capsys, monkeypatch, width):
    lines = run(capsys, monkeypatch, width, "--db", store.path, "branch").splitlines()
    assert all(len(line) <= width for line in lines)
    assert [line for line in lines if line.startswith("*")] == [line for line in lines if " main" in line[:7]]
    for name, tip in ((LONG, store.fix), ("draft", store.draft), ("main", store.merge)):
        (line,) = [line for line in lines if line[2:].split(" ")[0] == name]
        if width >= 80:
            assert tip[:12] in line.split()  # the tip's short hash, whole, beside the name
    main_line = next(line for line in lines if line.startswith("*"))
    assert main_line.split()[:3] == ["*", "main", store.merge[:12]]


@pytest.mark.parametrize("width", WIDTHS)
def test_graph_lines_fit_the_width_and_keep_their_lanes(store, capsys, monkeypatch, width):
    lines = run(capsys, monkeypatch, width, "--db", store.path, "log", "--graph", "--all").splitlines()
    assert all(len(line) <= width for line in lines), lines
    commits = [line for line in lines if "*" in line[:6]]
    assert len(commits) == 7  # one line per commit, none wrapped onto the next
    assert all(re.match(r"[*|/\\ ]+[0-9a-f]{12}( |$)", line) for line in commits), commits
    assert commits[0].startswith(f"*   {store.merge[:12]} (HEAD -> main")
    if width == 200:
        assert any(f"({LONG}) assistant (edit): Unworn shoes: 30 days." in line for line in commits)


@pytest.mark.parametrize("width", WIDTHS)
def test_show_prints_full_hashes_on_one_line(store, capsys, monkeypatch, width):
    lines = run(capsys, monkeypatch, width, "--db", store.path, "show", store.merge[:8]).splitlines()
    assert lines[0] == f"commit {store.merge}"
    parents = [line.removeprefix("parent ") for line in lines if line.startswith("parent ")]
    with Tract.open(path=store.path, create=False) as t:
        assert parents == list(t.show(store.merge).parents)
    fix = run(capsys, monkeypatch, width, "--db", store.path, "show", store.fix).splitlines()
    assert fix[:3] == [f"commit {store.fix}", f"parent {store.answer}", f"edit of {store.answer}"]


@pytest.mark.parametrize("width", WIDTHS)
def test_tables_keep_short_hashes_whole_and_drop_columns_when_narrow(store, capsys, monkeypatch, width):
    out = run(capsys, monkeypatch, width, "--db", store.path, "log")
    lines = out.splitlines()
    assert all(len(line) <= width for line in lines)
    with Tract.open(path=store.path, create=False) as t:
        hashes = [c.short_hash for c in t.log(limit=None)]
    rows = [match.group(1) for line in lines if (match := re.match(r"  ([0-9a-f]{12}) ", line))]
    assert rows == hashes  # every row starts with its commit's short hash, whole
    assert ("created" in lines[1]) is (width >= 80)  # the creation time is the first column left out

    reflog = run(capsys, monkeypatch, width, "--db", store.path, "reflog")
    assert all(len(line) <= width for line in reflog.splitlines())
    assert store.merge[:12] in reflog.split()
    if width >= 80:
        assert LONG in reflog.split()  # a branch name is never cut


def test_a_console_too_narrow_for_a_name_wraps_it_whole(store, capsys, monkeypatch):
    lines = run(capsys, monkeypatch, 20, "--db", store.path, "branch").splitlines()
    assert "".join(line.strip() for line in lines[:2]) == LONG  # folded onto the next line, not cut
    assert lines[-1].split() == ["*", "main", store.merge[:12]]


def _process(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "tract_core", *args], capture_output=True, text=True, env=environ, timeout=60
    )


def test_piped_output_is_plain_at_80_columns(store):
    piped = _process(["--db", str(store.path), "branch"], TRACT_TIKTOKEN_OFFLINE="1")
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout
    lines = piped.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].split()[:2] == [LONG, store.fix[:12]] and lines[-1].split()[:2] == ["*", "main"]


def test_colors_follow_force_color_and_no_color(store, capsys, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    forced = run(capsys, monkeypatch, 80, "--db", store.path, "branch")
    assert COLOR.search(forced) and "main" in forced
    monkeypatch.setenv("NO_COLOR", "1")
    plain = run(capsys, monkeypatch, 80, "--db", store.path, "branch")
    assert not COLOR.search(plain) and "main" in plain
    json_out = run(capsys, monkeypatch, 80, "--db", store.path, "branch", "--json")
    assert "\x1b[" not in json_out


# -- the pager ------------------------------------------------------------------------------------


def test_the_pager_comes_from_tract_pager_then_pager_then_less(monkeypatch):
    monkeypatch.delenv("TRACT_PAGER", raising=False)
    monkeypatch.delenv("PAGER", raising=False)
    assert pager_command() == "less"
    monkeypatch.setenv("PAGER", "more")
    assert pager_command() == "more"
    monkeypatch.setenv("TRACT_PAGER", "less -S")
    assert pager_command() == "less -S"
    for off in ("", "cat", " "):
        monkeypatch.setenv("TRACT_PAGER", off)
        assert pager_command() is None


def test_text_that_fits_the_terminal_is_not_paged(tmp_path, capsys):
    caught = tmp_path / "paged.txt"
    pager = TerminalPager(f'{sys.executable} -c \'import sys; open(sys.argv[1], "w").write("x")\' {caught}', 5)
    pager.show("one\ntwo\n")
    assert capsys.readouterr().out == "one\ntwo\n" and not caught.exists()
    missing = TerminalPager("no-such-pager-anywhere", 1)
    missing.show("one\ntwo\nthree\n")  # the pager cannot start: the text is shown anyway
    assert capsys.readouterr().out == "one\ntwo\nthree\n"


def _on_a_terminal(args: list[str], pager_file: Path) -> tuple[str, str]:
    """Run ``tract ARGS`` with its standard output on a pseudo-terminal 80x10; return what reached the
    terminal and what the pager (a script writing its input to ``pager_file``) received."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "PAGER", "LESS")}
    copy = "import sys, shutil; shutil.copyfileobj(sys.stdin, open(sys.argv[1], 'w'))"
    env.update(
        COLUMNS="80", LINES="10", TRACT_TIKTOKEN_OFFLINE="1", TRACT_PAGER=f'{sys.executable} -c "{copy}" {pager_file}'
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "tract_core", *args], stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=env
    )
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal closed with the process
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    _, err = process.communicate(timeout=60)
    reader.join(timeout=10)
    os.close(master)
    assert process.returncode == 0, err
    paged = pager_file.read_text() if pager_file.exists() else ""
    return b"".join(chunks).decode("utf-8", "replace"), paged


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("argv", "env", "paged"),
    [
        (["log"], {}, True),
        (["show", "HEAD"], {}, True),
        (["reflog"], {"TRACT_PAGER": "less -S"}, True),
        (["status"], {}, False),  # not a paged command
        (["log", "--json"], {}, False),
        (["diff", "HEAD~1", "--pact"], {}, False),
        (["--no-pager", "log"], {}, False),
        (["log"], {"TRACT_PAGER": ""}, False),
        (["log"], {"TRACT_PAGER": "cat"}, False),
    ],
)
def test_which_output_is_paged_on_a_terminal(monkeypatch, argv, env, paged):
    """Output taller than the terminal goes through the pager for these commands; only when standard
    output is a terminal (see the next test, and test_output_to_a_pipe_is_never_paged)."""
    from rich.console import Console

    from tract_core.cli.pager import paging
    from tract_core.cli.parser import build_parser

    monkeypatch.delenv("TRACT_PAGER", raising=False)
    monkeypatch.delenv("PAGER", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdout", _Terminal())
    out = Console(file=sys.stdout, force_terminal=True)
    context = paging(build_parser().parse_args(["--db", "x.db", *argv]), out)
    assert isinstance(context, PagerContext) is paged
    if paged:
        assert context.pager.command == env.get("TRACT_PAGER", "less")


def test_output_to_a_pipe_is_never_paged(monkeypatch):
    from rich.console import Console

    from tract_core.cli.pager import paging
    from tract_core.cli.parser import build_parser

    monkeypatch.setenv("TRACT_PAGER", "less")
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # a pipe, even with colors forced
    out = Console(file=sys.stdout, force_terminal=True)
    assert not isinstance(paging(build_parser().parse_args(["--db", "x.db", "log"]), out), PagerContext)


def test_long_output_on_a_terminal_goes_through_the_pager(store, tmp_path):
    screen, paged = _on_a_terminal(["--db", str(store.path), "log"], tmp_path / "log.txt")
    assert store.merge[:12] in paged and "\x1b[" in paged  # colored, for less -R
    assert store.merge[:12] not in screen

    screen, paged = _on_a_terminal(["--db", str(store.path), "--no-pager", "log"], tmp_path / "no-pager.txt")
    assert paged == "" and store.merge[:12] in screen
