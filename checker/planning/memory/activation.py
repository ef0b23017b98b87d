"""Memory vLLM's profiling run adds on top of the weights: activation peak, non-torch memory,
and the CUDA-graph estimate. These model runtime behaviour, so they are labelled estimates.

V1 profiles one forward pass of max_num_batched_tokens tokens, then the sampler on
min(max_num_seqs, tokens) rows of logits (last pipeline stage only); the peak is the larger.
V0 profiles max_num_batched_tokens too, which without chunked prefill is max_model_len.
"""

from __future__ import annotations

import functools
from typing import Any

from checker.planning.engine.releases import build_has, build_label, has_behaviour, pick, release
from checker.planning.engine.runner import v2_estimates_cudagraphs
from checker.planning.engine.settings import Settings, nvlink_reach
from checker.planning.engine.spec_config import spec_facts
from checker.planning.kvcache.deepseek_v4 import profile_reservations
from checker.planning.memo import ByIdentity
from checker.planning.memory.all_reduce import freed_by_disabling
from checker.planning.memory.draft import draft_layer_count, draft_settings, drafter
from checker.planning.memory.multimodal import encoder_profile
from checker.planning.memory.weights import stage_layers
from checker.schemas.enums import Interconnect
from checker.schemas.model_info import ModelInfo
from checker.schemas.yaml_source import bundled_data

GIB = float(1 << 30)


# per model: each plan and TP tried asks twice (the profile's forward pass, the largest graph)
_PEAK_PER_TOKEN: ByIdentity[float] = ByIdentity(maxsize=4096)


def forward_peak_bytes(model: ModelInfo, settings: Settings, tokens: int, stage: int) -> float:
    """Largest set of live tensors inside one decoder layer for ``tokens`` tokens."""
    key = (stage, settings.pp, settings.tp, settings.dtype)
    per_token = _PEAK_PER_TOKEN.get(model, key, lambda: _peak_per_token(model, settings, stage))
    return tokens * settings.dtype_bytes * per_token


