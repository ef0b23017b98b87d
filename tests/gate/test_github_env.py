"""The runner's files: step outputs (heredoc form), job summary (1 MiB), event payload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.errors import CheckerError
from checker.gate.github.env import (
    SUMMARY_LIMIT,
    append_step_summary,
    pull_request_of,
    read_event,
    run_url,
    workflow_run_of,
    write_outputs,
)
from tests.gate.conftest import pr_event


def parse_github_output(text: str) -> dict[str, str]:
    """Read the file back the way the runner does: ``name=value`` or ``name<<DELIM`` blocks."""
    values: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            else:
                raise AssertionError(f"delimiter {delimiter} never closed")
            values[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def test_outputs_round_trip_through_the_runner_format(tmp_path: Path) -> None:
    out = tmp_path / "output"
    out.write_text("earlier=1\n")  # another step's output: appended to, not replaced
    hostile = "line 1\nEOF\nghadelimiter_\nverdict=PASS\n"
    write_outputs(out, {"verdict": "FAIL", "fail": "2", "report": hostile})
    parsed = parse_github_output(out.read_text())
    assert parsed == {"earlier": "1", "verdict": "FAIL", "fail": "2", "report": hostile}


def test_each_output_gets_its_own_random_delimiter(tmp_path: Path) -> None:
    out = tmp_path / "output"
    write_outputs(out, {"a": "1", "b": "2"})
    delimiters = [line.split("<<")[1] for line in out.read_text().splitlines() if "<<" in line]
    assert len(set(delimiters)) == 2 and all(d.startswith("ghadelimiter_") for d in delimiters)


def test_bad_output_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="output name"):
        write_outputs(tmp_path / "o", {"a=b": "1"})


def test_summary_is_appended(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    append_step_summary(summary, "## vllm-wizard\nall good", full_report="in x")
    assert summary.read_text() == "# earlier step\n## vllm-wizard\nall good\n"


def test_summary_over_one_mib_is_cut_with_a_note(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("x" * 100_000 + "\n")
    report = "".join(f"| p{i} | ✅ PASS |\n" for i in range(80_000))
    append_step_summary(summary, report, full_report="in the `report` artifact")
    size = summary.stat().st_size
    assert SUMMARY_LIMIT - 200 < size <= SUMMARY_LIMIT < 1024 * 1024
    assert summary.read_text().endswith("The full report is in the `report` artifact.\n")


def test_pull_request_event_and_fork_detection(tmp_path: Path) -> None:
    same = pull_request_of(pr_event(5))
    fork = pull_request_of(pr_event(6, fork=True))
    assert same is not None and same.number == 5 and not same.is_fork
    assert fork is not None and fork.is_fork and fork.head_repo == "mallory/serving"
    deleted = pr_event(8, fork=True)
    deleted["pull_request"]["head"]["repo"] = None  # type: ignore[index]
    gone = pull_request_of(deleted)
    assert gone is not None and gone.is_fork and gone.head_repo is None
    assert pull_request_of({"push": {}}) is None


def test_workflow_run_event() -> None:
    event = {
        "workflow_run": {
            "head_sha": "c" * 40,
            "html_url": "https://github.test/octo/serving/actions/runs/1",
            "pull_requests": [{"number": 3}],
        }
    }
    run = workflow_run_of(event)
    assert run is not None and run.pr_numbers == (3,) and run.head_sha == "c" * 40
    assert workflow_run_of(pr_event(1)) is None


def test_read_event(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(pr_event(9)))
    assert read_event({"GITHUB_EVENT_PATH": str(path)})["pull_request"]["number"] == 9
    assert read_event({}) == {}
    path.write_text("{not json")
    with pytest.raises(CheckerError, match="event payload"):
        read_event({"GITHUB_EVENT_PATH": str(path)})


def test_run_url() -> None:
    env = {"GITHUB_SERVER_URL": "https://github.test", "GITHUB_REPOSITORY": "o/r"}
    assert run_url({**env, "GITHUB_RUN_ID": "12"}) == "https://github.test/o/r/actions/runs/12"
    assert run_url(env) is None


def test_a_deeply_nested_event_is_a_clear_error(tmp_path: Path) -> None:
    from checker.gate.github.env import read_event

    event = tmp_path / "event.json"
    event.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckerError, match="nested too deeply"):
        read_event({"GITHUB_EVENT_PATH": str(event)})


@pytest.mark.parametrize(
    "pull_request",
    [
        {"number": 3, "head": "x", "base": []},
        {"number": 3, "head": {"repo": "x", "sha": "a"}, "base": {"repo": 5}},
    ],
    ids=["head-not-an-object", "repo-not-an-object"],
)
def test_a_malformed_pull_request_payload_is_read_without_crashing(
    pull_request: dict[str, object],
) -> None:
    pr = pull_request_of({"pull_request": pull_request})
    assert pr is not None and pr.number == 3 and pr.head_repo is None


@pytest.mark.parametrize("number", [True, 0, -4, "7", 1.0])
def test_only_a_positive_integer_is_a_pull_request_number(number: object) -> None:
    assert pull_request_of({"pull_request": {"number": number}}) is None
    run = workflow_run_of({"workflow_run": {"pull_requests": [{"number": number}, 5]}})
    assert run is not None and run.pr_numbers == ()
    assert workflow_run_of({"workflow_run": {"pull_requests": "x"}}) is not None


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"\xff\xfe", "not UTF-8 text"),
        (b"{", "not valid JSON (Expecting property name"),
        (b'{"n": ' + b"9" * 5000 + b"}", "it holds a number too long to read"),
    ],
)
def test_an_unreadable_event_payload_says_why_in_words(
    tmp_path: Path, content: bytes, why: str
) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(content)
    with pytest.raises(CheckerError) as err:
        read_event({"GITHUB_EVENT_PATH": str(path)})
    assert err.value.message == f"cannot read the event payload: {why}" or why in str(err.value)
    assert "codec" not in err.value.message and "sys.set_int_max_str_digits" not in str(err.value)
    with pytest.raises(CheckerError, match="No such file or directory$"):
        read_event({"GITHUB_EVENT_PATH": str(tmp_path / "gone.json")})
