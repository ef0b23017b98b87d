from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from checker.errors import ArtifactError
from checker.render.artifacts import render_artifact
from checker.render.bench import bench_argv
from checker.render.context import HEADER_MARK, RenderContext
from checker.render.serve import serve_argv
from checker.schemas.inputs import WorkloadInput
from checker.schemas.profile import ProfileDeploy
from checker.schemas.vllm_flags import flags_for
from tests.render.conftest import HOSTILE, make_context, make_plan, run_script

SCHEMAS = Path(__file__).parent / "schemas"
K8S = SCHEMAS / "kubernetes-v1.34.0-local-strict"


def _k8s_validator(name: str) -> jsonschema.protocols.Validator:
    definitions = json.loads((K8S / "_definitions.json").read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(
        definitions["$id"], Resource.from_contents(definitions)
    )
    schema = json.loads((K8S / name).read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _compose_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text(encoding="utf-8"))
    # its "$schema" (draft/2019-09/schema#) has a '#' jsonschema does not look up
    return jsonschema.Draft201909Validator(schema)


def _undollar(value: str) -> str:
    """What Compose interpolation and Kubernetes $(VAR) expansion make of an escaped value."""
    return value.replace("$$", "$")


def hostile_context(text: str) -> RenderContext:
    model = "org/" + text if text.startswith("-") else text
    return make_context(
        make_plan(model=model, revision=text, tensor_parallel_size=2, pipeline_parallel_size=2),
        # a cache path with ':' or a newline is refused (test below); the rest must survive
        deploy=ProfileDeploy(
            cache_dir="/cache/" + text.replace("\n", " ").replace(":", ";"),
            image="reg.example/" + text.translate(str.maketrans("@/:", "a_;")) + ":v1",
        ),
        vllm_args={"served_model_name": text.replace("-", "_", 1)},
    )


# A plan that sized KV with settings vLLM must get too (flags and an environment variable).
ENGINE_PLAN = make_plan(
    version="0.33",
    kv_cache_memory_bytes=4 << 30,
    disable_hybrid_kv_cache_manager=True,
    cudagraph_memory_profiling=False,
    allow_long_max_model_len=True,
    tokenizer="org/tok",
)
CASES = [make_context(), make_context(ENGINE_PLAN), *(hostile_context(t) for t in HOSTILE)]


@pytest.mark.parametrize("ctx", CASES)
def test_compose_is_valid_and_reads_back(ctx: RenderContext) -> None:
    text = render_artifact("compose", ctx)
    data = yaml.safe_load(text)
    _compose_validator().validate(data)
    assert "version" not in data
    (service,) = data["services"].values()
    assert _undollar(service["image"]) == ctx.image
    assert service["entrypoint"] == ["vllm"]
    assert [_undollar(a) for a in service["command"]] == serve_argv(ctx)[1:]
    assert service["ipc"] == "host"
    assert service["environment"][0] == "HF_TOKEN"  # by name only; the engine's variables follow
    assert _undollar(service["volumes"][0]["target"]) == ctx.cache_dir
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["count"] == ctx.gpus and device["capabilities"] == ["gpu"]
    assert "/health" in service["healthcheck"]["test"][-1]
    assert service["restart"] == "unless-stopped"


@pytest.mark.parametrize("ctx", CASES)
def test_k8s_is_valid_and_reads_back(ctx: RenderContext) -> None:
    deployment, service = yaml.safe_load_all(render_artifact("k8s", ctx))
    _k8s_validator("deployment-apps-v1.json").validate(deployment)
    _k8s_validator("service-v1.json").validate(service)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == ctx.image
    assert container["command"] + [_undollar(a) for a in container["args"]] == serve_argv(ctx)
    gpus = str(ctx.plan.config.tensor_parallel_size * ctx.plan.config.pipeline_parallel_size)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == gpus
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    token = next(e for e in container["env"] if e["name"] == "HF_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["name"] == ctx.deploy.hf_token_secret
    shm = next(v for v in pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["medium"] == "Memory"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"shm": "/dev/shm", "hf-cache": ctx.cache_dir}
    assert service["spec"]["ports"][0]["port"] == ctx.deploy.port


def test_k8s_tolerates_the_gpu_taint_and_warns_of_the_emptydir_by_default() -> None:
    text = render_artifact("k8s", make_context())
    deployment = next(yaml.safe_load_all(text))
    pod = deployment["spec"]["template"]["spec"]
    assert pod["tolerations"] == [
        {"operator": "Exists", "key": "nvidia.com/gpu", "effect": "NoSchedule"}
    ]
    assert "nodeSelector" not in pod and "deploy.node_selector" in text
    cache = next(v for v in pod["volumes"] if v["name"] == "hf-cache")
    assert cache == {"name": "hf-cache", "emptyDir": {}}
    assert "every restart downloads" in text and "deploy.cache_pvc" in text


def test_k8s_node_selector_tolerations_and_cache_pvc_from_the_profile() -> None:
    deploy = ProfileDeploy.model_validate(
        {
            "cache_pvc": "hf-models",
            "node_selector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoExecute"},
                {"operator": "Exists", "effect": ""},
            ],
        }
    )
    deployment = next(yaml.safe_load_all(render_artifact("k8s", make_context(deploy=deploy))))
    _k8s_validator("deployment-apps-v1.json").validate(deployment)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert pod["tolerations"] == [
        {"operator": "Equal", "key": "dedicated", "value": "llm", "effect": "NoExecute"},
        {"operator": "Exists"},
    ]
    cache = next(v for v in pod["volumes"] if v["name"] == "hf-cache")
    assert cache == {"name": "hf-cache", "persistentVolumeClaim": {"claimName": "hf-models"}}
    none = ProfileDeploy.model_validate({"tolerations": []})
    pod = next(yaml.safe_load_all(render_artifact("k8s", make_context(deploy=none))))
    assert "tolerations" not in pod["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    "deploy",
    [
        {"node_selector": {"bad key": "x"}},
        {"node_selector": {"nvidia.com/gpu.product": "has space"}},
        {"node_selector": {"nvidia.com/gpu.product": 1}},
        {"tolerations": [{"key": "a", "operator": "Exists", "value": "v"}]},
        {"tolerations": [{"operator": "Equal", "value": "v"}]},
        {"tolerations": [{"key": "a", "effect": "Never"}]},
        {"cache_pvc": "Not_A_Name"},
    ],
)
def test_bad_kubernetes_deploy_settings_are_refused(deploy: dict[str, Any]) -> None:
    from checker.schemas.section import ValidationError

    with pytest.raises(ValidationError):
        ProfileDeploy.model_validate(deploy)


