"""Hostile or broken nvidia-smi output through ``detect`` and ``plan --gpu auto``: one clear
line, exit 2, nothing raw on the terminal. A fake nvidia-smi on PATH prints the text."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hardening.conftest import Run, assert_clean_usage_error
from tests.hardware.fake_smi import DRIVER_FAILURE, install

ROW = "0, {name}, GPU-1, {total}, {reserved}, 550.90.07, {cc}, Disabled\n"


def _row(name: str = "NVIDIA H100 80GB HBM3", total: str = "81559", cc: str = "9.0") -> str:
    return ROW.format(name=name, total=total, reserved="469" if total.isdigit() else "0", cc=cc)


CASES = [
    ("garbage", "Segmentation fault (core dumped)\n"),
    ("binary", "\ufffd\ufffd\x00\x01garbage\n"),
    ("empty-name", _row(name="")),
    ("control-chars-in-name", _row(name="\x1b[31mEvil GPU\x07", cc="8.9")),
    ("unicode-digits", _row(total="²³")),
    ("negative-memory", _row(total="-5")),
    ("tiny-memory", _row(name="Weird GPU", total="1")),
    ("huge-memory", _row(total="99999999999999999999")),
    ("fewer-fields", "0, NVIDIA H100 80GB HBM3\n"),
    ("unknown-gpu-no-cc", _row(name="Mystery GPU", cc="[N/A]")),
]


@pytest.mark.parametrize("output", [c[1] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize(
    "argv",
    [("detect",), ("detect", "--json"), ("plan", "-m", "Qwen/Qwen3-8B", "--gpu", "auto")],
    ids=["detect", "detect-json", "plan-auto"],
)
def test_unreadable_output(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    output: str,
    argv: tuple[str, ...],
) -> None:
    install(tmp_path, monkeypatch, query_raw=output)
    run = cli(*argv)
    assert_clean_usage_error(run, "nvidia-smi" if "Mystery" not in output else "Mystery GPU")
    assert "\x1b" not in run.out + run.err and "\x07" not in run.out + run.err
    if "--json" in argv:  # stdout stays JSON: no GPUs, and the same error
        report = json.loads(run.out)
        assert report["gpus"] == [] and report["error"] in run.error_line
    else:
        assert run.out == ""


def test_failing_driver_and_missing_binary(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path, monkeypatch, fail=(DRIVER_FAILURE, 9))
    assert_clean_usage_error(cli("plan", "-m", "Qwen/Qwen3-8B", "--gpu", "auto"), "exit code 9")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert_clean_usage_error(cli("detect"), "not found")


def test_an_nvidia_smi_that_cannot_run_says_why_in_words(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_bytes(b"\x7fELF not a program")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(smi.parent))
    run = cli("detect")
    assert_clean_usage_error(run, "cannot run nvidia-smi: Exec format error")
    assert "Errno" not in run.err and str(smi) not in run.err


@pytest.mark.parametrize("timeout", ["1e300", "3601", "0", "-1"])
def test_a_timeout_out_of_range_is_a_usage_error(cli: Callable[..., Run], timeout: str) -> None:
    # 1e300 s overflowed the clock inside subprocess: an internal error before the check
    run = cli("detect", "--timeout", timeout)
    assert_clean_usage_error(run, "--timeout", "above 0 and at most 3600", repr(timeout))
