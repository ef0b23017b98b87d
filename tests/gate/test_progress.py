from __future__ import annotations

import io

from checker.gate.progress import progress_reporter


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_on_a_terminal() -> None:
    stream = _Terminal()
    show = progress_reporter(stream, quiet=False)
    assert show is not None
    show(0, 4)
    show(2, 4)
    show(4, 4)
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("] 4/4\n")
    assert "\raudit [###############---------------] 2/4" in text


def test_counter_in_a_log_and_nothing_when_quiet() -> None:
    stream = io.StringIO()
    show = progress_reporter(stream, quiet=False)
    assert show is not None
    for done in range(0, 101):
        show(done, 100)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "audit: 1/100 planned" and lines[-1] == "audit: 100/100 planned"
    assert len(lines) == 11
    assert progress_reporter(io.StringIO(), quiet=True) is None
