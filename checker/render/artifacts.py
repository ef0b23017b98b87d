"""Render each artifact kind from a RenderContext with the jinja2 templates in templates/."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from checker.errors import ArtifactError
from checker.render import escape
from checker.render.bench import bench_argv, bench_client
from checker.render.context import RenderContext
from checker.render.report import placement
from checker.render.serve import (
    engine_argv,
    model_arg,
    passthrough_value,
    serve_argv,
    server_env,
)
from checker.schemas.vllm_flags import flags_for

# kind -> (file name written by `generate`, comment syntax of the header)
FILES: dict[str, tuple[str, str]] = {
    "command": ("serve.sh", "#"),
    "docker": ("docker-run.sh", "#"),
    "compose": ("docker-compose.yaml", "#"),
    "k8s": ("k8s.yaml", "#"),
    "helm": ("helm-values.yaml", "#"),
    "report": ("report.md", "<!--"),
    "bench": ("bench.sh", "#"),
    "profile": ("profile.yaml", "#"),
}
EXECUTABLE = {"command", "docker", "bench"}
# flags vLLM's multi-node launch takes per node (set by the LeaderWorkerSet on each pod)
_PER_NODE = ("--node-rank", "--master-addr", "--headless")
# Flags the production-stack chart writes itself from vllmConfig (or its own port).
_CHART_FLAGS = {
    "--tensor-parallel-size",
    "--max-model-len",
    "--max-num-seqs",
    "--gpu-memory-utilization",
    "--dtype",
    "--enable-prefix-caching",
    "--no-enable-prefix-caching",
    "--port",
}


def _shlines(argv: list[str]) -> str:
    """One option (with its value) per line; the leading words share the first line."""
    lines: list[list[str]] = []
    opened_by_option = False  # the last line's first word: kept, not rescanned (linear time)
    for arg in argv:
        option = arg.startswith("-")
        if lines and not option:
            last = lines[-1]
            takes_value = opened_by_option and len(last) == 1 and "=" not in last[0]
            if not opened_by_option or takes_value:  # a leading word, or the option's value
                last.append(arg)
                continue
        lines.append([arg])
        opened_by_option = option
    return " \\\n  ".join(" ".join(escape.sh(a) for a in line) for line in lines)


@functools.cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("checker.render", "templates"),
        autoescape=False,  # each value goes through the filter of its sink instead
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        sh=escape.sh,
        shlines=_shlines,
        yaml_str=escape.yaml_str,
        yaml_value=escape.yaml_value,
        dollar=escape.dollar,
        oneline=lambda v: " ".join(escape.terminal(v).split()),
    )
    return env


def _summary(ctx: RenderContext) -> str:
    f = ctx.plan.feasibility
    return (
        f"vLLM {ctx.plan.config.vllm_version}, {ctx.plan.config.model}: {f.verdict.value} on "
        f"{placement(ctx.plan)}"
    )


def _sizes(ctx: RenderContext) -> dict[str, int]:
    """Derived pod sizes: CPU, host memory for loading (and the KV offloaded to it), /dev/shm
    for NCCL, cache storage."""
    weights = math.ceil(ctx.weights_total_gib)
    return {
        "cpu": 2 + 2 * ctx.gpus,
        "memory": max(16, weights + 8) + ctx.offload_host_gib,
        "shm": max(2, 4 * ctx.gpus),
        "storage": math.ceil(weights * 1.2) + 10,
        "weights": weights,
    }


def _common(ctx: RenderContext, header: str) -> dict[str, Any]:
    return {
        "header": header,
        "summary": _summary(ctx),
        "image": ctx.image,
        "port": ctx.deploy.port,
        "gpus": ctx.gpus,
        "startup": ctx.startup_seconds,
        "cache_dir": ctx.cache_dir,
        "name": ctx.deploy.name,
        "namespace": ctx.deploy.namespace,
        "replicas": ctx.deploy.replicas,
        "secret": ctx.deploy.hf_token_secret,
        "config": ctx.plan.config,
        "workload": ctx.workload,
        "env": server_env(ctx),
        **_sizes(ctx),
    }


def _command(ctx: RenderContext, v: dict[str, Any]) -> dict[str, Any]:
    nodes = ctx.plan.feasibility.nodes
    ray = nodes > 1 and uses_ray(ctx)
    return {"argv": serve_argv(ctx), "nodes": nodes, "ray": ray, "ray_port": RAY_PORT}


def _docker(ctx: RenderContext, v: dict[str, Any]) -> dict[str, Any]:
    docker = ["docker", "run", "--detach", "--name", ctx.deploy.name]
    docker += ["--gpus", str(ctx.gpus), "--ipc=host", "--publish", f"{v['port']}:{v['port']}"]
    docker += ["--env", "HF_TOKEN"]
    for name, value in v["env"].items():
        docker += ["--env", f"{name}={value}"]
    docker += ["--restart", "unless-stopped"]
    docker += ["--health-cmd", f"curl -fsS http://localhost:{v['port']}/health"]
    docker += ["--health-interval", "30s", "--health-timeout", "5s", "--health-retries", "3"]
    docker += ["--health-start-period", f"{v['startup']}s"]
    return {"docker": docker, "command": serve_argv(ctx)[1:]}


def _compose(ctx: RenderContext, v: dict[str, Any]) -> dict[str, Any]:
    return {"command": serve_argv(ctx)[1:]}


def _refuse_per_node_flags(ctx: RenderContext) -> None:
    """The per-node flags differ between the pods of one group: the LeaderWorkerSet sets them."""
    for flag in _PER_NODE:
        if flag[2:] in ctx.vllm_args:
            raise ArtifactError(
                f"outputs.vllm_args.{flag[2:]}: {flag} differs per node; the LeaderWorkerSet "
                "sets it on each pod",
                hint=f"remove {flag[2:]} from outputs.vllm_args",
                key=f"outputs.vllm_args.{flag[2:]}",
            )


def _node_args(ctx: RenderContext) -> tuple[list[str], list[str]]:
    """The flags vLLM's multi-node launch takes per node, for the leader and the worker pods
    of a LeaderWorkerSet: the node's rank, node 0's address, and --headless (no API server)
    on the others (config/parallel.py ParallelConfig node_rank / master_addr,
    entrypoints/cli/serve.py run_headless). The LWS controller sets LWS_WORKER_INDEX (0 on
    the leader) and LWS_LEADER_ADDRESS in every container; Kubernetes expands $(VAR) in args."""
    flags = flags_for(ctx.plan.config.vllm_version)
    for flag in _PER_NODE:
        flags.require(flag, "outputs.vllm_args.nnodes")
    _refuse_per_node_flags(ctx)
    address = "--master-addr=$(LWS_LEADER_ADDRESS)"
    return ["--node-rank=0", address], ["--node-rank=$(LWS_WORKER_INDEX)", address, "--headless"]


# Ray's head port (ray start's default GCS port), as vLLM's own LeaderWorkerSet example uses it
# (docs/deployment/frameworks/lws.md, examples/ray_serving/multi-node-serving.sh).
RAY_PORT = 6379
_RAY_RETRY_S = 5


def ray_scripts(ctx: RenderContext) -> tuple[str, str]:
    """The shell each pod of a Ray LeaderWorkerSet runs, as in vLLM's multi-node-serving.sh:
    the leader starts the Ray head and then execs ``vllm serve`` (its arguments, "$@"); each
    worker joins the head at LWS_LEADER_ADDRESS, retrying until the leader is up, for the
    start-up budget. Every pod offers Ray exactly the GPUs it requests. vLLM itself waits for
    the placement group of all the world's GPUs (v1/executor/ray_utils.py
    initialize_ray_cluster, _wait_until_pg_ready), so the leader does not poll the workers.
    No profile text is in either script: the serve arguments travel as separate words."""
    gpus = f"--num-gpus={ctx.gpus}"
    leader = f'ray start --head --port={RAY_PORT} {gpus} && exec "$@"'
    tries = -(-ctx.startup_seconds // _RAY_RETRY_S)
    worker = (
        f'i=0; until ray start --address="$LWS_LEADER_ADDRESS:{RAY_PORT}" {gpus} --block; '
        f'do i=$((i + 1)); if [ "$i" -ge {tries} ]; then exit 1; fi; sleep {_RAY_RETRY_S}; done'
    )
    return leader, worker


def uses_ray(ctx: RenderContext) -> bool:
    """The plan runs its workers on a Ray cluster (--distributed-executor-backend ray)."""
    return bool(passthrough_value(ctx, "--distributed-executor-backend") == "ray")


def _k8s_values(items: list[str]) -> list[str]:
    """Command or args items as YAML scalars Kubernetes gives the container unchanged."""
    return [escape.yaml_str(escape.dollar(a)) for a in items]


def _k8s(ctx: RenderContext, v: dict[str, Any]) -> dict[str, Any]:
    d = ctx.deploy
    served = serve_argv(ctx)
    nodes = ctx.plan.feasibility.nodes
    ray = nodes > 1 and uses_ray(ctx)
    serve = {"command": _k8s_values(served[:2]), "args": _k8s_values(served[2:])}
    if nodes == 1:
        leader = worker = serve
    elif ray:
        _refuse_per_node_flags(ctx)
        if d.port == RAY_PORT:
            raise ArtifactError(
                f"deploy.port: {RAY_PORT} is the Ray head's port on the leader pod",
                hint="serve the API on another port (vLLM's default is 8000)",
                key="deploy.port",
            )
        lead, join = ray_scripts(ctx)
        leader = {
            "command": _k8s_values(["/bin/sh", "-c", lead, "sh"]),
            "args": _k8s_values(served),
        }
        worker = {"command": _k8s_values(["/bin/sh", "-c", join]), "args": []}
    else:  # the LWS variables in these are for Kubernetes to expand: not dollar-escaped
        on_leader, on_worker = _node_args(ctx)
        leader = {**serve, "args": serve["args"] + [escape.yaml_str(a) for a in on_leader]}
        worker = {**serve, "args": serve["args"] + [escape.yaml_str(a) for a in on_worker]}
    return {
        "nodes": nodes,
        "ray": ray,
        "ray_port": RAY_PORT,
        "leader": leader,
        "worker": worker,
        "cache_pvc": d.cache_pvc,
        "node_selector": d.node_selector,
        "tolerations": d.tolerations,
        "gpu_name": ctx.plan.feasibility.gpu,
    }


def _split_image(image: str) -> tuple[str, str]:
    slash = image.rfind("/")
    colon = image.rfind(":")
    if "@" in image or colon <= slash:
        raise ArtifactError(
            f"deploy.image: the production-stack chart needs REPOSITORY:TAG, got {image!r}",
            key="deploy.image",
        )
    return image[:colon], image[colon + 1 :]


def _helm(ctx: RenderContext, v: dict[str, Any]) -> dict[str, Any]:
    from checker.planning.engine.versions import version_facts

    c, flags = ctx.plan.config, flags_for(ctx.plan.config.vllm_version)
    chunked = c.enable_chunked_prefill
    if chunked is False and "--no-enable-chunked-prefill" not in flags.serve:
        chunked = None  # the chart would write --no-enable-chunked-prefill; keep ours
    chart = _CHART_FLAGS | ({"--enable-chunked-prefill"} if chunked is not None else set())
    model_arg(ctx)
    extra = [a for a in engine_argv(ctx) if a.split("=", 1)[0] not in chart]
    prefix = c.enable_prefix_caching
    if prefix is None:  # the chart always writes one of the two flags: state the default
        prefix = version_facts(c.vllm_version).engine == "v1"
    repository, tag = _split_image(ctx.image)
    return {
        "model": c.model,
        "repository": repository,
        "tag": tag,
        "extra": extra,
        "prefix_caching": prefix,
        "chunked_prefill": chunked,
    }


def _bench(ctx: RenderContext, v: dict[str, Any]) -> dict[str, Any]:
    client = bench_client(c := ctx.plan.config.vllm_version)
    pinned = flags_for(c)
    if client.line == pinned.line:  # the client in the pinned image (not the flag table's)
        return {"argv": bench_argv(ctx), "client": ctx.version, "client_note": ""}
    note = f" (vLLM {pinned.line} has no such client)"
    return {"argv": bench_argv(ctx), "client": client.release, "client_note": note}


_KINDS: dict[str, Callable[[RenderContext, dict[str, Any]], dict[str, Any]]] = {
    "command": _command,
    "docker": _docker,
    "compose": _compose,
    "k8s": _k8s,
    "helm": _helm,
    "bench": _bench,
}
_TEMPLATES = {
    "command": "serve.sh.j2",
    "docker": "docker.sh.j2",
    "compose": "compose.yaml.j2",
    "k8s": "k8s.yaml.j2",
    "helm": "helm-values.yaml.j2",
    "bench": "bench.sh.j2",
}


def _run_by_hand(ctx: RenderContext) -> str:
    """How to start the server over its nodes with serve.sh instead."""
    if uses_ray(ctx):
        return (
            f"start a Ray cluster over the nodes (ray start --head --port={RAY_PORT} on one, "
            f"ray start --address=<its address>:{RAY_PORT} on the others), then run serve.sh "
            "(emit command) on the head"
        )
    return (
        "run serve.sh (emit command) on every node with --node-rank N and --master-addr of "
        "node 0, --headless on all but node 0"
    )


# Why each container artifact cannot hold a server over several nodes.
_ONE_HOST = {
    "docker": "docker run starts containers on one host",
    "compose": "Compose starts its services on one host",
}


def _chart_refusal(ctx: RenderContext) -> str:
    """Why the production-stack chart's values cannot carry a multi-node plan (chart
    vllm-stack 0.1.12, helm/templates/): its Deployment runs each engine in one pod, and it has
    no LeaderWorkerSet; its one multi-node mode, raySpec, is a KubeRay RayCluster whose head
    builds `vllm serve` as a bash script from the values in double quotes (ray-cluster.yaml:
    `$(...)` in a value runs, enablePrefixCaching false writes no flag) and sets VLLM_USE_V1=0
    unless vllmConfig.v1 is given, so the server would not get the plan's flags."""
    if uses_ray(ctx):
        return (
            "the production-stack chart's raySpec (a KubeRay RayCluster) rebuilds the vllm "
            "serve command in a shell script from the values, which does not keep the plan's "
            "flags exactly"
        )
    return "the production-stack chart runs each engine in one pod (it has no LeaderWorkerSet)"


