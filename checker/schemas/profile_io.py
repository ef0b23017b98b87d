"""Read, validate and write profiles; turn a profile into plan requests (one per GPU target)."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import signal
import stat
from collections.abc import Hashable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, cast

import yaml

from checker.errors import ArtifactError, CheckerError, ProfileError
from checker.schemas.engine_args import normalise_engine_args, request_fields
from checker.schemas.error_words import shown
from checker.schemas.inputs import (
    EngineInput,
    HardwareInput,
    ModelInput,
    PlanRequest,
    PolicyInput,
    WorkloadInput,
)
from checker.schemas.profile import (
    Profile,
    ProfileHardware,
    ProfileModel,
    ProfilePolicy,
    ProfileVLLM,
    ProfileWorkload,
)
from checker.schemas.section import Section, ValidationError
from checker.schemas.section_checks import validated_once
from checker.schemas.target import Target as Target
from checker.schemas.target import parse_target as parse_target
from checker.schemas.yaml_model import read_yaml_file, validate_at
from checker.schemas.yaml_source import LEADING_ZERO, Positions, YAMLSourceError, parse_yaml

SCHEMA_MODELINE = "# yaml-language-server: $schema={url}\n"
SCHEMA_URL = "https://raw.githubusercontent.com/vllm-wizard/vllm-wizard/main/checker/data/profile.schema.json"


class LoadedProfile(NamedTuple):
    profile: Profile
    path: Path
    positions: Positions

    def line_of(self, dotted_key: str) -> int | None:
        """Line of a dotted key (``hardware.tp_size``) or its nearest parent, 1-based."""
        spot = self.positions.nearest(_split_key(dotted_key))
        return spot[0] if spot else None


@functools.lru_cache(maxsize=256)  # a few keys (the rules' and the schema's), in every pair
def _split_key(dotted: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.isdigit() else p for p in dotted.split(".") if p)


def validate_profile_data(data: Any, positions: Positions, source: str) -> Profile:
    """The profile, its engine arguments in canonical form (checker.schemas.engine_args); every
    problem located, the first raised with the others in ``related``."""
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else shown(data)
        raise ProfileError(
            f"a profile must be a mapping of sections (model, hardware, ...), got {kind}",
            location=source,
            hint="start from examples/profiles/sample.yaml",
        )
    data, found = normalise_engine_args(data, positions, source)
    problems: list[CheckerError] = list(found)
    try:
        profile = validate_at(Profile, data, positions, source)
    except ProfileError as exc:
        problems = [exc, *exc.related, *found]
    if problems:
        first, *others = ordered = sorted(problems, key=_line_of_error)
        first.related = others
        first.details = [str(p) for p in ordered]
        raise first from None
    return profile


def _line_of_error(error: CheckerError) -> int:
    """The line an error points at ("file:line:col"), for reporting problems in file order."""
    parts = (error.location or "").rsplit(":", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else 0


def load_profile_text(text: str, source: str) -> LoadedProfile:
    try:
        data, positions = parse_yaml(text)
    except YAMLSourceError as exc:
        where = f"{source}:{exc.line}:{exc.column}" if exc.line else source
        raise ProfileError(exc.message, location=where) from None
    return LoadedProfile(validate_profile_data(data, positions, source), Path(source), positions)


def load_profile(path: str | os.PathLike[str]) -> LoadedProfile:
    file = Path(path)
    data, positions = read_yaml_file(file)
    return LoadedProfile(validate_profile_data(data, positions, str(file)), file, positions)


def dump_profile(profile: Profile) -> str:
    """YAML text of a profile, seed key order, with the editor-schema modeline first."""
    data = profile.model_dump(mode="json")
    body = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    # _Dumper double-quotes every string holding one, so an escape is valid wherever it lands
    body = _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", body)
    return SCHEMA_MODELINE.format(url=SCHEMA_URL) + body


# Bidi overrides and isolates ("Trojan Source"): PyYAML passes them raw with allow_unicode.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


class _Dumper(yaml.SafeDumper):
    """A string with a bidi control is double-quoted (plain style could not show it escaped)."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # "08" is text to PyYAML, which leaves it plain, but a number to YAML 1.2: quoted, so the
    # loader (checker.schemas.yaml_source) reads the dump back
    style = '"' if _BIDI.search(data) else "'" if LEADING_ZERO.fullmatch(data) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def _umask() -> int:
    mask = os.umask(0o022)  # reading the mask means setting it; put it straight back
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str | Iterable[str], *, executable: bool = False) -> None:
    """Write via a temporary file in the same directory and rename, so readers never see half.
    ``text`` may come in pieces (a report streamed, never whole in memory). See write_all_atomic."""
    write_all_atomic([(path, text, executable)])


