"""Weight bytes per GPU rank, the way vLLM shards and stores them.

TP splits linear layers and the vocabulary; KV projections are replicated once TP exceeds the
KV heads, MLA's latent down-projections always (with a quantized kv_b_proj's dequantized copy
beside them); PP gives each stage its layers (embedding on the first, LM head on the last). Data
parallel replicates attention and dense layers per engine; the routed experts are split over
the DP x TP ranks, whole experts with expert parallel, TP-sharded without.
Quantized formats store their linear weights at the method's bits plus its scales.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from types import MappingProxyType

from checker.planning.engine.releases import has_behaviour, mxfp4_padding, mxfp4_uses_marlin
from checker.planning.engine.settings import Settings, config_dtype
from checker.planning.kvcache.deepseek_v4 import deepseek_v4_weight_bytes
from checker.planning.kvcache.kv_dtypes import DTYPE_BYTES
from checker.planning.memo import ByIdentity
from checker.planning.memory.multimodal import (
    encoder_data_parallel,
    tower_loaded,
    tower_storage,
    vision_weight_bytes,
)
from checker.planning.memory.quant_bits import bits_per_weight
from checker.schemas.model_info import LayerKind, ModelInfo, ParamBreakdown

_QUANTIZED_ROLES = (
    "attention_linear",
    "mlp_linear",
    "expert_linear",
    "shared_expert_linear",
    "linear_attention",
)
# Roles each method leaves in the model dtype by design.
_ROLE_SKIPS = {
    "mxfp4": {"attention_linear", "linear_attention"},
    "experts_int8": {"attention_linear", "mlp_linear", "linear_attention"},
}


def _storage_bytes(
    model: ModelInfo,
    dtype_bytes: int,
    method: str | None,
    moe_tp: int | None,
    marlin: bool = False,
) -> Mapping[str, float]:
    """Bytes per role for the whole model, unsharded: quantized roles at the method's bits,
    the rest at ``dtype_bytes``. ``moe_tp``: ranks the experts' intermediate size is split over
    when vLLM pads it for MXFP4 (None: as stored, unpadded); ``marlin``: the MXFP4 experts run
    on the Marlin kernel and are padded to its multiples."""
    bits = bits_per_weight(model, method) if method else 0.0
    padded = moe_tp if method == "mxfp4" and model.moe_intermediate_size else None
    return _role_storage(
        model.params,
        bits,
        dtype_bytes,
        method,
        padded,
        marlin,
        model.moe_intermediate_size,
        model.hidden_size,
    )


@functools.lru_cache(maxsize=4096)  # pure; every plan asks per stage, per TP tried, per term
def _role_storage(
    params: ParamBreakdown,
    bits: float,
    dtype_bytes: int,
    method: str | None,
    moe_tp: int | None,
    marlin: bool,
    moe_intermediate_size: int,
    hidden_size: int,
) -> Mapping[str, float]:
    """_storage_bytes of the parameter counts ``params``, quantized roles at ``bits``;
    ``moe_tp`` given only where the MXFP4 experts are padded. Read-only: it is shared."""
    skips = _ROLE_SKIPS.get(method or "", set())
    result: dict[str, float] = {}
    for role, count in params.__dict__.items():
        if method and role in _QUANTIZED_ROLES and role not in skips:
            if moe_tp and role == "expert_linear":
                # vLLM pads the experts' shapes for its MXFP4 kernel (mxfp4_padding)
                pad, inter = mxfp4_padding(), moe_intermediate_size / moe_tp
                if marlin:
                    count *= _round_up(inter, pad["marlin_intermediate"]) / inter
                    count *= _round_up(hidden_size, pad["marlin_hidden"]) / hidden_size
                else:
                    count *= _round_up(inter, pad["intermediate"]) / inter
            result[role] = count * bits / 8
        else:
            result[role] = count * dtype_bytes
    return MappingProxyType(result)


def _role_bytes(model: ModelInfo, settings: Settings) -> Mapping[str, float]:
    """Bytes per role for the whole model as vLLM holds it, unsharded."""
    moe_tp = 1 if settings.expert_parallel else settings.moe_shards
    marlin = mxfp4_uses_marlin(settings.gpu.capability, settings.facts.version, settings.install)
    return _storage_bytes(model, settings.dtype_bytes, settings.quantization, moe_tp, marlin)


def _round_up(value: float, multiple: int) -> float:
    return math.ceil(value / multiple) * multiple


def checkpoint_bytes(model: ModelInfo) -> float:
    """Tensor bytes the config says the checkpoint holds: its quantized linear layers at the
    method's bits (the vision tower's as vLLM's skip-list rule says), everything else at the
    config's torch_dtype. What the safetensors headers
    of the same checkpoint should add up to."""
    method = model.quant.method if model.quant else None
    dtype = config_dtype(model)
    roles = dict(_storage_bytes(model, DTYPE_BYTES[dtype], method, None))
    roles["vision"] = tower_storage(model, method, dtype).bytes(DTYPE_BYTES[dtype])
    return sum(roles.values())


def _kv_replication(model: ModelInfo, tp: int) -> float:
    """Extra share of attention weights each rank holds when KV heads are replicated."""
    heads, kv = model.num_attention_heads, model.num_key_value_heads
    if model.uses_mla or tp <= kv or kv == 0:
        return 1.0
    q_o = 2 * heads  # q and o columns, in head units
    kv_cols = 2 * kv
    replicated = 2 * tp  # each rank holds one KV head of each of k and v
    return (q_o + replicated) / (q_o + kv_cols)


def own_indexer_layers(model: ModelInfo, version: str) -> tuple[bool, ...]:
    """Per layer of a sparse-MLA model: whether it builds its own indexer, so holds its
    weights and its key cache (DeepseekV32IndexerCache). From 0.33.0 the layers that reuse a
    preceding layer's top-k build none (vllm_messages.yaml indexer_shared_layers); MTP layers
    always build one, but they are the drafter's."""
    if model.indexer_layers and has_behaviour("indexer_shared_layers", version):
        return model.indexer_layers
    return (True,) * model.num_hidden_layers


