"""LoRA adapter buffers vLLM allocates at start-up, and its LoRA facts (data/vllm_lora.yaml).

With --enable-lora every supported layer is wrapped and gets stacked A/B buffers for each of the
max_loras GPU slots at max_lora_rank, zero-filled while the model loads, so "Model loading took"
includes them (v1/worker/gpu_model_runner.py GPUModelRunner.load_model -> load_lora_model inside
the DeviceMemoryProfiler). Shapes per rank (lora/layers, create_lora_weights):
- column-parallel linear (qkv, gate_up, MLA q_b / kv_b): A [slots, rank, input] per slice,
  B [slots, output / TP, rank] (fully sharded: A's rank / TP);
- row-parallel linear (o, down): A [slots, rank, input / TP], B [slots, output, rank]
  (fully sharded: B's output / TP);
- replicated linear (MoE router, MLA q_a / kv_a): A [slots, rank, input], B [slots, output, rank];
- fused MoE: per local expert, w1 and w3 A [rank, hidden] and B [intermediate / TP, rank], w2 A
  [rank, intermediate / TP] and B [hidden, rank] (lora/layers/fused_moe.py FusedMoEWithLoRA);
- embedding A [slots, vocab, rank] and B [slots, hidden, rank], LM head A [slots, rank, hidden]
  and B [slots, vocab, rank], only for classes that declare embedding_modules.
"""

from __future__ import annotations

from typing import Any

from checker.models.config_parser import model_type_facts
from checker.planning.engine.releases import release
from checker.planning.engine.settings import Settings
from checker.planning.memory.weights import local_experts, stage_layers
from checker.schemas.model_info import LayerKind, ModelInfo
from checker.schemas.yaml_source import bundled_data

_ATTENTION = (LayerKind.FULL, LayerKind.SLIDING, LayerKind.CHUNKED)


def lora_facts() -> dict[str, Any]:
    data: dict[str, Any] = bundled_data("vllm_lora.yaml")
    return data


def architecture(model: ModelInfo) -> str | None:
    """The vLLM class name the model loads as: its config's first architecture, else the one
    model_types.yaml names for its model_type (catalog configs without `architectures`)."""
    if model.architectures:
        return model.architectures[0]
    known: dict[str, str] = model_type_facts()["architectures"]
    return next((a for a, t in known.items() if t == model.model_type), None)


def supports_lora(model: ModelInfo) -> bool:
    """The architecture's vLLM class implements SupportsLoRA (unknown: assume it does)."""
    arch = architecture(model)
    return arch is None or arch in lora_facts()["supports_lora"]


def wraps_embeddings(model: ModelInfo) -> bool:
    return architecture(model) in lora_facts()["embedding_lora"]


def targeted(settings: Settings, component: str, layer: int | None = None) -> bool:
    """Whether --lora-target-modules selects the buffer ``component`` (vllm_lora.yaml
    target_modules) of ``layer`` (None: the embedding or LM head); every buffer without it."""
    targets = settings.lora_target_modules
    if targets is None:
        return True
    facts = lora_facts()
    entry = facts["target_modules"][component]
    module, packed = str(entry["module"]), list(entry.get("packed", []))
    if module in targets:
        return True
    if release(settings.facts.version) < release(str(facts["target_modules_packed_since"])):
        return False
    if any(child in targets for child in packed):
        return True
    # a full module name selects that one runtime module (model.layers.3.self_attn.qkv_proj,
    # model.embed_tokens); a packed child's full name selects nothing: vLLM compares the runtime
    # module's full name, and a child by its short name only
    here = f"layers.{layer}." if layer is not None else None
    return any(
        t.rsplit(".", 1)[-1] == module and (here in t if here else "layers." not in t)
        for t in targets
        if "." in t
    )


class _Shapes:
    """Elements of one adapter slot's buffers, per rank."""

    def __init__(self, settings: Settings, layer: int | None = None) -> None:
        self.r, self.tp, self.fs = settings.lora_rank, settings.tp, settings.lora_fully_sharded
        self.settings, self.layer = settings, layer

    def on(self, component: str) -> float:
        """1 where --lora-target-modules keeps ``component`` of this layer, else 0."""
        return 1.0 if targeted(self.settings, component, self.layer) else 0.0

    def column(self, inp: int, out_per_rank: float, slices: int = 1) -> float:
        a_rank = self.r / self.tp if self.fs else self.r
        return slices * a_rank * inp + out_per_rank * self.r

    def row(self, inp: int, out: int) -> float:
        return self.r * inp / self.tp + (out / self.tp if self.fs else out) * self.r

    def replicated(self, inp: int, out: int) -> float:
        return self.r * (inp + out)


class _BiasShapes(_Shapes):
    """--enable-lora-bias (0.6 .. 0.10 lora/layers.py BaseLinearLayerWithLoRA /
    MergedColumnParallelLinearWithLoRA.create_lora_weights: lora_bias_stacked [slots, 1, out]
    per slice, out being B's output rows): one element per B output row, no A; the embedding
    and fused-MoE buffers have none."""

    def __init__(self, settings: Settings, layer: int | None = None) -> None:
        super().__init__(settings, layer)
        self.r = 0

    def column(self, inp: int, out_per_rank: float, slices: int = 1) -> float:
        return out_per_rank

    def row(self, inp: int, out: int) -> float:
        return out / self.tp if self.fs else float(out)

    def replicated(self, inp: int, out: int) -> float:
        return float(out)


