"""A long flag list renders in linear time: 20,000 served names took about a minute when each
argument rescanned its line (issue 18, item 15)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.hardening.conftest import GPU, Run


def test_twenty_thousand_arguments_render_in_seconds(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    names = [f"name-{i}" for i in range(20_000)]
    profile = {
        "model": {"id": "Qwen/Qwen3-8B"},
        "hardware": {"gpu_name": GPU},
        "outputs": {"vllm_args": {"served-model-name": names}},
    }
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(profile))
    start = time.perf_counter()
    run = cli("generate", "--profile", "p.yaml", "--output-dir", "-", "--emit", "command")
    elapsed = time.perf_counter() - start
    assert run.code == 0, run
    assert "name-19999" in run.out
    assert elapsed < 20, f"{elapsed:.1f} s: quadratic again? (about 60 s before the fix)"
