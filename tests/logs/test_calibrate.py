"""vllm-wizard calibrate: measured terms from real logs, used by plan / check / audit."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from checker.cli import main
from checker.schemas.calibration import HEADER, read_calibration

DATA = Path(__file__).resolve().parent.parent / "data"
LOGS = DATA / "vllm_logs"
PP2_LOG = LOGS / "meta-llama-llama-3-1-8b---h100-80gb--tp1pp2dp1--8192.log.gz"
TP2_LOG = LOGS / "qwen-qwen2-5-7b-instruct--h100-80gb--tp2pp1dp1--8192.log.gz"

# the setups the two logs were started with (vLLM 0.19.0 on H100 80GB HBM3, 79.19 GiB)
LLAMA_PP2 = """\
profile_version: 1
model: {id: meta-llama/Llama-3.1-8B-Instruct, max_model_len: 8192}
hardware: {gpu_name: H100-80GB, gpus: 2, pp_size: 2}
policy: {gpu_memory_utilization: 0.95}
vllm: {version: "0.19.0", max_num_seqs: 1024}
"""
QWEN_TP2 = """\
profile_version: 1
model: {id: Qwen/Qwen2.5-7B-Instruct, max_model_len: 8192}
hardware: {gpu_name: H100-80GB, gpus: 2, tp_size: 2}
policy: {gpu_memory_utilization: 0.95}
vllm: {version: "0.19.0", max_num_seqs: 1024}
"""


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _profile(tmp_path: Path, text: str, name: str = "serving.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _plan(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = _run(capsys, "plan", "--json", *argv)
    assert code == 0, err
    plan: dict[str, Any] = json.loads(out)
    return plan


def _rules(plan: dict[str, Any]) -> set[str]:
    return {f["rule_id"] for f in plan["feasibility"]["findings"]}


@pytest.mark.parametrize(
    ("log", "profile", "kv_gib", "blocks", "tokens", "concurrency"),
    [
        (PP2_LOG, LLAMA_PP2, 66.54, 67207, 1075312, 131.26),
        (TP2_LOG, QWEN_TP2, 63.84, 149412, 2390592, 291.82),
    ],
)
def test_plan_reproduces_the_calibrated_log(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    log: Path,
    profile: str,
    kv_gib: float,
    blocks: int,
    tokens: int,
    concurrency: float,
) -> None:
    monkeypatch.chdir(tmp_path)
    path = _profile(tmp_path, profile)
    before = _plan(capsys, "--profile", str(path))
    assert before["feasibility"]["kv"]["tokens"] != tokens  # the estimate is close, not exact
    code, out, err = _run(capsys, "calibrate", str(log), "--profile", str(path))
    assert code == 0, err
    assert "wrote vllm-wizard.calibration.yaml" in out
    text = (tmp_path / "vllm-wizard.calibration.yaml").read_text()
    assert text.startswith(HEADER) and "calibration_version: 1" in text
    # found beside the current directory without a flag, like the repo config's default
    plan = _plan(capsys, "--profile", str(path))
    f = plan["feasibility"]
    assert f["memory"]["kv_cache_gib"] == kv_gib
    assert (f["kv"]["num_blocks"], f["kv"]["tokens"]) == (blocks, tokens)
    assert f["max_concurrency_at_context"] == concurrency
    assert f["memory"]["basis"]["activation_gib"] == "measured"
    assert f["memory"]["basis"]["kv_cache_gib"] == "measured"
    assert "VW150" in _rules(plan)


def test_neighbouring_lengths_and_utilizations_use_the_calibration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _profile(tmp_path, QWEN_TP2)
    calibration = tmp_path / "cal.yaml"
    assert main(["calibrate", str(TP2_LOG), "-p", str(path), "-o", str(calibration)]) == 0
    capsys.readouterr()
    entry = read_calibration(calibration).entries[0]
    non_kv = entry.stages[0].non_kv_gib
    plan = _plan(
        capsys,
        "--profile",
        str(path),
        "--calibration",
        str(calibration),
        "--max-model-len",
        "32768",
        "--gpu-memory-utilization",
        "0.9",
    )
    f = plan["feasibility"]
    assert "VW150" in _rules(plan)
    # the KV budget is the new requested memory less what vLLM measured it takes before it
    assert f["memory"]["kv_cache_gib"] == round(79.19 * 0.9 - non_kv, 2)
    assert f["max_concurrency_at_context"] == round(f["kv"]["num_blocks"] / (32768 / 16), 2)


def test_another_max_num_seqs_moves_the_measured_terms_by_the_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _profile(tmp_path, QWEN_TP2)
    calibration = tmp_path / "cal.yaml"
    assert main(["calibrate", str(TP2_LOG), "-p", str(path), "-o", str(calibration)]) == 0
    capsys.readouterr()
    flags = ("--profile", str(path), "--calibration", str(calibration))
    same = _plan(capsys, *flags)
    fewer = _plan(capsys, *flags, "--max-num-seqs", "64")
    finding = next(f for f in fewer["feasibility"]["findings"] if f["rule_id"] == "VW150")
    assert "measured at max_num_seqs 1024, planned at 64" in finding["message"]
    # fewer sampler rows: the activation peak can only shrink, so the KV cache only grows
    assert fewer["feasibility"]["memory"]["activation_gib"] <= 2.21
    assert fewer["feasibility"]["kv"]["tokens"] >= same["feasibility"]["kv"]["tokens"]


def test_a_calibration_that_no_longer_matches_is_ignored_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _profile(tmp_path, QWEN_TP2)
    calibration = tmp_path / "cal.yaml"
    assert main(["calibrate", str(TP2_LOG), "-p", str(path), "-o", str(calibration)]) == 0
    capsys.readouterr()
    plan = _plan(
        capsys, "-p", str(path), "--calibration", str(calibration), "--vllm-version", "0.20.0"
    )
    note = next(f for f in plan["feasibility"]["findings"] if f["rule_id"] == "VW151")
    assert "vllm_version: recorded 0.19.0, this plan 0.20.0" in note["message"]
    assert "VW150" not in _rules(plan)
    assert "measured" not in plan["feasibility"]["memory"]["basis"].values()
    # another model of the same file: nothing to say
    other = _plan(
        capsys, "-m", "Qwen/Qwen3-8B", "--gpu", "H100-80GB", "--calibration", str(calibration)
    )
    assert not _rules(other) & {"VW150", "VW151"}


def test_a_log_of_another_setup_is_refused_with_its_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _profile(
        tmp_path, QWEN_TP2.replace("tp_size: 2", "tp_size: 1").replace("gpus: 2", "gpus: 1")
    )
    code, _, err = _run(
        capsys, "calibrate", str(TP2_LOG), "-p", str(path), "-o", str(tmp_path / "c.yaml")
    )
    assert code == 2
    assert "tensor_parallel_size is 2, the profile's 1" in err
    assert f"{TP2_LOG}:" in err
    assert not (tmp_path / "c.yaml").exists()
    code, _, err = _run(
        capsys, "calibrate", str(PP2_LOG), "-p", str(path), "-o", str(tmp_path / "c.yaml")
    )
    assert code == 2 and "the log's model is meta-llama/Llama-3.1-8B-Instruct" in err


def test_a_log_that_sized_no_kv_cache_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _profile(tmp_path, QWEN_TP2)
    log = tmp_path / "stopped.log"
    log.write_text(
        "(Worker_TP0 pid=7) INFO [gpu_model_runner.py:4820] Model loading took 7.12 GiB memory\n"
        "(Worker_TP0 pid=7) ERROR torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
        "2.00 GiB\n"
    )
    code, _, err = _run(capsys, "calibrate", str(log), "-p", str(path))
    assert code == 2
    assert "no 'Available KV cache memory'" in err and "Traceback" not in err
    code, _, err = _run(capsys, "calibrate", str(tmp_path / "missing.log"), "-p", str(path))
    assert code == 2 and "missing.log" in err


def test_a_broken_calibration_file_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _profile(tmp_path, QWEN_TP2)
    bad = tmp_path / "cal.yaml"
    bad.write_text("calibration_version: 1\nentries:\n  - kee: 1\n", encoding="utf-8")
    code, _, err = _run(capsys, "plan", "-p", str(path), "--calibration", str(bad))
    assert code == 2 and f"{bad}:3" in err and "Traceback" not in err
    code, _, err = _run(capsys, "plan", "-p", str(path), "--calibration", str(tmp_path / "no.yaml"))
    assert code == 2 and "no such file" in err


def test_a_log_piped_in_is_calibrated_from_standard_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # kubectl logs deploy/qwen | vllm-wizard calibrate - -p serving.yaml
    path = _profile(tmp_path, QWEN_TP2)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(TP2_LOG.read_bytes())))
    calibration = tmp_path / "cal.yaml"
    code, out, err = _run(capsys, "calibrate", "-", "-p", str(path), "-o", str(calibration))
    assert code == 0, err
    (entry,) = read_calibration(calibration).entries
    assert entry.logs[0].startswith("<stdin>:")


def test_standard_input_named_twice_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the second '-' read an empty stream and was reported as a log with no vLLM line in it
    path = _profile(tmp_path, QWEN_TP2)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(TP2_LOG.read_bytes())))
    calibration = tmp_path / "cal.yaml"
    code, _, err = _run(capsys, "calibrate", "-", "-", "-p", str(path), "-o", str(calibration))
    assert code == 2 and "'-'" in err and "once" in err and "Traceback" not in err
    assert not calibration.exists()


@pytest.mark.parametrize("text", ["# our GPU notes\n# keep\n", "---\n# notes\n...\n"])
def test_a_file_of_only_comments_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = _profile(tmp_path, QWEN_TP2)
    notes = tmp_path / "notes.yaml"
    notes.write_text(text, encoding="utf-8")
    code, out, err = _run(capsys, "calibrate", str(TP2_LOG), "-p", str(path), "-o", str(notes))
    assert code == 2 and out == ""
    assert f"{notes}: holds only comments" in err and "-o" in err
    assert notes.read_text(encoding="utf-8") == text
    blank = tmp_path / "blank.yaml"  # an empty file is a new calibration, as a missing one
    blank.write_text("\n", encoding="utf-8")
    code, _, err = _run(capsys, "calibrate", str(TP2_LOG), "-p", str(path), "-o", str(blank))
    assert code == 0, err
    assert len(read_calibration(blank).entries) == 1


def test_check_and_audit_use_the_repo_configs_calibration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "profiles").mkdir()
    path = _profile(tmp_path, QWEN_TP2, "profiles/qwen.yaml")
    out = tmp_path / "measured" / "cal.yaml"
    out.parent.mkdir()
    assert main(["calibrate", str(TP2_LOG), "-p", str(path), "-o", str(out)]) == 0
    (tmp_path / ".vllm-wizard.yaml").write_text("calibration: measured/cal.yaml\n")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code, text, err = _run(capsys, "check", "profiles/", "--format", "json")
    assert code == 0, err
    pair = json.loads(text)["pairs"][0]
    assert pair["figures"]["kv_tokens"] == 2390592
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump(["H100-80GB:2"]))
    code, _, err = _run(capsys, "audit", "profiles/", "--fleet", str(fleet), "-j", "1", "--quiet")
    assert code == 0, err
    audit = json.loads((tmp_path / "audit.json").read_text())
    assert audit["check"]["pairs"][0]["figures"]["kv_tokens"] == 2390592
    (tmp_path / ".vllm-wizard.yaml").write_text("calibration: measured/none.yaml\n")
    code, _, err = _run(capsys, "check", "profiles/")
    assert code == 2 and "none.yaml" in err


def test_an_entry_must_have_one_set_of_terms_per_pipeline_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _profile(tmp_path, LLAMA_PP2)
    calibration = tmp_path / "cal.yaml"
    assert main(["calibrate", str(PP2_LOG), "-p", str(path), "-o", str(calibration)]) == 0
    data = yaml.safe_load(calibration.read_text())
    del data["entries"][0]["stages"][1]
    calibration.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    code, _, err = _run(capsys, "plan", "-p", str(path), "--calibration", str(calibration))
    assert code == 2 and "one per pipeline stage" in err and "Traceback" not in err


def test_several_logs_of_one_setup_keep_the_run_with_the_least_kv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = {
        c["id"]: c
        for c in yaml.safe_load((DATA / "vllm_startup_logs.public.yaml").read_text())["cases"]
    }
    logs = []
    # two starts of Qwen2.5-7B-Instruct on one H100 at 0.95, 2k and 16k tokens: 2 blocks apart
    for case in (
        "planner-v0190-qwen-qwen2-5-7b-instruct-h100-80gb-tp1pp1dp1-2048",
        "planner-v0190-qwen-qwen2-5-7b-instruc-h100-80gb-tp1pp1dp1-16384",
    ):
        log = tmp_path / f"{case}.log"
        log.write_text("\n".join(cases[case]["raw_excerpt"]) + "\n")
        logs.append(str(log))
    profile = QWEN_TP2.replace("tp_size: 2", "tp_size: 1").replace("gpus: 2", "gpus: 1")
    path = _profile(tmp_path, profile)
    calibration = tmp_path / "cal.yaml"
    assert main(["calibrate", *logs, "-p", str(path), "-o", str(calibration)]) == 0
    capsys.readouterr()
    assert len(read_calibration(calibration).entries[0].logs) == 2
    plan = _plan(capsys, "-p", str(path), "--calibration", str(calibration))
    assert plan["feasibility"]["kv"]["tokens"] == min(
        cases[c.rsplit("/", 1)[-1].removesuffix(".log")]["observed"]["kv_cache_tokens"]
        for c in logs
    )


def test_update_lockfile_records_the_profiles_hub_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    from tests.models.fake_hub import FakeHub, Repo

    case = "planner-v0190-qwen-qwen2-5-7b-instruct-h100-80gb-tp1pp1dp1-2048"
    excerpt = next(
        c["raw_excerpt"]
        for c in yaml.safe_load((DATA / "vllm_startup_logs.public.yaml").read_text())["cases"]
        if c["id"] == case
    )
    log = tmp_path / "serve.log"
    log.write_text("\n".join(excerpt) + "\n")  # the excerpt names no model
    profile = QWEN_TP2.replace("Qwen/Qwen2.5-7B-Instruct", "acme/private-7b")
    path = _profile(
        tmp_path, profile.replace("tp_size: 2", "tp_size: 1").replace("gpus: 2", "gpus: 1")
    )
    lockfile = tmp_path / "vllm-wizard.lock.json"
    config = (DATA / "configs" / "Qwen__Qwen2.5-7B.json").read_bytes()
    import huggingface_hub.constants

    with FakeHub() as hub:
        hub.repos["acme/private-7b"] = Repo(files={"config.json": config})
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HUB_OFFLINE", "")
        # huggingface_hub read HF_HUB_OFFLINE when first imported, maybe by an earlier test
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        argv = ["calibrate", str(log), "-p", str(path), "-o", str(tmp_path / "cal.yaml")]
        code, _, err = _run(capsys, *argv, "--lockfile", str(lockfile), "--update-lockfile")
    assert code == 0, err
    assert "acme/private-7b" in lockfile.read_text()


def test_context_parallel_is_part_of_the_setup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _profile(tmp_path, QWEN_TP2)
    calibration = tmp_path / "cal.yaml"
    assert main(["calibrate", str(TP2_LOG), "-p", str(path), "-o", str(calibration)]) == 0
    capsys.readouterr()
    text = QWEN_TP2.replace(
        "max_num_seqs: 1024", "max_num_seqs: 1024, prefill_context_parallel_size: 2"
    )
    pcp = _profile(tmp_path, text.replace("gpus: 2", "gpus: 4"), "pcp.yaml")
    _, out, _ = _run(capsys, "plan", "--json", "-p", str(pcp), "--calibration", str(calibration))
    plan = json.loads(out)
    note = next(f for f in plan["feasibility"]["findings"] if f["rule_id"] == "VW151")
    assert "prefill_context_parallel_size: recorded 1, this plan 2" in note["message"]
    assert "VW150" not in _rules(plan)


# Llama-3.1-8B with a Llama-3.2-1B draft model (both in the catalog) on vLLM 0.19.0: the
# drafter's 16 layers join the KV cache (163,840 bytes a token, a block of 2.5 MiB).
LLAMA_DRAFT = """\
profile_version: 1
model: {id: meta-llama/Llama-3.1-8B-Instruct, max_model_len: 8192}
hardware: {gpu_name: H100-80GB, gpus: 1}
policy: {gpu_memory_utilization: 0.9}
vllm: {version: "0.19.0"}
outputs:
  vllm_args:
    speculative-config: {model: meta-llama/Llama-3.2-1B-Instruct, num_speculative_tokens: 4}
