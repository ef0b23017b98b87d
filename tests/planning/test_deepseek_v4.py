"""DeepSeek-V4 from its real configs (deepseek-ai/DeepSeek-V4-Flash and -Pro, catalog) against
vLLM 0.25.0's arithmetic:
- models/deepseek_v4/attention.py DeepseekV4Attention / DeepseekV4Indexer, compressor.py
  CompressorStateCache, v1/attention/backends/mla/sparse_swa.py DeepseekV4SWACache: the caches
  each layer registers and their block sizes;
- v1/kv_cache_interface.py MLAAttentionSpec / SlidingWindowMLASpec (584 bytes a stored token
  under fp8_ds_mla, pages padded to 576 bytes);
- v1/core/kv_cache_utils.py group_and_unify_kv_cache_specs, _get_kv_cache_groups_uniform_groups,
  _get_kv_cache_config_packed, get_max_concurrency_for_kv_cache_config.
"""

from __future__ import annotations

from typing import Any

import pytest

from checker.errors import ModelConfigError
from checker.hardware.catalog import find_gpu
from checker.models import catalog
from checker.models.config_parser import parse_config
from checker.planning.engine.settings import resolve_settings
from checker.planning.engine.spec_config import build_spec
from checker.planning.kvcache.deepseek_v4 import (
    PackedKV,
    approximate_gcd,
    deepseek_v4_weight_bytes,
    layer_specs,
    mtp_weight_bytes,
    packed_kv,
    profile_reservations,
)
from checker.schemas.model_info import CompressedAttention
from tests.planning.plans import catalog_model, fired, make_request, only, plan

FLASH, PRO = "deepseek-ai/DeepSeek-V4-Flash", "deepseek-ai/DeepSeek-V4-Pro"
# the logged deployments' GPUs (vllm#51454): 8 B200s at TP 8 with V4's fp8 KV cache
ON_8_B200: dict[str, Any] = {"gpus": 8, "tp": 8, "kv_cache_dtype": "fp8"}
MILLION, CHUNK = 1_048_576, 8192


def _attn(model: str) -> CompressedAttention:
    attn = catalog_model(model).compressed_attention
    assert attn is not None
    return attn


def test_the_config_gives_each_layer_its_compression_ratio() -> None:
    flash = _attn(FLASH)
    # compress_ratios holds 44 entries (the last for the MTP layer): 43 are read, 0 as 1
    assert flash.ratios[:4] == (1, 1, 4, 128)
    assert [flash.ratios.count(r) for r in (1, 4, 128)] == [2, 21, 20]
    assert (flash.sliding_window, flash.head_dim, flash.index_head_dim) == (128, 512, 128)
    pro = _attn(PRO)
    assert [pro.ratios.count(r) for r in (1, 4, 128)] == [0, 30, 31]


def test_a_compression_ratio_vllm_cannot_build_is_a_config_error() -> None:
    config, _ = catalog.lookup(FLASH) or ({}, "")
    bad = {**config, "compress_ratios": [0, 0, 8] + config["compress_ratios"][3:]}
    with pytest.raises(ModelConfigError, match="compress_ratios holds '8'"):
        parse_config(bad, model_id="x", source="test")
    short = {**config, "compress_ratios": [4, 128]}
    with pytest.raises(ModelConfigError, match="compress_ratios"):
        parse_config(short, model_id="x", source="test")