def _mla_layers(model: ModelInfo, layers: range) -> int:
    if LayerKind.MLA not in model.kinds_present:  # most models: no walk over their layers
        return 0
    return sum(1 for i in layers if model.layer_kinds[i] is LayerKind.MLA)


def _mla_extra_bytes(
    model: ModelInfo, settings: Settings, roles: Mapping[str, float], layers: range
) -> float:
    """What one rank holds of ``layers``' MLA attention beyond the TP share of its weights.

    The latent down-projections (q_a_proj and kv_a_proj_with_mqa, or fused_qkv_a_proj) are
    ReplicatedLinear / MergedColumnParallelLinear(disable_tp=True): whole on every rank
    (models/deepseek_v2.py DeepseekV2MLAAttention.__init__ in every release read, 0.7.0 to
    0.34.0; minicpm3.py, kimi_linear.py alike). Where kv_b_proj is quantized, MLA's
    process_weights_after_loading keeps W_UK_T / W_UV as views of a dequantized copy of this
    rank's kv_b_proj in the activation dtype (vllm_messages.yaml mla_dequantized_kv_b);
    unquantized, they view the weight itself. Both happen inside load_model, so "Model loading
    took" counts them. Sparse MLA's indexer (wq_b, wk, weights_proj) is replicated too, its
    weights_proj (from 0.33.0 its wk as well) unquantized (vllm_messages.yaml
    indexer_wk_unquantized)."""
    count = _mla_layers(model, layers)
    if not count or model.kv_lora_rank is None or model.qk_rope_head_dim is None:
        return 0.0
    tp, hidden, latent = settings.tp, model.hidden_size, model.kv_lora_rank
    down = hidden * ((model.q_lora_rank or 0) + latent + model.qk_rope_head_dim)
    per_param = roles["attention_linear"] / max(model.params.attention_linear, 1)
    method = settings.quantization
    quantized = method and "attention_linear" not in _ROLE_SKIPS.get(method, set())
    extra = count * down * per_param * (1 - 1 / tp)
    if model.sparse_mla and model.q_lora_rank:
        # the indexer: counted in attention_linear (so TP-shared above), held whole where built
        version = settings.facts.version
        heads, dim = model.index_heads, model.index_head_dim
        params = model.q_lora_rank * heads * dim + hidden * (dim + heads)
        unquantized = hidden * heads  # weights_proj: quant_config=None
        if has_behaviour("indexer_wk_unquantized", version):
            unquantized += hidden * dim
        held = params * per_param
        if quantized:
            held += unquantized * (settings.dtype_bytes - per_param)
        own = own_indexer_layers(model, version)
        extra += sum(own[i] for i in layers) * held - count * params * per_param / tp
    if quantized and has_behaviour("mla_dequantized_kv_b", settings.facts.version):
        nope = model.qk_nope_head_dim or 128
        v_dim = model.v_head_dim or 128
        heads = model.num_attention_heads // tp
        extra += count * latent * heads * (nope + v_dim) * settings.dtype_bytes
    return extra


def local_experts(model: ModelInfo, settings: Settings) -> int:
    """Routed experts the busiest rank holds with expert parallel: the logical experts plus
    EPLB's redundant copies, split as evenly as possible over the DP x TP ranks, the first
    ranks taking one more (fused_moe/layer.py: global = num_experts + num_redundant_experts;
    fused_moe/expert_map_manager.py determine_expert_map)."""
    return math.ceil((model.num_experts + settings.redundant_experts) / settings.moe_shards)


