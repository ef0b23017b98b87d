"""The committed YAML profile (``profile_version: 1``), compatible with the seed's format.

Numbers and booleans are strict: `gpus: true` or `gpus: "2"` are errors, not 1 and 2.

Seed keys keep their meaning; new sections extend it. Unknown keys are errors (``extra=forbid``)
so a typo never silently falls back to a default.
"""

import functools
import re
from enum import Enum
from typing import Annotated, Any, Literal

from checker.schemas.defaults import empty_list, section_defaults
from checker.schemas.enums import (
    ALIASES,
    VLLM_VERSION_EXAMPLES,
    VLLM_VERSION_PATTERN,
    BatchingMode,
    DType,
    FormatVersion1,
    Interconnect,
    KVCacheDType,
    Quantization,
)
from checker.schemas.error_words import shown
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import (
    INSTALL_DESCRIPTION,
    INT64_MAX,
    NUM_PROMPTS,
    RANDOM_RANGE_RATIO,
    REQUEST_RATE,
    SHARED_PREFIX_TOKENS,
    Install,
)
from checker.schemas.section import (
    ConfigDict,
    Field,
    Section,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from checker.schemas.slo import SLOTargets
from checker.schemas.target import well_formed_targets
from checker.schemas.yaml_source import bundled_data

# Values that look plausible but vLLM has never accepted; each gets the fix instead of a bare error.
_REFUSED = {
    ("quantization", "int8"): "vLLM has no 'int8' method: use a W8A8 checkpoint "
    "(quantization: compressed-tensors) or 'experts_int8' for MoE experts",
    ("kv_cache_dtype", "int8"): "vLLM has no int8 KV cache: use fp8 (kv_cache_dtype: fp8)",
}
ENUM_FIELDS: dict[str, type[Enum]] = {
    "dtype": DType,
    "kv_cache_dtype": KVCacheDType,
    "quantization": Quantization,
}


def normalise_enum_spelling(field: str, value: Any) -> Any:
    """Map the seed's spellings (fp16, bf16, fp8_e4m3fn) to vLLM's; refuse ones vLLM never took."""
    if value is None and field == "quantization":
        return Quantization.NONE.value
    if not isinstance(value, str) or field not in ENUM_FIELDS:
        return value
    lowered = value.strip().lower()
    if (field, lowered) in _REFUSED:
        raise ValueError(_REFUSED[(field, lowered)])
    return ALIASES.get(ENUM_FIELDS[field], {}).get(lowered, lowered)


_SECTION = ConfigDict(extra="forbid", allow_inf_nan=False)
ARTIFACT_KINDS = ("command", "docker", "compose", "k8s", "helm", "report", "bench", "profile")


class ProfileModel(Section):
    model_config = _SECTION

    id: str = Field(min_length=1, max_length=512, description="Hugging Face id or local path")
    revision: str | None = Field(default=None, max_length=256)
    config: str | None = Field(
        default=None,
        description="config.json or model directory, relative to the profile; in a git "
        "repository, inside it or in a directory of the repo config's model_config_dirs",
    )
    dtype: DType = DType.AUTO
    quantization: Quantization = Quantization.NONE
    kv_cache_dtype: KVCacheDType = KVCacheDType.AUTO
    max_model_len: Annotated[StrictInt, Field(gt=0, le=1 << 24)] | Literal["auto"] | None = Field(
        default=None, description="auto (or -1): vLLM fits the length to the KV cache"
    )
    params_b: StrictFloat | None = Field(
        default=None, gt=0, le=100_000, description="Informational only"
    )
    trust_remote_code: StrictBool = False
    tokenizer: str | None = None

    @field_validator("max_model_len", mode="before")
    @classmethod
    def _one_length_error(cls, value: Any) -> Any:
        """A length out of range is one error, not one per branch of ``int | 'auto'``."""
        whole = isinstance(value, int) and not isinstance(value, bool)
        if (whole and not 0 < value <= 1 << 24) or not (whole or value in ("auto", None)):
            raise ValueError(f"a length is 1 to {1 << 24} tokens, or auto (got {shown(value)})")
        return value

    @field_validator("dtype", "kv_cache_dtype", "quantization", mode="before")
    @classmethod
    def _seed_spellings(cls, value: Any, info: ValidationInfo) -> Any:
        return normalise_enum_spelling(info.field_name or "", value)


class ProfileHardware(Section):
    model_config = _SECTION

    gpu_name: str = Field(default="auto", max_length=128)
    gpus: StrictInt = Field(default=1, ge=1, le=4096)
    vram_gb: StrictFloat | None = Field(
        default=None, gt=0, le=10_000, description="Memory per GPU, GiB"
    )
    interconnect: Interconnect = Interconnect.UNKNOWN
    tp_size: StrictInt | None = Field(default=None, ge=1, le=1024)
    pp_size: StrictInt = Field(default=1, ge=1, le=1024)
    gpus_per_node: StrictInt | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="GPUs of one node when `gpus` spans several nodes; omitted: one node",
    )
    targets: list[str] = Field(
        default_factory=empty_list,
        description='More GPU targets to check, "NAME" or "NAME:COUNT" (e.g. "L4:2")',
    )
    custom_gpus: list[GPUSpec] = Field(
        default_factory=empty_list, description="GPUs not in the catalog"
    )

    @field_validator("targets")
    @classmethod
    def _targets_well_formed(cls, value: list[str]) -> list[str]:
        return well_formed_targets(value)


