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
        "is missing" in out
    )
    assert not (repo / "deploy").exists()  # checking writes nothing
    assert main(["check", "p.yaml", "--check-artifacts", "--offline", "--format", "json"]) == 1
    drift = json.loads(capsys.readouterr().out)["drift"]
    assert [(d["kind"], d["path"], d["line"], d["fixed"], d["missing"]) for d in drift] == [
        ("command", "deploy/serve.sh", 10, False, True),
        ("compose", "deploy/docker-compose.yaml", 11, False, True),
    ]
    assert list(drift[0]) == ["profile", "kind", "path", "line", "diff", "fixed", "missing"]

    # created files count as changes: exit 1, like a formatter, so they get staged
    assert main(["check", "p.yaml", "--fix", "--offline"]) == 1
    out = capsys.readouterr().out
    assert "deploy/serve.sh (command) was created" in out
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
    assert main(["check", "p.yaml", "--check-artifacts", "--offline"]) == 1
    assert "deploy/serve.sh (command) differs from what the profile generates" in (
        capsys.readouterr().out
    )
    (repo / "deploy" / "serve.sh").unlink()  # deleted: missing again, the other one drifted
    assert main(["check", "p.yaml", "--fix", "--offline"]) == 1
    out = capsys.readouterr().out
    assert "deploy/serve.sh (command) was created" in out
    assert "deploy/docker-compose.yaml (compose) was rewritten" in out


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


