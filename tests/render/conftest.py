"""Plans built as real pydantic objects (any model name, any version) and hostile values."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from checker.render.context import RenderContext
from checker.schemas.enums import Basis, OOMRisk, Severity, Verdict
from checker.schemas.inputs import WorkloadInput
from checker.schemas.outputs import (
    FeasibilityReport,
    Finding,
    KVCacheReport,
    MemoryBreakdown,
    ModelSummary,
    PerfEstimate,
    PlanResponse,
    Recommendation,
    VLLMConfig,
)
from checker.schemas.profile import ProfileDeploy

# Shell, YAML and markdown specials; each must come back byte for byte and never run.
HOSTILE = [
    "org/model$(touch PWNED)`touch PWNED2`",
    'it\'s "quoted" \\ back',
    "line1\nline2",
    "key: value # not a comment & *ref !tag {a: b}",
    "-leading-dash",
    "${HF_TOKEN} $(HF_TOKEN) $$",
    "| pipe | @octocat <b>x</b> ```",
    "unicodé ✓ 😀",
]


def make_plan(
    *,
    model: str = "meta-llama/Llama-3.1-8B-Instruct",
    version: str = "0.19",
    gpu: str = "H100-SXM-80GB",
    findings: list[Finding] | None = None,
    **config: Any,
) -> PlanResponse:
    cfg = VLLMConfig(
        **{
            "model": model,
            "vllm_version": version,
            "max_model_len": 8192,
            "max_num_seqs": 256,
            "max_num_batched_tokens": 8192,
            **config,
        }
    )
    gpus = cfg.tensor_parallel_size * cfg.pipeline_parallel_size
    memory = MemoryBreakdown(
        total_gib=79.19,
        gpu_memory_utilization=cfg.gpu_memory_utilization,
        requested_gib=71.27,
        weights_gib=14.99 / gpus,
        activation_gib=1.2,
        non_torch_gib=0.25,
        cudagraph_gib=0.5,
        cudagraph_subtracted=False,
        kv_cache_gib=54.83,
        outside_budget_gib=7.92,
        basis={"total_gib": Basis.DERIVED, "kv_cache_gib": Basis.DERIVED},
    )
    feasibility = FeasibilityReport(
        fits=not findings,
        verdict=Verdict.FAIL if findings else Verdict.PASS,
        oom_risk=OOMRisk.LOW,
        gpu=gpu,
        num_gpus_used=gpus,
        tensor_parallel_size=cfg.tensor_parallel_size,
        pipeline_parallel_size=cfg.pipeline_parallel_size,
        max_model_len=cfg.max_model_len,
        memory=memory,
        kv=KVCacheReport(
            block_size=16,
            num_blocks=28074,
            tokens=449184,
            bytes_per_token=131072,
            page_bytes=2097152,
            max_concurrency=54.83,
            kv_cache_dtype="auto",
        ),
        max_concurrency_at_context=54.83,
        max_context_at_concurrency=131072,
        headroom_gib=50.1,
        log_lines=[
            "Model loading took 14.99 GiB memory",
            "Available KV cache memory: 54.83 GiB",
            "GPU KV cache size: 449,184 tokens",
            "Maximum concurrency for 8,192 tokens per request: 54.83x",
        ],
        findings=findings or [],
    )
    return PlanResponse(
        model=ModelSummary(
            model_id=model,
            source="catalog",
            architecture="LlamaForCausalLM",
            param_count=8_030_000_000,
            num_layers=32,
            dtype="bfloat16",
            quantization=None,
        ),
        feasibility=feasibility,
        config=cfg,
        performance=PerfEstimate(
            decode_toks_per_s_range=(110.0, 176.0),
            ttft_ms_range=(20.0, 33.0),
            assumptions=["estimates, not measurements"],
        ),
        recommendations=[
            Recommendation(key="max_num_seqs", value=256, reason="vLLM's default"),
        ],
    )


def hostile_finding(text: str) -> Finding:
    return Finding(
        rule_id="VW101",
        name="tp-heads-divisible",
        severity=Severity.ERROR,
        message=f"Total number of attention heads ({text}) must be divisible by tensor parallel",
        key="hardware.tp_size",
        fix=f"use {text}",
    )


def make_context(plan: PlanResponse | None = None, **kwargs: Any) -> RenderContext:
    deploy = kwargs.pop("deploy", ProfileDeploy())
    workload = kwargs.pop("workload", WorkloadInput(concurrency=8))
    plan = plan or make_plan()
    if "vllm_args" in kwargs:  # the flags a plan passed through live in its config
        config = plan.config.model_copy(update={"extra_args": kwargs.pop("vllm_args")})
        plan = plan.model_copy(update={"config": config})
    return RenderContext(plan=plan, deploy=deploy, workload=workload, **kwargs)


@pytest.fixture
def stub_bin(tmp_path: Path) -> Path:
    """A directory with `vllm` and `docker` stubs that print their argv as JSON."""
    bin_dir = tmp_path / "stub-bin"
    bin_dir.mkdir()
    for name in ("vllm", "docker"):
        script = bin_dir / name
        script.write_text(
            "#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n",
            encoding="utf-8",
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def run_script(path: Path, stub_bin: Path, cwd: Path, **env: str) -> list[str]:
    """Run a generated script with the stubs first on PATH; return the argv the stub saw."""
    import subprocess

    environ = {**os.environ, "PATH": f"{stub_bin}{os.pathsep}{os.environ['PATH']}", **env}
    done = subprocess.run(
        ["bash", str(path)], cwd=cwd, env=environ, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    argv: list[str] = json.loads(done.stdout)
    return argv
