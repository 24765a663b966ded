"""The agent toolkit over MCP (``tract_core.mcp``, ``tract mcp``), driven by the SDK's own client:
in-process (JSON-RPC over memory streams, and the SDK's direct in-process path) and as a real
``tract mcp`` process over stdio. Real SQLite files; another process writes while the server serves.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client, StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from tract_core import PINNED, DatabaseNotFoundError, InvalidInputError, Tract, TractNotFoundError
from tract_core.cli import main
from tract_core.mcp import INSTALL_HINT, build_server, require_sdk, serve
from tract_core.testing.blocking import no_blocking_io
from tract_core.toolkit import tools_for

pytestmark = pytest.mark.filterwarnings("ignore::tract_core.TokenizerFallbackWarning")

WORKTREE = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A SQLite file holding a short conversation (closed again: the server opens it)."""
    path = tmp_path / "agent.db"
    with Tract.open(path) as t:
        t.system("You are a travel agent.")
        t.user("I want to visit Lisbon in May.")
        t.assistant("Lisbon in May is sunny; book the tram tour early.")
        t.user("And the budget is 900 euros.")
    return path


@pytest.fixture
def tract(db: Path) -> Iterator[Tract]:
    """The handle a server works on."""
    with Tract.open(db, policies=False) as t:
        yield t


def text(result: Any) -> str:
    [block] = result.content
    return block.text


def data(result: Any) -> Any:
    assert not result.is_error, text(result)
    return json.loads(text(result))


def child_env() -> dict[str, str]:
    """What a child process needs to import tract from this checkout, and nothing else of the test's."""
    env = {"PYTHONPATH": str(WORKTREE)}
    if "TRACT_TIKTOKEN_OFFLINE" in os.environ:
        env["TRACT_TIKTOKEN_OFFLINE"] = os.environ["TRACT_TIKTOKEN_OFFLINE"]
    return env


# -- tools ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_tools_are_the_toolkits_own(tract: Tract, mode: str) -> None:
    server = build_server(tract, "supervisor")
    with no_blocking_io():
        async with Client(server, mode=mode) as client:
            listed = (await client.list_tools()).tools
    specs = tools_for("supervisor")
    assert [tool.name for tool in listed] == ["context_" + spec.name for spec in specs]
    for tool, spec in zip(listed, specs, strict=True):
        assert tool.input_schema == spec.parameters
        assert tool.description == spec.description
        assert tool.annotations is not None and tool.annotations.read_only_hint is (not spec.writes)
    openai = {d["function"]["name"]: d["function"]["parameters"] for d in tract.as_tools("supervisor")}
    assert {tool.name: tool.input_schema for tool in listed} == openai


async def test_status_and_log_read_the_tract(tract: Tract) -> None:
    server = build_server(tract)
    with no_blocking_io():
        async with Client(server, mode="legacy") as client:
            status = data(await client.call_tool("context_status", {}))
            log = data(await client.call_tool("context_log", {"limit": 2}))
            instructions = client.instructions or ""
    assert status["branch"] == "main" and status["messages"] == 4
    assert status["head"] == tract.head[:12]
    assert [entry["commit"] for entry in log] == [c.hash[:12] for c in tract.log(2)]
    assert log[0]["text"] == "And the budget is 900 euros."
    assert "tract 'default'" in instructions and "give context_compress your own summary" in instructions


async def test_annotate_pins_a_message_in_the_tract(tract: Tract, db: Path) -> None:
    target = tract.log(None)[-2]  # the user's first message
    server = build_server(tract)
    with no_blocking_io():
        async with Client(server, mode="legacy") as client:
            done = data(
                await client.call_tool(
                    "context_annotate", {"commit": target.hash[:10], "priority": "pinned", "reason": "the trip"}
                )
            )
    assert done["status"] == "executed"
    with Tract.open(db, policies=False) as other:  # stored, as any process sees it
        assert other.show(target.hash).annotations[-1].priority == PINNED
        [proposal] = other.proposals()
        assert (proposal.policy, proposal.kind, proposal.status) == ("agent", "annotate", "executed")


async def test_manual_autonomy_leaves_the_change_waiting(tract: Tract) -> None:
    server = build_server(tract, autonomy="manual")
    target = tract.log(1)[0]
    async with Client(server, mode="legacy") as client:
        waiting = data(await client.call_tool("context_annotate", {"commit": target.hash, "priority": "skip"}))
    assert waiting["status"] == "pending" and "waiting for approval" in waiting["note"]
    assert [p.id for p in tract.pending_proposals()] == [waiting["proposal"]]
    assert tract.show(target.hash).annotations == ()  # nothing changed yet


def _stored(t: Tract) -> tuple[Any, ...]:
    return (
        t.head,
        [c.hash for c in t.log(None)],
        t.compile().digest,
        len(t.proposals()),
        [(c.hash, c.annotations) for c in map(t.show, [c.hash for c in t.log(None)])],
    )


async def test_bad_calls_are_error_results_and_write_nothing(tract: Tract) -> None:
    before = _stored(tract)
    server = build_server(tract)
    bad = {
        "unknown tool": ("context_teleport", {}, "tool 'context_teleport' does not exist; the tools are:"),
        "not in the profile": ("context_commit", {"content": "x"}, "is not offered in the 'self' profile"),
        "unknown commit": ("context_annotate", {"commit": "deadbeef", "priority": "pinned"}, "commit 'deadbeef'"),
        "wrong type": ("context_log", {"limit": "many"}, "bad arguments for log: limit"),
        "wrong value": ("context_annotate", {"commit": tract.head, "priority": "loud"}, "priority"),
        "missing": ("context_edit", {"content": "x"}, "commit: Field required"),
        "unknown argument": ("context_status", {"verbose": True}, "verbose"),
    }
    with no_blocking_io():
        async with Client(server, mode="legacy") as client:
            results = {why: await client.call_tool(name, arguments) for why, (name, arguments, _) in bad.items()}
            still = data(await client.call_tool("context_status", {}))  # the session goes on
    for why, result in results.items():
        assert result.is_error, why
        assert text(result).startswith("Error: ") and bad[why][2] in text(result), (why, text(result))
    assert still["messages"] == 4
    assert _stored(tract) == before