class ProfileWorkload(Section):
    model_config = _SECTION

    prompt_tokens: StrictInt = Field(default=512, ge=1, le=1 << 24)
    gen_tokens: StrictInt = Field(default=256, ge=1, le=1 << 24)
    concurrency: StrictInt = Field(default=1, ge=1, le=1 << 20)
    streaming: StrictBool = True
    mode: BatchingMode = BatchingMode.BALANCED
    target_latency_ms: StrictFloat | None = Field(default=None, gt=0)
    request_rate: StrictFloat | None = REQUEST_RATE
    num_prompts: StrictInt | None = NUM_PROMPTS
    shared_prefix_tokens: StrictInt = SHARED_PREFIX_TOKENS
    random_range_ratio: StrictFloat = RANDOM_RANGE_RATIO
    slo: SLOTargets = Field(default_factory=section_defaults(SLOTargets))


class ProfilePolicy(Section):
    model_config = _SECTION

    gpu_memory_utilization: StrictFloat | None = Field(
        default=0.90, gt=0, le=1, description="Fraction of total GPU memory (vLLM accepts (0, 1])"
    )
    overhead_gb: StrictFloat | None = Field(default=None, ge=0, le=10_000)
    fragmentation_factor: StrictFloat = Field(default=1.15, ge=1.0, le=2.0)
    headroom_gb: StrictFloat = Field(default=1.0, ge=0, le=10_000)
    instances_per_gpu: StrictInt = Field(default=1, ge=1, le=64)


class ProfileVLLM(Section):
    """Engine settings; anything left out is vLLM's default for the pinned version and GPU."""

    model_config = _SECTION

    version: str | None = Field(
        default=None,
        pattern=VLLM_VERSION_PATTERN,
        description="Pinned vLLM",
        examples=VLLM_VERSION_EXAMPLES,
    )
    max_num_seqs: StrictInt | None = Field(default=None, ge=1, le=1 << 20)
    max_num_batched_tokens: StrictInt | None = Field(default=None, ge=1, le=1 << 24)
    block_size: StrictInt | None = Field(default=None, ge=1, le=4096)
    enforce_eager: StrictBool = False
    enable_prefix_caching: StrictBool | None = None
    enable_chunked_prefill: StrictBool | None = None
    disable_hybrid_kv_cache_manager: StrictBool | None = Field(
        default=None,
        description="true: off; false: on even with a KV connector (vLLM refuses a connector "
        "without HMA support then); omitted: vLLM decides",
    )
    kv_cache_memory_bytes: StrictInt | None = Field(default=None, ge=0, le=INT64_MAX)
    cudagraph_memory_profiling: StrictBool | None = None
    install: Install = Field(default="image", description=INSTALL_DESCRIPTION)
    allow_long_max_model_len: StrictBool = Field(
        default=False,
        description="VLLM_ALLOW_LONG_MAX_MODEL_LEN=1: a length above the model's warns",
    )


