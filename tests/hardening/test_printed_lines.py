"""Every line we print (errors, hints, warnings, plan and explain text) shows a committed
key or value escaped: no newline, ESC or bidi override of its own, and no ``::`` that could
start a workflow command the Actions runner obeys (issue 18, item 1)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.hardening.conftest import GPU, Run

KEY = (
    "x\n::set-output name=verdict::PASS\n::error file=p.yaml,line=1::FAKE\n"
    "::stop-commands::t\n\x1b[2J\u202e"
)
OK = {"model": {"id": "Qwen/Qwen3-8B"}, "hardware": {"gpu_name": GPU}}
# The runner reads a command at the start of a line, leading blanks trimmed.
_COMMAND = re.compile(r"^\s*(::|##\[)", re.M)


def assert_inert(run: Run) -> None:
    for stream in (run.out, run.err):
        assert not _COMMAND.search(stream), stream
        assert "\x1b" not in stream and "\u202e" not in stream and "\r" not in stream, stream
    assert "Traceback" not in run.out + run.err


def _write(path: Path, data: object) -> None:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "p.yaml", OK)
    return tmp_path


def test_a_key_in_the_repo_config(cli: Callable[..., Run], tree: Path) -> None:
    _write(tree / ".vllm-wizard.yaml", {KEY: 1})
    run = cli("check", "p.yaml", "--no-comment", "--format", "github")
    assert run.code == 2, run
    assert "set-output" in run.err  # shown, escaped, on one line
    assert_inert(run)


def test_a_key_in_a_profile(cli: Callable[..., Run], tree: Path) -> None:
    _write(tree / "p.yaml", {**OK, KEY: 1})
    assert_inert(cli("plan", "--profile", "p.yaml"))
    assert_inert(cli("generate", "--profile", "p.yaml", "--output-dir", "out"))


def test_a_key_in_a_fleet_file(cli: Callable[..., Run], tree: Path) -> None:
    _write(tree / "fleet.yaml", [{"name": GPU, KEY: 1}])
    run = cli("audit", "p.yaml", "--fleet", "fleet.yaml", "--output-dir", "out")
    assert run.code == 2, run
    assert_inert(run)


def test_a_key_in_a_lockfile(cli: Callable[..., Run], tree: Path) -> None:
    (tree / "lock.json").write_text(json.dumps({KEY: 1}), encoding="utf-8")
    run = cli("plan", "-m", "org/not-in-the-catalog", "--gpu", GPU, "--lockfile", "lock.json")
    assert run.code == 2, run
    assert_inert(run)


def test_a_custom_gpu_name_in_the_fails_warning(cli: Callable[..., Run], tree: Path) -> None:
    name = "tiny\n::error::FAKE\x1b[2J"
    gpu = {"name": name, "memory_gib": 1, "memory_bandwidth_gbs": 100, "fp16_tflops": 10}
    gpu["compute_capability"] = "9.0"
    _write(
        tree / "p.yaml",
        {"model": {"id": "Qwen/Qwen3-8B"}, "hardware": {"gpu_name": name, "custom_gpus": [gpu]}},
    )
    run = cli("generate", "--profile", "p.yaml", "--output-dir", "out")
    assert run.code == 1 and "FAILS on tiny" in run.err, run
    assert_inert(run)
    forced = cli("generate", "--profile", "p.yaml", "--output-dir", "out", "--force")
    assert "written anyway" in forced.err, forced
    assert_inert(forced)
    assert_inert(cli("plan", "--profile", "p.yaml"))


def test_the_base_hint(cli: Callable[..., Run], tree: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    run = cli("check", "p.yaml", "--no-comment", "--base", "main\n::error::FAKE\x1b[2J")
    assert run.code == 2 and "fetch it first" in run.err, run
    assert_inert(run)


def test_explain_output(cli: Callable[..., Run], tree: Path) -> None:
    log = tree / "x\n::error::FAKE\x1b[2J.log"
    log.write_text("INFO vLLM API server version 0.19.0\n", encoding="utf-8")
    run = cli("explain", str(log.name), "-m", "Qwen/Qwen3-8B", "--gpu", GPU)
    assert_inert(run)
