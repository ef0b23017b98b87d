"""--check-artifacts / --fix through the CLI, against what 'generate' writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main
from checker.gate.check import CheckOptions, run_check

PROFILE = """\
model:
  id: Qwen/Qwen3-8B
  max_model_len: 8192
hardware:
  gpu_name: H100-80GB
vllm:
  version: "0.19.0"
outputs:
  artifacts:
    command: deploy/serve.sh
    compose: deploy/docker-compose.yaml
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "p.yaml").write_text(PROFILE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_generated_artifacts_are_up_to_date(repo: Path) -> None:
    assert (
        main(
            [
                "generate",
                "--profile",
                "p.yaml",
                "--emit",
                "command,compose",
                "-o",
                "deploy",
                "--offline",
            ]
        )
        == 0
    )
    result = run_check(CheckOptions(paths=("p.yaml",), check_artifacts=True, offline=True))
    assert result.drift == [] and result.exit_code == 0


def test_drift_fails_and_fix_rewrites(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "p.yaml", "--check-artifacts", "--offline", "--format", "github"]) == 1
    out = capsys.readouterr().out
    assert (
        "::error file=p.yaml,line=10,title=vllm-wizard VWG03::deploy/serve.sh (command) "
        "differs from what the profile generates" in out
    )
    assert not (repo / "deploy").exists()  # checking writes nothing
    assert main(["check", "p.yaml", "--check-artifacts", "--offline", "--format", "json"]) == 1
    drift = json.loads(capsys.readouterr().out)["drift"]
    assert [(d["kind"], d["path"], d["line"], d["fixed"]) for d in drift] == [
        ("command", "deploy/serve.sh", 10, False),
        ("compose", "deploy/docker-compose.yaml", 11, False),
    ]
    assert list(drift[0]) == ["profile", "kind", "path", "line", "diff", "fixed"]

    # created files count as changes: exit 1, like a formatter, so they get staged
    assert main(["check", "p.yaml", "--fix", "--offline"]) == 1
    out = capsys.readouterr().out
    assert "deploy/serve.sh (command) was rewritten" in out
    assert "PASS (0 fail, 0 warn, 1 pass, 2 artifact(s) written by --fix: review and" in out
    serve = (repo / "deploy" / "serve.sh").read_text()
    assert "--max-model-len=8192" in serve

    assert main(["check", "p.yaml", "--check-artifacts", "--offline"]) == 0
    capsys.readouterr()
    (repo / "p.yaml").write_text(PROFILE.replace("8192", "16384"))
    assert main(["check", "p.yaml", "--check-artifacts", "--offline", "--format", "markdown"]) == 1
    out = capsys.readouterr().out
    assert "### Artifact drift" in out
    assert "-  --max-model-len=8192 \\\n+  --max-model-len=16384 \\" in out
    assert "1 pass, 2 drifted artifact(s)" in out


def test_artifact_path_outside_the_profile_dir_is_an_input_error(repo: Path) -> None:
    (repo / "p.yaml").write_text(PROFILE.replace("deploy/serve.sh", "../../etc/serve.sh"))
    result = run_check(CheckOptions(paths=("p.yaml",), fix=True, offline=True))
    assert result.exit_code == 2
    (problem,) = result.errors
    assert problem.path == "p.yaml" and problem.line == 9
    assert "outputs.artifacts.command" in problem.message


def test_artifacts_dir_collects_regenerated_text_without_touching_the_repo(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = repo.parent / "upload"
    assert main(["check", "p.yaml", "--artifacts-dir", str(out), "--offline"]) == 1
    capsys.readouterr()
    assert not (repo / "deploy").exists()
    regenerated = (out / "deploy" / "serve.sh").read_text()
    assert "--max-model-len=8192" in regenerated
    assert (out / "deploy" / "docker-compose.yaml").is_file()