def write_all_atomic(files: Sequence[tuple[Path, str | Iterable[str], bool]]) -> None:
    """Write a set of files (path, text, executable) so that a reader, or a run interrupted by
    SIGINT/SIGTERM, sees all the old files or all the new ones: every temporary file is
    written first, then all are renamed with those signals held back; an interrupted or failed
    write removes its temporary files.

    A symlink is written through (its target, inside the directory the caller checked, gets
    the new text; the link stays). A file that exists keeps its mode; a new one gets the mode
    any other tool would give it under the umask (mkstemp alone would leave it 0600). A
    failing write (disk full, file size limit, not a directory) is an ArtifactError.
    """
    staged: list[tuple[str, Path]] = []
    streams: list[tuple[int, str | Iterable[str]]] = []  # opened before any rename
    current = Path()
    try:
        for path, text, executable in files:
            current = path
            if _is_stream(path):  # /dev/null, /dev/stdout, a FIFO: written into, never replaced
                streams.append((_open_stream(path), text))
                continue
            current = _written_through(path)
            if current.is_dir():  # renaming onto "." or a mount point says "Device busy"
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
            if _read_only(current):  # a rename would replace it all the same
                raise PermissionError(errno.EACCES, "a read-only file", str(current))
            staged.append((_stage(current, text, executable), current))
        with _signals_held():
            for tmp, target in staged:
                current = target
                os.replace(tmp, target)
        while streams:
            fd, text = streams.pop(0)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.writelines([text] if isinstance(text, str) else text)
    except BaseException as exc:
        for fd, _ in streams:
            os.close(fd)
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ArtifactError(
                f"cannot write: {exc.strerror or exc}",
                location=str(current),
                hint=_WRITE_HINTS.get(exc.errno or 0),
            ) from None
        raise


_WRITE_HINTS = {
    errno.EISDIR: "give a file path, not a directory",
    errno.EACCES: "make it writable (chmod u+w) to let vllm-wizard replace it",
}


def _read_only(path: Path) -> bool:
    """Whether ``path`` is a file its mode keeps from being written (by this user; by anyone,
    for root, whom access() always lets write): it is replaced only once made writable."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False  # none yet: created
    return not os.access(path, os.W_OK) or not mode & 0o222


def _written_through(path: Path) -> Path:
    """The file a write to ``path`` lands in: a symlink's target (created if missing). A link
    that loops is an OSError, so the write fails instead of replacing the link."""
    if not path.is_symlink():
        return path
    with contextlib.suppress(FileNotFoundError):  # a dangling link: its target is created
        path.stat()  # ELOOP raises here, as Path.resolve does not on every Python version
    return path.resolve()


def _is_stream(path: Path) -> bool:
    """Whether ``path`` (followed if a link) is a device, FIFO or socket: renaming a file over
    it would replace the node (as root, /dev/null itself) instead of writing to it."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _open_stream(path: Path) -> int:
    """``path`` opened for writing without waiting: a FIFO that nothing reads is an error, not
    a hang (a blocking open would wait for a reader forever)."""
    try:
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise OSError(exc.errno, "a FIFO that nothing reads", str(path)) from None
        raise
    os.set_blocking(fd, True)
    return fd


def _stage(path: Path, text: str | Iterable[str], executable: bool) -> str:
    """The text in a temporary file beside ``path``, with the mode ``path`` will have."""
    if path.parent.exists() and not path.parent.is_dir():  # mkdir would say "File exists"
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent))
    path.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # only a write needs it: kept off each start

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.writelines([text] if isinstance(text, str) else text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, (0o777 if executable else 0o666) & ~_umask())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the renames are done (where the platform can hold them)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def save_profile(profile: Profile, path: str | os.PathLike[str]) -> None:
    write_atomic(Path(path), dump_profile(profile))


