"""Artifacts show ESC, BEL, CR and bidi overrides as escapes that mean the same value (shell
words, YAML scalars, comments, report.md), and report.md shows the command serve.sh runs
(issue 18, items 10 and 14)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.hardening.conftest import GPU, Run

NAME = "a\x1bb\x07c\rd\u202ee'f\\g\u2066h"
RAW = ["\x1b", "\x07", "\r", "\u202e", "\u2066"]
KINDS = "command,docker,compose,k8s,helm,report,bench,profile"


@pytest.fixture
def out(cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    profile = {
        "model": {"id": "Qwen/Qwen3-8B"},
        "hardware": {"gpu_name": GPU},
        "outputs": {"vllm_args": {"served-model-name": NAME}},
    }
    (tmp_path / f"p{NAME[:3]}.yaml").write_text(yaml.safe_dump(profile))  # in the header too
    run = cli("generate", "--profile", f"p{NAME[:3]}.yaml", "-o", "out", "--emit", KINDS)
    assert run.code == 0, run
    return tmp_path / "out"


def test_no_artifact_holds_a_raw_control_or_bidi_character(out: Path) -> None:
    for path in sorted(out.iterdir()):
        text = path.read_text(encoding="utf-8")
        assert not [c for c in RAW if c in text], path.name


def test_the_escapes_mean_the_same_value(out: Path) -> None:
    profile = yaml.safe_load((out / "profile.yaml").read_text(encoding="utf-8"))
    assert profile["outputs"]["vllm_args"]["served-model-name"] == NAME
    compose = yaml.safe_load((out / "docker-compose.yaml").read_text(encoding="utf-8"))
    (service,) = compose["services"].values()
    assert f"--served-model-name={NAME}" in service["command"]


def test_serve_sh_passes_the_same_bytes(out: Path, tmp_path: Path) -> None:
    script = (out / "serve.sh").read_text(encoding="utf-8")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "vllm").write_text('#!/usr/bin/env bash\nprintf "%s\\0" "$@"\n')
    (fake / "vllm").chmod(0o755)
    (out / "serve.sh").write_text(script.replace("exec vllm", f"exec {fake}/vllm"))
    done = subprocess.run(["bash", str(out / "serve.sh")], capture_output=True, check=True)
    args = done.stdout.decode("utf-8").split("\0")
    assert f"--served-model-name={NAME}" in args


def test_report_md_shows_the_vllm_args_serve_sh_runs(out: Path) -> None:
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "--served-model-name=" in report
    assert "\\u202e" in report or "\\x1b" in report
