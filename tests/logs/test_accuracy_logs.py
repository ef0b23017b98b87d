"""benchmarks/accuracy.py --logs: raw logs become held-out cases through the log reader."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO, load_benchmark

LOGS = REPO / "tests" / "data" / "vllm_logs"
CONFIGS = REPO / "tests" / "data" / "configs"


def _accuracy() -> ModuleType:
    return load_benchmark("accuracy")


def test_a_folder_of_logs_is_a_corpus() -> None:
    accuracy = _accuracy()
    cases, skipped = accuracy.log_corpus([LOGS], None)
    result = accuracy.evaluate_cases(cases, CONFIGS, skipped)
    by_id = {case["id"]: case for case in result["cases"]}
    qwen = by_id["qwen-qwen2-5-7b-instruct--h100-80gb--tp2pp1dp1--8192.log.gz"]
    assert qwen["observed"]["kv_cache_tokens"] == 2390592  # results_raw.csv's figure
    assert abs(qwen["predicted"]["kv_cache_tokens"] / 2390592 - 1) < 0.01
    tp5 = by_id["qwen-qwen3-14b--h100-80gb--tp5pp1dp1--8192.FAILED.log.gz"]
    assert tp5["observed"]["status"] == tp5["predicted"]["status"] == "failed"
    assert result["fields"]["kv_cache_gib"]["median_abs_pct"] < 3
    reasons = {s["id"]: s["reason"] for s in result["skipped"]}
    assert (
        "codellama__CodeLlama-34b-hf.json"
        in reasons["codellama-codellama-34b---h100-80gb--tp2pp1dp1--8192.FAILED.log.gz"]
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Available KV cache memory: 58.11 GiB\n", "the model: not in the log"),
        ("hello\n", "no vLLM start-up line recognised"),
        (
            "non-default args: {'model': 'Qwen/Qwen3-8B'}\nAvailable KV cache memory: 1.00 GiB\n",
            "states no GPU memory",
        ),
    ],
)
def test_a_log_that_cannot_be_a_case_is_skipped_with_the_reason(
    tmp_path: Path, text: str, reason: str
) -> None:
    (tmp_path / "serve.log").write_text(text, encoding="utf-8")
    cases, skipped = _accuracy().log_corpus([tmp_path], None)
    assert cases == []
    assert reason in skipped[0]["reason"]


def test_main_prints_the_figures_of_logs(capsys: pytest.CaptureFixture[str]) -> None:
    log = LOGS / "codellama-codellama-7b-h--h100-80gb--tp1pp1dp1--8192.log.gz"
    assert _accuracy().main(["--logs", str(log), "--configs", str(CONFIGS)]) == 0
    out = capsys.readouterr().out
    assert "kv_cache_gib" in out and "61.66" in out and "status agree: 1/1" in out


def test_main_needs_a_corpus_or_logs() -> None:
    with pytest.raises(SystemExit) as info:
        _accuracy().main(["--configs", str(CONFIGS)])
    assert info.value.code == 2
