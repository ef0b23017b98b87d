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


def test_a_configs_folder_that_does_not_exist_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # not a silent fallback to the built-in catalog, which would score other configs
    log = LOGS / "codellama-codellama-7b-h--h100-80gb--tp1pp1dp1--8192.log.gz"
    with pytest.raises(SystemExit) as info:
        _accuracy().main(["--logs", str(log), "--configs", str(tmp_path / "missing")])
    assert info.value.code == 2
    assert "missing" in capsys.readouterr().err


def test_nested_non_default_args_become_engine_args(tmp_path: Path) -> None:
    # The shape of a v0.2x "non-default args" line: dict values inside the dict.
    (tmp_path / "serve.log").write_text(
        "(APIServer pid=1) INFO 06-01 09:20:16 [utils.py:278] non-default args: {'model_tag': "
        "'Qwen/Qwen3-8B', 'model': 'Qwen/Qwen3-8B', 'override_generation_config': "
        "{'temperature': 0.6}, 'tensor_parallel_size': 2, 'data_parallel_size': 2, "
        "'max_num_seqs': 2, 'speculative_config': {'method': 'ngram', "
        "'num_speculative_tokens': 3, 'prompt_lookup_max': 4}, 'cudagraph_capture_sizes': "
        "'not a list'}\n"
        "INFO [gpu_worker.py:1] Available KV cache memory: 1.00 GiB\n",
        encoding="utf-8",
    )
    (case,), _ = _accuracy().log_corpus([tmp_path], "H100")
    assert case["engine_args"] == {
        "data_parallel_size": 2,
        "speculative_config": {
            "method": "ngram",
            "num_speculative_tokens": 3,
            "prompt_lookup_max": 4,
        },
    }
    assert case["unread_args"] == ["cudagraph_capture_sizes"]
    assert case["max_num_seqs"] == 2 and case["tensor_parallel_size"] == 2
    request, _ = _accuracy().case_request(case)
    assert request.engine.speculative_config == case["engine_args"]["speculative_config"]
    assert request.hardware.gpus == 4  # DP 2 x TP 2


def test_a_nested_args_dict_keeps_its_keys_out_of_the_top_level() -> None:
    from checker.logs.reader import read_log

    log = read_log(
        "non-default args: {'model': 'a/b', 'speculative_config': {'model': 'c/d', "
        "'method': 'eagle3'}, 'chat_template': '{x}'}\n"
    )
    assert log.non_default_args == {"model": "a/b", "chat_template": "{x}"}
    assert log.nested_args == {"speculative_config": {"model": "c/d", "method": "eagle3"}}


def test_a_dp_log_that_ran_out_of_gpus_is_a_failed_case_on_the_gpus_it_had(
    tmp_path: Path,
) -> None:
    from tests.logs.test_request import DP2_ON_ONE_GPU

    (tmp_path / "serve.log").write_text(DP2_ON_ONE_GPU, encoding="utf-8")
    cases, skipped = _accuracy().log_corpus([tmp_path], "H100-SXM-80GB")
    assert skipped == []
    (case,) = cases
    assert case["num_gpus"] == 1 and case["engine_args"]["data_parallel_size"] == 2
    (row,) = _accuracy().evaluate_cases(cases, CONFIGS)["cases"]
    assert row["predicted"]["status"] == row["observed"]["status"] == "failed"