def test_pods_ask_for_the_host_memory_the_offloaded_kv_takes() -> None:
    """--kv-offloading-size pins host memory in the server process: a pod sized for loading
    alone would be OOM-killed once the offloaded KV fills."""
    plain = make_plan()
    offload = plain.model_copy(
        update={"feasibility": plain.feasibility.model_copy(update={"kv_offload_host_gib": 40.0})}
    )
    sizes = []
    for p in (plain, offload):
        deployment, _ = yaml.safe_load_all(render_artifact("k8s", make_context(p)))
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        sizes.append(int(container["resources"]["requests"]["memory"].removesuffix("Gi")))
    assert sizes[1] == sizes[0] + 40


def test_startup_probe_grows_with_model_size() -> None:
    def threshold(weights_tp: int) -> int:
        ctx = make_context(make_plan(tensor_parallel_size=weights_tp))
        deployment = next(yaml.safe_load_all(render_artifact("k8s", ctx)))
        probe = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
        return int(probe["failureThreshold"] * probe["periodSeconds"])

    small = threshold(1)
    big_plan = make_plan()
    memory = big_plan.feasibility.memory.model_copy(update={"weights_gib": 140.0})
    feasibility = big_plan.feasibility.model_copy(update={"memory": memory})
    ctx = make_context(big_plan.model_copy(update={"feasibility": feasibility}))
    deployment = next(yaml.safe_load_all(render_artifact("k8s", ctx)))
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    assert probe["failureThreshold"] * probe["periodSeconds"] > small + 2000


