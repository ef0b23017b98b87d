"""One engine-arguments object: vLLM's spellings and value syntax, parsed once at load time."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from checker.cli import main
from checker.errors import ProfileError
from checker.pipeline import plan_request
from checker.render.context import context_for_profile
from checker.render.serve import serve_argv
from checker.schemas import engine_args
from checker.schemas.engine_args import (
    EngineArgError,
    Home,
    classification,
    homes,
    human_readable_int,
    not_modeled,
)
from checker.schemas.outputs import PlanResponse
from checker.schemas.profile_io import (
    LoadedProfile,
    dump_profile,
    load_profile_text,
    profile_to_request,
)
from checker.schemas.vllm_flags import flags_for, known_lines

BASE: dict[str, Any] = {
    "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "max_model_len": 16384},
    "hardware": {"gpu_name": "H100-SXM-80GB"},
    "vllm": {"version": "0.33.0"},
}


def _text(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def _line(data: dict[str, Any], words: str) -> int:
    """1-based line of the first line of the profile text that contains ``words``."""
    return next(i for i, line in enumerate(_text(data).splitlines(), 1) if words in line)


def _load(data: dict[str, Any]) -> LoadedProfile:
    return load_profile_text(_text(data), "p.yaml")


def _with_args(args: dict[str, Any], base: dict[str, Any] = BASE) -> dict[str, Any]:
    data = copy.deepcopy(base)
    data["outputs"] = {"vllm_args": args}
    return data


def _plan(data: dict[str, Any]) -> PlanResponse:
    return plan_request(profile_to_request(_load(data).profile), offline=True)


@pytest.mark.parametrize(
    ("text", "suffixes", "expected"),
    [
        ("32k", "kmgtKMGT", 32_000),
        ("32K", "kmgtKMGT", 32_768),
        ("10.2k", "kmgtKMGT", 10_200),
        ("1M", "kmgtKMGT", 1 << 20),
        ("2G", "kmgtKMGT", 2 << 30),
        ("1t", "kmgtKMGT", 10**12),
        (" 4096 ", "", 4096),
    ],
)
def test_human_readable_int_as_vllm_parses_it(text: str, suffixes: str, expected: int) -> None:
    assert human_readable_int(text, suffixes) == expected


@pytest.mark.parametrize(("text", "suffixes"), [("1.5K", "kmgtKMGT"), ("1t", "kmgKMG"), ("k", "")])
def test_human_readable_int_refuses_what_vllm_refuses(text: str, suffixes: str) -> None:
    with pytest.raises(EngineArgError):
        human_readable_int(text, suffixes)


def test_short_aliases_are_the_profile_keys_they_stand_for() -> None:
    """Issue 18 item 3: -tp 8 is tensor parallel 8 in the plan, not TP 1 beside a TP 8 artifact."""
    data = _with_args(
        {"-tp": 8, "-pp": 4, "-q": "fp8", "-dp": 16, "device-memory-utilization": 0.5}
    )
    loaded = _load(data)
    p = loaded.profile
    assert (p.hardware.tp_size, p.hardware.pp_size, p.model.quantization.value) == (8, 4, "fp8")
    assert p.policy.gpu_memory_utilization == 0.5  # 0.33's second long name for the flag
    assert p.outputs.vllm_args == {"data-parallel-size": 16}
    request = profile_to_request(p)
    assert request.hardware.tensor_parallel_size == 8
    assert request.engine.vllm_args == {"data-parallel-size": 16}
    assert loaded.line_of("hardware.tp_size") == _line(data, "-tp")  # where the user wrote it


def test_values_in_vllm_syntax() -> None:
    data = _with_args(
        {
            "kv_cache_memory_bytes": "4G",
            "--no-enable-prefix-caching": True,
            "-O3": True,
            "compilation_config": '{"cudagraph_mode": "NONE"}',
            "hf-overrides": {"rope_scaling": {"factor": 2}},
        }
    )
    data["vllm"]["max_num_batched_tokens"] = "8k"
    data["model"]["max_model_len"] = "32K"
    p = _load(data).profile
    assert p.vllm.kv_cache_memory_bytes == 4 << 30
    assert p.vllm.max_num_batched_tokens == 8000 and p.model.max_model_len == 32768
    assert p.vllm.enable_prefix_caching is False
    assert p.outputs.vllm_args == {
        "optimization-level": 3,
        "compilation-config": {"cudagraph_mode": "NONE"},
        "hf-overrides": {"rope_scaling": {"factor": 2}},
    }


def test_the_vllm_section_and_vllm_args_are_two_spellings_of_one_object() -> None:
    data = copy.deepcopy(BASE)
    data["vllm"].update(enable_lora=True, max_num_seqs=64, tensor_parallel_size=2)
    p = _load(data).profile
    assert p.outputs.vllm_args == {"enable-lora": True}
    assert (p.vllm.max_num_seqs, p.hardware.tp_size) == (64, 2)
    same = _load(_with_args({"enable-lora": True, "max-num-seqs": 64, "-tp": 2})).profile
    assert same.outputs == p.outputs and same.vllm == p.vllm and same.hardware == p.hardware


def test_a_flag_in_both_spellings_is_an_error_at_the_second() -> None:
    data = _with_args({"enable-lora": False})
    data["vllm"]["enable_lora"] = True
    with pytest.raises(ProfileError) as err:
        _load(data)
    assert err.value.location == f"p.yaml:{_line(data, 'enable-lora')}:5"
    assert "given twice (also as vllm.enable_lora)" in err.value.message


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"eplb-config": 5}, "eplb-config: expected a section of keys, got 5"),
        ({"data-parallel-size": 0}, "data-parallel-size: must be at least 1, got 0"),
        (
            {"lora-dtype": "int8"},
            "lora-dtype: must be one of 'auto', 'float16' or 'bfloat16', got 'int8'",
        ),
        (
            {"mm-processor-kwargs": {"max_pixels": -1}},
            "mm-processor-kwargs: max_pixels must be an integer from 1",
        ),
        ({"mm-encoder-tp-mode": "rows"}, "mm-encoder-tp-mode: must be one of 'weights' or"),
    ],
)
def test_a_modeled_flag_read_from_vllm_args_is_checked_at_its_line(
    args: dict[str, Any], words: str
) -> None:
    data = _with_args(args)
    with pytest.raises(ProfileError) as err:
        _load(data)
    assert err.value.location == f"p.yaml:{_line(data, next(iter(args)))}:5"
    assert words in err.value.message


def test_a_vllm_key_that_is_no_flag_keeps_its_did_you_mean() -> None:
    data = copy.deepcopy(BASE)
    data["vllm"]["max_num_seq"] = 3
    with pytest.raises(ProfileError) as err:
        _load(data)
    assert "unknown key 'vllm.max_num_seq'" in err.value.message
    assert err.value.hint == "did you mean 'max_num_seqs'?"


@pytest.mark.parametrize("value", ["auto", "AUTO", -1])
@pytest.mark.parametrize("where", ["model", "vllm_args"])
def test_max_model_len_auto_plans_vllms_fit_and_deploys_auto(where: str, value: object) -> None:
    """vLLM picks the longest length whose KV fits: the plan predicts that length, and the
    artifacts keep asking for auto (the server fits it, the plan said what it will find)."""
    data = copy.deepcopy(BASE)
    data["hardware"]["gpu_name"] = "L4"  # 128k of Llama-8B KV does not fit: the fit shortens
    if where == "model":
        data["model"]["max_model_len"] = value
    else:
        del data["model"]["max_model_len"]
        data = _with_args({"max-model-len": value}, data)
    loaded = _load(data)
    assert loaded.profile.model.max_model_len == "auto"
    plan = plan_request(profile_to_request(loaded.profile), offline=True)
    assert plan.config.max_model_len_auto
    assert 0 < plan.config.max_model_len < 131072
    assert plan.feasibility.max_model_len == plan.config.max_model_len
    assert any("Auto-fit max_model_len" in line for line in plan.feasibility.log_lines)
    ctx = context_for_profile(plan, loaded.profile)
    argv = serve_argv(ctx)
    assert "--max-model-len=auto" in argv
    assert ctx.changes == []  # auto is what the profile asked for


def test_compilation_config_keys_the_plan_reads_reach_it() -> None:
    plain = _plan(BASE)
    off = _plan(_with_args({"compilation-config": {"cudagraph_mode": "NONE"}}))
    assert plain.feasibility.memory.cudagraph_gib > 0 == off.feasibility.memory.cudagraph_gib
    assert not [f for f in off.feasibility.findings if f.rule_id == "VW190"]
    sized = _plan(_with_args({"compilation-config.max_cudagraph_capture_size": 8}))
    assert 0 < sized.feasibility.memory.cudagraph_gib < plain.feasibility.memory.cudagraph_gib
    other = _with_args({"compilation-config": {"cudagraph_mode": "NONE", "pass_config": {}}})
    (found,) = [f for f in _plan(other).feasibility.findings if f.rule_id == "VW190"]
    assert "keys pass_config are not read" in found.message


def test_enable_and_disable_answer_for_each_other_from_0_33() -> None:
    """0.33's EnableDisableAction: --disable-prefix-caching is --enable-prefix-caching off."""
    p = _load(_with_args({"disable-prefix-caching": True, "enable_hybrid_kv_cache_manager": False}))
    assert p.profile.vllm.enable_prefix_caching is False
    assert p.profile.vllm.disable_hybrid_kv_cache_manager is True
    older = _with_args({"disable-prefix-caching": True})
    older["vllm"]["version"] = "0.24.0"
    with pytest.raises(ProfileError, match="has no flag --disable-prefix-caching"):
        _load(older)