def test_pages_of_a_ratio_4_and_a_ratio_128_layer_under_fp8_ds_mla() -> None:
    specs = layer_specs(_attn(FLASH), range(2, 4), 256, "fp8_ds_mla", 1, "0.25.0")
    assert [(s.name, s.block_size, s.window, s.page_bytes) for s in specs] == [
        # 64 compressed keys of 128 fp8 bytes + one float32 scale: 8448 -> 8640
        ("layers.2.attn.indexer.k_cache", 256, 0, 8640),
        # float32 kv and score states, overlapping windows: 4 x 2 x 2 x 128 x 4 = 8192 -> 8640
        ("layers.2.attn.indexer.compressor.state_cache", 4, 8, 8640),
        # 64 tokens of 584 bytes = 37376 -> 37440 (the comment's "[64, 584]" block)
        ("layers.2.attn.swa_cache", 64, 128, 37440),
        ("layers.2.attn", 256, 0, 37440),  # 256 // 4 compressed tokens of 584 bytes
        ("layers.2.attn.compressor.state_cache", 4, 8, 32832),  # 4 x 2 x 2 x 512 x 4 = 32768
        ("layers.3.attn.swa_cache", 64, 128, 37440),
        ("layers.3.attn", 256, 0, 1728),  # 2 compressed tokens: 1168 -> 1728
        ("layers.3.attn.compressor.state_cache", 8, 128, 32832),  # 8 x 2 x 512 x 4
    ]


def test_plain_rows_store_head_dim_elements_padded_to_512() -> None:
    swa, attn = layer_specs(_attn(FLASH), range(3, 4), 256, "auto", 2, "0.25.0")[:2]
    assert (swa.page_bytes, attn.page_bytes) == (64 * 512 * 2, 2 * 512 * 2)
    # the indexer's 64 x 132 bytes: 512-aligned in 0.25.0, 576 (FlashMLA's) in 0.24.0
    index_pages = [
        layer_specs(_attn(FLASH), range(2, 3), 256, "auto", 2, version)[0].page_bytes
        for version in ("0.25.0", "0.24.0")
    ]
    assert index_pages == [8704, 8640]


def _flash_kv(version: str) -> PackedKV:
    """Flash's 43 layers at vLLM's default block (256) with an fp8 cache, as vllm#51454 ran."""
    return packed_kv(_attn(FLASH), range(43), block_size=256, kv_cache_dtype="fp8", version=version)


def test_approximate_gcd_picks_the_least_padding() -> None:
    # Flash: 21 full-MLA layer tuples, 43 sliding-window caches, 21 C4 and 20 C128 states
    assert approximate_gcd([21, 43, 21, 20], lower_bound=21) == 22
    assert approximate_gcd([4, 8, 12], lower_bound=4) == 4
    assert approximate_gcd([3, 5], lower_bound=6) == 6


def test_flash_groups_the_packed_block_and_the_blocks_a_request_needs() -> None:
    kv = _flash_kv("0.25.0")
    assert kv.cache_dtype == "fp8_ds_mla"
    # the full-MLA group (21 C4 + 21 indexer + 20 C128), the 43 sliding-window caches split in
    # 22 + 21 for 22 layer tuples, the C4 states (padded 32832 -> 37440) with the indexer's,
    # the C128 states
    assert [len(g.specs) for g in kv.groups] == [62, 22, 21, 42, 20]
    assert [g.page_bytes for g in kv.groups] == [1002240, 823680, 786240, 967680, 748800]
    # slots: 22 of 37440, 21 of 8640, 20 of 1728
    assert kv.block_bytes == 22 * 37440 + 21 * 8640 + 20 * 1728 == 1039680
    # pages a 1M request needs per group: 4096 compressed blocks; sliding windows of
    # 127 + 8192 tokens in 64-token blocks (+1), of 7 + 8192 in 4, of 127 + 8192 in 8
    assert [g.pages_per_request(MILLION, CHUNK) for g in kv.groups] == [4096, 131, 131, 2051, 1041]
    assert kv.blocks_per_request(MILLION, CHUNK) == 7065


