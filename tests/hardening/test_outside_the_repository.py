"""The gate reads the repository's own files: a committed repo config cannot reach outside it
with a glob, and a committed symlink leading outside is not followed (issue 18, item 9)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hardening.conftest import GPU, Run, assert_clean_usage_error

OK = f"model:\n  id: Qwen/Qwen3-8B\nhardware:\n  gpu_name: {GPU}\n"
SECRET = "model:\n  id: Qwen/Qwen3-8B\n  revision: SECRET-OUTSIDE\nhardware:\n  gpu_name: L4\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "p.yaml").write_text(OK)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.yaml").write_text(SECRET)
    monkeypatch.chdir(root)
    return root


@pytest.mark.parametrize("glob", ["/usr/**/*.yaml", "../outside/*.yaml", "x/../../outside/*"])
def test_a_repo_config_glob_outside_the_repository_is_refused(
    cli: Callable[..., Run], repo: Path, glob: str
) -> None:
    (repo / ".vllm-wizard.yaml").write_text(json.dumps({"profiles": ["*.yaml", glob]}))
    run = cli("check", "--no-comment", "--offline")
    assert_clean_usage_error(run, "reaches outside the repository")
    assert "SECRET" not in run.out + run.err


@pytest.mark.parametrize("command", ["check", "audit"])
@pytest.mark.parametrize("path", ["/proc/self/environ", "../outside/secret.yaml"])
def test_a_repo_config_calibration_outside_the_repository_is_refused(
    cli: Callable[..., Run], repo: Path, command: str, path: str
) -> None:
    (repo / ".vllm-wizard.yaml").write_text(json.dumps({"calibration": path}))
    (repo / "fleet.yaml").write_text(f"- {GPU}\n")
    fleet = ["--fleet", "fleet.yaml", "--output-dir", "out"] if command == "audit" else []
    run = cli(command, "p.yaml", "--offline", *fleet)
    assert_clean_usage_error(run, "calibration:", "reaches outside the repository")
    assert "SECRET" not in run.out + run.err
    assert not (repo / "out").exists()


def test_a_symlink_leading_outside_is_not_followed(cli: Callable[..., Run], repo: Path) -> None:
    (repo / "link.yaml").symlink_to(repo.parent / "outside" / "secret.yaml")
    found = cli("check", ".", "--no-comment", "--offline", "--format", "json")
    assert found.code == 0 and "SECRET" not in found.out + found.err, found  # not a profile
    assert [p["profile"] for p in json.loads(found.out)["pairs"]] == ["p.yaml"]
    # named, as the Action names the changed files: an input error, never its values
    run = cli("check", "link.yaml", "p.yaml", "--no-comment", "--offline", "--format", "json")
    report = json.loads(run.out)
    assert run.code == 2, run
    assert [e["path"] for e in report["errors"]] == ["link.yaml"]
    assert "outside the repository" in report["errors"][0]["message"]
    assert "SECRET" not in run.out + run.err
    assert [p["profile"] for p in report["pairs"]] == ["p.yaml"]


def test_a_symlink_inside_the_repository_and_a_named_outside_file_are_read(
    cli: Callable[..., Run], repo: Path
) -> None:
    (repo / "same.yaml").symlink_to(repo / "p.yaml")
    run = cli("check", ".", "../outside/secret.yaml", "--no-comment", "--offline")
    assert run.code == 1 and "same.yaml" in run.out and "secret.yaml" in run.out, run


def test_a_folder_symlink_leading_outside_is_not_followed_for_any_of_its_files(
    cli: Callable[..., Run], repo: Path
) -> None:
    """Each file's folder is resolved once per run; a folder link still leads outside for
    every file named through it, and one inside the repository is read."""
    (repo.parent / "outside" / "other.yaml").write_text(SECRET)
    (repo / "linked").symlink_to(repo.parent / "outside")
    (repo / "sub").mkdir()
    (repo / "sub" / "q.yaml").write_text(OK)
    (repo / "alias").symlink_to(repo / "sub")
    named = ["linked/secret.yaml", "linked/other.yaml", "alias/q.yaml", "p.yaml"]
    run = cli("check", *named, "--no-comment", "--offline", "--format", "json")
    report = json.loads(run.out)
    assert run.code == 2 and "SECRET" not in run.out + run.err, run
    assert [e["path"] for e in report["errors"]] == ["linked/other.yaml", "linked/secret.yaml"]
    assert [p["profile"] for p in report["pairs"]] == ["alias/q.yaml", "p.yaml"]
