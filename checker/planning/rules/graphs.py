"""CUDA graphs of the V0 engine against the workload (VW145): a V0 decode step runs in a CUDA
graph only while its longest sequence is at most max_seq_len_to_capture (worker/model_runner.py
ModelInputForGPUBuilder._use_captured_graph, 0.6.6 .. 0.10.0; the flag defaults to 8192 and is
clamped to max_model_len), so longer requests decode eagerly, launching every kernel from the
host at each step."""

from __future__ import annotations

from checker.planning.performance.lengths import longest, random_prefix_len
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def decode_past_graph_length(ctx: RuleContext) -> Finding | None:
    s, work = ctx.settings, ctx.request.workload
    if s.graph_max_seq_len is None:
        return None
    prefix = random_prefix_len(work.prompt_tokens, work.shared_prefix_tokens)
    top = longest(work.prompt_tokens - prefix, work.gen_tokens, work.random_range_ratio, prefix)
    if top <= s.graph_max_seq_len:
        return None
    raise_to = min(top, s.max_model_len)
    return Finding(
        rule_id="VW145",
        name="v0-decode-past-graph-length",
        severity=Severity.INFO,
        message=f"The workload's requests reach {top:,} tokens, past max_seq_len_to_capture "
        f"{s.graph_max_seq_len:,}: once a batch holds a sequence that long, vLLM "
        f"{s.facts.version}'s V0 engine decodes it without CUDA graphs (slower steps).",
        key="outputs.vllm_args.max-seq-len-to-capture",
        fix=f"Set --max-seq-len-to-capture {raise_to} (it costs no GPU memory), or expect "
        "eager decode for these requests.",
    )
