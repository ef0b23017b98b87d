"""A profile in a repository cannot send the checker to read a model config outside it (a pull
request could make CI read and echo any JSON of the runner), unless the repository's own config
allows the directory; a profile outside every git work tree is the user's own file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from checker.gate.sources.model_paths import check_model_paths
from tests.conftest import REPO
from tests.hardening.conftest import GPU, Run, assert_clean_usage_error

CONFIG = REPO / "checker" / "data" / "models" / "HuggingFaceH4__zephyr-7b-beta.json"
SECRET = "SECRET-OF-THE-RUNNER"
GATE = ("check", "--offline", "--no-comment", "--format", "json")


def _profile(config: str) -> str:
    return (
        f"model:\n  id: my/zephyr\n  config: {json.dumps(config)}\n  max_model_len: 4096\n"
        f"hardware:\n  gpu_name: {GPU}\n"
    )


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/repo (a git work tree, the current directory) beside tmp/models/zephyr/config.json,
    and tmp/secret/config.json whose model_type the checker would echo if it read it."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "deploy").mkdir()
    (tmp_path / "models" / "zephyr").mkdir(parents=True)
    shutil.copy(CONFIG, tmp_path / "models" / "zephyr" / "config.json")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "config.json").write_text(json.dumps({"model_type": SECRET}))
    monkeypatch.chdir(root)
    return root


def _gate_error(run: Run) -> dict[str, object]:
    assert run.code == 2, run
    assert SECRET not in run.out + run.err
    (pair,) = json.loads(run.out)["pairs"]
    assert pair["verdict"] == "ERROR"
    error: dict[str, object] = pair["error"]
    return error


@pytest.mark.parametrize(
    "config", ["../../secret/config.json", "../../secret", "{tmp}/secret/config.json"]
)
def test_check_refuses_a_model_config_outside_the_repository(
    cli: Callable[..., Run], repo: Path, config: str
) -> None:
    (repo / "deploy" / "p.yaml").write_text(_profile(config.format(tmp=repo.parent)))
    error = _gate_error(cli(*GATE, "deploy/p.yaml"))
    assert error["line"] == 3  # model.config
    assert "leads outside the repository" in str(error["message"])
    assert "model_config_dirs" in str(error["hint"])


@pytest.mark.parametrize("link", ["dir", "file", "config.json in a directory"])
def test_a_symlink_in_the_repository_leading_outside_is_refused(
    cli: Callable[..., Run], repo: Path, link: str
) -> None:
    secret = repo.parent / "secret"
    if link == "dir":
        (repo / "deploy" / "m").symlink_to(secret)
    elif link == "file":
        (repo / "deploy" / "m").symlink_to(secret / "config.json")
    else:
        (repo / "deploy" / "m").mkdir()
        (repo / "deploy" / "m" / "config.json").symlink_to(secret / "config.json")
    (repo / "deploy" / "p.yaml").write_text(_profile("m"))
    error = _gate_error(cli(*GATE, "deploy/p.yaml"))
    assert "through a symlink" in str(error["message"])


@pytest.mark.parametrize("allowed", ["../models", "{tmp}/models", "{tmp}/models/zephyr"])
def test_the_repo_config_allows_a_directory(
    cli: Callable[..., Run], repo: Path, allowed: str
) -> None:
    (repo / ".vllm-wizard.yaml").write_text(
        json.dumps({"model_config_dirs": [allowed.format(tmp=repo.parent)]})
    )
    (repo / "deploy" / "p.yaml").write_text(_profile("../../models/zephyr/config.json"))
    run = cli(*GATE, "deploy/p.yaml")
    assert run.code == 0, run
    run = cli("plan", "--profile", "deploy/p.yaml", "--json")
    assert run.code == 0, run
    # the allowed directory only: another one stays out
    (repo / "deploy" / "p.yaml").write_text(_profile("../../secret"))
    _gate_error(cli(*GATE, "deploy/p.yaml"))


@pytest.mark.parametrize("command", ["plan", "generate"])
def test_profile_commands_refuse_it_at_the_profile_line(
    cli: Callable[..., Run], repo: Path, command: str
) -> None:
    (repo / "deploy" / "p.yaml").write_text(_profile("../../secret/config.json"))
    out = ["--output-dir", "out"] if command == "generate" else []
    run = cli(command, "--profile", "deploy/p.yaml", *out)
    assert_clean_usage_error(run, "deploy/p.yaml:3:", "model.config", "outside the repository")
    assert "model_config_dirs" in run.err
    assert SECRET not in run.out + run.err
    assert not (repo / "out").exists()


def test_the_command_line_may_name_any_config(cli: Callable[..., Run], repo: Path) -> None:
    (repo / "deploy" / "p.yaml").write_text(_profile("../../secret/config.json"))
    config = str(repo.parent / "models" / "zephyr" / "config.json")
    run = cli("plan", "--profile", "deploy/p.yaml", "--model-config", config, "--json")
    assert run.code == 0, run


def test_a_model_id_naming_a_directory_outside_is_refused(
    cli: Callable[..., Run], repo: Path
) -> None:
    (repo / "deploy" / "p.yaml").write_text(
        f"model: {{id: ../../secret, max_model_len: 4096}}\nhardware: {{gpu_name: {GPU}}}\n"
    )
    error = _gate_error(cli(*GATE, "deploy/p.yaml"))
    assert "model.id '../../secret' leads outside the repository" in str(error["message"])


def test_audit_refuses_it_too(cli: Callable[..., Run], repo: Path) -> None:
    (repo / "deploy" / "p.yaml").write_text(_profile("../../secret/config.json"))
    (repo / "fleet.yaml").write_text(f"- {GPU}\n")
    run = cli("audit", "deploy/p.yaml", "--fleet", "fleet.yaml", "-j", "1", "--offline")
    assert run.code == 2, run
    assert SECRET not in run.out + run.err
    assert "leads outside the repository" in (repo / "audit.md").read_text()


def test_outside_every_git_work_tree_a_profile_names_any_config(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "scratch").mkdir()
    (tmp_path / "models").mkdir()
    shutil.copy(CONFIG, tmp_path / "models" / "config.json")
    (tmp_path / "scratch" / "p.yaml").write_text(_profile("../models/config.json"))
    monkeypatch.chdir(tmp_path / "scratch")
    assert cli("plan", "--profile", "p.yaml", "--json").code == 0
    assert cli(*GATE, "p.yaml").code == 0


def test_no_config_no_check(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    check_model_paths(None, "Qwen/Qwen3-8B", tmp_path, ())  # an id, not a directory


@pytest.mark.parametrize("command", ["check", "plan"])
def test_a_draft_model_directory_outside_is_refused(
    cli: Callable[..., Run], repo: Path, command: str
) -> None:
    (repo / "deploy" / "p.yaml").write_text(
        "model: {id: meta-llama/Llama-3.1-8B-Instruct, max_model_len: 4096}\n"
        f"hardware: {{gpu_name: {GPU}}}\n"
        'vllm:\n  version: "0.33.0"\n'
        "  speculative_config: {model: ../../secret, num_speculative_tokens: 4}\n"
    )
    if command == "check":
        message = str(_gate_error(cli(*GATE, "deploy/p.yaml"))["message"])
    else:
        run = cli("plan", "--profile", "deploy/p.yaml")
        assert_clean_usage_error(run, "deploy/p.yaml:")
        message = run.error_line
    assert "draft model '../../secret' leads outside the repository" in message


@pytest.mark.parametrize("in_repo", [True, False])
def test_a_nul_in_model_config_is_an_error_at_its_line(
    cli: Callable[..., Run], repo: Path, in_repo: bool
) -> None:
    # it was an internal error (ValueError: embedded null byte), in a repository or not
    folder = repo / "deploy" if in_repo else repo.parent / "scratch"
    folder.mkdir(exist_ok=True)
    (folder / "p.yaml").write_text(_profile("a\0b"))
    run = cli("plan", "--profile", str(folder / "p.yaml"))
    assert_clean_usage_error(run, "p.yaml:3:", "unusable path (it holds a NUL character)")
    run = cli(*GATE, str(folder / "p.yaml"))
    assert run.code == 2 and "Traceback" not in run.err, run
    assert json.loads(run.out)["pairs"][0]["error"]["line"] == 3


@pytest.mark.parametrize("bad", ["", "/mo\0dels"])
def test_a_repo_config_directory_that_is_no_path_is_refused(
    cli: Callable[..., Run], repo: Path, bad: str
) -> None:
    (repo / ".vllm-wizard.yaml").write_text(json.dumps({"model_config_dirs": [bad]}))
    (repo / "deploy" / "p.yaml").write_text(_profile("../../models/zephyr/config.json"))
    run = cli(*GATE, "deploy/p.yaml")
    assert_clean_usage_error(run, ".vllm-wizard.yaml:1:", "is not a path")


MODELS = REPO / "checker" / "data" / "models"
TARGET, DRAFT = (MODELS / f"meta-llama__Llama-3.{v}B-Instruct.json" for v in ("1-8", "2-1"))


@pytest.fixture
def local_models(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """repo/deploy/p.yaml naming its model and draft as directories beside it, run from a
    folder where the same relative paths lead nowhere."""
    for name, config in (("llama", TARGET), ("draft", DRAFT)):
        (repo / "deploy" / "models" / name).mkdir(parents=True)
        shutil.copy(config, repo / "deploy" / "models" / name / "config.json")
    (repo / "deploy" / "p.yaml").write_text(
        "model: {id: models/llama, max_model_len: 4096}\n"
        f"hardware: {{gpu_name: {GPU}}}\n"
        'vllm:\n  version: "0.33.0"\n'
        "  speculative_config: {model: ./models/draft, num_speculative_tokens: 4}\n"
    )
    (repo / "elsewhere").mkdir()
    monkeypatch.chdir(repo / "elsewhere")
    return repo


@pytest.mark.parametrize(
    "argv",
    [
        ("plan", "--profile", "../deploy/p.yaml", "--json"),
        (*GATE, "../deploy/p.yaml"),
        ("generate", "--profile", "../deploy/p.yaml", "--emit", "command"),
    ],
    ids=["plan", "check", "generate"],
)
def test_model_and_draft_directories_are_read_beside_the_profile(
    cli: Callable[..., Run], local_models: Path, argv: tuple[str, ...]
) -> None:
    run = cli(*argv)  # from the current directory, neither path is a directory
    assert run.code == 0, run
    if argv[0] == "plan":
        assert json.loads(run.out)["model"]["source"] == "local"
    if argv[0] == "generate":  # the serve command keeps the paths as the profile wrote them
        serve = Path("serve.sh").read_text()
        assert "models/llama" in serve and '"model":"./models/draft"' in serve


def test_the_repository_rule_reads_them_from_the_profiles_folder(
    cli: Callable[..., Run], local_models: Path
) -> None:
    profile = local_models / "deploy" / "p.yaml"
    text = profile.read_text()
    profile.write_text(text.replace("./models/draft", "../../secret"))
    error = _gate_error(cli(*GATE, "../deploy/p.yaml"))
    assert "draft model '../../secret' leads outside the repository" in str(error["message"])
    # read from the current directory (repo/elsewhere), this one would be the model's folder
    shutil.copytree(local_models / "deploy" / "models" / "llama", Path("cwd-only"))
    profile.write_text(text.replace("models/llama", "./cwd-only"))
    error = _gate_error(cli(*GATE, "../deploy/p.yaml"))
    assert "local model directory './cwd-only' does not exist" in str(error["message"])
    assert "the profile's folder" in str(error["message"])


def test_a_model_flag_is_read_from_the_current_directory(
    cli: Callable[..., Run], local_models: Path
) -> None:
    # the profile's draft is still read beside the profile
    shutil.copytree(local_models / "deploy" / "models" / "llama", Path("mine"))
    run = cli("plan", "--profile", "../deploy/p.yaml", "-m", "mine", "--json")
    assert run.code == 0, run
    assert json.loads(run.out)["model"]["model_id"] == "mine"
