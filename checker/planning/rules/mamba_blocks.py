"""A Mamba / linear-attention model whose max_num_seqs exceeds its KV cache blocks while FULL
CUDA graphs are captured (VW214): each decode sequence in a full graph takes one state block,
so config/compilation.py CompilationConfig.resolve_cudagraph_mode_and_sizes refuses the start
once the KV cache is allocated (vllm_messages.yaml mamba_seqs_within_blocks)."""

from __future__ import annotations

from checker.planning.engine.releases import has_behaviour, message
from checker.planning.rules.base import RuleContext, rule
from checker.planning.rules.scheduler import effective_max_num_seqs
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding

# CUDAGraphMode.has_full_cudagraphs: the modes that capture FULL graphs
_FULL_MODES = ("FULL", "FULL_DECODE_ONLY", "FULL_AND_PIECEWISE")


@rule
def mamba_seqs_within_blocks(ctx: RuleContext) -> Finding | None:
    s, eng = ctx.settings, ctx.request.engine
    if ctx.model.state is None:
        return None  # no Mamba state blocks (most models)
    blocks = ctx.memory.binding.kv.num_blocks
    seqs = effective_max_num_seqs(ctx)
    # the default mode (FULL_AND_PIECEWISE) is left out of cudagraph_sizes only when no graph
    # is captured; an explicit mode without FULL graphs does not check
    mode = eng.cudagraph_mode or "FULL_AND_PIECEWISE"
    if (
        not s.cudagraph_sizes
        or mode not in _FULL_MODES
        or not has_behaviour("mamba_seqs_within_blocks", s.facts.version)
        or blocks <= 0  # no KV cache at all: VW202
        or seqs <= blocks
    ):
        return None
    return Finding(
        rule_id="VW214",
        name="max-num-seqs-exceeds-mamba-blocks",
        severity=Severity.ERROR,
        message=message("mamba-seqs-exceed-blocks", s.facts.version, seqs=seqs, blocks=blocks),
        key="vllm.max_num_seqs",
        fix=f"Set max_num_seqs to {blocks} or less (each decode sequence in a full CUDA graph "
        "holds one Mamba state block), raise gpu_memory_utilization, or capture piecewise "
        "graphs only (cudagraph_mode PIECEWISE).",
        fix_values={"vllm.max_num_seqs": blocks},
    )
