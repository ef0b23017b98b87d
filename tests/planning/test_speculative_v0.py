"""Speculative decoding of the V0 release lines (0.6 / 0.7 --speculative-model flags), as the
0.6.6.post1 and 0.7.3 wheels do it: spec_decode/spec_decode_worker.py SpecDecodeWorker
(determine_num_available_blocks, split_num_cache_blocks_evenly, create_spec_worker),
config.py SpeculativeConfig.maybe_create_spec_config, worker/worker.py
Worker.determine_num_available_blocks and utils.py memory_profiling."""

from __future__ import annotations

from typing import Any

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.engine.spec_config import build_spec
from checker.planning.engine.versions import version_facts
from checker.planning.kvcache.kv import GIB
from checker.planning.memory.memory import MemoryPlan
from checker.planning.planner import plan_settings
from checker.schemas.model_info import ModelInfo
from checker.schemas.outputs import PlanResponse
from tests.planning.plans import catalog_model, fired, make_request, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
DRAFT = "meta-llama/Llama-3.2-1B-Instruct"
# the V0 flags as the profile's outputs.vllm_args carries them into the request
FLAGS: dict[str, Any] = {"speculative_model": DRAFT, "num_speculative_tokens": 5}
# CacheEngine.get_cache_block_size, 16-token blocks, bf16: the target's 32 layers x K and V x
# 8 KV heads x 128 x 2 bytes, the draft's 16 layers x 2 x 8 x 64 x 2 (at TP 1)
TARGET_BLOCK = 16 * 32 * 2 * 8 * 128 * 2  # 2,097,152
DRAFT_BLOCK = 16 * 16 * 2 * 8 * 64 * 2  # 524,288


def _memory(version: str, draft: ModelInfo | None = None, **kw: Any) -> MemoryPlan:
    kw.setdefault("max_model_len", 16384)
    request = make_request(LLAMA, "H100-80GB", version=version, **kw)
    target = catalog_model(LLAMA)
    spec = build_spec(request.engine, target, draft, version_facts(version).version)
    tp = request.hardware.tensor_parallel_size or 1
    return plan_settings(request, target, find_gpu("H100-80GB"), tp=tp, spec=spec)[1]


def _drafted(version: str, **kw: Any) -> PlanResponse:
    """Llama-3.1-8B planned on ``version`` with the Llama-3.2-1B draft's metadata at hand."""
    return plan(LLAMA, draft=catalog_model(DRAFT), version=version, **kw)


def _split(blocks: int, target: int, draft: int) -> int:
    """split_num_cache_blocks_evenly, as vLLM writes it."""
    return int(blocks * target / (draft + target))


