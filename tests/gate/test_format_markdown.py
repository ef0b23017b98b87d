from __future__ import annotations

import re
from dataclasses import replace

import pytest

from checker.gate.formats import markdown, report_chunks
from checker.gate.formats.markdown import markdown_lines, md, render_markdown
from checker.schemas.enums import OOMRisk, Verdict
from tests.gate import factories as f


def test_summary_table_and_failing_detail() -> None:
    ok = f.pair(target="H100-80GB:1")
    bad = f.pair(
        target="L4:1",
        gpu="L4",
        verdict=Verdict.FAIL,
        tokens=20000,
        concurrency=0.61,
        headroom=-3.5,
        findings=(f.finding(),),
        line=9,
    )
    text = render_markdown(f.result([ok, bad]))
    assert text.startswith("## ❌ vllm-wizard check: FAIL\n")
    assert "1 fail, 0 warn, 1 pass (fail on: error)" in text
    row = "| profiles/llama.yaml | H100-80GB:1 | ✅ PASS | 444,464 | 27.13x | 49.66 GiB | low |"
    assert row in text
    assert "#### ❌ profiles/llama.yaml on L4:1: FAIL" in text
    assert "- **VW203** error at line 9 `model.max_model_len`:" in text
    assert "  - **Fix:** Set model.max\\_model\\_len to 20000 or less." in text
    assert "on H100-80GB:1" not in text  # passing pairs get no detail
    # the failing pair's plan, as the render stage writes it, folded away
    assert "<details><summary>Plan details</summary>\n\n### profiles/llama.yaml on L4:1" in text


def test_diff_shows_before_and_after_and_summarises_the_rest() -> None:
    before = f.pair(target="L4:1")
    after = f.pair(
        target="L4:1",
        verdict=Verdict.FAIL,
        tokens=20000,
        concurrency=0.61,
        headroom=-3.5,
        risk=OOMRisk.HIGH,
        findings=(f.finding(),),
    )
    text = render_markdown(f.result([after], diff=f.diff(before, after)))
    assert "### Changes against HEAD\\~1 (0123456789ab)" in text
    row = next(r for r in text.splitlines() if r.startswith("| profiles/llama.yaml | changed"))
    assert "PASS → **FAIL**" in row
    assert "444,464 → **20,000**" in row
    assert "27.13x → **0.61x**" in row
    assert "49.66 GiB → **-3.50 GiB**" in row
    assert "| profiles/gone.yaml | removed | L4:1 | PASS → **-** |" in text
    assert "1 profile(s) unchanged: profiles/same.yaml" in text
    assert "| profiles/same.yaml |" not in text


def test_untrusted_text_is_inert() -> None:
    evil = "a|b `x` <script>alert(1)</script> **bold** [l](http://x) @octocat <!-- -->"
    out = md(evil)
    assert "<" not in out and ">" not in out
    assert "\\|" in out and "\\`x\\`" in out and "\\*\\*bold\\*\\*" in out and "\\[l\\]" in out
    assert "@octocat" not in out
    assert "\n" not in md("two\nlines")
    pair = f.pair(evil, verdict=Verdict.FAIL, findings=(f.finding(message=evil, fix=evil),))
    text = render_markdown(f.result([pair]))
    assert "<script>" not in text and "@octocat" not in text
    table_row = next(r for r in text.splitlines() if r.startswith("| a"))
    assert len(re.split(r"(?<!\\)\|", table_row)) == 9  # seven cells, none split


def test_input_errors_listed() -> None:
    problem = f.InputProblem(
        path="profiles/x.yaml",
        line=4,
        message="unknown key 'model.max_modle_len'",
        hint="did you mean 'max_model_len'?",
    )
    text = render_markdown(f.result([f.pair()], errors=[problem]))
    assert "### Input errors" in text
    expected = "unknown key 'model.max\\_modle\\_len' (did you mean 'max\\_model\\_len'?)"
    assert f"- **profiles/x.yaml:4**: {expected}" in text


def test_written_in_pieces_as_the_whole_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamed (issue 17): the pieces are the report's lines joined, trailing space dropped."""
    monkeypatch.setattr(markdown, "_BATCH", 2)  # lines a piece: a fleet's report has thousands
    failing = f.pair(verdict=Verdict.FAIL, findings=(f.finding(),))
    result = f.result([f.pair(), failing, f.error_pair()])  # the notes come last
    result = replace(result, notes=["trailing  ", "  "])
    chunks = list(report_chunks(result, "markdown"))
    assert len(chunks) > 10
    whole = "\n".join(markdown_lines(result)).rstrip() + "\n"
    assert "".join(chunks) == render_markdown(result) == whole
    assert whole.endswith("> trailing\n>\n")  # the last line's trailing space dropped
