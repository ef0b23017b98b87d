"""Markdown sinks: ``check --format markdown``, the sticky PR comment and the job summary.

Hostile text can neither break a table row, open HTML (a comment that hides text or fakes our
marker), render an image or link, nor @mention anyone; the sticky comment stays one comment.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from checker.gate.github.pr_comment import MARKER
from tests.gate.conftest import pr_event, runner_env
from tests.gate.fake_github import FakeGitHub
from tests.hardening.conftest import Run
from tests.hardening.hostile import assert_inert_markdown, assert_nothing_ran, hostile_profiles


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    hostile_profiles(tmp_path)
    return tmp_path


def test_markdown_report(cli: Callable[..., Run], tree: Path) -> None:
    run = cli("check", ".", "--offline", "--no-comment", "--format", "markdown")
    assert run.code == 2 and "Traceback" not in run.err, run
    assert_inert_markdown(run.out)
    assert "| bad ::error::PWNED" in run.out  # the hostile file is one row, on one line
    assert_nothing_ran(tree)


def test_sticky_comment_and_job_summary(
    cli: Callable[..., Run], tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeGitHub() as github:
        for key, value in runner_env(tree, github.url, pr_event(12)).items():
            monkeypatch.setenv(key, value)
        first = cli("check", ".", "--offline", "--format", "github")
        second = cli("check", ".", "--offline", "--format", "github")
        comments = github.comments.get(12, [])
    assert first.code == second.code == 2, (first, second)
    assert len(comments) == 1, "the hostile marker made a second sticky comment"
    body = comments[0]["body"]
    assert body.startswith(MARKER)
    assert_inert_markdown(body, markers=1)
    summary = (tree / "summary.md").read_text()
    assert_inert_markdown(summary)
    assert_nothing_ran(tree)


def test_step_outputs_cannot_be_forged(
    cli: Callable[..., Run], tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeGitHub() as github:
        for key, value in runner_env(tree, github.url, pr_event(12)).items():
            monkeypatch.setenv(key, value)
        cli("check", ".", "--offline", "--format", "github", "--report-file", "report.md")
    text = (tree / "output.txt").read_text()
    names = []
    lines = iter(text.splitlines())
    for line in lines:  # name<<DELIMITER, value lines, DELIMITER
        name, delimiter = line.split("<<", 1)
        names.append(name)
        for value_line in lines:
            if value_line == delimiter:
                break
    assert "verdict" in names and len(names) == len(set(names)), names
    assert all(re.fullmatch(r"[a-z][a-z-]*", name) for name in names), names


def test_audit_report(cli: Callable[..., Run], tree: Path) -> None:
    (tree / "fleet.yaml").write_text(
        '- H100-SXM-80GB\n- L4\n- name: "lab|<!-- x --> @octocat <img src=x>"\n'
        "  spec: {memory_gib: 40, memory_bandwidth_gbs: 900, fp16_tflops: 100,"
        ' compute_capability: "8.0"}\n'
    )
    run = cli("audit", ".", "--fleet", "fleet.yaml", "--offline", "-j", "1", "--output-dir", "out")
    assert run.code in (1, 2) and "Traceback" not in run.err, run
    assert_inert_markdown((tree / "out/audit.md").read_text())
    assert_nothing_ran(tree)
