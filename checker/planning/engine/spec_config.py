"""Speculative decoding as vLLM configures it: the method, the tokens proposed per step and the
drafter the plan sizes (checker/data/vllm_speculative.yaml, config/speculative.py
SpeculativeConfig.__post_init__).

The drafter is described as a ModelInfo of its own: a draft model as read from its config; an
EAGLE head with the embedding it shares with the target taken out and its fc added; the MTP
layers of the target's own config as a model of those layers alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from checker.planning.engine.context_length import default_max_len
from checker.planning.engine.releases import pick, release
from checker.planning.engine.versions import version_facts
from checker.planning.memo import ByIdentity
from checker.schemas.inputs import EngineInput
from checker.schemas.model_info import LayerKind, ModelInfo, ParamBreakdown
from checker.schemas.yaml_source import bundled_data

_NGRAM_NAMES = ("ngram", "[ngram]")
_NO_CACHE = (LayerKind.NONE, LayerKind.LINEAR)
# EngineArgs.create_speculative_config: the short flags and the key each one sets
SHORT_FLAGS = (
    ("--spec-method", "method", "spec_method"),
    ("--spec-model", "model", "spec_model"),
    ("--spec-tokens", "num_speculative_tokens", "spec_tokens"),
)


def spec_facts() -> dict[str, Any]:
    data: dict[str, Any] = bundled_data("vllm_speculative.yaml")
    return data


# The V0 lines' flags (0.6 / 0.7 SpeculativeConfig.maybe_create_spec_config arguments), each
# with the speculative config key that later took its place (0.8 SpeculativeConfig fields)
LEGACY_FLAGS = (
    ("--speculative-model", "model", "speculative_model"),
    ("--num-speculative-tokens", "num_speculative_tokens", "num_speculative_tokens"),
    (
        "--speculative-draft-tensor-parallel-size",
        "draft_tensor_parallel_size",
        "speculative_draft_tensor_parallel_size",
    ),
    ("--speculative-max-model-len", "max_model_len", "speculative_max_model_len"),
    ("--speculative-model-quantization", "quantization", "speculative_model_quantization"),
    ("--ngram-prompt-lookup-max", "prompt_lookup_max", "ngram_prompt_lookup_max"),
    ("--ngram-prompt-lookup-min", "prompt_lookup_min", "ngram_prompt_lookup_min"),
)


def legacy_config(engine: EngineInput) -> dict[str, Any] | None:
    """The 0.6 / 0.7 flags as one speculative config; None when neither --speculative-model
    nor --num-speculative-tokens is given (maybe_create_spec_config returns None then, the
    n-gram window flags alone do nothing)."""
    if engine.speculative_model is None and engine.num_speculative_tokens is None:
        return None
    config = {key: getattr(engine, field) for _, key, field in LEGACY_FLAGS}
    return {key: value for key, value in config.items() if value is not None}


# per engine input (by identity): each plan reads it for its drafter, its spec and its key
_MERGED: ByIdentity[Mapping[str, Any] | None] = ByIdentity(maxsize=256)


def speculative_config(engine: EngineInput) -> Mapping[str, Any] | None:
    """--speculative-config with --spec-method / --spec-model / --spec-tokens merged in and
    dashes in its keys read as underscores (EngineArgs.create_speculative_config), or the 0.6 /
    0.7 flags (legacy_config); None without speculative decoding. A key given both ways keeps
    the JSON's value (VW125 says so)."""
    return _MERGED.get(engine, None, lambda: _merged_config(engine))


def _merged_config(engine: EngineInput) -> dict[str, Any] | None:
    merged = dict(engine.speculative_config) if engine.speculative_config is not None else None
    if merged is None:
        merged = legacy_config(engine)
    for _, key, field in SHORT_FLAGS:
        value = getattr(engine, field)
        if value is None:
            continue
        merged = {} if merged is None else merged
        merged.setdefault(key, value)
    if merged is None:
        return None
    return {str(k).replace("-", "_"): v for k, v in merged.items()}


def initial_method(config: Mapping[str, Any]) -> str | None:
    """The method before the draft's config is read: the one given (MTP aliases and "[ngram]"
    folded), else ngram for model "ngram", else draft_model; None when it is not a method name."""
    method, model = config.get("method"), config.get("model")
    if method is None:
        return "ngram" if model in _NGRAM_NAMES else "draft_model"
    if not isinstance(method, str):
        return None
    if method in spec_facts()["mtp_aliases"]:
        return "mtp"
    method = "ngram" if method in _NGRAM_NAMES else method
    return method if method in spec_facts()["methods"] else None


