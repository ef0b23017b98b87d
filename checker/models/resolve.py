"""Find a model's metadata, always in the same order, and read it into ModelInfo.

(a) ``model.config_path``: a config.json, or a directory holding one; (b) ``model.model``
naming a local directory with a config.json; (c) the built-in catalog; (d) the lockfile;
(e) the Hugging Face Hub, only when asked (the CLI is offline unless ``--online``) and not
forbidden by HF_HUB_OFFLINE. The first source that has the model wins. A local path that is
given but unusable is an error, never a silent fall-through to another source. Results are
cached per process: the gate plans one model for many profiles and GPU targets.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from checker.errors import CheckerError, ModelConfigError, ModelNotFoundError, reason
from checker.models import catalog
from checker.models.config_parser import parse_config
from checker.models.quant_config import HF_QUANT_CONFIG, with_hf_quant_config
from checker.models.safetensors_bytes import local_dir_bytes
from checker.schemas.inputs import ModelInput
from checker.schemas.model_info import ModelInfo
from checker.schemas.yaml_source import YAMLSourceError, decode_text, why_not_a_file

MAX_CONFIG_BYTES = 2 * 1024 * 1024


def resolve_model(
    model: ModelInput,
    *,
    offline: bool = False,
    lockfile: Path | None = None,
    record: bool = False,
) -> ModelInfo:
    """ModelInfo for ``model``; raises ModelNotFoundError naming every source tried.

    ``record``: write a model fetched from the Hub into ``lockfile``.
    """
    why_offline = "offline: the default" if offline else _offline_by_env()
    overrides = json.dumps(model.hf_overrides, sort_keys=True) if model.hf_overrides else ""
    name = model.model.strip()
    return _resolve(
        name,
        model.revision,
        # a model directory is read like a config path (the cache then keys a catalog model by
        # its name alone, whichever profile folder it was named from)
        model.config_path or _local_directory(name, model.base_dir),
        why_offline,
        lockfile,
        record,
        overrides,
    )


def _offline_by_env() -> str:
    # the Hub client is imported only where a run may go online (a hook's cold start)
    from checker.models import hub

    return "HF_HUB_OFFLINE" if hub.offline_by_env() else ""


def clear_cache() -> None:
    _resolve.cache_clear()


@functools.lru_cache(maxsize=256)
def _resolve(
    name: str,
    revision: str | None,
    config_path: str | None,
    why_offline: str,
    lock_path: Path | None,
    record: bool,
    overrides: str,
) -> ModelInfo:
    """``overrides``: --hf-overrides as sorted JSON (hashable for the cache), "" for none."""
    hf = json.loads(overrides) if overrides else None
    if config_path:
        return _from_local(_path(config_path), model_id=name, hf_overrides=hf)
    return (
        _from_catalog(name, revision, hf)
        or _from_lockfile(name, revision, lock_path, hf)
        or _from_hub(name, revision, why_offline, lock_path, record, hf)
    )


_Overrides = dict[str, Any] | None


def _local_directory(name: str, base_dir: str | None) -> str | None:
    """The model directory ``name`` names (relative ones under ``base_dir``), None for a model
    id; a name that can only be a path and leads nowhere is an error."""
    local: Path | None = None
    # a model id names no directory: one stat tells, without the Path objects _path builds
    # (every pair of a fleet asks); only _path expands a "~"
    if name.startswith("~") or os.path.isdir(os.path.join(base_dir or "", name)):
        try:
            local = _path(name, base_dir)
        except ModelConfigError:
            local = None  # not usable as a path, so it can only be a model id
    if local is not None and local.is_dir():
        return str(local)
    if name.startswith(("/", "./", "../", "~")) or name.count("/") > 1:
        beside = f" (read from {base_dir}, the profile's folder)" if base_dir else ""
        raise ModelNotFoundError(
            f"local model directory {name!r} does not exist{beside}",
            hint="give an existing directory holding config.json, or a Hugging Face id org/name",
        )
    return None


def _from_catalog(name: str, revision: str | None, hf: _Overrides) -> ModelInfo | None:
    entry = catalog.find(name)
    if entry is None:
        return None
    detail = entry.provenance
    if revision and revision != "main":
        detail += f"; revision {revision!r} not checked against this copy"
    return parse_config(
        catalog.load_config(entry),
        model_id=entry.id,
        source="catalog",
        source_detail=detail,
        hf_overrides=hf,
    )


def _from_lockfile(
    name: str, revision: str | None, lock_path: Path | None, hf: _Overrides
) -> ModelInfo | None:
    if lock_path is None:
        return None
    from checker.models.lockfile import read_lockfile

    locked = read_lockfile(lock_path).find(name, revision)
    if locked is None:
        return None
    try:
        config = with_hf_quant_config(locked.config, locked.hf_quant_config, str(lock_path))
        return parse_config(
            config,
            model_id=locked.model,
            source="hub",
            source_detail=locked.provenance(lock_path),
            safetensors_bytes=locked.safetensors_bytes,
            hf_overrides=hf,
        )
    except CheckerError as exc:
        exc.location = exc.location or str(lock_path)
        raise


def _from_hub(
    name: str,
    revision: str | None,
    why_offline: str,
    lock_path: Path | None,
    record: bool,
    hf: _Overrides,
) -> ModelInfo:
    from checker.models import hub, lockfile
    from checker.models.hub_errors import shown_endpoint

    if why_offline:
        raise _not_found(name, lock_path, why_offline)
    try:
        meta = hub.fetch_metadata(name, revision)
    except ModelNotFoundError as exc:
        raise _not_found(name, lock_path, "", exc) from None
    where = shown_endpoint(meta.endpoint)
    detail = f"Hugging Face Hub {where}: {name}@{meta.commit or meta.revision}"
    config = with_hf_quant_config(meta.config, meta.hf_quant_config, detail)
    info = parse_config(  # before recording: a config we cannot read is not locked in
        config,
        model_id=name,
        source="hub",
        source_detail=detail,
        safetensors_bytes=meta.safetensors_bytes,
        hf_overrides=hf,
    )
    if record and lock_path is not None:
        entry = lockfile.LockEntry(
            model=name,
            revision=meta.revision,
            commit=meta.commit,
            endpoint=where,
            safetensors_bytes=meta.safetensors_bytes,
            config=meta.config,
            hf_quant_config=meta.hf_quant_config,
        )
        lockfile.record(lock_path, entry)
    return info


def _path(text: str, base_dir: str | None = None) -> Path:
    """``text`` as a local path (relative ones under ``base_dir`` when given), checked for what
    would make ``is_dir`` raise."""
    try:
        if "\0" in text:  # is_dir() says False for it, and the next stat() raises ValueError
            raise ValueError("it holds a NUL character")
        path = Path(base_dir or "") / Path(text).expanduser()  # an absolute text wins
        path.is_dir()
    except (OSError, RuntimeError, ValueError) as exc:  # name too long, unknown ~user, NUL
        # no location: the line that gave the path (model.config, --model-config) is the place
        raise ModelConfigError(
            f"model config {text[:200]!r}: unusable path ({reason(exc)})"
        ) from None
    return path


def _from_local(path: Path, *, model_id: str, hf_overrides: _Overrides = None) -> ModelInfo:
    target = path / "config.json" if path.is_dir() else path
    config = read_local_config(target)
    # vLLM looks beside the config file (transformers_utils/config.py get_config); never required
    quant_file = target.parent / HF_QUANT_CONFIG
    if config.get("quantization_config") is None and quant_file.is_file():
        hint = f"{HF_QUANT_CONFIG} is optional: fix it, or remove it for an unquantized model"
        quant = _read_local_json(quant_file, hint)
        config = with_hf_quant_config(config, quant, str(quant_file))
    tensor_bytes = local_dir_bytes(path) if path.is_dir() else None
    try:
        return parse_config(
            config,
            model_id=model_id,
            source="local",
            source_detail=str(target),
            safetensors_bytes=tensor_bytes,
            hf_overrides=hf_overrides,
        )
    except CheckerError as exc:
        exc.location = exc.location or str(target)
        raise


def read_local_config(target: Path) -> dict[str, Any]:
    """A local config.json as a dict; ModelConfigError (with the path) for anything else."""
    hint = "give a config.json file or a directory holding one, in --model-config or model.config"
    if not target.is_file():
        # no location: the mistake is where the path was given (a profile's model.config line)
        why = why_not_a_file(target)
        raise ModelConfigError(f"model config {str(target)!r}: {why}", hint=hint)
    return _read_local_json(target, hint)


def _read_local_json(target: Path, hint: str) -> dict[str, Any]:
    """A local JSON object file of model metadata; ModelConfigError (with the path) otherwise."""
    try:
        size = target.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ModelConfigError(
                f"file is {size} bytes; a {target.name} is far below 2 MiB",
                location=str(target),
                hint=hint,
            )
        text = decode_text(target.read_bytes(), MAX_CONFIG_BYTES)
        if not text.strip():
            raise ModelConfigError("an empty file, not a JSON object", location=str(target))
        data = json.loads(text)
    except OSError as exc:
        raise ModelConfigError(
            f"cannot read it ({exc.strerror or exc.__class__.__name__})", location=str(target)
        ) from None
    except YAMLSourceError as exc:  # not UTF-8 (and what it is instead, where that shows)
        raise ModelConfigError(exc.message, location=str(target), hint=hint) from None
    except json.JSONDecodeError as exc:
        raise ModelConfigError(
            f"invalid JSON: {exc.msg}", location=f"{target}:{exc.lineno}:{exc.colno}", hint=hint
        ) from None
    except RecursionError:
        raise ModelConfigError("JSON nested too deeply", location=str(target), hint=hint) from None
    except ValueError:  # json's own: an integer past Python's 4300-digit conversion limit
        raise ModelConfigError("a number too long to read", location=str(target)) from None
    if not isinstance(data, dict):
        raise ModelConfigError(
            f"{target.name} is not a JSON object", location=str(target), hint=hint
        )
    return data


def _not_found(
    name: str, lock_path: Path | None, why_offline: str, hub_error: ModelNotFoundError | None = None
) -> ModelNotFoundError:
    tried = [f"not in the built-in catalog ({len(catalog.entries())} models)"]
    if lock_path is not None:
        tried.append(f"not in lockfile {lock_path}")
    if hub_error is not None:
        tried.append(hub_error.message)
    else:
        tried.append(f"Hugging Face Hub not asked ({why_offline})")
    hints = []
    if near := catalog.closest(name):
        hints.append("did you mean " + ", ".join(near) + "?")
    hints.append("pass --model-config PATH (a config.json or a model directory)")
    if why_offline == "offline: the default":
        hints.append("or pass --online to fetch it from the Hub (--update-lockfile pins it)")
    elif why_offline:
        hints.append("or unset HF_HUB_OFFLINE to fetch it from the Hub")
    elif hub_error is not None and hub_error.hint:
        hints.append(f"or: {hub_error.hint}")
    return ModelNotFoundError(
        f"no metadata for model {name!r}: " + "; ".join(tried), hint=" ".join(hints)
    )
