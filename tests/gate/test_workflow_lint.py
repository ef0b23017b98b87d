"""action.yml and every example workflow pass actionlint (and jactionlint for the action's steps).

actionlint reads a composite action only as metadata, through a workflow that uses it, so each
example is also linted with our action as the local ``./``: that checks every input and output
they use against action.yml. jactionlint reads the action's own steps (expressions, injection,
shellcheck on each script). Both get shellcheck from the test extra, so no script goes unchecked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

WORKFLOWS = sorted((REPO / "examples" / "workflows").glob("*.yml"))
OUR_ACTION = re.compile(r"(?<=uses: )vllm-wizard/vllm-wizard@[0-9a-f]{40}")
# owner/repo@<full commit SHA> # <the tag or branch it was taken from>
PINNED = re.compile(r"uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # (v\d+\.\d+\.\d+|main)")


def tool(name: str) -> str:
    """The linter installed by the test extra next to this Python, else one on PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    assert found, f"{name} is missing: pip install -e '.[test]'"
    return found


def lint_repo(tmp_path: Path, workflows: dict[str, str], action: str | None = None) -> Path:
    """A throwaway repository laid out as GitHub reads it, with action.yml at its root."""
    root = tmp_path / "repo"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / "action.yml").write_text(action or (REPO / "action.yml").read_text())
    for name, text in workflows.items():
        (root / ".github" / "workflows" / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def actionlint(root: Path) -> subprocess.CompletedProcess[str]:
    files = sorted(str(p) for p in (root / ".github" / "workflows").iterdir())
    return subprocess.run(
        [tool("actionlint"), "-oneline", "-no-color", f"-shellcheck={tool('shellcheck')}", *files],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def jactionlint(root: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            tool("jactionlint"),
            "--oneline",
            "--no-color",
            "--shellcheck",
            tool("shellcheck"),
            "--pyflakes=",
            *paths,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_there_are_four_example_workflows() -> None:
    names = {p.name for p in WORKFLOWS}
    assert names == {"pr-gate.yml", "pr-report.yml", "pr-comment.yml", "nightly-audit.yml"}


def test_examples_pass_actionlint_as_published_and_against_our_action(tmp_path: Path) -> None:
    texts = {p.name: p.read_text() for p in WORKFLOWS}
    local = {
        f"local-{n}": OUR_ACTION.sub("./", t) for n, t in texts.items() if OUR_ACTION.search(t)
    }
    assert len(local) == 3  # all but the nightly audit use the action
    root = lint_repo(tmp_path, {**texts, **local})
    result = actionlint(root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_action_and_examples_pass_jactionlint(tmp_path: Path) -> None:
    root = lint_repo(tmp_path, {p.name: p.read_text() for p in WORKFLOWS})
    result = jactionlint(root, "action.yml", *(f".github/workflows/{p.name}" for p in WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not found" not in result.stderr  # shellcheck really ran


def test_action_scripts_take_every_value_from_env() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    runs = [s["run"] for s in action["runs"]["steps"] if "run" in s]
    assert len(runs) == 3
    for script in runs:
        assert "${{" not in script  # not even github.* values: env is the one way in
    envs = [s.get("env", {}) for s in action["runs"]["steps"] if "run" in s]
    assert all("GITHUB_ENV" not in script for script in runs)  # outputs carry values between steps
    assert envs[2]["VLLM_WIZARD_BIN"] == "${{ steps.install.outputs.bin }}"


@pytest.mark.parametrize("path", [REPO / "action.yml", *WORKFLOWS], ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha_with_its_version(path: Path) -> None:
    uses = [line.strip().removeprefix("- ") for line in path.read_text().splitlines()]
    uses = [u for u in uses if u.startswith("uses:")]
    assert uses
    for line in uses:
        assert PINNED.fullmatch(line), line


def test_zizmor_finds_nothing() -> None:
    """zizmor (offline audits) on the action and every example: no finding at any severity;
    the one workflow_run trigger is reviewed and marked where it stands (pr-comment.yml)."""
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "--persona=pedantic", "action.yml"]
        + [str(p.relative_to(REPO)) for p in WORKFLOWS],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr
    ignored = [p.name for p in WORKFLOWS if "zizmor: ignore[" in p.read_text()]
    assert ignored == ["pr-comment.yml"]


def test_the_linters_catch_injection(tmp_path: Path) -> None:
    """The gates above are real: the same linters refuse a script that splices PR text in."""
    bad_workflow = (
        "on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    timeout-minutes: 5\n    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    action = (REPO / "action.yml").read_text()
    bad_action = action.replace(
        "set -euo pipefail\n        venv=", "echo ${{ inputs.paths }}\n        venv=", 1
    )
    assert bad_action != action
    root = lint_repo(tmp_path, {"bad.yml": bad_workflow}, action=bad_action)
    linted = actionlint(root)
    assert linted.returncode == 1 and "potentially untrusted" in linted.stdout
    linted = jactionlint(root, "action.yml")
    assert linted.returncode == 1 and "inputs.paths" in linted.stdout
