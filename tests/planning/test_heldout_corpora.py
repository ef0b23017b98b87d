"""Every held-out corpus of start-up logs names each case's source and quotes its lines."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO, load_benchmark


@pytest.mark.parametrize(
    "corpus", ["features_heldout.yaml", "hybrid_heldout.yaml", "recent_heldout.yaml"]
)
def test_every_case_names_its_source_and_quotes_its_lines(corpus: str) -> None:
    path = REPO / "benchmarks" / "corpora" / corpus
    cases: list[dict[str, Any]] = load_benchmark("accuracy").corpus_cases(path)
    assert cases
    assert len({c["id"] for c in cases}) == len(cases)
    for case in cases:
        # a page's address, or a file of the code search index named by its id (the index
        # gives no repository or path for the committed logs it finds)
        source = str(case["source"])
        assert source.startswith("https://") or "code search index (id " in source, case["id"]
        assert case["raw_excerpt"] and case["observed"], case["id"]
        assert case["vllm_version"] and case["gpu_name"], case["id"]