def draft_to_resolve(config: Mapping[str, Any]) -> str | None:
    """The model whose metadata the plan needs: the draft model or EAGLE head named in the
    config (an MTP config naming a model names the target's checkpoint, read like a draft)."""
    model, method = config.get("model"), initial_method(config)
    if not isinstance(model, str) or not model.strip() or model in _NGRAM_NAMES:
        return None
    return model if method in ("draft_model", "eagle", "eagle3", "mtp") else None


class SpecDecode(NamedTuple):
    """One server's speculative decoding, as sized."""

    method: str | None  # after vLLM's aliases and name detection; None: not a method
    kind: str  # none | draft_model | eagle | mtp | unsized (vllm_speculative.yaml methods)
    tokens: int | None  # num_speculative_tokens after vLLM's default (None: not given)
    draft: ModelInfo | None  # the drafter as sized; None when it has no weights or is unknown
    draft_tp: int | None  # draft_tensor_parallel_size (None: the target's)
    quantization: str | None  # the drafter's weights' method
    n_predict: int | None  # MTP layers, the reuse period of num_speculative_tokens
    draft_max_len: int | None  # the draft's own maximum when it does not share the target's
    config: Mapping[str, Any]  # the merged speculative config, for the start-up checks
    v0: bool = False  # run by the V0 engine: its release's, or V1's fallback (falls_back_to_v0)
    # V0: the draft config's model_type as maybe_create_spec_config reads it ("eagle" for a
    # name with "eagle-": EAGLEConfig), for its checks; None elsewhere or without metadata
    draft_type: str | None = None

    @property
    def uses_eagle(self) -> bool:
        return self.method in spec_facts()["uses_eagle"]

    @property
    def lookahead(self) -> int:
        """KV slots drafting reserves past the scheduled tokens
        (VllmConfig.num_lookahead_tokens)."""
        return max(self.tokens or 0, 0) if self.kind in ("eagle", "mtp", "draft_model") else 0

    @property
    def prefill_lookahead(self) -> int:
        """Prefill tokens past the computed range the drafter reads
        (VllmConfig.num_prefill_lookahead_tokens, 0.33.0): num_speculative_tokens for MTP with
        several modules (SpeculativeConfig.use_multi_module_mtp), one for the rest of the EAGLE
        family (use_eagle), none otherwise."""
        if self.multi_module_mtp:
            return max(self.tokens or 0, 0)
        return 1 if self.uses_eagle else 0

    @property
    def multi_module_mtp(self) -> bool:
        """SpeculativeConfig.use_multi_module_mtp: MTP drafting with more than one of its
        modules (min(modules, num_speculative_tokens) > 1)."""
        return self.kind == "mtp" and min(self.n_predict or 1, max(self.tokens or 0, 0)) > 1

    @property
    def decode_query_len(self) -> int:
        """VllmConfig.uniform_decode_query_len: one query plus one per draft token."""
        return 1 + max(self.tokens or 0, 0) if self.kind != "unsized" else 1


def mtp_layers(model: ModelInfo) -> int:
    """The config's MTP layers, or the model type's default where vLLM has one."""
    return model.mtp_layers or int(spec_facts()["mtp_default_layers"].get(model.model_type, 0))


def mtp_supported(model: ModelInfo) -> bool:
    """The target's config turns into an MTP draft with layers to draft with
    (SpeculativeConfig.hf_config_override; Nemotron-H only with num_nextn_predict_layers > 0)."""
    targets = spec_facts()["mtp_targets"]
    arch = model.architectures[0] if model.architectures else ""
    listed = model.model_type in targets["model_types"] or arch in targets["architectures"]
    return listed and mtp_layers(model) > 0


def _detected(method: str, name: str, draft: ModelInfo | None) -> str:
    """SpeculativeConfig.__post_init__'s detection from the draft's name and model type, which
    runs unless eagle / eagle3 / dflash / dspark was given."""
    if method in ("eagle", "eagle3", "dflash", "dspark") or draft is None:
        return method
    lowered = name.lower()
    if "eagle-" in lowered:
        return "eagle"
    if "eagle3" in lowered:
        return "eagle3"
    if "dflash" in lowered:
        return "dflash"
    if "dspark" in lowered:
        return "dspark"
    if draft.model_type in spec_facts()["mtp_aliases"] or mtp_supported(draft):
        return "mtp"
    return method


