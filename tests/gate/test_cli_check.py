"""The issue's scenario through checker.cli.main: a change that breaks a profile on one GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main
from tests.gate.gitrepo import commit_all, make_repo
from tests.gate.test_check import llama, write


@pytest.fixture
def broken_on_l4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Base: a profile feasible on H100 and L4. Head: max_model_len raised past the L4's KV."""
    repo = make_repo(tmp_path / "repo")
    write(repo, "profiles/llama.yaml", llama(8192))
    write(repo, "profiles/same.yaml", llama(4096))
    commit_all(repo, "base: feasible")
    write(repo, "profiles/llama.yaml", llama(65536))
    commit_all(repo, "head: 64k context")
    monkeypatch.chdir(repo)
    return repo


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["check", "profiles", "--base", "HEAD~1", "--offline", *argv])
    return code, capsys.readouterr().out


def test_markdown_names_profile_gpu_fix_and_before_after(
    broken_on_l4: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "--format", "markdown")
    assert code == 1
    assert "#### ❌ profiles/llama.yaml on L4:1: FAIL" in out
    assert "- **VW203** error at line 4 `model.max_model_len`:" in out
    assert "**Fix:**" in out
    row = next(
        r for r in out.splitlines() if r.startswith("| profiles/llama.yaml | changed | L4:1")
    )
    assert "PASS → **FAIL**" in row
    assert "2.97x → **0.37x**" in row
    assert "1 profile(s) unchanged: profiles/same.yaml" in out


def test_github_annotation_at_the_changed_line(
    broken_on_l4: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "--format", "github")
    assert code == 1
    errors = [line for line in out.splitlines() if line.startswith("::error ")]
    assert errors[0].startswith(
        "::error file=profiles/llama.yaml,line=4,title=vllm-wizard VW203 on L4%3A1::"
    )


def test_output_file_json_and_report_file(
    broken_on_l4: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(
        capsys,
        "--format",
        "json",
        "--output",
        "out/report.json",
        "--report-file",
        "out/report.md",
        "--no-comment",
    )
    assert code == 1
    saved = json.loads((broken_on_l4 / "out" / "report.json").read_text())
    assert saved == json.loads(out)
    assert saved["counts"] == {"pass": 3, "warn": 0, "fail": 1, "error": 0}
    assert saved["diff"]["ref"] == "HEAD~1"
    assert (broken_on_l4 / "out" / "report.md").read_text().startswith("## ❌ vllm-wizard check")


def test_passing_check_exits_zero_and_bad_input_two(
    broken_on_l4: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "profiles/same.yaml", "--offline"]) == 0
    assert "vllm-wizard check: PASS (0 fail, 0 warn, 2 pass)" in capsys.readouterr().out
    write(broken_on_l4, "profiles/typo.yaml", llama().replace("max_model_len", "max_len"))
    assert main(["check", "profiles", "--offline"]) == 2
    out = capsys.readouterr().out
    assert "profiles/typo.yaml:4: error VWG00 unknown key 'model.max_len'" in out
    assert main(["check", "profiles", "--gpu", "H1000"]) == 2
    assert "unknown GPU 'H1000'" in capsys.readouterr().err
    assert main(["check", "profiles", "--base", "nope"]) == 2
    assert main(["check", "profiles", "--check-artifacts"]) == 2


@pytest.mark.parametrize("command", ["check", "audit"])
def test_an_empty_path_is_refused_not_read_as_the_whole_directory(
    broken_on_l4: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # `vllm-wizard check "$CHANGED"` with CHANGED unset: '' would be the current directory
    fleet = ["--fleet", str(write(broken_on_l4, "fleet.yaml", "- L4\n"))]
    argv = [command, "profiles/same.yaml", "", "--offline", *(fleet if command == "audit" else [])]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("vllm-wizard: error: an empty path was given (hint: an unset variable")
