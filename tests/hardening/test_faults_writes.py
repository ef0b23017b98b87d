"""A write that fails midway never leaves a half-written file: the previous one stays.

The CLI runs in a real process whose file-size limit (RLIMIT_FSIZE) makes the write fail
partway through, as a full disk would; it must say so in one line (exit 2) and leave the old
content and no temporary files behind.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.hardening.conftest import GPU, Run, assert_clean_usage_error

PROFILE = "model:\n  id: Qwen/Qwen3-8B\nhardware:\n  gpu_name: H100-SXM-80GB\n"
OLD = "previous content\n"
LIMIT = 100  # bytes: every output below is larger


def _limited() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _run_limited(argv: list[str], cwd: Path) -> Run:
    done = subprocess.run(
        [sys.executable, "-B", "-m", "checker", *argv],
        cwd=cwd,
        # -B: with the size limit, Python would otherwise leave truncated .pyc files behind
        env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=_limited,  # noqa: PLW1509 - only sets a limit, before exec
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


CASES = [
    ("schema", ["schema", "-o", "out/schema.json"], ["out/schema.json"]),
    (
        "check-output",
        [
            "check",
            "p.yaml",
            "--gpu",
            GPU,
            "--offline",
            "--format",
            "json",
            "--output",
            "out/r.json",
        ],
        ["out/r.json"],
    ),
    (
        "check-report-file",
        ["check", "p.yaml", "--gpu", GPU, "--offline", "--no-comment", "--report-file", "out/r.md"],
        ["out/r.md"],
    ),
    (
        "audit",
        ["audit", "p.yaml", "--fleet", "fleet.yaml", "--offline", "-j", "1", "--output-dir", "out"],
        ["out/audit.md", "out/audit.json"],
    ),
]


def _old(name: str) -> str:
    """The previous content of an output: the audit replaces only reports it wrote itself."""
    if name.endswith("audit.md"):
        return "# ✅ vllm-wizard audit: PASS\n\n" + OLD
    if name.endswith("audit.json"):
        return '{"schema_version": 1, "check": {"previous": "content"}}\n'
    return OLD


@pytest.mark.parametrize(("argv", "outputs"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_failed_write_keeps_the_previous_file(
    tmp_path: Path, argv: list[str], outputs: list[str]
) -> None:
    (tmp_path / "p.yaml").write_text(PROFILE)
    (tmp_path / "fleet.yaml").write_text(f"- {GPU}\n- L4\n")
    (tmp_path / "out").mkdir()
    for name in outputs:
        (tmp_path / name).write_text(_old(name))
    run = _run_limited(argv, tmp_path)
    assert_clean_usage_error(run, "cannot write")
    for name in outputs:
        assert (tmp_path / name).read_text() == _old(name), name
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        Path(n).name for n in outputs
    )


def test_output_path_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PROFILE)
    (tmp_path / "out.json").mkdir()
    run = _run_limited(
        ["check", "p.yaml", "--gpu", GPU, "--offline", "--output", "out.json"], tmp_path
    )
    assert_clean_usage_error(run, "out.json", "cannot write")
    assert list((tmp_path / "out.json").iterdir()) == []
