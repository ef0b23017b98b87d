"""Speculative decoding (issue 13 item 4): the drafter's weights, KV layers and CUDA-graph sizes
as vLLM's V1 code sets them (config/speculative.py, config/vllm.py, v1/spec_decode), checked
against the arithmetic of real configs (catalog, tests/data/configs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checker.cli import main
from checker.hardware.catalog import find_gpu
from checker.models.catalog import lookup
from checker.planning.engine.settings import capture_sizes, rounded_to_query
from checker.planning.engine.spec_config import build_spec
from checker.planning.engine.versions import version_facts
from checker.planning.kvcache.kv import GIB
from checker.planning.memory.memory import MemoryPlan
from checker.planning.planner import plan_settings
from checker.schemas.model_info import ModelInfo
from checker.schemas.outputs import PlanResponse
from tests.planning.conftest import model as data_model
from tests.planning.plans import catalog_model, fired, make_request, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
DRAFT = "meta-llama/Llama-3.2-1B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.3-70B-Instruct"
R1 = "deepseek-ai/DeepSeek-R1"
SHORT: dict[str, Any] = {"max_model_len": 16384, "version": "0.33.0"}


def _spec(**config: Any) -> dict[str, Any]:
    return {"speculative_config": config}


def _memory(
    model_id: str, gpu: str = "H100-80GB", draft: ModelInfo | None = None, **kw: Any
) -> MemoryPlan:
    """The memory plan of a request, the way run_plan builds it."""
    request = make_request(model_id, gpu, **kw)
    target = catalog_model(model_id)
    version = version_facts(request.engine.vllm_version).version
    spec = build_spec(request.engine, target, draft, version)
    tp = request.hardware.tensor_parallel_size or 1
    return plan_settings(request, target, find_gpu(gpu), tp=tp, spec=spec)[1]


def _llama_1b_params() -> int:
    """Llama-3.2-1B-Instruct from its config: tied embedding, 16 layers of GQA (8 KV heads of
    64) and a SwiGLU MLP of 8192, two norms per layer and the final norm."""
    v, h, layers, hd, inter = 128256, 2048, 16, 64, 8192
    attention = h * 32 * hd + 2 * h * 8 * hd + 32 * hd * h
    return v * h + layers * (attention + 3 * h * inter + 2 * h) + h


def test_draft_model_loads_with_the_weights_and_joins_the_kv_cache() -> None:
    base = plan(LLAMA, **SHORT)
    draft = catalog_model(DRAFT)
    spec = plan(LLAMA, draft=draft, **_spec(model=DRAFT, num_speculative_tokens=4), **SHORT)
    added = 2 * (_llama_1b_params() + draft.rope_cache_elements)  # bf16
    assert added / GIB == pytest.approx(2.32, abs=0.01)
    weights = spec.feasibility.memory.weights_gib - base.feasibility.memory.weights_gib
    assert weights == pytest.approx(added / GIB, abs=0.01)
    # 16 draft layers x 2 x 8 KV heads x 64 x 2 bytes beside the target's 32 x 2 x 8 x 128 x 2
    kv, plain = spec.feasibility.kv, base.feasibility.kv
    assert kv is not None and plain is not None
    assert (plain.bytes_per_token, kv.bytes_per_token) == (131072, 131072 + 32768)
    assert kv.tokens < 0.8 * plain.tokens
    assert spec.feasibility.log_lines[0].startswith("Model loading took 17.3")


def test_a_block_spans_the_summed_pages_of_target_and_draft_layers() -> None:
    """Layers of one type with different pages form one group whose block is their sum
    (v1/core/kv_cache_planning.py get_kv_cache_groups, UniformTypeKVCacheSpecs)."""
    memory = _memory(
        LLAMA, draft=catalog_model(DRAFT), **_spec(model=DRAFT, num_speculative_tokens=4), **SHORT
    )
    b = memory.binding
    block = 16 * (131072 + 32768)
    assert b.kv.layout.group_block_bytes == block
    assert b.kv.num_blocks == int(b.kv_budget // block)
    assert b.kv.tokens == int(b.kv.num_blocks / 1024 * 16384)  # concurrency x max_model_len


def _eagle3_70b() -> ModelInfo:
    return data_model("sglang-eagle3-llama3-70b")


def test_eagle3_head_shares_the_embedding_and_adds_one_kv_layer() -> None:
    kw: dict[str, Any] = {"gpu": "H200", "gpus": 2, "tp": 2, **SHORT}
    base = plan(LLAMA_70B, kw.pop("gpu"), **kw)
    head = _eagle3_70b()
    config = _spec(method="eagle3", model="lmsys/EAGLE3-LLaMA3.3-70B", num_speculative_tokens=3)
    spec = plan(LLAMA_70B, "H200", draft=head, **config, **kw)
    h, inter, q, kv, tp = 8192, 28672, 64 * 128, 8 * 128, 2
    sharded = 2 * h * (q + 2 * kv) + q * h + 3 * h * inter + 32000 * h  # qkv reads 2 x hidden
    replicated = 3 * h * h + 3 * h  # fc over three target layers, and the norms
    expected = 2 * (sharded / tp + replicated + head.rope_cache_elements) / GIB
    assert expected == pytest.approx(1.49, abs=0.01)
    weights = spec.feasibility.memory.weights_gib - base.feasibility.memory.weights_gib
    assert weights == pytest.approx(expected, abs=0.01)
    after, before = spec.feasibility.kv, base.feasibility.kv
    assert after is not None and before is not None
    # one layer of 8 KV heads split over TP 2, of 80 target layers
    assert after.bytes_per_token - before.bytes_per_token == 2 * 4 * 128 * 2
    budget = spec.feasibility.memory.kv_cache_gib / base.feasibility.memory.kv_cache_gib
    assert after.tokens / before.tokens == pytest.approx(budget * 80 / 81, abs=0.002)


def test_mtp_adds_the_targets_next_token_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    kw: dict[str, Any] = {"gpu": "H200", "gpus": 8, "tp": 8, "max_model_len": 32768}
    base = plan(R1, version="0.33.0", **kw)
    spec = plan(R1, version="0.33.0", **_spec(method="mtp"), **kw)
    assert not fired(spec, "VW125")  # num_speculative_tokens defaults to the 1 MTP layer
    after, before = spec.feasibility.kv, base.feasibility.kv
    assert after is not None and before is not None
    assert after.bytes_per_token - before.bytes_per_token == 576 * 2  # one MLA latent, bf16
    # one of 58 MoE layers in fp8 over TP 8, plus eh_proj (2 x 7168 x 7168, bf16, replicated)
    weights = spec.feasibility.memory.weights_gib - base.feasibility.memory.weights_gib
    assert 1.3 < weights < 1.7
    assert spec.config.explanations == {}
    explained = plan(R1, version="0.33.0", explain=True, **_spec(method="mtp"), **kw)
    words = explained.config.explanations["--speculative-config"]
    assert "MTP draft (1 MTP layer of the target)" in words and "+1 KV layer" in words


def test_ngram_loads_nothing() -> None:
    base = plan(LLAMA, **SHORT)
    spec = plan(LLAMA, **_spec(method="ngram", num_speculative_tokens=4), **SHORT)
    assert spec.feasibility.memory.weights_gib == base.feasibility.memory.weights_gib
    after, before = spec.feasibility.kv, base.feasibility.kv
    assert after is not None and before is not None
    assert after.bytes_per_token == before.bytes_per_token
    assert not spec.feasibility.findings


def test_capture_sizes_add_uniform_decode_batches_in_0_33() -> None:
    """VllmConfig._set_cudagraph_sizes: the ceiling is min(2 x max_num_seqs x (1 + k), 512) and
    the uniform decode sizes n x (1 + k) of the request-count grid are added."""
    grid = [1, 2, 4, *range(8, 256, 8), *range(256, 513, 16)]
    sizes = capture_sizes(1024, 8192, None, decode_query_len=5, cap_query_len=5)
    decode = {5 * n for n in grid if 5 * n <= 512}
    assert sizes == tuple(sorted(set(grid) | decode))
    memory = _memory(LLAMA, **_spec(method="ngram", num_speculative_tokens=4), **SHORT)
    assert memory.settings.cudagraph_sizes == sizes


def test_capture_sizes_round_to_1_plus_k_in_0_19() -> None:
    """The V1 model runner rounds each size up to a multiple of 1 + k under FULL decode graphs
    (CompilationConfig.adjust_cudagraph_sizes_for_spec_decode)."""
    memory = _memory(
        LLAMA,
        **_spec(method="ngram", num_speculative_tokens=4),
        max_model_len=16384,
        version="0.19",
    )
    sizes = memory.settings.cudagraph_sizes
    assert (
        all(n % 5 == 0 for n in sizes) and sizes[0] == 5 and sizes[-1] == 500
    )  # 496 -> 500; 512 -> 515 > 512, dropped
    assert rounded_to_query((1, 8), 5) == (5,)
    assert rounded_to_query((1, 2, 4), 8) == ()  # none fits: vLLM raises


def _short_draft() -> ModelInfo:
    """Llama-3.2-1B-Instruct as if its context were 8192 tokens."""
    return catalog_model(DRAFT, max_position_embeddings=8192)


def test_v2_runner_lowers_max_model_len_to_a_draft_models() -> None:
    config = _spec(model=DRAFT, num_speculative_tokens=4)
    spec = plan(LLAMA, draft=_short_draft(), **config, **SHORT)
    assert spec.feasibility.max_model_len == 8192
    warning = only(spec, "VW126")
    assert warning.message.startswith("The draft model's max_model_len (8192) is smaller than")
    assert "(16384) and the V2 model runner can't skip" in warning.message  # SHORT: 0.33.0
    # 0.34.0 config/vllm.py: "the model runner" (Model Runner V1 removed)
    newest = plan(LLAMA, draft=_short_draft(), **config, max_model_len=16384, version="0.34")
    assert "(16384) and the model runner can't skip" in only(newest, "VW126").message
    old = plan(LLAMA, draft=_short_draft(), **config, max_model_len=16384, version="0.19")
    assert old.feasibility.max_model_len == 16384 and not fired(old, "VW126")


def test_eagle_with_chunked_local_attention_turns_the_hybrid_manager_off() -> None:
    scout = "meta-llama/Llama-4-Scout-17B-16E-Instruct"
    kw: dict[str, Any] = {"gpus": 4, "tp": 4, "max_model_len": 32768, "version": "0.33.0"}
    base = _memory(scout, **kw)
    eagle = _memory(
        scout,
        draft=_eagle3_70b(),
        **_spec(method="eagle3", model="eagle3-head", num_speculative_tokens=3),
        **kw,
    )
    assert base.settings.hybrid_kv and len(base.binding.kv.layout.kinds) > 1
    assert not eagle.settings.hybrid_kv and len(eagle.binding.kv.layout.kinds) == 1


@pytest.mark.parametrize(
    ("config", "draft", "text"),
    [
        (
            {"model": DRAFT},
            DRAFT,
            "A speculative model was provided, but `num_speculative_tokens` was not provided",
        ),
        ({"method": "ngram"}, None, "num_speculative_tokens must be provided with speculative"),
        ({"num_speculative_tokens": 3}, None, "num_speculative_tokens was provided but without"),
        (
            {"model": DRAFT, "num_speculative_tokens": 3, "tensor_parallel_size": 1},
            DRAFT,
            "'tensor_parallel_size' is not a valid argument in the speculative_config.",
        ),
        (
            {"model": "Qwen/Qwen2.5-0.5B-Instruct", "num_speculative_tokens": 3},
            "Qwen/Qwen2.5-0.5B-Instruct",
            "Target and draft model should have the same vocabulary size. Target model "
            "vocab_size=128256. Draft model vocab_size=151936.",
        ),
        (
            {"method": "mtp", "num_speculative_tokens": 1},
            None,
            "Unsupported speculative method: 'mtp'",
        ),
        ({"method": "lookahead", "num_speculative_tokens": 1}, None, "Unsupported speculative"),
        (
            {
                "method": "ngram",
                "num_speculative_tokens": 3,
                "prompt_lookup_min": 5,
                "prompt_lookup_max": 2,
            },
            None,
            "prompt_lookup_min=5 must be <= prompt_lookup_max=2",
        ),
    ],
)
def test_vllms_refusals_of_a_speculative_config(
    config: dict[str, Any], draft: str | None, text: str
) -> None:
    resp = plan(LLAMA, draft=catalog_model(draft) if draft else None, **_spec(**config), **SHORT)
    found = only(resp, "VW125")
    assert found.message.startswith(text), found.message
    assert found.key == "outputs.vllm_args.speculative-config"


def test_a_draft_with_another_vocabulary_may_map_its_tokens() -> None:
    qwen = "Qwen/Qwen2.5-0.5B-Instruct"
    config = _spec(model=qwen, num_speculative_tokens=3, use_heterogeneous_vocab=True)
    assert not fired(plan(LLAMA, draft=catalog_model(qwen), **config, **SHORT), "VW125")


def test_the_0_19_wording_of_a_missing_token_count() -> None:
    resp = plan(
        LLAMA, draft=catalog_model(DRAFT), **_spec(model=DRAFT), max_model_len=16384, version="0.19"
    )
    assert only(resp, "VW125").message.startswith("num_speculative_tokens must be provided")


def test_draft_tensor_parallel_sizes() -> None:
    kw: dict[str, Any] = {"gpus": 4, "tp": 4, **SHORT}
    draft = catalog_model(DRAFT)
    two = plan(
        LLAMA,
        draft=draft,
        **_spec(model=DRAFT, num_speculative_tokens=3, draft_tensor_parallel_size=2),
        **kw,
    )
    assert only(two, "VW125").message == (
        "speculative_draft_tensor_parallel_size=2 cannot be other value than 1 or target model "
        "tensor_parallel_size"
    )
    one = plan(
        LLAMA,
        draft=draft,
        **_spec(model=DRAFT, num_speculative_tokens=3, draft_tensor_parallel_size=1),
        **{**kw, "version": "0.30.0"},
    )
    assert "must be the same. Got 1 and 4." in only(one, "VW125").message
    # the V1 runner's DraftModelProposer alone refused it (0.30.0 keeps draft models on V1):
    # Model Runner V2 runs them from 0.31.0 and is the only runner in 0.34.0
    for version in ("0.31.0", "0.33.0", "0.34"):
        later = plan(
            LLAMA,
            draft=draft,
            **_spec(model=DRAFT, num_speculative_tokens=3, draft_tensor_parallel_size=1),
            gpus=4,
            tp=4,
            max_model_len=16384,
            version=version,
        )
        assert not fired(later, "VW125"), version


def test_mtp_token_count_must_reuse_its_layers_evenly() -> None:
    glm = catalog_model("zai-org/GLM-4.5", num_nextn_predict_layers=2)
    kw: dict[str, Any] = {"gpu": "H200", "gpus": 8, "tp": 8, "max_model_len": 8192}
    resp = plan("zai-org/GLM-4.5", model=glm, **_spec(method="mtp", num_speculative_tokens=3), **kw)
    assert (
        only(resp, "VW125").message == "num_speculative_tokens:3 must be divisible by n_predict=2"
    )
    fine = plan("zai-org/GLM-4.5", model=glm, **_spec(method="mtp", num_speculative_tokens=4), **kw)
    assert not fired(fine, "VW125")


def test_short_flags_merge_into_the_config_and_clash_with_it() -> None:
    merged = plan(LLAMA, draft=catalog_model(DRAFT), spec_model=DRAFT, spec_tokens=3, **SHORT)
    assert not merged.feasibility.findings
    assert merged.feasibility.memory.weights_gib > 17
    clash = plan(LLAMA, **_spec(method="ngram", num_speculative_tokens=2), spec_tokens=3, **SHORT)
    found = only(clash, "VW125")
    assert found.message == (
        "--spec-tokens and --speculative-config['num_speculative_tokens'] are mutually exclusive"
    )
    assert found.key == "outputs.vllm_args.spec-tokens"
    alone = only(plan(LLAMA, spec_method="ngram", **SHORT), "VW125")  # no token count
    assert alone.key == "outputs.vllm_args.spec-method"


def test_a_batch_budget_within_the_lookahead_is_refused_in_0_33() -> None:
    resp = plan(
        LLAMA,
        draft=catalog_model(DRAFT),
        **_spec(model=DRAFT, num_speculative_tokens=4),
        max_num_batched_tokens=4,
        max_num_seqs=4,
        **SHORT,
    )
    assert any("num_lookahead_tokens=4" in f.message for f in fired(resp, "VW125"))


def test_methods_the_plan_does_not_size_say_so() -> None:
    resp = plan(
        LLAMA, **_spec(method="dflash", model="z-lab/dflash", num_speculative_tokens=8), **SHORT
    )
    assert only(resp, "VW127").message.startswith("speculative method 'dflash'")


def _explained(resp: PlanResponse) -> str:
    return resp.config.explanations["--speculative-config"]


def test_explain_says_what_the_drafter_costs() -> None:
    resp = plan(
        LLAMA,
        draft=catalog_model(DRAFT),
        explain=True,
        **_spec(model=DRAFT, num_speculative_tokens=4),
        **SHORT,
    )
    words = _explained(resp)
    assert words.startswith(f"draft model {DRAFT}, num_speculative_tokens=4: +2.32 GiB weights")
    assert "+16 KV layers (+32,768 bytes per token)" in words and "% KV tokens" in words


_PROFILE = """\
profile_version: 1
model:
  id: meta-llama/Llama-3.1-8B-Instruct
  max_model_len: 16384
