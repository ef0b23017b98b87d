"""run_check end to end: real discovery, real planning (catalog models, offline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checker.errors import GPUNotFoundError, UsageError
from checker.gate import check as check_module
from checker.gate.check import CheckOptions, run_check, set_up, working_tree
from checker.gate.formats.json_report import render_json
from checker.gate.sources.repo_config import FailOn
from checker.planning.rules import RuleContext
from checker.schemas.records import record_json

LLAMA = """\
profile_version: 1
model:
  id: meta-llama/Llama-3.1-8B-Instruct
  max_model_len: {max_len}
hardware:
  gpu_name: H100-80GB
  targets: ["L4"]
workload:
  concurrency: 1
policy:
  gpu_memory_utilization: 0.85
vllm:
  version: "0.19.0"
"""


def llama(max_len: int = 8192) -> str:
    return LLAMA.format(max_len=max_len)


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def check(root: Path, *paths: str, **options: object) -> object:
    return run_check(CheckOptions(paths=paths, cwd=root, offline=True, **options))  # type: ignore[arg-type]


def test_each_profile_on_its_own_targets(tmp_path: Path) -> None:
    write(tmp_path, "profiles/ok.yaml", llama(8192))
    write(tmp_path, "profiles/long.yaml", llama(65536))
    result = run_check(CheckOptions(paths=("profiles",), cwd=tmp_path, offline=True))
    got = {(p.profile, p.target): p.verdict for p in result.pairs}
    assert got == {
        ("profiles/long.yaml", "H100-80GB:1"): "PASS",
        ("profiles/long.yaml", "L4:1"): "FAIL",
        ("profiles/ok.yaml", "H100-80GB:1"): "PASS",
        ("profiles/ok.yaml", "L4:1"): "PASS",
    }
    assert result.exit_code == 1 and result.verdict == "FAIL"
    assert result.counts == {"pass": 3, "warn": 0, "fail": 1, "error": 0}
    failing = result.failing()[0]
    assert failing.gpu == "L4"
    vw203 = next(f for f in failing.findings if f.rule_id == "VW203")
    assert (vw203.key, vw203.line) == ("model.max_model_len", 4)
    full = failing.full_plan()
    assert full is not None and full.feasibility.kv is not None
    assert failing.figures.kv_tokens == full.feasibility.kv.tokens


def test_only_a_failing_pair_keeps_its_full_plan(tmp_path: Path) -> None:
    """Thousands of pairs stay small: a passing pair keeps what the reports print (issue 17)."""
    write(tmp_path, "p.yaml", llama(65536))
    result = run_check(CheckOptions(paths=("p.yaml",), cwd=tmp_path, offline=True))
    passing, failing = result.pairs  # H100: PASS, L4: FAIL
    assert (passing.verdict, failing.verdict) == ("PASS", "FAIL")
    full = failing.full_plan()
    assert passing.full_plan() is None and full is not None
    assert passing.summary is not None and failing.summary is not None
    assert (passing.summary.tensor_parallel_size, passing.summary.max_model_len) == (1, 65536)
    assert passing.summary.vllm_version == "0.19.0"
    assert failing.summary.memory_gib == full.feasibility.memory.total_gib


def test_only_a_failing_pair_is_given_recommendations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No report prints a passing pair's advice, so the gate never works it out (issue 17)."""
    import checker.planning.planner as planner

    advised: list[str] = []
    real = planner.recommend

    def recommend(ctx: RuleContext, *args: Any) -> Any:
        advised.append(ctx.gpu.name)
        return real(ctx, *args)

    monkeypatch.setattr(planner, "recommend", recommend)
    write(tmp_path, "p.yaml", llama(65536))
    result = run_check(CheckOptions(paths=("p.yaml",), cwd=tmp_path, offline=True))
    assert [p.verdict for p in result.pairs] == ["PASS", "FAIL"]
    assert advised == ["L4"]
    full = result.pairs[1].full_plan()
    assert full is not None and full.recommendations


