"""tract_core installs alone: without LangChain, LangGraph and LlamaIndex it imports, runs a
session and the CLI demo, and each adapter imported without its extra names the extra to install.

The child interpreters block the frameworks with a ``sys.meta_path`` finder installed before
anything is imported, as if they were not installed (they are, for the rest of the suite).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]

BLOCKED = ("langchain", "langchain_core", "langgraph", "llama_index")

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = {blocked!r}

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    for loaded in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
        del sys.modules[loaded]
    """
)


def _run(script: str, cwd: Path, blocked: tuple[str, ...] = BLOCKED) -> dict:
    """Run ``script`` in a child interpreter where the ``blocked`` packages cannot be imported;
    it prints one JSON line last, which is returned."""
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER.format(blocked=blocked) + textwrap.dedent(script)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "TRACT_TIKTOKEN_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_core_works_without_the_frameworks(tmp_path: Path) -> None:
    found = _run(
        """
        import contextlib, io, json, sys
        import tract_core, tract_core.cli, tract_core.testing
        from tract_core import EDIT, SKIP, Tract, TractConfig

        with Tract.open(path="agent.db", config=TractConfig(token_budget=1000)) as t:
            t.system("You are the Acme support agent.")
            t.user("How long do I have to return shoes?")
            wrong = t.assistant("60 days.")
            t.commit("30 days, with the receipt.", operation=EDIT, response_to=wrong.hash)
            noise = t.user("ignore me")
            t.annotate(noise.hash, SKIP)
            ctx = t.compile()
            openai = ctx.to_openai()
            anthropic = ctx.to_anthropic()
            status = t.status()
        with contextlib.redirect_stdout(io.StringIO()) as shown:
            code = tract_core.cli.main(["demo", "--db", "demo.db"])
        with contextlib.redirect_stdout(io.StringIO()):
            log_code = tract_core.cli.main(["--db", "demo.db", "log"])
        try:
            ctx.to_langchain()
            to_langchain = "worked"
        except ImportError as exc:
            to_langchain = str(exc)
        adapters = {}
        for name in ("tract_langchain", "tract_llamaindex"):
            try:
                __import__(name)
                adapters[name] = "imported"
            except ImportError as exc:
                adapters[name] = str(exc)
        loaded = sorted({m.split(".")[0] for m in sys.modules} & set(BLOCKED))
        print(json.dumps({
            "openai": openai, "anthropic": anthropic, "budget": status.token_budget,
            "demo": code, "demo_out": shown.getvalue(), "log": log_code,
            "to_langchain": to_langchain, "adapters": adapters, "loaded": loaded,
        }))
        """,
        tmp_path,
    )
    assert found["loaded"] == []
    assert found["openai"] == [
        {"role": "system", "content": "You are the Acme support agent."},
        {"role": "user", "content": "How long do I have to return shoes?"},
        {"role": "assistant", "content": "30 days, with the receipt."},
    ]
    assert found["anthropic"]["system"] == "You are the Acme support agent."
    assert [m["role"] for m in found["anthropic"]["messages"]] == ["user", "assistant"]
    assert found["budget"] == 1000
    assert (found["demo"], found["log"]) == (0, 0)
    assert "Wrote a customer-support conversation to demo.db" in found["demo_out"]
    assert (tmp_path / "demo.db").exists()
    assert "pip install langchain-core" in found["to_langchain"]
    assert found["adapters"] == {
        "tract_langchain": "tract_langchain needs langchain-core, langgraph and langchain (langchain is missing): "
        "pip install 'tract-context[langchain]'",
        "tract_llamaindex": "tract_llamaindex needs llama-index-core (llama_index is missing): "
        "pip install 'tract-context[llamaindex]'",
    }


def test_each_adapter_names_its_extra_when_part_of_it_is_missing(tmp_path: Path) -> None:
    script = """
        import json
        found = {}
        for name in ("tract_langchain", "tract_llamaindex"):
            try:
                __import__(name)
                found[name] = "imported"
            except ImportError as exc:
                found[name] = str(exc)
        print(json.dumps(found))
        """
    no_langgraph = _run(script, tmp_path, blocked=("langgraph",))
    assert no_langgraph == {
        "tract_langchain": "tract_langchain needs langchain-core, langgraph and langchain (langgraph is missing): "
        "pip install 'tract-context[langchain]'",
        "tract_llamaindex": "imported",
    }
    no_llamaindex = _run(script, tmp_path, blocked=("llama_index",))
    assert no_llamaindex["tract_langchain"] == "imported"
    assert "pip install 'tract-context[llamaindex]'" in no_llamaindex["tract_llamaindex"]


def test_the_frameworks_are_extras_and_every_package_is_typed() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = " ".join(project["dependencies"])
    for framework in ("langchain", "langgraph", "llama-index", "llama_index", "mcp"):
        assert framework not in required
    extras = project["optional-dependencies"]
    assert {"langchain-core>=1.0", "langgraph>=1.0", "langchain>=1.0"} <= set(extras["langchain"])
    assert "llama-index-core>=0.14" in extras["llamaindex"]
    assert any(spec.startswith("mcp") for spec in extras["mcp"])  # `tract mcp` only: not a core dependency
    assert extras["all"] == ["tract-context[postgres,langchain,llamaindex,mcp]"]
    formats = project["entry-points"]["tract_core.tool_formats"]  # as_tools(format=...) finds the adapters here
    assert formats == {
        "langchain": "tract_langchain.tools:build_tools",
        "llamaindex": "tract_llamaindex.tools:build_tools",
    }
    assert {"Homepage", "Documentation", "Repository", "Issues"} <= set(project["urls"])
    for package in ("tract_core", "tract_langchain", "tract_llamaindex"):
        assert (ROOT / package / "py.typed").is_file()
