"""A server over several nodes on vLLM's Ray backend (issue 13): k8s.yaml is a LeaderWorkerSet
whose pods form a Ray cluster, as vLLM's own LWS example deploys it (the leader runs
`ray start --head` and then `vllm serve ... --distributed-executor-backend ray`, each worker
`ray start --address=$LWS_LEADER_ADDRESS:6379 --block`). The manifest is read back as
Kubernetes would run it: YAML parsed and validated, `$$` unescaped, the shell tokenized and run
against stub `ray` / `vllm` / `sleep` commands."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from checker.errors import ArtifactError
from checker.render.artifacts import RAY_PORT, render_artifact
from checker.render.context import RenderContext
from checker.render.serve import serve_argv
from checker.schemas.profile import ProfileDeploy
from tests.render.conftest import HOSTILE, make_context, make_plan
from tests.render.test_artifacts import _k8s_validator, _undollar, hostile_context
from tests.render.test_multi_node import _lws_validator, _on_nodes

RAY = {"distributed-executor-backend": "ray"}


def _ray(ctx: RenderContext, nodes: int = 2) -> RenderContext:
    """The context on ``nodes`` nodes with the Ray backend (the plan counts the nodes from
    hardware.gpus_per_node: tests/render/test_multi_node.py)."""
    config = ctx.plan.config
    plan_ = _on_nodes(ctx.plan, nodes)
    extra = {**config.extra_args, **RAY}
    plan_ = plan_.model_copy(update={"config": config.model_copy(update={"extra_args": extra})})
    return RenderContext(plan=plan_, deploy=ctx.deploy, workload=ctx.workload)


CASES = [
    _ray(make_context(make_plan(version="0.33", tensor_parallel_size=16))),
    _ray(make_context(make_plan(version="0.33", tensor_parallel_size=8, pipeline_parallel_size=2))),
    _ray(make_context(make_plan(version="0.19", tensor_parallel_size=4)), nodes=4),
    *(_ray(hostile_context(t)) for t in HOSTILE),
]


def _group(ctx: RenderContext) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The leader and worker containers of the rendered LeaderWorkerSet, and its Service."""
    lws, service = yaml.safe_load_all(render_artifact("k8s", ctx))
    _lws_validator().validate(lws)
    _k8s_validator("service-v1.json").validate(service)
    group = lws["spec"]["leaderWorkerTemplate"]
    assert group["size"] == ctx.plan.feasibility.nodes
    (leader,) = group["leaderTemplate"]["spec"]["containers"]
    (worker,) = group["workerTemplate"]["spec"]["containers"]
    return leader, worker, service


def _run(container: dict[str, Any]) -> list[str]:
    """The argv the container runs, as Kubernetes passes it ($$ -> $)."""
    return [_undollar(a) for a in container["command"] + container.get("args", [])]


def _words(script: str) -> list[str]:
    return list(shlex.shlex(script, posix=True, punctuation_chars=True))


@pytest.mark.parametrize("ctx", CASES)
def test_the_ray_cluster_is_a_leaderworkerset_that_reads_back(ctx: RenderContext) -> None:
    leader, worker, service = _group(ctx)
    gpus = ctx.gpus
    for container in (leader, worker):
        assert container["resources"]["limits"]["nvidia.com/gpu"] == str(gpus)
    # the leader: the Ray head, then exactly the serve command the plan was made for
    sh, dash_c, script, name, *argv = _run(leader)
    assert (sh, dash_c, name) == ("/bin/sh", "-c", "sh")
    head = ["ray", "start", "--head", f"--port={RAY_PORT}", f"--num-gpus={gpus}"]
    assert _words(script) == [*head, "&&", "exec", "$@"]
    assert argv == serve_argv(ctx)
    assert "--distributed-executor-backend=ray" in argv
    assert not any(a.startswith(("--nnodes", "--node-rank", "--headless")) for a in argv)
    # a worker joins the head with the same GPU count and serves nothing
    sh, dash_c, script = _run(worker)
    joined = f"--address=$LWS_LEADER_ADDRESS:{RAY_PORT}"
    words = _words(script)
    retried = words[words.index("until") + 1 : words.index("do") - 1]
    assert retried == ["ray", "start", joined, f"--num-gpus={gpus}", "--block"]
    assert "vllm" not in words
    # probes and the Service only on the leader, the one pod with an API server
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(leader)
    assert not {"startupProbe", "readinessProbe", "livenessProbe", "ports"} & set(worker)
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "leader"


def _stubs(tmp_path: Path, ray_fails: int) -> Path:
    """`ray` (fails its first ``ray_fails`` calls, logs every argv), `sleep` (returns at once),
    `vllm` (prints its argv as JSON)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "ray": f"""import json, os, sys