def expert_share(model: ModelInfo, settings: Settings) -> float:
    """Share of the routed-expert weights one rank holds. Expert parallel: whole experts
    (local_experts); otherwise every expert is TP-sharded over the DP x TP ranks
    (fused_moe/config.py FusedMoEParallelConfig.make, flatten_tp_across_dp_and_pcp)."""
    if settings.expert_parallel and model.num_experts:
        return local_experts(model, settings) / model.num_experts
    return 1 / settings.moe_shards


def expert_bytes(model: ModelInfo, settings: Settings) -> float:
    """Routed-expert bytes one rank holds, over all its pipeline stage's share of layers
    (averaged over the stages)."""
    total = _role_bytes(model, settings)["expert_linear"]
    return total * expert_share(model, settings) / settings.pp


@functools.cache  # asked for per stage: the split must not cost O(pp) each time
def stage_layers(num_layers: int, pp: int) -> tuple[range, ...]:
    """vLLM's get_pp_indices: equal shares, the remainder going to the stages before last."""
    sizes = [num_layers // pp] * pp
    for i in range(2, num_layers % pp + 2):
        sizes[-i] += 1
    out, start = [], 0
    for size in sizes:
        out.append(range(start, start + size))
        start += size
    return tuple(out)


# per model: a fleet's plans (and each plan's TP searches) ask for a few layouts of it
_STAGE_BYTES: ByIdentity[float] = ByIdentity(maxsize=8192)


def stage_weight_bytes(model: ModelInfo, settings: Settings, stage: int) -> float:
    """Bytes of weights one rank of ``stage`` loads (what 'Model loading took' reports)."""
    s = settings
    batch_bound = model.sparse_mla or model.compressed_attention is not None
    # a vision tower's share reads the multimodal settings, through these two alone
    tower = (tower_loaded(model, s), encoder_data_parallel(model, s)) if model.params.vision else ()
    key = (
        stage,
        s.tp,
        s.pp,
        s.pcp,
        s.dp,
        s.dtype,
        s.quantization,
        s.expert_parallel,
        s.redundant_experts,
        s.gpu.capability,
        s.facts.version,
        s.install,
        s.cpu_offload_bytes,
        s.max_num_batched_tokens if batch_bound else 0,
        tower,
    )
    return _STAGE_BYTES.get(model, key, lambda: _stage_weight_bytes(model, settings, stage))


def _stage_weight_bytes(model: ModelInfo, settings: Settings, stage: int) -> float:
    """stage_weight_bytes, computed: of the settings above, and for a model with a vision tower
    the multimodal settings."""
    tp, pp = settings.tp, settings.pp
    if model.compressed_attention is not None:  # DeepSeek-V4: its own tensors
        return deepseek_v4_weight_bytes(
            model,
            stage_layers(model.num_hidden_layers, pp)[stage],
            tp=tp,
            local_experts=model.num_experts * expert_share(model, settings),
            dtype_bytes=settings.dtype_bytes,
            max_num_batched_tokens=settings.max_num_batched_tokens,
            first=stage == 0,
            last=stage == pp - 1,
        )
    roles = _role_bytes(model, settings)
    layers = stage_layers(model.num_hidden_layers, pp)[stage]
    sums = model.layer_param_sums
    share = (sums[layers.stop] - sums[layers.start]) / max(sums[-1], 1)
    layer_bytes = sum(roles[r] for r in _QUANTIZED_ROLES) + roles["router"]
    layer_bytes += roles["norms_and_biases"]
    attention_extra = roles["attention_linear"] * (_kv_replication(model, tp) - 1)
    dense = layer_bytes - roles["router"] - roles["norms_and_biases"] - roles["expert_linear"]
    experts = roles["expert_linear"] * expert_share(model, settings)
    sharded = (dense + attention_extra) / tp + experts
    total = share * (sharded + roles["router"] + roles["norms_and_biases"])
    total += _mla_extra_bytes(model, settings, roles, layers)
    # --cpu-offload-gb: the UVA offloader moves decoder-layer parameters to pinned host memory
    # until the budget is spent (model_executor/offloader/uva.py _maybe_offload_to_cpu via
    # make_layers); embedding and LM head stay. It stops at the first tensor past the budget,
    # so vLLM may offload up to one tensor more than this.
    total -= min(settings.cpu_offload_bytes, total)
    if model.sparse_mla:
        # the top-k index buffer the indexer fills, int32, allocated as the model is built
        # (models/deepseek_v2.py DeepseekV2Model.__init__ in 0.11.0 and 0.19.0;
        # models/deepseek_v32/nvidia/model.py in 0.33.0 and 0.34.0)
        total += settings.max_num_batched_tokens * model.index_topk * 4
    if stage == 0:
        total += roles["embedding"] / tp
    # the vision tower is built on every pipeline stage (interfaces.py _mark_tower_model)
    total += vision_weight_bytes(model, settings)
    if stage == pp - 1:
        lm_head = roles["lm_head"] or (roles["embedding"] if pp > 1 else 0.0)
        total += lm_head / tp
    total += model.rope_cache_elements * settings.dtype_bytes
    return total
