"""The GitHub Actions runner's side channels: event payload, job summary, step outputs."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from checker.errors import CheckerError, reason
from checker.gate.formats.markdown_fit import fit_markdown, utf8_bytes
from checker.schemas.yaml_source import read_prefix

# GitHub drops a step's summary over 1 MiB; keep a margin for what other steps' tools append.
SUMMARY_LIMIT = 1024 * 1024 - 4096
# GitHub caps a webhook payload at 25 MB; past that the file is not an event payload
_MAX_EVENT_BYTES = 25 * 1024 * 1024
_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class PullRequest(NamedTuple):
    number: int
    head_sha: str
    head_repo: str | None  # None when the fork was deleted
    base_repo: str

    @property
    def is_fork(self) -> bool:
        return self.head_repo != self.base_repo


class WorkflowRun(NamedTuple):
    """The run that triggered a ``workflow_run`` event (the fork-safe comment pattern)."""

    head_sha: str
    html_url: str
    pr_numbers: tuple[int, ...]  # empty for pull requests from forks: GitHub leaves it out


def in_actions(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def run_url(env: Mapping[str, str]) -> str | None:
    server, repo, run = (
        env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def read_event(env: Mapping[str, str]) -> dict[str, Any]:
    """The webhook payload of the running workflow, or {} outside Actions."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    why = None
    try:
        data = json.loads(read_prefix(Path(path), _MAX_EVENT_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        why = reason(exc)
    except json.JSONDecodeError as exc:
        why = f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    except ValueError:  # json's own: an integer past Python's 4300-digit conversion limit
        why = "it holds a number too long to read"
    except RecursionError:  # json nests recursively; a hostile payload must not crash us
        why = "nested too deeply"
    if why is not None:
        raise CheckerError(f"cannot read the event payload: {why}", location=path)
    return _mapping(data)


def pull_request_of(event: Mapping[str, Any]) -> PullRequest | None:
    pr = _mapping(event.get("pull_request"))
    number = _pr_number(pr.get("number"))
    if number is None:
        return None
    head, base = _mapping(pr.get("head")), _mapping(pr.get("base"))
    head_repo = _mapping(head.get("repo")).get("full_name")
    return PullRequest(
        number=number,
        head_sha=str(head.get("sha", "")),
        head_repo=str(head_repo) if head_repo else None,
        base_repo=str(_mapping(base.get("repo")).get("full_name", "")),
    )


def workflow_run_of(event: Mapping[str, Any]) -> WorkflowRun | None:
    run = event.get("workflow_run")
    if not isinstance(run, dict):
        return None
    prs = run.get("pull_requests")
    found = (_pr_number(_mapping(pr).get("number")) for pr in _list(prs))
    numbers = tuple(n for n in found if n is not None)
    return WorkflowRun(str(run.get("head_sha", "")), str(run.get("html_url", "")), numbers)


def _mapping(value: Any) -> dict[str, Any]:
    """A payload object, or {} where the payload has something else (it is not ours to trust)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _pr_number(value: Any) -> int | None:
    """A pull request number: a positive integer (JSON's true is not 1)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return value if ok else None


def append_step_summary(path: Path, markdown: str, *, full_report: str) -> None:
    """Append to the job summary, cut to what is left of the step's 1 MiB."""
    used = path.stat().st_size if path.is_file() else 0
    note = f"\n> **The report was cut to fit the job summary.** The full report is {full_report}.\n"
    try:
        text = fit_markdown(
            markdown.rstrip("\n") + "\n", SUMMARY_LIMIT - used, note, measure=utf8_bytes
        )
    except ValueError:  # earlier steps filled it: not even the note fits
        raise CheckerError(
            f"the job summary already holds {used:,} bytes; no room for the report",
            location=str(path),
        ) from None
    _append(path, text, "job summary")


def write_outputs(path: Path, values: Mapping[str, str]) -> None:
    """Append step outputs in the runner's ``name<<DELIMITER`` form, which carries any text."""
    chunks = []
    for name, value in values.items():
        if not _OUTPUT_NAME.match(name):
            raise ValueError(f"not an output name: {name!r}")
        import uuid  # only a value written to a GitHub file needs it: kept off each start

        delimiter = f"ghadelimiter_{uuid.uuid4()}"  # random, so a value cannot end it early
        if delimiter in value:
            raise ValueError("an output value contains its random delimiter")
        chunks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    _append(path, "".join(chunks), "step outputs")


def _append(path: Path, text: str, what: str) -> None:
    """Append to a file the runner owns (it reads them after the step, so no rename)."""
    try:
        with path.open("a", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    except OSError as exc:
        raise CheckerError(f"cannot write the {what}: {exc.strerror}", location=str(path)) from None