@pytest.mark.parametrize(
    ("blocks", "tokens", "concurrency"),
    # vllm#51454 (vLLM 0.25.0, 8 x B200, fp8, block 256, 1M context): DP8 + EP and TP8 + EP;
    # only these block counts give the logged pairs with 7065 blocks a request
    [(138_603, 20_571_235, "19.62"), (144_321, 21_419_891, "20.43")],
)
def test_the_logged_tokens_are_concurrency_times_max_model_len(
    blocks: int, tokens: int, concurrency: str
) -> None:
    per_request = _flash_kv("0.25.0").blocks_per_request(MILLION, CHUNK)
    assert int(blocks / per_request * MILLION) == tokens
    assert f"{blocks / per_request:.2f}" == concurrency


def test_one_request_check_reserves_the_most_layer_tuples_in_every_group() -> None:
    kv = _flash_kv("0.25.0")
    tuple_bytes = 37440 + 8640 + 1728
    assert kv.bytes_for_length(MILLION, CHUNK) == 22 * tuple_bytes * (
        4096 + 131 + 131 + 2051 + 1041
    )


def test_pro_groups() -> None:
    kv = packed_kv(_attn(PRO), range(61), block_size=256, kv_cache_dtype="fp8", version="0.25.0")
    assert [len(g.specs) for g in kv.groups] == [91, 31, 30, 31, 60]
    assert kv.block_bytes == 31 * 37440 + 30 * 8640 + 31 * 1728
    assert kv.blocks_per_request(MILLION, CHUNK) == 7121


def test_a_kv_cache_dtype_other_than_fp8_is_vllms_start_up_error() -> None:
    resp = plan(FLASH, "B200", gpus=8, tp=8, version="0.25.0", kv_cache_dtype="auto")
    error = only(resp, "VW149")
    assert error.severity.value == "error"
    assert "only supports fp8 kv-cache, got auto" in error.message
    assert not fired(plan(FLASH, "B200", version="0.25.0", **ON_8_B200), "VW149")


def test_a_plan_sizes_the_packed_pool_and_warns_the_weights_are_estimated() -> None:
    resp = plan(
        FLASH,
        "B200",
        version="0.25.0",
        util=0.95,
        **ON_8_B200,
        max_model_len=MILLION,
        enable_expert_parallel=True,
    )
    kv, memory = resp.feasibility.kv, resp.feasibility.memory
    assert kv is not None and memory is not None
    # no --block-size: DEEPSEEK_SPARSE_SWA's 256; five groups, one packed block of 1039680 B
    assert (kv.block_size, kv.num_groups) == (256, 5)
    # the budget (printed to 0.01 GiB, about 5 blocks) over the packed block
    assert abs(kv.num_blocks - memory.kv_cache_gib * (1 << 30) / 1039680) < 6
    assert kv.tokens == int(kv.num_blocks / 7065 * MILLION)
    assert only(resp, "VW147").severity.value == "warning"


def test_other_models_get_no_deepseek_v4_warning() -> None:
    assert not fired(plan("deepseek-ai/DeepSeek-V3.2", "B200", gpus=8, tp=8), "VW147")


def _flash_layer(layer: int, **kw: Any) -> float:
    model = catalog_model(FLASH)
    return deepseek_v4_weight_bytes(
        model,
        range(layer, layer + 1),
        dtype_bytes=2,
        max_num_batched_tokens=0,
        first=False,
        last=False,
        **{"tp": 1, "local_experts": 0.0, **kw},
    ) - deepseek_v4_weight_bytes(
        model,
        range(0),
        tp=1,
        local_experts=0.0,
        dtype_bytes=2,
        max_num_batched_tokens=0,
        first=False,
        last=False,
    )


def test_routed_experts_are_mxfp4_values_and_ue8m0_scales() -> None:
    # DeepseekV4MegaMoEExperts: w13 [E, 2I, H/2] + [E, 2I, H/32], w2 [E, H, I/2] + [E, H, I/32]
    per_expert = 2 * 2048 * 4096 // 2 + 2 * 2048 * 4096 // 32 + 4096 * 2048 // 2 + 4096 * 2048 // 32
    assert _flash_layer(4, local_experts=32.0) - _flash_layer(4) == 32 * per_expert


