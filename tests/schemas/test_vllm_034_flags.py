"""A vLLM 0.34 pin is checked against 0.34.0's own `vllm serve` flags
(checker/data/vllm_flags.yaml), not 0.33's: its new flags load, flags no release after 0.33 has
are refused in the same words as on older pins, and a profile written for 0.33 means the same on
0.34."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from checker.cli import main
from checker.errors import ProfileError
from checker.pipeline import plan_request
from checker.render.context import context_for_profile
from checker.render.serve import serve_argv
from checker.schemas.engine_args import classification
from checker.schemas.profile_io import LoadedProfile, load_profile_text, profile_to_request
from checker.schemas.vllm_flags import flags_for
from tests.planning.plans import fired

BASE: dict[str, Any] = {
    "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "max_model_len": 16384},
    "hardware": {"gpu_name": "H100-SXM-80GB"},
}

# each flag 0.34.0 added (engine/arg_utils.py EngineArgs.add_cli_args, entrypoints/common/
# cli_args.py make_arg_parser), with a value vLLM parses
NEW_IN_034: dict[str, Any] = {
    "enable-extensible-kv-cache": True,
    "no-enable-extensible-kv-cache": True,
    "max-num-inflight-kv-loads": 8,
    "cache-aware-admission-window": 16,
    "cache-aware-admission-threshold": 0.25,
    "checkpoint-prepare-on-startup": True,
    "shuffle-safetensors-files": True,
    "headless-client-handshake-address": "tcp://127.0.0.1:5570",
}


def _load(version: str, args: dict[str, Any]) -> LoadedProfile:
    data = copy.deepcopy(BASE)
    data["vllm"] = {"version": version}
    data["outputs"] = {"vllm_args": args}
    return load_profile_text(yaml.safe_dump(data, sort_keys=False), "p.yaml")


@pytest.mark.parametrize(("flag", "value"), sorted(NEW_IN_034.items()))
def test_a_new_034_flag_loads_on_a_034_pin_only(flag: str, value: Any) -> None:
    loaded = _load("0.34.0", {flag: value})
    assert flag.removeprefix("no-") in loaded.profile.outputs.vllm_args
    with pytest.raises(ProfileError, match=f"vLLM 0.33 has no flag --{flag}"):
        _load("0.33.0", {flag: value})


def test_every_new_034_flag_is_classified() -> None:
    added = {f for f in flags_for("0.34").serve - flags_for("0.33").serve if f.startswith("--")}
    assert added == {"--" + f for f in NEW_IN_034} | {
        "--no-checkpoint-prepare-on-startup",
        "--no-shuffle-safetensors-files",
    }
    assert all(f in classification() for f in added if not f.startswith("--no-"))


def test_the_034_quantization_choices_are_its_own() -> None:
    """model_executor/layers/quantization/__init__.py QuantizationMethods: 0.34.0 dropped
    fp_quant and added w4afp8, lut_b_moe and mxfp4_hadamard32."""
    old, new = (set(flags_for(v).choices["quantization"]) for v in ("0.33", "0.34"))
    assert old - new == {"fp_quant"}
    assert new - old == {"w4afp8", "lut_b_moe", "mxfp4_hadamard32"}


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("swap-space", 4),  # gone in 0.24 (CacheConfig.swap_space)
        ("task", "generate"),  # gone in 0.11
        ("enable-mamba-fine-grained-prefix-cache", True),  # 0.30 only
    ],
)
def test_a_flag_older_lines_dropped_is_refused_on_034_in_the_same_words(
    flag: str, value: Any
) -> None:
    words = {}
    for version in ("0.33.0", "0.34.0"):
        with pytest.raises(ProfileError) as err:
            _load(version, {flag: value})
        words[version] = err.value.message.replace(version[:4], "X")
    assert words["0.34.0"] == words["0.33.0"]
    assert words["0.34.0"] == f"outputs.vllm_args.{flag}: vLLM X has no flag --{flag}"


@pytest.mark.parametrize(
    "args",
    [
        {"-O3": True},  # -O<n> is --optimization-level <n> (utils/argparse_utils.py, unchanged)
        {"device-memory-utilization": 0.8},  # 0.33's alias of --gpu-memory-utilization
        {"-tp": 1, "-pp": 1},
        {"disable-prefix-caching": True},  # EnableDisableAction inverse of --enable-...
        {"max-num-batched-tokens": "4K", "kv-cache-memory-bytes": "20G"},  # human-readable ints
        {"compilation-config.cudagraph_mode": "PIECEWISE"},
    ],
)
def test_a_033_profile_loads_to_the_same_object_on_034(args: dict[str, Any]) -> None:
    old, new = _load("0.33.0", args).profile, _load("0.34.0", args).profile
    assert new.model_dump(exclude={"vllm": {"version"}}) == old.model_dump(
        exclude={"vllm": {"version"}}
    )


def test_the_034_flags_with_no_memory_effect_are_no_warning() -> None:
    args = {
        "max-num-inflight-kv-loads": 8,
        "cache-aware-admission-window": 16,
        "cache-aware-admission-threshold": 0.25,
        "shuffle-safetensors-files": True,
        "headless-client-handshake-address": "tcp://127.0.0.1:5570",
    }
    resp = plan_request(profile_to_request(_load("0.34.0", args).profile), offline=True)
    assert not fired(resp, "VW190")


@pytest.mark.parametrize(
    ("args", "switch", "utilization"),
    [
        ({}, None, 1.0),  # on by default on CUDA
        ({"enable-extensible-kv-cache": True}, "--enable-extensible-kv-cache", 1.0),
        ({"no-enable-extensible-kv-cache": True}, "--no-enable-extensible-kv-cache", 0.92),
    ],
)
def test_plan_check_and_serve_command_agree_on_the_extensible_kv_cache(
    args: dict[str, Any],
    switch: str | None,
    utilization: float,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--enable-extensible-kv-cache is a modeled setting (no VW190): with no utilization given,
    the plan takes vLLM's default for the switch (CacheConfig.resolved_gpu_memory_utilization:
    1.0 on, 0.92 off), check reports the same KV cache, and serve.sh passes the switch and the
    utilization the plan assumed."""
    data = {
        **copy.deepcopy(BASE),
        "policy": {"gpu_memory_utilization": None},
        "vllm": {"version": "0.34.0"},
        "outputs": {"vllm_args": args},
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "-p", "p.yaml", "--offline", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["config"]["gpu_memory_utilization"] == utilization
    assert not [f for f in plan["feasibility"]["findings"] if f["rule_id"] == "VW190"]
    assert main(["check", "p.yaml", "--offline", "--format", "json"]) == 0
    [pair] = json.loads(capsys.readouterr().out)["pairs"]
    assert pair["figures"]["kv_tokens"] == plan["feasibility"]["kv"]["tokens"]
    assert main(["generate", "-p", "p.yaml", "--offline", "-o", "out", "--emit", "command"]) == 0
    argv = (tmp_path / "out" / "serve.sh").read_text("utf-8").split()
    assert f"--gpu-memory-utilization={utilization}" in argv
    assert [a for a in argv if "extensible" in a] == ([switch] if switch else [])


@pytest.mark.parametrize("version", ["0.21.0", "0.27.0", "0.33.0", "0.34.0"])
def test_hf_token_takes_a_value_or_none_and_has_no_off_twin(version: str) -> None:
    """engine/arg_utils.py _compute_kwargs (0.21 .. 0.34): a `bool | str | None` field is
    "Optional-valued" (nargs="?", a bare --hf-token is True), not BooleanOptionalAction, so
    vLLM has no --no-hf-token."""
    with pytest.raises(ProfileError, match="has no flag --no-hf-token"):
        _load(version, {"no-hf-token": True})
    loaded = _load(version, {"hf-token": True})
    plan = plan_request(profile_to_request(loaded.profile), offline=True)
    assert "--hf-token" in serve_argv(context_for_profile(plan, loaded.profile))
    off = _load(version, {"hf-token": False})
    plan = plan_request(profile_to_request(off.profile), offline=True)
    assert not [a for a in serve_argv(context_for_profile(plan, off.profile)) if "hf-token" in a]