# Shown when a Kubernetes object name does not match its pattern
K8S_NAME_EXAMPLE = "llama-8b (lowercase letters, digits and '-', starting and ending alphanumeric)"

# Kubernetes label keys and values (apimachinery validation.IsQualifiedName / IsValidLabelValue)
_K8S_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LABEL_KEY_RE = re.compile(
    rf"^([a-z0-9]([-a-z0-9]{{0,61}}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{{0,61}}[a-z0-9])?)*/)?{_K8S_NAME}$"
)
LABEL_VALUE_RE = re.compile(rf"^({_K8S_NAME})?$")


class Toleration(Section):
    """A Kubernetes toleration of the pod (core/v1 Toleration)."""

    model_config = _SECTION

    key: str = Field(
        default="", max_length=316, description="Taint key; empty with Exists: every taint"
    )
    operator: Literal["Exists", "Equal"] = "Exists"
    value: str = Field(default="", max_length=63, description="With Equal: the taint's value")
    effect: Literal["", "NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        default="NoSchedule", description='"" tolerates every effect'
    )

    @field_validator("key")
    @classmethod
    def _label_key(cls, value: str) -> str:
        if value and not LABEL_KEY_RE.match(value):
            raise ValueError(f"{value!r} is not a Kubernetes label key")
        return value

    @field_validator("value")
    @classmethod
    def _label_value(cls, value: str) -> str:
        if not LABEL_VALUE_RE.match(value):
            raise ValueError(f"{value!r} is not a Kubernetes label value")
        return value

    @model_validator(mode="after")
    def _operator_fits(self) -> "Toleration":
        # core/v1 validation: Exists takes no value, Equal needs a key
        if self.operator == "Exists" and self.value:
            raise ValueError("operator Exists takes no value: use operator Equal")
        if self.operator == "Equal" and not self.key:
            raise ValueError("operator Equal needs a key")
        return self


def _gpu_toleration() -> list[Toleration]:
    # GPU node pools are commonly tainted nvidia.com/gpu:NoSchedule (GKE and AKS add it to GPU
    # pools, the GPU Operator docs use it), so a GPU pod tolerates it by default.
    # constructed, not validated: valid as written (tests/schemas/test_section_defaults.py), and
    # validating would build Toleration's own validator at each start
    return [
        Toleration.model_construct(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
    ]


class ProfileDeploy(Section):
    """How the generated artifacts run the server."""

    model_config = _SECTION

    name: str = Field(
        default="vllm", pattern=r"^[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?$", examples=[K8S_NAME_EXAMPLE]
    )
    namespace: str | None = Field(
        default=None, pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", examples=[K8S_NAME_EXAMPLE]
    )
    port: StrictInt = Field(default=8000, ge=1, le=65535)
    replicas: StrictInt = Field(default=1, ge=1, le=1000)
    image: str | None = Field(default=None, description="Defaults to vllm/vllm-openai:v<version>")
    hf_token_secret: str = Field(
        default="hf-token",
        pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
        examples=[K8S_NAME_EXAMPLE],
    )
    cache_dir: str = "/root/.cache/huggingface"
    cache_pvc: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
        examples=[K8S_NAME_EXAMPLE],
        description="Kubernetes: an existing PersistentVolumeClaim mounted at cache_dir, so the "
        "weights survive restarts (default: an emptyDir, downloaded again on every restart)",
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict,
        max_length=32,
        description="Kubernetes nodeSelector, e.g. {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3} "
        "(GPU feature discovery's label; see `kubectl get nodes -L nvidia.com/gpu.product`)",
    )
    tolerations: list[Toleration] = Field(
        default_factory=_gpu_toleration,
        max_length=32,
        description="Kubernetes tolerations (default: the nvidia.com/gpu NoSchedule taint of GPU "
        "node pools; [] for none)",
    )

    @field_validator("node_selector")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            if not LABEL_KEY_RE.match(key):
                raise ValueError(f"{key!r} is not a Kubernetes label key")
            if not isinstance(label, str) or not LABEL_VALUE_RE.match(label):
                raise ValueError(f"{key}: {label!r} is not a Kubernetes label value")
        return value


