"""The Hub client against a local server that answers like the Hugging Face Hub."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from checker.errors import ModelConfigError, ModelNotFoundError, RemoteError
from checker.models.hub import RetryPolicy, fetch_metadata
from checker.models.hub_errors import shown_endpoint
from tests.models.conftest import FAST, TOKEN
from tests.models.fake_hub import FakeHub, Fault, Repo, safetensors_file, tensor_bytes

CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64}
TENSORS = {
    "model.embed_tokens.weight": ("BF16", [128, 64]),
    "model.layers.0.mlp.down_proj.weight": ("F8_E4M3", [64, 256]),
    "model.layers.0.mlp.down_proj.weight_scale": ("F32", [1]),
    "model.norm.weight": ("F32", [64]),
}


def _repo(**files: bytes) -> Repo:
    return Repo(files={"config.json": json.dumps(CONFIG).encode(), **files})


def test_config_commit_and_exact_tensor_bytes_from_one_ranged_request(hub: FakeHub) -> None:
    hub.repos["acme/tiny"] = _repo(**{"model.safetensors": safetensors_file(TENSORS)})
    meta = fetch_metadata("acme/tiny", policy=FAST)
    assert meta.config == CONFIG
    assert meta.revision == "main"
    assert meta.commit == hub.repos["acme/tiny"].commit
    assert meta.safetensors_bytes == tensor_bytes(TENSORS) == 128 * 64 * 2 + 64 * 256 + 4 + 64 * 4
    assert meta.endpoint == hub.url
    [config_get] = hub.requests_for("config.json")
    assert config_get.path == "/acme/tiny/resolve/main/config.json"
    assert config_get.method == "GET"
    assert config_get.headers["user-agent"].startswith("vllm-wizard/")
    [header_get] = hub.requests_for("model.safetensors")
    # pinned to the commit the config came from, and only the header's first bytes asked for
    assert header_get.path == f"/acme/tiny/resolve/{meta.commit}/model.safetensors"
    assert header_get.headers["range"] == "bytes=0-99999"


def test_a_header_longer_than_the_first_range_is_read_by_a_second_range(
    hub: FakeHub,
) -> None:
    many = {f"model.layers.{i}.self_attn.q_proj.weight": ("BF16", [4, 4]) for i in range(3000)}
    blob = safetensors_file(many)
    assert int.from_bytes(blob[:8], "little") > 100_000
    hub.repos["acme/wide"] = _repo(**{"model.safetensors": blob})
    assert fetch_metadata("acme/wide", policy=FAST).safetensors_bytes == 3000 * 32
    first, second = hub.requests_for("model.safetensors")
    assert first.headers["range"] == "bytes=0-99999"
    header_end = int.from_bytes(blob[:8], "little") + 7
    assert second.headers["range"] == f"bytes=0-{header_end}"


def test_a_server_ignoring_range_still_yields_only_the_header(hub: FakeHub) -> None:
    big = {"lm_head.weight": ("BF16", [1024, 1024])}  # 2 MiB of "weights" after the header
    hub.repos["acme/mirror"] = _repo(**{"model.safetensors": safetensors_file(big)})
    hub.ignore_range = True
    assert fetch_metadata("acme/mirror", policy=FAST).safetensors_bytes == 2 * 1024 * 1024


def test_sharded_checkpoint_sums_every_shard_listed_in_the_index(hub: FakeHub) -> None:
    shards = {
        "model-00001-of-00002.safetensors": {"a.weight": ("BF16", [256, 64])},
        "model-00002-of-00002.safetensors": {"b.weight": ("F32", [64, 64]), "c": ("U8", [7])},
    }
    weight_map = {t: name for name, tensors in shards.items() for t in tensors}
    files = {name: safetensors_file(t) for name, t in shards.items()}
    files["model.safetensors.index.json"] = json.dumps({"weight_map": weight_map}).encode()
    hub.repos["acme/sharded"] = _repo(**files)
    meta = fetch_metadata("acme/sharded", policy=FAST)
    assert meta.safetensors_bytes == sum(tensor_bytes(t) for t in shards.values())
    assert [s.method for s in hub.requests_for("model.safetensors")] == ["GET"]  # 404 first


def test_no_safetensors_means_no_exact_bytes(hub: FakeHub) -> None:
    hub.repos["acme/binonly"] = _repo(**{"pytorch_model.bin": b"\0" * 16})
    assert fetch_metadata("acme/binonly", policy=FAST).safetensors_bytes is None


def test_an_index_naming_paths_outside_the_repo_is_refused(hub: FakeHub) -> None:
    index = {"weight_map": {"w": "../../etc/passwd.safetensors"}}
    hub.repos["acme/evil"] = _repo(**{"model.safetensors.index.json": json.dumps(index).encode()})
    with pytest.raises(RemoteError, match="unexpected shard file"):
        fetch_metadata("acme/evil", policy=FAST)


def test_revision_is_sent_and_recorded(hub: FakeHub) -> None:
    hub.repos["acme/tiny"] = _repo()
    hub.repos["acme/tiny"].branches = ("main", "v2")
    meta = fetch_metadata("acme/tiny", "v2", policy=FAST)
    assert (meta.revision, meta.commit) == ("v2", hub.repos["acme/tiny"].commit)
    assert hub.seen[0].path == "/acme/tiny/resolve/v2/config.json"


def test_the_token_in_hf_token_is_sent_as_authorization(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.repos["acme/gated"] = _repo(**{"model.safetensors": safetensors_file(TENSORS)})
    hub.repos["acme/gated"].gated = True
    hub.repos["acme/gated"].allowed_token = TOKEN
    assert fetch_metadata("acme/gated", policy=FAST).safetensors_bytes == tensor_bytes(TENSORS)
    assert {s.headers.get("authorization") for s in hub.seen} == {f"Bearer {TOKEN}"}


def test_gated_without_a_token_says_to_accept_the_licence_and_set_hf_token(hub: FakeHub) -> None:
    hub.repos["acme/gated"] = _repo()
    hub.repos["acme/gated"].gated = True
    with pytest.raises(RemoteError) as caught:
        fetch_metadata("acme/gated", policy=FAST)
    assert "gated" in caught.value.message and "HTTP 401" in caught.value.message
    assert "HF_TOKEN" in (caught.value.hint or "") and "licence" in (caught.value.hint or "")
    assert len(hub.seen) == 1  # refusals are not retried


@pytest.mark.parametrize(
    ("setup", "error", "words"),
    [
        ("gated", RemoteError, "HTTP 403"),
        ("private", ModelNotFoundError, "not found"),
        ("status401", RemoteError, "HTTP 401"),
        ("status500", RemoteError, "HTTP 500"),
    ],
)
def test_a_token_is_never_in_an_error(
    hub: FakeHub,
    monkeypatch: pytest.MonkeyPatch,
    setup: str,
    error: type[Exception],
    words: str,
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.repos["acme/gated"] = _repo()
    hub.repos["acme/gated"].gated = setup == "gated"
    if setup.startswith("status"):
        hub.faults.append(Fault("config.json", status=int(setup[-3:])))
    name = "acme/private" if setup == "private" else "acme/gated"
    with pytest.raises(error) as caught:
        fetch_metadata(name, policy=FAST)
    text = f"{caught.value} {caught.value!r} {caught.value.__cause__!r}"
    assert words in str(caught.value)
    assert TOKEN not in text
    assert all(s.headers.get("authorization") == f"Bearer {TOKEN}" for s in hub.seen)


def test_missing_repo_revision_and_config(hub: FakeHub) -> None:
    hub.repos["acme/tiny"] = Repo(files={"README.md": b"hi"})
    with pytest.raises(ModelNotFoundError, match="'acme/nope' was not found"):
        fetch_metadata("acme/nope", policy=FAST)
    with pytest.raises(ModelNotFoundError, match="revision 'v9' of 'acme/tiny' was not found"):
        fetch_metadata("acme/tiny", "v9", policy=FAST)
    with pytest.raises(ModelNotFoundError, match="has no config.json") as caught:
        fetch_metadata("acme/tiny", policy=FAST)
    assert "--model-config" in (caught.value.hint or "")


def test_server_errors_are_retried_a_bounded_number_of_times(hub: FakeHub) -> None:
    hub.repos["acme/tiny"] = _repo()
    hub.faults.append(Fault("config.json", status=500))
    with pytest.raises(RemoteError, match=r"HTTP 500 .*after 3 attempts"):
        fetch_metadata("acme/tiny", policy=FAST)
    assert len(hub.requests_for("config.json")) == 3


def test_a_transient_503_then_success(hub: FakeHub) -> None:
    hub.repos["acme/tiny"] = _repo(**{"model.safetensors": safetensors_file(TENSORS)})
    hub.faults.append(Fault("config.json", status=503, times=2))
    hub.faults.append(Fault("model.safetensors", status=503, times=1))
    meta = fetch_metadata("acme/tiny", policy=FAST)
    assert meta.config == CONFIG and meta.safetensors_bytes == tensor_bytes(TENSORS)
    assert len(hub.requests_for("config.json")) == 3


def test_rate_limit_honours_retry_after_then_gives_up(hub: FakeHub) -> None:
    hub.repos["acme/tiny"] = _repo()
    hub.faults.append(Fault("config.json", status=429, headers={"Retry-After": "0"}))
    policy = RetryPolicy(attempts=2, backoff_s=30.0, timeout_s=5.0)  # Retry-After wins
    with pytest.raises(RemoteError, match="HTTP 429") as caught:
        fetch_metadata("acme/tiny", policy=policy)
    assert "HF_TOKEN" in (caught.value.hint or "")
    assert len(hub.seen) == 2


def test_a_truncated_body_is_retried_then_reported(hub: FakeHub) -> None:
    hub.repos["acme/tiny"] = _repo()
    hub.faults.append(Fault("config.json", truncate_to=10))
    with pytest.raises(RemoteError, match="closed the connection before sending all of config"):
        fetch_metadata("acme/tiny", policy=FAST)
    assert len(hub.seen) == 3


def test_a_truncated_header_once_is_recovered(hub: FakeHub) -> None:
    hub.repos["acme/tiny"] = _repo(**{"model.safetensors": safetensors_file(TENSORS)})
    hub.faults.append(Fault("model.safetensors", truncate_to=5, times=1))
    assert fetch_metadata("acme/tiny", policy=FAST).safetensors_bytes == tensor_bytes(TENSORS)


def test_a_slow_hub_times_out(hub: FakeHub) -> None:
    hub.repos["acme/tiny"] = _repo()
    hub.faults.append(Fault("config.json", delay_s=1.0))
    with pytest.raises(RemoteError, match=r"did not answer within 0.2 s \(after 2 attempts\)"):
        fetch_metadata("acme/tiny", policy=RetryPolicy(attempts=2, backoff_s=0, timeout_s=0.2))


def test_an_unreachable_hub(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(RemoteError, match=f"cannot reach the Hugging Face Hub at .*:{port}"):
        fetch_metadata("acme/tiny", policy=RetryPolicy(attempts=1))


def test_huggingface_hub_offline_mode_is_honoured(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(RemoteError, match="HF_HUB_OFFLINE"):
        fetch_metadata("acme/tiny", policy=FAST)
    assert hub.seen == []


def test_bad_config_bodies(hub: FakeHub) -> None:
    hub.repos["acme/list"] = Repo(files={"config.json": b"[1, 2]"})
    hub.repos["acme/html"] = Repo(files={"config.json": b"<html>proxy login</html>"})
    with pytest.raises(ModelConfigError, match="not a JSON object"):
        fetch_metadata("acme/list", policy=FAST)
    with pytest.raises(RemoteError, match="not valid JSON"):
        fetch_metadata("acme/html", policy=FAST)


def test_an_invalid_id_sends_nothing(hub: FakeHub) -> None:
    with pytest.raises(ModelNotFoundError, match="not a Hugging Face model id"):
        fetch_metadata("acme/bad name!", policy=FAST)
    assert hub.seen == []


def test_the_fake_hub_also_serves_huggingface_hubs_own_download_calls(
    hub: FakeHub, tmp_path: Path
) -> None:
    """The imitation holds for the library's HEAD-then-GET download and its safetensors probe."""
    from huggingface_hub import HfApi, hf_hub_download

    hub.repos["acme/tiny"] = _repo(**{"model.safetensors": safetensors_file(TENSORS)})
    path = hf_hub_download("acme/tiny", "config.json", endpoint=hub.url, cache_dir=tmp_path)
    assert json.loads(Path(str(path)).read_text()) == CONFIG
    assert hub.seen[0].method == "HEAD"
    counts = HfApi(endpoint=hub.url).get_safetensors_metadata("acme/tiny").parameter_count
    assert counts == {"BF16": 128 * 64, "F8_E4M3": 64 * 256, "F32": 1 + 64}


@pytest.mark.parametrize("bad", ["notaurl", "ftp://u:pw@x", "http://[::1", "http://u:pw@x:port"])
def test_a_malformed_hf_endpoint_is_refused_without_echoing_it(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", bad)
    with pytest.raises(RemoteError, match="HF_ENDPOINT is not an http") as caught:
        fetch_metadata("acme/tiny", policy=FAST)
    assert "pw" not in str(caught.value) and hub.seen == []


def test_shown_endpoint_drops_credentials_and_path() -> None:
    assert shown_endpoint("https://user:pa55@mirror.example:8443/hf/") == (
        "https://mirror.example:8443"
    )
