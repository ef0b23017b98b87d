"""Request lengths spread as `vllm bench serve --random-range-ratio` spreads them."""

from __future__ import annotations

import statistics

import pytest

from checker.planning.performance.lengths import longest, request_lengths, uniform_bounds


def test_the_range_is_vllms_floor_and_ceiling_around_the_mean() -> None:
    # vllm/benchmarks/datasets.py RandomDataset.get_sampling_params
    assert uniform_bounds(1000, 0.25) == (750, 1250)
    assert uniform_bounds(3, 0.5) == (1, 5)
    assert uniform_bounds(1, 0.9, at_least_one=True) == (1, 2)
    assert uniform_bounds(512, 0.0) == (512, 512)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        uniform_bounds(512, 1.0)


def test_a_ratio_of_zero_keeps_every_request_at_the_stated_lengths() -> None:
    assert request_lengths(4, 512, 128, 0.0, prefix=100) == [(612, 128)] * 4


def test_lengths_cover_the_range_evenly_in_no_sorted_order_and_the_same_every_run() -> None:
    sizes = request_lengths(1000, 1000, 200, 0.5)
    prompts, outputs = [p for p, _ in sizes], [o for _, o in sizes]
    assert min(prompts) == 500 and max(prompts) == 1500
    assert min(outputs) == 100 and max(outputs) == 300
    assert abs(statistics.mean(prompts) - 1000) < 2 and abs(statistics.mean(outputs) - 200) < 1
    # uniform: each quarter of the range holds a quarter of the requests
    assert sum(p < 750 for p in prompts) == pytest.approx(250, abs=2)
    assert prompts != sorted(prompts)
    # independent: long prompts do not come with long outputs
    long = [o for p, o in sizes if p > 1000]
    assert abs(statistics.mean(long) - 200) < 10
    assert request_lengths(1000, 1000, 200, 0.5) == sizes


def test_the_prefix_is_added_unsampled_and_the_longest_request_counts_both_ends() -> None:
    sizes = request_lengths(100, 200, 100, 0.5, prefix=800)
    prompts = [p for p, _ in sizes]
    assert 900 <= min(prompts) <= 902 and 1098 <= max(prompts) <= 1100
    assert longest(200, 100, 0.5, prefix=800) == 1100 + 150
