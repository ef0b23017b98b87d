"""The pre-commit hooks, through the real pre-commit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize(
    ("command", "hook_file"),
    [
        ("validate-manifest", ".pre-commit-hooks.yaml"),
        ("validate-config", ".pre-commit-config.yaml"),
    ],
)
def test_pre_commit_files_validate(command: str, hook_file: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", command, str(REPO / hook_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
