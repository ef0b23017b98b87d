"""hf_quant_config.json: ModelOpt checkpoints that keep their quantization beside config.json.

vLLM reads it as the quantization_config when config.json has none (transformers_utils/config.py
get_config); every source of metadata does the same, and the file is never required.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checker.errors import ModelConfigError
from checker.models import catalog
from checker.models.lockfile import read_lockfile
from checker.models.resolve import clear_cache, resolve_model
from checker.planning.engine.settings import resolve_settings
from checker.schemas.inputs import ModelInput
from checker.schemas.model_info import ModelInfo
from tests.models.fake_hub import FakeHub, Repo
from tests.planning.conftest import H100
from tests.planning.plans import make_request

# nvidia/Qwen3-32B-NVFP4's hf_quant_config.json, as vendored by ai-dynamo/aiconfigurator
# (src/aiconfigurator/model_configs/nvidia--Qwen3-32B-NVFP4_hf_quant_config.json
# @ f577ab8432dfc9970fea27853a24861a6d3076cf)
QWEN3_32B_NVFP4 = (
    '{\n    "producer": {\n        "name": "modelopt",\n        "version": "0.33.0"\n    },\n'
    '    "quantization": {\n        "quant_algo": "NVFP4",\n        "kv_cache_quant_algo": "FP8",\n'
    '        "group_size": 16,\n        "exclude_modules": [\n            "lm_head"\n        ]\n'
    "    }\n}\n"
)
MODEL = "nvidia/Qwen3-32B-NVFP4"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def _qwen3_32b() -> dict[str, Any]:
    entry = catalog.find("Qwen/Qwen3-32B")
    assert entry is not None
    config = catalog.load_config(entry)
    assert "quantization_config" not in config
    return config


def _assert_nvfp4(info: ModelInfo) -> None:
    assert info.quant is not None
    assert (info.quant.method, info.quant.weight_bits, info.quant.group_size) == (
        "modelopt_fp4",
        4,
        16,
    )
    assert info.quant.skipped_modules == ("lm_head",)


def _repo(quant: bytes | None) -> Repo:
    files = {"config.json": json.dumps(_qwen3_32b()).encode()}
    if quant is not None:
        files["hf_quant_config.json"] = quant
    return Repo(files=files)


def test_a_hub_checkpoint_with_hf_quant_config_is_four_bit_and_locked_so(
    hub: FakeHub, tmp_path: Path
) -> None:
    hub.repos[MODEL] = _repo(QWEN3_32B_NVFP4.encode())
    lock = tmp_path / "vllm-wizard.lock.json"
    _assert_nvfp4(resolve_model(ModelInput(model=MODEL), lockfile=lock, record=True))
    [entry] = read_lockfile(lock).models
    assert entry.hf_quant_config == json.loads(QWEN3_32B_NVFP4)
    assert "quantization_config" not in entry.config  # config.json stays as the Hub has it
    clear_cache()
    asked = len(hub.seen)
    replayed = resolve_model(ModelInput(model=MODEL), lockfile=lock, offline=True)
    assert len(hub.seen) == asked and replayed.source_detail.startswith(f"lockfile {lock}")
    _assert_nvfp4(replayed)


def test_without_hf_quant_config_nothing_changes_and_the_lockfile_says_nothing(
    hub: FakeHub, tmp_path: Path
) -> None:
    hub.repos[MODEL] = _repo(None)  # the Hub answers 404 EntryNotFound for the file
    lock = tmp_path / "vllm-wizard.lock.json"
    info = resolve_model(ModelInput(model=MODEL), lockfile=lock, record=True)
    assert info.quant is None
    assert len(hub.requests_for("hf_quant_config.json")) == 1
    assert "hf_quant_config" not in json.loads(lock.read_text())["models"][0]


def test_a_config_json_quantization_config_wins_and_the_file_is_not_asked_for(
    hub: FakeHub,
) -> None:
    fp8 = {**_qwen3_32b(), "quantization_config": {"quant_method": "fp8"}}
    hub.repos[MODEL] = Repo(
        files={"config.json": json.dumps(fp8).encode(), "hf_quant_config.json": b"not json"}
    )
    info = resolve_model(ModelInput(model=MODEL))
    assert info.quant is not None and info.quant.method == "fp8"
    assert hub.requests_for("hf_quant_config.json") == []


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"producer": {"name": "modelopt"}, ', "not valid JSON"),
        (b'["NVFP4"]', "hf_quant_config.json is not an object"),
        (
            b'{"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "INT3"}}',
            "unknown ModelOpt quant_algo 'INT3'",
        ),
    ],
)
def test_a_malformed_hf_quant_config_on_the_hub_is_an_error_naming_it(
    hub: FakeHub, tmp_path: Path, body: bytes, why: str
) -> None:
    hub.repos[MODEL] = _repo(body)
    lock = tmp_path / "vllm-wizard.lock.json"
    with pytest.raises(ModelConfigError, match="hf_quant_config.json") as caught:
        resolve_model(ModelInput(model=MODEL), lockfile=lock, record=True)
    assert why in caught.value.message
    assert not lock.exists()  # an unreadable checkpoint is not locked in


def test_a_local_directory_or_config_file_reads_the_file_beside_it(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(_qwen3_32b()))
    assert resolve_model(ModelInput(model=str(tmp_path))).quant is None
    clear_cache()
    (tmp_path / "hf_quant_config.json").write_text(QWEN3_32B_NVFP4)
    _assert_nvfp4(resolve_model(ModelInput(model=str(tmp_path))))
    _assert_nvfp4(resolve_model(ModelInput(model=MODEL, config_path=str(tmp_path / "config.json"))))


@pytest.mark.parametrize(
    ("text", "why", "line"),
    [
        ('{"producer": {"name": "modelopt"},\n "quantization": }', "invalid JSON", ":2:18"),
        ("[1]", "hf_quant_config.json is not a JSON object", ""),
        ('{"quant_method": "gptq", "bits": "four"}', "wrong type", ""),
    ],
)
def test_a_malformed_local_hf_quant_config_names_its_path(
    tmp_path: Path, text: str, why: str, line: str
) -> None:
    (tmp_path / "config.json").write_text(json.dumps(_qwen3_32b()))
    (tmp_path / "hf_quant_config.json").write_text(text)
    with pytest.raises(ModelConfigError) as caught:
        resolve_model(ModelInput(model=str(tmp_path)))
    assert why in caught.value.message
    assert caught.value.location == f"{tmp_path / 'hf_quant_config.json'}{line}"


@pytest.mark.parametrize("version", ["0.19.0", "0.33.0"])
def test_its_kv_cache_quant_algo_fp8_makes_auto_an_fp8_kv_cache(
    tmp_path: Path, version: str
) -> None:
    (tmp_path / "config.json").write_text(json.dumps(_qwen3_32b()))
    (tmp_path / "hf_quant_config.json").write_text(QWEN3_32B_NVFP4)
    info = resolve_model(ModelInput(model=str(tmp_path)))
    assert info.quant is not None and info.quant.kv_cache_dtype == "fp8_e4m3"
    auto = resolve_settings(make_request(MODEL, version=version), info, H100, tp=1)
    assert (auto.kv_cache_dtype, auto.kv_bytes) == ("fp8_e4m3", 1.0)
    chosen = make_request(MODEL, version=version, kv_cache_dtype="bfloat16")
    assert resolve_settings(chosen, info, H100, tp=1).kv_bytes == 2.0  # a given dtype wins
    (tmp_path / "hf_quant_config.json").unlink()
    clear_cache()
    plain = resolve_model(ModelInput(model=str(tmp_path)))
    assert resolve_settings(make_request(MODEL, version=version), plain, H100, tp=1).kv_bytes == 2
