"""Running the ``tract`` command line in a test, in-process, with pytest's ``capsys``."""

from __future__ import annotations

from typing import Any

from ..cli import main

__all__ = ["run_cli"]


def run_cli(capsys: Any, *argv: object) -> tuple[int, str, str]:
    """Run ``tract`` with ``argv`` (each turned into a string) and return its exit status, stdout
    and stderr.

    Args:
        capsys: pytest's ``capsys`` fixture, which captured what the command printed.
        *argv: The arguments after ``tract``.
    """
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err
