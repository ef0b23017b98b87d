"""Hand-built gate results: real records, so the formats are tested without planning."""

from __future__ import annotations

from typing import Any

from checker.gate.check import assemble
from checker.gate.pairs import figures_of
from checker.gate.result import (
    BaseDiff,
    CheckResult,
    Figures,
    GateFinding,
    InputProblem,
    PairChange,
    PairResult,
    ProfileChange,
)
from checker.gate.sources.repo_config import FailOn
from checker.schemas.enums import OOMRisk, Severity, Verdict
from checker.schemas.outputs import (
    FeasibilityReport,
    Finding,
    KVCacheReport,
    MemoryBreakdown,
    ModelSummary,
    PerfEstimate,
    PlanResponse,
    VLLMConfig,
)


def plan(
    *,
    verdict: Verdict = Verdict.PASS,
    risk: OOMRisk = OOMRisk.LOW,
    tokens: int = 444_464,
    concurrency: float = 27.13,
    headroom: float = 49.66,
    findings: tuple[Finding, ...] = (),
    gpu: str = "H100-SXM-80GB",
    model: str = "meta-llama/Llama-3.1-8B-Instruct",
) -> PlanResponse:
    memory = MemoryBreakdown(
        total_gib=79.19,
        gpu_memory_utilization=0.9,
        requested_gib=71.27,
        weights_gib=14.99,
        activation_gib=1.2,
        non_torch_gib=0.25,
        cudagraph_gib=0.5,
        cudagraph_subtracted=True,
        kv_cache_gib=54.33,
        outside_budget_gib=7.92,
    )
    kv = KVCacheReport(
        block_size=16,
        num_blocks=tokens // 16,
        tokens=tokens,
        bytes_per_token=131072,
        page_bytes=2097152,
        max_concurrency=concurrency,
        kv_cache_dtype="auto",
    )
    feasibility = FeasibilityReport(
        fits=verdict is not Verdict.FAIL,
        verdict=verdict,
        oom_risk=risk,
        oom_risk_reason="3.1 GiB outside the budget" if risk is OOMRisk.LOW else "tight",
        gpu=gpu,
        num_gpus_used=1,
        tensor_parallel_size=1,
        pipeline_parallel_size=1,
        max_model_len=16384,
        memory=memory,
        kv=kv,
        max_concurrency_at_context=concurrency,
        max_context_at_concurrency=131072,
        headroom_gib=headroom,
        findings=list(findings),
    )
    return PlanResponse(
        model=ModelSummary(
            model_id=model,
            source="catalog",
            architecture="LlamaForCausalLM",
            param_count=8_030_261_248,
            num_layers=32,
            dtype="bfloat16",
            quantization=None,
        ),
        feasibility=feasibility,
        config=VLLMConfig(
            model=model,
            vllm_version="0.19.0",
            max_model_len=16384,
            max_num_seqs=256,
            max_num_batched_tokens=8192,
        ),
        performance=PerfEstimate(
            decode_toks_per_s_range=(90.0, 140.0), throughput_toks_per_s_range=(204.0, 327.0)
        ),
    )


def finding(
    rule_id: str = "VW203",
    *,
    severity: Severity = Severity.ERROR,
    message: str = "The model's max seq len (32768) is larger than the maximum number of tokens "
    "that can be stored in KV cache (20000).",
    key: str = "model.max_model_len",
    fix: str = "Set model.max_model_len to 20000 or less.",
) -> Finding:
    return Finding(
        rule_id=rule_id, name="kv-too-small", severity=severity, message=message, key=key, fix=fix
    )


def pair(
    profile: str = "profiles/llama.yaml",
    target: str = "H100-80GB:1",
    *,
    line: int | None = 7,
    fail_on: FailOn = FailOn.ERROR,
    **plan_args: Any,
) -> PairResult:
    p = plan(**plan_args)
    figures = figures_of(p.feasibility, p.performance)
    verdict = figures.verdict
    return PairResult(
        profile=profile,
        target=target,
        gpu=p.feasibility.gpu,
        model=p.model.model_id,
        verdict=verdict,
        failed=verdict == "FAIL" or (verdict == "WARN" and fail_on is FailOn.WARNING),
        findings=[
            GateFinding(
                rule_id=f.rule_id,
                name=f.name,
                severity=f.severity,
                estimated=f.estimated,
                message=f.message,
                key=f.key,
                line=line,
                fix=f.fix,
                suppressed=f.suppressed,
            )
            for f in p.feasibility.findings
        ],
        figures=figures,
        plan=p,
    )


def error_pair(profile: str = "profiles/broken.yaml", target: str = "L4:1") -> PairResult:
    return PairResult(
        profile=profile,
        target=target,
        gpu=None,
        model="nobody/nothing",
        verdict="ERROR",
        failed=True,
        figures=Figures(verdict="ERROR"),
        error=InputProblem(path=profile, line=3, message="model 'nobody/nothing' not found"),
    )


def result(
    pairs: list[PairResult],
    errors: list[InputProblem] | None = None,
    diff: BaseDiff | None = None,
    fail_on: FailOn = FailOn.ERROR,
) -> CheckResult:
    return assemble(pairs, errors or [], [], diff, fail_on)


def diff(before: PairResult, after: PairResult) -> BaseDiff:
    return BaseDiff(
        ref="HEAD~1",
        commit="0123456789abcdef0123456789abcdef01234567",
        profiles=[
            ProfileChange(
                profile=after.profile,
                status="changed",
                pairs=[PairChange(target=after.target, before=before.figures, after=after.figures)],
            ),
            ProfileChange(profile="profiles/same.yaml", status="unchanged"),
            ProfileChange(
                profile="profiles/gone.yaml",
                status="removed",
                pairs=[PairChange(target="L4:1", before=before.figures, after=None)],
            ),
        ],
    )