# -- resources ------------------------------------------------------------------------------------


async def test_resources_are_the_context_log_and_health(tract: Tract) -> None:
    server = build_server(tract)
    with no_blocking_io():
        async with Client(server, mode="legacy") as client:
            listed = (await client.list_resources()).resources
            read = {}
            for resource in listed:
                [content] = (await client.read_resource(resource.uri)).contents
                assert content.mime_type == "application/json"
                read[str(resource.uri)] = json.loads(content.text)
            with pytest.raises(MCPError, match="unknown resource 'tract://secrets'"):
                await client.read_resource("tract://secrets")
    assert list(read) == ["tract://context", "tract://log", "tract://health"]
    context = tract.compile()
    assert read["tract://context"]["messages"] == context.to_openai()
    assert (read["tract://context"]["head"], read["tract://context"]["token_count"]) == (
        context.head,
        context.token_count,
    )
    assert [c["commit"] for c in read["tract://log"]["commits"]] == [c.hash for c in tract.log(50)]
    assert read["tract://health"]["health"] == json.loads(json.dumps(tract.health().to_json(), default=str))


# -- another process writes while the server serves -------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from tract_core import Tract

    with Tract.open(sys.argv[1], policies=False) as t:  # commits each line it reads; answers with the hash
        for line in sys.stdin:
            print(t.user(line.strip()).hash, flush=True)
    """
)


async def test_each_call_sees_what_another_process_committed(tract: Tract, db: Path) -> None:
    server = build_server(tract)
    command = [sys.executable, "-c", WRITER, str(db)]
    with anyio.fail_after(60):  # a writer that died would end the test with an error, never hang it
        async with await anyio.open_process(command, env={**os.environ, **child_env()}) as writer:
            assert writer.stdin is not None and writer.stdout is not None
            replies = BufferedByteReceiveStream(writer.stdout)
            with no_blocking_io():
                async with Client(server, mode="legacy") as client:
                    for i in range(3):
                        await writer.stdin.send(f"from the other process {i}\n".encode())
                        written = (await replies.receive_until(b"\n", 1000)).decode()
                        [newest] = data(await client.call_tool("context_log", {"limit": 1}))
                        [content] = (await client.read_resource("tract://context")).contents
                        assert newest["commit"] == written[:12]
                        assert json.loads(content.text)["messages"][-1]["content"] == f"from the other process {i}"
                        pinned = data(
                            await client.call_tool(
                                "context_annotate", {"commit": newest["commit"], "priority": "pinned"}
                            )
                        )
                        assert pinned["status"] == "executed"  # the server writes between the other process's commits
                    status = data(await client.call_tool("context_status", {}))
            await writer.stdin.aclose()
            assert await writer.wait() == 0
    assert status["messages"] == 7 and status["head"] == written[:12]
    assert all(c.annotations[-1].priority == PINNED for c in map(tract.show, [c.hash for c in tract.log(3)]))


# -- the command line ------------------------------------------------------------------------------


async def test_tract_mcp_serves_over_stdio(db: Path, tmp_path: Path) -> None:
    errors = tmp_path / "stderr.txt"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tract_core", "--db", str(db), "mcp", "--profile", "supervisor"],
        env=child_env(),
    )
    with errors.open("w") as errlog, anyio.fail_after(30):
        async with Client(stdio_client(params, errlog=errlog)) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            branches = data(await client.call_tool("context_branches", {}))
            bad = await client.call_tool("context_show", {"commit": "nope"})
    assert names == ["context_" + spec.name for spec in tools_for("supervisor")]
    assert branches == [{"name": "main", "commit": branches[0]["commit"], "current": True}]
    assert bad.is_error and "commit 'nope'" in text(bad)
    assert "tract: serving tract 'default' over MCP" in errors.read_text()


def test_tract_mcp_on_a_missing_database_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--db", str(tmp_path / "missing.db"), "mcp"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith("tract: error: ") and "missing.db" in err


def test_without_the_sdk_the_error_says_what_to_install(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("mcp", "mcp.server", "mcp.server.lowlevel"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "tract-context\[mcp\]"'):
        require_sdk()
    assert main(["--db", str(db), "mcp"]) == 2
    assert INSTALL_HINT in capsys.readouterr().err


def test_bad_arguments_are_refused_before_serving(tract: Tract, db: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="serves an open Tract"):
        build_server(str(db))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="profile must be"):
        build_server(tract, "admin")
    with pytest.raises(InvalidInputError, match="autonomy"):
        build_server(tract, autonomy="reckless")
    with pytest.raises(InvalidInputError, match="leave it out"):
        serve(tract, tract_id="other")
    with pytest.raises(InvalidInputError, match="a Tract, a SQLite file or a database URL"):
        serve(42)  # type: ignore[arg-type]
    with pytest.raises(DatabaseNotFoundError):
        serve(tmp_path / "missing.db")
    with pytest.raises(TractNotFoundError, match="support-42"):
        serve(str(db), tract_id="support-42")