def profile_targets(profile: Profile) -> list[Target]:
    """The profile's own GPU target first, then ``hardware.targets``, without repeats."""
    found = [Target(profile.hardware.gpu_name, profile.hardware.gpus)]
    for text in profile.hardware.targets:
        target = parse_target(text)
        if target not in found:
            found.append(target)
    return found


# Profile section -> request section; fields keep their names except these (profile, request).
_SECTIONS = {
    "model": "model",
    "hardware": "hardware",
    "workload": "workload",
    "policy": "policy",
    "vllm": "engine",
}
_RENAMED = {
    ("model", "id"): "model",
    ("model", "config"): "config_path",
    ("hardware", "gpu_name"): "gpu",
    ("hardware", "tp_size"): "tensor_parallel_size",
    ("hardware", "pp_size"): "pipeline_parallel_size",
    ("workload", "mode"): "batching_mode",
    ("vllm", "version"): "vllm_version",
}
_CLASSES: dict[str, tuple[type[Section], type[Section]]] = {
    "model": (ProfileModel, ModelInput),
    "hardware": (ProfileHardware, HardwareInput),
    "workload": (ProfileWorkload, WorkloadInput),
    "policy": (ProfilePolicy, PolicyInput),
    "vllm": (ProfileVLLM, EngineInput),
}


def request_field(profile_key: str) -> tuple[str, str]:
    """The request (section, field) a dotted profile key sets: "vllm.block_size" -> ("engine",
    "block_size"), as findings' fix_values name them."""
    section, _, name = profile_key.partition(".")
    return _SECTIONS[section], _RENAMED.get((section, name), name)


@functools.cache
def _shared_fields(section: str) -> tuple[tuple[str, str], ...]:
    """(profile field, request field) pairs of a section that carry the same setting."""
    profile_cls, request_cls = _CLASSES[section]
    pairs = [(name, _RENAMED.get((section, name), name)) for name in profile_cls.model_fields]
    return tuple((p, r) for p, r in pairs if r in request_cls.model_fields)


def profile_to_request(
    profile: Profile,
    target: Target | None = None,
    *,
    base_dir: Path | None = None,
    explain: bool = False,
) -> PlanRequest:
    """Map a profile (and one of its GPU targets) to a plan request."""
    data = _request_data(profile, base_dir=base_dir, explain=explain)
    data["hardware"].update(_target_hardware(profile, target or profile_targets(profile)[0]))
    return PlanRequest.model_validate(data)


def _request_data(profile: Profile, *, base_dir: Path | None, explain: bool) -> dict[str, Any]:
    """The request's sections as data (or, where the profile's section alone sets one, as the
    section validated), before the GPU target's hardware fields."""
    data: dict[str, Any] = {
        "explain": explain,
        "ignore": {i.rule: i.reason for i in profile.ignore},
    }
    vllm_args = profile.outputs.vllm_args
    passthrough = request_fields(vllm_args)
    for section, request_section in _SECTIONS.items():
        values = getattr(profile, section)
        alone = section in _PROFILE_ONLY and request_section not in passthrough
        built = _request_section(section, values) if alone and not vllm_args else None
        data[request_section] = _section_data(section, values) if built is None else built
    if isinstance(data["engine"], dict):
        data["engine"]["vllm_args"] = dict(vllm_args)
    for section, fields in passthrough.items():
        data[section].update(fields)
    config_path = profile.model.config
    if config_path and base_dir is not None and not Path(config_path).is_absolute():
        data["model"]["config_path"] = str(base_dir / config_path)
    if base_dir is not None:  # model.id or a draft naming a directory: read from there too
        data["model"]["base_dir"] = str(base_dir)
    return data


def _section_data(section: str, values: Section) -> dict[str, Any]:
    """The request section's fields that a profile section sets."""
    return {r: getattr(values, p) for p, r in _shared_fields(section)}


# The profile sections that alone set a request section (no GPU target, folder or passthrough
# argument changes them); a fleet's files share them (section_checks.validated_once).
_PROFILE_ONLY = frozenset(("workload", "policy", "vllm"))
# profile section, by identity (frozen, and kept here alive) -> (it, its request section)
_REQUEST_SECTIONS: dict[int, tuple[Section, Section]] = {}


