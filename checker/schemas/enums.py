"""Enumerations shared by inputs, outputs and profiles.

Values are the spellings vLLM's own CLI accepts, so they can be emitted as flags unchanged.
The seed profile format used other spellings (``fp16``, ``bf16``, ``fp8_e4m3fn``, ``int8``);
``ALIASES`` maps the harmless ones, and the profile loader refuses the rest with a fix.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

from checker.schemas.section import BeforeValidator


def _not_a_bool(value: Any) -> Any:
    """YAML's and JSON's true is not the number 1 (Python's True == 1 would pass Literal[1])."""
    if isinstance(value, bool):
        raise ValueError(f"must be 1, got {'true' if value else 'false'}")
    return value


# The format version of a file we read (profile, repo config, calibration, lockfile).
FormatVersion1 = Annotated[Literal[1], BeforeValidator(_not_a_bool)]

# A vLLM release as a profile, a repo config or a calibration pins it: major.minor[.patch]
VLLM_VERSION_PATTERN = r"^[0-9]{1,4}\.[0-9]{1,4}(\.[0-9]{1,4})?$"
VLLM_VERSION_EXAMPLES = ["0.19.0", "0.10.2"]  # shown when a value does not match


class DType(str, Enum):
    AUTO = "auto"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"
    FLOAT32 = "float32"


class Quantization(str, Enum):
    """Union of the methods vLLM has accepted; which exist in a version is in the version table."""

    NONE = "none"
    AWQ = "awq"
    AWQ_MARLIN = "awq_marlin"
    GPTQ = "gptq"
    GPTQ_MARLIN = "gptq_marlin"
    FP8 = "fp8"
    FBGEMM_FP8 = "fbgemm_fp8"
    PTPC_FP8 = "ptpc_fp8"
    COMPRESSED_TENSORS = "compressed-tensors"
    BITSANDBYTES = "bitsandbytes"
    GGUF = "gguf"
    MXFP4 = "mxfp4"
    MODELOPT = "modelopt"
    MODELOPT_FP4 = "modelopt_fp4"
    EXPERTS_INT8 = "experts_int8"
    MOE_WNA16 = "moe_wna16"
    MARLIN = "marlin"
    HQQ = "hqq"
    QUARK = "quark"
    TORCHAO = "torchao"
    INC = "inc"


class KVCacheDType(str, Enum):
    """Union over versions; ``auto`` means the model dtype."""

    AUTO = "auto"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"
    FP8 = "fp8"
    FP8_E4M3 = "fp8_e4m3"
    FP8_E5M2 = "fp8_e5m2"
    FP8_INC = "fp8_inc"
    FP8_DS_MLA = "fp8_ds_mla"
    INT8_PER_TOKEN_HEAD = "int8_per_token_head"
    FP8_PER_TOKEN_HEAD = "fp8_per_token_head"
    INT4_PER_TOKEN_HEAD = "int4_per_token_head"
    NVFP4 = "nvfp4"
    NVFP4_4OVER6 = "nvfp4_4over6"


class Interconnect(str, Enum):
    PCIE = "pcie"
    NVLINK = "nvlink"
    INFINITY_FABRIC = "infinity_fabric"
    UNKNOWN = "unknown"


class BatchingMode(str, Enum):
    THROUGHPUT = "throughput"
    LATENCY = "latency"
    BALANCED = "balanced"


class OOMRisk(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Verdict(str, Enum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class FailOn(str, Enum):
    """What fails the gate (and ``plan``'s exit code): ``error`` (a start-up error or a high
    OOM risk) or also ``warning`` (then every warning is reported as an error)."""

    ERROR = "error"
    WARNING = "warning"


class Basis(str, Enum):
    """How a figure was obtained, so a reader knows how far to trust it."""

    EXACT = "exact"  # follows from inputs by vLLM's own arithmetic (block counts, page sizes)
    DERIVED = "derived"  # computed from real metadata (config.json, safetensors header)
    ESTIMATED = "estimated"  # a model of runtime behaviour (activation peak, CUDA graphs, speed)
    MEASURED = "measured"  # what vLLM logged at start-up for this setup (vllm-wizard calibrate)


# Seed spellings that mean exactly one vLLM value. Anything not here and not a value is an error.
ALIASES: dict[type[Enum], dict[str, str]] = {
    DType: {
        "fp16": "float16",
        "half": "float16",
        "bf16": "bfloat16",
        "fp32": "float32",
        "float": "float32",
    },
    KVCacheDType: {"fp16": "float16", "bf16": "bfloat16", "fp8_e4m3fn": "fp8_e4m3"},
    Quantization: {"": "none", "null": "none"},
}
