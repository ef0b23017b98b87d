from __future__ import annotations

from checker.gate.formats.text import render_text
from checker.schemas.enums import Verdict
from tests.gate import factories as f


def test_aligned_table_findings_and_summary() -> None:
    pairs = [
        f.pair("profiles/a-long-name.yaml", "H100-80GB:1"),
        f.pair(
            "p.yaml", "L4:2", verdict=Verdict.FAIL, tokens=20000, findings=(f.finding(),), line=5
        ),
    ]
    lines = render_text(f.result(pairs)).splitlines()
    header, first, second = lines[:3]
    assert header.split() == [
        "PROFILE",
        "TARGET",
        "VERDICT",
        "KV",
        "TOKENS",
        "MAX",
        "CONC",
        "HEADROOM",
        "OOM",
    ]
    assert first.index("PASS") == second.index("FAIL") == header.index("VERDICT")
    assert first.index("444,464") + len("444,464") == second.index("20,000") + len("20,000")
    assert "p.yaml:5: error VW203 [L4:2] The model's max seq len" in "\n".join(lines)
    assert "    fix: Set model.max_model_len to 20000 or less." in lines
    assert lines[-1] == "vllm-wizard check: FAIL (1 fail, 0 warn, 1 pass)"
    assert "\x1b[" not in "\n".join(lines)


def test_colour_only_when_asked_and_control_characters_escaped() -> None:
    pair = f.pair("evil\x1b[2J.yaml", verdict=Verdict.FAIL, findings=(f.finding(message="m\x07"),))
    plain = render_text(f.result([pair]))
    assert "\x1b" not in plain and "\x07" not in plain
    assert "evil\\x1b[2J.yaml" in plain
    coloured = render_text(f.result([pair]), color=True)
    assert "\x1b[31mFAIL" in coloured


def test_diff_section() -> None:
    before = f.pair(target="L4:1")
    after = f.pair(target="L4:1", verdict=Verdict.FAIL, tokens=20000, findings=(f.finding(),))
    text = render_text(f.result([after], diff=f.diff(before, after)))
    assert "Changes against HEAD~1 (0123456789ab):" in text
    assert "  changed  profiles/llama.yaml" in text
    assert "    L4:1: verdict PASS → FAIL, KV tokens 444,464 → 20,000" in text
    assert "  removed  profiles/gone.yaml" in text
    assert "  1 profile(s) unchanged" in text


def test_an_input_problem_hint_is_labelled_fix_once() -> None:
    from checker.gate.formats.sarif import render_sarif
    from checker.gate.result import InputProblem

    problem = InputProblem(path="p.yaml", line=5, message="unknown GPU 'X'", hint="see gpus")
    result = f.result([], errors=[problem])
    assert "    fix: see gpus\n" in render_text(result)
    assert "Fix: see gpus" in render_sarif(result) and "hint:" not in render_sarif(result)
