"""JSON report: ``CheckResult`` as JSON; its field names are the documented, stable keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from checker.gate.result import PACKED, CheckResult
from checker.schemas.json_text import json_text
from checker.schemas.records import record_json

# where the pairs go in the result's own dump with none: JSON text holds no raw newline inside
# a string, so this is the structural key, not a value that looks like it
_NO_PAIRS = '\n  "pairs": [],'


def render_json(result: CheckResult, color: bool = False) -> str:
    return "".join(json_chunks(result))


def json_chunks(result: CheckResult) -> Iterator[str]:
    """``record_json(result)`` and a newline, one pair at a time, so a fleet's report
    (hundreds of MB) is never whole in memory."""
    head = record_json(replace(result, pairs=[]))
    if not result.pairs:
        yield head + "\n"
        return
    before, _, after = head.partition(_NO_PAIRS)
    yield before + '\n  "pairs": [\n'
    for index, pair in enumerate(result.pairs):
        # json_text as record_json writes it (indent 2), without its import at each pair
        text = json_text(pair.unpacked(), indent=2, exclude=PACKED, level=2)  # pairs' depth
        yield ("    " if index == 0 else ",\n    ") + text
    yield "\n  ]," + after + "\n"
