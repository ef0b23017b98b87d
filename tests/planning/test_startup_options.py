"""Options new in vLLM 0.34 that vLLM refuses at start-up: --checkpoint-prepare-on-startup
without --enable-sleep-mode (VW152, config/model.py ModelConfig.__post_init__) and
--enable-extensible-kv-cache asked for where the KV cache is not sized from measured memory
(VW153, config/vllm.py VllmConfig._resolve_extensible_kv_cache)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from checker.pipeline import plan_request
from checker.schemas.outputs import PlanResponse
from checker.schemas.profile_io import load_profile_text, profile_to_request
from tests.planning.plans import fired


def _plan(args: dict[str, Any]) -> PlanResponse:
    data = {
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "max_model_len": 8192},
        "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": 1},
        "vllm": {"version": "0.34.0"},
        "outputs": {"vllm_args": args},
    }
    loaded = load_profile_text(yaml.safe_dump(data, sort_keys=False), "p.yaml")
    return plan_request(profile_to_request(loaded.profile), offline=True)


def test_checkpoint_prepare_without_sleep_mode_is_refused_in_vllms_words() -> None:
    resp = _plan({"checkpoint-prepare-on-startup": True})
    [found] = fired(resp, "VW152")
    assert found.severity == "error"
    assert found.message == "checkpoint_prepare_on_startup requires enable_sleep_mode"
    assert found.key == "outputs.vllm_args.checkpoint-prepare-on-startup"
    assert "--enable-sleep-mode" in (found.fix or "")
    assert not resp.feasibility.fits


@pytest.mark.parametrize(
    "args",
    [
        {"checkpoint-prepare-on-startup": True, "enable-sleep-mode": True},
        {"no-checkpoint-prepare-on-startup": True},
        {},
    ],
)
def test_checkpoint_prepare_with_sleep_mode_or_off_starts(args: dict[str, Any]) -> None:
    assert not fired(_plan(args), "VW152")


@pytest.mark.parametrize(
    ("args", "setting", "other"),
    [
        ({"kv-cache-memory-bytes": "20G"}, "kv_cache_memory_bytes", "--kv-cache-memory-bytes"),
        ({"num-gpu-blocks-override": 2048}, "num_gpu_blocks_override", "--num-gpu-blocks-override"),
        # the first reason of vLLM's elif chain is the one it names
        (
            {"kv-cache-memory-bytes": "20G", "num-gpu-blocks-override": 2048},
            "kv_cache_memory_bytes",
            "--kv-cache-memory-bytes",
        ),
    ],
)
def test_extensible_kv_cache_with_a_fixed_kv_size_is_refused(
    args: dict[str, Any], setting: str, other: str
) -> None:
    resp = _plan({"enable-extensible-kv-cache": True, **args})
    [found] = fired(resp, "VW153")
    assert found.severity == "error"
    assert found.message == (
        "enable_extensible_kv_cache: it sizes the KV cache from measured memory, which "
        f"{setting} overrides."
    )
    assert found.key == "outputs.vllm_args.enable-extensible-kv-cache"
    assert other in (found.fix or "")
    assert not resp.feasibility.fits


def test_extensible_kv_cache_with_elastic_ep_is_refused() -> None:
    resp = _plan({"enable-extensible-kv-cache": True, "enable-elastic-ep": True})
    [found] = fired(resp, "VW153")
    assert found.message.startswith("enable_extensible_kv_cache: elastic EP scale-up")


@pytest.mark.parametrize(
    "args",
    [
        {"kv-cache-memory-bytes": "20G"},  # unset: vLLM turns it off by itself
        {"no-enable-extensible-kv-cache": True, "num-gpu-blocks-override": 2048},
        {"enable-extensible-kv-cache": True},  # nothing in its way
    ],
)
def test_no_refusal_where_vllm_settles_the_kv_cache_itself(args: dict[str, Any]) -> None:
    assert not fired(_plan(args), "VW153")
