"""KV connectors and KV offloading (issue 13 item 7), mirroring vLLM's config/vllm.py
VllmConfig.__post_init__ / _post_init_kv_transfer_config and kv_connector/factory.py in the
0.19.0, 0.21.0, 0.24.0 and 0.33.0 wheels."""

from __future__ import annotations

from typing import Any

import pytest

from checker.planning.kvcache.connectors import staging_bytes
from checker.schemas.inputs import EngineInput
from checker.schemas.outputs import PlanResponse
from tests.planning.plans import catalog_model, fired, only, plan

GEMMA3 = "google/gemma-3-27b-it"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
LMCACHE = {"kv_connector": "LMCacheConnectorV1", "kv_role": "kv_both"}
NIXL = {"kv_connector": "NixlConnector", "kv_role": "kv_both"}


def _tokens(resp: PlanResponse) -> int:
    assert resp.feasibility.kv is not None
    return resp.feasibility.kv.tokens


def _groups(resp: PlanResponse) -> int:
    assert resp.feasibility.kv is not None
    return resp.feasibility.kv.num_groups


def test_lmcache_turns_the_hybrid_manager_off_for_gemma3() -> None:
    """vLLM: "Turning off hybrid kv cache manager because `--kv-transfer-config` selects a KV
    connector that does not support it": sliding-window layers keep KV for the whole context."""
    base = plan(GEMMA3, max_model_len=32768, version="0.33")
    lmcache = plan(GEMMA3, max_model_len=32768, version="0.33", kv_transfer_config=LMCACHE)
    off = plan(GEMMA3, max_model_len=32768, version="0.33", disable_hybrid_kv_cache_manager=True)
    assert _groups(base) > 1 and _groups(lmcache) == 1
    assert _tokens(lmcache) == _tokens(off) < _tokens(base)


def test_gemma3_with_lmcache_does_not_start_where_the_hybrid_manager_would_fit() -> None:
    kw: dict[str, Any] = {"max_model_len": 40960, "version": "0.33"}
    assert plan(GEMMA3, **kw).feasibility.verdict.value == "PASS"
    resp = plan(GEMMA3, kv_transfer_config=LMCACHE, **kw)
    assert only(resp, "VW203") and resp.feasibility.verdict.value == "FAIL"


@pytest.mark.parametrize(("version", "kept"), [("0.19", False), ("0.21", False), ("0.33", True)])
def test_nixl_keeps_the_hybrid_manager_only_where_vllm_asks_the_connector(
    version: str, kept: bool
) -> None:
    """0.19 / 0.21: any --kv-transfer-config turns it off; 0.24+: supports_hma_config."""
    base = plan(GEMMA3, max_model_len=16384, version=version)
    nixl = plan(GEMMA3, max_model_len=16384, version=version, kv_transfer_config=NIXL)
    assert (_groups(nixl) == _groups(base)) is kept
    assert not fired(nixl, "VW136")


def test_explicit_enable_keeps_nixl_on_in_0_19() -> None:
    """0.19's log told connector authors to start with --no-disable-hybrid-kv-cache-manager."""
    base = plan(GEMMA3, max_model_len=16384, version="0.19")
    nixl = plan(
        GEMMA3,
        max_model_len=16384,
        version="0.19",
        kv_transfer_config=NIXL,
        disable_hybrid_kv_cache_manager=False,
    )
    assert _tokens(nixl) == _tokens(base) and not fired(nixl, "VW136")


def test_multi_connector_keeps_it_only_when_every_child_does() -> None:
    def multi(*children: dict[str, Any]) -> dict[str, Any]:
        return {
            "kv_connector": "MultiConnector",
            "kv_connector_extra_config": {"connectors": list(children)},
        }

    base = plan(GEMMA3, max_model_len=16384, version="0.33")
    offload = {"kv_connector": "OffloadingConnector"}
    both = plan(
        GEMMA3, max_model_len=16384, version="0.33", kv_transfer_config=multi(NIXL, offload)
    )
    mixed = plan(
        GEMMA3, max_model_len=16384, version="0.33", kv_transfer_config=multi(NIXL, LMCACHE)
    )
    assert _groups(both) == _groups(base) and _groups(mixed) == 1


def test_explicit_enable_with_a_connector_without_hma_is_refused() -> None:
    resp = plan(
        GEMMA3,
        max_model_len=16384,
        version="0.33",
        kv_transfer_config=LMCACHE,
        disable_hybrid_kv_cache_manager=False,
    )
    assert only(resp, "VW136").message == (
        "Connector LMCacheConnectorV1 does not support HMA but HMA is enabled. Please set "
        "`--disable-hybrid-kv-cache-manager`."
    )