def check_nodes(kind: str, ctx: RenderContext) -> None:
    """A server over several nodes starts one vLLM process per node, each with its own
    --node-rank and node 0's --master-addr (config/parallel.py ParallelConfig), or a Ray
    cluster over the nodes with one vLLM process on its head (--distributed-executor-backend
    ray). Kubernetes expresses either as a LeaderWorkerSet; nothing that runs on one host, nor
    the production-stack chart, can, so those are refused."""
    f = ctx.plan.feasibility
    if f.nodes == 1 or kind not in (*_ONE_HOST, "helm", "k8s"):
        return
    shape = f"the plan spans {f.nodes} nodes of {ctx.gpus} GPUs"
    if kind != "k8s":
        why = _chart_refusal(ctx) if kind == "helm" else _ONE_HOST[kind]
        raise ArtifactError(
            f"{shape}: {why}, so a {FILES[kind][0]} cannot start it",
            hint=f"emit k8s (a LeaderWorkerSet), or {_run_by_hand(ctx)}",
            key="outputs.emit",
        )
    if uses_ray(ctx):
        if f.data_parallel_size > 1:
            raise ArtifactError(
                f"{shape} with data parallel {f.data_parallel_size} on the Ray backend: the "
                "LeaderWorkerSet starts one vllm serve on the Ray head, which does not place "
                "data-parallel engines over the nodes",
                hint=f"launch it with outputs.vllm_args.nnodes: {f.nodes} instead of "
                "distributed-executor-backend: ray (vLLM's multiprocessing launch, also a "
                "LeaderWorkerSet)",
                key="outputs.vllm_args.data-parallel-size",
            )
        return
    if (passthrough_value(ctx, "--nnodes") or 1) != f.nodes:
        raise ArtifactError(
            f"{shape}, but vLLM is not launched over them (no --nnodes {f.nodes} and no Ray "
            "backend): no Kubernetes workload can start it",
            hint=f"set outputs.vllm_args.nnodes: {f.nodes} (vLLM's multiprocessing launch) or "
            "distributed-executor-backend: ray (a Ray cluster); k8s.yaml is a LeaderWorkerSet "
            "for either",
            key="outputs.vllm_args.nnodes",
        )