log = os.path.join({str(tmp_path)!r}, "ray.log")
with open(log, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
sys.exit(1 if sum(1 for _ in open(log)) <= {ray_fails} else 0)
""",
        "sleep": "",
        "vllm": "import json, sys\nprint(json.dumps(sys.argv[1:]))\n",
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/usr/bin/env python3\n{body}", encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def _execute(argv: list[str], tmp_path: Path, ray_fails: int = 0) -> tuple[int, str, list[Any]]:
    bin_dir = _stubs(tmp_path, ray_fails)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "LWS_LEADER_ADDRESS": "vllm-0.vllm.default",
    }
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    log = tmp_path / "ray.log"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done.returncode, done.stdout, calls


@pytest.mark.parametrize("ctx", [CASES[0], *CASES[-len(HOSTILE) :]])
def test_the_leader_starts_the_head_then_serves_the_plans_command(
    ctx: RenderContext, tmp_path: Path
) -> None:
    leader, _, _ = _group(ctx)
    code, out, calls = _execute(_run(leader), tmp_path)
    assert code == 0
    assert calls == [["start", "--head", f"--port={RAY_PORT}", f"--num-gpus={ctx.gpus}"]]
    assert json.loads(out) == serve_argv(ctx)[1:]
    assert not list(tmp_path.glob("PWNED*"))  # the profile's text ran nowhere


def test_a_worker_retries_until_the_head_is_up(tmp_path: Path) -> None:
    _, worker, _ = _group(CASES[0])
    code, _, calls = _execute(_run(worker), tmp_path, ray_fails=3)
    assert code == 0 and len(calls) == 4
    joined = f"--address=vllm-0.vllm.default:{RAY_PORT}"
    assert calls[-1] == ["start", joined, "--num-gpus=8", "--block"]


def test_a_worker_gives_up_after_the_start_up_budget(tmp_path: Path) -> None:
    """A head that never comes up fails the pod (and LWS recreates the group), after the
    start-up budget the leader's startupProbe allows, 5 s between tries."""
    ctx = CASES[0]
    _, worker, _ = _group(ctx)
    code, _, calls = _execute(_run(worker), tmp_path, ray_fails=10_000)
    assert code == 1 and len(calls) == -(-ctx.startup_seconds // 5)


def test_the_api_port_cannot_be_the_ray_heads() -> None:
    plan_ = make_plan(version="0.33", tensor_parallel_size=16)
    ctx = _ray(make_context(plan_, deploy=ProfileDeploy(port=RAY_PORT)))
    with pytest.raises(ArtifactError, match="6379 is the Ray head's port"):
        render_artifact("k8s", ctx)


def test_data_parallel_over_a_ray_cluster_is_refused() -> None:
    plan_ = make_plan(version="0.33", tensor_parallel_size=8)
    dp2 = {"data_parallel_size": 2, "num_gpus_used": 16}
    feasibility = plan_.feasibility.model_copy(update=dp2)
    ctx = _ray(make_context(plan_.model_copy(update={"feasibility": feasibility})))
    with pytest.raises(ArtifactError, match="data parallel 2 on the Ray backend") as err:
        render_artifact("k8s", ctx)
    assert "nnodes: 2" in str(err.value.hint)


def test_per_node_flags_are_refused_on_the_ray_backend_too() -> None:
    ctx = _ray(make_context(make_plan(version="0.33", tensor_parallel_size=16)))
    extra = {**ctx.plan.config.extra_args, "headless": True}
    config = ctx.plan.config.model_copy(update={"extra_args": extra})
    ctx = RenderContext(plan=ctx.plan.model_copy(update={"config": config}))
    with pytest.raises(ArtifactError, match="--headless differs per node"):
        render_artifact("k8s", ctx)


@pytest.mark.parametrize("kind", ["compose", "docker", "helm"])
def test_other_artifacts_say_how_to_start_the_ray_cluster(kind: str) -> None:
    with pytest.raises(ArtifactError, match="spans 2 nodes of 8 GPUs") as err:
        render_artifact(kind, CASES[0])
    assert f"ray start --head --port={RAY_PORT}" in str(err.value.hint)
    assert "emit k8s (a LeaderWorkerSet)" in str(err.value.hint)
    if kind == "helm":
        assert "raySpec" in str(err.value)


def test_serve_sh_is_run_on_the_head_of_the_ray_cluster() -> None:
    text = render_artifact("command", CASES[0])
    assert "then run this\n# script here only" in text
    assert "--node-rank" not in text


def test_one_node_on_the_ray_backend_stays_a_deployment() -> None:
    ctx = make_context(make_plan(version="0.33", tensor_parallel_size=8), vllm_args=RAY)
    deployment, _ = yaml.safe_load_all(render_artifact("k8s", ctx))
    assert deployment["kind"] == "Deployment"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["vllm", "serve"]


def test_generate_writes_the_ray_leaderworkerset(tmp_path: Path) -> None:
    """From a profile: the plan's node count and GPUs per node are what the manifest runs."""
    from checker.cli import main

    profile = tmp_path / "p.yaml"
    data = {
        "model": {"id": "meta-llama/Llama-3.1-70B-Instruct", "max_model_len": 8192},
        "hardware": {
            "gpu_name": "H100-SXM-80GB",
            "gpus": 16,
            "gpus_per_node": 8,
            "tp_size": 8,
            "pp_size": 2,
        },
        "vllm": {"version": "0.33.0"},
        "outputs": {"vllm_args": {"distributed_executor_backend": "ray"}},
        "deploy": ProfileDeploy(cache_pvc="weights").model_dump(exclude_defaults=True),
    }
    profile.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["generate", "--profile", str(profile), "-o", str(out), "--emit", "k8s"]) == 0
    lws, _ = yaml.safe_load_all((out / "k8s.yaml").read_text(encoding="utf-8"))
    _lws_validator().validate(lws)
    group = lws["spec"]["leaderWorkerTemplate"]
    assert group["size"] == 2
    leader = group["leaderTemplate"]["spec"]["containers"][0]
    assert leader["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert "--num-gpus=8" in _words(_undollar(leader["command"][2]))
    assert {"--tensor-parallel-size=8", "--pipeline-parallel-size=2"} <= set(leader["args"])
