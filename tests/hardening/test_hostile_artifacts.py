"""``generate`` with hostile profile values: shell, YAML, markdown and file-path sinks.

The shell scripts really run (``vllm`` and ``docker`` are stubs that record their argv): each
hostile value must arrive as one argument, byte for byte, and nothing in it may execute. The
YAML artifacts must parse back to the same values (after Compose's and Kubernetes' own ``$``
expansion) without any key the profile did not ask for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from checker.errors import ArtifactError
from checker.pipeline import plan_request
from checker.render.drift import check_drift
from checker.schemas.profile_io import load_profile, load_profile_text, profile_to_request
from tests.hardening.conftest import Run, assert_clean_usage_error
from tests.hardening.hostile import (
    GPU,
    PAYLOAD,
    REVISION,
    VALUES_FILE,
    assert_inert_markdown,
    assert_nothing_ran,
    hostile_profiles,
)

KINDS = "command,docker,compose,k8s,report,bench,profile"
_RECORDER = """import json, os, sys
with open(os.environ["ARGV_LOG"], "a") as log:
    log.write(json.dumps([os.path.basename(sys.argv[1]), *sys.argv[2:]]) + "\\n")
"""


@pytest.fixture
def out(cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    hostile_profiles(tmp_path)
    run = cli("generate", "--profile", VALUES_FILE, "--output-dir", "out", "--emit", KINDS)
    assert run.code == 0, run
    return tmp_path / "out"


def _run_script(script: Path, tmp_path: Path) -> list[list[str]]:
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    (stubs / "recorder.py").write_text(_RECORDER)
    for name in ("vllm", "docker"):  # stand-ins that record the argv they are given
        (stubs / name).write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{stubs}/recorder.py" "$0" "$@"\n'
        )
        (stubs / name).chmod(0o755)
    log = tmp_path / "argv.jsonl"
    log.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "ARGV_LOG": str(log)}
    subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, check=True, timeout=30)
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.parametrize("name", ["serve.sh", "docker-run.sh", "bench.sh"])
def test_scripts_pass_each_value_as_one_argument(out: Path, tmp_path: Path, name: str) -> None:
    subprocess.run(["bash", "-n", str(out / name)], check=True)
    subprocess.run(["shellcheck", "--severity=warning", str(out / name)], check=True)
    (argv,) = _run_script(out / name, tmp_path)
    assert_nothing_ran(tmp_path)
    if name == "bench.sh":
        assert argv[:3] == ["vllm", "bench", "serve"]
        return
    assert f"--revision={REVISION}" in argv
    assert f"--served-model-name={PAYLOAD}" in argv
    if name == "docker-run.sh":
        assert argv[0] == "docker" and PAYLOAD in argv  # the image, as one argument


def _unexpand(value: Any) -> Any:
    """What Compose and Kubernetes make of a value: ``$$`` is a literal ``$``."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [_unexpand(v) for v in value]
    return value


def test_compose_parses_back_to_the_values(out: Path) -> None:
    data = yaml.safe_load((out / "docker-compose.yaml").read_text())
    service = data["services"]["vllm"]
    assert _unexpand(service["image"]) == PAYLOAD
    command = _unexpand(service["command"])
    assert f"--revision={REVISION}" in command and f"--served-model-name={PAYLOAD}" in command


def test_k8s_parses_back_to_the_values(out: Path) -> None:
    documents = [d for d in yaml.safe_load_all((out / "k8s.yaml").read_text()) if d]
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == PAYLOAD  # Kubernetes does not expand $(VAR) in the image
    args = _unexpand(container["args"])
    assert f"--revision={REVISION}" in args and f"--served-model-name={PAYLOAD}" in args
    for document in documents:  # the payload is only ever a whole scalar, never structure
        assert "INJECTED" not in json.dumps(list(_keys(document)))


def _keys(node: Any) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


def test_profile_artifact_round_trips(out: Path) -> None:
    profile = load_profile_text((out / "profile.yaml").read_text(), "profile.yaml").profile
    assert profile.model.revision == REVISION and profile.model.tokenizer == PAYLOAD
    assert profile.deploy.image == PAYLOAD
    assert profile.outputs.vllm_args == {"served-model-name": PAYLOAD}


def test_report_is_inert_markdown(out: Path) -> None:
    assert_inert_markdown((out / "report.md").read_text(), comments=1)  # our own header


def test_helm_values_escape_kubernetes_expansion(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    hostile_profiles(tmp_path)
    refused = cli("generate", "--profile", VALUES_FILE, "--output-dir", "h", "--emit", "helm")
    assert_clean_usage_error(refused, "deploy.image")  # not REPOSITORY:TAG
    assert not (tmp_path / "h").exists()
    data = yaml.safe_load((tmp_path / VALUES_FILE).read_text())
    data["deploy"]["image"] = "registry.example/vllm:v0.19.0"
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump(data))
    run = cli("generate", "--profile", "ok.yaml", "--output-dir", "h", "--emit", "helm")
    assert run.code == 0, run
    (spec,) = yaml.safe_load((tmp_path / "h/helm-values.yaml").read_text())["servingEngineSpec"][
        "modelSpec"
    ]
    args = _unexpand(spec["vllmConfig"]["extraArgs"])
    assert f"--revision={REVISION}" in args and f"--served-model-name={PAYLOAD}" in args


@pytest.mark.parametrize(
    ("section", "values", "words"),
    [
        ("deploy", {"cache_dir": "/cache/" + PAYLOAD}, "deploy.cache_dir"),
        ("outputs", {"vllm_args": {"x; touch PWNED #": 1}}, "vllm_args"),
        ("deploy", {"name": "a;b"}, "deploy.name"),
    ],
    ids=["cache-dir", "flag-name", "deploy-name"],
)
def test_values_that_cannot_be_made_safe_are_refused(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    section: str,
    values: dict[str, Any],
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    data = {"model": {"id": "Qwen/Qwen3-8B"}, "hardware": {"gpu_name": GPU}, section: values}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    run = cli("generate", "--profile", "p.yaml", "--output-dir", "o", "--emit", KINDS + ",helm")
    assert_clean_usage_error(run, words)
    assert not (tmp_path / "o").exists()
    assert_nothing_ran(tmp_path)


@pytest.mark.parametrize(
    "where", ["../../outside.sh", "/tmp/outside.sh", "sub/../../x.sh", "link/x"]
)
def test_artifact_paths_stay_inside_the_profile_folder(tmp_path: Path, where: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "link").symlink_to(tmp_path)  # a committed symlink pointing out of the repository
    (repo / "p.yaml").write_text(
        yaml.safe_dump(
            {
                "model": {"id": "Qwen/Qwen3-8B"},
                "hardware": {"gpu_name": GPU},
                "outputs": {"artifacts": {"command": where}},
            }
        )
    )
    loaded = load_profile(repo / "p.yaml")
    plan = plan_request(profile_to_request(loaded.profile), offline=True)
    with pytest.raises(ArtifactError, match="outputs.artifacts.command"):
        check_drift(repo / "p.yaml", loaded.profile, plan)


def test_generate_never_writes_through_a_symlink(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    hostile_profiles(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "victim.sh").write_text("untouched\n")
    (tmp_path / "out/serve.sh").symlink_to(tmp_path / "victim.sh")
    run = cli("generate", "--profile", VALUES_FILE, "--output-dir", "out", "--emit", "command")
    assert_clean_usage_error(run)
    assert (tmp_path / "victim.sh").read_text() == "untouched\n"
