"""Where metadata comes from: local path, local directory, catalog, lockfile, Hub, in that order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checker.errors import ModelConfigError, ModelNotFoundError
from checker.models import catalog
from checker.models.lockfile import read_lockfile
from checker.models.resolve import clear_cache, resolve_model
from checker.schemas.inputs import ModelInput
from tests.conftest import REPO
from tests.models.conftest import TOKEN
from tests.models.fake_hub import FakeHub, Repo, safetensors_file, tensor_bytes

TENSORS = {"model.embed_tokens.weight": ("BF16", [1000, 64]), "lm_head.weight": ("F32", [64])}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def _qwen3_8b() -> dict[str, Any]:
    entry = catalog.find("Qwen/Qwen3-8B")
    assert entry is not None
    return catalog.load_config(entry)


def _tiny_config() -> dict[str, Any]:
    return {**_qwen3_8b(), "num_hidden_layers": 2, "hidden_size": 64, "vocab_size": 1000}


def _tiny_repo() -> Repo:
    return Repo(
        files={
            "config.json": json.dumps(_tiny_config()).encode(),
            "model.safetensors": safetensors_file(TENSORS),
        }
    )


def test_a_local_config_path_shadows_the_catalog(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_tiny_config()))
    info = resolve_model(ModelInput(model="Qwen/Qwen3-8B", config_path=str(path)))
    assert (info.source, info.num_hidden_layers, info.source_detail) == ("local", 2, str(path))
    assert info.model_id == "Qwen/Qwen3-8B"


def test_a_local_model_directory_gives_exact_bytes_from_its_safetensors(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(_tiny_config()))
    (tmp_path / "model.safetensors").write_bytes(safetensors_file(TENSORS))
    by_name = resolve_model(ModelInput(model=str(tmp_path)))
    by_config_dir = resolve_model(ModelInput(model="my-model", config_path=str(tmp_path)))
    for info in (by_name, by_config_dir):
        assert info.source == "local"
        assert info.safetensors_bytes == tensor_bytes(TENSORS)


def test_a_model_directory_is_found_relative_to_the_profile_and_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id-shaped name (org/name) is a directory when the profile's folder holds one, and
    "~/..." is read from the home directory; an id that names none goes to the catalog."""
    for folder in (tmp_path / "profiles" / "org" / "tiny", tmp_path / "home" / "models"):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(_tiny_config()))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    base = str(tmp_path / "profiles")
    for name in ("org/tiny", "~/models"):
        info = resolve_model(ModelInput(model=name, base_dir=base))
        assert (info.source, info.num_hidden_layers) == ("local", 2)
    assert resolve_model(ModelInput(model="Qwen/Qwen3-8B", base_dir=base)).source == "catalog"


def test_a_local_path_that_does_not_exist_is_an_error_not_a_lookup(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="local model directory"):
        resolve_model(ModelInput(model=str(tmp_path / "missing" / "model")))
    with pytest.raises(ModelConfigError, match="nope.json': no such file") as caught:
        resolve_model(ModelInput(model="Qwen/Qwen3-8B", config_path=str(tmp_path / "nope.json")))
    assert caught.value.location is None  # the line that gave the path is the place to fix


def test_names_no_filesystem_accepts_are_errors_not_tracebacks() -> None:
    with pytest.raises(ModelNotFoundError, match="no metadata for model"):
        resolve_model(ModelInput(model="x" * 300), offline=True)
    with pytest.raises(ModelConfigError, match="unusable path"):
        resolve_model(ModelInput(model="a/b", config_path="y" * 300))


