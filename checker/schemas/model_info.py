"""Normalised facts about a model architecture, read from a real config.json.

Everything the engine needs to size weights, KV cache and activations lives here, so the
planner never guesses an architecture from a parameter count.
"""

import itertools
from enum import Enum
from functools import cached_property

from checker.schemas.section import ConfigDict, Field, Section


class LayerKind(str, Enum):
    FULL = "full"  # full causal attention
    SLIDING = "sliding"  # sliding-window attention (Gemma-2/3, gpt-oss, Mistral v0.1)
    CHUNKED = "chunked"  # chunked-local attention (Llama-4)
    MLA = "mla"  # multi-head latent attention (DeepSeek-V2/V3, Kimi)
    LINEAR = "linear"  # linear attention / gated delta net / mamba: fixed state per request
    NONE = "none"  # no token mixer with a cache (attention replaced by a no-op or an MLP)


class StateKind(str, Enum):
    """vLLM's MambaStateShapeCalculator recipe a model's recurrent state follows."""

    MAMBA1 = "mamba1"  # Jamba
    MAMBA2 = "mamba2"  # Nemotron-H, Granite-4.0-H, Falcon-H1
    GDN = "gdn"  # gated delta net: Qwen3-Next, Qwen3.5
    SHORT_CONV = "short_conv"  # LFM2
    KDA = "kda"  # Kimi delta attention: Kimi-Linear
    LINEAR_ATTENTION = "linear_attention"  # MiniMax-Text-01 / M1 lightning attention


class StateInfo(Section):
    """The config's figures for one mamba / linear-attention layer's per-request state
    (vLLM's get_mamba_state_shape_from_config inputs); tensor parallelism splits it later."""

    model_config = ConfigDict(extra="forbid")

    kind: StateKind
    intermediate_size: int = Field(default=0, ge=0, description="mamba1/mamba2/short-conv channels")
    n_groups: int = Field(default=0, ge=0)
    num_heads: int = Field(default=0, ge=0, description="mamba2 / KDA heads; GDN value heads")
    head_dim: int = Field(default=0, ge=0, description="mamba2 / KDA head dim; GDN value head dim")
    state_size: int = Field(default=0, ge=0)
    conv_kernel: int = Field(default=1, ge=1)
    num_k_heads: int = Field(default=0, ge=0)
    head_k_dim: int = Field(default=0, ge=0)
    ssm_dtype: str | None = Field(
        default=None, description="The config's own SSM state dtype, if any"
    )
    ssm_dtype_rule: str = Field(
        default="auto", description="auto | config (Qwen3.5) | nemotron_h: how vLLM picks it"
    )
    all_mode: bool = Field(
        default=False, description="The model supports Mamba prefix caching 'all' mode (0.19)"
    )
    chunk_size: int = Field(default=2048, gt=0, description="vLLM's get_mamba_chunk_size")