def test_a_failing_plan_is_kept_packed_and_dumped_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FAIL pair past a run's first WHOLE_PLANS holds its plan packed, not as objects
    (issue 17); reports see no difference."""
    monkeypatch.setattr(check_module, "WHOLE_PLANS", 0)
    write(tmp_path, "p.yaml", llama(65536))
    result = run_check(CheckOptions(paths=("p.yaml",), cwd=tmp_path, offline=True))
    failing = result.pairs[1]
    full = failing.full_plan()
    assert failing.plan is None and full is not None  # no PlanResponse objects held
    dumped = json.loads(render_json(result))["pairs"][1]["plan"]
    assert dumped == json.loads(record_json(full))


def test_given_gpus_replace_the_profile_targets(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", llama(65536))
    result = run_check(
        CheckOptions(paths=("p.yaml",), gpus=("H100-80GB:1", "A100-80GB"), cwd=tmp_path)
    )
    assert [(p.target, p.gpu, p.verdict) for p in result.pairs] == [
        ("H100-80GB:1", "H100-SXM-80GB", "PASS"),
        ("A100-80GB:1", "A100-SXM4-80GB", "PASS"),
    ]
    assert result.exit_code == 0


def test_unknown_gpu_stops_the_run(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", llama())
    with pytest.raises(GPUNotFoundError, match="unknown GPU 'H1000'"):
        run_check(CheckOptions(paths=("p.yaml",), gpus=("H1000",), cwd=tmp_path))
    with pytest.raises(UsageError, match="--gpu"):
        run_check(CheckOptions(paths=("p.yaml",), gpus=("L4:0",), cwd=tmp_path))


def test_broken_profiles_are_input_errors_and_the_rest_is_checked(tmp_path: Path) -> None:
    write(tmp_path, "profiles/good.yaml", llama())
    write(tmp_path, "profiles/typo.yaml", llama().replace("max_model_len", "max_modle_len"))
    write(tmp_path, "profiles/yaml.yaml", "model:\n  id: [x\n")
    write(tmp_path, "profiles/who.yaml", llama().replace("meta-llama/Llama", "nobody/Llama"))
    result = run_check(CheckOptions(paths=("profiles", "gone.yaml"), cwd=tmp_path, offline=True))
    assert result.exit_code == 2 and result.verdict == "FAIL"
    errors = {e.path: e for e in result.errors}
    assert set(errors) == {"profiles/typo.yaml", "profiles/yaml.yaml", "gone.yaml"}
    typo = errors["profiles/typo.yaml"]
    assert (typo.line, typo.column) == (4, 3)
    assert typo.hint == "did you mean 'max_model_len'?"
    assert errors["profiles/yaml.yaml"].message.startswith("invalid YAML")
    assert errors["gone.yaml"].message == "no such file or directory"
    who = [p for p in result.pairs if p.profile == "profiles/who.yaml"]
    assert {p.verdict for p in who} == {"ERROR"}
    assert who[0].error is not None and who[0].error.line == 3  # model.id
    good = [p for p in result.pairs if p.profile == "profiles/good.yaml"]
    assert {p.verdict for p in good} == {"PASS"}
    assert result.counts["error"] == 3 + 2


def test_repo_config_supplies_globs_targets_gpus_and_policy(tmp_path: Path) -> None:
    write(tmp_path, "deploy/a.yaml", llama(8192).replace('vllm:\n  version: "0.19.0"\n', ""))
    write(tmp_path, "deploy/ci.yaml", "on: push\n")
    write(
        tmp_path,
        ".vllm-wizard.yaml",
        """\
profiles: ["deploy/**/*.yaml"]
targets: ["L4", "lab48"]
gpus:
  - name: Lab-GPU-48GB
    aliases: [lab48]
    memory_gib: 47.5
    memory_bandwidth_gbs: 960
    fp16_tflops: 180
    compute_capability: "8.9"