def test_dotted_keys_build_one_json_option_as_vllm_parses_them() -> None:
    args = {
        "compilation-config": {"cudagraph_mode": "NONE"},
        "compilation_config.max_cudagraph_capture_size": "1k",  # human-readable, as vLLM reads
        "-cc.pass_config.fuse": True,
    }
    config = _load(_with_args(args)).profile.outputs.vllm_args["compilation-config"]
    assert config == {
        "cudagraph_mode": "NONE",
        "max_cudagraph_capture_size": 1000,
        "pass_config": {"fuse": True},
    }
    with pytest.raises(ProfileError, match="key cudagraph_mode is given twice"):
        _load(_with_args({**args, "compilation-config.cudagraph_mode": "FULL"}))
    with pytest.raises(ProfileError, match="--max-loras takes no dotted keys"):
        _load(_with_args({"max-loras.x": 1}))


def test_o_level_follows_the_pinned_release() -> None:
    data = _with_args({"-O3": True})
    data["vllm"]["version"] = "0.10.2"  # -O was --compilation-config's alias before 0.19
    assert _load(data).profile.outputs.vllm_args == {"compilation-config": 3}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"-tp": 8, "tensor-parallel-size": 8}, "given twice"),
        ({"max-lora": 4}, "did you mean --max-loras?"),
        ({"-zz": 1}, "has no option -zz"),
        ({"enable-lora": "yes"}, "is a switch"),
        ({"max-num-batched-tokens": "1.5K"}, "decimals are not allowed"),
        ({"compilation-config": "{not json"}, "not valid JSON"),
    ],
)
def test_bad_engine_arguments_are_located(args: dict[str, Any], words: str) -> None:
    with pytest.raises(ProfileError) as err:
        _load(_with_args(args))
    every = [err.value, *err.value.related]
    assert any(words in str(e) for e in every)
    assert all(str(e.location).startswith("p.yaml:") for e in every)


