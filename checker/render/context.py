"""What an artifact is rendered from: the plan (engine arguments included), deploy and workload."""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from checker.errors import ArtifactError
from checker.planning.fixes import FIXABLE_FIELDS
from checker.render.escape import visible
from checker.render.write import FROM_FLAGS, HEADER_MARK
from checker.schemas.defaults import section_defaults
from checker.schemas.enums import Severity
from checker.schemas.inputs import WorkloadInput
from checker.schemas.outputs import PlanResponse
from checker.schemas.profile import Profile, ProfileDeploy

DEFAULT_IMAGE_REPO = "vllm/vllm-openai"
# Start-up budget before the first /health: image start and CUDA graphs, then weights at an
# assumed 50 MB/s from the Hub (a cold cache is the slow case).
_STARTUP_BASE_S = 300
_STARTUP_S_PER_GIB = 20


@dataclass(frozen=True)
class Change:
    """A setting the artifacts carry with another value than the profile's: the plan applied
    the fix of a start-up error (``rules``) to it."""

    key: str
    profile_value: Any
    artifact_value: Any
    rules: tuple[str, ...]

    def __str__(self) -> str:
        why = f"the fix of {', '.join(self.rules)}" if self.rules else "set by the plan"
        return (
            f"{self.key} is {self.artifact_value!r} here, not the profile's "
            f"{self.profile_value!r} ({why})"
        )


def _plain(value: Any) -> Any:
    value = value.value if isinstance(value, Enum) else value
    return None if value == "none" else value  # quantization: none is no method


@functools.cache
def _default_deploy() -> ProfileDeploy:
    """The deploy section of a plan without a profile: frozen, so one serves every such plan
    (the gate renders the serve command of each failing pair). Its defaults need no
    validating: built without the section's own validator (checker.schemas.defaults)."""
    return section_defaults(ProfileDeploy)()


@functools.cache
def _default_workload() -> WorkloadInput:
    return section_defaults(WorkloadInput)()


@dataclass(frozen=True)
class RenderContext:
    plan: PlanResponse
    deploy: ProfileDeploy = field(default_factory=_default_deploy)
    workload: WorkloadInput = field(default_factory=_default_workload)
    profile: Profile | None = None
    source: Path | None = None  # the profile file, if the plan came from one

    @property
    def vllm_args(self) -> dict[str, Any]:
        """The flags the plan passed through: an artifact carries nothing the plan did not see."""
        return self.plan.config.extra_args

    @property
    def gpus(self) -> int:
        """GPUs one server (one node's process, pod or container) takes: DP x TP x PP over the
        nodes the deployment spans."""
        f = self.plan.feasibility
        return -(-f.num_gpus_used // f.nodes)

    @property
    def version(self) -> str:
        """The pinned vLLM version as MAJOR.MINOR.PATCH (image tags carry all three)."""
        parts = self.plan.config.vllm_version.split(".")
        return ".".join((parts + ["0", "0"])[:3])

    @property
    def image(self) -> str:
        return self.deploy.image or f"{DEFAULT_IMAGE_REPO}:v{self.version}"

    @property
    def weights_total_gib(self) -> float:
        return self.plan.feasibility.memory.weights_gib * self.gpus

    @property
    def offload_host_gib(self) -> int:
        """Host memory the offloaded KV pins in one server process (pod, container): the
        node's share of every engine's, spread evenly over the nodes."""
        f = self.plan.feasibility
        per_engine = f.kv_offload_host_gib or 0.0
        return math.ceil(per_engine * f.data_parallel_size / f.nodes)

    @property
    def startup_seconds(self) -> int:
        return int(_STARTUP_BASE_S + _STARTUP_S_PER_GIB * math.ceil(self.weights_total_gib))

    @property
    def cache_dir(self) -> str:
        path = self.deploy.cache_dir
        if not path.startswith("/") or any(c in path for c in "\n\r\0:"):
            raise ArtifactError(
                f"deploy.cache_dir: {path!r} is not an absolute container path",
                hint="e.g. /root/.cache/huggingface",
                key="deploy.cache_dir",
            )
        return path

    @property
    def changes(self) -> list[Change]:
        """Every setting the profile gives that the artifacts carry with another value."""
        if self.profile is None:
            return []
        found = []
        for key, field_name in FIXABLE_FIELDS.items():
            section, name = key.split(".")
            wanted = _plain(getattr(getattr(self.profile, section), name, None))
            carried = "max_model_len_arg" if field_name == "max_model_len" else field_name
            actual = _plain(getattr(self.plan.config, carried))  # auto stays auto
            if wanted is None or wanted == actual:
                continue
            rules = tuple(
                f.rule_id
                for f in self.plan.feasibility.findings
                if f.severity is Severity.ERROR and key in f.fix_values
            )
            found.append(Change(key, wanted, actual, rules))
        return found

    def header(self, comment: str, dest_dir: Path | None, *, changes: bool = True) -> str:
        """The generated-by line in the artifact's comment syntax, naming the profile, then one
        line per setting the artifact changed from the profile (``changes``)."""
        if self.source is None:
            origin = FROM_FLAGS
        else:
            base = dest_dir.resolve() if dest_dir else Path.cwd()
            origin = Path(os.path.relpath(self.source.resolve(), base)).as_posix()
        origin = " ".join(origin.split())  # a newline in a path must not end the comment
        text = f"{HEADER_MARK} from {visible(origin)}; do not edit by hand, regenerate instead."
        lines = [text] + [f"CHANGED: {visible(c)}" for c in (self.changes if changes else [])]
        if comment == "<!--":
            return "\n".join(f"<!-- {line.replace('--', '- -')} -->" for line in lines)
        return "\n".join(f"{comment} {' '.join(line.split())}" for line in lines)


def context_for_profile(
    plan: PlanResponse, profile: Profile, source: Path | None = None
) -> RenderContext:
    w = profile.workload
    return RenderContext(
        plan=plan,
        deploy=profile.deploy,
        workload=WorkloadInput(
            prompt_tokens=w.prompt_tokens,
            gen_tokens=w.gen_tokens,
            concurrency=w.concurrency,
            target_latency_ms=w.target_latency_ms,
            streaming=w.streaming,
            batching_mode=w.mode,
            request_rate=w.request_rate,
            num_prompts=w.num_prompts,
            shared_prefix_tokens=w.shared_prefix_tokens,
            random_range_ratio=w.random_range_ratio,
            slo=w.slo,
        ),
        profile=profile,
        source=source,
    )
