from __future__ import annotations

from checker.gate.formats.github import escape_data, escape_property, render_github
from checker.schemas.enums import Severity, Verdict
from tests.gate import factories as f


def _commands(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("::")]


def test_escaping_follows_the_runner() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_error_at_the_key_line_with_target_and_fix() -> None:
    pair = f.pair(verdict=Verdict.FAIL, findings=(f.finding(),), line=7)
    (command,) = _commands(render_github(f.result([pair])))
    assert command.startswith(
        "::error file=profiles/llama.yaml,line=7,title=vllm-wizard VW203 on H100-80GB%3A1::"
    )
    assert "%0AFix: Set model.max_model_len to 20000 or less." in command


def test_untrusted_text_cannot_start_a_command() -> None:
    evil = f.finding(message="boom\n::error file=x::pwned\r\n::add-mask::x", fix="")
    pair = f.pair("profiles/a,b:c.yaml", verdict=Verdict.FAIL, findings=(evil,))
    text = render_github(f.result([pair]))
    assert len(_commands(text)) == 1
    assert "file=profiles/a%2Cb%3Ac.yaml," in text
    assert "boom%0A::error file=x::pwned%0D%0A::add-mask::x" in text


def test_most_severe_first_within_per_step_limits() -> None:
    pairs = [
        f.pair(f"p/e{i:02}.yaml", verdict=Verdict.FAIL, findings=(f.finding(),)) for i in range(15)
    ]
    warn = f.finding("VW204", severity=Severity.WARNING, message="w", key="workload.concurrency")
    note = f.finding("VW999", severity=Severity.INFO, message="n", key="model.id")
    pairs += [f.pair(f"p/w{i:02}.yaml", verdict=Verdict.WARN, findings=(warn,)) for i in range(12)]
    pairs += [f.pair(f"p/n{i}.yaml", findings=(note,)) for i in range(3)]
    commands = _commands(render_github(f.result(pairs)))
    kinds = [c.split(" ", 1)[0] for c in commands]
    assert kinds == ["::error"] * 10 + ["::warning"] * 10 + ["::notice"] * 4
    assert "p/e00.yaml" in commands[0] and "p/e09.yaml" in commands[9]
    assert commands[-1].startswith("::notice title=vllm-wizard::")
    assert "5 error(s), 2 warning(s) more not shown" in commands[-1]


def test_input_errors_are_annotated_and_pass_has_none() -> None:
    text = render_github(f.result([f.pair(), f.error_pair()]))
    (command,) = _commands(text)
    assert command.startswith("::error file=profiles/broken.yaml,line=3,title=vllm-wizard VWG00")
    assert "model 'nobody/nothing' not found" in command
    assert (
        text.splitlines()[-1]
        == "vllm-wizard check: FAIL (0 fail, 0 warn, 1 pass, 1 input error(s))"
    )