class QuantInfo(Section):
    """The checkpoint's quantization_config, reduced to what sizing needs."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(description="vLLM method name: fp8, awq, gptq, compressed-tensors, ...")
    weight_bits: float = Field(
        default=16.0, gt=0, le=32, description="Bits per quantized linear weight"
    )
    group_size: int | None = Field(
        default=None, description="Scale group size; None = per channel/tensor"
    )
    has_zero_points: bool = False
    activation_bits: int | None = None
    skipped_modules: tuple[str, ...] = ()
    detail: str = ""
    kv_cache_dtype: str | None = Field(
        default=None,
        description="What --kv-cache-dtype auto becomes: the checkpoint's KV quantization",
    )


class RopeScaling(Section):
    """One rope_parameters (transformers v5) / rope_scaling (v4) entry, per layer type if nested."""

    model_config = ConfigDict(extra="forbid")

    rope_type: str
    factor: float | None = None
    original_max_position_embeddings: int | None = None


class ParamBreakdown(Section):
    """Parameter counts by role. Linear weights may be quantized; the rest stay in model dtype."""

    model_config = ConfigDict(extra="forbid")

    embedding: int = 0
    lm_head: int = 0  # 0 when tied to the embedding
    attention_linear: int = 0  # q/k/v/o (or MLA projections) over all layers
    mlp_linear: int = 0  # dense MLP projections over all dense layers
    expert_linear: int = 0  # routed-expert projections over all MoE layers
    shared_expert_linear: int = 0
    router: int = 0
    linear_attention: int = 0  # mamba / GDN mixer weights
    norms_and_biases: int = 0
    vision: int = 0  # vision tower + projector, kept in model dtype

    @property
    def total(self) -> int:
        # the fields' own values: model_dump would rebuild a dict on every (frequent) call
        return sum(self.__dict__.values())


class VisionInfo(Section):
    """The config's vision tower figures vLLM's encoder profile run depends on
    (checker/data/vllm_multimodal.yaml says how each family uses them)."""

    model_config = ConfigDict(extra="forbid")

    family: str = Field(description="The config's top-level model_type: gemma3, qwen2_5_vl, ...")
    hidden_size: int = Field(gt=0, description="The tower's width (embed_dim for Qwen2-VL)")
    intermediate_size: int = Field(gt=0)
    depth: int = Field(gt=0)
    patch_size: int = Field(gt=0)
    image_size: int = Field(default=0, ge=0, description="Fixed input size (SigLIP); 0 = dynamic")
    num_channels: int = Field(default=3, gt=0)
    temporal_patch_size: int = Field(default=1, gt=0)
    spatial_merge_size: int = Field(default=1, gt=0)
    tokens_per_image: int = Field(default=0, ge=0, description="Fixed tokens per image (Gemma-3)")
    # the weights of the tower's linear layers, which a quantization method may store compactly
    # (checker.models.param_count.VisionParams); the rest of params.vision stays in model dtype
    attention_linear: int = Field(
        default=0, ge=0, description="Attention projection weights, all blocks"
    )
    mlp_linear: int = Field(default=0, ge=0, description="MLP weights, all blocks")
    projector_linear: int = Field(default=0, ge=0, description="The projector's linear weights")


class CompressedAttention(Section):
    """DeepSeek-V4's attention (models/deepseek_v4/attention.py): every layer keeps a
    sliding-window cache; layers whose KV is compressed (ratio 4 or 128) add a compressed MLA
    cache and a compressor state, and ratio-4 layers an indexer with its own cache and state."""

    model_config = ConfigDict(extra="forbid")

    ratios: tuple[int, ...] = Field(
        description="Per decoder layer: its KV compression ratio (1 = sliding window only)"
    )
    sliding_window: int = Field(gt=0, description="The sliding-window cache's window")
    head_dim: int = Field(gt=0, description="Width of one cached KV row (head_dim)")
    index_head_dim: int = Field(gt=0, description="Width of the indexer's keys")
    # what its weights and load-time buffers are built from (models/deepseek_v4/nvidia/model.py)
    index_n_heads: int = Field(gt=0, description="The indexer's query heads")
    index_topk: int = Field(gt=0, description="Tokens the indexer keeps (the top-k buffer)")
    o_lora_rank: int = Field(gt=0, description="Rank of the grouped output projection")
    o_groups: int = Field(gt=0, description="Groups of the output projection")
    hc_mult: int = Field(gt=0, description="Hyper-connection streams")
    hash_layers: int = Field(ge=0, description="Leading layers routed by a token hash table")
    shared_experts: int = Field(ge=0, description="Shared experts per MoE layer")
    expert_dtype: str = Field(description="fp4 (MXFP4 experts) or fp8 (block fp8 experts)")
    rope_positions: int = Field(gt=0, description="Rows of each YaRN cos/sin cache")


class ModelInfo(Section):
    model_config = ConfigDict(extra="forbid")

    model_id: str
    source: str = Field(description="local | catalog | hub")
    source_detail: str = Field(default="", description="Path, catalog provenance or Hub revision")
    architectures: tuple[str, ...] = ()
    model_type: str = ""
    torch_dtype: str | None = Field(
        default=None, description="Checkpoint dtype from config: bfloat16, ..."
    )

    hidden_size: int = Field(gt=0)
    num_hidden_layers: int = Field(gt=0)
    # 0 for attention-free models (Mamba, Mamba-2, FalconMamba): vLLM's ModelConfig reads
    # num_attention_heads as 0 when the config has none, and get_num_kv_heads / get_head_size
    # return 0 for IsAttentionFree classes (config/model.py)
    num_attention_heads: int = Field(ge=0)
    num_key_value_heads: int = Field(ge=0)
    head_dim: int = Field(ge=0, description="From the config when present")
    v_head_dim: int | None = None
    intermediate_size: int = Field(default=0, ge=0)
    vocab_size: int = Field(gt=0)
    tie_word_embeddings: bool = False

    max_position_embeddings: int | None = None
    config_max_len: int = Field(
        gt=0, description="The smallest length key of the config (2048 without one), before RoPE"
    )
    max_len_key: str | None = Field(default=None, description="The key config_max_len came from")
    original_max_position_embeddings: int | None = Field(
        default=None, description="Top-level key (Phi-3): vLLM's default length for LongRoPE"
    )
    rope_scalings: tuple[RopeScaling, ...] = ()
    rope_scalings_v4: tuple[RopeScaling, ...] | None = Field(
        default=None,
        description="RoPE as vLLM reads it under transformers v4, where --hf-overrides' "
        "rope_scaling is not read back; None when it is the same",
    )
    uses_rope: bool = Field(
        default=True, description="The config has RoPE parameters (rope_theta, ...)"
    )

    layer_kinds: tuple[LayerKind, ...] = Field(description="One entry per decoder layer")
    kv_heads_per_layer: tuple[int, ...] = Field(
        default=(),
        description="Only for models whose layers differ (Nemotron-NAS, Gemma-4); else empty",
    )
    head_dim_per_layer: tuple[int, ...] = Field(
        default=(),
        description="Only for models whose layers differ (Gemma-4 global layers); else empty",
    )
    layer_params: tuple[int, ...] = Field(default=(), description="Parameters per decoder layer")
    sliding_window: int | None = None
    attention_chunk_size: int | None = None

    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    qk_nope_head_dim: int | None = None
    q_lora_rank: int | None = None

    num_experts: int = 0
    num_experts_per_tok: int = 0
    moe_intermediate_size: int = 0
    moe_layers: tuple[bool, ...] = Field(
        default=(), description="Per layer: routed experts or dense MLP"
    )
    kv_shared_layers: tuple[bool, ...] = Field(
        default=(),
        description="Per layer: reads an earlier layer's KV cache and allocates none "
        "(num_kv_shared_layers: Gemma-3n, Gemma-4); empty = none shared",
    )
    state: StateInfo | None = Field(default=None, description="Recurrent state of the state layers")
    attention_free: bool = Field(
        default=False,
        description="An IsAttentionFree vLLM class (Mamba, Mamba-2, FalconMamba): no layer "
        "attends and vLLM does not treat it as a hybrid",
    )
    state_layers: tuple[bool, ...] = Field(
        default=(), description="Per layer: holds a recurrent state; empty = the LINEAR layers"
    )
    unmodeled_layer_kinds: tuple[str, ...] = Field(
        default=(), description="Layer kinds the config names that are sized as full attention"
    )
    rope_cache_elements: int = Field(
        default=0, description="cos/sin cache vLLM keeps beside the weights"
    )
    mtp_layers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Next-token-prediction layers (num_nextn_predict_layers)",
    )
    draft_vocab_size: int | None = Field(
        default=None, gt=0, description="An EAGLE3 head's reduced vocabulary (its own LM head)"
    )

    quant: QuantInfo | None = None
    params: ParamBreakdown
    safetensors_bytes: int | None = Field(
        default=None, description="Exact tensor bytes when headers read"
    )
    is_multimodal: bool = False
    vision: VisionInfo | None = Field(
        default=None, description="The vision tower, when the config has one"
    )
    supports_pp: bool = True
    custom_code: bool = Field(
        default=False, description="The config maps classes to remote code (auto_map)"
    )
    sparse_mla: bool = Field(
        default=False, description="MLA with a sparse attention indexer (index_topk: DeepSeek-V3.2)"
    )
    indexer_token_bytes: int = Field(
        default=0,
        ge=0,
        description="Bytes per token of each MLA layer's sparse-indexer key cache (132 for "
        "DeepSeek-V3.2's 128-dim keys); 0 = no indexer",
    )
    index_topk: int = Field(
        default=0, ge=0, description="Keys each query attends to past the sparse indexer; 0 = dense"
    )
    index_heads: int = Field(
        default=0, ge=0, description="The sparse indexer's heads (index_n_heads)"
    )
    index_head_dim: int = Field(default=0, ge=0, description="The sparse indexer's head size")
    indexer_layers: tuple[bool, ...] = Field(
        default=(),
        description="Per layer: builds its own sparse indexer in releases where layers share "
        "one (GLM-5.2's indexer_types); empty = every MLA layer builds one",
    )
    compressed_attention: CompressedAttention | None = Field(
        default=None, description="DeepSeek-V4's compressed sparse attention; None = another model"
    )

    @cached_property
    def kinds_present(self) -> frozenset[LayerKind]:
        """The distinct layer kinds (models are planned often; layers are many)."""
        return frozenset(self.layer_kinds)

    @cached_property
    def state_layer_flags(self) -> tuple[bool, ...]:
        """Per layer: keeps a recurrent state (a MambaSpec in vLLM)."""
        if self.state is None:
            return (False,) * len(self.layer_kinds)
        return self.state_layers or tuple(k is LayerKind.LINEAR for k in self.layer_kinds)

    @cached_property
    def cache_layer_count(self) -> int:
        """Layers that attend over a KV cache (not linear/mamba, not attention-free)."""
        return sum(1 for k in self.layer_kinds if k not in (LayerKind.NONE, LayerKind.LINEAR))

    @cached_property
    def kv_layers(self) -> tuple[int, ...]:
        """The layers that keep KV pages (keeps_kv), in order."""
        return tuple(i for i in range(len(self.layer_kinds)) if self.keeps_kv(i))

    @cached_property
    def layer_param_sums(self) -> tuple[int, ...]:
        """Running sums of layer_params from 0 (one parameter a layer without them): a range
        of layers' parameters in two look-ups."""
        per_layer = self.layer_params or (1,) * self.num_hidden_layers
        return (0, *itertools.accumulate(per_layer))

    @cached_property
    def moe_layer_sums(self) -> tuple[int, ...]:
        """Running counts of the layers with routed experts (moe_layers) from 0: a range of
        layers' count in two look-ups."""
        return (0, *itertools.accumulate(int(flag) for flag in self.moe_layers))

    @cached_property
    def attending_layer_sums(self) -> tuple[int, ...]:
        """Running counts of the layers that attend (neither attention-free nor linear) from 0."""
        quiet = (LayerKind.NONE, LayerKind.LINEAR)
        return (0, *itertools.accumulate(int(k not in quiet) for k in self.layer_kinds))

    def keeps_kv(self, layer: int) -> bool:
        """Whether vLLM allocates KV pages for ``layer`` (v1/worker/gpu_model_runner.py
        get_kv_cache_spec skips layers with a kv_sharing_target_layer_name)."""
        if self.layer_kinds[layer] in (LayerKind.NONE, LayerKind.LINEAR):
            return False
        return not (self.kv_shared_layers and self.kv_shared_layers[layer])

    # cached: the plans ask each of these thousands of times a fleet (a field read after)
    @cached_property
    def param_count(self) -> int:
        return self.params.total

    @cached_property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @cached_property
    def uses_mla(self) -> bool:
        return LayerKind.MLA in self.kinds_present

    def head_dim_of(self, layer: int) -> int:
        """Head size of one layer (Gemma-4's full-attention layers use global_head_dim)."""
        if self.head_dim_per_layer:
            return self.head_dim_per_layer[layer]
        return self.head_dim

    def kv_heads_of(self, layer: int) -> int:
        """KV heads of one layer (the layers of Nemotron-NAS and Gemma-4 differ)."""
        if self.kv_heads_per_layer:
            return self.kv_heads_per_layer[layer]
        return self.num_key_value_heads
