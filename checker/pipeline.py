"""The edge where I/O meets the pure engine: profile/flags -> request -> metadata -> plan.

The CLI and the gate both go through here, so a profile is planned the same way everywhere.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checker.errors import (
    CheckerError,
    GPUNotFoundError,
    ModelConfigError,
    ModelNotFoundError,
    RemoteError,
    UsageError,
)
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import HardwareInput, ModelInput, PlanRequest
from checker.schemas.model_info import ModelInfo
from checker.schemas.outputs import PlanResponse

if TYPE_CHECKING:  # the profile schema is imported where a profile is read: plan -m skips it
    from checker.planning.planner import Assessment
    from checker.schemas.calibration import Calibration
    from checker.schemas.profile_io import LoadedProfile, Target

# flag dest -> (request section, field). Only flags the user gave override the profile.
_OVERRIDES: dict[str, tuple[str, str]] = {
    "model": ("model", "model"),
    "revision": ("model", "revision"),
    "model_config": ("model", "config_path"),
    "trust_remote_code": ("model", "trust_remote_code"),
    "dtype": ("model", "dtype"),
    "quantization": ("model", "quantization"),
    "kv_cache_dtype": ("model", "kv_cache_dtype"),
    "max_model_len": ("model", "max_model_len"),
    "params_b": ("model", "params_b"),
    "gpu_name": ("hardware", "gpu"),
    "gpus": ("hardware", "gpus"),
    "vram_gb": ("hardware", "vram_gb"),
    "interconnect": ("hardware", "interconnect"),
    "tp_size": ("hardware", "tensor_parallel_size"),
    "pp_size": ("hardware", "pipeline_parallel_size"),
    "prompt_tokens": ("workload", "prompt_tokens"),
    "gen_tokens": ("workload", "gen_tokens"),
    "concurrency": ("workload", "concurrency"),
    "random_range_ratio": ("workload", "random_range_ratio"),
    "mode": ("workload", "batching_mode"),
    "gpu_memory_utilization": ("policy", "gpu_memory_utilization"),
    "overhead_gb": ("policy", "overhead_gb"),
    "fragmentation_factor": ("policy", "fragmentation_factor"),
    "headroom_gb": ("policy", "headroom_gb"),
    "vllm_version": ("engine", "vllm_version"),
    "install": ("engine", "install"),
    "max_num_seqs": ("engine", "max_num_seqs"),
    "max_num_batched_tokens": ("engine", "max_num_batched_tokens"),
    "block_size": ("engine", "block_size"),
    "enforce_eager": ("engine", "enforce_eager"),
}

# flag dest -> the flag's name, where they differ (cli.py _add_model_flags)
_FLAG_NAMES = {
    "tp_size": "--tensor-parallel-size",
    "pp_size": "--pipeline-parallel-size",
    "gpu_name": "--gpu",
    "mode": "--batching-mode",
}


def request_from_args(args: argparse.Namespace) -> tuple[PlanRequest, LoadedProfile | None]:
    """Build a request from ``--profile`` (if any) with the flags the user gave laid over it."""
    from checker.schemas.error_words import error_text
    from checker.schemas.profile import normalise_enum_spelling
    from checker.schemas.profile_io import load_profile, profile_to_request
    from checker.schemas.section import ValidationError

    loaded = None
    base: dict[str, Any] = {}
    if getattr(args, "profile", None):
        loaded = load_profile(args.profile)
        base_dir = Path(args.profile).resolve().parent
        request = profile_to_request(loaded.profile, base_dir=base_dir)
        _check_model_paths(loaded, base_dir, args, request)
        base = request.model_dump()
    elif not getattr(args, "model", None):
        raise UsageError(
            "give --profile FILE or --model ID",
            hint="e.g. vllm-wizard plan -m Qwen/Qwen3-8B --gpu H100-SXM-80GB",
        )
    _split_gpu_count(args)
    for dest, (section, field) in _OVERRIDES.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if dest == "max_model_len":
            pinned = base.get("engine", {}).get("vllm_version")  # the profile's, if any
            value = _length_flag(value, getattr(args, "vllm_version", None) or pinned)
        elif field in ("dtype", "quantization", "kv_cache_dtype"):
            try:
                value = normalise_enum_spelling(field, value)
            except ValueError as exc:
                raise UsageError(f"--{dest.replace('_', '-')}: {exc}") from None
        base.setdefault(section, {})[field] = value
    _model_flag_directory(args, base)
    base["explain"] = bool(getattr(args, "explain", False))
    base["step_model"] = bool(getattr(args, "step_model", False))
    try:
        return PlanRequest.model_validate(base), loaded
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(p) for p in err["loc"])
        flag = next((d for d, place in _OVERRIDES.items() if place == loc[:2]), None)
        hint = _written_like(loc) if err["type"] == "string_pattern_mismatch" else None
        if flag is not None and getattr(args, flag, None) is not None:  # the user's flag
            name = _FLAG_NAMES.get(flag, "--" + flag.replace("_", "-"))
            raise UsageError(f"{name}: {error_text(err)}", hint=hint) from None
        raise UsageError(".".join(loc) + f": {error_text(err)}", hint=hint) from None


def _model_flag_directory(args: argparse.Namespace, base: dict[str, Any]) -> None:
    """A --model naming a directory is the user's own path, read from the current directory
    (as --model-config's is), where the profile's own paths are read from its folder."""
    flag = getattr(args, "model", None)
    if not flag or getattr(args, "model_config", None) or not base["model"].get("base_dir"):
        return
    with suppress(OSError, ValueError):  # no usable path: the resolver says so
        if Path(flag).expanduser().is_dir():
            base["model"]["config_path"] = str(Path(flag).expanduser().resolve())


def _check_model_paths(
    loaded: LoadedProfile, base_dir: Path, args: argparse.Namespace, request: PlanRequest
) -> None:
    """The profile's model paths (its drafter's too) that its flags do not replace stay in
    its repository, or in a directory the repo config (found as for --calibration) allows."""
    from checker.gate.sources.model_paths import allowed_dirs, check_model_paths
    from checker.gate.sources.repo_config import find_repo_config, load_repo_config

    model = loaded.profile.model
    config = None if getattr(args, "model_config", None) else model.config
    model_id = None if getattr(args, "model", None) else model.id
    found = find_repo_config(Path.cwd())
    allowed = allowed_dirs(load_repo_config(found), found) if found else ()
    with located(loaded):
        check_model_paths(config, model_id, base_dir, allowed, draft_and_key(request))


def _split_gpu_count(args: argparse.Namespace) -> None:
    """``--gpu H100:2`` as check writes a target: the GPU and ``--gpus 2`` (one count only)."""
    from checker.schemas.target import parse_target

    name = getattr(args, "gpu_name", None)
    if name is None:
        return
    try:
        target = parse_target(name)
    except CheckerError as exc:
        raise UsageError(f"--gpu: {exc.message}", hint=exc.hint) from None
    if ":" not in name:
        args.gpu_name = target.gpu
        return
    if getattr(args, "gpus", None) not in (None, target.count):
        raise UsageError(
            f"--gpu {name.strip()} says {target.count} GPU{'s' * (target.count != 1)} and "
            f"--gpus says {args.gpus}",
            hint="give the count once",
        )
    args.gpu_name, args.gpus = target.gpu, target.count


def _written_like(loc: tuple[str, ...]) -> str | None:
    """'write it like 0.19.0': the examples of the request field at ``loc`` (section, field),
    for a value that does not match its pattern (the error would quote the regex)."""
    from checker.schemas.inputs import PlanRequest

    section = PlanRequest.model_fields.get(loc[0]) if loc else None
    fields = getattr(section.annotation, "model_fields", {}) if section else {}
    field = fields.get(loc[1]) if len(loc) > 1 else None
    examples = field.examples if field is not None else None
    return "write it like " + " or ".join(map(str, examples)) if examples else None


def _length_flag(text: str, version: str | None) -> int:
    """--max-model-len as the pinned vLLM (None: the newest) reads it."""
    from checker.schemas.engine_args import EngineArgError, flag_integer

    try:
        return flag_integer("--max-model-len", text, version)
    except EngineArgError as exc:
        raise UsageError(f"--max-model-len: {exc}", hint=exc.hint) from None


def resolve_gpu(hardware: HardwareInput) -> GPUSpec:
    """The GPU to plan on: inline spec, catalog entry, or the local GPU for 'auto'."""
    from checker.hardware.catalog import find_gpu

    if hardware.custom_gpu is not None:
        spec = hardware.custom_gpu
    elif hardware.gpu.strip().lower() == "auto":
        from checker.hardware.detect import detect_gpus

        found = detect_gpus()
        if not found:
            raise GPUNotFoundError(
                "no GPU detected for gpu 'auto'",
                hint="name one with --gpu (see 'vllm-wizard gpus')",
            )
        spec = found[0].spec
    else:
        spec = find_gpu(hardware.gpu)
    if hardware.vram_gb is not None:
        spec = spec.model_copy(update={"memory_gib": hardware.vram_gb})
    return spec


# Which profile key an error about the model or the GPU points at.
_ERROR_KEYS: dict[type[CheckerError], str] = {
    GPUNotFoundError: "hardware.gpu_name",
    ModelNotFoundError: "model.id",
    ModelConfigError: "model.config",
}


@contextmanager
def located(loaded: LoadedProfile | None) -> Iterator[None]:
    """Give errors about a profile key (model, GPU, artifact settings) its file:line."""
    try:
        yield
    except CheckerError as exc:
        key = exc.key or next((k for t, k in _ERROR_KEYS.items() if isinstance(exc, t)), None)
        if loaded is not None and key and exc.location is None:
            line = loaded.line_of(key)
            exc.location = f"{loaded.path}:{line}" if line else str(loaded.path)
        raise


def plan_request(
    request: PlanRequest,
    *,
    offline: bool = False,
    lockfile: Path | None = None,
    record: bool = False,
    calibration: Calibration | None = None,
) -> PlanResponse:
    """Resolve the model (local, catalog, lockfile, Hub) and the GPU, then plan (with the
    measured terms of ``calibration`` where it matches)."""
    from checker.planning.planner import run_plan

    model, gpu, draft = resolve_inputs(request, offline=offline, lockfile=lockfile, record=record)
    return run_plan(request, model, gpu, calibration, draft)


def assess_request(
    request: PlanRequest,
    *,
    offline: bool = False,
    lockfile: Path | None = None,
    record: bool = False,
    calibration: Calibration | None = None,
) -> Assessment:
    """``plan_request`` up to the verdict (planner.assess): no recommendations yet."""
    from checker.planning.planner import assess

    model, gpu, draft = resolve_inputs(request, offline=offline, lockfile=lockfile, record=record)
    return assess(request, model, gpu, calibration, draft)


def resolve_inputs(
    request: PlanRequest,
    *,
    offline: bool = False,
    lockfile: Path | None = None,
    record: bool = False,
) -> tuple[ModelInfo, GPUSpec, ModelInfo | None]:
    """The request's model, GPU and speculative draft model (None without one)."""
    from checker.models.resolve import resolve_model

    try:
        model = resolve_model(request.model, offline=offline, lockfile=lockfile, record=record)
    except RemoteError as exc:  # say which model needed the Hub (located() adds the line)
        if request.model.model not in exc.message:
            exc.message = f"model {request.model.model!r}: {exc.message}"
        exc.key = exc.key or "model.id"
        raise
    draft = resolve_draft(request, offline=offline, lockfile=lockfile, record=record)
    return model, resolve_gpu(request.hardware), draft


