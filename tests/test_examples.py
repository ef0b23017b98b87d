"""The bundled examples work as the README says: every profile, the repo config, the fleet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main
from tests.conftest import EXAMPLES


def test_readme_main_job_passes_offline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLES / "profiles"), "--offline"]) == 0
    assert "vllm-wizard check:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "profile", sorted((EXAMPLES / "profiles").glob("*.yaml")), ids=lambda p: p.name
)
def test_each_example_plans_without_errors(
    profile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "-p", str(profile), "--offline", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["feasibility"]["fits"], plan["feasibility"]["findings"]


def test_repo_config_example_checks_every_profile_on_its_targets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = EXAMPLES / "config" / ".vllm-wizard.yaml"
    assert main(["check", "--config", str(config), "--offline", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    profiles = {Path(p["profile"]).name for p in result["pairs"]}
    targets = {p["target"] for p in result["pairs"]}
    assert profiles == {p.name for p in (EXAMPLES / "profiles").glob("*.yaml")}
    assert {"H100-80GB:2", "L40S:2"} < targets  # besides each profile's own GPU


def test_fleet_example_audits(tmp_path: Path) -> None:
    code = main(
        [
            "audit",
            str(EXAMPLES / "profiles"),
            "--fleet",
            str(EXAMPLES / "fleet.yaml"),
            "--offline",
            "--quiet",
            "--output-dir",
            str(tmp_path),
            "-j",
            "1",
        ]
    )
    assert code in (0, 1)
    report = json.loads((tmp_path / "audit.json").read_text())
    assert report and (tmp_path / "audit.md").read_text().startswith("# ")


def test_plan_exits_1_when_vllm_would_refuse_to_start(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "plan",
        "-m",
        "meta-llama/Llama-3.3-70B-Instruct",
        "--gpu",
        "RTX 4090",
        "--max-model-len",
        "8192",
        "--offline",
    ]
    assert main(args) == 1
    assert "VW201" in capsys.readouterr().out
    assert main([*args[:4], "H200", *args[5:], "--gpus", "2", "--json"]) == 0
