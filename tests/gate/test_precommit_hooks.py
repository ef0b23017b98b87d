"""The pre-commit hooks, through the real pre-commit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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


def test_adoption_snippet_is_a_valid_config(tmp_path: Path) -> None:
    from tests.gate.test_workflow_lint import doc_snippets

    (snippet,) = doc_snippets("repos:")
    config = tmp_path / "config.yaml"
    config.write_text(snippet)
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    hook_ids = {h["id"] for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert hook_ids == {"vllm-wizard-check", "vllm-wizard-generate"}
    assert all(f"id: {h}" in snippet for h in hook_ids)