def build_spec(
    engine: EngineInput, target: ModelInfo, draft: ModelInfo | None, version: str
) -> SpecDecode | None:
    """Speculative decoding of a request; ``draft`` is the metadata of draft_to_resolve's model."""
    config = speculative_config(engine)
    if config is None:
        return None
    method = initial_method(config)
    name = config.get("model")
    if method is not None and isinstance(name, str):
        method = _detected(method, name, draft)
    kind = spec_facts()["methods"][method]["kind"] if method else "unsized"
    facts = version_facts(version)
    # a V1 line runs V0 for the config itself, or for another setting V1 does not take
    others = facts.fallback_to_v0(
        multi_step=engine.num_scheduler_steps > 1, speculative=False, lora=engine.enable_lora
    )
    v0 = facts.engine == "v0" or falls_back_to_v0(config, version) or others is not None
    if v0:
        kind = _v0_kind(kind, draft)
        since = spec_facts()["v0"]["mtp_targets"].get(target.model_type)
        if config.get("model") is None and since and release(version) >= release(str(since)):
            kind = "unsized"  # the target's own MTP layers (a V0 DeepSeek MTP worker)
    tokens = config.get("num_speculative_tokens")
    tokens = tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None
    tp = config.get("draft_tensor_parallel_size")
    sized: ModelInfo | None = None
    quant = config.get("quantization")
    quant = quant if isinstance(quant, str) else None
    n_predict = None
    if kind == "mtp":
        source = draft or target
        n_predict = mtp_layers(source) or None
        if mtp_supported(source) and n_predict:
            sized = mtp_model(source, n_predict)
            tokens = n_predict if tokens is None else tokens
    elif kind in ("eagle", "draft_model") and draft is not None and method is not None:
        facts = spec_facts()["methods"][method]
        sized = eagle_model(draft, target, facts) if kind == "eagle" else draft
        # the draft's ModelConfig: the config's method, else its checkpoint's
        # (model_executor/models/utils.py get_draft_quant_config for EAGLE heads)
        quant = quant or (draft.quant.method if draft.quant else None)
    return SpecDecode(
        method=method,
        kind=kind,
        tokens=tokens,
        draft=sized,
        draft_tp=tp if isinstance(tp, int) and not isinstance(tp, bool) else None,
        quantization=quant,
        n_predict=n_predict,
        draft_max_len=_draft_max_len(kind, sized, version, config.get("max_model_len")),
        config=config,
        v0=v0,
        draft_type=_v0_draft_type(name, draft) if v0 else None,
    )


def _v0_draft_type(name: Any, draft: ModelInfo | None) -> str | None:
    """The V0 draft config's model_type (0.6.6 / 0.7.3 maybe_create_spec_config)."""
    if isinstance(name, str) and "eagle-" in name.lower():
        return "eagle"
    return draft.model_type if draft is not None else None


def falls_back_to_v0(config: Mapping[str, Any], version: str) -> bool:
    """Whether a V1 release line runs ``config`` on its V0 engine instead
    (vllm_speculative.yaml v1_oracle: EngineArgs._is_v1_supported_oracle)."""
    takes = pick(spec_facts()["v1_oracle"], version)
    if not takes:
        return False
    method = config.get("method")
    if method:
        return method not in takes["methods"]
    return config.get("model") not in takes["models"]


def _v0_kind(kind: str, draft: ModelInfo | None) -> str:
    """What the V0 engine's SpecDecodeWorker.create_worker builds: an NGramWorker (no GPU
    memory) or a MultiStepWorker running the draft model are sized; the proposers of EAGLE,
    Medusa, MLP-speculator and DeepSeek MTP drafts are V0 models of their own the plan does not
    size (vllm_speculative.yaml v0)."""
    v0 = spec_facts()["v0"]
    if kind not in v0["sized_kinds"]:
        return "unsized"
    if draft is not None and draft.model_type in v0["unsized_model_types"]:
        return "unsized"
    return kind


def _draft_max_len(kind: str, draft: ModelInfo | None, version: str, given: Any) -> int | None:
    """The draft's max_model_len where it does not share the target's positions (a draft model,
    or a head whose RoPE is not cache-only: SpeculativeConfig.draft_shares_target_positions):
    the speculative config's max_model_len, else the draft's derived maximum
    (SpeculativeConfig._maybe_override_draft_max_model_len)."""
    if draft is None or kind not in ("draft_model", "eagle"):
        return None
    cache_only = spec_facts()["cache_only_rope_types"]
    if kind == "eagle" and all(r.rope_type in cache_only for r in draft.rope_scalings):
        return None
    if isinstance(given, int) and not isinstance(given, bool) and given > 0:
        return given
    return draft_derived_len(draft, version)