@pytest.mark.parametrize(
    ("content", "words", "where"),
    [
        (b'{"hidden_size": 64,\n  "num_hidden_layers": }', "invalid JSON", ":2:24"),
        (b"[1, 2, 3]", "not a JSON object", ""),
        (b"\xff\xfe{}", "not UTF-8 text \\(byte 0\\): UTF-16; save it as UTF-8", ""),
        (b"\x1f\x8b\x08\x00", "gzip data; decompress it first", ""),
        (b"", "an empty file, not a JSON object", ""),
        (b"\xef\xbb\xbf[1]", "not a JSON object", ""),  # a UTF-8 byte-order mark is read
        (b"{" + b" " * (2 * 1024 * 1024) + b"}", "far below 2 MiB", ""),
        (b'{"model_type": "llama"}', "no usable 'hidden_size'", ""),
    ],
)
def test_a_malformed_local_config_names_its_path(
    tmp_path: Path, content: bytes, words: str, where: str
) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(ModelConfigError, match=words) as caught:
        resolve_model(ModelInput(model="x/y", config_path=str(path)))
    assert caught.value.location == f"{path}{where}"


def test_the_catalog_answers_offline_with_its_canonical_id() -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # the suite runs offline
    for spelling in ("Qwen/Qwen3-8B", "qwen/qwen3-8b", "Qwen3-8B"):
        info = resolve_model(ModelInput(model=spelling), offline=True)
        assert (info.model_id, info.source, info.num_hidden_layers) == (
            "Qwen/Qwen3-8B",
            "catalog",
            36,
        )
        assert "ai-dynamo/aiconfigurator" in info.source_detail


def test_a_pinned_revision_on_a_catalog_model_is_flagged_as_unchecked() -> None:
    info = resolve_model(ModelInput(model="Qwen/Qwen3-8B", revision="abc123"), offline=True)
    assert "revision 'abc123' not checked" in info.source_detail


def test_the_hub_is_asked_only_for_models_the_catalog_lacks(hub: FakeHub) -> None:
    hub.repos["acme/tiny"] = _tiny_repo()
    assert resolve_model(ModelInput(model="Qwen/Qwen3-8B")).source == "catalog"
    assert hub.seen == []
    info = resolve_model(ModelInput(model="acme/tiny"))
    assert (info.source, info.num_hidden_layers) == ("hub", 2)
    assert info.safetensors_bytes == tensor_bytes(TENSORS)
    assert (
        info.source_detail
        == f"Hugging Face Hub {hub.url}: acme/tiny@{hub.repos['acme/tiny'].commit}"
    )


def test_resolution_is_cached_per_process(hub: FakeHub) -> None:
    hub.repos["acme/tiny"] = _tiny_repo()
    first = resolve_model(ModelInput(model="acme/tiny"))
    asked = len(hub.seen)
    again = resolve_model(ModelInput(model="acme/tiny", dtype="float16", trust_remote_code=True))
    assert again is first and len(hub.seen) == asked


