"""A failed start read back: which budget ran out, by how much, and the rules' own fix.

The fix is the one the planner's rules compute (their findings' fix_values), applied to the request
and planned again to confirm it starts, then held against the log's own figures. Pure: the
planner is handed in as ``replan``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from checker.logs.reader import Failure, StartupLog
from checker.logs.request import logged_total_gib
from checker.schemas.enums import Severity
from checker.schemas.inputs import PlanRequest
from checker.schemas.outputs import PlanResponse
from checker.schemas.profile_io import request_field

Replan = Callable[[PlanRequest], PlanResponse]

# failure kind -> the rules that predict it (checker/planning/rules/memory.py)
_RULES = {
    "no-kv-memory": ("VW202", "VW201"),
    "kv-too-small": ("VW203",),
    "sampler-warmup-oom": ("VW205",),
    "cuda-oom": ("VW201", "VW205"),
    "free-memory-at-startup": (),
    "not-divisible": ("VW119", "VW101"),
    "too-few-gpus": ("VW301",),
    "spec-kv-groups": ("VW128",),  # checker/planning/rules/speculative.py
}
_BUDGETS = {
    "no-kv-memory": "KV cache budget (requested memory minus weights, activation and non-torch)",
    "kv-too-small": "KV cache for one request at max_model_len",
    "sampler-warmup-oom": "memory left outside vLLM's budget for the sampler warm-up",
    "cuda-oom": "free device memory",
    "free-memory-at-startup": "free device memory at start-up (other processes hold some)",
    "not-divisible": "none: a layer does not split evenly over the tensor-parallel ranks",
    "too-few-gpus": "GPUs: the node's DP x TP x PP workers outnumber its visible devices",
    "spec-kv-groups": "none: the draft model's KV layers must share one KV cache group",
}


@dataclass(frozen=True)
class FailureReport:
    kind: str
    line: int
    text: str
    budget: str
    short_by: str | None
    fixes: list[str] = field(default_factory=list)
    outcome: str = ""


def failed_starts(log: StartupLog) -> list[Failure]:
    """The failures the log reports (each kind once: every rank reports it), plus the ones its
    figures show (a negative KV budget)."""
    found = list({f.kind: f for f in reversed(log.failures)}.values())[::-1]
    kv, blocks = log.first("kv_cache_gib"), log.first("gpu_blocks")
    for fact in (kv, blocks):
        if fact is not None and float(fact.value) <= 0 and not found:
            found.append(
                Failure(kind="no-kv-memory", line=fact.line, rank="", text="(from the figures)")
            )
    return found


def _short_by(failure: Failure, log: StartupLog) -> str | None:
    f = failure.figures
    if failure.kind == "kv-too-small" and "kv_needed_gib" in f:
        return f"{float(f['kv_needed_gib']) - float(f['kv_cache_gib']):.2f} GiB"
    if failure.kind == "kv-too-small" and "kv_cache_tokens" in f:
        return f"{int(f['max_model_len']) - int(f['kv_cache_tokens'])} tokens"
    if failure.kind == "no-kv-memory":
        kv = log.first("kv_cache_gib")
        return f"{-float(kv.value):.2f} GiB" if kv is not None and float(kv.value) < 0 else None
    if failure.kind == "cuda-oom" and "oom_free_gib" in f:
        return f"{float(f['oom_request_gib']) - float(f['oom_free_gib']):.2f} GiB"
    if failure.kind == "free-memory-at-startup":
        return f"{float(f['requested_gib']) - float(f['free_memory_gib']):.2f} GiB"
    return None


def _log_check(failure: Failure, log: StartupLog, values: dict[str, Any]) -> str | None:
    """The fix held against the log's own figures, where they say enough: a utilization moves
    the KV cache by the same share of the device (the other terms do not depend on it); a
    max_model_len must fit the tokens the log's KV cache held."""
    util = values.get("policy.gpu_memory_utilization")
    length = values.get("model.max_model_len")
    kv, old = log.first("kv_cache_gib"), log.settings.get("gpu_memory_utilization")
    total, _ = logged_total_gib(log)
    if util is not None and kv is not None and old is not None and total is not None:
        after = float(kv.value) + (float(util) - float(old.value)) * total
        verdict = "enough for blocks" if after > 0 else "still none"
        return f"by the log's own figures the KV cache would be {after:.2f} GiB ({verdict})"
    tokens = failure.figures.get("estimated_max_model_len") or failure.figures.get(
        "kv_cache_tokens"
    )
    if length is not None and tokens is not None:
        fits = "fits" if int(length) <= int(tokens) else "does not fit"
        return f"by the log's own figures the KV cache holds {tokens} tokens: {length} {fits}"
    return None


def _fixed(request: PlanRequest, fix_values: dict[str, Any]) -> PlanRequest:
    data = request.model_dump()
    for key, value in fix_values.items():
        section, name = request_field(key)
        data[section][name] = value
    return PlanRequest.model_validate(data)


def failure_report(
    failure: Failure,
    log: StartupLog,
    request: PlanRequest,
    plan: PlanResponse,
    replan: Replan,
) -> FailureReport:
    rules = _RULES.get(failure.kind, ())
    matched = [
        f for f in plan.feasibility.findings if f.severity is Severity.ERROR and f.rule_id in rules
    ]
    base = FailureReport(
        kind=failure.kind,
        line=failure.line,
        text=failure.text,
        budget=_BUDGETS.get(failure.kind, failure.kind),
        short_by=_short_by(failure, log),
    )
    if not matched:
        f = plan.feasibility
        risk = f"; OOM risk {f.oom_risk.value}: {f.oom_risk_reason}" if f.oom_risk_reason else ""
        outcome = (
            f"our plan does not predict this failure (verdict {f.verdict.value}{risk}); the "
            "term differences above show where it is optimistic"
        )
        return replace(base, outcome=outcome)
    fixes = [f"{f.rule_id} {f.name}: {f.fix}" for f in matched]
    values = {k: v for f in matched for k, v in f.fix_values.items()}
    if not values:
        return replace(base, fixes=fixes, outcome="no single setting fixes it")
    fixed_plan: PlanResponse = replan(_fixed(request, values))
    errors = [f.rule_id for f in fixed_plan.feasibility.findings if f.severity is Severity.ERROR]
    change = ", ".join(f"{k}={v}" for k, v in values.items())
    if errors:
        outcome = f"with {change} the plan still fails ({', '.join(errors)})"
    else:
        fx = fixed_plan.feasibility
        tokens = fx.kv.tokens if fx.kv else 0
        outcome = (
            f"with {change} the planner confirms it starts: KV cache "
            f"{fx.memory.kv_cache_gib:.2f} GiB, {tokens:,} tokens, "
            f"{fx.max_concurrency_at_context:.2f}x at {fx.max_model_len} tokens"
        )
    check = _log_check(failure, log, values)
    if check:
        outcome += f"; {check}"
    return replace(base, fixes=fixes, outcome=outcome)