def _request_section(section: str, values: Section) -> Section | None:
    """The request section that ``values`` (a section of _PROFILE_ONLY, without passthrough
    arguments) sets, validated once per section; None where it is no valid one (validated in
    the request, which locates the problem)."""
    found = _REQUEST_SECTIONS.get(id(values))
    if found is not None and found[0] is values:
        return found[1]
    data = _section_data(section, values)
    if section == "vllm":
        data["vllm_args"] = {}
    try:
        built = _CLASSES[section][1].model_validate(data)
    except ValidationError:
        return None
    if len(_REQUEST_SECTIONS) >= 256:  # bounded: a fleet's files share a few
        _REQUEST_SECTIONS.clear()
    _REQUEST_SECTIONS[id(values)] = (values, built)
    return built


def _target_hardware(profile: Profile, target: Target) -> dict[str, Any]:
    """The hardware fields a GPU target sets."""
    hw = profile.hardware
    return {
        "gpu": target.gpu,
        "gpus": target.count,
        "vram_gb": hw.vram_gb if target.gpu == hw.gpu_name else None,
        "custom_gpu": next(
            (g for g in hw.custom_gpus if target.gpu == g.name or target.gpu in g.aliases), None
        ),
    }


class ProfileRequests:
    """``profile_to_request`` of one profile for each of its GPU targets in turn: the sections
    a target does not set are built and validated once; for each target only its hardware
    section is (a fleet check plans every profile on several targets)."""

    def __init__(self, profile: Profile, *, base_dir: Path | None = None) -> None:
        self.profile, self.base_dir = profile, base_dir
        self._first: PlanRequest | None = None
        self._hardware: dict[str, Any] = {}  # the first request's, before its target's fields
        # what a caller checked of the profile's requests that no target changes (the gate's
        # model paths): checked once, for its first target
        self.checked: set[Hashable] = set()

    def for_target(self, target: Target) -> PlanRequest:
        """The request on ``target``; raises what ``profile_to_request`` raises."""
        request, hardware = self.sections(target)
        if request.hardware is hardware:
            return request
        return request.model_copy(update={"hardware": hardware})

    def sections(self, target: Target) -> tuple[PlanRequest, HardwareInput]:
        """A request of the profile (on its first target asked for) and ``target``'s hardware
        section, for a caller that replaces more than the hardware in one copy."""
        if self._first is None:
            data = _request_data(self.profile, base_dir=self.base_dir, explain=False)
            self._hardware = data["hardware"]
            hardware = {**self._hardware, **_target_hardware(self.profile, target)}
            try:
                data["hardware"] = _hardware_input(hardware)
            except ValidationError:  # validated in the request, which locates the problem
                data["hardware"] = hardware
            self._first = PlanRequest.model_validate(data)
            return self._first, self._first.hardware
        hardware = {**self._hardware, **_target_hardware(self.profile, target)}
        return self._first, _hardware_input(hardware)


def _hardware_input(data: dict[str, Any]) -> HardwareInput:
    """``HardwareInput.model_validate(data)``, the same section for the same values; an inline
    custom GPU (a section of the profile's own) is validated afresh."""
    if data.get("custom_gpu") is None:
        shared = validated_once(HardwareInput, data)
        if shared is not None:
            return cast(HardwareInput, shared)
    return HardwareInput.model_validate(data)  # or says what is wrong with it


def profile_from_request(request: PlanRequest, base: Profile | None = None) -> Profile:
    """A profile holding ``request``'s settings; targets, custom GPUs, deploy and outputs from
    ``base`` (the profile the request was read from, if any)."""
    data: dict[str, Any] = {}
    for section, request_section in _SECTIONS.items():
        values = getattr(request, request_section)
        data[section] = {p: getattr(values, r) for p, r in _shared_fields(section)}
    if base is not None:
        data["hardware"].update(
            targets=base.hardware.targets, custom_gpus=base.hardware.custom_gpus
        )
        if base.model.config:
            data["model"]["config"] = base.model.config
        data.update(deploy=base.deploy, outputs=base.outputs, ignore=base.ignore)
    return Profile.model_validate(data)
