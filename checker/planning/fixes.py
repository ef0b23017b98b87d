"""Apply the fixes of start-up errors to the recommended VLLMConfig, where that is safe.

Safe means the fix removes the error without changing what the memory plan was sized for:
a shorter context, a dtype of the same width (never float32), a valid KV dtype or block size,
a larger batch budget, a utilization the rules computed, or the checkpoint's own quantization.
Fixes that change parallelism, the GPU count or the weights' format stay recommendations.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding, Recommendation, VLLMConfig

# profile key -> VLLMConfig field (render/context.py reports any of these the fixes changed)
FIXABLE_FIELDS = {
    "model.max_model_len": "max_model_len",
    "model.dtype": "dtype",
    "model.kv_cache_dtype": "kv_cache_dtype",
    "model.quantization": "quantization",
    "vllm.max_num_batched_tokens": "max_num_batched_tokens",
    "vllm.block_size": "block_size",
    "policy.gpu_memory_utilization": "gpu_memory_utilization",
}
# Dropping a method the checkpoint does not carry would load it unquantized: bigger than planned.
_UNSAFE_RULES = {"VW109"}
# Several fixes of one field: the shortest context, the largest batch budget; else they must agree.
_MERGE = {"max_model_len": min, "max_num_batched_tokens": max}


def apply_fixes(
    config: VLLMConfig, findings: list[Finding]
) -> tuple[dict[str, Any], list[Recommendation]]:
    """The fields of ``config`` every safe error fix sets, with their values (the caller
    copies the config once, with its own fields beside them), and one recommendation saying
    so per field."""
    wanted: dict[str, list[tuple[Any, Finding]]] = defaultdict(list)
    for finding in findings:
        if finding.severity is not Severity.ERROR or finding.rule_id in _UNSAFE_RULES:
            continue
        for key, value in finding.fix_values.items():
            if key in FIXABLE_FIELDS:
                wanted[FIXABLE_FIELDS[key]].append((None if value == "none" else value, finding))
    updates: dict[str, Any] = {}
    notes = []
    for field, pairs in wanted.items():
        values = [v for v, _ in pairs]
        if field in _MERGE:
            value = _MERGE[field](values)
        elif len(set(map(repr, values))) == 1:
            value = values[0]
        else:
            continue  # the errors disagree on this field: leave it to the user
        if field == "dtype" and value == "float32":
            continue  # twice the weight memory the plan was sized for
        updates[field] = value
        rules = ", ".join(sorted({f"{f.rule_id} {f.name}" for _, f in pairs}))
        notes.append(
            Recommendation(
                key=field,
                value=value,
                reason=f"applied the fix for {rules}: {getattr(config, field)!r} -> {value!r}",
            )
        )
    return updates, notes
