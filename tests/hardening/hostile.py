"""One hostile profile set, fed through every output by the test_hostile_* files.

Each string a pull request controls (a file name, a model id, a revision, vLLM flags, paths)
carries the same payload: shell substitution, backticks, ';', newlines, a workflow command,
our own PR-comment marker, an HTML comment, an @mention, a table pipe, a link, '../'.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from checker.gate.github.pr_comment import MARKER

PAYLOAD = (
    "$(touch PWNED)`touch PWNED`;touch PWNED|cell\n::error file=x::INJECTED\r\n"
    f"{MARKER}<!-- hidden --> @octocat <img src=x onerror=alert(1)> [a](javascript:x) %0A ../../"
)
REVISION = PAYLOAD[:256]
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
            "model": {"id": "Qwen/Qwen3-8B", "revision": REVISION, "tokenizer": PAYLOAD},
            "hardware": {"gpu_name": GPU},
            "deploy": {"image": PAYLOAD},
            "outputs": {"vllm_args": {"served-model-name": PAYLOAD}},
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


_FENCE = re.compile(r"^(`{3,})[^\n]*\n.*?^\1\s*$", re.M | re.S)
_MENTION = re.compile(r"(?<![\w`])@octocat")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_LINK = re.compile(r"(?<!\\)\]\(javascript:")


def assert_inert_markdown(text: str, *, markers: int = 0, comments: int | None = None) -> None:
    """No HTML, image, link or @mention from hostile text; tables intact. Fenced code blocks
    are literal text to markdown, so only what lies outside them is checked."""
    text = _FENCE.sub("", text)
    assert text.count(MARKER) == markers, "our marker was faked or lost"
    assert text.count("<!--") == (markers if comments is None else comments), "HTML comment"
    for raw in ("<img", "<script", "onerror=alert(1)>"):
        assert raw not in text, raw
    assert not _LINK.search(text), "a hostile link renders"
    assert not _MENTION.search(text), "a user would be @mentioned"
    _assert_tables_intact(text)


def _assert_tables_intact(text: str) -> None:
    """Inside every table, each row has the header's number of cells and nothing breaks out."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and line.startswith("|") and lines[i + 1].startswith("|---"):
            width = len(_UNESCAPED_PIPE.findall(line))
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                assert len(_UNESCAPED_PIPE.findall(row)) == width, row
