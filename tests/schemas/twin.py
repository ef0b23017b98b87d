"""The pydantic twin of a Section: the same declaration (annotations, ``Field`` defaults and
limits, validators, config) as a pydantic ``BaseModel``, for tests that hold our validator,
JSON writer and JSON Schema against pydantic's. pydantic stays a test dependency as the oracle.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from typing import Annotated, Any, Literal, Union

import pydantic

from checker.gate.audit.fleet import Fleet
from checker.gate.sources.repo_config import RepoConfig
from checker.models.lockfile import Lockfile
from checker.planning.engine.versions import VersionFacts
from checker.schemas import section
from checker.schemas.calibration import Calibration
from checker.schemas.inputs import PlanRequest
from checker.schemas.model_info import ModelInfo
from checker.schemas.profile import Profile
from checker.schemas.section import Section

# every file and request we read (the log tables hold compiled patterns, which no schema shows)
READ = (Profile, PlanRequest, ModelInfo, Fleet, RepoConfig, Lockfile, Calibration, VersionFacts)


@functools.cache
def pydantic_twin(cls: type[Section]) -> type[pydantic.BaseModel]:
    """``cls`` declared again as a frozen pydantic model (nested sections as their twins)."""
    hints = section.field_types(cls)
    namespace: dict[str, Any] = {"__module__": cls.__module__, "__doc__": cls.__doc__}
    annotations: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        annotations[name] = twin_type(hints.get(name, info.annotation))
        namespace[name] = _twin_field(info)
    namespace["__annotations__"] = annotations
    # helpers the validators may call (methods, properties), fields and hooks left out
    for base in reversed(cls.__mro__[: cls.__mro__.index(Section)]):
        for name, value in vars(base).items():
            if name.startswith("__") or name in cls.model_fields or name.startswith("model_"):
                continue
            if any(value is h.func for h in cls.__section_hooks__):
                continue
            namespace[name] = value
    for index, hook in enumerate(cls.__section_hooks__):
        if hook.mode.startswith("model_"):
            wrapped = pydantic.model_validator(mode=hook.mode.removeprefix("model_"))  # type: ignore[call-overload]
            namespace[f"twin_hook_{index}"] = wrapped(hook.func)
        else:
            mode = typing.cast(Literal["before", "after"], hook.mode)
            namespace[f"twin_hook_{index}"] = pydantic.field_validator(*hook.fields, mode=mode)(
                hook.func
            )
    config = cls.model_config
    namespace["model_config"] = pydantic.ConfigDict(
        extra=config.get("extra", "forbid"),
        allow_inf_nan=config.get("allow_inf_nan", True),
        frozen=True,
        protected_namespaces=(),
        arbitrary_types_allowed=True,
    )
    return typing.cast(
        type[pydantic.BaseModel], type(cls.__name__, (pydantic.BaseModel,), namespace)
    )


def _twin_field(info: section.FieldInfo) -> Any:
    given: dict[str, Any] = {}
    if info.default is not section.MISSING:
        given["default"] = info.default
    if info.default_factory is not None:
        given["default_factory"] = info.default_factory
    for key in ("description", "examples", "json_schema_extra"):
        if getattr(info, key) is not None:
            given[key] = getattr(info, key)
    if info.exclude:
        given["exclude"] = True
    if info.exclude_if is not None:
        given["exclude_if"] = info.exclude_if
    return pydantic.Field(**given, **info.limits)


def twin_type(annotation: Any) -> Any:
    """An annotation of a Section's field as pydantic reads the same rule."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        extras = []
        for extra in args[1:]:
            if extra is section.STRICT:
                extras.append(pydantic.Strict())
            elif isinstance(extra, section.FieldInfo):
                extras.append(pydantic.Field(**extra.limits))
            elif isinstance(extra, section.BeforeValidator):
                extras.append(pydantic.BeforeValidator(extra.func))
            else:
                extras.append(extra)
        return Annotated[(twin_type(args[0]), *extras)]  # type: ignore[valid-type]
    if origin in (Union, types.UnionType):
        return Union[tuple(twin_type(a) for a in args)]  # noqa: UP007 - built from a tuple
    if origin in (list, tuple, set, frozenset, dict) and args:
        return origin[tuple(a if a is Ellipsis else twin_type(a) for a in args)]
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return pydantic_twin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    return annotation


def read_sections() -> list[type[Section]]:
    """The sections of every file and request we read, at any depth."""
    found: dict[type[Section], None] = {}

    def visit(annotation: object) -> None:
        kind = annotation if isinstance(annotation, type) else None
        if kind is not None and issubclass(kind, Section) and kind not in found:
            found[kind] = None
            for info in kind.model_fields.values():
                visit(info.annotation)
        for arg in typing.get_args(annotation):
            visit(arg)

    for root in READ:
        root.model_json_schema()  # evaluates the annotations of the sections it holds
        visit(root)
    return list(found)
