"""plan and check give one verdict, and a finding that fails the gate is an error everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main
from checker.gate.check import CheckOptions, run_check
from checker.gate.formats import render_report
from checker.schemas.enums import FailOn
from tests.gate.test_check import llama, write

ROOT = Path(__file__).resolve().parents[2]
GPT_OSS = str(ROOT / "examples" / "profiles" / "gpt-oss-20b-h100.yaml")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_plan_and_check_agree_on_two_l4s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no repo config around
    code, out = _run(capsys, "plan", "-p", GPT_OSS, "--gpu", "L4", "--gpus", "2", "--offline")
    assert out.startswith("FAIL  openai/gpt-oss-20b on 1 of 2 x L4 (TP 1, PP 1)")
    assert code == 1
    code, out = _run(capsys, "plan", "-p", GPT_OSS, "--gpu", "L4", "--gpus", "2", "--json")
    plan = json.loads(out)["feasibility"]
    assert code == 1 and plan["verdict"] == "FAIL" and plan["num_gpus_given"] == 2
    code, out = _run(capsys, "check", GPT_OSS, "--gpu", "L4:2", "--format", "json", "--offline")
    pair = json.loads(out)["pairs"][0]
    assert code == 1 and pair["verdict"] == "FAIL"
    assert pair["plan"]["feasibility"]["num_gpus_used"] == plan["num_gpus_used"] == 1
    ids = [(f["rule_id"], f["severity"], f["estimated"]) for f in plan["findings"]]
    assert [(f["rule_id"], f["severity"], f["estimated"]) for f in pair["findings"]] == ids
    assert ("VW205", "error", True) in ids


def test_plan_follows_the_repo_configs_fail_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "p.yaml", llama(8192).replace("concurrency: 1", "concurrency: 64"))
    monkeypatch.chdir(tmp_path)
    flags = ("-p", "p.yaml", "--gpu", "L4", "--offline")
    assert _run(capsys, "plan", *flags)[0] == 0  # a warning: WARN
    write(tmp_path, ".vllm-wizard.yaml", "fail_on: warning\n")
    code, out = _run(capsys, "plan", *flags)
    assert code == 1 and out.startswith("FAIL")
    assert "ERROR VW204" in out
    assert _run(capsys, "plan", *flags, "--fail-on", "error")[0] == 0
    assert _run(capsys, "check", "p.yaml", "--gpu", "L4", "--offline")[0] == 1


def test_a_warning_that_fails_the_gate_is_an_error_in_every_format(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", llama(8192).replace("concurrency: 1", "concurrency: 64"))
    result = run_check(
        CheckOptions(
            paths=("p.yaml",), gpus=("L4",), cwd=tmp_path, offline=True, fail_on=FailOn.WARNING
        )
    )
    assert result.exit_code == 1 and [p.verdict for p in result.pairs] == ["FAIL"]
    assert result.counts["fail"] == 1 and result.counts["warn"] == 0
    data = json.loads(render_report(result, "json"))
    assert {f["severity"] for f in data["pairs"][0]["findings"]} == {"error"}
    sarif = json.loads(render_report(result, "sarif"))
    assert {r["level"] for r in sarif["runs"][0]["results"]} == {"error"}
    github = render_report(result, "github").splitlines()
    assert any(line.startswith("::error file=p.yaml") for line in github)
    assert not any(line.startswith("::warning") for line in github)
    assert "p.yaml:9: error VW204" in render_report(result, "text")
    assert "error at line 9" in render_report(result, "markdown")


@pytest.mark.parametrize("fail_on", [FailOn.ERROR, FailOn.WARNING])
def test_a_failing_pair_whose_plan_no_report_prints_has_the_same_verdict(
    tmp_path: Path, fail_on: FailOn
) -> None:
    # text, sarif and github print a failing pair's findings and figures, not its plan: the
    # CLI then asks for no plans (CheckOptions.plans), and every pair reads as with them
    write(tmp_path, "warns.yaml", llama(8192).replace("concurrency: 1", "concurrency: 64"))
    write(tmp_path, "fails.yaml", llama(131072))
    options = CheckOptions(paths=["."], gpus=["L4", "H100-80GB"], offline=True, cwd=tmp_path)
    options = options._replace(fail_on=fail_on)
    whole, lean = run_check(options), run_check(options._replace(plans=False))
    assert any(p.verdict == "FAIL" for p in whole.pairs)
    assert all(p.packed_plan is None and p.plan is None for p in lean.pairs)
    assert [p.full_plan() is not None for p in whole.pairs] == [p.failed for p in whole.pairs]
    bare = {"packed_plan": None, "plan": None}
    assert [p.model_copy(update=bare) for p in whole.pairs] == lean.pairs
    for name in ("text", "sarif", "github"):
        assert render_report(lean, name) == render_report(whole, name)


def test_check_asks_for_plans_only_for_the_reports_that_print_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import checker.gate.check as gate_check

    write(tmp_path, "p.yaml", llama(131072))
    monkeypatch.chdir(tmp_path)
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    asked: list[bool] = []
    real = gate_check.run_check

    def spy(options: CheckOptions) -> object:
        asked.append(options.plans)
        return real(options)

    monkeypatch.setattr(gate_check, "run_check", spy)
    for name in ("text", "json", "markdown", "sarif", "github"):
        _run(capsys, "check", "p.yaml", "--gpu", "L4", "--offline", "--format", name)
    assert asked == [False, True, True, False, False]
