"""Start-up errors and warnings vLLM would raise for a plan, each a registered rule."""

from __future__ import annotations

from collections.abc import Iterable

from checker.planning.rules import architecture as _architecture  # noqa: F401  (registers)
from checker.planning.rules import attention as _attention  # noqa: F401
from checker.planning.rules import calibration as _calibration  # noqa: F401
from checker.planning.rules import compilation as _compilation  # noqa: F401
from checker.planning.rules import config as _config  # noqa: F401  (registers rules)
from checker.planning.rules import connectors as _connectors  # noqa: F401
from checker.planning.rules import context as _context  # noqa: F401
from checker.planning.rules import context_parallel as _context_parallel  # noqa: F401
from checker.planning.rules import coverage as _coverage  # noqa: F401
from checker.planning.rules import deepseek_v4 as _deepseek_v4  # noqa: F401
from checker.planning.rules import deployment as _deployment  # noqa: F401
from checker.planning.rules import graphs as _graphs  # noqa: F401
from checker.planning.rules import interconnect as _interconnect  # noqa: F401
from checker.planning.rules import lora as _lora  # noqa: F401
from checker.planning.rules import mamba_blocks as _mamba_blocks  # noqa: F401
from checker.planning.rules import memory as _memory  # noqa: F401
from checker.planning.rules import multimodal as _multimodal  # noqa: F401
from checker.planning.rules import multinode as _multinode  # noqa: F401
from checker.planning.rules import quantization as _quantization  # noqa: F401
from checker.planning.rules import scheduler as _scheduler  # noqa: F401
from checker.planning.rules import speculative as _speculative  # noqa: F401
from checker.planning.rules import startup_options as _startup_options  # noqa: F401
from checker.planning.rules import state as _state  # noqa: F401
from checker.planning.rules import workload as _workload  # noqa: F401
from checker.planning.rules.base import RULES, RuleContext
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding

_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def evaluate(context: RuleContext, extra: Iterable[Finding] = ()) -> list[Finding]:
    """The registered rules' findings and ``extra`` ones, errors first."""
    findings: list[Finding] = []
    for rule in RULES:
        found = rule(context)
        if found is None:
            continue
        if isinstance(found, Finding):
            findings.append(found)
        else:
            findings.extend(found)
    findings.extend(extra)
    if len(findings) > 1:  # most plans find one or none: no sort to run
        findings.sort(key=_rank)
    return findings


def _rank(finding: Finding) -> int:
    return _ORDER[finding.severity]


__all__ = ["RuleContext", "evaluate"]
