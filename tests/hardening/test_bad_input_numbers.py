"""Numbers no input should hold (10**400, 5000 digits, 1e308, 5e-324): each is exit 2 with a
located message, never exit 3, and one bad profile never stops the gate for the others
(issue 18, items 7 and 8)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hardening.conftest import GPU, Run, assert_clean_usage_error

OK = f"model:\n  id: Qwen/Qwen3-8B\nhardware:\n  gpu_name: {GPU}\n"
HUGE = "9" * 5000


def _custom_gpu(figure: str) -> str:
    return (
        "model:\n  id: Qwen/Qwen3-8B\nhardware:\n  gpu_name: X1\n  custom_gpus:\n"
        "  - name: X1\n    memory_gib: 80\n    compute_capability: '9.0'\n"
        f"    memory_bandwidth_gbs: {figure}\n    fp16_tflops: {figure}\n"
    )


# id, profile text, fragment of the message, line it points at
CASES = [
    (
        "kv-bytes-10**400",
        OK + "outputs:\n  vllm_args:\n    kv-cache-memory-bytes: 1" + "0" * 400 + "\n",
        "larger than a 64-bit integer",
        7,
    ),
    (
        "kv-bytes-text",
        OK + "outputs:\n  vllm_args:\n    kv-cache-memory-bytes: '1" + "0" * 400 + "'\n",
        "larger than a 64-bit integer",
        7,
    ),
    ("5000-digit-int", OK + f"outputs:\n  vllm_args:\n    max-num-seqs: {HUGE}\n", "too long", 7),
    ("5000-digit-version", OK + f'vllm:\n  version: "1.{HUGE}"\n', "vllm.version", 6),
    ("gpu-1e308", _custom_gpu("1e308"), "memory_bandwidth_gbs", 9),
    ("gpu-5e-324", _custom_gpu("5e-324"), "memory_bandwidth_gbs", 9),
    ("capability-digits", _custom_gpu("100").replace("'9.0'", f"'9.{HUGE[:40]}'"), "compute", 8),
]


@pytest.mark.parametrize(
    ("text", "fragment", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan_and_check_refuse_the_number_at_its_line(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    fragment: str,
    line: int,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(text)
    (tmp_path / "good.yaml").write_text(OK)
    for argv in (["plan", "--profile", "bad.yaml"], ["plan", "--profile", "bad.yaml", "--json"]):
        run = cli(*argv)
        assert_clean_usage_error(run, fragment, f"bad.yaml:{line}:")
    run = cli("check", ".", "--no-comment", "--format", "json")
    assert run.code == 2, run
    report = json.loads(run.out)
    assert report["errors"][0]["line"] == line, report["errors"]
    assert {e["path"] for e in report["errors"]} == {"bad.yaml"}
    assert [p["profile"] for p in report["pairs"] if p["verdict"] == "PASS"] == ["good.yaml"]


@pytest.mark.parametrize("value", ["1e308", "1" + "0" * 400, HUGE])
def test_a_model_config_with_a_number_beyond_any_model(
    cli: Callable[..., Run], tmp_path: Path, value: str
) -> None:
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "max_position_embeddings": 8192,
        "torch_dtype": "bfloat16",
    }
    text = json.dumps(config).replace("14336", value)
    (tmp_path / "config.json").write_text(text)
    run = cli("plan", "-m", str(tmp_path), "--gpu", GPU)
    assert_clean_usage_error(run, "config.json")


def test_a_lockfile_with_a_5000_digit_number(cli: Callable[..., Run], tmp_path: Path) -> None:
    lock = tmp_path / "lock.json"
    lock.write_text('{"lockfile_version": 1, "models": [{"x": ' + HUGE + "}]}")
    run = cli("plan", "-m", "org/not-in-the-catalog", "--gpu", GPU, "--lockfile", str(lock))
    assert_clean_usage_error(run, "lock.json", "too long")


def test_a_full_job_summary_leaves_the_verdict_alone(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(OK)
    summary = tmp_path / "summary.md"
    summary.write_text("x" * (1 << 20))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    run = cli("check", "p.yaml", "--no-comment")
    assert run.code == 0, run  # the gate's verdict: publishing never changes it
    assert "job summary already holds 1,048,576 bytes" in run.err and "summary.md" in run.err
    assert summary.stat().st_size == 1 << 20


def _no_constants(name: str) -> None:
    raise AssertionError(f"{name} is not JSON (RFC 8259)")


def test_plan_json_is_rfc_json_even_when_a_figure_overflows(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checker.planning import planner
    from checker.schemas.outputs import PlanResponse

    real = planner.complete

    def overflowing(assessment: planner.Assessment) -> PlanResponse:
        plan = real(assessment)
        perf = plan.performance.model_copy(update={"ttft_ms_range": (float("inf"), float("nan"))})
        return plan.model_copy(update={"performance": perf})

    monkeypatch.setattr(planner, "complete", overflowing)
    run = cli("plan", "-m", "Qwen/Qwen3-8B", "--gpu", GPU, "--json")
    assert run.code == 0, run
    data = json.loads(run.out, parse_constant=_no_constants)
    assert data["performance"]["ttft_ms_range"] == [None, None]


def test_a_lockfile_entry_with_an_impossible_checkpoint_size(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    entry = {"model": "org/locked", "safetensors_bytes": 10**40, "config": {}}
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"lockfile_version": 1, "models": [entry]}))
    run = cli("plan", "-m", "org/locked", "--gpu", GPU, "--lockfile", str(lock))
    assert_clean_usage_error(run, "lock.json", "safetensors_bytes")


@pytest.mark.parametrize(
    ("recorded", "warned"),
    [(16068890624, False), (1, True), (1 << 50, True)],
    ids=["the-real-checkpoint", "one-byte", "one-pebibyte"],
)
def test_the_lockfile_checkpoint_size_is_checked_against_the_config(
    cli: Callable[..., Run], tmp_path: Path, recorded: int, warned: bool
) -> None:
    # Llama-3.1-8B's config with the safetensors total the Hub reports for it, then with
    # sizes no checkpoint of that config can have
    config = json.loads(
        (
            Path(__file__).parents[2] / "checker/data/models/meta-llama__Llama-3.1-8B.json"
        ).read_text()
    )
    entry = {"model": "org/locked", "safetensors_bytes": recorded, "config": config}
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"lockfile_version": 1, "models": [entry]}))
    run = cli("plan", "-m", "org/locked", "--gpu", GPU, "--lockfile", str(lock), "--json")
    assert run.code == 0, run
    findings = {f["rule_id"]: f for f in json.loads(run.out)["feasibility"]["findings"]}
    assert ("VW213" in findings) is warned
    if warned:
        assert findings["VW213"]["severity"] == "warning"


@pytest.mark.parametrize(
    ("line", "written"),
    [
        ("  vram_gb: 1.0e15", "write 1.0e+15"),
        ("  vram_gb: 8e1", "write 8.0e+1"),
        ("  gpus: 2e0", "write 2"),
        ("  gpus: 1e999", None),  # no whole number to suggest
    ],
)
def test_e_notation_yaml_reads_as_text_says_how_to_write_it(
    cli: Callable[..., Run], tmp_path: Path, line: str, written: str | None
) -> None:
    # "expected a number, got '1.0e15'" read as if 1.0e15 were not a number
    (tmp_path / "p.yaml").write_text(OK + line + "\n")
    run = cli("plan", "--profile", str(tmp_path / "p.yaml"))
    assert_clean_usage_error(run, "p.yaml:5:")
    assert (written in run.error_line) if written else ("e-notation" not in run.error_line)


def test_a_fleet_price_beyond_any_currency_is_refused(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1e308 per hour made the cost ranking print a 309-digit price and 'inf' per million tokens
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(OK)
    (tmp_path / "fleet.yaml").write_text(f"- name: {GPU}\n  price_per_hour: 1e+308\n")
    run = cli("audit", "p.yaml", "--fleet", "fleet.yaml", "-j", "1", "--offline")
    assert_clean_usage_error(run, "fleet.yaml:2:", "price_per_hour: must be at most")
    assert not (tmp_path / "audit.md").exists()
