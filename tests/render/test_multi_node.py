"""A server over several nodes (issue 13 item 2): Kubernetes gets a LeaderWorkerSet running
vLLM's own multi-node launch (--nnodes, --node-rank, --master-addr, --headless) or a Ray
cluster (tests/render/test_ray_cluster.py); artifacts that run on one host, and the
production-stack chart's values, refuse and say why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from checker.errors import ArtifactError
from checker.render.artifacts import render_artifact
from checker.render.context import RenderContext
from checker.render.serve import serve_argv
from checker.schemas.outputs import PlanResponse
from tests.planning.plans import fired, plan
from tests.render.conftest import HOSTILE, make_context, make_plan
from tests.render.test_artifacts import K8S, SCHEMAS, _k8s_validator, _undollar, hostile_context

LEADER = ["--node-rank=0", "--master-addr=$(LWS_LEADER_ADDRESS)"]
WORKER = ["--node-rank=$(LWS_WORKER_INDEX)", "--master-addr=$(LWS_LEADER_ADDRESS)", "--headless"]


def _lws_validator() -> jsonschema.protocols.Validator:
    definitions = json.loads((K8S / "_definitions.json").read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(
        definitions["$id"], Resource.from_contents(definitions)
    )
    schema = json.loads((SCHEMAS / "leaderworkerset-v1.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _on_nodes(resp: PlanResponse, nodes: int) -> PlanResponse:
    feasibility = resp.feasibility.model_copy(update={"nodes": nodes})
    return resp.model_copy(update={"feasibility": feasibility})


def _two_nodes(ctx: RenderContext) -> RenderContext:
    """The context on two nodes, launched with --nnodes 2."""
    config = ctx.plan.config
    extra = {**config.extra_args, "nnodes": 2}
    plan_ = _on_nodes(ctx.plan, 2)
    plan_ = plan_.model_copy(update={"config": config.model_copy(update={"extra_args": extra})})
    return RenderContext(plan=plan_, deploy=ctx.deploy, workload=ctx.workload)


TP16 = make_plan(version="0.33", tensor_parallel_size=16)
CASES = [
    _two_nodes(make_context(TP16)),
    *(_two_nodes(hostile_context(t)) for t in HOSTILE),
]


@pytest.mark.parametrize("ctx", CASES)
def test_k8s_over_two_nodes_is_a_leaderworkerset_that_reads_back(ctx: RenderContext) -> None:
    lws, service = yaml.safe_load_all(render_artifact("k8s", ctx))
    _lws_validator().validate(lws)
    _k8s_validator("service-v1.json").validate(service)
    group = lws["spec"]["leaderWorkerTemplate"]
    assert group["size"] == 2 and group["restartPolicy"] == "RecreateGroupOnPodRestart"
    served = serve_argv(ctx)
    gpus = str(ctx.plan.feasibility.num_gpus_used // 2)
    for role, node_args in (("leaderTemplate", LEADER), ("workerTemplate", WORKER)):
        pod = group[role]["spec"]
        (container,) = pod["containers"]
        # the profile's values stay escaped ($$ -> $); the LWS variables are for Kubernetes
        args = [_undollar(a) if a not in node_args else a for a in container["args"]]
        assert container["command"] + args == served + node_args
        assert "--nnodes=2" in container["args"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == gpus
        probes = {"startupProbe", "readinessProbe", "livenessProbe"} & set(container)
        # only the leader runs the API server; the workers are --headless
        assert bool(probes) is (role == "leaderTemplate")
    leader_labels = group["leaderTemplate"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= leader_labels.items()
    assert group["workerTemplate"]["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"


def test_the_profiles_dollars_stay_literal_beside_the_lws_variables() -> None:
    ctx = _two_nodes(hostile_context("${HF_TOKEN} $(HF_TOKEN) $$"))
    lws, _ = yaml.safe_load_all(render_artifact("k8s", ctx))
    args = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["args"]
    assert "--node-rank=$(LWS_WORKER_INDEX)" in args
    assert not any("$(HF_TOKEN)" in a and "$$(HF_TOKEN)" not in a for a in args)


@pytest.mark.parametrize("kind", ["compose", "docker", "helm"])
def test_one_host_artifacts_refuse_a_multi_node_server(kind: str) -> None:
    with pytest.raises(ArtifactError, match="spans 2 nodes of 8 GPUs") as err:
        render_artifact(kind, CASES[0])
    assert "emit k8s (a LeaderWorkerSet)" in str(err.value.hint)
    assert "--node-rank N" in str(err.value.hint)


def test_serve_sh_says_how_to_start_each_node() -> None:
    text = render_artifact("command", CASES[0])
    assert "run this script on each, with --node-rank=N (0 .. 1)" in text
    assert "--node-rank" not in render_artifact("command", make_context(TP16))


def test_k8s_without_a_multi_node_launch_is_refused() -> None:
    """Neither --nnodes nor a Ray cluster: no workload can start the server over the nodes."""
    with pytest.raises(ArtifactError, match="no --nnodes 2 and no Ray backend") as err:
        render_artifact("k8s", make_context(_on_nodes(TP16, 2)))
    assert "outputs.vllm_args.nnodes: 2" in str(err.value.hint)
    assert "distributed-executor-backend: ray" in str(err.value.hint)


def test_per_node_flags_in_vllm_args_are_refused() -> None:
    ctx = _two_nodes(make_context(TP16, vllm_args={"master-addr": "10.0.0.1"}))
    with pytest.raises(ArtifactError, match="master-addr"):
        render_artifact("k8s", ctx)


def test_a_version_without_the_multi_node_launch_is_refused() -> None:
    ctx = _two_nodes(make_context(make_plan(version="0.10", tensor_parallel_size=16)))
    with pytest.raises(ArtifactError, match="vLLM 0.10 has no flag --nnodes"):
        render_artifact("k8s", ctx)


@pytest.mark.parametrize(
    ("args", "nodes", "fails"),
    [
        ({"nnodes": 2}, 2, False),
        ({"distributed_executor_backend": "ray"}, 2, False),
        ({}, 2, True),  # the mp backend on one node: vLLM's world-size error
    ],
)
def test_the_plan_counts_the_nodes_its_gpus_fill(
    args: dict[str, Any], nodes: int, fails: bool
) -> None:
    resp = plan(
        "meta-llama/Llama-3.1-8B-Instruct",
        gpus=16,
        gpus_per_node=8,
        tp=16,
        max_model_len=8192,
        version="0.33",
        **args,
    )
    assert resp.feasibility.nodes == nodes
    assert bool(fired(resp, "VW301")) is fails


def test_generate_writes_the_leaderworkerset(tmp_path: Path) -> None:
    from checker.cli import main

    profile = tmp_path / "p.yaml"
    data = {
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "max_model_len": 8192},
        "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": 16, "gpus_per_node": 8, "tp_size": 16},
        "vllm": {"version": "0.33.0"},
        "outputs": {"vllm_args": {"nnodes": 2}},
    }
    profile.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["generate", "--profile", str(profile), "-o", str(out), "--emit", "k8s"]) == 0
    lws, _ = yaml.safe_load_all((out / "k8s.yaml").read_text(encoding="utf-8"))
    _lws_validator().validate(lws)
    assert lws["spec"]["leaderWorkerTemplate"]["size"] == 2


@pytest.mark.parametrize(
    ("launch", "why"),
    [
        ({"nnodes": 2}, "the production-stack chart runs each engine in one pod"),
        ({"distributed_executor_backend": "ray"}, "the production-stack chart's raySpec"),
    ],
)
def test_generate_and_check_refuse_helm_values_for_a_multi_node_plan_alike(
    launch: dict[str, Any],
    why: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`generate --emit helm` and `check --check-artifacts` on a committed Helm values file give
    the same refusal (one code path), at the profile's line; k8s.yaml is the way."""
    from checker.cli import main

    monkeypatch.chdir(tmp_path)
    data = {
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "max_model_len": 8192},
        "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": 16, "gpus_per_node": 8, "tp_size": 16},
        "vllm": {"version": "0.33.0"},
        "outputs": {"vllm_args": launch, "artifacts": {"helm": "deploy/values.yaml"}},
    }
    Path("p.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["generate", "--profile", "p.yaml", "-o", "out", "--emit", "helm"]) == 2
    generated = capsys.readouterr().err
    assert main(["check", "p.yaml", "--check-artifacts", "--offline", "--format", "json"]) == 2
    checked = json.loads(capsys.readouterr().out)
    (problem,) = checked["errors"]
    assert problem["line"] == 10  # outputs.artifacts
    for text in (generated, f"{problem['message']} (hint: {problem['hint']})"):
        assert f"the plan spans 2 nodes of 8 GPUs: {why}" in text
        assert "emit k8s (a LeaderWorkerSet)" in text
    assert main(["generate", "--profile", "p.yaml", "-o", "out", "--emit", "k8s"]) == 0
