"""Bad profiles through both entry points that read them: ``plan --profile`` and ``check``.

Each gives one located error line (plan) or one located input error (check), exit 2, and never
a traceback; ``--debug`` is the only way to see one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hardening.conftest import GPU, Run, assert_clean_usage_error, run_process

OK = b"model:\n  id: Qwen/Qwen3-8B\nhardware:\n  gpu_name: H100-SXM-80GB\n"
BOMB = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n".encode()
    for p, c in zip("abcdefg", "bcdefgh", strict=True)
)

# id, file bytes, fragment of the message, line it must point at (None: the file alone)
CASES = [
    ("malformed", OK + b"workload: [\n", "invalid YAML", 6),
    (
        "tab-indent",
        b"model:\n\tid: x\n",
        "invalid YAML: a tab character: YAML indents with spaces",
        2,
    ),
    (
        "unclosed-quote",
        b'model:\n  id: "Qwen/Qwen3-8B\nhardware: {}\n',
        "this quote is not closed",
        2,
    ),
    ("non-utf8", OK + b"# caf\xe9\n", "not UTF-8", None),
    ("utf16", OK.decode().encode("utf-16"), "not UTF-8", None),
    ("too-large", OK + b"# " + b"x" * (64 << 20) + b"\n", "larger than 1024 KiB", None),
    ("nul-byte", OK + b"# \x00\n", "not allowed", 5),
    ("duplicate-key", OK + b"  gpu_name: L4\n", "duplicate key 'gpu_name'", 5),
    ("duplicate-section", OK + b"model:\n  id: x\n", "duplicate key 'model'", 5),
    ("alias-bomb", BOMB, "alias bomb", None),
    ("deep-nesting", b"model: " + b"[" * 100 + b"]" * 100 + b"\n", "nesting deeper", 1),
    ("deep-nesting-flow", b"model: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nesting deeper", 1),
    ("python-tag", b"model: !!python/object/apply:os.system ['touch pwned']\n", "not allowed", 1),
    ("python-name", OK + b"workload: !!python/name:os.system\n", "not allowed", 5),
    ("custom-tag", OK + b"workload: !include other.yaml\n", "YAML tag !include is not allowed", 5),
    ("date", OK + b"vllm:\n  version: 2024-01-01\n", "date, which is not allowed; quote it", 6),
    ("null-key", OK + b"~: 1\n", "a key must be text, got null", 5),
    ("wrong-type-list", OK + b"  gpus: [1]\n", "hardware.gpus", 5),
    ("wrong-type-str", OK + b"  gpus: two\n", "hardware.gpus", 5),
    ("wrong-type-section", b"model: Qwen/Qwen3-8B\n", "model", 1),
    ("negative", OK + b"  gpus: -2\n", "hardware.gpus", 5),
    ("zero", OK + b"  tp_size: 0\n", "hardware.tp_size", 5),
    ("nan", OK + b"policy:\n  gpu_memory_utilization: .nan\n", "finite", 6),
    ("infinity", OK + b"  vram_gb: .inf\n", "finite", 5),
    (
        "huge",
        OK.replace(b"  id:", b"  max_model_len: 99999999999999999999999\n  id:"),
        "max_model_len",
        2,
    ),
    ("above-one", OK + b"policy:\n  gpu_memory_utilization: 1.5\n", "gpu_memory_utilization", 6),
    ("unknown-key", OK + b"  tp_sise: 2\n", "did you mean 'tp_size'", 5),
    ("empty", b"", "got an empty file", None),
    ("comments-only", b"# nothing here\n", "got an empty file", None),
    ("list", b"- model: x\n", "got a list", None),
    ("two-documents", OK + b"---\n" + OK, "invalid YAML: a second document ('---')", 5),
    ("bad-target", OK + b"  targets: ['H100:0']\n", "hardware.targets", 5),
    ("too-many-gpus", OK + b"  targets: ['H100:9999']\n", "hardware.targets", 5),
    ("bad-version", OK + b"vllm:\n  version: latest\n", "vllm.version", 6),
    ("refused-quantization", OK.replace(b"  id:", b"  quantization: int8\n  id:"), "int8", 2),
    # --gpu (check) plans another GPU: the profile's own must exist all the same
    ("unknown-own-gpu", OK.replace(GPU.encode(), b"Quantum-9000"), "unknown GPU", 4),
    ("unknown-target-gpu", OK + b"  targets: [Quantum-9000]\n", "unknown GPU", 5),
]


def _write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_bytes(content)
    return path


def _check_json(cli: Callable[..., Run], target: str) -> dict[str, object]:
    run = cli("check", target, "--gpu", GPU, "--offline", "--format", "json", "--no-comment")
    assert run.code == 2 and "Traceback" not in run.err, run
    report: dict[str, object] = json.loads(run.out)
    return report


@pytest.mark.parametrize(
    ("content", "fragment", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan_names_file_line_and_key(
    cli: Callable[..., Run], tmp_path: Path, content: bytes, fragment: str, line: int | None
) -> None:
    path = _write(tmp_path, content)
    run = cli("plan", "--profile", str(path), "--json")
    where = f"{path}:{line}:" if line else f"{path}:"
    assert_clean_usage_error(run, where, fragment)
    assert run.out == ""


@pytest.mark.parametrize(
    ("content", "fragment", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_check_reports_an_input_error_at_the_line(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: bytes,
    fragment: str,
    line: int | None,
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, content)
    report = _check_json(cli, "profile.yaml")
    errors = report["errors"]
    assert isinstance(errors, list) and len(errors) == 1, report
    (error,) = errors
    assert error["path"] == "profile.yaml"
    if line is not None:
        assert error["line"] == line, error
    said = " ".join([error["message"], error["hint"] or "", *error["details"]])
    assert fragment in said, error


def test_plan_with_another_gpu_still_checks_the_profiles_own(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    path = _write(tmp_path, OK.replace(GPU.encode(), b"Quantum-9000"))
    run = cli("plan", "--profile", str(path), "--gpu", GPU, "--offline")
    assert_clean_usage_error(run, f"{path}:4:", "unknown GPU 'Quantum-9000'")


def test_an_impossible_world_size_fails_each_target_at_once(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pp_size 1024 on 2 GPUs: VW301 on every target, not minutes of per-stage planning."""
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, OK + b"  gpus: 2\n  pp_size: 1024\n  targets: [L4, A100-80GB, L40S]\n")
    run = cli("check", "profile.yaml", "--offline", "--format", "json")
    pairs = json.loads(run.out)["pairs"]
    assert run.code == 1 and len(pairs) == 4
    for pair in pairs:
        assert pair["verdict"] == "FAIL"
        assert "VW301" in {f["rule_id"] for f in pair["findings"]}


