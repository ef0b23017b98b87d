"""The models every ``check`` and ``plan`` builds carry evaluated annotations (issue 17): with
postponed ones (``from __future__ import annotations``) pydantic compiles each field's
annotation from its string at every start of a pre-commit hook."""

from __future__ import annotations

import importlib
import inspect

import pytest
from pydantic import BaseModel

HOT = (
    "checker.gate.result",
    "checker.gate.sources.repo_config",
    "checker.schemas.calibration",
    "checker.schemas.gpu",
    "checker.schemas.inputs",
    "checker.schemas.model_info",
    "checker.schemas.outputs",
    "checker.schemas.profile",
    "checker.schemas.slo",
)


@pytest.mark.parametrize("name", HOT)
def test_hot_models_have_no_string_annotations(name: str) -> None:
    module = importlib.import_module(name)
    models = [
        m
        for m in vars(module).values()
        if inspect.isclass(m) and issubclass(m, BaseModel) and m.__module__ == name
    ]
    assert models
    postponed = {
        f"{m.__name__}.{field}"
        for m in models
        for field, annotation in inspect.get_annotations(m).items()
        if isinstance(annotation, str)
    }
    assert postponed == set()