def draft_derived_len(draft: ModelInfo, version: str) -> int:
    """The draft's own maximum, derived from its config as the target's is."""
    return default_max_len(draft, version, disable_sliding_window=False)


def eagle_model(head: ModelInfo, target: ModelInfo, facts: Mapping[str, Any]) -> ModelInfo:
    """An EAGLE head as vLLM holds it (llama_eagle.py / llama_eagle3.py): its decoder layers,
    the first reading ``first_layer_inputs`` x hidden; an fc from ``fc_inputs`` x the target's
    hidden size, replicated; the embedding shared with the target
    (SpecDecodeBaseProposer._maybe_share_embeddings); its own LM head only for a reduced draft
    vocabulary, else the target's (_maybe_share_lm_head)."""
    h, hd = head.hidden_size, head.head_dim
    inputs = int(facts["fc_inputs"])
    qkv = (head.num_attention_heads + 2 * head.num_key_value_heads) * hd
    first = (int(facts["first_layer_inputs"]) - 1) * h * qkv
    own_vocab = head.draft_vocab_size
    lm_head = own_vocab * h if own_vocab and own_vocab != target.vocab_size else 0
    p = head.params
    params = p.model_copy(
        update={
            "embedding": 0,
            "lm_head": lm_head,
            "vision": 0,
            "attention_linear": p.attention_linear + first,
            "norms_and_biases": p.norms_and_biases + inputs * target.hidden_size * h,
        }
    )
    return _derived(head, params=params, layer_params=())


def mtp_model(target: ModelInfo, layers: int) -> ModelInfo:
    """The target's MTP layers as a model of their own (deepseek_mtp.py, glm4_moe_mtp.py,
    qwen3_next_mtp.py): each one decoder layer like the target's last (attention and MoE or
    dense MLP), plus eh_proj (2 x hidden -> hidden) and the enorm / hnorm / head norms; the
    embedding and LM head are the target's (shared, not loaded again)."""
    last = target.num_hidden_layers - 1
    # each MTP layer attends (hybrid targets end in state or MLP-only layers: Nemotron-H's
    # MTP layers are attention + MoE), like the target's last attention layer
    attending = [i for i, k in enumerate(target.layer_kinds) if k not in _NO_CACHE]
    source = attending[-1] if attending else last
    kind = target.layer_kinds[source] if attending else LayerKind.FULL
    moe = bool(target.moe_layers and target.moe_layers[last])
    p, h = target.params, target.hidden_size
    attends = len(attending)
    moe_count = sum(target.moe_layers) if target.moe_layers else 0
    dense_count = target.num_hidden_layers - moe_count

    def share(total: int, count: int) -> int:
        return total * layers // count if count else 0

    params = ParamBreakdown(
        attention_linear=share(p.attention_linear, attends),
        mlp_linear=0 if moe else share(p.mlp_linear, dense_count),
        expert_linear=share(p.expert_linear, moe_count) if moe else 0,
        shared_expert_linear=share(p.shared_expert_linear, moe_count) if moe else 0,
        router=share(p.router, moe_count) if moe else 0,
        norms_and_biases=share(p.norms_and_biases, target.num_hidden_layers)
        + layers * (2 * h * h + 3 * h),
    )
    return _derived(
        target,
        model_id=f"{target.model_id} (MTP)",
        num_hidden_layers=layers,
        layer_kinds=(kind,) * layers,
        kv_heads_per_layer=(target.kv_heads_of(source),) * layers
        if target.kv_heads_per_layer
        else (),
        head_dim_per_layer=(target.head_dim_of(source),) * layers
        if target.head_dim_per_layer
        else (),
        layer_params=(),
        moe_layers=(moe,) * layers if target.moe_layers else (),
        state=None,
        state_layers=(),
        rope_cache_elements=0,
        params=params,
        mtp_layers=0,
        safetensors_bytes=None,
    )


def _derived(model: ModelInfo, **update: Any) -> ModelInfo:
    """``model`` with fields replaced, validated afresh (model_copy would keep the cached
    per-layer facts of the original)."""
    return ModelInfo.model_validate({**model.model_dump(), **update})
