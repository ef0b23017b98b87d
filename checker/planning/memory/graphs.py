"""What the CUDA-graph options of older releases cost, for --explain: --cuda-graph-sizes,
--max-seq-len-to-capture and --num-scheduler-steps (checker/data/vllm_flag_effects.yaml
older_modeled; the sizes come from checker.planning.engine.settings.older_graph_sizes)."""

from __future__ import annotations

from checker.planning.engine.settings import Settings
from checker.schemas.inputs import EngineInput

_GIB = float(1 << 30)


def graph_costs(engine: EngineInput, settings: Settings, graphs: float) -> dict[str, str]:
    """The explanation of each of these flags the profile gives; ``graphs`` is the plan's
    CUDA-graph estimate in bytes on the first stage's GPU."""
    version, sizes = settings.facts.version, settings.cudagraph_sizes
    if not sizes:
        pool = "no CUDA graphs are captured (eager mode)"
    else:
        when = (
            "taken from the KV budget"
            if settings.cudagraph_subtracted
            else "captured after the KV cache is sized, out of what stays free"
        )
        pool = (
            f"{len(sizes)} CUDA-graph sizes up to {sizes[-1]} captured "
            f"(vLLM {version} VllmConfig._set_cudagraph_sizes), "
            f"{graphs / _GIB:.2f} GiB of graphs per GPU (estimated), {when}"
        )
    costs: dict[str, str] = {}
    if engine.cuda_graph_sizes is not None:
        costs["--cuda-graph-sizes"] = pool
    if engine.max_seq_len_to_capture is not None:
        costs["--max-seq-len-to-capture"] = (
            f"decode steps whose longest sequence passes {settings.graph_max_seq_len:,} tokens "
            "(the flag, at most max_model_len) run without CUDA graphs (V0 "
            "ModelInputForGPUBuilder._use_captured_graph); no memory is sized by it"
            if settings.graph_max_seq_len is not None
            else f"the V1 engine of vLLM {version} does not read it: no effect"
        )
    if engine.num_scheduler_steps > 1:
        fallback = (
            f"vLLM {version} runs the V0 engine for it (V1 does not take multi-step scheduling: "
            "EngineArgs._is_v1_supported_oracle), so the plan uses V0's memory arithmetic; "
            if settings.is_v0 and settings.facts.v0_fallback is not None
            else ""
        )
        costs["--num-scheduler-steps"] = (
            f"{fallback}{engine.num_scheduler_steps} decode steps per schedule (V0 multi-step: "
            f"KV slots for {engine.num_scheduler_steps - 1} lookahead tokens per sequence); "
            f"{pool}"
        )
    return costs