@pytest.mark.parametrize(
    ("version", "backend", "refused"),
    [
        ("0.19", "native", "OffloadingConnector"),
        ("0.19", "lmcache", "LMCacheConnectorV1"),
        ("0.21", "native", None),
        ("0.21", "lmcache", "LMCacheConnectorV1"),
        ("0.24", "lmcache", None),
        ("0.33", "native", None),
    ],
)
def test_kv_offloading_before_0_24_is_refused_unless_its_connector_has_hma(
    version: str, backend: str, refused: str | None
) -> None:
    """Through 0.21 the offloading connector is set after the HMA rules, so the manager stays
    on (even for Llama, which has one group) and create_connector refuses a connector without
    it (public report: kvcached #267, vLLM 0.16 with --kv-offloading-size)."""
    kw: dict[str, Any] = {"max_model_len": 16384, "version": version, "kv_offloading_size": 8.0}
    resp = plan(LLAMA, kv_offloading_backend=backend, **kw)
    found = fired(resp, "VW136")
    assert [f.message.split()[1] for f in found] == ([refused] if refused else [])
    fixed = plan(LLAMA, kv_offloading_backend=backend, disable_hybrid_kv_cache_manager=True, **kw)
    assert not fired(fixed, "VW136")


@pytest.mark.parametrize(
    ("version", "args", "host"),
    [
        ("0.33", {"kv_offloading_size": 40.0}, 40.0),
        ("0.33", {"kv_offloading_size": 40.0, "kv_offloading_backend": "lmcache"}, None),
        ("0.21", {"kv_offloading_size": 40.0, "kv_offloading_backend": "lmcache"}, 40.0),
        (
            "0.33",
            {
                "kv_transfer_config": {
                    "kv_connector": "OffloadingConnector",
                    "kv_connector_extra_config": {"cpu_bytes_to_use": 16 << 30},
                }
            },
            16.0,
        ),
        (
            "0.33",
            {
                "kv_transfer_config": {
                    **LMCACHE,
                    "kv_connector_extra_config": {"lmcache.max_local_cpu_size": 5},
                }
            },
            10.0,  # 5 GB on each of the two TP ranks
        ),
        ("0.33", {"kv_transfer_config": LMCACHE}, None),
    ],
)
def test_offloaded_kv_is_reported_in_host_memory(
    version: str, args: dict[str, Any], host: float | None
) -> None:
    resp = plan(LLAMA, gpus=2, tp=2, max_model_len=16384, version=version,
                disable_hybrid_kv_cache_manager=True, **args)  # fmt: skip
    assert resp.feasibility.kv_offload_host_gib == host


def test_explain_says_what_the_connector_costs() -> None:
    resp = plan(GEMMA3, max_model_len=32768, version="0.33", kv_transfer_config=LMCACHE,
                explain=True)  # fmt: skip
    base = plan(GEMMA3, max_model_len=32768, version="0.33")
    words = resp.config.explanations["--kv-transfer-config"]
    assert f"{_tokens(resp):,} KV tokens instead of {_tokens(base):,}" in words
    offload = plan(LLAMA, max_model_len=16384, version="0.33", kv_offloading_size=40.0,
                   explain=True)  # fmt: skip
    assert "40 GiB of host memory per engine" in offload.config.explanations["--kv-offloading-size"]


@pytest.mark.parametrize("size", [float("nan"), float("inf"), -1, True, "16G", 1e300])
def test_a_host_size_that_is_no_size_is_not_reported(size: object) -> None:
    """JSON admits NaN and Infinity; neither, nor a negative or a switch, is a memory size."""
    config = {
        "kv_connector": "OffloadingConnector",
        "kv_connector_extra_config": {"cpu_bytes_to_use": size},
    }
    resp = plan(LLAMA, max_model_len=16384, version="0.33", kv_transfer_config=config)
    assert resp.feasibility.kv_offload_host_gib is None


QWEN3_235B = "Qwen/Qwen3-235B-A22B-FP8"
# vllm#21348: vllm serve Qwen3-235B-A22B-FP8 --tensor-parallel-size 4 --kv-transfer-config
# '{"kv_connector":"LMCacheConnectorV1","kv_role":"kv_both"}' (vLLM 0.9.2, LMCache defaults)
ISSUE_21348: dict[str, Any] = {
    "gpus": 4,
    "tp": 4,
    "version": "0.9.2",
    "kv_transfer_config": LMCACHE,
}


