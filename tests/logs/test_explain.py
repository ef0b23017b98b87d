"""vllm-wizard explain: predicted vs logged, failed starts, formats, escaping, bad input."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from checker.cli import main
from checker.render import explain as explain_module

DATA = Path(__file__).resolve().parent.parent / "data"
CASES = {
    c["id"]: c
    for c in yaml.safe_load((DATA / "vllm_startup_logs.public.yaml").read_text("utf-8"))["cases"]
}
LLAMA_8K = "planner-v0190-meta-llama-llama-3-1-8b-h100-80gb-tp1pp1dp1-8192"
V0_TOO_LONG = "gh-vllm-10517-rtx3090-llama31-8b-29k-fail"
V0_NO_KV = "gh-vllm-13882-rtx4060-qwen25-7b-bnb4-fail"


def _log(tmp_path: Path, case_id: str, name: str = "serve.log") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(CASES[case_id]["raw_excerpt"]) + "\n", encoding="utf-8")
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["explain", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# the excerpt names no version or GPU; the case does (vLLM 0.19.0, H100 80GB HBM3 at 79.19 GiB)
LLAMA_FLAGS = (
    "--gpu",
    "H100-SXM-80GB",
    "--vram-gb",
    "79.19",
    "-m",
    "meta-llama/Llama-3.1-8B-Instruct",
    "--vllm-version",
    "0.19.0",
)


def test_terms_are_held_against_the_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(_log(tmp_path, LLAMA_8K)), *LLAMA_FLAGS, "--format", "json")
    assert code == 0
    data = json.loads(out)
    terms = {t["name"]: t for t in data["terms"]}
    observed = CASES[LLAMA_8K]["observed"]
    assert terms["weights_gib"]["logged"] == observed["weights_gib"]
    assert terms["kv_cache_gib"]["logged"] == observed["kv_cache_gib"]
    assert terms["gpu_blocks"]["logged"] == observed["gpu_blocks"]
    assert terms["kv_cache_tokens"]["logged"] == observed["kv_cache_tokens"]
    # the utilization is not in this excerpt: requested (non-KV + KV) / total gives it
    assert data["plan"]["config"]["gpu_memory_utilization"] == 0.95
    assert terms["requested_gib"]["logged"] == observed["requested_memory_gib"]
    for term in terms.values():
        assert term["difference"] == pytest.approx(term["predicted"] - term["logged"])
    # the remaining KV gap is the activation estimate's: that term is named
    assert data["explains"] == "activation_gib"
    assert data["failures"] == []


def test_text_names_the_term_that_explains_the_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, str(_log(tmp_path, LLAMA_8K)), *LLAMA_FLAGS)
    assert code == 0
    assert "difference: predicted KV cache is" in out
    assert "activation peak accounts for" in out
    assert "KV tokens (tokens)" in out and "476,016" in out


def test_a_version_that_takes_graphs_out_of_the_budget_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = (*LLAMA_FLAGS[:-1], "0.21.0")  # subtracts the CUDA-graph estimate; 0.19 did not
    code, out, _ = _run(capsys, str(_log(tmp_path, LLAMA_8K)), *flags, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["explains"] == "cudagraph_gib"
    assert "check the version" in data["explanation"]


def test_a_too_long_context_names_the_budget_and_a_confirmed_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _log(tmp_path, V0_TOO_LONG)
    code, out, _ = _run(
        capsys,
        str(log),
        "--gpu",
        "RTX-3090",
        "-m",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--format",
        "json",
    )
    assert code == 0
    (failure,) = json.loads(out)["failures"]
    assert failure["kind"] == "kv-too-small" and failure["line"] == 5
    assert failure["short_by"] == "5352 tokens"  # 29000 asked, 23648 held
    assert failure["fixes"][0].startswith("VW203 ")
    assert "the planner confirms it starts" in failure["outcome"]
    # the rule's length is held against the log's own token count, and the answer is said
    assert "the KV cache holds 23648 tokens" in failure["outcome"]


def test_no_kv_memory_from_a_negative_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, str(_log(tmp_path, V0_NO_KV)), "-m", "Qwen/Qwen2.5-7B-Instruct", "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    (failure,) = data["failures"]
    assert (failure["kind"], failure["short_by"]) == ("no-kv-memory", "1.05 GiB")
    assert failure["fixes"][0].startswith("VW202 ")
    assert "gpu_memory_utilization=" in failure["outcome"]
    assert "by the log's own figures the KV cache would be" in failure["outcome"]
    # version, GPU memory and quantization came from the log
    assert data["plan"]["config"]["vllm_version"] == "0.7.3"
    assert data["plan"]["config"]["quantization"] == "bitsandbytes"
    assert data["plan"]["feasibility"]["memory"]["total_gib"] == 8.0


def test_markdown_is_a_table_with_the_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys,
        str(_log(tmp_path, V0_NO_KV)),
        "-m",
        "Qwen/Qwen2.5-7B-Instruct",
        "--format",
        "markdown",
    )
    assert code == 0
    assert "| term | predicted | logged | diff | line | rank |" in out
    assert "**Failed start** (line 5, no-kv-memory)" in out


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_untrusted_text_is_escaped_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    name = "evil|`x`<b>@team\x1b[31m.log"
    log = _log(tmp_path, V0_NO_KV, name=name)
    code, out, _ = _run(capsys, str(log), "-m", "Qwen/Qwen2.5-7B-Instruct", "--format", fmt)
    assert code == 0
    assert "\x1b" not in out
    if fmt == "markdown":
        assert "<b>" not in out and "@team" not in out
        assert all(
            line.count("|") - line.count("\\|") == 7
            for line in out.splitlines()
            if line.startswith("| ")
        )
    if fmt == "json":
        assert json.loads(out)["log"] == str(log)


def test_a_profile_replaces_the_settings_read_from_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "profile_version: 1\n"
        "model:\n  id: meta-llama/Llama-3.1-8B-Instruct\n  max_model_len: 8192\n"
        "hardware:\n  gpu_name: H100-SXM-80GB\n  gpus: 1\n"
        "policy:\n  gpu_memory_utilization: 0.95\n",
        encoding="utf-8",
    )
    code, out, _ = _run(
        capsys, str(_log(tmp_path, LLAMA_8K)), "--profile", str(profile), "--format", "json"
    )
    assert code == 0, out
    data: dict[str, Any] = json.loads(out)
    assert data["notes"] == [f"settings from the profile {profile}"]
    assert data["plan"]["config"]["gpu_memory_utilization"] == 0.95


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (None, (), "no such file"),
        (b"\x00\x01ELF binary", (), "a binary file"),
        (b"hello\nworld\n", (), "no vLLM start-up line recognised"),
        (b"\n \n", (), "empty"),
        (
            b"Available KV cache memory: 58.11 GiB\n",
            ("-m", "Qwen/Qwen3-8B"),
            "does not state the GPU",
        ),
        (
            b"Available KV cache memory: 58.11 GiB\n",
            ("--gpu", "H100-SXM-80GB"),
            "does not name the model",
        ),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    extra: tuple[str, ...],
    message: str,
) -> None:
    path = tmp_path / "serve.log"
    if content is not None:
        path.write_bytes(content)
    code, out, err = _run(capsys, str(path), *extra)
    assert code == 2
    assert out == ""
    assert message in err and str(path) in err
    assert "Traceback" not in err


def test_a_huge_log_is_refused_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(explain_module, "MAX_LOG_BYTES", 1024)
    path = tmp_path / "serve.log"
    path.write_text("Available KV cache memory: 1.00 GiB\n" * 100, encoding="utf-8")
    code, _, err = _run(capsys, str(path), "--gpu", "L4")
    assert code == 2 and "larger than" in err


def test_a_pipe_named_as_the_log_points_to_standard_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `explain <(kubectl logs ...)` or `explain /dev/stdin` name a pipe, refused without waiting
    # on it: the error says the way that reads one
    fifo = tmp_path / "serve.log"
    os.mkfifo(fifo)
    code, _, err = _run(capsys, str(fifo))
    assert code == 2 and "not a regular file" in err and "'-'" in err


def test_a_directory_is_not_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, str(tmp_path))
    assert code == 2 and f"{tmp_path}: a directory, not a file" in err


def test_every_flag_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from checker.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    explain = sub.choices["explain"]  # type: ignore[attr-defined]
    assert all(a.help for a in explain._actions)


FULL = DATA / "vllm_logs"


def test_a_complete_log_needs_no_flags_and_may_be_gzipped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = FULL / "qwen-qwen2-5-7b-instruct--h100-80gb--tp2pp1dp1--8192.log.gz"
    code, out, _ = _run(capsys, str(log), "--format", "json")
    assert code == 0
    data = json.loads(out)
    config = data["plan"]["config"]
    assert (config["model"], config["tensor_parallel_size"], config["vllm_version"]) == (
        "Qwen/Qwen2.5-7B-Instruct",
        2,
        "0.19.0",
    )
    assert data["plan"]["feasibility"]["memory"]["total_gib"] == 79.19  # worker init snapshot
    terms = {t["name"]: t for t in data["terms"]}
    assert terms["kv_cache_tokens"]["logged"] == 2390592
    assert abs(terms["kv_cache_gib"]["difference"]) < 1


def test_a_tensor_parallel_size_that_does_not_split_gets_the_rules_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = FULL / "qwen-qwen3-14b--h100-80gb--tp5pp1dp1--8192.FAILED.log.gz"
    code, out, _ = _run(capsys, str(log), "--gpu", "H100-SXM-80GB", "--format", "json")
    assert code == 0
    (failure,) = json.loads(out)["failures"]  # five ranks report it: one failure
    assert failure["kind"] == "not-divisible"
    assert failure["fixes"][0].startswith("VW119 ")
    assert "hardware.tp_size=4 the planner confirms it starts" in failure["outcome"]


def test_a_failure_the_plan_does_not_predict_is_said_with_the_plans_risk(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = FULL / "openai-gpt-oss-20b--h100-80gb--tp1pp1dp1--8192.FAILED.log.gz"
    code, out, _ = _run(capsys, str(log), "--gpu", "H100-SXM-80GB", "--format", "json")
    assert code == 0
    failures = json.loads(out)["failures"]
    assert [f["kind"] for f in failures] == ["cuda-oom", "sampler-warmup-oom"]
    assert failures[0]["short_by"] == "0.23 GiB"  # 786 MiB asked, 552.5 MiB free
    assert "our plan does not predict this failure" in failures[1]["outcome"]
    assert "OOM risk" in failures[1]["outcome"]


def test_a_corrupt_gzip_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "serve.log.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    code, _, err = _run(capsys, str(path))
    assert code == 2 and "cannot read" in err and "Traceback" not in err


def _gz(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


@pytest.mark.parametrize(
    ("content", "message", "hint"),
    [
        (lambda log: _gz(log)[:200], "cannot read: a gzip file cut short", "gzip -dc FILE"),
        (lambda log: _gz(log) + b"garbage", "cannot read: damaged gzip data", "gzip -dc FILE"),
        (lambda log: _gz(_gz(log)), "a gzip file holding gzip data, not a", "gzip -dc FILE"),
        (lambda log: b"\xfd7zXZ\x00\x00\x04", "xz data, not a text log", "xz -dc FILE"),
        (lambda log: b"\x28\xb5\x2f\xfd\x24", "zstd data, not a text log", "zstd -dc FILE"),
        (lambda log: b"BZh91AY&SY", "bzip2 data, not a text log", "bzip2 -dc FILE"),
        (lambda log: b"PK\x03\x04\x14\x00", "a zip archive, not a text log", "unzip -p FILE"),
    ],
    ids=["cut-short", "trailing-garbage", "gzip-twice", "xz", "zstd", "bzip2", "zip"],
)
def test_compressed_and_damaged_logs_say_what_they_are_and_how_to_read_them(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: Any,
    message: str,
    hint: str,
) -> None:
    text = _log(tmp_path, LLAMA_8K).read_bytes()
    path = tmp_path / "serve.log.x"
    path.write_bytes(content(text * 50))  # long enough that 200 bytes of gzip cut it short
    code, out, err = _run(capsys, str(path), *LLAMA_FLAGS)
    assert code == 2 and out == ""
    assert err.startswith(f"vllm-wizard: error: {path}: {message}"), err
    assert f"(hint: decompress it first ({hint}" in err or f"'{hint} > vllm.log'" in err


def test_a_utf16_log_is_read_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # PowerShell's "kubectl logs ... > serve.log" writes UTF-16 with a byte-order mark
    path = _log(tmp_path, LLAMA_8K)
    expected = _run(capsys, str(path), *LLAMA_FLAGS, "--format", "json")
    path.write_bytes(path.read_text(encoding="utf-8").encode("utf-16"))
    assert _run(capsys, str(path), *LLAMA_FLAGS, "--format", "json") == expected


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_log_piped_in_is_read_from_standard_input(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    gzipped: bool,
) -> None:
    # kubectl logs deploy/llama | vllm-wizard explain -
    path = _log(tmp_path, LLAMA_8K)
    expected = json.loads(_run(capsys, str(path), *LLAMA_FLAGS, "--format", "json")[1])
    data = path.read_bytes()
    piped = io.TextIOWrapper(io.BytesIO(_gz(data) if gzipped else data))
    monkeypatch.setattr("sys.stdin", piped)
    code, out, _ = _run(capsys, "-", *LLAMA_FLAGS, "--format", "json")
    assert code == 0
    got = json.loads(out)
    assert got["log"] == "-" and got["terms"] == expected["terms"]


def test_an_empty_standard_input_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code, out, err = _run(capsys, "-", *LLAMA_FLAGS)
    assert code == 2 and out == ""
    # it said "no vLLM start-up line recognised in 0 line(s)", as if a log had come
    assert err.startswith("vllm-wizard: error: <stdin>: empty")
    assert "before '|'" in err


def test_v0_063_terms_are_derived_from_the_lines_that_hold_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _log(tmp_path, V0_TOO_LONG)
    code, out, _ = _run(
        capsys,
        str(log),
        *("--gpu", "RTX-3090", "-m", "meta-llama/Llama-3.1-8B-Instruct", "--format", "json"),
    )
    assert code == 0
    data = json.loads(out)
    terms = {t["name"]: t for t in data["terms"]}
    # "peak_torch_memory=17.98GiB" holds the 14.9888 GiB of weights; total 23.58 x 0.90
    assert terms["activation_gib"]["logged"] == 2.99
    assert terms["activation_gib"]["rank"] == "main (peak torch - weights)"
    assert terms["requested_gib"]["logged"] == 21.22
    assert data["explains"] is None
    assert data["explanation"].startswith("predicted KV cache matches the log within its rounding")


def test_a_profile_on_another_gpu_than_the_logs_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "profile_version: 1\n"
        "model:\n  id: Qwen/Qwen2.5-7B-Instruct\n  max_model_len: 8192\n"
        "hardware:\n  gpu_name: L4\n  gpus: 2\n  tp_size: 2\n",
        encoding="utf-8",
    )
    log = FULL / "qwen-qwen2-5-7b-instruct--h100-80gb--tp2pp1dp1--8192.log.gz"
    code, out, _ = _run(capsys, str(log), "--profile", str(profile), "--format", "json")
    assert code == 0
    assert any("the log's GPU has 79.19 GiB" in note for note in json.loads(out)["notes"])


def test_a_dp_rank_without_a_gpu_gets_the_world_size_rule_and_its_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.logs.test_request import DP2_ON_ONE_GPU

    path = tmp_path / "serve.log"
    path.write_text(DP2_ON_ONE_GPU, encoding="utf-8")
    code, out, _ = _run(capsys, str(path), "--gpu", "H100-SXM-80GB", "--format", "json")
    assert code == 0
    (failure,) = json.loads(out)["failures"]
    assert failure["kind"] == "too-few-gpus"
    assert failure["fixes"][0].startswith("VW301 ")
    assert "hardware.gpus=2 the planner confirms it starts" in failure["outcome"]


# vLLM 0.24.0 refusing a Gemma-3 draft (SpecDecodeBaseProposer.validate_same_kv_cache_group)
GEMMA_DRAFT_SPLIT = (
    "INFO 10-02 10:00:01 [api_server.py:1839] vLLM API server version 0.24.0\n"
    "INFO 10-02 10:00:01 [utils.py:233] non-default args: {'model_tag': 'google/gemma-3-1b-it', "
    "'model': 'google/gemma-3-1b-it', 'speculative_config': {'model': 'google/gemma-3-1b-it', "
    "'num_speculative_tokens': 3, 'method': 'draft_model'}}\n"
    "(EngineCore_DP0 pid=1) ERROR 10-02 10:00:30 [core.py:700] AssertionError: All drafting "
    "layers should belong to the same kv cache group\n"
)


def test_a_draft_split_over_kv_cache_groups_is_predicted_from_the_logs_speculative_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "serve.log"
    log.write_text(GEMMA_DRAFT_SPLIT, encoding="utf-8")
    code, out, _ = _run(capsys, str(log), "--gpu", "RTX 3090", "--format", "json")
    assert code == 0, out
    (failure,) = json.loads(out)["failures"]
    assert failure["kind"] == "spec-kv-groups"
    assert [f.split()[0] for f in failure["fixes"]] == ["VW128"]
    assert "does not predict" not in failure["outcome"]


def test_a_logged_draft_model_is_planned_with_its_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def weights(draft: str | None) -> tuple[float, list[str]]:
        spec = f", 'speculative_config': {{'model': '{draft}', 'num_speculative_tokens': 5}}"
        log = tmp_path / "serve.log"
        log.write_text(
            "INFO [api_server.py:1839] vLLM API server version 0.24.0\n"
            "INFO [utils.py:233] non-default args: {'model': 'meta-llama/Llama-3.1-8B-Instruct', "
            f"'max_model_len': 8192{spec if draft else ''}}}\n",
            encoding="utf-8",
        )
        code, out, _ = _run(capsys, str(log), "--gpu", "H100-SXM-80GB", "--format", "json")
        assert code == 0, out
        data = json.loads(out)
        return data["plan"]["feasibility"]["memory"]["weights_gib"], data["notes"]

    target, _ = weights(None)
    drafted, notes = weights("meta-llama/Llama-3.2-1B-Instruct")
    # Llama-3.2-1B's 1.24 B parameters in bfloat16: 2.3 GiB more than the target alone
    assert 2.0 < drafted - target < 2.6
    assert not any("could not be resolved" in n for n in notes)
    # a drafter found nowhere offline: the target alone, and a note says so
    alone, notes = weights("nobody/no-such-draft")
    assert alone == target
    assert any(
        "could not be resolved" in n and "nobody/no-such-draft" in n and "target alone" in n
        for n in notes
    )


def test_a_log_stating_no_memory_term_blames_none_on_a_version_that_keeps_graphs_in_kv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "serve.log"
    log.write_text(
        "INFO [api_server.py:1839] vLLM API server version 0.11.0\n"
        "INFO [utils.py:233] non-default args: {'model': 'meta-llama/Llama-3.1-8B-Instruct', "
        "'max_model_len': 8192}\n",
        encoding="utf-8",
    )
    code, out, err = _run(capsys, str(log), "--gpu", "H100-SXM-80GB", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["explains"] is None and "none of the memory terms" in data["explanation"]