def test_artifacts_dir_never_rewrites_the_committed_artifacts(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "-p", "p.yaml", "--emit", "command", "-o", "deploy", "--offline"]) == 0
    serve = repo / "deploy" / "serve.sh"
    edited = serve.read_text().replace("--max-model-len=8192", "--max-model-len=4096")
    serve.write_text(edited)  # a hand edit: drift that a check reports, not rewrites
    capsys.readouterr()
    code = main(["check", "p.yaml", "--artifacts-dir", ".", "--offline", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 2
    (error,) = report["errors"]
    assert error["message"] == (
        "--artifacts-dir . would write deploy/serve.sh over the committed artifact itself"
    )
    assert "--fix" in error["hint"]
    assert serve.read_text() == edited


def test_text_report_prints_the_unified_diff_of_a_drifted_artifact(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "-p", "p.yaml", "--emit", "command", "-o", "deploy", "--offline"]) == 0
    capsys.readouterr()
    (repo / "p.yaml").write_text(PROFILE.replace("8192", "16384").replace("    compose:", "#"))
    assert main(["check", "p.yaml", "--check-artifacts", "--offline"]) == 1
    out = capsys.readouterr().out
    assert "deploy/serve.sh: committed -> expected:" in out
    assert "  -  --max-model-len=8192 \\\n  +  --max-model-len=16384 \\\n" in out


def test_fix_refuses_a_hand_written_artifact(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = "#!/bin/sh\n# our own launcher\nexec vllm serve Qwen/Qwen3-8B\n"
    (repo / "deploy").mkdir()
    (repo / "deploy" / "serve.sh").write_text(mine)
    # the generate hook's entry: vllm-wizard check --check-artifacts --fix
    assert main(["check", "p.yaml", "--check-artifacts", "--fix", "--offline"]) == 2
    out = capsys.readouterr().out
    assert "deploy/serve.sh was not generated by vllm-wizard" in out and "move it away" in out
    assert (repo / "deploy" / "serve.sh").read_text() == mine
    assert not (repo / "deploy" / "docker-compose.yaml").exists()  # all or nothing
    header = "#!/bin/sh\n# Generated by vllm-wizard from ../p.yaml; do not edit by hand.\n"
    (repo / "deploy" / "serve.sh").write_text(header)  # ours (stale): rewritten
    assert main(["check", "p.yaml", "--fix", "--offline"]) == 1  # it wrote: stage them
    assert "--max-model-len=8192" in (repo / "deploy" / "serve.sh").read_text()


def test_artifacts_dir_never_writes_outside_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    repo.mkdir()
    (repo / ".git").mkdir()
    elsewhere.mkdir()
    (elsewhere / "p.yaml").write_text(PROFILE)
    committed = "# Generated by vllm-wizard from p.yaml\nkeep me\n"
    (elsewhere / "deploy").mkdir()
    (elsewhere / "deploy" / "serve.sh").write_text(committed)
    monkeypatch.chdir(repo)
    before = sorted(tmp_path.rglob("*"))
    # named on the command line (a repo config may not reach outside the repository)
    argv = ["check", "../elsewhere/p.yaml", "--artifacts-dir", "upload", "--offline"]
    code = main([*argv, "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 2
    assert any("--artifacts-dir" in e["message"] for e in report["errors"])
    assert (elsewhere / "deploy" / "serve.sh").read_text() == committed
    assert sorted(tmp_path.rglob("*")) == before  # before: repo/elsewhere/deploy/... appeared


def _generate_and_commit(repo: Path) -> None:
    from tests.gate.gitrepo import commit_all, make_repo

    make_repo(repo)
    emit = ["generate", "--profile", "p.yaml", "--emit", "command,compose", "-o", "deploy"]
    assert main([*emit, "--offline"]) == 0
    commit_all(repo, "artifacts")


def test_a_windows_checkout_with_crlf_line_endings_is_no_drift(repo: Path) -> None:
    from tests.gate.gitrepo import git

    _generate_and_commit(repo)
    # what git for Windows does by default: LF blobs, CRLF files in the work tree
    git(repo, "config", "core.autocrlf", "true")
    for name in ("serve.sh", "docker-compose.yaml"):
        (repo / "deploy" / name).unlink()
    git(repo, "checkout", "--", "deploy")
    assert b"\r\n" in (repo / "deploy" / "serve.sh").read_bytes()
    result = run_check(CheckOptions(paths=("p.yaml",), check_artifacts=True, offline=True))
    assert result.drift == [] and result.exit_code == 0
    assert main(["check", "p.yaml", "--fix", "--offline"]) == 0  # nothing to rewrite
    assert b"\r\n" in (repo / "deploy" / "serve.sh").read_bytes()


def test_crlf_line_endings_committed_as_such_are_drift(repo: Path) -> None:
    from tests.gate.gitrepo import commit_all

    _generate_and_commit(repo)
    serve = repo / "deploy" / "serve.sh"
    serve.write_bytes(serve.read_bytes().replace(b"\n", b"\r\n"))  # bash cannot run this
    commit_all(repo, "crlf")
    result = run_check(CheckOptions(paths=("p.yaml",), check_artifacts=True, offline=True))
    assert [d.path for d in result.drift] == ["deploy/serve.sh"] and result.exit_code == 1


def test_crlf_line_endings_outside_git_are_drift(repo: Path) -> None:
    emit = ["generate", "--profile", "p.yaml", "--emit", "command,compose", "-o", "deploy"]
    assert main([*emit, "--offline"]) == 0
    serve = repo / "deploy" / "serve.sh"
    serve.write_bytes(serve.read_bytes().replace(b"\n", b"\r\n"))
    result = run_check(CheckOptions(paths=("p.yaml",), check_artifacts=True, offline=True))
    assert [d.path for d in result.drift] == ["deploy/serve.sh"]


def test_two_profiles_naming_one_artifact_are_refused_and_nothing_is_written(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # each --fix wrote one profile's text over the other's, and every check after it drifted
    (repo / "q.yaml").write_text(PROFILE.replace("8192", "16384").replace("compose", "k8s"))
    assert main(["check", "p.yaml", "q.yaml", "--fix", "--offline", "--format", "json"]) == 2
    errors = json.loads(capsys.readouterr().out)["errors"]
    assert [(e["path"], e["line"], e["message"]) for e in errors] == [
        (
            "p.yaml",
            10,
            "outputs.artifacts.command: 'deploy/serve.sh' is also the command artifact of q.yaml",
        ),
        (
            "q.yaml",
            10,
            "outputs.artifacts.command: 'deploy/serve.sh' is also the command artifact of p.yaml",
        ),
    ]
    assert not (repo / "deploy").exists()


def test_a_symlinked_profile_reads_its_paths_beside_its_real_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As plan and generate --profile do: model.config and the artifacts are the real
    file's neighbours, whichever link the gate was given."""
    config = Path(__file__).parents[2] / "checker/data/models/Qwen__Qwen3-8B.json"
    (repo / "real" / "models").mkdir(parents=True)
    (repo / "real" / "models" / "config.json").write_text(config.read_text())
    (repo / "real" / "p.yaml").write_text(
        PROFILE.replace("id: Qwen/Qwen3-8B", "id: my/qwen\n  config: models/config.json")
    )
    (repo / "link").mkdir()
    (repo / "link" / "p.yaml").symlink_to("../real/p.yaml")
    assert main(["plan", "-p", "link/p.yaml", "--offline"]) == 0
    assert main(["check", "link/p.yaml", "--fix", "--offline"]) == 1
    assert "real/deploy/serve.sh (command) was created" in capsys.readouterr().out
    assert not (repo / "link" / "deploy").exists()
    assert main(["check", "link/p.yaml", "--check-artifacts", "--offline"]) == 0
    (repo / "fleet.yaml").write_text("- H100-80GB\n")
    assert main(["audit", "link/p.yaml", "--fleet", "fleet.yaml", "--quiet", "--offline"]) == 0