def resolve_draft(
    request: PlanRequest,
    *,
    offline: bool = False,
    lockfile: Path | None = None,
    record: bool = False,
) -> ModelInfo | None:
    """The metadata of the speculative config's draft model or EAGLE head, found like the
    target's (local path, catalog, lockfile, Hub); None without one."""
    from checker.models.resolve import resolve_model
    from checker.planning.engine.spec_config import speculative_config

    drafter = draft_and_key(request)
    if drafter is None:
        return None
    name, key = drafter
    revision = (speculative_config(request.engine) or {}).get("revision")
    try:
        wanted = ModelInput(
            model=name[:512],
            revision=revision[:256] if isinstance(revision, str) else None,
            base_dir=request.model.base_dir,  # a draft directory is the profile's, as its model
        )
        return resolve_model(wanted, offline=offline, lockfile=lockfile, record=record)
    except CheckerError as exc:  # say it is the draft's, at the speculative config's line
        if "draft model" not in exc.message:
            exc.message = f"draft model {name[:200]!r}: {exc.message}"
        exc.key = exc.key or key
        raise


def draft_and_key(request: PlanRequest) -> tuple[str, str] | None:
    """The draft model or EAGLE head the speculative config names, with the profile key that
    names it; None without one."""
    from checker.planning.engine.spec_config import draft_to_resolve, speculative_config

    config = speculative_config(request.engine)
    name = draft_to_resolve(config) if config is not None else None
    if name is None:
        return None
    spec_model = request.engine.spec_model == name
    return name, "outputs.vllm_args." + ("spec-model" if spec_model else "speculative-config")


