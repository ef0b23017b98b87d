"""benchmarks/vllm_speculative_keys_extract.py on a miniature vllm/config/speculative.py."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import load_benchmark


def test_the_extract_script_reads_init_fields_only(tmp_path: Path) -> None:
    extract = load_benchmark("vllm_speculative_keys_extract")
    source = tmp_path / "vllm" / "config" / "speculative.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "from dataclasses import field\n"
        "from typing import ClassVar\n"
        "@config\n"
        "class SpeculativeConfig:\n"
        "    model: str | None = None\n"
        "    custom_method: str | None = field(default=None, init=False)\n"
        "    registry: ClassVar[dict[str, int]] = {}\n"
        "    num_speculative_tokens: int = Field(default=None, gt=0)\n"
        "    def f(self) -> None:\n"
        "        self.x: int = 1\n",
        encoding="utf-8",
    )
    assert extract.speculative_keys(tmp_path) == ["model", "num_speculative_tokens"]
    assert extract.entry(tmp_path, "0.34.1").splitlines()[:2] == [
        '  "0.34":',
        '    release: "0.34.1"',
    ]