def test_a_ratio_4_layer_adds_the_indexer_and_an_overlapping_compressor() -> None:
    # layers 4 (ratio 4) and 5 (ratio 128), past the 3 hash-routed layers
    bf16, f32 = 2, 4
    c4 = 4096 * 2 * 2 * 512 * bf16 + 4 * 2 * 512 * f32  # fused_wkv_wgate, ape
    c128 = 4096 * 2 * 512 * bf16 + 128 * 512 * f32
    indexer = (
        1024 * 64 * 128
        + 8 * 64 * 4  # wq_b, fp8 with a float32 scale per 128 x 128 block
        + 4096 * 64 * bf16  # weights_proj
        + 4096 * 2 * 2 * 128 * bf16
        + 4 * 2 * 128 * f32
        + 128 * bf16  # its compressor
    )
    assert _flash_layer(4) - _flash_layer(5) == c4 - c128 + indexer


def test_tensor_parallel_splits_the_attention_projections_and_shared_expert() -> None:
    split = (
        1024 * 64 * 512
        + 8 * 256 * 4  # wq_b
        + 4096 * 8192
        + 32 * 64 * 4  # wo_a
        + 8192 * 4096
        + 64 * 32 * 4  # wo_b
        + 4096 * 4096
        + 32 * 32 * 4  # shared expert gate_up
        + 2048 * 4096
        + 16 * 32 * 4  # shared expert down
    )
    sinks = 64 * 4
    tp8 = _flash_layer(5, tp=8)
    assert _flash_layer(5) - tp8 == pytest.approx(split - split / 8 + sinks - sinks / 8, abs=64)


def test_the_profile_run_reserves_the_indexer_gather_and_its_dummy_logits() -> None:
    workspace, logits = profile_reservations(
        _attn(FLASH), max_model_len=MILLION, max_num_batched_tokens=CHUNK
    )
    # indexer: 1M x 40 / 4 rows of 128 fp8 bytes + 4 scale bytes, and the 1 MiB radix buffer;
    # larger than FlashMLA's C4 gather, 4 x (262144 + 128 + 8192) rows of 512 bf16
    assert 4 * (262144 + 128 + 8192) * 512 * 2 < workspace == MILLION * 10 * 132 + (1 << 20)
    assert logits == 512 << 20
    # a short context: FlashMLA's gather is the larger
    short, _ = profile_reservations(_attn(FLASH), max_model_len=4096, max_num_batched_tokens=CHUNK)
    assert short == 4 * (1024 + 128 + 8192) * 512 * 2


def test_a_release_whose_layout_was_not_read_is_flagged() -> None:
    flagged = plan(FLASH, "B200", version="0.21.0", **ON_8_B200)
    assert only(flagged, "VW148").severity.value == "warning"
    for version in ("0.24.0", "0.25.0", "0.33.0"):
        read = plan(FLASH, "B200", version=version, **ON_8_B200)
        assert not fired(read, "VW148")


def test_explain_says_what_the_packed_layout_costs() -> None:
    resp = plan(
        FLASH,
        "B200",
        version="0.25.0",
        **ON_8_B200,
        max_model_len=MILLION,
        max_num_batched_tokens=CHUNK,
        explain=True,
    )
    words = resp.config.explanations["DeepSeek-V4 KV cache"]
    assert "5 KV cache groups share one packed block of 1,039,680 bytes" in words
    assert "a 1,048,576-token request takes 7,065 blocks" in words


@pytest.mark.parametrize(
    ("block_size", "words"),
    [
        (1, "not a multiple of 64"),
        (64, "holds no compressed token of ratio 128"),
        (128, "a sliding-window page of 37440 bytes exceeds the largest full-MLA page (19008)"),
    ],
)
def test_block_sizes_vllm_cannot_lay_out_are_refused(block_size: int, words: str) -> None:
    resp = plan(FLASH, "B200", version="0.25.0", kv_cache_dtype="fp8", block_size=block_size)
    assert words in only(resp, "VW149").message
    kv = resp.feasibility.kv
    assert kv is None or kv.num_blocks == 0


