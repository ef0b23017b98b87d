"""The V1 dummy sampler run's memory per vLLM release (data/vllm_sampler.yaml): the profile
peak's sampler term and the post-KV warm-up follow the top-k/top-p path each release takes."""

from __future__ import annotations

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.engine.settings import Settings, resolve_settings
from checker.planning.memory.activation import (
    activation_bytes,
    sampler_bytes_per_logit,
    sampler_warmup_bytes,
)
from tests.planning.plans import catalog_model, make_request, plan

MODEL = catalog_model("openai/gpt-oss-20b")  # 201,088-entry vocabulary
H100 = find_gpu("H100-80GB")


def _settings(version: str, seqs: int = 1024, tokens: int = 8192, install: str = "pip") -> Settings:
    request = make_request(
        "openai/gpt-oss-20b",
        version=version,
        max_num_seqs=seqs,
        max_num_batched_tokens=tokens,
        max_model_len=8192,
        install=install,
    )
    return resolve_settings(request, MODEL, H100, tp=1)


@pytest.mark.parametrize(
    ("version", "install", "rows", "expected"),
    [
        # the wheel without FlashInfer: torch sort (fp32 copy, sorted values, indices, iota,
        # cub buffers)
        ("0.8.5", "pip", 1024, 36),
        ("0.10.1", "pip", 1024, 36),
        ("0.11.0", "pip", 1024, 36),
        # the official image holds FlashInfer, which V1 samples with by default through 0.11.0:
        # 0.8.x on probabilities (FlashInfer 0.2.1), 0.9.0 on logits (masked copy and probs)
        ("0.8.5", "image", 1024, 8),
        ("0.9.2", "image", 1024, 12),
        ("0.10.2", "image", 1024, 12),
        ("0.11.0", "image", 1024, 12),
        # 0.11.1 makes FlashInfer sampling opt-in, though both builds hold it
        ("0.11.1", "image", 1024, 36),
        ("0.16.0", "image", 1024, 36),
        ("0.17.0", "pip", 1024, 12),  # Triton top-k/top-p in place: fp32 copy, probs, noise
        ("0.19.0", "image", 1024, 12),
        ("0.19.0", "image", 4, 36),  # under 8 rows 0.19 still sorts
    ],
)
def test_bytes_per_logit_follow_the_release_and_build_path(
    version: str, install: str, rows: int, expected: int
) -> None:
    settings = _settings(version, seqs=rows, install=install)
    assert sampler_bytes_per_logit(settings, rows) == expected


def test_profile_peak_holds_the_sort_temporaries_before_0_17() -> None:
    rows, vocab, hidden = 1024, MODEL.vocab_size, MODEL.hidden_size
    kept_hidden = 8192 * hidden * 2  # the dummy run's hidden states, bf16
    for version, per_logit in (("0.10.1", 2 + 36), ("0.11.0", 2 + 36), ("0.19.0", 2 + 12)):
        settings = _settings(version)
        expected = rows * vocab * per_logit + kept_hidden
        assert activation_bytes(MODEL, settings, 0) == pytest.approx(expected), version


def test_warmup_uses_the_same_dummy_sampler_run() -> None:
    rows, vocab = 1024, MODEL.vocab_size
    assert sampler_warmup_bytes(MODEL, _settings("0.10.1")) == rows * vocab * (2 + 36)
    assert sampler_warmup_bytes(MODEL, _settings("0.10.1", install="image")) == (
        rows * vocab * (2 + 12)
    )
    assert sampler_warmup_bytes(MODEL, _settings("0.19.0")) == rows * vocab * (2 + 12)
    # max_num_batched_tokens below max_num_seqs caps the rows
    assert sampler_warmup_bytes(MODEL, _settings("0.19.0", tokens=512)) == 512 * vocab * 14


def test_explain_names_the_sampler_path_build_and_cost() -> None:
    for version, install, per_logit, words in (
        ("0.10.1", "pip", 38, "torch sort"),
        ("0.10.1", "image", 14, "FlashInfer"),
        ("0.19.0", "image", 14, "Triton"),
    ):
        resp = plan(
            "openai/gpt-oss-20b",
            version=version,
            max_num_seqs=1024,
            max_num_batched_tokens=8192,
            max_model_len=8192,
            install=install,
            explain=True,
        )
        text = resp.config.explanations["sampler profile run"]
        gib = 1024 * MODEL.vocab_size * per_logit / 2**30
        assert f"x {per_logit} bytes" in text and words in text and f"{gib:.2f} GiB" in text
        build = "official vllm/vllm-openai image" if install == "image" else "PyPI wheel"
        assert build in text
