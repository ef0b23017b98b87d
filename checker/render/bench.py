"""A `vllm bench serve` recipe that measures the profile's workload against the running server."""

from __future__ import annotations

from checker.errors import ArtifactError
from checker.planning.performance.batching import recipe_prompts
from checker.planning.performance.lengths import random_prefix_len
from checker.render.context import RenderContext
from checker.render.serve import model_arg
from checker.schemas.vllm_flags import FlagSet, flags_for, known_lines

_REQUIRED = (
    "--base-url",
    "--model",
    "--dataset-name",
    "--random-input-len",
    "--random-output-len",
    "--random-range-ratio",
    "--num-prompts",
    "--max-concurrency",
    "--request-rate",
    "--ignore-eos",
)


def bench_client(version: str) -> FlagSet:
    """The pinned version's benchmark client, or the oldest known one that has every flag we use."""
    pinned = flags_for(version)
    candidates = [pinned] + [flags_for(line) for line in known_lines()]
    for flags in candidates:
        if flags.bench_serve and all(f in flags.bench_serve for f in _REQUIRED):
            return flags
    raise ArtifactError("no known vLLM release has the `vllm bench serve` flags we need")


def num_prompts(ctx: RenderContext) -> int:
    """The workload's own count, else the recipe's, the one the step-level model runs."""
    return ctx.workload.num_prompts or recipe_prompts(ctx.workload.concurrency)


def bench_argv(ctx: RenderContext) -> list[str]:
    """Flags of ``vllm bench serve`` (all but --base-url, which the script takes from $BASE_URL)
    for random prompts of the profile's lengths (and their spread) at its concurrency."""
    client = bench_client(ctx.plan.config.vllm_version)
    have = client.bench_serve or frozenset()
    w = ctx.workload
    prefix = random_prefix_len(w.prompt_tokens, w.shared_prefix_tokens)
    argv = ["--backend=vllm"] if "--backend" in have else []
    argv += [
        f"--model={model_arg(ctx)}",
        "--dataset-name=random",
        *([f"--random-prefix-len={prefix}"] if prefix else []),
        f"--random-input-len={w.prompt_tokens - prefix}",
        f"--random-output-len={w.gen_tokens}",
        # lengths spread as the plan's step model spreads them (planning/performance/lengths.py)
        *([f"--random-range-ratio={w.random_range_ratio:g}"] if w.random_range_ratio else []),
        f"--num-prompts={num_prompts(ctx)}",
        # Poisson arrivals at the workload's rate, else a closed loop at its concurrency
        f"--request-rate={w.request_rate:g}"
        if w.request_rate is not None
        else f"--max-concurrency={w.concurrency}",
        "--ignore-eos",
    ]
    if ctx.plan.config.trust_remote_code and "--trust-remote-code" in have:
        argv.append("--trust-remote-code")
    return argv
