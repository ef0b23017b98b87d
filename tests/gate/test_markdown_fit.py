"""Cutting markdown to a limit leaves no fence or <details> open and always fits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from checker.gate.formats.markdown_fit import fit_markdown, utf8_bytes, utf16_units

NOTE = "*(cut)*\n"


def test_text_that_fits_is_unchanged() -> None:
    assert fit_markdown("a\nb", 10, NOTE) == "a\nb"


def test_an_open_code_fence_is_closed_before_the_note() -> None:
    text = "intro\n```yaml\n" + "key: value\n" * 100 + "```\nafter\n"
    out = fit_markdown(text, 200, NOTE)
    assert len(out) <= 200 and out.endswith("```\n\n" + NOTE)
    assert out.count("```") == 2


def test_a_fence_line_with_an_info_string_does_not_close_a_fence() -> None:
    text = "```\n```yaml\n" + "x\n" * 100
    out = fit_markdown(text, 60, NOTE)
    assert out.count("```") == 3 and out.endswith("```\n\n" + NOTE)


def test_open_details_are_closed() -> None:
    text = "<details><summary>a</summary>\n\n<details>\n" + "row\n" * 100
    out = fit_markdown(text, 120, NOTE)
    assert out.count("</details>") == 2 and len(out) <= 120


def test_cut_inside_a_long_line_never_ends_inside_a_tag() -> None:
    out = fit_markdown("a" * 50 + "<img src=x>" + "b" * 100, 70, NOTE)
    assert "<img" not in out and out.startswith("a" * 50)


@settings(max_examples=150, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(["a", "é", "😀", "\n", "```", "<details>", "</details>", "~~~", "<b"])
    ).map("".join),
    limit=st.integers(min_value=60, max_value=400),
)
def test_always_within_the_limit_in_bytes_and_utf16(text: str, limit: int) -> None:
    for measure in (utf8_bytes, utf16_units, len):
        out = fit_markdown(text, limit, NOTE, measure=measure)
        assert measure(out) <= limit
        assert out == text or out.endswith(NOTE)
