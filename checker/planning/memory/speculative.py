"""What speculative decoding costs, for --explain: the drafter's weights, its KV layers and the
KV tokens they take, against the same server without it."""

from __future__ import annotations

from checker.planning.engine.releases import has_behaviour
from checker.planning.engine.settings import Settings, resolve_settings
from checker.planning.engine.spec_config import legacy_config
from checker.planning.kvcache.kv import GIB, KVLayout, in_flight_tokens
from checker.planning.memory.draft import draft_pages, draft_weight_bytes
from checker.planning.memory.memory import MemoryPlan, StageMemory, plan_memory
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import PlanRequest
from checker.schemas.model_info import ModelInfo

_NAMES = {"draft_model": "draft model", "eagle": "EAGLE draft", "eagle3": "EAGLE3 draft"}


def spec_costs(
    request: PlanRequest, model: ModelInfo, gpu: GPUSpec, memory: MemoryPlan
) -> dict[str, str]:
    """--speculative-config -> what it costs on the binding rank."""
    s = memory.settings
    spec = s.spec
    if spec is None or spec.method is None:
        return {}
    # the 0.6 / 0.7 flags name the feature where the JSON option does not exist
    subject = "--speculative-config"
    if request.engine.speculative_config is None and legacy_config(request.engine) is not None:
        subject = "--speculative-model"
    if spec.kind == "none":
        return {subject: f"{spec.method}: no weights and no KV cache on the GPU"}
    if spec.draft is None:
        return {}
    if spec.kind == "mtp":
        n = spec.draft.num_hidden_layers
        name = f"MTP draft ({n} MTP layer{'s' if n != 1 else ''} of the target)"
    else:
        name = f"{_NAMES.get(spec.method, spec.method)} {spec.draft.model_id}"
    last = s.pp - 1
    plain = plan_memory(model, resolve_settings(request, model, gpu, tp=s.tp))
    before, after = plain.binding.kv.tokens, memory.binding.kv.tokens
    change = f"{100 * (after - before) / before:+.1f} % KV tokens" if before else "KV tokens"
    weights = f"+{draft_weight_bytes(s, last) / GIB:.2f} GiB weights"
    if s.is_v0:
        weights += (
            " (in no term of the KV budget: the KV cache takes their memory too, so the server "
            "holds that much past gpu_memory_utilization)"
            if has_behaviour("v0_draft_weights_outside_budget", s.facts.version)
            else " (logged in non_torch_memory)"
        )
    kv = (
        _v0_kv_words(s, memory.stages[last])
        if s.is_v0
        else _kv_words(
            s,
            spec.draft.num_hidden_layers,
            plain.stages[last].kv.layout,
            memory.stages[last].kv.layout,
        )
    )
    words = [
        f"{name}, num_speculative_tokens={spec.tokens}: {weights}",
        kv,
        f"{change} ({before:,} -> {after:,})",
    ]
    graphs = memory.stages[last].cudagraph - plain.stages[last].cudagraph
    if s.cudagraph_sizes:
        words.append(
            f"{len(s.cudagraph_sizes)} CUDA-graph sizes up to {s.cudagraph_sizes[-1]} "
            f"({graphs / GIB:+.2f} GiB, estimated)"
        )
    if s.draft_decode_graph_sizes:  # 0.34: the drafter's own decode graphs, apart
        words.append(
            f"{len(s.draft_decode_graph_sizes)} one-token draft decode graphs up to "
            f"{s.draft_decode_graph_sizes[-1]} requests"
        )
    if s.draft_limited_from is not None:
        words.append(f"max_model_len {s.draft_limited_from} -> {s.max_model_len} (VW126)")
    return {subject: ", ".join(words)}


def _v0_kv_words(settings: Settings, stage: StageMemory) -> str:
    """The V0 split of the target's blocks between its cache and the draft's."""
    pages = draft_pages(settings, stage.stage)
    draft = sum(page for _, page, _ in pages)
    layers = f"+{len(pages)} KV layers ({draft // settings.block_size:,} bytes per token)"
    if settings.num_gpu_blocks_override is not None:  # LLMEngine._initialize_kv_caches
        return (
            f"{layers}, {stage.kv.num_blocks:,} blocks in each cache as "
            "--num-gpu-blocks-override sets (it replaces the split)"
        )
    target = stage.kv.layout.group_block_bytes - draft
    alone = int(stage.kv_budget // target) if target > 0 else 0
    return (
        f"{layers} sharing the target's {alone:,} blocks: {alone:,} x {target:,} / ({target:,} "
        f"+ {draft:,}) = {stage.kv.num_blocks:,} blocks in each cache "
        "(spec_decode/spec_decode_worker.py split_num_cache_blocks_evenly)"
    )


def _kv_words(settings: Settings, draft_layers: int, plain: KVLayout, layout: KVLayout) -> str:
    """What the drafter's caches add to the KV cache of the last rank."""
    if layout.packed is not None and plain.packed is not None:
        # DeepSeek-V4: each MTP layer (compress ratio 1) adds one sliding-window cache to the
        # packed groups (checker.planning.kvcache.deepseek_v4.packed_kv)
        n, length, in_flight = draft_layers, settings.max_model_len, in_flight_tokens(settings)
        return (
            f"+{n} sliding-window cache{'s' if n != 1 else ''} in the packed KV block "
            f"({plain.packed.block_bytes:,} -> {layout.packed.block_bytes:,} bytes a block; "
            f"a {length:,}-token request {plain.packed.blocks_per_request(length, in_flight):,} "
            f"-> {layout.packed.blocks_per_request(length, in_flight):,} blocks)"
        )
    pages = draft_pages(settings, settings.pp - 1)
    per_token = sum(page for _, page, _ in pages) // settings.block_size
    return (
        f"+{len(pages)} KV layer{'s' if len(pages) != 1 else ''} (+{per_token:,} bytes per token)"
    )