def test_a_key_given_both_ways_is_an_error_at_its_line() -> None:
    data = _with_args({"-tp": 8})
    data["hardware"]["tp_size"] = 2
    with pytest.raises(ProfileError) as err:
        _load(data)
    assert err.value.location == f"p.yaml:{_line(data, '-tp')}:5"
    assert f"also given as hardware.tp_size (line {_line(data, 'tp_size')})" in err.value.message


@pytest.mark.parametrize("command", ["check", "plan"])
def test_check_and_plan_validate_vllm_args_like_generate(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 11 item 2: `max-lora: 4` is not a vLLM flag; every command says so at load."""
    path = tmp_path / "p.yaml"
    data = _with_args({"max-lora": 4})
    path.write_text(_text(data), "utf-8")
    args = [command, str(path)] if command == "check" else [command, "--profile", str(path)]
    assert main([*args, "--offline"]) == 2
    out = capsys.readouterr()
    text = out.out + out.err
    # check names the file relative to the working directory, plan as given
    assert f"p.yaml:{_line(data, 'max-lora')}:" in text and "outputs.vllm_args.max-lora" in text
    assert "did you mean --max-loras?" in text


def test_check_runs_the_plan_at_the_aliased_tensor_parallel_size(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(_text(_with_args({"-tp": 8})), "utf-8")
    # one GPU cannot hold TP 8: the verdict is the artifact's, not TP 1's PASS
    assert main(["check", str(path), "--offline"]) == 1


def _canonical(line: str) -> set[str]:
    """A release line's long flags, less --no-X twins and aliases (they count as their flag)."""
    f = flags_for(line)
    return {
        x
        for x in f.serve
        if x.startswith("--")
        and not (x.startswith("--no-") and "--" + x[5:] in f.serve)
        and x not in f.aliases
    }


def _canonical_flags() -> list[str]:
    return sorted(_canonical(known_lines()[-1]))


def test_every_flag_of_the_newest_release_is_classified() -> None:
    newest = [f for f, (k, _) in classification().items() if f in set(_canonical_flags())]
    assert sorted(newest) == _canonical_flags()


def test_every_flag_of_every_release_is_classified_and_nothing_else() -> None:
    every = set().union(*(_canonical(line) for line in known_lines()))
    assert sorted(classification()) == sorted(every)


def test_a_harmless_flag_of_an_older_release_is_no_warning() -> None:
    data = _with_args({"disable-log-requests": True, "task": "generate"})
    data["vllm"]["version"] = "0.8.5"
    found = [f.key for f in _plan(data).feasibility.findings if f.rule_id == "VW190"]
    assert found == ["outputs.vllm_args.task"]


# A value different from the base profile's for each modeled flag.
PROBES: dict[str, Any] = {
    "--model": "Qwen/Qwen3-8B",
    "--revision": "0123abc",
    "--trust-remote-code": True,
    "--dtype": "float16",
    "--quantization": "fp8",
    "--kv-cache-dtype": "fp8",
    "--max-model-len": "8k",
    "--tensor-parallel-size": 2,
    "--pipeline-parallel-size": 2,
    "--gpu-memory-utilization": 0.8,
    "--max-num-seqs": 64,
    "--max-num-batched-tokens": "4k",
    "--block-size": 32,
    "--enforce-eager": True,
    "--enable-prefix-caching": False,
    "--enable-chunked-prefill": False,
    "--disable-hybrid-kv-cache-manager": True,
    "--kv-cache-memory-bytes": "4G",
    "--cpu-offload-gb": 4,
    "--num-gpu-blocks-override": 500,
    "--hf-overrides": {"num_hidden_layers": 16},
    "--cudagraph-capture-sizes": [1, 2, 4],
    "--max-cudagraph-capture-size": 64,
    "--optimization-level": 0,
    "--performance-mode": "throughput",
    "--disable-sliding-window": True,
    "--data-parallel-size": 2,
    "--data-parallel-size-local": 2,
    "--enable-expert-parallel": True,
    "--enable-eplb": True,
    "--eplb-config": {"num_redundant_experts": 8},
    "--all2all-backend": "deepep_high_throughput",
    "--nnodes": 2,
    "--distributed-executor-backend": "ray",
    "--decode-context-parallel-size": 2,
    "--kv-transfer-config": {"kv_connector": "LMCacheConnectorV1", "kv_role": "kv_both"},
    "--kv-offloading-size": 4,
    "--kv-offloading-backend": "lmcache",
    "--prefill-context-parallel-size": 2,
    "--enable-lora": True,
    "--max-loras": 8,
    "--max-lora-rank": 64,
    "--max-cpu-loras": 16,
    "--lora-dtype": "float16",
    "--fully-sharded-loras": True,
    "--specialize-active-lora": True,
    "--lora-target-modules": ["o_proj"],
    "--disable-custom-all-reduce": True,
    "--kv-cache-dtype-skip-layers": ["0", "31"],
    "--mamba-cache-dtype": "float32",
    "--mamba-ssm-cache-dtype": "float32",
    "--mamba-cache-mode": "align",
    "--mamba-block-size": 1024,
    "--speculative-config": {
        "model": "meta-llama/Llama-3.2-1B-Instruct",
        "num_speculative_tokens": 3,
    },
    "--spec-method": "ngram",
    "--spec-model": "meta-llama/Llama-3.2-1B-Instruct",
    "--spec-tokens": 4,
    "--speculative-model": "meta-llama/Llama-3.2-1B-Instruct",
    "--num-speculative-tokens": 5,
    "--speculative-draft-tensor-parallel-size": 1,
    "--speculative-max-model-len": 200000,
    "--speculative-model-quantization": "fp8",
    "--ngram-prompt-lookup-max": 4,
    "--ngram-prompt-lookup-min": 3,
    "--limit-mm-per-prompt": {"image": 0, "video": 0},
    "--language-model-only": True,
    "--mm-processor-kwargs": {"max_pixels": 1003520},
    "--mm-encoder-tp-mode": "data",
    "--skip-mm-profiling": True,
    "--async-scheduling": False,
    "--mm-ipc-gpu-memory-gb": 2,
    "--disable-chunked-mm-input": True,
    "--media-io-kwargs": {"video": {"video_backend": "pynvvideocodec"}},
    "--cuda-graph-sizes": 64,
    "--max-seq-len-to-capture": 4096,
    "--num-scheduler-steps": 8,
    "--rope-scaling": {"rope_type": "dynamic", "factor": 2.0},
    "--rope-theta": 1000000.0,
    "--num-redundant-experts": 16,
    "--eplb-window-size": 500,
    "--eplb-step-interval": 1000,
    "--enable-lora-bias": True,
    "--enable-extensible-kv-cache": False,
}
# The profile a flag is probed on where BASE cannot show its effect: a MoE model with data
# parallel for the expert flags, a TP 2 server on two one-GPU nodes for the multi-node flags.
_MOE: dict[str, Any] = {
    "model": {"id": "Qwen/Qwen3-30B-A3B", "max_model_len": 16384},
    "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": 3},
    "vllm": {"version": "0.33.0"},
    "outputs": {"vllm_args": {"data-parallel-size": 3}},
}
# a hybrid: the mamba flags size its state pages; Jamba on 0.19 with prefix caching runs the
# "all" mode whose block --mamba-block-size aligns and --mamba-cache-mode align replaces
_HYBRID: dict[str, Any] = {
    "model": {"id": "ai21labs/AI21-Jamba-1.5-Mini", "max_model_len": 16384},
    # its 52B parameters fit two GPUs, so a KV cache (and its state pages) is planned
    "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": 2, "tp_size": 2},
    "vllm": {"version": "0.19.0", "enable_prefix_caching": True},
}
_TWO_NODES: dict[str, Any] = {
    **BASE,
    "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": 2, "gpus_per_node": 1, "tp_size": 2},
}
# A vision-language model for the multimodal flags (a TP 2 server for the encoder's TP mode).
_VLM: dict[str, Any] = {
    "model": {"id": "Qwen/Qwen2.5-VL-7B-Instruct", "max_model_len": 8192},
    "hardware": {"gpu_name": "H100-SXM-80GB"},
    "vllm": {"version": "0.33.0"},
}
# the release line with the extensible KV cache, with vLLM's default utilization (1.0 with the
# cache on, as it is by default; the probe turns it off, and 0.92 sizes the KV cache)
_V034 = {**BASE, "policy": {"gpu_memory_utilization": None}, "vllm": {"version": "0.34.0"}}
# the V0 line whose --speculative-model flags a speculative config is probed on
_V0 = {**BASE, "vllm": {"version": "0.7.3"}}
_V0_DRAFT = {"speculative-model": "meta-llama/Llama-3.2-1B-Instruct", "num-speculative-tokens": 5}
PROBE_BASES: dict[str, dict[str, Any]] = {
    # CUDA-graph flags of older releases: the V1 line that has --cuda-graph-sizes, and V0
    **dict.fromkeys(
        [
            "--cuda-graph-sizes",
            "--num-redundant-experts",
            "--eplb-window-size",
            "--eplb-step-interval",
        ],
        {**BASE, "vllm": {"version": "0.10.2"}},
    ),
    "--enable-extensible-kv-cache": _V034,
    # the workload's 7,000-token requests decode in graphs up to the default 8,192 (VW145)
    "--max-seq-len-to-capture": {**_V0, "workload": {"prompt_tokens": 6000, "gen_tokens": 1000}},
    # multi-step sends 0.8 .. 0.10 back to the V0 engine
    "--num-scheduler-steps": {**BASE, "vllm": {"version": "0.8.5"}},
    "--rope-scaling": _V0,
    "--rope-theta": _V0,
    "--enable-lora-bias": {
        **BASE,
        "vllm": {"version": "0.10.2"},
        "outputs": {"vllm_args": {"enable-lora": True}},
    },
    "--speculative-model": {**_V0, "outputs": {"vllm_args": {"num-speculative-tokens": 5}}},
    "--num-speculative-tokens": {
        **_V0,
        "outputs": {"vllm_args": {"speculative-model": "meta-llama/Llama-3.2-1B-Instruct"}},
    },
    **dict.fromkeys(
        ["--speculative-max-model-len", "--speculative-model-quantization"],
        {**_V0, "outputs": {"vllm_args": _V0_DRAFT}},
    ),
    # a TP 2 target: a TP 1 draft lives whole on the first rank
    "--speculative-draft-tensor-parallel-size": {
        **_V0,
        "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": 2, "tp_size": 2},
        "outputs": {"vllm_args": _V0_DRAFT},
    },
    # the n-gram window: the maximum is required, the minimum is at most the maximum
    "--ngram-prompt-lookup-max": {
        **_V0,
        "outputs": {"vllm_args": {"speculative-model": "[ngram]", "num-speculative-tokens": 5}},
    },
    "--ngram-prompt-lookup-min": {
        **_V0,
        "outputs": {
            "vllm_args": {
                "speculative-model": "[ngram]",
                "num-speculative-tokens": 5,
                "ngram-prompt-lookup-max": 2,
            }
        },
    },
    **dict.fromkeys(
        [
            "--limit-mm-per-prompt",
            "--language-model-only",
            "--mm-processor-kwargs",
            "--skip-mm-profiling",
            "--mm-ipc-gpu-memory-gb",
            "--disable-chunked-mm-input",
            "--media-io-kwargs",
        ],
        _VLM,
    ),
    "--mm-encoder-tp-mode": {
        **_VLM,
        "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": 2, "tp_size": 2},
    },
    "--enable-expert-parallel": _MOE,
    "--enable-eplb": {
        **_MOE,
        "outputs": {
            "vllm_args": {
                "data-parallel-size": 3,
                "enable-expert-parallel": True,
                "eplb-config": {"num_redundant_experts": 8},
            }
        },
    },
    "--eplb-config": {
        **_MOE,
        "outputs": {
            "vllm_args": {
                "data-parallel-size": 3,
                "enable-expert-parallel": True,
                "enable-eplb": True,
            }
        },
    },
    "--all2all-backend": {
        **_MOE,
        "outputs": {"vllm_args": {"data-parallel-size": 3, "enable-expert-parallel": True}},
    },
    "--nnodes": _TWO_NODES,
    **dict.fromkeys(
        [
            "--mamba-cache-dtype",
            "--mamba-ssm-cache-dtype",
            "--mamba-cache-mode",
            "--mamba-block-size",
        ],
        _HYBRID,
    ),
    "--distributed-executor-backend": _TWO_NODES,
    # a model with sliding-window layers on 0.33, whose windows keep every batch in flight
    "--async-scheduling": {
        **BASE,
        "model": {"id": "google/gemma-3-27b-it", "max_model_len": 32768},
    },
    # LoRA slots in fp16 beside fp32 weights: half the buffers of the default (model dtype)
    "--lora-dtype": {
        **BASE,
        "model": {**BASE["model"], "dtype": "float32"},
        "outputs": {"vllm_args": {"enable-lora": True, "max-loras": 2}},
    },
    **dict.fromkeys(
        [
            "--max-loras",
            "--max-lora-rank",
            "--specialize-active-lora",
            "--lora-target-modules",
        ],
        {**BASE, "outputs": {"vllm_args": {"enable-lora": True, "max-loras": 2}}},
    ),
    # a quantized KV cache whose named layers keep the model dtype
    "--kv-cache-dtype-skip-layers": {
        **BASE,
        "model": {**BASE["model"], "kv_cache_dtype": "fp8"},
    },
    # a TP 2 server: custom all-reduce runs on its two GPUs
    "--disable-custom-all-reduce": {
        **BASE,
        "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": 2, "tp_size": 2},
    },
    # a TP 2 server: fully sharded buffers split over the ranks
    "--fully-sharded-loras": {
        **BASE,
        "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": 2, "tp_size": 2},
        "outputs": {"vllm_args": {"enable-lora": True}},
    },
    # the CPU cache below the GPU slots is vLLM's start-up error
    "--max-cpu-loras": {**BASE, "outputs": {"vllm_args": {"enable-lora": True, "max-loras": 32}}},
    # a connector without HMA support: gemma-2's sliding-window layers keep full KV
    "--kv-transfer-config": {
        **BASE,
        "model": {"id": "google/gemma-2-9b-it", "max_model_len": 4096},
    },
    # native offloading pins host memory; LMCache's server holds it outside vLLM
    "--kv-offloading-backend": {**BASE, "outputs": {"vllm_args": {"kv-offloading-size": 4}}},
    # Llama has no sliding window
    "--disable-sliding-window": {
        **BASE,
        "model": {"id": "google/gemma-2-9b-it", "max_model_len": 4096},
    },
}


