"""What speculative decoding costs, for --explain: the drafter's weights, its KV layers and the
KV tokens they take, against the same server without it."""

from __future__ import annotations

from checker.planning.draft import draft_pages, draft_weight_bytes
from checker.planning.kv import GIB
from checker.planning.memory import MemoryPlan, plan_memory
from checker.planning.settings import resolve_settings
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
    if spec.kind == "none":
        return {"--speculative-config": f"{spec.method}: no weights and no KV cache on the GPU"}
    if spec.draft is None:
        return {}
    if spec.kind == "mtp":
        n = spec.draft.num_hidden_layers
        name = f"MTP draft ({n} MTP layer{'s' if n != 1 else ''} of the target)"
    else:
        name = f"{_NAMES.get(spec.method, spec.method)} {spec.draft.model_id}"
    last = s.pp - 1
    pages = draft_pages(s, last)
    per_token = sum(page for _, page, _ in pages) // s.block_size
    plain = plan_memory(model, resolve_settings(request, model, gpu, tp=s.tp))
    before, after = plain.binding.kv.tokens, memory.binding.kv.tokens
    change = f"{100 * (after - before) / before:+.1f} % KV tokens" if before else "KV tokens"
    layers = len(pages)
    words = [
        f"{name}, num_speculative_tokens={spec.tokens}: "
        f"+{draft_weight_bytes(s, last) / GIB:.2f} GiB weights",
        f"+{layers} KV layer{'s' if layers != 1 else ''} (+{per_token:,} bytes per token)",
        f"{change} ({before:,} -> {after:,})",
    ]
    graphs = memory.stages[last].cudagraph - plain.stages[last].cudagraph
    if s.cudagraph_sizes:
        words.append(
            f"{len(s.cudagraph_sizes)} CUDA-graph sizes up to {s.cudagraph_sizes[-1]} "
            f"({graphs / GIB:+.2f} GiB, estimated)"
        )
    if s.draft_limited_from is not None:
        words.append(f"max_model_len {s.draft_limited_from} -> {s.max_model_len} (VW126)")
    return {"--speculative-config": ", ".join(words)}
