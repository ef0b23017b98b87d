"""The models every ``check`` and ``plan`` builds are cheap to build at each start of a
pre-commit hook (issue 17): evaluated annotations (with postponed ones, ``from __future__ import
annotations``, pydantic compiles each field's annotation from its string) and default factories
whose signature pydantic reads without parsing a builtin's text signature."""

from __future__ import annotations

import importlib
import inspect

import pytest
from pydantic import BaseModel

HOT = (
    "checker.gate.sources.repo_config",
    "checker.schemas.calibration",
    "checker.schemas.gpu",
    "checker.schemas.inputs",
    "checker.schemas.model_info",
    "checker.schemas.profile",
    "checker.schemas.slo",
)


def _models(name: str) -> list[type[BaseModel]]:
    module = importlib.import_module(name)
    models = [
        m
        for m in vars(module).values()
        if inspect.isclass(m) and issubclass(m, BaseModel) and m.__module__ == name
    ]
    assert models
    return models


@pytest.mark.parametrize("name", HOT)
def test_hot_models_have_no_string_annotations(name: str) -> None:
    models = _models(name)
    postponed = {
        f"{m.__name__}.{field}"
        for m in models
        for field, annotation in inspect.get_annotations(m).items()
        if isinstance(annotation, str)
    }
    assert postponed == set()


@pytest.mark.parametrize("name", HOT)
def test_hot_models_have_no_builtin_default_factories(name: str) -> None:
    builtin = {
        f"{m.__name__}.{field}"
        for m in _models(name)
        for field, info in m.model_fields.items()
        # a builtin type with a text signature: parsed when pydantic reads it
        if isinstance(info.default_factory, type)
        and getattr(info.default_factory, "__text_signature__", None)
    }
    assert builtin == set()
