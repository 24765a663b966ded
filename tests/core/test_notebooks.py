"""The notebooks run from top to bottom, and what they store is what a run shows.

The notebooks under ``notebooks/`` are committed with their outputs, so that they read on GitHub
without being run. Each test here executes one of them once, in a fresh kernel (the stored file is
read, never written), and checks that:

- no cell raises, in the stored outputs or in the fresh run;
- the stored outputs have the structure of the fresh run's: per code cell, the same outputs in the
  same order, of the same types (``stream`` by name, ``display_data``, ``execute_result``) with the
  same MIME bundles (``text/html``, ``image/png``, ``text/plain`` ...). Texts are not compared:
  a view may differ in a digit from one library version to the next, its shape may not;
- the stored notebook was executed in one go (execution counts 1, 2, 3 ...) and shows views
  (HTML), not only printed text;
- no stored output names a temporary directory or this checkout's path.

This is the only run of the notebooks in the test suite: ``notebooks/`` is not among pytest's ``testpaths``.

After changing a notebook, execute it in place to store its new outputs::

    TRACT_TIKTOKEN_OFFLINE=1 python tests/core/test_notebooks.py               # all of them
    TRACT_TIKTOKEN_OFFLINE=1 python tests/core/test_notebooks.py 03_compression_and_agents
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds


def _kernel_env() -> dict[str, str]:
    """The environment of the notebooks' kernel: this checkout first on the path, tiktoken offline
    (no download attempt, so no warning that depends on the network)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "TRACT_TIKTOKEN_OFFLINE": "1"}


def _merge_streams(notebook: Any) -> None:
    """Adjacent stream outputs of the same name become one: how a kernel splits printed text into
    messages depends on timing, not on the notebook."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        merged: list[Any] = []
        for output in cell.outputs:
            last = merged[-1] if merged else None
            if (
                last is not None
                and output.output_type == "stream"
                and last.output_type == "stream"
                and last.name == output.name
            ):
                last.text += output.text
            else:
                merged.append(output)
        cell.outputs = merged


def execute(path: Path) -> Any:
    """``path``'s notebook run top to bottom in a fresh kernel (working directory: its folder).

    Returns the executed notebook; the file itself is not written.
    """
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        record_timing=False,  # no timestamps in the cells' metadata
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(env=_kernel_env())
    _merge_streams(notebook)
    return notebook


def structure(notebook: Any) -> list[list[tuple[str, ...]]]:
    """Per code cell, its outputs as (type, stream name or MIME types, ...)."""
    shape = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            if output.output_type == "stream":
                outputs.append(("stream", output.name))
            elif output.output_type == "error":
                outputs.append(("error", output.ename))
            else:
                outputs.append((output.output_type, *sorted(output.data)))
        shape.append(outputs)
    return shape


def _errors(notebook: Any) -> list[str]:
    return [
        f"cell {index}: {output.ename}: {output.evalue}"
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]


def _texts(notebook: Any) -> list[str]:
    """Every text of every stored output (images left out)."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                texts.append(output.text)
            elif output.output_type == "error":
                texts.extend(output.traceback)
            else:
                texts.extend(str(value) for mime, value in output.data.items() if not mime.startswith("image/"))
    return texts


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 9


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_matches_its_stored_outputs(path: Path) -> None:
    stored = nbformat.read(path, as_version=4)
    nbformat.validate(stored)

    code = [c for c in stored.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), (
        f"{path.name} was not executed top to bottom in one go: run `python {Path(__file__).relative_to(ROOT)}`"
    )
    assert not _errors(stored), f"{path.name} stores an error: {_errors(stored)}"
    shown = {mime for c in code for o in c.outputs if o.output_type != "stream" for mime in o.get("data", {})}
    assert "text/html" in shown, f"{path.name} shows no view (no text/html output)"
    for text in _texts(stored):
        for volatile in (tempfile.gettempdir() + os.sep, str(ROOT)):
            assert volatile not in text, f"{path.name} stores a path that changes from run to run: {volatile!r}"

    fresh = execute(path)

    assert not _errors(fresh), f"{path.name} fails: {_errors(fresh)}"
    stored_shape, fresh_shape = structure(stored), structure(fresh)
    assert len(stored_shape) == len(fresh_shape)
    for number, (was, now) in enumerate(zip(stored_shape, fresh_shape, strict=True), 1):
        assert was == now, f"{path.name}, code cell [{number}]: stored outputs {was}, a fresh run gives {now}"


def main(names: list[str]) -> None:
    """Execute the notebooks (all, or those named by stem) in place, storing their outputs."""
    chosen = [p for p in NOTEBOOKS if not names or p.stem in names]
    unknown = set(names) - {p.stem for p in NOTEBOOKS}
    if unknown:
        raise SystemExit(f"no such notebook: {', '.join(sorted(unknown))}")
    for path in chosen:
        notebook = execute(path)
        if _errors(notebook):
            raise SystemExit(f"{path.name}: {_errors(notebook)}")
        nbformat.write(notebook, path)
        print(f"stored {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