def lockfile_from_args(args: argparse.Namespace) -> Path | None:
    """The --lockfile path, read once here: a missing (unless --update-lockfile is to create
    it), unreadable or malformed lockfile is an error even when every model is found before
    the lockfile would be read (the built-in catalog, a local config)."""
    value = getattr(args, "lockfile", None)
    recording = bool(getattr(args, "update_lockfile", False))
    if recording and not value:
        raise UsageError("--update-lockfile needs --lockfile PATH")
    if not value:
        return None
    from checker.models.lockfile import read_lockfile

    read_lockfile(Path(value), missing_ok=recording)
    return Path(value)


def target_key(loaded: LoadedProfile, target: Target) -> str:
    """The profile key that names ``target``: its own GPU or one of hardware.targets."""
    own = target.gpu == loaded.profile.hardware.gpu_name
    return "hardware.gpu_name" if own else "hardware.targets"


def own_gpu_errors(
    loaded: LoadedProfile,
    *,
    skip: Sequence[Target] = (),
    customs: Sequence[GPUSpec] = (),
) -> list[GPUNotFoundError]:
    """The profile's GPUs (hardware.gpu_name and .targets, less ``skip``) that do not exist,
    each keyed to its profile key: a flag that plans another GPU never hides an invalid
    profile."""
    from checker.hardware.catalog import find_gpu
    from checker.schemas.profile_io import profile_targets

    errors = []
    for target in profile_targets(loaded.profile):
        if target in skip or target.gpu.strip().lower() == "auto":
            continue
        try:
            find_gpu(target.gpu, (*loaded.profile.hardware.custom_gpus, *customs))
        except GPUNotFoundError as exc:
            exc.key = target_key(loaded, target)
            errors.append(exc)
    return errors