def _staging(model_id: str, tp: int = 1, pp: int = 1, **engine: Any) -> float:
    model = catalog_model(model_id)
    layers = -(-model.num_hidden_layers // pp)
    eng = EngineInput(**engine)
    return staging_bytes(eng, "0.9.2", model, tp=tp, layers=layers, kv_bytes=2)


def test_lmcache_staging_buffer_is_k_and_v_of_one_chunk_per_rank() -> None:
    """LMCache 0.3.x VLLMPagedMemGPUConnectorV2: torch.empty([2, layers, chunk_size 256,
    kv_heads/rank x head_size]) in the KV dtype: Qwen3-235B at TP4 has 94 layers of 1 x 128."""
    assert _staging(QWEN3_235B, tp=4, kv_transfer_config=LMCACHE) == 2 * 94 * 256 * 128 * 2
    big = {**LMCACHE, "kv_connector_extra_config": {"lmcache.chunk_size": 1024}}
    assert _staging(QWEN3_235B, tp=4, kv_transfer_config=big) == 4 * 2 * 94 * 256 * 128 * 2
    nixl = {**LMCACHE, "kv_connector_extra_config": {"lmcache.enable_nixl": True}}
    assert _staging(QWEN3_235B, tp=4, kv_transfer_config=nixl) == 0
    assert _staging(QWEN3_235B, tp=4, kv_transfer_config=NIXL) == 0
    assert _staging(QWEN3_235B, tp=4) == 0
    # MLA: one plane of the latent (kv_lora_rank 512 + qk_rope_head_dim 64), kv heads 1
    mla = _staging("deepseek-ai/DeepSeek-V2-Lite-Chat", kv_transfer_config=LMCACHE)
    assert mla == 27 * 256 * 576 * 2


def test_lmcache_staging_buffer_leaves_the_kv_cache_and_takes_the_headroom() -> None:
    """vLLM 0.9.2 creates the connector in init_worker_distributed_environment, after the init
    snapshot and before model loading, as torch memory: no profiled term counts it, so the KV
    tokens of a one-group model stay those without the connector (vllm#21348 logs 178,880) and
    the buffer comes out of the memory outside the budget."""
    resp = plan(QWEN3_235B, explain=True, **ISSUE_21348)
    base = plan(QWEN3_235B, gpus=4, tp=4, version="0.9.2")
    assert _tokens(resp) == _tokens(base)
    assert "the KV connector's GPU buffer" in resp.feasibility.oom_risk_reason
    assert (
        "staging buffer takes 11.8 MiB per GPU" in resp.config.explanations["--kv-transfer-config"]
    )


@pytest.mark.parametrize(
    ("gpu", "batch"), [("H100-80GB", (8192, 1024)), ("A100-80GB", (2048, 256)), ("L4", (2048, 256))]
)
def test_0_9_defaults_the_batch_by_device_memory(gpu: str, batch: tuple[int, int]) -> None:
    """engine/arg_utils.py EngineArgs._set_default_args_v1 in the 0.9.0-0.9.2 wheels: >= 70 GiB
    and no "a100" in the name -> 8192 tokens / 1024 seqs. vllm#21348's miss was this, not
    LMCache: 1,024 dummy sampler rows sort the whole vocabulary in the profile."""
    resp = plan(LLAMA, gpu, max_model_len=8192, version="0.9.2")
    assert (resp.config.max_num_batched_tokens, resp.config.max_num_seqs) == batch


def test_vllm_21348_depends_on_the_build_its_post_does_not_name() -> None:
    """Held out, not fitted: the log's 178,880 KV tokens (the minimum over the four ranks).
    0.9.2's 1,024 default sequences make the profile run's sampler the swing term: the torch
    sort of a pip install lands within the target; the official image's FlashInfer sampler
    needs a third of that memory, so the image plan holds about half again as many tokens."""
    pip = _tokens(plan(QWEN3_235B, install="pip", **ISSUE_21348))
    image = _tokens(plan(QWEN3_235B, install="image", **ISSUE_21348))
    assert abs(pip / 178_880 - 1) < 0.10
    assert image > 1.3 * pip


def test_another_tp_resizes_lmcache_staging_buffer_by_its_kv_heads_per_rank() -> None:
    """A TP size tried for a recommendation (at_tp) holds the staging buffer of its own KV
    heads per rank, as resolving at that TP does: Llama-3.1-8B's 8 KV heads, 4 a rank at TP 2."""
    from checker.hardware.catalog import find_gpu
    from checker.planning.engine.settings import at_tp, resolve_settings
    from tests.planning.conftest import request

    llama, h100 = catalog_model(LLAMA), find_gpu("H100-80GB")
    req = request(LLAMA, tp=1, version="0.9.2", kv_transfer_config=LMCACHE)
    at_one = resolve_settings(req, llama, h100, tp=1)
    moved, fresh = at_tp(at_one, req, llama, 2), resolve_settings(req, llama, h100, tp=2)
    assert moved.connector_buffer == fresh.connector_buffer == at_one.connector_buffer / 2 > 0
