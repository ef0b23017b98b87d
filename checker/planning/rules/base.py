"""What every rule sees, and the registry rules add themselves to.

A rule is a pure function of a RuleContext returning zero or more Findings. Rule ids are
stable (VW1xx configuration, VW2xx memory, VW3xx deployment) so users can silence or search
them; messages use vLLM's own wording where vLLM raises the error.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import field
from functools import wraps
from typing import Any, TypeVar

from checker.planning.engine.settings import Settings
from checker.planning.memory.memory import MemoryPlan
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import PlanRequest
from checker.schemas.lazy_dataclass import lazy_dataclass
from checker.schemas.model_info import ModelInfo
from checker.schemas.outputs import Finding

GIB = float(1 << 30)
T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
_MISSING: Any = object()  # a memo's miss (a per_plan value may be None)


@lazy_dataclass(frozen=True)
class RuleContext:
    request: PlanRequest
    model: ModelInfo
    gpu: GPUSpec
    settings: Settings
    memory: MemoryPlan
    calibration_ignored: str | None = None  # why a calibration of this model does not apply
    # per_plan values of this context; not an init field, so dataclasses.replace starts afresh
    memo: dict[Hashable, Any] = field(default_factory=dict, init=False, repr=False, compare=False)


def per_plan(func: Callable[[RuleContext], T]) -> Callable[[RuleContext], T]:
    """``func`` computed once per plan: several rules, the report and the recommendations ask
    for the same figure of the same context."""

    @wraps(func)
    def once(ctx: RuleContext) -> T:
        value: T = ctx.memo.get(func, _MISSING)  # one look-up, hit or miss
        if value is _MISSING:
            value = ctx.memo[func] = func(ctx)
        return value

    return once


def per_plan_at(func: Callable[[RuleContext, K], T]) -> Callable[[RuleContext, K], T]:
    """``func`` of a plan at one ``K`` (an end of an estimate's range), computed once per plan
    and ``K``: a step estimate asks for the same rates for every stage, decode and prefill."""

    @wraps(func)
    def once(ctx: RuleContext, key: K) -> T:
        slot = (func, key)
        value: T = ctx.memo.get(slot, _MISSING)
        if value is _MISSING:
            value = ctx.memo[slot] = func(ctx, key)
        return value

    return once


# A rule returns its finding or None; one that can find several yields them. Most rules find
# nothing in most plans, and a call that returns None costs far less than a generator's frame.
Rule = Callable[[RuleContext], Finding | Iterable[Finding] | None]
RULES: list[Rule] = []


def rule(func: Rule) -> Rule:
    """Register a rule; order of registration is the order findings are reported in."""
    RULES.append(func)
    return func


def gib(value: float) -> str:
    """vLLM's format_gib: round to 2 decimals, no trailing zeros forced (6.3, not 6.30)."""
    return f"{round(value / GIB, 2)}"