def _peak_per_token(model: ModelInfo, settings: Settings, stage: int) -> float:
    """forward_peak_bytes per token, in elements of the model dtype: of the stage's layers,
    the TP size and the dtype."""
    b, tp, hidden = settings.dtype_bytes, settings.tp, model.hidden_size
    residual = 3 * hidden  # residual, hidden states and normalised input live across the MLP
    layers = stage_layers(model.num_hidden_layers, settings.pp)[stage]
    # Layers differ only by MLP kind and whether they attend: size each kind once.
    if model.moe_layers:
        moe = model.moe_layer_sums[layers.stop] - model.moe_layer_sums[layers.start]
        dense = len(layers) - moe
    else:
        moe, dense = 0, 1  # every layer dense (and a stage without layers too)
    sums = model.attending_layer_sums
    attends = sums[layers.stop] > sums[layers.start]
    per_token = [0.0]
    if moe:
        inter = model.moe_intermediate_size / tp
        top = max(model.num_experts_per_tok, 1)
        router = 4 * model.num_experts / b  # fp32 router logits, in dtype units
        per_token.append(top * (3 * inter + hidden) + residual + router)
    if dense and model.intermediate_size:
        per_token.append(3 * model.intermediate_size / tp + residual)
    if attends:
        q = model.num_attention_heads * model.head_dim / tp
        kv = 2 * max(1, model.num_key_value_heads // tp) * model.head_dim
        per_token.append(q + kv + residual)
    return max(per_token)


def _sampler_facts() -> dict[str, Any]:
    data: dict[str, Any] = bundled_data("vllm_sampler.yaml")
    return data


def _sampler_path(settings: Settings, rows: int, *, profile: bool = True) -> dict[str, Any]:
    """The path ``settings``' release takes with ``rows`` requests in the dummy sampler run of
    the profile (or, ``profile`` False, of the warm-up after the KV cache, which samples with
    every feature on both runners) (data/vllm_sampler.yaml)."""
    v2 = profile and settings.runner.v2
    return _release_sampler_path(settings.facts.version, settings.install, rows, v2)


@functools.lru_cache(maxsize=1024)  # pure; every plan (and every TP tried) asks
def _release_sampler_path(version: str, install: str, rows: int, v2: bool) -> dict[str, Any]:
    facts = _sampler_facts()
    v2_path = pick(facts["model_runner_v2"], version) if v2 else None
    if v2_path and v2_path in facts["paths"]:
        found_v2: dict[str, Any] = facts["paths"][v2_path]
        return found_v2
    table: dict[str, dict[str, Any]] = facts["top_k_top_p"]
    # Releases before the first key run V0's sampler, which activation_bytes sizes itself.
    entry = pick(table, version) or table[min(table, key=release)]
    path = entry["path"] if rows >= int(entry.get("min_rows", 0)) else entry["small_path"]
    if "with_flashinfer" in entry and build_has("flashinfer", version, install):
        path = entry["with_flashinfer"]
    found: dict[str, Any] = facts["paths"][path]
    return found


def sampler_bytes_per_logit(settings: Settings, rows: int, *, profile: bool = True) -> int:
    """Bytes per (request x vocabulary entry) the dummy sampler run holds at its peak beyond
    the model-dtype logits."""
    return int(_sampler_path(settings, rows, profile=profile)["bytes_per_logit"])


def _sampler_run_bytes(
    model: ModelInfo, settings: Settings, rows: int, *, profile: bool = True
) -> float:
    per_logit = settings.dtype_bytes + sampler_bytes_per_logit(settings, rows, profile=profile)
    return rows * model.vocab_size * per_logit


def sampler_costs(model: ModelInfo, settings: Settings) -> dict[str, str]:
    """What the dummy sampler runs cost and which model runner runs them, for --explain
    (subject -> words)."""
    if settings.is_v0:
        return {}
    rows = min(settings.max_num_seqs, settings.max_num_batched_tokens)
    runner = settings.runner
    words = {"model runner": f"{runner.name}: {runner.reason}"}
    if (
        runner.v2
        and settings.cudagraph_sizes
        and not v2_estimates_cudagraphs(settings.facts.version)
    ):
        words["model runner"] += (
            "; its profile_cudagraph_memory returns 0, so no CUDA-graph estimate is subtracted"
        )
    for subject, profile in (("sampler profile run", True), ("sampler warm-up", False)):
        per_logit = settings.dtype_bytes + sampler_bytes_per_logit(settings, rows, profile=profile)
        gib = _sampler_run_bytes(model, settings, rows, profile=profile) / GIB
        where = (
            "the profile run (the activation peak is the larger of it and the forward pass)"
            if profile
            else "the warm-up after the KV cache and CUDA graphs"
        )
        words[subject] = (
            f"{rows:,} requests x {model.vocab_size:,} vocabulary entries x {per_logit} bytes "
            f"({_sampler_path(settings, rows, profile=profile)['label']}, vLLM "
            f"{settings.facts.version} as {build_label(settings.install)}): {gib:.2f} GiB in "
            + where
        )
    return words


def sampler_peak_bytes(model: ModelInfo, settings: Settings, tokens: int) -> float:
    rows = min(settings.max_num_seqs, tokens)
    kept_hidden = tokens * model.hidden_size * settings.dtype_bytes
    return _sampler_run_bytes(model, settings, rows) + kept_hidden


def sampler_warmup_bytes(model: ModelInfo, settings: Settings) -> float:
    """vLLM warms the sampler up after the KV cache and CUDA graphs are allocated
    (gpu_worker.py Worker.compile_or_warm_up_model): V1 with the profile's dummy sampler run,
    V2 (v1/worker/gpu/warmup.py warmup_kernels) with min(max_num_seqs, tokens) requests whose
    SamplingParams.for_sampler_warmup() take the fp32 logits and top-k/top-p path."""
    rows = min(settings.max_num_seqs, settings.max_num_batched_tokens)
    return _sampler_run_bytes(model, settings, rows, profile=False)


def draft_peak_bytes(settings: Settings, stage: int) -> float:
    """The drafter's forward in the profile run (GPUModelRunner._dummy_run calls
    drafter.dummy_run with the same tokens) while the target's hidden states it reads stay
    alive: the last layer's, or EAGLE3's auxiliary layers' (fc_inputs of them)."""
    draft = drafter(settings, stage)
    spec = settings.spec
    # V0 profiles the scorer alone (SpecDecodeWorker.determine_num_available_blocks)
    if draft is None or spec is None or settings.is_v0:
        return 0.0
    tokens = settings.max_num_batched_tokens
    peak = forward_peak_bytes(draft, draft_settings(settings), tokens, 0)
    kept = 0 if spec.kind == "draft_model" else 1
    if spec.kind == "eagle" and spec.method:
        kept = int(spec_facts()["methods"][spec.method]["target_states"])
    return peak + kept * tokens * draft.hidden_size * settings.dtype_bytes


def activation_bytes(model: ModelInfo, settings: Settings, stage: int) -> float:
    tokens = settings.max_num_batched_tokens
    reserved, transient = 0.0, 0.0
    if model.compressed_attention is not None:  # DeepSeek-V4's gather workspaces
        reserved, transient = profile_reservations(
            model.compressed_attention,
            max_model_len=settings.max_model_len,
            max_num_batched_tokens=tokens,
        )
    peak = forward_peak_bytes(model, settings, tokens, stage) + reserved + transient
    peak = max(peak, draft_peak_bytes(settings, stage))
    if stage == settings.pp - 1:
        if settings.is_v0:
            rows = min(int(settings.facts.common["v0_sampler_max_num_seqs"]), tokens)
            sampler = rows * model.vocab_size * (settings.dtype_bytes + 4)
            peak = max(peak, sampler)
        else:
            peak = max(peak, sampler_peak_bytes(model, settings, tokens) + reserved)
    return _with_encoder(model, settings, stage, peak) + _pipeline_receive_bytes(
        model, settings, stage
    )


def _pipeline_receive_bytes(model: ModelInfo, settings: Settings, stage: int) -> float:
    """A later pipeline stage keeps the buffers it receives the hidden states and residual of
    max_num_batched_tokens tokens into (make_empty_intermediate_tensors: the V1 runner's
    GPUModelRunner._dummy_run, Model Runner V2's load_model), still allocated after the
    profile run."""
    if stage == 0 or settings.is_v0:
        return 0.0
    return 2 * settings.max_num_batched_tokens * model.hidden_size * settings.dtype_bytes


def _with_encoder(model: ModelInfo, settings: Settings, stage: int, text_peak: float) -> float:
    """The profile peak with the multimodal encoder run first (GPUModelRunner.profile_run): the
    encoder's own peak, or the text run's on top of the cached embeddings (and, in the V1
    runner, the batched pixel inputs, a local of profile_run)."""
    if model.vision is None:  # most models: no encoder (encoder_profile is None)
        return text_peak
    mrv2 = has_behaviour("mm_encoder_profile_first_stage_only", settings.facts.version)
    profile = encoder_profile(model, settings) if stage == 0 or not mrv2 else None
    if profile is None:
        return text_peak
    held = profile.outputs + (0.0 if mrv2 else profile.inputs)
    return max(profile.encoder_peak, text_peak + held)


def non_torch_gib(settings: Settings) -> float:
    """The non-torch term: the release's measured figure (with custom all-reduce running where
    it would), less what --disable-custom-all-reduce does not allocate."""
    return _measured_non_torch_gib(settings) - freed_by_disabling(settings).non_torch / GIB


def _measured_non_torch_gib(settings: Settings) -> float:
    table = settings.facts.non_torch_gib
    if settings.tp * settings.pcp > 1 or settings.dp > 1:  # NCCL: TP / PCP / DP-EP groups
        # more than two PCIe-only GPUs: custom all-reduce off (custom_all_reduce.py
        # CustomAllreduce.__init__) and no NVLink-only NCCL buffers (data/vllm_versions.yaml)
        pcie = settings.interconnect is Interconnect.PCIE and settings.tp > 2
        if pcie and table.tensor_parallel_pcie is not None:
            return table.tensor_parallel_pcie
        return table.tensor_parallel
    if settings.pp > 1:
        return table.pipeline
    return table.single


def interconnect_costs(settings: Settings) -> dict[str, str]:
    """What the TP group's link costs in non-torch memory, and where the link came from."""
    if settings.tp * settings.pcp == 1 and settings.dp == 1:
        return {}
    table = settings.facts.non_torch_gib
    link, gpu, tp = settings.interconnect, settings.gpu, settings.tp
    bridges = " or ".join(str(n) for n in gpu.nvlink_bridge_gpus)
    if settings.interconnect_from_catalog and gpu.nvlink_support is False:
        where = f"PCIe only (catalog: {gpu.name} has no NVLink)"
    elif settings.interconnect_from_catalog:
        where = (
            f"PCIe only (catalog: {nvlink_reach(gpu)}, so vLLM finds the {tp} GPUs of the TP "
            "group not fully NVLinked)"
        )
    elif link is Interconnect.UNKNOWN and tp > min(gpu.nvlink_bridge_gpus, default=tp):
        where = (
            "unknown (hardware.interconnect not stated): planned as NVLink, although "
            f"{gpu.name}'s NVLink bridges join {bridges} cards: TP {tp} is fully NVLinked "
            f"only over a {max(gpu.nvlink_bridge_gpus)}-way bridge (state "
            "hardware.interconnect: pcie if not)"
        )
    elif link is Interconnect.UNKNOWN and gpu.nvlink_mesh_gpus and tp > 2:
        where = (
            "unknown (hardware.interconnect not stated): planned as NVLink, although "
            f"{nvlink_reach(gpu)}: TP {tp} is fully NVLinked only on such a set (state "
            "hardware.interconnect: pcie if the TP group spans more)"
        )
    elif link is Interconnect.UNKNOWN:
        where = "unknown (hardware.interconnect not stated): planned as NVLink"
    else:
        where = f"{link.value} (profile)"
    words = f"{where}: non-torch memory {non_torch_gib(settings):.2f} GiB per GPU"
    if (
        table.tensor_parallel_pcie is not None
        and table.tensor_parallel_pcie != table.tensor_parallel
    ):
        words += (
            f" ({table.tensor_parallel:.2f} with NVLink or at TP <= 2, "
            f"{table.tensor_parallel_pcie:.2f} with TP > 2 over PCIe only, where vLLM turns "
            "custom all-reduce off)"
        )
    return {"interconnect": words}


def cuda_context_gib(settings: Settings) -> float:
    common = settings.facts.common
    multi = settings.world_size > 1 or settings.dp > 1
    context = float(common["cuda_context_tp_gib"] if multi else common["cuda_context_gib"])
    return context - freed_by_disabling(settings).baseline / GIB  # NCCL's and custom AR's


def cudagraph_bytes(model: ModelInfo, settings: Settings, stage: int) -> float:
    """Estimate of the CUDA-graph pool: one piecewise graph per layer per captured size,
    plus the activations of the largest captured batch; a drafter captures its own piecewise
    graphs at the same sizes (GPUModelRunner._dummy_run: drafter.dummy_run while capturing)."""
    if not settings.cudagraph_sizes:
        return 0.0
    common = settings.facts.common
    layers = len(stage_layers(model.num_hidden_layers, settings.pp)[stage])
    drafts = draft_layer_count(settings, stage)
    layers += drafts + 1 if drafts else 0
    factor = float(common["cudagraph_moe_factor"]) if (model.is_moe or model.uses_mla) else 1.0
    per_size = (layers + 1) * float(common["cudagraph_bytes_per_piece"]) * factor
    largest = settings.cudagraph_sizes[-1]
    graphs = len(settings.cudagraph_sizes) * settings.graph_sets  # LoRA: a set per case
    if settings.is_v0:
        graphs *= settings.pp  # V0 captures a set per virtual engine (capture_model)
    return graphs * per_size + forward_peak_bytes(model, settings, largest, stage)