def test_0_7_splits_the_target_blocks_and_leaves_the_draft_weights_out_of_the_budget() -> None:
    """0.7.3: the scorer alone is profiled; the draft's weights are torch memory loaded after the
    baseline and outside model_memory_usage, so no term of the KV budget holds them
    (MemorySnapshot non-torch = used - reserved). The target's blocks are then shared:
    int(N x 2,097,152 / (2,097,152 + 524,288)) = int(0.8 N) in each cache."""
    plain = _memory("0.7.3")
    spec = _memory("0.7.3", catalog_model(DRAFT), **FLAGS)
    assert spec.binding.kv_budget == plain.binding.kv_budget
    alone = int(plain.binding.kv_budget // TARGET_BLOCK)
    assert plain.binding.kv.num_blocks == alone
    assert spec.binding.kv.num_blocks == _split(alone, TARGET_BLOCK, DRAFT_BLOCK)
    assert spec.binding.kv.tokens == spec.binding.kv.num_blocks * 16
    assert spec.binding.kv.layout.group_block_bytes == TARGET_BLOCK + DRAFT_BLOCK
    # the draft's weights are on the GPU all the same (2.32 GiB of bf16 Llama-3.2-1B)
    assert (spec.binding.weights - plain.binding.weights) / GIB == pytest.approx(2.32, abs=0.01)
    # V0 profiles the scorer only: the activation peak is the target's
    assert spec.binding.activation == plain.binding.activation


def test_0_6_counts_the_draft_weights_as_non_torch_memory() -> None:
    """0.6.6 utils.py memory_profiling: non_torch_increase = used - baseline - the scorer's
    weights - torch increase, which holds the draft's weights: the budget loses them."""
    plain = _memory("0.6.6")
    spec = _memory("0.6.6", catalog_model(DRAFT), **FLAGS)
    draft = spec.binding.weights - plain.binding.weights
    assert spec.binding.kv_budget == pytest.approx(plain.binding.kv_budget - draft)
    alone = int(spec.binding.kv_budget // TARGET_BLOCK)
    assert spec.binding.kv.num_blocks == _split(alone, TARGET_BLOCK, DRAFT_BLOCK)


def test_a_tp1_draft_beside_a_tp2_target_binds_on_the_rank_that_holds_it() -> None:
    """SmallerTpProposerWorker: rank 0 holds the whole TP 1 draft (8 KV heads), the other rank
    none (get_cache_block_size_bytes 0); the executor takes the smaller count, rank 0's:
    int(N x 1,048,576 / (1,048,576 + 524,288)) with the target's 4 KV heads per rank."""
    tp2 = {"gpus": 2, "tp": 2}
    plain = _memory("0.7.3", **tp2)
    spec = _memory(
        "0.7.3", catalog_model(DRAFT), speculative_draft_tensor_parallel_size=1, **FLAGS, **tp2
    )
    alone = int(plain.binding.kv_budget // (TARGET_BLOCK // 2))
    assert spec.binding.kv.num_blocks == _split(alone, TARGET_BLOCK // 2, DRAFT_BLOCK)
    # the whole draft on that rank: twice its TP 2 share of the layers' weights
    same_tp = _memory("0.7.3", catalog_model(DRAFT), **FLAGS, **tp2)
    assert spec.binding.weights > same_tp.binding.weights


def test_ngram_lookup_takes_no_gpu_memory() -> None:
    """NGramWorker.get_cache_block_size_bytes is 0: the split leaves the blocks as they are."""
    plain = _memory("0.7.3")
    ngram = _memory(
        "0.7.3",
        speculative_model="[ngram]",
        num_speculative_tokens=5,
        ngram_prompt_lookup_max=4,
    )
    assert ngram.binding.kv.num_blocks == plain.binding.kv.num_blocks
    assert ngram.binding.weights == plain.binding.weights


def test_the_plan_prints_both_weight_loads_the_split_blocks_and_what_the_draft_costs() -> None:
    resp = _drafted(
        "0.7.3",
        max_model_len=16384,
        explain=True,
        **FLAGS,
    )
    kv = resp.feasibility.kv
    assert kv is not None
    lines = resp.feasibility.log_lines
    assert lines[0].startswith("Loading model weights took 14.9")  # the target's runner
    assert lines[1].startswith("Loading model weights took 2.3")  # the draft's runner
    assert lines[2] == f"# GPU blocks: {kv.num_blocks}"
    words = resp.config.explanations["--speculative-model"]
    assert "split_num_cache_blocks_evenly" in words and "+16 KV layers" in words
    assert "past gpu_memory_utilization" in words
    assert "the draft model's weights" in resp.feasibility.oom_risk_reason
    assert not fired(resp, "VW190")  # the flags are modeled
    # --num-gpu-blocks-override replaces the split: no equation that does not hold
    fixed = _drafted(
        "0.7.3",
        max_model_len=8192,
        num_gpu_blocks_override=1000,
        explain=True,
        **FLAGS,
    ).config.explanations["--speculative-model"]
    assert "1,000 blocks in each cache as --num-gpu-blocks-override sets" in fixed
    assert "split_num_cache_blocks_evenly" not in fixed


@pytest.mark.parametrize(
    ("version", "fields", "text"),
    [
        (
            "0.6.6",
            {"num_speculative_tokens": 5},
            "num_speculative_tokens was provided without speculative_model.",
        ),
        (
            "0.7.3",
            {"speculative_model": DRAFT},
            "num_speculative_tokens must be provided with speculative_model unless the draft "
            "model config contains an n_predict parameter.",
        ),
        (
            "0.7.3",
            {**FLAGS, "num_speculative_tokens": 0},
            "Expected num_speculative_tokens to be greater than zero (0).",
        ),
        (
            "0.7.3",
            {"speculative_model": "[ngram]", "num_speculative_tokens": 5},
            "ngram_prompt_lookup_max=None must be > 0",
        ),
        (
            "0.7.3",
            {
                "speculative_model": "[ngram]",
                "num_speculative_tokens": 5,
                "ngram_prompt_lookup_max": 2,
                "ngram_prompt_lookup_min": 3,
            },
            "ngram_prompt_lookup_min=3 cannot be larger than ngram_prompt_lookup_max=2",
        ),
        (
            "0.7.3",
            {**FLAGS, "speculative_max_model_len": 200000},
            "speculative_max_model_len=200000 cannot be larger than draft_max_model_len=131072",
        ),
        (
            "0.7.3",
            {**FLAGS, "speculative_max_model_len": 20000},
            "speculative_max_model_len=20000 cannot be larger than target_max_model_len=16384",
        ),
        (
            "0.7.3",
            {**FLAGS, "vllm_args": {"num-scheduler-steps": 8}},
            "Speculative decoding is not supported with multi-step (--num-scheduler-steps > 1)",
        ),
    ],
)
def test_v0_refusals_in_vllms_words(version: str, fields: dict[str, Any], text: str) -> None:
    draft = catalog_model(DRAFT) if fields.get("speculative_model") == DRAFT else None
    resp = plan(LLAMA, draft=draft, version=version, max_model_len=16384, **fields)
    assert only(resp, "VW125").message == text


def test_v0_refuses_pipeline_parallel_and_a_draft_tp_other_than_1_or_the_targets() -> None:
    draft = catalog_model(DRAFT)
    pp = plan(LLAMA, draft=draft, version="0.7.3", gpus=2, tp=1, pp=2, **FLAGS)
    found = only(pp, "VW125")
    assert (
        found.message == "Speculative decoding is currently incompatible with pipeline parallelism"
    )
    assert found.key == "hardware.pp_size"
    tp = plan(
        LLAMA,
        draft=draft,
        version="0.7.3",
        gpus=4,
        tp=4,
        speculative_draft_tensor_parallel_size=2,
        **FLAGS,
    )
    assert only(tp, "VW125").message == (
        "speculative_draft_tensor_parallel_size=2 cannot be other value than 1 or target model "
        "tensor_parallel_size"
    )
    # V1's DraftModelProposer refuses a draft TP other than the target's; V0 takes TP 1
    assert not fired(
        plan(
            LLAMA,
            draft=draft,
            version="0.7.3",
            gpus=2,
            tp=2,
            speculative_draft_tensor_parallel_size=1,
            **FLAGS,
        ),
        "VW125",
    )


def test_v0_asserts_the_vocabularies_agree() -> None:
    """SpecDecodeWorker._vocab_size, read by init_device: a bare AssertionError."""
    qwen = "Qwen/Qwen2.5-0.5B-Instruct"
    resp = plan(
        LLAMA,
        draft=catalog_model(qwen),
        version="0.7.3",
        speculative_model=qwen,
        num_speculative_tokens=4,
    )
    found = only(resp, "VW125")
    assert "vocab_sizes" in found.message and "151936" in found.fix


def test_a_v0_eagle_draft_is_said_to_be_unsized() -> None:
    """A name with "eagle-" gets EAGLEConfig and V0's EAGLE model (maybe_create_spec_config),
    not a draft model's worker: the plan says it does not size it (VW127) rather than sizing
    it as a draft model."""
    name = "yuhuili/EAGLE-LLaMA3-Instruct-8B"
    resp = _drafted(
        "0.7.3",
        speculative_model=name,
        num_speculative_tokens=4,
    )
    assert only(resp, "VW127").key == "outputs.vllm_args.speculative-model"
    plain = plan(LLAMA, version="0.7.3")
    assert resp.feasibility.memory.weights_gib == plain.feasibility.memory.weights_gib


def test_0_8_runs_a_draft_model_on_its_v0_engine() -> None:
    """0.8.5 EngineArgs._is_v1_supported_oracle takes n-gram and EAGLE only: a draft model falls
    back to V0 ("Falling back to V0."), whose worker profiles with 0.7's arithmetic: the KV
    budget is utilization x total less the target's weights, activation and non-torch memory
    (0.03 GiB, the 0.7 logs' figure), the blocks then split as in 0.7."""
    config = {"speculative_config": {"model": DRAFT, "num_speculative_tokens": 5}}
    memory = _memory("0.8.5", catalog_model(DRAFT), **config)
    s, b = memory.settings, memory.binding
    # V0's capture sizes (up to the first at or above 256), captured after the KV cache is sized
    assert s.is_v0 and s.max_num_seqs == 256 and not s.cudagraph_subtracted
    assert len(s.cudagraph_sizes) == 35 and s.cudagraph_sizes[-1] == 256
    draft = b.weights - _memory("0.8.5").binding.weights
    non_torch = 0.03 * GIB
    assert b.non_torch == pytest.approx(non_torch)
    assert b.kv_budget == pytest.approx(
        memory.requested - (b.weights - draft) - b.activation - non_torch
    )
    assert b.kv.num_blocks == _split(int(b.kv_budget // TARGET_BLOCK), TARGET_BLOCK, DRAFT_BLOCK)
    resp = plan(LLAMA, draft=catalog_model(DRAFT), version="0.8.5", max_model_len=16384, **config)
    assert resp.feasibility.log_lines[0] == (
        "Speculative Decoding is not supported by the V1 Engine. Falling back to V0. "
    )


@pytest.mark.parametrize(
    ("version", "config", "v0"),
    [
        ("0.8.5", {"method": "eagle", "model": DRAFT, "num_speculative_tokens": 3}, False),
        ("0.8.5", {"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4}, False),
        ("0.8.5", {"model": "[ngram]", "num_speculative_tokens": 3, "prompt_lookup_max": 4}, False),
        ("0.8.5", {"method": "medusa", "model": DRAFT, "num_speculative_tokens": 3}, True),
        ("0.9.2", {"method": "medusa", "model": DRAFT, "num_speculative_tokens": 3}, False),
        ("0.9.2", {"model": DRAFT, "num_speculative_tokens": 3}, True),
        ("0.10.0", {"model": DRAFT, "num_speculative_tokens": 3}, False),  # sized as V1
    ],
)
def test_which_speculative_configs_fall_back_to_v0(
    version: str, config: dict[str, Any], v0: bool
) -> None:
    memory = _memory(version, catalog_model(DRAFT), speculative_config=config)
    assert memory.settings.is_v0 is v0


def test_the_v0_fallback_refuses_what_the_v0_worker_refuses() -> None:
    config = {"model": DRAFT, "num_speculative_tokens": 5}
    pp = _drafted(
        "0.9.2",
        gpus=2,
        tp=1,
        pp=2,
        speculative_config=config,
    )
    assert only(pp, "VW125").message == (
        "Speculative decoding is currently incompatible with pipeline parallelism"
    )
    long = _drafted(
        "0.8.5",
        max_model_len=16384,
        speculative_config={**config, "max_model_len": 200000},
    )
    assert only(long, "VW125").message == (
        "speculative_max_model_len=200000 cannot be larger than draft_max_model_len=131072"
    )
    # V1's one-TP rule for draft models is not V0's: a TP 1 draft beside TP 2 starts
    tp1 = _drafted(
        "0.8.5",
        gpus=2,
        tp=2,
        speculative_config={**config, "draft_tensor_parallel_size": 1},
    )
    assert not fired(tp1, "VW125")


def test_a_v0_drafter_keeps_long_prompts_whole() -> None:
    """V0 turns chunked prefill on by itself above 32K tokens, but not with speculative
    decoding (0.7.3 EngineArgs.create_engine_config: use_spec_decode): the profile run then
    takes a whole max_model_len prompt (SchedulerConfig: max(max_model_len, 2048))."""
    plain = _memory("0.7.3", max_model_len=65536)
    spec = _memory("0.7.3", catalog_model(DRAFT), max_model_len=65536, **FLAGS)
    assert plain.settings.max_num_batched_tokens == 2048
    assert spec.settings.max_num_batched_tokens == 65536


@pytest.mark.parametrize(
    ("tokens", "text"),
    [
        (
            2,
            "This speculative model supports a maximum of num_speculative_tokens=1, but "
            "num_speculative_tokens=2 was provided.",
        ),
        (0, "Expected num_speculative_tokens to be greater than zero (0)."),
    ],
)
def test_0_7_3_deepseek_v3_drafts_with_its_own_mtp_layer_at_most(tokens: int, text: str) -> None:
    """0.7.3 maybe_create_spec_config: --num-speculative-tokens without a model drafts with
    DeepSeek-V3's MTP layer (n_predict = num_nextn_predict_layers = 1), which caps the tokens;
    _verify_args then refuses 0. Both passed silently."""

    def deepseek(count: int) -> PlanResponse:
        return plan(
            "deepseek-ai/DeepSeek-V3",
            "H200",
            gpus=8,
            tp=8,
            version="0.7.3",
            max_model_len=8192,
            num_speculative_tokens=count,
        )

    found = only(deepseek(tokens), "VW125")
    assert found.message == text
    assert found.key == "outputs.vllm_args.num-speculative-tokens"
    assert not fired(deepseek(1), "VW125")


def test_v0_hidden_state_drafts_refuse_chunked_prefill_and_mlp_speculators_default_tokens() -> None:
    """0.7.3 maybe_create_spec_config: an EAGLE ("eagle-" name), Medusa or MLP-speculator draft
    refuses --enable-chunked-prefill; an MLP speculator's n_predict is the default token count,
    so leaving --num-speculative-tokens out is no error for it."""
    eagle = "yuhuili/EAGLE-LLaMA3-Instruct-8B"
    chunked = _drafted(
        "0.7.3",
        speculative_model=eagle,
        num_speculative_tokens=4,
        enable_chunked_prefill=True,
    )
    found = only(chunked, "VW125")
    assert (
        found.message == "Chunked prefill and hidden-state based draft models are not compatible."
    )
    assert found.key == "vllm.enable_chunked_prefill"
    assert not fired(
        _drafted("0.7.3", **FLAGS, enable_chunked_prefill=True),
        "VW125",
    )
    speculator = catalog_model(DRAFT).model_copy(update={"model_type": "mlp_speculator"})
    name = "ibm-ai-platform/llama3-8b-accelerator"
    untold = plan(LLAMA, draft=speculator, version="0.7.3", speculative_model=name)
    assert not fired(untold, "VW125")