class ProfileOutputs(Section):
    model_config = _SECTION

    emit: list[str] = Field(default_factory=lambda: ["command", "profile"])
    vllm_args: dict[str, Any] = Field(
        default_factory=dict, description="Extra vLLM flags, checked against the version's flags"
    )
    artifacts: dict[str, str] = Field(
        default_factory=dict,
        description="Where committed artifacts live (kind -> path relative to the profile)",
    )

    @field_validator("emit")
    @classmethod
    def _known_emit(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in ARTIFACT_KINDS]
        if unknown:
            raise ValueError(f"unknown artifact kind(s) {unknown}; use {list(ARTIFACT_KINDS)}")
        return value

    @field_validator("artifacts")
    @classmethod
    def _known_artifacts(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = [k for k in value if k not in ARTIFACT_KINDS]
        if unknown:
            raise ValueError(f"unknown artifact kind(s) {unknown}; use {list(ARTIFACT_KINDS)}")
        return value


@functools.cache  # a tuple built once
def rule_ids() -> tuple[str, ...]:
    """The planner's rule ids a profile may ignore (checker/data/rules.yaml)."""
    return tuple(bundled_data("rules.yaml")["rules"])


class Suppression(Section):
    """One rule whose findings are shown as suppressed and no longer count in the verdict."""

    model_config = _SECTION

    rule: str = Field(
        description="Rule id, e.g. VW204 (see checker/data/rules.yaml)",
        json_schema_extra={"enum": list(rule_ids())},
    )
    reason: str = Field(
        min_length=1, max_length=500, description="Why: shown with every suppressed finding"
    )

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        import difflib  # only a typo needs it: kept off every start

        if value not in rule_ids():
            close = difflib.get_close_matches(value.strip().upper(), rule_ids(), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ValueError(f"unknown rule {value!r}{hint} (see 'ignore' in the README)")
        return value

    @field_validator("reason")
    @classmethod
    def _reason_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give the reason this rule is ignored")
        return value


def no_repeats(value: list[Suppression]) -> list[Suppression]:
    seen = [s.rule for s in value]
    repeated = sorted({r for r in seen if seen.count(r) > 1})
    if repeated:
        raise ValueError(f"rule(s) {repeated} listed more than once: keep one entry each")
    return value


IGNORE_DESCRIPTION = (
    "Rules whose findings are shown as suppressed (with the reason) and no longer affect the "
    "verdict, e.g. [{rule: VW204, reason: 'bursts are queued'}]"
)


class Profile(Section):
    model_config = _SECTION

    profile_version: FormatVersion1 = 1
    model: ProfileModel
    hardware: ProfileHardware = Field(default_factory=section_defaults(ProfileHardware))
    workload: ProfileWorkload = Field(default_factory=section_defaults(ProfileWorkload))
    policy: ProfilePolicy = Field(default_factory=section_defaults(ProfilePolicy))
    vllm: ProfileVLLM = Field(default_factory=section_defaults(ProfileVLLM))
    deploy: ProfileDeploy = Field(default_factory=section_defaults(ProfileDeploy))
    outputs: ProfileOutputs = Field(default_factory=section_defaults(ProfileOutputs))
    ignore: list[Suppression] = Field(
        default_factory=empty_list, max_length=64, description=IGNORE_DESCRIPTION
    )

    @field_validator("ignore")
    @classmethod
    def _ignore_once(cls, value: list[Suppression]) -> list[Suppression]:
        return no_repeats(value)