def test_python_tags_never_run(tmp_path: Path) -> None:
    path = _write(tmp_path, b"model: !!python/object/apply:os.system ['touch pwned']\n")
    run = run_process(["plan", "--profile", path.name], cwd=tmp_path)
    assert_clean_usage_error(run, "not allowed")
    assert not (tmp_path / "pwned").exists()


def test_oversized_file_is_refused_before_parsing(cli: Callable[..., Run], tmp_path: Path) -> None:
    path = _write(tmp_path, OK + b"#" * (2 << 20))
    assert_clean_usage_error(cli("plan", "--profile", str(path)), str(path), "larger than")


@pytest.mark.parametrize("kind", ["missing", "directory", "symlink-loop", "dangling-symlink"])
def test_paths_that_are_not_files(cli: Callable[..., Run], tmp_path: Path, kind: str) -> None:
    path = tmp_path / "p.yaml"
    if kind == "directory":
        path.mkdir()
    elif kind == "symlink-loop":
        path.symlink_to(path)
    elif kind == "dangling-symlink":
        path.symlink_to(tmp_path / "nowhere.yaml")
    run = cli("plan", "--profile", str(path))
    assert_clean_usage_error(run, str(path))


def test_check_skips_a_fifo_in_a_directory_instead_of_blocking(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ok.yaml").write_bytes(OK)
    os.mkfifo(tmp_path / "pipe.yaml")
    run = cli("check", ".", "--gpu", GPU, "--offline", "--format", "json", "--no-comment")
    assert run.code == 0, run
    assert [p["profile"] for p in json.loads(run.out)["pairs"]] == ["ok.yaml"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(tmp_path: Path, where: str) -> None:
    path = _write(tmp_path, OK + b"  gpu_name: L4\n")
    quiet = run_process(["plan", "--profile", path.name], cwd=tmp_path)
    # "run again with --debug": before the command, or (most often) at the end of the line
    argv = ["plan", "--profile", path.name]
    loud = run_process(["--debug", *argv] if where == "before" else [*argv, "--debug"], tmp_path)
    assert_clean_usage_error(quiet, "duplicate key")
    # the exit status stays the error's (2), not Python's 1 for an uncaught exception
    assert loud.code == quiet.code == 2 and "Traceback" in loud.err and "duplicate key" in loud.err
    assert "unrecognized arguments" not in loud.err


THREE_PROBLEMS = (
    b"model:\n  id: Qwen/Qwen3-8B\n  dtype: wrong\n"
    b"hardware:\n  gpu_name: H100-SXM-80GB\n  gpus: two\n  tp_sise: 2\n"
)


@pytest.mark.parametrize("fmt", ["json", "text", "github", "sarif", "markdown"])
def test_check_shows_every_schema_problem_at_its_own_line(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, THREE_PROBLEMS)
    run = cli("check", "profile.yaml", "--gpu", GPU, "--offline", "--format", fmt, "--no-comment")
    assert run.code == 2 and "Traceback" not in run.err, run
    assert "more problem" not in run.out
    shown = run.out.replace("\\_", "_")  # markdown escapes the underscore
    for key in ("model.dtype", "hardware.gpus", "hardware.tp_sise"):
        assert key in shown, (fmt, key)
    if fmt == "json":
        errors = json.loads(run.out)["errors"]
        assert [(e["line"], e["message"].split(":")[0]) for e in errors] == [
            (3, "model.dtype"),
            (6, "hardware.gpus"),
            (7, "unknown key 'hardware.tp_sise'"),
        ]
    if fmt == "github":
        assert [line.split("::")[1] for line in run.out.splitlines() if "::error" in line] == [
            f"error file=profile.yaml,line={n},title=vllm-wizard VWG00" for n in (3, 6, 7)
        ]
