"""vLLM 0.34's start-up memory sizing against 0.33's, worked out from the 0.34.0 source:

- config/cache.py CacheConfig.DEFAULT_BLOCK_SIZE 64 (16 through 0.33), the default
  Platform.update_block_size_for_backend hands the backends' get_preferred_block_size;
- the extensible KV cache (config/vllm.py VllmConfig._resolve_extensible_kv_cache): on CUDA and
  ROCm unless --kv-cache-memory-bytes, --num-gpu-blocks-override or a KV connector that
  cannot use it; gpu_memory_utilization then defaults to 1.0
  (CacheConfig.resolved_gpu_memory_utilization); the profile still sizes a capacity
  (gpu_worker.py determine_available_memory), and after warm-up and graph capture
  v1/worker/extensible_kv_cache.py measure_kv_cache_bytes gives
  min(requested - used, free_at_start - margin) - transient, used = weights + non-torch +
  captured graphs, transient = activation peak + CUDA-graph estimate, margin =
  max(1 GiB (ROCm 3 GiB), 0.75 x transient); the blocks are the fewer of the two
  (kv_cache_planning.py finalize_extensible_kv_cache).
"""

from __future__ import annotations

from typing import Any

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.engine.settings import Settings, resolve_settings
from checker.planning.kvcache.attention import mla_backend
from checker.planning.kvcache.connectors import supports_hma
from checker.planning.memory.memory import Measured, MeasuredStage, MemoryPlan, plan_memory
from tests.planning.plans import catalog_model, fired, make_request, plan

GIB = float(1 << 30)
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
DEEPSEEK = "deepseek-ai/DeepSeek-V3"
SHORT = {"max_model_len": 8192}


def memory_for(model_id: str, gpu: str = "H100-80GB", **kw: Any) -> MemoryPlan:
    request = make_request(model_id, gpu, **kw)
    model = catalog_model(model_id)
    return plan_memory(model, resolve_settings(request, model, find_gpu(gpu), tp=1))


def settings(model_id: str, gpu: str = "H100-80GB", **kw: Any) -> Settings:
    return memory_for(model_id, gpu, **kw).settings


@pytest.mark.parametrize(
    ("model_id", "gpu", "kv_dtype", "block_033", "block_034"),
    [
        (LLAMA, "H100-80GB", "auto", 16, 64),  # FlashAttention: any multiple of 16
        (LLAMA, "A100-80GB", "auto", 16, 64),
        (DEEPSEEK, "H100-80GB", "auto", 16, 64),  # FLASH_ATTN_MLA: multiples of 16
        (DEEPSEEK, "H100-80GB", "fp8", 64, 64),  # FlashMLA: multiples of 64
        (DEEPSEEK, "B200", "auto", 32, 64),  # FlashInfer MLA [32, 64]: 64 taken now
    ],
)
def test_the_default_block_size_is_64_from_0_34(
    model_id: str, gpu: str, kv_dtype: str, block_033: int, block_034: int
) -> None:
    for version, block in (("0.33", block_033), ("0.34", block_034)):
        s = settings(model_id, gpu, version=version, kv_cache_dtype=kv_dtype, **SHORT)
        assert s.block_size == block, version
    # an explicit --block-size still wins
    assert settings(LLAMA, version="0.34", block_size=16, **SHORT).block_size == 16


def test_cutlass_mla_keeps_its_only_kernel_block() -> None:
    # CUTLASS MLA takes [128] alone: get_preferred_block_size(64) falls back to it
    assert mla_backend(100, "auto", 96, "0.34.0") == "CUTLASS_MLA"