@pytest.mark.parametrize(
    "flag", sorted(f for f, (k, _) in classification().items() if k == "modeled")
)
def test_each_modeled_flag_changes_the_plan(flag: str) -> None:
    """A modeled flag changes what the plan computes - not only config.extra_args, which
    echoes every flag given - or, for an older spelling of a JSON option's key, reaches that
    option in the plan request (the option's own probe shows the plan reads it)."""
    home = homes()[flag]
    assert home.request, f"{flag} is modeled but has no request field in vllm_flag_effects.yaml"
    plain_profile = PROBE_BASES.get(flag, BASE)
    base = copy.deepcopy(plain_profile)
    if home.profile:
        section, name = home.profile.split(".")
        base.get(section, {}).pop(name, None)
    shared = plain_profile.get("outputs", {}).get("vllm_args", {})
    probe = _with_args({**shared, flag[2:]: PROBES[flag]}, base)
    if home.key:
        section, field = home.request.split(".")
        request = profile_to_request(_load(probe).profile)
        assert getattr(getattr(request, section), field)[home.key] == PROBES[flag]
        return
    plain, probed = _plan(plain_profile).to_dict(), _plan(probe).to_dict()
    plain["config"].pop("extra_args")
    probed["config"].pop("extra_args")
    assert probed != plain


