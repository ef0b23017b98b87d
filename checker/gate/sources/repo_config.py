"""The repository's gate settings, ``.vllm-wizard.yaml`` at the repo root (or ``--config``).

Example::

    config_version: 1
    profiles: ["deploy/profiles/**/*.yaml"]   # globs, relative to this file
    targets: ["H100-SXM-80GB", "L4:2"]        # checked besides each profile's own GPU
    targets_only: false                        # true: only these, not each profile's own
    gpus:                                      # custom GPUs, usable as targets by name
      - name: MI300X-192GB-partitioned
        memory_gib: 96
        memory_bandwidth_gbs: 2650
        fp16_tflops: 653
        compute_capability: "9.4"
        vendor: amd
    fail_on: error                             # or warning
    ignore:                                    # rules shown as suppressed, not counted
      - {rule: VW204, reason: "bursts queue by design"}
    vllm_version: "0.19.0"                     # for profiles that pin none
    calibration: vllm-wizard.calibration.yaml  # measured terms (vllm-wizard calibrate)
    model_config_dirs: [/models]               # outside the repository, profiles' model.config

Precedence: flags beat this file (``--gpu`` checks only the GPUs it names); ``targets`` are
checked in addition to each profile's own GPU (the one it deploys on) unless ``targets_only``;
``vllm_version`` applies to profiles that pin none. ``calibration`` (relative to this file)
must exist when given; without it ``vllm-wizard.calibration.yaml`` beside this file is used if
it exists. A profile in the repository may name a ``model.config`` (or a ``model.id``
directory) outside it only in ``model_config_dirs`` (checker.gate.sources.model_paths).
"""

from pathlib import Path

from checker.schemas.defaults import empty_list
from checker.schemas.enums import VLLM_VERSION_EXAMPLES, VLLM_VERSION_PATTERN, FormatVersion1
from checker.schemas.enums import FailOn as FailOn  # the policy is the verdict's, not the gate's
from checker.schemas.error_words import shown
from checker.schemas.gpu import GPUSpec
from checker.schemas.profile import IGNORE_DESCRIPTION, Suppression, no_repeats
from checker.schemas.section import ConfigDict, Field, Section, StrictBool, field_validator
from checker.schemas.target import well_formed_targets
from checker.schemas.yaml_model import read_yaml_file, validate_at

CONFIG_NAMES = (".vllm-wizard.yaml", ".vllm-wizard.yml")


class RepoConfig(Section):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    config_version: FormatVersion1 = 1
    profiles: list[str] = Field(
        default_factory=empty_list,
        description="Globs of profile files, relative to this file (** matches any depth)",
    )
    targets: list[str] = Field(
        default_factory=empty_list,
        description='GPU targets "NAME" or "NAME:COUNT" checked, when no --gpu is given, '
        "besides each profile's own GPU",
    )
    targets_only: StrictBool = Field(
        default=False,
        description="Check only `targets`, not each profile's own GPU (hardware.gpu_name and "
        "hardware.targets)",
    )
    gpus: list[GPUSpec] = Field(
        default_factory=empty_list, description="Custom GPUs, usable as targets by name or alias"
    )
    fail_on: FailOn = FailOn.ERROR
    ignore: list[Suppression] = Field(
        default_factory=empty_list,
        max_length=64,
        description=IGNORE_DESCRIPTION + "; a profile's own reason for a rule comes first",
    )
    vllm_version: str | None = Field(
        default=None,
        pattern=VLLM_VERSION_PATTERN,
        examples=VLLM_VERSION_EXAMPLES,
        description="vLLM version for profiles that pin none",
    )
    calibration: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="Calibration file written by `vllm-wizard calibrate`, relative to this "
        "file (default: vllm-wizard.calibration.yaml beside it, when it exists)",
    )

    model_config_dirs: list[str] = Field(
        default_factory=empty_list,
        max_length=64,
        description="Directories outside the repository (absolute, or relative to this file) "
        "where a profile's model.config, or a model.id naming a local directory, may lead",
    )

    @field_validator("ignore")
    @classmethod
    def _ignore_once(cls, value: list[Suppression]) -> list[Suppression]:
        return no_repeats(value)

    @field_validator("model_config_dirs", "profiles")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        bad = next((p for p in value if not _is_path(p)), None)
        if bad is not None:
            raise ValueError(f"{shown(bad)} is not a path")
        return value

    @field_validator("calibration")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not _is_path(value):
            raise ValueError(f"{shown(value)} is not a path")
        return value

    @field_validator("targets")
    @classmethod
    def _targets_well_formed(cls, value: list[str]) -> list[str]:
        return well_formed_targets(value)


def _is_path(text: str) -> bool:
    """Text the file system can take as a path (a NUL makes every call on it raise)."""
    return bool(text.strip()) and "\0" not in text and len(text) <= 4096


def find_repo_config(start: Path) -> Path | None:
    """The first config file in ``start`` or a parent, stopping at the repository root."""
    for folder in (start, *start.parents):
        for name in CONFIG_NAMES:
            if (folder / name).is_file():
                return folder / name
        if (folder / ".git").exists():
            return None
    return None


def default_repo_config() -> RepoConfig:
    """Every default, as ``RepoConfig()`` gives it, without building its validator (the
    defaults need no validating): a repository without a config file pays nothing for it."""
    return RepoConfig.model_construct()


def load_repo_config(path: Path) -> RepoConfig:
    data, positions = read_yaml_file(path)
    if data is None:
        return default_repo_config()  # an empty file is a config with every default
    return validate_at(RepoConfig, data, positions, str(path))
