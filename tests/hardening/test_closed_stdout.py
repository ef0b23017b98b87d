"""A reader that goes away (`plan … | head -2`) never changes the exit code: the verdict sets it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLES, REPO

FAILING_PLAN = ["plan", "-m", "meta-llama/Llama-3.1-70B", "--gpu", "L4", "--offline"]
PASSING_PLAN = ["plan", "--profile", str(EXAMPLES / "profiles" / "llama-3.1-8b-l4.yaml")]


def _run_with_closed_stdout(argv: list[str]) -> subprocess.CompletedProcess[str]:
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE, as after `head` has exited
    try:
        return subprocess.run(
            [sys.executable, "-m", "checker", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    ("argv", "code"),
    [(FAILING_PLAN, 1), ([*FAILING_PLAN, "--json"], 1), (PASSING_PLAN + ["--offline"], 0)],
    ids=["fail-text", "fail-json", "pass-text"],
)
def test_exit_code_is_the_verdict_when_the_reader_is_gone(argv: list[str], code: int) -> None:
    done = _run_with_closed_stdout(argv)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