def _newest_release_with(flag: str) -> str:
    """The newest release line that has ``flag`` (older flags are checked there)."""
    return next(v for v in reversed(known_lines()) if flag in flags_for(v).serve)


def _sample_value(flag: str, version: str) -> Any:
    f = flags_for(version)
    if f.is_bool(flag):
        return True
    if flag in f.json:
        return {"probe": 1}
    return "1k" if flag in f.human_ints else "1"


@pytest.mark.parametrize(
    "flag", sorted(f for f, (k, _) in classification().items() if k == "not_modeled")
)
def test_each_not_modeled_flag_is_a_warning_naming_it(flag: str) -> None:
    version = _newest_release_with(flag)
    data = _with_args({flag[2:]: _sample_value(flag, version)})
    data["vllm"]["version"] = version
    plan = _plan(data)
    found = [f for f in plan.feasibility.findings if f.rule_id == "VW190"]
    assert [f.key for f in found] == [f"outputs.vllm_args.{flag[2:]}"]
    assert flag in found[0].message and str(not_modeled(flag)) in found[0].message
    assert plan.feasibility.verdict.value != "PASS"


def test_modeling_a_flag_is_one_row_of_the_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flag with a request field and no profile key is read from vllm_args into the request
    (and still passed to vLLM): adding the row is all the mapping needs."""
    flag = "--num-gpu-blocks-override"
    row = Home(flag, None, "engine.max_num_seqs")  # stands in for the field a planner would add
    monkeypatch.setattr(engine_args, "homes", lambda: {**homes(), flag: row})
    request = profile_to_request(_load(_with_args({"num_gpu_blocks_override": 7})).profile)
    assert request.engine.max_num_seqs == 7
    assert request.engine.vllm_args == {"num-gpu-blocks-override": 7}


def test_a_written_profile_reads_back_as_the_same_object() -> None:
    """generate --emit profile writes the canonical form; loading it changes nothing."""
    data = _with_args({"-tp": 2, "-O3": True, "no_enable_prefix_caching": True, "-cc.mode": 3})
    data["vllm"].update(enable_lora=True, max_num_batched_tokens="8k")
    first = _load(data).profile
    assert load_profile_text(dump_profile(first), "again.yaml").profile == first
