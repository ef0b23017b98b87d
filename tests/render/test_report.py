from __future__ import annotations

import re

from markdown_it import MarkdownIt

from checker.render.report import render_report_md
from tests.render.conftest import hostile_finding, make_plan

NASTY = "a|b `x` ``` <script>alert(1)</script> @octocat **bold** [l](http://e) $x$"


def _html(text: str) -> str:
    """Rendered as GitHub would: CommonMark with tables, raw HTML passed through."""
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).render(text)


def test_report_has_every_section() -> None:
    text = render_report_md(make_plan(findings=[hostile_finding("32")]))
    for part in (
        "❌ FAIL",
        "| Memory per GPU | GiB | Basis |",
        "| KV cache | 54.83 | derived |",
        "Available KV cache memory: 54.83 GiB",
        "#### Findings",
        "Fix: use 32",
        "#### Recommended settings",
        "#### Performance (estimates, not measurements)",
        "vllm serve meta-llama/Llama-3.1-8B-Instruct --tensor-parallel-size=1",
    ):
        assert part in text


def test_title_replaces_the_heading() -> None:
    assert render_report_md(make_plan(), title="prod/a.yaml on L4").startswith(
        "### prod/a.yaml on L4\n"
    )


def test_untrusted_text_stays_inert() -> None:
    plan = make_plan(model=NASTY, gpu=NASTY, findings=[hostile_finding(NASTY)])
    text = render_report_md(plan, title=NASTY)
    html = _html(text)
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<strong>bold</strong>" not in html and 'href="http://e"' not in html
    # outside code, a mention is broken by a zero-width space, so it never pings
    prose = re.sub(r"<code[^>]*>.*?</code>", "", html, flags=re.S)
    assert "@octocat" not in prose and "@\u200boctocat" in prose
    # every table row keeps its cell count: a pipe in a value never adds a cell
    for table in re.findall(r"<table>.*?</table>", html, flags=re.S):
        rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
        counts = {len(re.findall(r"<t[hd][ >]", row)) for row in rows}
        assert len(counts) == 1, table
    # the serve command's fence cannot be closed by the backticks in the model name
    assert '<pre><code class="language-sh">vllm serve' in html


def test_markdown_of_a_passing_plan() -> None:
    text = render_report_md(make_plan())
    assert "✅ PASS" in text and "#### Findings" not in text


def test_a_huge_headroom_reads_in_digits() -> None:
    # a workload of a million requests printed "-4.91059e+06 GiB headroom"
    from checker.render.report import kv_summary

    plan = make_plan()
    for value, shown in (
        (-4910590.25, "-4,910,590.25"),
        (3.6, "3.6"),
        (53.0, "53"),
        (-0.53, "-0.53"),
    ):
        feasibility = plan.feasibility.model_copy(update={"headroom_gib": value})
        text = kv_summary(plan.model_copy(update={"feasibility": feasibility}))
        assert f"; {shown} GiB headroom at the workload" in text, text
