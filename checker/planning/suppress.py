"""Findings of the rules a profile (or the repo config) ignores: kept, marked, not counted."""

from __future__ import annotations

from collections.abc import Mapping

from checker.schemas.outputs import Finding


def split_suppressed(
    findings: list[Finding], ignore: Mapping[str, str]
) -> tuple[list[Finding], list[Finding]]:
    """(the findings that count, the ignored ones each carrying its reason), order kept."""
    if not ignore:  # most profiles ignore no rule
        return findings, []
    live = [f for f in findings if f.rule_id not in ignore]
    quiet = [
        f.model_copy(update={"suppressed": ignore[f.rule_id]})
        for f in findings
        if f.rule_id in ignore
    ]
    return live, quiet