def test_a_multiple_of_256_lays_out() -> None:
    resp = plan(FLASH, "B200", version="0.25.0", **ON_8_B200, block_size=512)
    assert not fired(resp, "VW149")


def test_0_33_groups_by_type_with_a_block_the_widest_group() -> None:
    # v1/core/kv_cache_planning.py _get_packed_kv_cache_groups: the sliding-window bucket (43)
    # split for 22 pattern repeats (at least the 21 of the mixed C4-state bucket), the full-MLA
    # bucket whole (its page sizes are 21/21/20: not balanced), the states unpadded
    kv = _flash_kv("0.33.0")
    assert sorted(len(g.specs) for g in kv.groups) == [20, 21, 22, 42, 62]
    assert {g.page_bytes for g in kv.groups if len(g.specs) in (42, 20)} == {
        21 * 32832 + 21 * 8640,
        20 * 32832,
    }
    assert kv.block_bytes == 21 * 37440 + 21 * 8640 + 20 * 1728 == 1002240
    # async scheduling (on by default) keeps two batches in flight: windows of 127 + 16384
    # tokens in 64-token blocks (+1) twice, 7 + 16384 in 4, 127 + 16384 in 8, and 4096
    request = make_request(FLASH, "B200", version="0.33.0", max_num_batched_tokens=CHUNK)
    s = resolve_settings(request, catalog_model(FLASH), find_gpu("B200"), tp=1)
    in_flight = s.in_flight_batches * s.max_num_batched_tokens
    assert in_flight == 2 * CHUNK
    assert kv.blocks_per_request(MILLION, in_flight) == 4096 + 2 * 259 + 4099 + 2065
    assert kv.bytes_for_length(MILLION, in_flight) == 1002240 * 10778


def test_0_33_lays_out_a_block_of_128_that_0_25_refuses() -> None:
    settings = {**ON_8_B200, "block_size": 128}
    assert fired(plan(FLASH, "B200", version="0.25.0", **settings), "VW149")
    assert not fired(plan(FLASH, "B200", version="0.33.0", **settings), "VW149")
    assert (
        "multiple of 32"
        in only(
            plan(FLASH, "B200", version="0.33.0", kv_cache_dtype="fp8", block_size=144), "VW149"
        ).message
    )


def test_pipeline_parallel_layout_is_flagged() -> None:
    resp = plan(FLASH, "B200", gpus=8, tp=4, pp=2, version="0.25.0", kv_cache_dtype="fp8")
    assert "pipeline parallel" in only(resp, "VW148").message


# MTP (speculative method mtp / deepseek_mtp): vLLM 0.25.0's nvidia/mtp.py
# DeepSeekV4MultiTokenPredictorLayer builds a DeepseekV4DecoderLayer numbered 43 (Flash), past
# the config's layers, so attention.py gives it compress ratio 1: its only cache is a
# sliding-window one, which joins the target's in the packed groups.
WITH_MTP = [*range(43), 43]


def test_the_mtp_layer_registers_one_sliding_window_cache() -> None:
    specs = layer_specs(_attn(FLASH), [43], 256, "fp8_ds_mla", 1, "0.25.0")
    assert [(s.name, s.block_size, s.window, s.page_bytes) for s in specs] == [
        ("layers.43.attn.swa_cache", 64, 128, 37440)
    ]