def test_llama_blocks_are_64_tokens_at_0_34() -> None:
    # 32 layers x K and V x 8 KV heads x 128 x bf16 = 128 KiB a token; a block of 64 tokens
    memory = memory_for(LLAMA, version="0.34", **SHORT)
    kv = memory.binding.kv
    page = 64 * 2 * 8 * 128 * 2
    assert kv.num_blocks == int(memory.binding.kv_budget // page // 32)
    assert kv.tokens == kv.num_blocks * 64
    assert kv.max_concurrency == pytest.approx(kv.num_blocks / (8192 // 64), rel=1e-9)


def _expected_extensible(memory: MemoryPlan) -> tuple[float, float]:
    """(capacity, measured) bytes of stage 0, vLLM's formulas on the plan's terms."""
    s, t = memory.settings, memory.terms[0]
    total = memory.total
    requested = total * s.gpu_memory_utilization
    # no CUDA-graph estimate (profile_cudagraph_memory returns 0): the captured graphs are
    # measured among what the engine uses
    capacity = requested - t.weights - t.activation - t.non_torch
    transient = t.activation
    margin = max((3.0 if s.gpu.vendor == "amd" else 1.0) * GIB, 0.75 * transient)
    used = t.weights + t.non_torch + t.cudagraph
    measured = min(requested - used, total - memory.cuda_context - margin - used) - transient
    return capacity, measured


def test_the_extensible_kv_cache_is_sized_from_memory_left_after_warmup() -> None:
    memory = memory_for(LLAMA, version="0.34", **SHORT)
    s = memory.settings
    assert s.extensible_kv and s.gpu_memory_utilization == 1.0  # resolved_gpu_memory_utilization
    capacity, measured = _expected_extensible(memory)
    assert measured < capacity  # at 1.0 the free memory, less the margin, binds
    assert memory.first.kv_budget == pytest.approx(measured, rel=1e-12)
    # 0.33 at its 0.92: the profile's budget alone
    old = memory_for(LLAMA, version="0.33", **SHORT)
    assert not old.settings.extensible_kv and old.settings.gpu_memory_utilization == 0.92
    t = old.terms[0]
    budget = old.requested - t.weights - t.activation - t.non_torch - t.cudagraph
    assert old.first.kv_budget == pytest.approx(budget, rel=1e-12)
    assert memory.first.kv_budget > old.first.kv_budget  # 1.0 less a margin beats 0.92


def test_an_explicit_utilization_caps_the_extensible_kv_cache() -> None:
    # at 0.5 the requested memory binds: the measured budget counts the captured graphs, which
    # the profile's capacity (no estimate taken) does not
    memory = memory_for(LLAMA, version="0.34", util=0.5, **SHORT)
    capacity, measured = _expected_extensible(memory)
    assert memory.settings.gpu_memory_utilization == 0.5
    assert memory.first.kv_budget == pytest.approx(min(capacity, measured), rel=1e-12)
    t = memory.terms[0]
    assert capacity - measured == pytest.approx(t.cudagraph, rel=1e-9)


def test_rocm_keeps_a_larger_margin() -> None:
    memory = memory_for(LLAMA, "MI300X", version="0.34", **SHORT)
    assert memory.settings.extensible_kv
    capacity, measured = _expected_extensible(memory)
    assert memory.first.kv_budget == pytest.approx(min(capacity, measured), rel=1e-12)
    assert 0.75 * memory.terms[0].activation < 3 * GIB  # the 3 GiB floor is the margin here


NIXL = {"kv_connector": "NixlConnector", "kv_role": "kv_both"}


@pytest.mark.parametrize(
    ("fields", "gpu", "on"),
    [
        ({}, "H100-80GB", True),
        ({"kv_cache_memory_bytes": 20 << 30}, "H100-80GB", False),
        ({"num_gpu_blocks_override": 2000}, "H100-80GB", False),
        # LMCacheMPConnector shares the cache through legacy CUDA IPC
        ({"kv_offloading_size": 10.0, "kv_offloading_backend": "lmcache"}, "H100-80GB", False),
        ({"kv_offloading_size": 10.0}, "H100-80GB", True),  # native OffloadingConnector
        # NIXL exports FABRIC handles, which need an IMEX channel, unless it stages in host memory
        ({"kv_transfer_config": NIXL}, "H100-80GB", False),
        ({"kv_transfer_config": {**NIXL, "kv_buffer_device": "cpu"}}, "H100-80GB", True),
        (
            {
                "kv_transfer_config": {
                    "kv_connector": "MultiConnector",
                    "kv_role": "kv_both",
                    "kv_connector_extra_config": {
                        "connectors": [
                            {"kv_connector": "OffloadingConnector", "kv_role": "kv_both"},
                            {**NIXL, "kv_buffer_device": "cpu"},
                        ]
                    },
                }
            },
            "H100-80GB",
            True,
        ),
        (
            {
                "kv_transfer_config": {
                    "kv_connector": "MooncakeConnector",
                    "kv_role": "kv_both",
                    "kv_connector_extra_config": {"custom_mem_pool": True},
                }
            },
            "H100-80GB",
            False,
        ),
        # asked for explicitly: NIXL keeps it (vLLM warns of the missing IMEX channel)
        (
            {"kv_transfer_config": NIXL, "enable_extensible_kv_cache": True},
            "H100-80GB",
            True,
        ),
        ({"enable_extensible_kv_cache": False}, "H100-80GB", False),
        # connectors that register the cache for RDMA: fine on CUDA, not yet on ROCm
        ({"kv_transfer_config": {"kv_connector": "MooncakeConnector"}}, "H100-80GB", True),
        ({"kv_transfer_config": {"kv_connector": "MooncakeConnector"}}, "MI300X", False),
    ],
)
def test_when_vllm_keeps_the_extensible_kv_cache_off(
    fields: dict[str, Any], gpu: str, on: bool
) -> None:
    s = settings(LLAMA, gpu, version="0.34", **SHORT, **fields)
    assert s.extensible_kv is on
    assert s.gpu_memory_utilization == (1.0 if on else 0.92)


def test_releases_before_0_34_have_no_extensible_kv_cache() -> None:
    assert not settings(LLAMA, version="0.33", **SHORT).extensible_kv


def test_the_one_request_check_uses_the_measured_cache() -> None:
    # Llama-3.1-8B's 128K context needs 16 GiB of KV: 0.34 at 1.0 holds it where 0.33 at its
    # default holds it too; at 0.3 neither holds it, and 0.34 says so against its smaller budget
    long = {"max_model_len": 131072}
    assert not fired(plan(LLAMA, version="0.34", **long), "VW203")
    low = plan(LLAMA, version="0.34", util=0.3, **long)
    assert fired(low, "VW203")
    memory = memory_for(LLAMA, version="0.34", util=0.3, **long)
    capacity, measured = _expected_extensible(memory)
    assert memory.binding.kv_budget == pytest.approx(min(capacity, measured), rel=1e-12)


def test_the_graph_estimate_switch_changes_nothing_for_an_extensible_cache() -> None:
    # VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=0 drops the estimate, which the extensible KV
    # cache does not take anyway: the captured graphs are measured either way
    on = memory_for(LLAMA, version="0.34", **SHORT)
    off = memory_for(LLAMA, version="0.34", cudagraph_memory_profiling=False, **SHORT)
    assert off.first.kv_budget == on.first.kv_budget
    assert on.first.cudagraph > 0
    # without graphs (--enforce-eager) their memory goes to the KV cache
    eager = memory_for(LLAMA, version="0.34", enforce_eager=True, **SHORT)
    assert eager.first.kv_budget == pytest.approx(on.first.kv_budget + on.first.cudagraph)
    # 0.33 without the estimate: the graphs come out of the memory outside the budget
    old_on = memory_for(LLAMA, version="0.33", **SHORT)
    old_off = memory_for(LLAMA, version="0.33", cudagraph_memory_profiling=False, **SHORT)
    assert old_off.first.kv_budget == pytest.approx(old_on.first.kv_budget + old_on.first.cudagraph)


def test_explain_says_how_the_kv_cache_was_sized() -> None:
    flag = "--enable-extensible-kv-cache"
    on = plan(LLAMA, version="0.34", explain=True, **SHORT).config.explanations[flag]
    assert on.startswith("on: the KV cache is sized after warm-up")
    assert "- margin 1.33) " in on and "activation peak 1.77 GiB" in on  # 0.75 x 1.77
    off = plan(
        LLAMA, version="0.34", explain=True, kv_cache_memory_bytes=10 << 30, **SHORT
    ).config.explanations[flag]
    assert off.startswith("off (--kv-cache-memory-bytes sets the KV cache size)")
    assert flag not in plan(LLAMA, version="0.33", explain=True, **SHORT).config.explanations


QWEN_MOE = "Qwen/Qwen3-30B-A3B"


def test_eplb_defaults_to_the_fewest_redundant_experts_from_0_34() -> None:
    # 128 experts over an EP group of 3 (DP 3): 0.34 adds (3 - 128 % 3) % 3 = 1 copy, so each
    # rank holds 129 / 3 = 43; 0.33 adds none (128 over 3: the first two ranks take 43 too)
    eplb = {
        "gpus": 3,
        "data_parallel_size": 3,
        "enable_expert_parallel": True,
        "enable_eplb": True,
        **SHORT,
    }
    assert settings(QWEN_MOE, version="0.34", **eplb).redundant_experts == 1
    assert settings(QWEN_MOE, version="0.33", **eplb).redundant_experts == 0
    given = {**eplb, "eplb_config": {"num_redundant_experts": 5}}
    assert settings(QWEN_MOE, version="0.34", **given).redundant_experts == 5
    # 128 over 4 divides: none added
    even = {**eplb, "gpus": 4, "data_parallel_size": 4}
    assert settings(QWEN_MOE, version="0.34", **even).redundant_experts == 0


def test_blackwell_captures_prefill_and_decode_grids_of_their_own_from_0_34() -> None:
    # B200 (>= 160 GiB: 16384 tokens, 1024 seqs): prefill_cudagraph_capture_grid(8192) has 54
    # sizes ("54 sizes at 8192"), decode_cudagraph_capture_grid(1024) 64 ("64 sizes at 1024");
    # the union of the two, as token counts, is what gets captured
    new = settings(LLAMA, "B200", version="0.34", **SHORT).cudagraph_sizes
    prefill = [1, 2, 4, *range(8, 65, 8), 80, 96, 112, 128, 160, 192, 224, 256]
    assert set(prefill) <= set(new) and new[-1] == 8192
    decode = [1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 36, 40, 44, 48, 56, 64]
    assert set(decode) <= set(new) and 1024 in new and 992 in new
    assert len(new) == 91
    # 0.33 on the same GPU: the shared sizes up to its 1024 ceiling
    old = settings(LLAMA, "B200", version="0.33", **SHORT).cudagraph_sizes
    assert old[-1] == 1024 and 3 not in old
    # elsewhere, or with a capture size given, the shared sizes as in 0.33
    assert (
        settings(LLAMA, version="0.34", **SHORT).cudagraph_sizes
        == settings(LLAMA, version="0.33", **SHORT).cudagraph_sizes
    )
    given = settings(LLAMA, "B200", version="0.34", max_cudagraph_capture_size=512, **SHORT)
    assert given.cudagraph_sizes[-1] == 512
    # FULL_DECODE_ONLY: the decode grid alone
    decode_only = settings(
        LLAMA, "B200", version="0.34", cudagraph_mode="FULL_DECODE_ONLY", **SHORT
    )
    assert len(decode_only.cudagraph_sizes) == 64 and decode_only.cudagraph_sizes[-1] == 1024


def test_umbp_store_keeps_the_hybrid_manager_from_0_34() -> None:
    # registered in 0.34.0's KVConnectorFactory, a SupportsHMA subclass
    assert supports_hma("UMBPStoreConnector", {}, "0.34.0")
    assert not supports_hma("UMBPStoreConnector", {}, "0.33.0")


def test_a_logged_capacity_is_cut_to_what_is_measured_after_warmup() -> None:
    # a 0.34 log's "Available KV cache memory" is the profile's capacity (determine_available_
    # memory); the blocks come from the memory measured after warm-up, from the logged terms
    request = make_request(LLAMA, version="0.34", **SHORT)
    model = catalog_model(LLAMA)
    s = resolve_settings(request, model, find_gpu("H100-80GB"), tp=1)
    weights, activation, non_torch = 14.99 * GIB, 1.2 * GIB, 0.25 * GIB
    requested = s.gpu.memory_gib * GIB
    logged = MeasuredStage(weights, activation, non_torch, None, weights + activation + non_torch)
    memory = plan_memory(model, s, Measured((logged,), "a 0.34 log"))
    t = memory.terms[0]
    assert (t.weights, t.activation, t.non_torch) == (weights, activation, non_torch)
    margin = max(GIB, 0.75 * activation)
    used = weights + non_torch + t.cudagraph
    expected = min(requested, requested - memory.cuda_context - margin) - used - activation
    assert memory.first.kv_budget == pytest.approx(expected, rel=1e-12)
    assert memory.first.kv_budget < requested - logged.non_kv


def test_the_sampler_warmup_runs_before_an_extensible_kv_cache_is_sized() -> None:
    # gpt-oss-20b on an L4 at 0.9 with a 128K context: 0.19 runs the sampler warm-up beside a
    # full KV cache (VW205); 0.34 runs it before the cache is sized
    kw = {"util": 0.9, "max_model_len": 131072, "concurrency": 8}
    assert fired(plan("openai/gpt-oss-20b", "L4", version="0.19.0", **kw), "VW205")
    assert not fired(plan("openai/gpt-oss-20b", "L4", version="0.34", **kw), "VW205")


def test_a_utilization_that_withholds_memory_is_raised_to_one() -> None:
    # measure_kv_cache_blocks warns where 0.7 < utilization < 1.0 keeps >= 1 GiB of free memory
    # out of the cache: at 0.9 on an H100, min(0.9 x 79.19, 78.68 - margin) binds by ~6 GiB
    def utilization(**kw: Any) -> Any:
        resp = plan(LLAMA, **SHORT, **kw)
        return next(r for r in resp.recommendations if r.key == "gpu_memory_utilization")

    raised = utilization(version="0.34", util=0.9)
    assert raised.value == 1.0 and "keeps 6.08 GiB of free memory out" in raised.reason
    assert utilization(version="0.34", util=0.98).value == 0.98  # withholds nothing
    assert utilization(version="0.34", util=0.5).value == 0.5  # below vLLM's band: on purpose
    assert utilization(version="0.33", util=0.9).value == 0.9
    shared = utilization(version="0.34", util=0.45, instances_per_gpu=2)
    assert shared.value != 1.0