_IMAGE_KINDS = ("docker", "compose", "k8s", "helm")


def check_build(kind: str, ctx: RenderContext) -> None:
    """An artifact that runs an image runs what the plan sized: the official image, unless
    deploy.image names another. A plan of the PyPI wheel (vllm.install: pip) would otherwise
    give one verdict for the plan and deploy a build with other kernels (data/vllm_builds.yaml)."""
    if kind not in _IMAGE_KINDS or ctx.deploy.image or ctx.plan.config.install != "pip":
        return
    raise ArtifactError(
        f"vllm.install is pip, so the plan sizes vLLM {ctx.version}'s PyPI wheel, but "
        f"{FILES[kind][0]} would run the official image {ctx.image}, whose kernels differ",
        hint="set deploy.image to the image that pip-installs vLLM, or remove vllm.install "
        "(the plan then sizes the official image)",
        key="vllm.install",
    )


def render_artifact(kind: str, ctx: RenderContext, dest_dir: Path | None = None) -> str:
    """The text of one artifact; ``dest_dir`` is where it will live (for the header's path)."""
    if kind not in FILES:
        raise ArtifactError(f"unknown artifact kind {kind!r}", hint=f"use {', '.join(FILES)}")
    # profile.yaml holds the profile's own values: no setting of it was changed
    header = ctx.header(FILES[kind][1], dest_dir, changes=kind != "profile")
    if kind == "report":
        from checker.render.report import render_report_md

        return header + "\n" + render_report_md(ctx.plan, ctx=ctx)
    if kind == "profile":
        from checker.render.profile_out import profile_text

        return profile_text(ctx, header)
    check_nodes(kind, ctx)
    check_build(kind, ctx)
    values = _common(ctx, header)
    values.update(_KINDS[kind](ctx, values))
    return _env().get_template(_TEMPLATES[kind]).render(values)