def test_flash_with_mtp_splits_44_sliding_window_caches_22_and_22() -> None:
    kv = packed_kv(_attn(FLASH), WITH_MTP, block_size=256, kv_cache_dtype="fp8", version="0.25.0")
    # approximate_gcd([21, 44, 21, 20], 21) = 22 tuples: the MTP cache fills the second
    # sliding-window group's 22nd slot, so the packed block keeps 22 slots of 37440
    assert [len(g.specs) for g in kv.groups] == [62, 22, 22, 42, 20]
    assert any("layers.43" in s.name for s in kv.groups[2].specs)
    assert kv.block_bytes == 1039680
    # every group's pages of a 1M request over the first group's page: the second
    # sliding-window group's 131 pages are now 22 x 37440 bytes, not 21 x 37440
    needed = 4096 * 1002240 + 2 * 131 * 22 * 37440 + 2051 * 967680 + 1041 * 748800
    assert kv.blocks_per_request(MILLION, CHUNK) == -(-needed // 1002240) == 7070


def test_pro_and_0_33_with_mtp() -> None:
    pro = packed_kv(
        _attn(PRO), [*range(61), 61], block_size=256, kv_cache_dtype="fp8", version="0.25.0"
    )
    # approximate_gcd([31, 62, 30, 31], 31) = 31: 62 sliding-window caches in 31 + 31
    assert [len(g.specs) for g in pro.groups] == [91, 31, 31, 31, 60]
    assert pro.block_bytes == 31 * 37440 + 30 * 8640 + 31 * 1728
    # 0.33.0: the sliding-window bucket of 44 split for 22 repeats; a request needs the same
    # pages of each group, the block stays the widest group
    kv = packed_kv(_attn(FLASH), WITH_MTP, block_size=256, kv_cache_dtype="fp8", version="0.33.0")
    assert sorted(len(g.specs) for g in kv.groups) == [20, 22, 22, 42, 62]
    assert kv.block_bytes == 1002240
    assert kv.blocks_per_request(MILLION, 2 * CHUNK) == 4096 + 2 * 259 + 4099 + 2065


def test_mtp_weights_are_a_gate_routed_ratio_1_layer_and_the_projections() -> None:
    own = (
        2 * (4096 * 4096 + 32 * 32 * 4)  # e_proj, h_proj: block fp8
        + 3 * 4096 * 2  # enorm, hnorm, shared_head.norm (bf16)
        + (4 * 4 * 4096 + 4 + 1) * 4  # hc_head_fn, hc_head_base, hc_head_scale (fp32)
    )
    # layer 0 is a ratio-1 layer too, but hash-routed: a [vocab, top_k] int32 table where
    # the MTP layer has the gate's fp32 correction bias; the embedding and LM head are the
    # target's
    routing = -129280 * 6 * 4 + 256 * 4
    model = catalog_model(FLASH)
    mtp = mtp_weight_bytes(model, 1, tp=1, local_experts=0.0, dtype_bytes=2)
    assert mtp == _flash_layer(0) + routing + own


def test_a_plan_with_mtp_adds_its_weights_and_cache_and_explains_them() -> None:
    kw: dict[str, Any] = {
        **ON_8_B200,
        "version": "0.25.0",
        "util": 0.95,
        "max_model_len": MILLION,
        "max_num_batched_tokens": CHUNK,
        "enable_expert_parallel": True,
    }
    base = plan(FLASH, "B200", **kw)
    spec = plan(FLASH, "B200", speculative_config={"method": "mtp"}, explain=True, **kw)
    # 256 experts over 8 EP ranks: 32 local experts of the MTP layer, attention over TP 8
    expected = mtp_weight_bytes(
        catalog_model(FLASH), 1, tp=8, local_experts=32.0, dtype_bytes=2
    ) / (1 << 30)
    assert expected == pytest.approx(0.46, abs=0.01)
    weights = spec.feasibility.memory.weights_gib - base.feasibility.memory.weights_gib
    assert weights == pytest.approx(expected, abs=0.011)
    kv = spec.feasibility.kv
    assert kv is not None and kv.num_groups == 5
    assert abs(kv.num_blocks - spec.feasibility.memory.kv_cache_gib * (1 << 30) / 1039680) < 6
    assert kv.tokens == int(kv.num_blocks / 7070 * MILLION)
    assert kv.max_concurrency == round(kv.num_blocks / 7070, 2)  # printed as vLLM logs it
    words = spec.config.explanations["--speculative-config"]
    assert "MTP draft (1 MTP layer of the target), num_speculative_tokens=1" in words
    assert (
        "+1 sliding-window cache in the packed KV block (1,039,680 -> 1,039,680 bytes a block; "
        "a 1,048,576-token request 7,065 -> 7,070 blocks)" in words
    )


def test_mtp_capture_sizes_are_multiples_of_1_plus_k() -> None:
    """CompilationConfig.adjust_cudagraph_sizes_for_spec_decode (0.25.0): each default size
    rounded up to a multiple of 1 + k, those past the largest (512) dropped."""
    request = make_request(
        FLASH,
        "B200",
        version="0.25.0",
        **ON_8_B200,
        speculative_config={"method": "mtp", "num_speculative_tokens": 2},
    )
    target = catalog_model(FLASH)
    spec = build_spec(request.engine, target, None, "0.25.0")
    s = resolve_settings(request, target, find_gpu("B200"), tp=8, spec=spec)
    grid = [1, 2, 4, *range(8, 256, 8), *range(256, 513, 16)]
    assert s.cudagraph_sizes == tuple(sorted({-(-n // 3) * 3 for n in grid} - {513}))
    assert s.cudagraph_sizes[-1] == 498


def test_two_mtp_layers_fall_in_two_groups_which_0_25_refuses() -> None:
    """45 sliding-window caches: approximate_gcd([21, 45, 21, 20], 21) = 23 tuples, two
    groups taking alternate caches, so MTP layers 43 and 44 land in different groups and
    SpecDecodeBaseProposer.validate_same_kv_cache_group asserts (VW128)."""
    kv = packed_kv(
        _attn(FLASH), [*range(45)], block_size=256, kv_cache_dtype="fp8", version="0.25.0"
    )
    assert [len(g.specs) for g in kv.groups] == [62, 23, 22, 42, 20]
    assert kv.groups_holding([43, 44]) == 2
    two = catalog_model(FLASH, num_nextn_predict_layers=2)
    kw = ON_8_B200
    mtp = {"speculative_config": {"method": "mtp"}}
    found = only(plan(FLASH, "B200", model=two, version="0.25.0", **mtp, **kw), "VW128")
    assert "fall in 2 of its packed KV cache groups" in found.fix
    assert found.fix_values == {}  # the hybrid manager off is no way out for DeepSeek-V4
    assert not fired(plan(FLASH, "B200", version="0.25.0", **mtp, **kw), "VW128")


def test_each_stage_gets_its_own_packed_layout_when_plans_share_them() -> None:
    # kv_layout keeps the packed layouts per attention config over the layers, block size,
    # KV dtype and release they read: settings asked in turn each get packed_kv's own
    from checker.planning.kvcache.kv import kv_layout
    from checker.planning.memory.weights import stage_layers

    m = catalog_model(FLASH)
    gpu = find_gpu("B200")
    for _ in range(2):
        for pp, version in ((1, "0.25.0"), (2, "0.25.0"), (4, "0.25.0"), (1, "0.34.0")):
            req = make_request(
                FLASH, "B200", gpus=8 * pp, tp=8, pp=pp, version=version, kv_cache_dtype="fp8"
            )
            s = resolve_settings(req, m, gpu, tp=8)
            for stage in range(pp):
                layout = kv_layout(m, s, stage)
                assert m.compressed_attention is not None and layout.packed is not None
                assert layout.packed == packed_kv(
                    m.compressed_attention,
                    list(stage_layers(m.num_hidden_layers, pp)[stage]),
                    block_size=s.block_size,
                    kv_cache_dtype=s.kv_cache_dtype,
                    version=s.facts.version,
                )