hardware:
  gpu_name: H100-80GB
vllm:
  version: "0.33.0"
  speculative_config:
    model: {draft}
    num_speculative_tokens: 4
"""


def test_the_draft_resolves_like_the_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "spec.yaml"
    profile.write_text(_PROFILE.format(draft=DRAFT))
    assert main(["plan", "-p", str(profile), "--offline", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["feasibility"]["memory"]["weights_gib"] == pytest.approx(17.31, abs=0.01)
    # a local directory holding the draft's config.json works too
    local = tmp_path / "draft"
    local.mkdir()
    (local / "config.json").write_text(json.dumps(lookup(DRAFT)[0]))  # type: ignore[index]
    profile.write_text(_PROFILE.format(draft=local))
    assert main(["plan", "-p", str(profile), "--offline", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["feasibility"]["memory"]["weights_gib"] > 17.3


def test_a_draft_found_nowhere_is_an_error_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "spec.yaml"
    profile.write_text(_PROFILE.format(draft="someone/no-such-draft"))
    assert main(["plan", "-p", str(profile), "--offline"]) == 2
    err = capsys.readouterr().err
    assert f"{profile}:9" in err and "draft model 'someone/no-such-draft'" in err


def test_the_speculative_max_model_len_bounds_and_lowers_the_length() -> None:
    """The config's max_model_len is the draft's length (so the V2 runner serves no longer
    request), within the draft's derived maximum and the target's."""
    config = {"model": DRAFT, "num_speculative_tokens": 3}
    lowered = plan(
        LLAMA, draft=catalog_model(DRAFT), **_spec(**config, max_model_len=4096), **SHORT
    )
    assert lowered.feasibility.max_model_len == 4096 and fired(lowered, "VW126")
    above = plan(LLAMA, draft=_short_draft(), **_spec(**config, max_model_len=12000), **SHORT)
    assert only(above, "VW125").message.startswith(
        "User-specified max_model_len (12000) is greater than the derived max_model_len "
        "(max_position_embeddings=8192"
    )
    longer = plan(
        LLAMA, draft=catalog_model(DRAFT), **_spec(**config, max_model_len=20000), **SHORT
    )
    assert only(longer, "VW125").message == (
        "speculative_max_model_len=20000 cannot be larger than target_max_model_len=16384"
    )


@pytest.mark.parametrize(
    "config",
    [
        {"model": DRAFT, "num_speculative_tokens": -3},
        {"model": DRAFT, "num_speculative_tokens": 10**30},
        {"model": DRAFT, "num_speculative_tokens": 3, "draft_tensor_parallel_size": -2},
        {"method": ["eagle"], "num_speculative_tokens": 3},
        {"model": 12, "num_speculative_tokens": "3"},
        {"model": DRAFT, "num_speculative_tokens": 3, "kv_cache_dtype": "zzz", "max_model_len": 0},
    ],
)
def test_hostile_speculative_configs_plan_without_crashing(config: dict[str, Any]) -> None:
    draft = catalog_model(DRAFT) if config.get("model") == DRAFT else None
    resp = plan(LLAMA, draft=draft, **_spec(**config), **SHORT)
    assert resp.feasibility.memory.weights_gib >= 14.99
    assert fired(resp, "VW125") or resp.feasibility.fits


@pytest.mark.parametrize(
    "model_id", ["moonshotai/Kimi-K2-Instruct", "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"]
)
def test_mtp_needs_a_target_with_next_token_layers(model_id: str) -> None:
    """Kimi-K2 (model_type kimi_k2, num_nextn_predict_layers 0) and Nemotron-3-Nano (no
    num_nextn_predict_layers) have no MTP draft in vLLM."""
    kw: dict[str, Any] = {"gpu": "H200", "gpus": 8, "tp": 8, "max_model_len": 8192}
    resp = plan(model_id, **_spec(method="mtp", num_speculative_tokens=1), version="0.33.0", **kw)
    assert only(resp, "VW125").message == "Unsupported speculative method: 'mtp'"
