"""One hostile profile set, fed through every output by the test_hostile_* files.

Each string a pull request controls (a file name, a model id, a revision, vLLM flags, paths)
carries the same payload: shell substitution, backticks, ';', newlines, a workflow command,
our own PR-comment marker, an HTML comment, an @mention, a table pipe, a link, '../'.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from checker.gate.pr_comment import MARKER

PAYLOAD = (
    "$(touch PWNED)`touch PWNED`;touch PWNED|cell\n::error file=x::INJECTED\r\n"
    f"{MARKER}<!-- hidden --> @octocat <img src=x onerror=alert(1)> [a](javascript:x) %0A ../../"
)
# A file name may hold anything but '/' and NUL (git commits newlines in names too).
HOSTILE_FILE = "bad\n::error::PWNED $(touch PWNED) `x`; | <!-- m --> @octocat.yaml"
UNKNOWN_MODEL_FILE = "unknown-model.yaml"
VALUES_FILE = "values.yaml"
GPU = "H100-SXM-80GB"


def hostile_profiles(folder: Path) -> dict[str, str]:
    """Write the set into ``folder``; file name -> what it is meant to produce."""
    files = {
        # Planned and failing (KV too small for the context): findings and annotations at
        # a hostile file name.
        HOSTILE_FILE: {
            "model": {"id": "Qwen/Qwen3-8B", "max_model_len": 16_000_000},
            "hardware": {"gpu_name": "L4"},
        },
        # Not planned: the error message quotes the hostile model id.
        UNKNOWN_MODEL_FILE: {
            "model": {"id": "org/" + PAYLOAD},
            "hardware": {"gpu_name": GPU},
        },
        # Planned and passing: hostile values travel into the plan and the artifacts.
        VALUES_FILE: {
            "model": {"id": "Qwen/Qwen3-8B", "revision": PAYLOAD[:256], "tokenizer": PAYLOAD},
            "hardware": {"gpu_name": GPU},
            "deploy": {"image": PAYLOAD, "cache_dir": "/cache/" + PAYLOAD},
            "outputs": {
                "vllm_args": {"served-model-name": PAYLOAD, "x; touch PWNED #": "1"},
            },
        },
    }
    for name, data in files.items():
        (folder / name).write_text(yaml.safe_dump(data), encoding="utf-8")
    return {
        HOSTILE_FILE: "FAIL",
        UNKNOWN_MODEL_FILE: "ERROR",
        VALUES_FILE: "PASS",
    }


def assert_nothing_ran(folder: Path) -> None:
    """No payload was executed by a shell anywhere under ``folder``."""
    assert not list(folder.rglob("PWNED")), "a payload was executed"
