"""The fleet file of ``vllm-wizard audit``: the GPU targets every profile is checked on.

A YAML list (or a mapping with ``targets:``) of ``"NAME[:COUNT]"`` strings or mappings::

    - H100-SXM-80GB
    - L4:2
    - name: A100-80GB
      count: 2
      price_per_hour: 3.40        # per instance of COUNT GPUs, any currency, used to rank
    - name: lab-48
      price_per_hour: 1.10
      spec:                       # a GPU not in the catalog (name defaults to the entry's)
        memory_gib: 47.5
        memory_bandwidth_gbs: 960
        fp16_tflops: 180
        compute_capability: "8.9"
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from checker.errors import GPUNotFoundError, ProfileError
from checker.schemas.error_words import shown
from checker.schemas.gpu import GPUSpec
from checker.schemas.section import ConfigDict, Field, PrivateAttr, Section, model_validator
from checker.schemas.target import Target, parse_target
from checker.schemas.yaml_model import read_yaml_file, validate_at
from checker.schemas.yaml_source import Positions

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class FleetEntry(Section):
    model_config = _STRICT

    name: str = Field(min_length=1, max_length=128, pattern=r"^[^:]+$")
    count: int = Field(default=1, ge=1, le=4096, description="GPUs per instance")
    # bounded: any currency's hourly price is far below, and the cost ranking stays finite
    price_per_hour: float | None = Field(default=None, ge=0, le=1e9, description="Per instance")
    spec: GPUSpec | None = Field(
        default=None, description="Custom GPU; its name defaults to the entry's"
    )

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        if isinstance(data, str):
            try:
                target = parse_target(data)
            except ProfileError as exc:
                raise ValueError(f"{exc.message} ({exc.hint})") from None
            return {"name": target.gpu, "count": target.count}
        if isinstance(data, dict) and isinstance(data.get("spec"), dict):
            data = {**data, "spec": {"name": data.get("name"), **data["spec"]}}
        return data

    @property
    def target(self) -> Target:
        return Target(self.name, self.count)


class Fleet(Section):
    model_config = _STRICT

    targets: list[FleetEntry] = Field(min_length=1)
    _where: tuple[str, ...] = PrivateAttr(default=())  # "file:line" of each entry, when read

    @property
    def custom_gpus(self) -> tuple[GPUSpec, ...]:
        return tuple(e.spec for e in self.targets if e.spec is not None)

    def check_gpus(self, custom: Sequence[GPUSpec]) -> None:
        """Every entry names a GPU of the catalog, ``custom`` or its own spec, once: a typo
        or a repeat stops the audit at its fleet line (like an unknown ``check --gpu``), not
        once per profile."""
        from checker.hardware.catalog import find_gpu

        customs = (*self.custom_gpus, *custom)
        seen: dict[tuple[str, int], int] = {}
        for i, entry in enumerate(self.targets):
            where = self._where[i] if i < len(self._where) else None
            try:
                gpu = find_gpu(entry.name, customs)
            except GPUNotFoundError as error:
                error.location = where
                error.hint = (
                    "name a GPU exactly as 'vllm-wizard gpus' lists it, or describe it with "
                    "'spec:' in this entry (see examples/fleet.yaml)"
                )
                raise
            first = seen.setdefault((gpu.name, entry.count), i)
            if first != i:  # an alias or a second price of one target: planned twice, ranked
                raise ProfileError(  # against itself
                    f"entry {i + 1}: {shown(str(entry.target))} is entry {first + 1} again "
                    f"({gpu.name}, {entry.count} GPU{'s' if entry.count > 1 else ''})",
                    location=where,
                    hint="list each GPU and count once (with the price you pay)",
                )


def load_fleet(path: Path) -> Fleet:
    data, positions = read_yaml_file(path)
    if not isinstance(data, (list, dict)):
        got = "an empty file" if data is None else shown(data)
        raise ProfileError(
            f"a fleet file is a list of GPU targets, got {got}",
            location=str(path),
            hint="one per line, e.g. '- H100-SXM-80GB' or "
            "'- {name: L4, count: 2, price_per_hour: 0.9}' (see examples/fleet.yaml)",
        )
    listed = isinstance(data, list)
    if listed:  # the short form: the file is the list of targets
        data = {"targets": data}
        spots = {("targets", *key): spot for key, spot in positions.spots.items()}
        positions = Positions({**spots, (): positions.spots.get((), (1, 1))})
    try:
        fleet = validate_at(Fleet, data, positions, str(path))
    except ProfileError as exc:
        if listed:  # no 'targets' key was written: name the entry, as the file shows it
            for error in (exc, *exc.related):
                error.message = _entry_words(error.message)
            exc.details = [str(error) for error in (exc, *exc.related)]
        raise
    where = tuple(
        f"{path}:{':'.join(map(str, positions.nearest(('targets', i)) or (1, 1)))}"
        for i in range(len(fleet.targets))
    )
    object.__setattr__(fleet, "_where", where)  # private state beside the validated fields
    return fleet


_KEY = re.compile(r"^(?P<what>.*?)'targets\.(?P<index>\d+)\.(?P<rest>[^']+)'(?P<after>.*)$")
_PREFIX = re.compile(r"^targets(?:\.(?P<index>\d+))?(?:\.(?P<rest>[^:]+))?: ")


def _entry_words(message: str) -> str:
    """A message about ``targets.1.cont`` in a fleet written as a bare list: 'entry 2: ...'."""
    if found := _KEY.match(message):
        entry = int(found["index"]) + 1
        return f"entry {entry}: {found['what']}'{found['rest']}'{found['after']}"
    if found := _PREFIX.match(message):
        if found["index"] is None:  # "targets: must not be empty"
            return f"the fleet list {message[found.end() :]}"
        rest = f"{found['rest']}: " if found["rest"] else ""
        return f"entry {int(found['index']) + 1}: {rest}{message[found.end() :]}"
    return message