fail_on: warning
vllm_version: "0.18.0"
""",
    )
    result = run_check(CheckOptions(cwd=tmp_path / "deploy"))
    assert [(p.profile, p.target, p.gpu) for p in result.pairs] == [
        ("a.yaml", "H100-80GB:1", "H100-SXM-80GB"),  # the GPU it deploys on, always
        ("a.yaml", "L4:1", "L4"),
        ("a.yaml", "lab48:1", "Lab-GPU-48GB"),
    ]
    assert result.fail_on is FailOn.WARNING
    assert {p.summary.vllm_version for p in result.pairs if p.summary} == {"0.18.0"}
    overridden = run_check(CheckOptions(cwd=tmp_path, vllm_version="0.19.0", fail_on=FailOn.ERROR))
    assert {p.summary.vllm_version for p in overridden.pairs if p.summary} == {"0.19.0"}
    assert overridden.fail_on is FailOn.ERROR
    only = run_check(CheckOptions(cwd=tmp_path, gpus=("L4",)))  # --gpu: only those
    assert [p.target for p in only.pairs] == ["L4:1"]


def test_repo_config_targets_only_replaces_the_profiles_own(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", llama(8192))
    write(tmp_path, "auto.yaml", llama(8192).replace("gpu_name: H100-80GB", "gpu_name: auto"))
    write(tmp_path, ".vllm-wizard.yaml", 'profiles: ["*.yaml"]\ntargets: ["L4"]\n')
    result = run_check(CheckOptions(cwd=tmp_path))
    assert [(p.profile, p.target) for p in result.pairs] == [
        ("a.yaml", "H100-80GB:1"),
        ("a.yaml", "L4:1"),
        ("auto.yaml", "L4:1"),  # 'auto' names no GPU: the config's targets stand in for it
    ]
    write(
        tmp_path, ".vllm-wizard.yaml", 'profiles: ["*.yaml"]\ntargets: [L4]\ntargets_only: true\n'
    )
    result = run_check(CheckOptions(cwd=tmp_path))
    assert [(p.profile, p.target) for p in result.pairs] == [
        ("a.yaml", "L4:1"),
        ("auto.yaml", "L4:1"),
    ]


def test_fail_on_warning_fails_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", llama(8192).replace("concurrency: 1", "concurrency: 64"))
    relaxed = run_check(CheckOptions(paths=("p.yaml",), gpus=("L4",), cwd=tmp_path))
    assert [p.verdict for p in relaxed.pairs] == ["WARN"] and relaxed.exit_code == 0
    assert relaxed.verdict == "WARN"
    strict = run_check(
        CheckOptions(paths=("p.yaml",), gpus=("L4",), cwd=tmp_path, fail_on=FailOn.WARNING)
    )
    assert strict.pairs[0].failed and strict.exit_code == 1


def test_nothing_to_check_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path, "ci.yaml", "on: push\n")
    with pytest.raises(UsageError, match="no profiles found"):
        run_check(CheckOptions(paths=(".",), cwd=tmp_path))
    with pytest.raises(UsageError, match="no profiles given"):
        run_check(CheckOptions(cwd=tmp_path))


def test_a_glob_that_matches_nothing_is_a_note(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", llama())
    result = run_check(CheckOptions(paths=("p.yaml", "x/*.yaml"), gpus=("H100",), cwd=tmp_path))
    assert result.notes == ["'x/*.yaml' matched no profile"]
    assert result.exit_code == 0


@pytest.mark.parametrize("version", ["1.2.3.4", "latest", "0.0"])
def test_bad_vllm_version_stops_the_run(tmp_path: Path, version: str) -> None:
    write(tmp_path, "p.yaml", llama())
    with pytest.raises(UsageError, match=version.replace(".", r"\.")):
        run_check(CheckOptions(paths=("p.yaml",), vllm_version=version, cwd=tmp_path))


def test_our_artifacts_are_never_profiles(tmp_path: Path) -> None:
    """generate's default output (command + profile) next to the profile: one profile, not two,
    and the artifacts named alone (a hook given `git add profiles/deploy`) pass with a note."""
    from checker.cli import main

    profile = write(tmp_path, "profiles/serving.yaml", llama())
    deploy = tmp_path / "profiles" / "deploy"
    assert main(["generate", "-p", str(profile), "-o", str(deploy)]) == 0
    assert sorted(p.name for p in deploy.iterdir()) == ["profile.yaml", "serve.sh"]
    header = "# Generated by vllm-wizard from ../x.yaml; do not edit by hand, regenerate instead."
    write(tmp_path, "profiles/deploy/compose.yaml", f"{header}\nservices: {{}}\n")
    result = check(tmp_path, "profiles")
    assert {p.profile for p in result.pairs} == {"profiles/serving.yaml"}  # type: ignore[attr-defined]
    assert result.errors == [] and result.notes == []  # type: ignore[attr-defined]
    named = ("profiles/deploy/profile.yaml", "profiles/deploy/compose.yaml")
    result = check(tmp_path, *named)
    assert result.exit_code == 0 and result.pairs == []  # type: ignore[attr-defined]
    assert result.notes == [  # type: ignore[attr-defined]
        f"{rel!r} was generated by vllm-wizard: an artifact, not a profile" for rel in sorted(named)
    ]


def test_a_generated_profile_without_its_source_is_a_profile(tmp_path: Path) -> None:
    """A profile started from flags (`generate --emit profile`), or a profile artifact copied
    away from its source, is checked: only a copy next to its existing source is skipped."""
    from checker.cli import main

    flags = ["-m", "Qwen/Qwen3-8B", "--gpu", "L4", "--max-model-len", "4096"]
    started = tmp_path / "profiles" / "started"
    assert main(["generate", *flags, "--emit", "profile", "-o", str(started)]) == 0
    profile = write(tmp_path, "profiles/serving.yaml", llama())
    assert main(["generate", "-p", str(profile), "-o", str(tmp_path / "profiles" / "deploy")]) == 0
    copied = (tmp_path / "profiles" / "deploy" / "profile.yaml").read_text()
    write(tmp_path, "profiles/copied/away/profile.yaml", copied)  # "../serving.yaml" is gone
    result = check(tmp_path, "profiles")
    assert {p.profile for p in result.pairs} == {  # type: ignore[attr-defined]
        "profiles/copied/away/profile.yaml",
        "profiles/serving.yaml",
        "profiles/started/profile.yaml",
    }


def test_profiles_are_planned_as_they_load_and_not_kept(tmp_path: Path) -> None:
    """A fleet's profiles are not all held at once (issue 17): each is handed on as it loads."""
    write(tmp_path, "b.yaml", llama(4096))
    write(tmp_path, "a.yaml", llama(8192))
    write(tmp_path, "bad.yaml", "model: {id: x, nope: 1}\n")
    setup = set_up(
        cwd=tmp_path,
        config=None,
        paths=(".",),
        fail_on=None,
        offline=True,
        lockfile=None,
        record=False,
        vllm_version=None,
    )
    seen: list[tuple[str, int | None]] = []
    head, _, _ = working_tree(
        setup, lambda rel, p: seen.append((rel, p.profile.model.max_model_len)), keep=False
    )
    assert seen == [("a.yaml", 8192), ("b.yaml", 4096)]
    assert head.profiles == {} and list(head.problems) == ["bad.yaml"]
    assert list(head.texts) == ["bad.yaml"]  # a planned profile's text is not kept either
    kept, _, _ = working_tree(setup)
    assert list(kept.profiles) == ["a.yaml", "b.yaml"]
    assert list(kept.texts) == ["a.yaml", "b.yaml", "bad.yaml"]