"""


def _spec_log(tmp_path: Path, spec: str) -> Path:
    """A start of that setup in vLLM 0.19.0's own lines (the engine config as it prints it,
    abridged): 50.00 GiB of KV memory printed, 20,478 blocks of 2.5 MiB (49.995 GiB) sized."""
    engine = (
        "model='meta-llama/Llama-3.1-8B-Instruct', speculative_config=SpeculativeConfig("
        "method='draft_model', model='meta-llama/Llama-3.2-1B-Instruct', num_spec_tokens=4), "
        "dtype=torch.bfloat16, max_seq_len=8192, tensor_parallel_size=1, "
        "pipeline_parallel_size=1, data_parallel_size=1, quantization=None, "
        "enforce_eager=False, kv_cache_dtype=auto, seed=0"
    )
    lines = [
        "(APIServer pid=1) INFO 04-22 01:42:32 [entrypoints/utils.py:233] non-default args: "
        "{'model_tag': 'meta-llama/Llama-3.1-8B-Instruct', 'model': "
        "'meta-llama/Llama-3.1-8B-Instruct', 'max_model_len': 8192, "
        f"'gpu_memory_utilization': 0.9, 'speculative_config': {spec}}}",
        "(EngineCore pid=243) INFO 04-22 01:42:43 [v1/engine/core.py:105] Initializing a V1 "
        f"LLM engine (v0.19.0) with config: {engine}",
        "(EngineCore pid=243) INFO 04-22 01:43:00 [v1/worker/gpu_model_runner.py:4820] Model "
        "loading took 17.40 GiB memory and 3.99 seconds",
        "(EngineCore pid=243) INFO 04-22 01:43:10 [v1/worker/gpu_worker.py:436] Available KV "
        "cache memory: 50.00 GiB",
        "(EngineCore pid=243) INFO 04-22 01:43:15 [v1/core/kv_cache_utils.py:1319] GPU KV "
        "cache size: 327,648 tokens",
        "(EngineCore pid=243) INFO 04-22 01:43:15 [v1/core/kv_cache_utils.py:1324] Maximum "
        "concurrency for 8,192 tokens per request: 40.00x",
    ]
    path = tmp_path / "spec.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


SPEC_4 = "{'model': 'meta-llama/Llama-3.2-1B-Instruct', 'num_speculative_tokens': 4}"


def test_a_spec_decode_run_calibrates_on_the_plans_drafter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log's blocks are read on the plan's layout, the drafter's KV layers included: the
    plan then reproduces them exactly (without the drafter a block would be 2 MiB, the 20,478
    blocks would not fit the logged GiB, and the plan would get 20,480)."""
    path = _profile(tmp_path, LLAMA_DRAFT)
    calibration = tmp_path / "cal.yaml"
    log = _spec_log(tmp_path, SPEC_4)
    assert main(["calibrate", str(log), "-p", str(path), "-o", str(calibration)]) == 0
    capsys.readouterr()
    entry = read_calibration(calibration).entries[0]
    drafter = "draft_model meta-llama/Llama-3.2-1B-Instruct x4"
    assert entry.key.settings.drafter == drafter
    f = _plan(capsys, "--profile", str(path), "--calibration", str(calibration))["feasibility"]
    assert (f["kv"]["num_blocks"], f["kv"]["tokens"]) == (20478, 327648)
    assert (f["kv"]["bytes_per_token"], f["memory"]["weights_gib"]) == (163840, 17.4)
    assert f["max_concurrency_at_context"] == 40.0
    # the same model without the drafter is another setup: the entry is not used
    plain = tmp_path / "plain.yaml"
    plain.write_text(LLAMA_DRAFT.split("outputs:")[0], encoding="utf-8")
    other = _plan(capsys, "--profile", str(plain), "--calibration", str(calibration))
    (note,) = [f for f in other["feasibility"]["findings"] if f["rule_id"] == "VW151"]
    assert f"drafter: recorded {drafter}, this plan None" in note["message"]


@pytest.mark.parametrize(
    ("profile", "spec", "said"),
    [
        (LLAMA_DRAFT.split("outputs:")[0], SPEC_4, "the profile's none"),
        (LLAMA_DRAFT, SPEC_4.replace("4}", "3}"), "'num_speculative_tokens': 3}, the profile's"),
    ],
)
def test_a_log_of_another_drafter_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], profile: str, spec: str, said: str
) -> None:
    path = _profile(tmp_path, profile)
    log = _spec_log(tmp_path, spec)
    code, _, err = _run(capsys, "calibrate", str(log), "-p", str(path), "-o", "c.yaml")
    assert code == 2 and f"{log}: the log's speculative config is" in err and said in err


def test_a_log_of_another_version_names_the_profile_key_to_pin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the hint named engine.vllm_version, a key no profile has
    path = _profile(tmp_path, QWEN_TP2.replace('version: "0.19.0", ', ""))
    code, _, err = _run(
        capsys, "calibrate", str(TP2_LOG), "-p", str(path), "-o", str(tmp_path / "c.yaml")
    )
    assert code == 2
    assert "the log is vLLM 0.19.0" in err and "(pin vllm.version in the profile)" in err
    assert not (tmp_path / "c.yaml").exists()
