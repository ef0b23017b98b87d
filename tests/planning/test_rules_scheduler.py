"""Utilization band (VW115, VW116) and scheduler limits (VW117, VW118)."""

from __future__ import annotations

from checker.schemas.enums import Severity
from tests.planning.plans import fired, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
SHORT = {"max_model_len": 8192}


def test_utilization_below_the_band_warns_for_a_lone_instance() -> None:
    found = only(plan(LLAMA, util=0.3, version="0.33", **SHORT), "VW115")
    assert found.severity is Severity.WARNING
    assert found.fix_values == {"policy.gpu_memory_utilization": 0.92}  # the 0.24 default
    # 0.34: the extensible KV cache's default
    found = only(plan(LLAMA, util=0.3, **SHORT), "VW115")
    assert found.fix_values == {"policy.gpu_memory_utilization": 1.0}
    # sharing a GPU on purpose is what a low utilization is for
    assert not fired(plan(LLAMA, util=0.3, instances_per_gpu=2, **SHORT), "VW115")
    assert not fired(plan(LLAMA, util=0.9, **SHORT), "VW115")


def test_utilization_of_097_or_more_warns_with_a_safe_value() -> None:
    found = only(plan(LLAMA, util=0.97, version="0.33", **SHORT), "VW116")
    assert found.severity is Severity.WARNING
    safe = found.fix_values["policy.gpu_memory_utilization"]
    assert 0.5 <= safe <= 0.95
    assert not fired(plan(LLAMA, util=safe, version="0.33", **SHORT), "VW116")
    lowered = plan(LLAMA, util=safe, version="0.33", **SHORT)
    assert lowered.feasibility.oom_risk.value == "low"


def test_an_extensible_kv_cache_needs_no_headroom_below_one() -> None:
    # 0.34 sizes the cache from memory measured after warm-up, keeping the activation peak and
    # a margin free: 0.97, or its default 1.0, is no out-of-memory risk
    for util in (0.97, None):
        resp = plan(LLAMA, util=util, **SHORT)
        assert not fired(resp, "VW116")
        assert resp.feasibility.oom_risk.value == "low"
    # without it (a KV cache size given keeps it off) the old band holds
    assert fired(plan(LLAMA, util=0.97, num_gpu_blocks_override=20000, **SHORT), "VW116")


def test_batched_tokens_below_an_explicit_max_num_seqs() -> None:
    resp = plan(LLAMA, max_num_seqs=512, max_num_batched_tokens=256, **SHORT)
    found = only(resp, "VW117")
    assert found.message == (
        "max_num_batched_tokens (256) must be greater than or equal to max_num_seqs (512)."
    )
    assert found.fix_values == {"vllm.max_num_batched_tokens": 512}


def test_defaulted_max_num_seqs_is_clamped_by_newer_releases_only() -> None:
    # 0.10.1+ lowers a defaulted max_num_seqs (1024 on an H100) to max_num_batched_tokens
    assert not fired(plan(LLAMA, max_num_batched_tokens=512, **SHORT), "VW117")
    old = only(plan(LLAMA, max_num_batched_tokens=128, version="0.8", **SHORT), "VW117")
    assert "max_num_seqs (1024)" in old.message  # 0.8's default on a GPU of 70 GiB or more


def test_batched_tokens_below_max_model_len_without_chunked_prefill() -> None:
    resp = plan(LLAMA, max_num_batched_tokens=4096, enable_chunked_prefill=False, **SHORT)
    found = only(resp, "VW118")
    assert found.message.startswith(
        "max_num_batched_tokens (4096) is smaller than max_model_len (8192). This effectively "
        "limits the maximum sequence length to max_num_batched_tokens"
    )
    assert found.fix_values == {"vllm.max_num_batched_tokens": 8192}


def test_batched_tokens_below_max_model_len_is_fine_with_chunked_prefill() -> None:
    assert not fired(plan(LLAMA, max_num_batched_tokens=4096, **SHORT), "VW118")
    # V0 chunks by itself above 32k tokens of context
    resp = plan(LLAMA, max_num_batched_tokens=4096, version="0.6", max_model_len=65536)
    assert not fired(resp, "VW118")
    v0 = plan(LLAMA, max_num_batched_tokens=4096, version="0.6", max_model_len=16384)
    assert fired(v0, "VW118")
