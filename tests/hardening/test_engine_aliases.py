"""Issue 18 item 3: plan-owned flags through vLLM's short aliases. Every alias maps to its
canonical flag before any check, so the plan is made at the settings the artifact runs with."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.hardening.conftest import GPU, Run

ALIASES = {"-tp": 8, "-pp": 4, "-q": "fp8", "-dp": 16}


def _profile(tmp_path: Path, args: dict[str, object]) -> Path:
    path = tmp_path / "p.yaml"
    data = {
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "max_model_len": 8192},
        "hardware": {"gpu_name": GPU, "gpus": 2},
        "outputs": {"vllm_args": args},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_short_aliases_are_planned_at_the_values_the_artifact_runs(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    path = _profile(tmp_path, ALIASES)
    planned = cli("plan", "--profile", str(path), "--offline", "--json")
    config = json.loads(planned.out)["config"]
    assert (config["tensor_parallel_size"], config["pipeline_parallel_size"]) == (8, 4)
    assert config["quantization"] == "fp8"
    assert config["extra_args"] == {"data-parallel-size": 16}
    # TP 8 x PP 4 on a 2-GPU profile cannot start: check says so instead of passing at TP 1
    checked = cli("check", str(path), "--offline", "--format", "json")
    assert checked.code == 1
    assert "VW301" in checked.out


def test_an_alias_and_its_profile_key_together_are_refused_at_the_line(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    path = _profile(tmp_path, {"-tp": 8})
    text = path.read_text(encoding="utf-8").replace("gpus: 2", "gpus: 2\n  tp_size: 1")
    path.write_text(text, encoding="utf-8")
    run = cli("check", str(path), "--offline")
    assert run.code == 2
    assert f"{path.name}:" in run.out + run.err and "also given as hardware.tp_size" in run.out
