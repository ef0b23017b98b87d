"""Per-request prompt and output lengths of a `vllm bench serve` run on the random dataset.

vLLM's client (vllm/benchmarks/datasets.py RandomDataset.get_sampling_params) draws each
request's lengths independently and uniformly from the integers

    input:  [floor(L_in * (1 - r)), ceil(L_in * (1 + r))]
    output: [max(1, floor(L_out * (1 - r))), max(1, ceil(L_out * (1 + r)))]

with L_in = --random-input-len, L_out = --random-output-len and r = --random-range-ratio in
[0, 1) (default 0: every request is L_in in, L_out out). A --random-prefix-len prefix is added
to every prompt unsampled. The symmetric range dates from vLLM PR #16126 (v0.8.4); every
release with `vllm bench serve` has it. (vLLM samples around L_in less the tokens the tokenizer
adds, which the server adds back: the lengths the engine sees are centred on L_in.)

Instead of random draws we take stratified quantiles - request i of n gets the value at
quantile (i + 0.5) / n of each range - and put inputs and outputs in two fixed shuffled orders,
so they stay independent and arrive in no sorted order: vLLM's marginals without run-to-run
noise. The ShareGPT dataset's lengths come from the dataset file itself (ShareGPTDataset.sample
keeps conversations of 4..1024 prompt tokens and at most 2048 in all); no published source gives
their distribution, so a ShareGPT run can only be modelled at its mean lengths.
"""

from __future__ import annotations

import math
import random


def random_prefix_len(prompt_tokens: int, shared_prefix_tokens: int) -> int:
    """The recipe's --random-prefix-len: the shared prefix, leaving at least one prompt token
    to sample."""
    return min(shared_prefix_tokens, prompt_tokens - 1)


def uniform_bounds(length: int, ratio: float, *, at_least_one: bool = False) -> tuple[int, int]:
    """The integer range vLLM's random dataset draws a length from."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError("range_ratio must be in [0, 1)")  # as get_sampling_params
    low, high = math.floor(length * (1 - ratio)), math.ceil(length * (1 + ratio))
    if at_least_one:
        return max(low, 1), max(high, 1)
    return low, high


def _quantiles(low: int, high: int, n: int) -> list[int]:
    span = high - low + 1
    return [low + min(span - 1, int((i + 0.5) * span / n)) for i in range(n)]


def request_lengths(
    n: int, input_len: int, output_len: int, ratio: float, prefix: int = 0
) -> list[tuple[int, int]]:
    """(prompt, output) tokens of ``n`` requests of ``--random-input-len input_len
    --random-output-len output_len --random-range-ratio ratio --random-prefix-len prefix``."""
    if ratio == 0:
        return [(prefix + input_len, max(1, output_len))] * n
    inputs = _quantiles(*uniform_bounds(input_len, ratio), n)
    outputs = _quantiles(*uniform_bounds(output_len, ratio, at_least_one=True), n)
    order = random.Random(0)  # noqa: S311 - a reproducible order, not security
    order.shuffle(inputs)
    order.shuffle(outputs)
    return [(prefix + max(1, i), o) for i, o in zip(inputs, outputs, strict=True)]


def longest(input_len: int, output_len: int, ratio: float, prefix: int = 0) -> int:
    """The most tokens one request of that run holds: its longest prompt and output."""
    top_in = uniform_bounds(input_len, ratio)[1]
    return prefix + top_in + uniform_bounds(output_len, ratio, at_least_one=True)[1]