# The part of the production-stack chart's values.schema.json (helm/values.schema.json) that we
# fill, written down here with its types; additionalProperties false catches a misspelt key.
_STR, _INT = {"type": "string"}, {"type": "integer"}
HELM_MODEL_SPEC = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "repository", "tag", "modelURL", "replicaCount", "requestGPU"],
    "properties": {
        "name": _STR,
        "repository": _STR,
        "tag": _STR,
        "modelURL": _STR,
        "replicaCount": _INT,
        "requestCPU": _INT,
        "requestMemory": _STR,
        "requestGPU": {"type": ["integer", "number", "string"]},
        "pvcStorage": _STR,
        "shmSize": _STR,
        "env": {  # modelSpec.env: "The environment variables to set in the container"
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "value"],
                "properties": {"name": _STR, "value": _STR},
            },
        },
        "hf_token": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"secretName": _STR, "secretKey": _STR},
        },
        "vllmConfig": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "tensorParallelSize": _INT,
                "maxModelLen": _INT,
                "maxNumSeqs": _INT,
                "gpuMemoryUtilization": {"type": ["integer", "number", "string"]},
                "dtype": _STR,
                "enablePrefixCaching": {"type": "boolean"},
                "enableChunkedPrefill": {"type": "boolean"},
                "extraArgs": {"type": "array", "items": _STR},
            },
        },
    },
}


def _chart_argv(spec: dict[str, Any]) -> list[str]:
    """The `vllm serve` flags the production-stack chart builds from a modelSpec, as --k=v."""
    cfg = spec["vllmConfig"]
    argv = []
    if "enableChunkedPrefill" in cfg:
        argv.append(("--" if cfg["enableChunkedPrefill"] else "--no-") + "enable-chunked-prefill")
    argv.append(("--" if cfg.get("enablePrefixCaching") else "--no-") + "enable-prefix-caching")
    pairs = {
        "maxModelLen": "--max-model-len",
        "dtype": "--dtype",
        "tensorParallelSize": "--tensor-parallel-size",
        "maxNumSeqs": "--max-num-seqs",
        "gpuMemoryUtilization": "--gpu-memory-utilization",
    }
    argv += [f"{flag}={cfg[key]}" for key, flag in pairs.items() if key in cfg]
    return argv + [_undollar(a) for a in cfg["extraArgs"]]


@pytest.mark.parametrize("ctx", CASES)
def test_helm_values_follow_the_chart(ctx: RenderContext) -> None:
    data = yaml.safe_load(render_artifact("helm", ctx))
    assert list(data) == ["servingEngineSpec"] and list(data["servingEngineSpec"]) == ["modelSpec"]
    (spec,) = data["servingEngineSpec"]["modelSpec"]
    jsonschema.Draft202012Validator(HELM_MODEL_SPEC).validate(spec)
    assert f"{spec['repository']}:{spec['tag']}" == ctx.image
    assert _undollar(spec["modelURL"]) == ctx.plan.config.model
    assert spec["requestGPU"] == ctx.gpus
    assert spec["hf_token"] == {"secretName": ctx.deploy.hf_token_secret, "secretKey": "token"}
    assert all(isinstance(a, str) for a in spec["vllmConfig"]["extraArgs"])
    ours = [a for a in serve_argv(ctx)[3:] if not a.startswith("--port=")]
    prefix = "--enable-prefix-caching"  # the chart always writes it; unset means vLLM's default
    assert sorted(_chart_argv(spec)) == sorted([*ours, prefix])


