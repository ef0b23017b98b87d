"""The workload's requests against the server they are sent to (VW208, VW405).

The `vllm bench serve` recipe sends each request its own prompt and `max_tokens`; with
``random_range_ratio`` the longest reach (1 + r) x the stated lengths. vLLM checks every
request against max_model_len before it runs (vllm/entrypoints/openai/engine/serving.py
OpenAIServing._validate_input in 0.19: a prompt plus max_tokens above max_model_len is refused,
HTTP 400; vllm/renderers/params.py in 0.33 clamps max_tokens to what is left instead), so the
run the plan describes is not the run the server serves. In 0.19 a prompt of max_model_len
tokens or more is refused outright ("your request has N input tokens"); in 0.33 a prompt above
it is (vllm/renderers/params.py TokenizeParams._token_len_check), and one that fills it leaves
no token for output.
"""

from __future__ import annotations

from checker.planning.performance.batching import recipe_prompts
from checker.planning.performance.lengths import longest, random_prefix_len, request_lengths
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


def _largest_ratio(random_part: int, output: int, prefix: int, limit: int) -> float:
    """The largest --random-range-ratio, in hundredths, whose longest request fits ``limit``."""
    ratio = 0.99
    while ratio > 0 and longest(random_part, output, ratio, prefix) > limit:
        ratio = round(ratio - 0.01, 2)
    return max(ratio, 0.0)


@rule
def request_exceeds_max_model_len(ctx: RuleContext) -> Finding | None:
    """VW208: the workload's own request (prompt + output) is longer than max_model_len, so no
    request of it runs as planned (VW405 covers a spread around a request that fits)."""
    work, limit = ctx.request.workload, ctx.settings.max_model_len
    total = work.prompt_tokens + work.gen_tokens
    if total <= limit:
        return None
    if work.prompt_tokens >= limit:
        what = (
            f"its prompts alone ({work.prompt_tokens} tokens) reach max_model_len {limit}: "
            f"vLLM refuses every request (0.19: \"This model's maximum context length is "
            f'{limit} tokens. However, your request has {work.prompt_tokens} input tokens.") '
            "or leaves it no token to generate"
        )
    else:
        what = (
            f"its requests reach {total} tokens ({work.prompt_tokens} prompt + "
            f"{work.gen_tokens} output), above max_model_len {limit}: vLLM refuses each "
            f"(0.19: \"This model's maximum context length is {limit} tokens. However, you "
            f'requested {work.gen_tokens} output tokens...") or cuts its output to '
            f"{limit - work.prompt_tokens} tokens"
        )
    return Finding(
        rule_id="VW208",
        name="workload-request-exceeds-max-model-len",
        severity=Severity.WARNING,
        message=f"The workload does not fit the context: {what}, so the run is not the one "
        "planned.",
        key="workload.prompt_tokens",
        fix=f"Raise model.max_model_len to {total}, or shorten workload.prompt_tokens or "
        "workload.gen_tokens.",
    )


@rule
def spread_exceeds_max_model_len(ctx: RuleContext) -> Finding | None:
    work, limit = ctx.request.workload, ctx.settings.max_model_len
    ratio = work.random_range_ratio
    # only the spread's own overflow: a mean request longer than the context is out of scope
    if not ratio or work.prompt_tokens + work.gen_tokens > limit:
        return None
    prefix = random_prefix_len(work.prompt_tokens, work.shared_prefix_tokens)
    random_part = work.prompt_tokens - prefix
    top = longest(random_part, work.gen_tokens, ratio, prefix)
    if top <= limit:
        return None
    prompts = work.num_prompts or recipe_prompts(work.concurrency)
    sizes = request_lengths(prompts, random_part, work.gen_tokens, ratio, prefix)
    over = sum(p + o > limit for p, o in sizes)
    fits = _largest_ratio(random_part, work.gen_tokens, prefix, limit)
    return Finding(
        rule_id="VW405",
        name="workload-spread-exceeds-max-model-len",
        severity=Severity.WARNING,
        message=f"With random_range_ratio {ratio:g} the longest requests reach {top} tokens "
        f"(prompt and output), above max_model_len {limit}: {over} of the benchmark's "
        f"{prompts} prompts exceed it, and vLLM refuses such a request (0.19: \"This model's "
        f'maximum context length is {limit} tokens...") or cuts its output, so the run is not '
        "the one planned.",
        key="workload.random_range_ratio",
        fix=f"Lower workload.random_range_ratio to {fits:g}, or raise model.max_model_len to "
        f"{top}.",
        fix_values={"workload.random_range_ratio": fits},
    )
