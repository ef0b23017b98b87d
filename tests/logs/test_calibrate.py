"""vllm-wizard calibrate: measured terms from real logs, used by plan / check / audit."""

from __future__ import annotations

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
    with FakeHub() as hub:
        hub.repos["acme/private-7b"] = Repo(files={"config.json": config})
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HUB_OFFLINE", "")
        # huggingface_hub reads HF_HUB_OFFLINE once, at import: an earlier test may have
        # imported it offline (as the hardening tests' online fixture does, reset it)
        import huggingface_hub.constants

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