def plan_from_args(
    args: argparse.Namespace,
) -> tuple[PlanResponse, PlanRequest, LoadedProfile | None]:
    """The plan of ``--profile`` / flags, with the request and the profile it came from."""
    request, loaded = request_from_args(args)
    with located(loaded):
        for error in own_gpu_errors(loaded) if loaded is not None else []:
            raise error
        plan = plan_request(
            request,
            offline=bool(getattr(args, "offline", False)),
            lockfile=lockfile_from_args(args),
            record=bool(getattr(args, "update_lockfile", False)),
            calibration=calibration_from_args(args),
        )
    return plan, request, loaded


def calibration_from_args(args: argparse.Namespace) -> Calibration | None:
    """``--calibration FILE``, else the repo config's (found from the current directory),
    else vllm-wizard.calibration.yaml beside it or here when it exists."""
    from checker.gate.sources.repo_config import find_repo_config, load_repo_config
    from checker.schemas.calibration_file import calibration_path, load_calibration

    explicit = getattr(args, "calibration", None)
    cwd = Path.cwd()
    config = None if explicit else find_repo_config(cwd)
    configured = load_repo_config(config).calibration if config else None
    path, must = calibration_path(Path(explicit) if explicit else None, config, configured, cwd)
    return load_calibration(path, must)


def lockfile_note(args: argparse.Namespace, plan: PlanResponse) -> str | None:
    """Why ``--update-lockfile`` wrote nothing, if it did not: only Hub models are locked."""
    if not getattr(args, "update_lockfile", False) or plan.model.source == "hub":
        return None
    return (
        f"--update-lockfile: nothing recorded in {args.lockfile}: {plan.model.model_id} comes "
        f"from the {plan.model.source} metadata, not the Hub (only Hub models are locked)"
    )