def test_helm_keeps_a_flag_the_chart_would_misspell() -> None:
    ctx = make_context(make_plan(version="0.6", enable_chunked_prefill=False))
    spec = yaml.safe_load(render_artifact("helm", ctx))["servingEngineSpec"]["modelSpec"][0]
    assert "enableChunkedPrefill" not in spec["vllmConfig"]
    assert "--enable-chunked-prefill=false" in spec["vllmConfig"]["extraArgs"]
    assert spec["vllmConfig"]["enablePrefixCaching"] is False  # V0 default


def test_helm_needs_a_tagged_image() -> None:
    ctx = make_context(deploy=ProfileDeploy(image="reg.example/vllm@sha256:" + "0" * 64))
    with pytest.raises(ArtifactError, match="REPOSITORY:TAG"):
        render_artifact("helm", ctx)


@pytest.mark.parametrize("ctx", CASES)
def test_docker_run_reads_back(ctx: RenderContext, tmp_path: Path, stub_bin: Path) -> None:
    script = tmp_path / "docker-run.sh"
    script.write_text(render_artifact("docker", ctx), encoding="utf-8")
    argv = run_script(script, stub_bin, tmp_path, HOME="/home/u", HF_TOKEN="s3cret")
    image_at = argv.index(ctx.image)
    assert argv[image_at + 1 :] == serve_argv(ctx)[1:]
    assert argv[image_at - 2 : image_at] == ["--entrypoint", "vllm"]
    assert argv[argv.index("--gpus") + 1] == str(ctx.gpus)
    assert "--ipc=host" in argv and argv[argv.index("--env") :][:2] == ["--env", "HF_TOKEN"]
    assert f"/home/u/.cache/huggingface:{ctx.cache_dir}" in argv
    assert "s3cret" not in script.read_text(encoding="utf-8")
    assert not list(tmp_path.glob("PWNED*"))


def test_image_is_pinned_never_latest() -> None:
    for version, tag in (("0.19", "v0.19.0"), ("0.6.6", "v0.6.6")):
        ctx = make_context(make_plan(version=version))
        assert ctx.image == f"vllm/vllm-openai:{tag}"
        assert "latest" not in render_artifact("compose", ctx)
    custom = make_context(deploy=ProfileDeploy(image="reg.example/vllm:mine"))
    assert "reg.example/vllm:mine" in render_artifact("k8s", custom)


@pytest.mark.parametrize("text", HOSTILE)
def test_bench_script_measures_the_workload(text: str, tmp_path: Path, stub_bin: Path) -> None:
    ctx = hostile_context(text)
    script = tmp_path / "bench.sh"
    script.write_text(render_artifact("bench", ctx), encoding="utf-8")
    argv = run_script(script, stub_bin, tmp_path)
    assert argv[:2] == ["bench", "serve"]
    assert argv[2] == f"--base-url=http://localhost:{ctx.deploy.port}"
    assert f"--model={ctx.plan.config.model}" in argv
    w = ctx.workload
    for flag in (
        "--dataset-name=random",
        f"--random-input-len={w.prompt_tokens}",
        f"--random-output-len={w.gen_tokens}",
        f"--max-concurrency={w.concurrency}",
    ):
        assert flag in argv
    bench_flags = flags_for("0.19").bench_serve
    assert bench_flags is not None
    assert all(a.split("=", 1)[0] in bench_flags for a in argv[2:])
    assert (
        run_script(script, stub_bin, tmp_path, BASE_URL="http://h:1")[2] == "--base-url=http://h:1"
    )


def test_bench_sends_poisson_arrivals_at_the_workload_rate() -> None:
    argv = bench_argv(make_context(workload=WorkloadInput(request_rate=2.5, num_prompts=300)))
    assert "--request-rate=2.5" in argv and "--num-prompts=300" in argv
    assert not any(a.startswith("--max-concurrency") for a in argv)
    shared = bench_argv(
        make_context(workload=WorkloadInput(prompt_tokens=1000, shared_prefix_tokens=800))
    )
    assert "--random-prefix-len=800" in shared and "--random-input-len=200" in shared
    assert not any(a.startswith("--random-range-ratio") for a in shared)


