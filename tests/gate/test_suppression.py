"""Ignoring a rule (profile `ignore:` or repo config): shown as suppressed, with its reason, in
every format, and no longer counted in the verdict."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

from checker.cli import main
from tests.conftest import REPO

# Qwen3-8B at 32k on one L4: the KV cache holds about 20k tokens, so VW203 fails it.
FAILING = (
    "profile_version: 1\nmodel:\n  id: Qwen/Qwen3-8B\n  max_model_len: 32768\n"
    "hardware:\n  gpu_name: L4\n"
)
IGNORE_203 = "ignore:\n  - rule: VW203\n    reason: short prompts only\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()  # the repo config search stops here
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check", "--offline", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_without_ignore_the_profile_fails(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "p.yaml").write_text(FAILING, encoding="utf-8")
    code, out, _ = _check(capsys, "p.yaml")
    assert code == 1 and "error VW203" in out


def test_an_ignored_rule_is_shown_with_its_reason_in_every_format_and_not_counted(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "p.yaml").write_text(FAILING + IGNORE_203, encoding="utf-8")
    code, out, _ = _check(capsys, "p.yaml")
    assert code == 0 and "PASS" in out
    assert re.search(r"p\.yaml:4: info VW203 .*suppressed \(short prompts only\): error:", out)

    code, out, _ = _check(capsys, "p.yaml", "--format", "json")
    pair = json.loads(out)["pairs"][0]
    assert code == 0 and pair["verdict"] == "PASS" and pair["findings"] == []
    assert [(f["rule_id"], f["suppressed"], f["line"]) for f in pair["suppressed"]] == [
        ("VW203", "short prompts only", 4)
    ]
    assert pair["plan"] is None  # a passing pair keeps only what the reports print

    _, out, _ = _check(capsys, "p.yaml", "--format", "markdown")
    assert "~~VW203~~ suppressed at line 4" in out and "(short prompts only)" in out

    _, out, _ = _check(capsys, "p.yaml", "--format", "sarif")
    result = json.loads(out)["runs"][0]["results"][0]
    assert result["ruleId"] == "VW203" and result["level"] == "note"
    assert result["suppressions"] == [{"kind": "inSource", "justification": "short prompts only"}]

    _, out, _ = _check(capsys, "p.yaml", "--format", "github")
    assert (
        out.startswith("::notice file=p.yaml,line=4,") and "suppressed (short prompts only)" in out
    )
    assert "::error" not in out


def test_plan_and_generate_honour_the_profile_ignore(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "p.yaml").write_text(FAILING + IGNORE_203, encoding="utf-8")
    assert main(["plan", "-p", "p.yaml", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "Suppressed" in out and "VW203 model.max_model_len (short prompts only)" in out
    assert (
        main(["generate", "-p", "p.yaml", "--offline", "-o", "o", "--emit", "command,report"]) == 0
    )
    assert "--max-model-len=32768" in (repo / "o" / "serve.sh").read_text(encoding="utf-8")
    assert "ignored because short prompts only" in (repo / "o" / "report.md").read_text(
        encoding="utf-8"
    )


def test_the_repo_config_ignores_a_rule_for_every_profile_and_the_profile_reason_wins(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "a.yaml").write_text(FAILING, encoding="utf-8")
    (repo / "b.yaml").write_text(FAILING + IGNORE_203, encoding="utf-8")
    (repo / ".vllm-wizard.yaml").write_text(
        "ignore:\n  - {rule: VW203, reason: team decision}\n", encoding="utf-8"
    )
    code, out, _ = _check(capsys, "a.yaml", "b.yaml", "--format", "json")
    pairs = {p["profile"]: p for p in json.loads(out)["pairs"]}
    assert code == 0
    assert pairs["a.yaml"]["suppressed"][0]["suppressed"] == "team decision"
    assert pairs["b.yaml"]["suppressed"][0]["suppressed"] == "short prompts only"


def test_the_oom_risk_finding_can_be_ignored(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "p.yaml").write_text(
        "model: {id: Qwen/Qwen3-8B, max_model_len: 8192}\nhardware: {gpu_name: L4}\n"
        "policy: {gpu_memory_utilization: 0.95}\n"
        'vllm: {version: "0.33"}\n',  # a risk 0.34's extensible KV cache does not run
        encoding="utf-8",
    )
    code, out, _ = _check(capsys, "p.yaml", "--fail-on", "warning")
    assert code == 1 and "error VW304" in out  # the risk fails under fail_on: warning...
    with (repo / "p.yaml").open("a", encoding="utf-8") as handle:
        handle.write("ignore:\n  - {rule: VW304, reason: measured}\n")
    code, out, _ = _check(capsys, "p.yaml", "--fail-on", "warning")
    assert code == 0 and "PASS" in out  # ...until it is ignored
    assert "suppressed (measured): warning: Medium risk of CUDA out of memory" in out


@pytest.mark.parametrize(
    ("entry", "line", "words"),
    [
        ("  - {rule: VW999, reason: x}\n", 8, "unknown rule 'VW999'"),
        ("  - {rule: vw203, reason: x}\n", 8, "did you mean VW203"),
        ("  - {rule: VW203}\n", 8, "reason"),
        ("  - {rule: VW203, reason: '  '}\n", 8, "give the reason"),
        ("  - {rule: VW203, reason: a}\n  - {rule: VW203, reason: b}\n", 7, "more than once"),
    ],
)
def test_a_bad_ignore_entry_is_an_error_at_its_line(
    repo: Path, capsys: pytest.CaptureFixture[str], entry: str, line: int, words: str
) -> None:
    (repo / "p.yaml").write_text(FAILING + "ignore:\n" + entry, encoding="utf-8")
    code, out, _ = _check(capsys, "p.yaml")
    assert code == 2
    assert re.search(rf"p\.yaml:{line}: error VWG00 .*{re.escape(words)}", out), out


def test_a_bad_repo_config_ignore_is_an_error_at_its_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "p.yaml").write_text(FAILING, encoding="utf-8")
    (repo / ".vllm-wizard.yaml").write_text(
        "fail_on: error\nignore:\n  - {rule: VW2004, reason: typo}\n", encoding="utf-8"
    )
    code, _, err = _check(capsys, "p.yaml")
    assert code == 2 and ".vllm-wizard.yaml:3" in err and "did you mean VW204" in err


def test_the_rule_list_matches_the_rules_in_the_code() -> None:
    """checker/data/rules.yaml lists exactly the planner's rule ids, each in its file."""
    data = yaml.safe_load(
        resources.files("checker.data").joinpath("rules.yaml").read_text(encoding="utf-8")
    )
    rules_dir = REPO / "checker" / "planning" / "rules"
    in_code = {
        rule_id: path.name
        for path in rules_dir.glob("*.py")
        for rule_id in re.findall(r'rule_id="(VW\d{3})"', path.read_text(encoding="utf-8"))
    }
    assert {k: v["file"] for k, v in data["rules"].items()} == in_code


def test_audit_reports_show_the_suppressed_rules(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "p.yaml").write_text(FAILING + IGNORE_203, encoding="utf-8")
    (repo / "fleet.yaml").write_text("- L4\n- H100-80GB\n", encoding="utf-8")
    argv = ["audit", "p.yaml", "--fleet", "fleet.yaml", "--output-dir", "out", "--quiet", "-j", "1"]
    assert main([*argv, "--offline"]) == 0
    capsys.readouterr()
    text = (repo / "out" / "audit.md").read_text(encoding="utf-8")
    assert "## Suppressed (not counted)" in text
    assert "| p.yaml | VW203 | short prompts only | L4:1 |" in text
    data = json.loads((repo / "out" / "audit.json").read_text(encoding="utf-8"))
    suppressed = [p["suppressed"] for p in data["check"]["pairs"] if p["target"] == "L4:1"]
    assert suppressed[0][0]["rule_id"] == "VW203"