@pytest.mark.parametrize(
    ("flag", "env", "hint"), [(True, "", "pass --online"), (False, "1", "unset HF_HUB_OFFLINE")]
)
def test_offline_and_unknown_fails_with_suggestions(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, flag: bool, env: str, hint: str
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", env)
    hub.repos["Qwen/Qwen3-9B"] = _tiny_repo()
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model(ModelInput(model="Qwen/Qwen3-9B"), offline=flag)
    err = caught.value
    assert "not in the built-in catalog" in err.message and "Hub not asked" in err.message
    assert "did you mean Qwen/Qwen3-8B" in (err.hint or "")
    assert "--model-config PATH" in (err.hint or "") and hint in (err.hint or "")
    assert hub.seen == []


def test_unknown_on_the_hub_too_lists_everything_tried(hub: FakeHub) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model(ModelInput(model="meta-llama/Llama-3.1-8B-Instruk"))
    assert "not in the built-in catalog" in caught.value.message
    assert "was not found on the Hugging Face Hub" in caught.value.message
    assert "did you mean meta-llama/Llama-3.1-8B-Instruct" in (caught.value.hint or "")


def test_a_recorded_lockfile_replays_the_hub_offline(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lock = tmp_path / "vllm-wizard.lock.json"
    hub.repos["acme/tiny"] = _tiny_repo()
    online = resolve_model(ModelInput(model="acme/tiny"), lockfile=lock, record=True)
    [entry] = read_lockfile(lock).models
    assert (entry.commit, entry.safetensors_bytes) == (
        hub.repos["acme/tiny"].commit,
        online.safetensors_bytes,
    )
    asked = len(hub.seen)
    clear_cache()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    replayed = resolve_model(ModelInput(model="ACME/tiny"), lockfile=lock)
    assert len(hub.seen) == asked
    assert replayed.source == "hub" and replayed.source_detail.startswith(f"lockfile {lock}")
    same = {"source_detail", "model_id"}
    assert replayed.model_dump(exclude=same) == online.model_dump(exclude=same)


def test_the_lockfile_is_read_before_the_hub(hub: FakeHub, tmp_path: Path) -> None:
    lock = tmp_path / "vllm-wizard.lock.json"
    hub.repos["acme/tiny"] = _tiny_repo()
    resolve_model(ModelInput(model="acme/tiny"), lockfile=lock, record=True)
    clear_cache()
    asked = len(hub.seen)
    assert resolve_model(ModelInput(model="acme/tiny"), lockfile=lock).source == "hub"
    assert len(hub.seen) == asked  # online, yet answered from the lockfile


@pytest.mark.parametrize("offline", ["", "1"])
def test_a_fresh_process_honours_hf_endpoint_token_and_offline(hub: FakeHub, offline: str) -> None:
    """What a CI job does: the environment alone points the client at a Hub, or forbids it."""
    hub.repos["acme/tiny"] = _tiny_repo()
    code = (
        "from checker.models.resolve import resolve_model\n"
        "from checker.schemas.inputs import ModelInput\n"
        "from checker.errors import CheckerError\n"
        "try:\n"
        "    print(resolve_model(ModelInput(model='acme/tiny')).safetensors_bytes)\n"
        "except CheckerError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": TOKEN, "HF_HUB_OFFLINE": offline}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    if offline:
        assert "Hugging Face Hub not asked (HF_HUB_OFFLINE)" in out.stdout
        assert hub.seen == []
    else:
        assert out.stdout.strip() == str(tensor_bytes(TENSORS))
        assert {s.headers.get("authorization") for s in hub.seen} == {f"Bearer {TOKEN}"}
    assert TOKEN not in out.stdout + out.stderr


def test_resolving_a_catalog_model_never_imports_huggingface_hub() -> None:
    code = (
        "import sys\n"
        "from checker.models.resolve import resolve_model\n"
        "from checker.schemas.inputs import ModelInput\n"
        "resolve_model(ModelInput(model='google/gemma-3-27b-it'), offline=True)\n"
        "print('huggingface_hub' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_hf_overrides_reach_every_source_and_key_the_cache(tmp_path: Path) -> None:
    plain = resolve_model(ModelInput(model="Qwen/Qwen3-8B"))
    longer = resolve_model(
        ModelInput(model="Qwen/Qwen3-8B", hf_overrides={"max_position_embeddings": 131072})
    )
    assert (plain.config_max_len, longer.config_max_len) == (40960, 131072)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_tiny_config()))
    local = resolve_model(
        ModelInput(model="x", config_path=str(path), hf_overrides={"num_hidden_layers": 3})
    )
    assert local.num_hidden_layers == 3


def test_a_catalog_model_is_resolved_once_whichever_profile_folder_names_it(
    tmp_path: Path,
) -> None:
    # the profile's folder is where a model directory is read from; an id does not depend on it
    first = resolve_model(ModelInput(model="Qwen/Qwen3-8B", base_dir=str(tmp_path / "a")))
    assert resolve_model(ModelInput(model="Qwen/Qwen3-8B", base_dir=str(tmp_path / "b"))) is first