def test_bench_spreads_request_lengths_as_the_plan_does() -> None:
    argv = bench_argv(make_context(workload=WorkloadInput(random_range_ratio=0.25)))
    assert "--random-range-ratio=0.25" in argv


def test_bench_falls_back_to_a_client_that_has_the_flags() -> None:
    text = render_artifact("bench", make_context(make_plan(version="0.6")))
    assert "vLLM 0.8.5.post1 (vLLM 0.6 has no such client)" in text


@pytest.mark.parametrize("kind", ["command", "docker", "compose", "k8s", "helm", "bench", "report"])
def test_header_names_the_profile_and_output_is_deterministic(kind: str, tmp_path: Path) -> None:
    profile = tmp_path / "profiles" / "serving.yaml"
    ctx = make_context(source=profile)
    out = tmp_path / "deploy"
    text = render_artifact(kind, ctx, out)
    head = "\n".join(text.splitlines()[:2])
    assert HEADER_MARK in head and "../profiles/serving.yaml" in head
    assert text == render_artifact(kind, make_context(source=profile), out)


def test_hostile_profile_path_stays_in_the_comment(tmp_path: Path) -> None:
    ctx = make_context(source=tmp_path / "a\nrm -rf x" / "p.yaml")
    text = render_artifact("command", ctx, tmp_path)
    assert text.splitlines()[1].startswith("# ") and "rm -rf x" in text.splitlines()[1]


@pytest.mark.parametrize("path", ["cache", "/a:/b", "/a\nb"])
def test_unusable_cache_dir_is_refused(path: str) -> None:
    with pytest.raises(ArtifactError, match="deploy.cache_dir"):
        render_artifact("compose", make_context(deploy=ProfileDeploy(cache_dir=path)))


_ENGINE_FLAGS = ["--kv-cache-memory-bytes=4294967296", "--disable-hybrid-kv-cache-manager"]
_ENV = {"VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS": "0", "VLLM_ALLOW_LONG_MAX_MODEL_LEN": "1"}


def _env_of(kind: str, text: str) -> dict[str, str]:
    """The environment an artifact gives the server process (HF_* left out)."""
    if kind == "command":
        lines = [ln[len("export ") :] for ln in text.splitlines() if ln.startswith("export ")]
        return {name: value for name, _, value in (ln.partition("=") for ln in lines)}
    if kind == "docker":
        words = shlex.split(text.replace(" \\\n", " "), comments=True)
        found = [words[i + 1] for i, w in enumerate(words) if w == "--env" and "=" in words[i + 1]]
        return dict(w.split("=", 1) for w in found)
    data = next(yaml.safe_load_all(text))  # k8s: the Deployment comes first
    if kind == "compose":
        items = next(iter(data["services"].values()))["environment"]
        return dict(i.split("=", 1) for i in items if "=" in i)
    if kind == "k8s":
        env = data["spec"]["template"]["spec"]["containers"][0]["env"]
    else:  # helm
        env = data["servingEngineSpec"]["modelSpec"][0].get("env", [])
    return {e["name"]: e["value"] for e in env if "value" in e and e["name"] != "HF_HOME"}


@pytest.mark.parametrize("kind", ["command", "docker", "compose", "k8s", "helm"])
def test_every_artifact_runs_the_engine_the_plan_sized(kind: str) -> None:
    """Issue 12: kv_cache_memory_bytes, disable_hybrid_kv_cache_manager, graph profiling off and
    VLLM_ALLOW_LONG_MAX_MODEL_LEN change the plan, so every artifact that runs the server
    carries them."""
    text = render_artifact(kind, make_context(ENGINE_PLAN))
    assert all(flag in text for flag in _ENGINE_FLAGS)
    assert "--tokenizer=org/tok" in text
    assert _env_of(kind, text) == _ENV
    assert _env_of(kind, render_artifact(kind, make_context())) == {}  # the default: no variable
