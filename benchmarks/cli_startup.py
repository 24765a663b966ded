"""How fast the ``tract`` command line starts: wall-clock time of whole processes.

Times ``python -c pass`` (the interpreter alone), ``import tract_core``, ``tract --help``,
``tract log``, ``tract status`` and ``tract compile --json`` on the demo store, and, for reference,
the import every command that opens a store pays (SQLAlchemy). Each is run
``--runs`` times (default 10) after one warm-up run; the median and the fastest run are printed.

``--baseline DIR`` runs the same commands against another checkout of the project (for example
``git archive <commit> | tar -x -C DIR``) and prints both, side by side.

Usage:
    python benchmarks/cli_startup.py
    python benchmarks/cli_startup.py --runs 20 --baseline /tmp/tract-before

Recorded on the development machine, 2 cores shared with other jobs (load average 14 during the
run, so absolute figures are several times a quiet machine's; compare the columns), median
(fastest) of 10 runs, seconds, before (commit 84e1cb0) and after:

    command                          before           after
    python -c pass                   0.056 (0.030)    0.054 (0.029)
    import tract_core                3.965 (2.993)    0.185 (0.138)
    tract --help                     3.914 (3.376)    0.258 (0.235)
    tract log                        4.163 (3.680)    3.976 (3.337)
    tract status                     4.633 (3.736)    4.341 (2.903)
    import sqlalchemy, sqlmodel      2.335 (1.733)    2.550 (2.055)

``import tract_core`` and ``tract --help`` no longer load the store, rich or the command modules
(PEP 562 lazy names in ``tract_core/__init__.py``; the parser imports each command's module only
when it runs). A command that opens a store still imports SQLAlchemy and SQLModel (the store's
schema), which is most of what ``tract log`` costs now.

Then the tables became plain SQLAlchemy Core tables (SQLModel, the ORM and pydantic are no longer
loaded), the ``Tract`` facade started importing the toolkit, the scaffolds, the orchestrator and
the sub-agents only in the methods that use them, and a SQLite store stopped importing PostgreSQL's
dialect. Same machine, load average 1.7 falling to 1.6 during the run, before (commit 6c916dd)
and after:

    command                          before           after
    python -c pass                   0.014 (0.014)    0.013 (0.013)
    import tract_core                0.054 (0.052)    0.046 (0.046)
    tract --help                     0.087 (0.084)    0.074 (0.072)
    tract log                        1.037 (0.994)    0.503 (0.491)
    tract status                     1.029 (1.001)    0.502 (0.488)
    tract compile --json             1.020 (0.970)    0.502 (0.450)
    import sqlalchemy                0.275 (0.261)    0.268 (0.261)

Where the 0.5 s of ``tract log`` goes now (timed in one process): ``import sqlalchemy`` about
0.22 s (it imports asyncio itself), the store's modules 0.05 s, the facade and the modules it
imports 0.06 s (mostly creating dataclasses), rich 0.025 s, and 0.055 s of work: building the
parser, opening the store, reading the log, compiling HEAD's context and rendering the table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> tuple[float, float]:
    """Median and fastest wall-clock seconds of ``runs`` runs of ``argv`` (after one warm-up)."""
    subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def _commands(db: str) -> list[tuple[str, list[str]]]:
    python = sys.executable
    return [
        ("python -c pass", [python, "-c", "pass"]),
        ("import tract_core", [python, "-c", "import tract_core"]),
        ("tract --help", [python, "-m", "tract_core", "--help"]),
        ("tract log", [python, "-m", "tract_core", "--db", db, "log"]),
        ("tract status", [python, "-m", "tract_core", "--db", db, "status"]),
        ("tract compile --json", [python, "-m", "tract_core", "--db", db, "compile", "--json"]),
        ("import sqlalchemy", [python, "-c", "import sqlalchemy"]),
    ]


def _measure(root: Path, workdir: Path, runs: int) -> dict[str, tuple[float, float]]:
    env = {**os.environ, "PYTHONPATH": str(root), "TRACT_TIKTOKEN_OFFLINE": "1", "TRACT_PAGER": ""}
    env.pop("TRACT_DB", None)
    db = str(workdir / f"demo-{abs(hash(str(root)))}.db")
    # run in the temporary directory: `python -c` and `-m` put the working directory first on the path
    demo = [sys.executable, "-m", "tract_core", "demo", "--db", db]
    subprocess.run(demo, env=env, cwd=workdir, capture_output=True, check=True)
    return {name: _time(argv, env, workdir, runs) for name, argv in _commands(db)}


def main() -> None:
    """Measure, and print one row per command."""
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--runs", type=int, default=10, help="timed runs per command (default: 10)")
    options.add_argument("--baseline", type=Path, help="another checkout of the project to compare with")
    args = options.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        after = _measure(ROOT, workdir, args.runs)
        before = _measure(args.baseline, workdir, args.runs) if args.baseline else None
    print(f"median (fastest) of {args.runs} runs, seconds; python {sys.version.split()[0]}")
    header = f"{'command':<30}" + (f"{'baseline':>18}" if before else "") + f"{'this checkout':>18}"
    print(header)
    for name, (median, fastest) in after.items():
        row = f"{name:<30}"
        if before:
            b_median, b_fastest = before[name]
            row += f"{b_median:>9.3f} ({b_fastest:.3f})"
        row += f"{median:>9.3f} ({fastest:.3f})"
        print(row)


if __name__ == "__main__":
    main()
