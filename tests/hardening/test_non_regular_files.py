"""A FIFO (or device) where a file is expected is refused at once instead of blocking the
run on a writer that never comes (issue 18, item 13)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.hardening.conftest import GPU, assert_clean_usage_error, run_process

OK = f"model:\n  id: Qwen/Qwen3-8B\nhardware:\n  gpu_name: {GPU}\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--profile", "fifo"],
        ["check", "p.yaml", "--no-comment", "--config", "fifo"],
        ["plan", "-m", "org/not-in-the-catalog", "--gpu", GPU, "--lockfile", "fifo"],
        ["audit", "p.yaml", "--fleet", "fifo", "--output-dir", "out"],
        ["comment", "fifo", "--pr-number-file", "fifo"],
    ],
    ids=["profile", "config", "lockfile", "fleet", "comment"],
)
def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "p.yaml").write_text(OK)
    os.mkfifo(tmp_path / "fifo")
    env = {"GITHUB_EVENT_PATH": str(tmp_path / "event.json"), "GITHUB_TOKEN": "t"}
    (tmp_path / "event.json").write_text('{"workflow_run": {"head_sha": "c", "html_url": "u"}}')
    env |= {"GITHUB_REPOSITORY": "octo/serving", "GITHUB_API_URL": "http://127.0.0.1:9"}
    run = run_process(argv, tmp_path, env, timeout=30)
    assert_clean_usage_error(run, "not a regular file")


def test_a_fifo_as_a_committed_artifact_is_drift_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(OK + "outputs:\n  artifacts:\n    command: serve.sh\n")
    os.mkfifo(tmp_path / "serve.sh")
    run = run_process(["check", "p.yaml", "--check-artifacts", "--no-comment"], tmp_path)
    assert run.code == 2 and "not a regular file" in run.out, run


def test_an_output_that_is_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    # `--output /dev/stdout | jq` and `--output /dev/null` name a pipe or device: renaming a
    # file over it would replace the node (as root, /dev/null itself) and the reader gets nothing
    (tmp_path / "p.yaml").write_text(OK)
    fifo = tmp_path / "report.json"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the report fits the pipe's buffer
    try:
        argv = ["check", "p.yaml", "--offline", "--no-comment", "--format", "json"]
        run = run_process([*argv, "--output", str(fifo)], tmp_path, timeout=60)
        assert run.code == 0, run
        assert stat.S_ISFIFO(fifo.stat().st_mode)
        assert json.loads(os.read(reader, 1 << 16)) == json.loads(run.out)
    finally:
        os.close(reader)


def test_an_artifact_that_is_a_fifo_nothing_reads_is_an_error_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(OK)
    (tmp_path / "out").mkdir()
    os.mkfifo(tmp_path / "out" / "serve.sh")
    argv = ["generate", "--profile", "p.yaml", "-o", "out", "--emit", "command,profile", "--force"]
    run = run_process(argv, tmp_path, timeout=60)
    assert_clean_usage_error(run, "serve.sh", "a FIFO that nothing reads")
    assert stat.S_ISFIFO((tmp_path / "out" / "serve.sh").stat().st_mode)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["serve.sh"]  # all or nothing
