"""The pre-commit hooks, through the real pre-commit: it installs this working tree as a hook
repository (once per session; pip fetches the dependencies) and runs the hooks in a user's repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pytest
import yaml

from tests.conftest import REPO
from tests.gate.test_check_in_actions import FITS, TOO_BIG
from tests.models.fake_hub import FakeHub, Repo


class HookRun(Protocol):
    def __call__(
        self,
        hook_id: str,
        files: dict[str, str],
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        all_files: bool = False,
    ) -> subprocess.CompletedProcess[str]: ...


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This working tree as a one-commit repository, so pre-commit installs what is here now."""
    snap = tmp_path_factory.mktemp("hook-repo")
    listed = git(REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (snap / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, snap / name)
    git(snap, "init", "-q")
    git(snap, "add", "-A")
    git(snap, "commit", "-q", "-m", "snapshot")
    return snap, git(snap, "rev-parse", "HEAD").strip()


@pytest.fixture
def run_hook(
    hook_repo: tuple[Path, str], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> HookRun:
    """Commit-time run of one hook on the given files, in a fresh user repository."""
    snap, rev = hook_repo
    home = tmp_path_factory.getbasetemp() / "pre-commit-home"  # hook envs shared by the session
    user = tmp_path / "user"
    user.mkdir()
    git(user, "init", "-q")

    def run(
        hook_id: str,
        files: dict[str, str],
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        all_files: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        hook: dict[str, object] = {"id": hook_id, **({"args": list(args)} if args else {})}
        config = {"repos": [{"repo": str(snap), "rev": rev, "hooks": [hook]}]}
        (user / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
        for name, text in files.items():
            (user / name).parent.mkdir(parents=True, exist_ok=True)
            (user / name).write_text(text)
        git(user, "add", "-A")
        # --all-files: a name like "--output=x" would be an option to pre-commit's own --files
        which = ["--all-files"] if all_files else ["--files", *files]
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "run", hook_id, "--color", "never", *which],
            cwd=user,
            env={**(os.environ if env is None else env), "PRE_COMMIT_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run


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


def test_check_hook_passes_a_profile_that_fits(run_hook: HookRun) -> None:
    result = run_hook("vllm-wizard-check", {"profiles/serving.yaml": FITS})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "vllm-wizard check" in result.stdout and "Passed" in result.stdout


def test_check_hook_blocks_an_infeasible_profile_with_the_reason(run_hook: HookRun) -> None:
    files = {"profiles/serving.yaml": FITS, "deploy/big.vllm.yaml": TOO_BIG}
    result = run_hook("vllm-wizard-check", files)
    assert result.returncode == 1
    assert "Failed" in result.stdout and "deploy/big.vllm.yaml" in result.stdout
    assert "weights need" in result.stdout and "VW201" in result.stdout


def test_check_hook_skips_yaml_that_is_not_a_profile(run_hook: HookRun) -> None:
    result = run_hook("vllm-wizard-check", {"ci/values.yaml": TOO_BIG})
    assert result.returncode == 0 and "no files to check" in result.stdout


def test_generate_hook_fixes_a_drifted_artifact(run_hook: HookRun, tmp_path: Path) -> None:
    from checker.cli import main

    profile = FITS + "outputs:\n  artifacts: {command: serve.sh}\n"
    fresh_dir = tmp_path / "fresh" / "profiles"
    fresh_dir.mkdir(parents=True)
    (fresh_dir / "serving.yaml").write_text(profile)
    assert (
        main(
            [
                "generate",
                "-p",
                str(fresh_dir / "serving.yaml"),
                "--offline",
                "-o",
                str(fresh_dir),
                "--emit",
                "command",
            ]
        )
        == 0
    )
    fresh = (fresh_dir / "serve.sh").read_text()
    drifted = fresh.replace("--max-model-len=4096", "--max-model-len=8192")
    assert drifted != fresh
    files = {"profiles/serving.yaml": profile, "profiles/serve.sh": drifted}
    result = run_hook("vllm-wizard-generate", files)
    assert result.returncode == 1, result.stdout + result.stderr  # a formatter: it changed files
    assert "files were modified by this hook" in result.stdout
    user = tmp_path / "user"
    assert (user / "profiles" / "serve.sh").read_text() == fresh
    again = run_hook(
        "vllm-wizard-generate", {"profiles/serving.yaml": profile, "profiles/serve.sh": fresh}
    )
    assert again.returncode == 0, again.stdout + again.stderr


def _generated(tmp_path: Path, profile: str, emit: str) -> dict[str, str]:
    """What ``generate`` writes into profiles/deploy/ for profiles/serving.yaml."""
    from checker.cli import main

    root = tmp_path / "gen"
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "serving.yaml").write_text(profile)
    out = root / "profiles" / "deploy"
    argv = ["generate", "-p", str(root / "profiles" / "serving.yaml"), "-o", str(out)]
    assert main([*argv, *(["--emit", emit] if emit else [])]) == 0
    return {f"profiles/deploy/{p.name}": p.read_text() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("hook_id", ["vllm-wizard-check", "vllm-wizard-generate"])
def test_hooks_skip_our_artifacts_kept_under_profiles(
    run_hook: HookRun, tmp_path: Path, hook_id: str
) -> None:
    profile = FITS + "outputs:\n  artifacts: {compose: deploy/docker-compose.yaml}\n"
    artifacts = _generated(tmp_path, profile, "command,compose,k8s,helm,profile")
    assert "profiles/deploy/profile.yaml" in artifacts  # a full profile, with our header
    result = run_hook(hook_id, {"profiles/serving.yaml": profile, **artifacts})
    assert result.returncode == 0, result.stdout + result.stderr
    # then `git add profiles/deploy` alone: every file is ours, none is a profile
    result = run_hook(hook_id, artifacts)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "missing required key" not in result.stdout


def test_generate_hook_fails_when_it_creates_a_missing_artifact(
    run_hook: HookRun, tmp_path: Path
) -> None:
    profile = FITS + "outputs:\n  artifacts: {command: deploy/serve.sh}\n"
    result = run_hook("vllm-wizard-generate", {"profiles/serving.yaml": profile})
    assert result.returncode == 1, result.stdout + result.stderr
    created = tmp_path / "user" / "profiles" / "deploy" / "serve.sh"
    assert "vllm serve Qwen/Qwen3-0.6B" in created.read_text()
    assert "deploy/serve.sh (command) was created" in result.stdout
    again = run_hook("vllm-wizard-generate", {"profiles/serving.yaml": profile})
    assert again.returncode == 0, again.stdout + again.stderr  # once staged, the hook passes


def test_hooks_read_a_file_named_like_an_option_as_a_file(
    run_hook: HookRun, tmp_path: Path
) -> None:
    hostile = {
        "--output=pwned.vllm.yaml": TOO_BIG,
        "profiles/serving.yaml": FITS,
        ".vllm-wizard.yaml": "fail_on: error\n",
    }
    result = run_hook(
        "vllm-wizard-check",
        hostile,
        args=["--config", ".vllm-wizard.yaml", "--fail-on=error"],  # options, with a value
        all_files=True,
    )
    assert not (tmp_path / "user" / "pwned.vllm.yaml").exists()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--output=pwned.vllm.yaml" in result.stdout and "VW201" in result.stdout


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as fake:
        config = (REPO / "tests" / "data" / "configs" / "Qwen__Qwen2.5-1.5B.json").read_bytes()
        fake.repos["acme/private-1.5b"] = Repo(files={"config.json": config})
        yield fake


@pytest.mark.parametrize("hook_id", ["vllm-wizard-check", "vllm-wizard-generate"])
def test_hooks_are_offline_unless_told(run_hook: HookRun, hub: FakeHub, hook_id: str) -> None:
    profile = FITS.replace("Qwen/Qwen3-0.6B", "acme/private-1.5b")
    profile += "outputs:\n  artifacts: {command: serve.sh}\n"
    online_env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    online_env["HF_ENDPOINT"] = hub.url
    result = run_hook(hook_id, {"profiles/serving.yaml": profile}, env=online_env)
    assert "exit code: 2" in result.stdout, result.stdout + result.stderr
    assert "not asked" in result.stdout and hub.seen == []
    result = run_hook(
        hook_id, {"profiles/serving.yaml": profile}, args=["--online"], env=online_env
    )
    assert hub.seen, result.stdout + result.stderr
    assert "not asked" not in result.stdout