def _attention(model: ModelInfo, layer: int, s: _Shapes) -> float:
    h, heads = model.hidden_size, model.num_attention_heads
    if model.layer_kinds[layer] is LayerKind.MLA:
        nope, rope = model.qk_nope_head_dim or 0, model.qk_rope_head_dim or 0
        v = model.v_head_dim or model.head_dim
        kv_rank = model.kv_lora_rank or 0
        q_in = model.q_lora_rank or h
        q = s.on("mla_q_a") * s.replicated(h, model.q_lora_rank) if model.q_lora_rank else 0.0
        q += s.on("mla_q_b") * s.column(q_in, heads * (nope + rope) / s.tp)
        kv = s.on("mla_kv_a") * s.replicated(h, kv_rank + rope)
        kv += s.on("mla_kv_b") * s.column(kv_rank, heads * (nope + v) / s.tp)
        return q + kv + s.on("o") * s.row(heads * v, h)
    if model.layer_kinds[layer] not in _ATTENTION:
        return 0.0
    d = model.head_dim
    kv_per_rank = max(model.kv_heads_of(layer) / s.tp, 1) * d  # replicated past the KV heads
    qkv = s.on("qkv") * s.column(h, heads * d / s.tp + 2 * kv_per_rank, slices=3)
    return qkv + s.on("o") * s.row(heads * d, h)


def _mlp(model: ModelInfo, settings: Settings, layer: int, s: _Shapes) -> float:
    h = model.hidden_size
    if not (model.moe_layers and model.moe_layers[layer]):
        dense = model.intermediate_size
        if not dense:
            return 0.0
        return s.on("gate_up") * s.column(h, 2 * dense / s.tp, slices=2) + s.on("down") * s.row(
            dense, h
        )
    experts, inter = model.num_experts, model.moe_intermediate_size / settings.moe_shards
    if settings.expert_parallel:
        experts, inter = local_experts(model, settings), float(model.moe_intermediate_size)
    w13_a = s.r / s.tp if s.fs else float(s.r)
    w2_b = h / s.tp if s.fs else float(h)
    per_expert = 2 * (w13_a * h + inter * s.r) + s.r * inter + w2_b * s.r
    total = s.on("experts") * experts * per_expert
    total += s.on("router") * s.replicated(h, model.num_experts)
    moe_count = sum(model.moe_layers)
    if model.params.shared_expert_linear and moe_count:
        shared = model.params.shared_expert_linear // (3 * h * moe_count)
        total += s.on("gate_up") * s.column(h, 2 * shared / s.tp, slices=2)
        total += s.on("down") * s.row(shared, h)
    return total


def _layer_elements(
    model: ModelInfo, settings: Settings, stage: int, shapes: type[_Shapes]
) -> float:
    """Elements of one adapter slot's buffers in the decoder layers of ``stage``."""
    s = shapes(settings)
    elements = 0.0
    for i in stage_layers(model.num_hidden_layers, settings.pp)[stage]:
        layer = shapes(settings, i) if settings.lora_target_modules is not None else s
        elements += _attention(model, i, layer) + _mlp(model, settings, i, layer)
    return elements


def lora_buffer_bytes(model: ModelInfo, settings: Settings, stage: int) -> float:
    """Bytes of LoRA buffers one rank of ``stage`` allocates with its weights."""
    if not settings.lora_slots:
        return 0.0
    s = _Shapes(settings)
    elements = _layer_elements(model, settings, stage, _Shapes)
    if settings.lora_bias:
        elements += _layer_elements(model, settings, stage, _BiasShapes)
    if wraps_embeddings(model):
        vocab, h = model.vocab_size, model.hidden_size
        if stage == 0:
            elements += s.on("embed") * s.r * (vocab + h)
        if stage == settings.pp - 1:
            elements += s.on("lm_head") * s.r * (h + vocab)
    return elements * settings.lora_slots * settings.lora_dtype_bytes


def lora_costs(model: ModelInfo, settings: Settings, graphs: float) -> dict[str, str]:
    """What --enable-lora costs, for --explain; ``graphs`` is the CUDA-graph estimate."""
    if not settings.lora_slots:
        return {}
    buffers = lora_buffer_bytes(model, settings, 0) / float(1 << 30)
    extra = graphs * (settings.graph_sets - 1) / settings.graph_sets / float(1 << 30)
    targets = settings.lora_target_modules
    only = f" (only for {', '.join(targets)}: --lora-target-modules)" if targets else ""
    if settings.lora_bias:
        bias = _layer_elements(model, settings, 0, _BiasShapes) * settings.lora_slots
        only += f", {bias * settings.lora_dtype_bytes / float(1 << 20):.1f} MiB of them "
        only += "LoRA biases (--enable-lora-bias)"
    return {
        "--enable-lora": f"{settings.lora_slots} adapter slots of rank {settings.lora_rank}: "
        f"+{buffers:.2f} GiB of LoRA buffers per GPU{only} (loaded with the weights); "
        + (
            f"{settings.graph_sets} sets of CUDA graphs, +{extra:.2f} GiB (estimated)"
            if settings.graph_sets > 1
            else "no extra CUDA graphs (the V0 engine captures one set)"
        )
    }
