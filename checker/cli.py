"""Command line: parse flags, call one stage function, map errors to exit codes in one place.

Exit codes: 0 pass, 1 a profile fails the gate, 2 usage or input error, 3 internal error.
Heavy modules are imported inside the handlers so ``--version`` and ``--help`` start fast.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import math
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO, cast

from checker import __version__
from checker.errors import (
    EXIT_GATE_FAILED,
    EXIT_INTERNAL,
    EXIT_USAGE,
    CheckerError,
    UsageError,
    reason,
)
from checker.render.escape import terminal
from checker.schemas.enums import FailOn

if TYPE_CHECKING:  # the gate's result model loads only when check runs (cold start)
    from pathlib import Path

    from checker.gate.result import CheckResult

Handler = Callable[[argparse.Namespace], int]
# the collector runs after this many new container objects (default 700): see entry()
GC_THRESHOLDS = (50_000, 20, 20)

DESCRIPTION = """\
Check vLLM serving profiles before any GPU is rented: whether vLLM starts, how much KV cache
and concurrency you get, which start-up error it would raise, and what to change.

examples:
  vllm-wizard plan --profile examples/profiles/sample.yaml
  vllm-wizard plan -m Qwen/Qwen3-8B --gpu H100-SXM-80GB --max-model-len 32768 --json
  vllm-wizard check profiles/ --gpu H100-SXM-80GB --gpu L4:2 --format markdown
  vllm-wizard generate --profile serving.yaml --output-dir deploy/ --emit command,compose,k8s
"""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so main() owns every exit code."""

    def error(self, message: str) -> Any:  # noqa: D401 - argparse API
        raise UsageError(message, hint=f"see '{self.prog} --help'")


def _finite(text: str) -> float:
    """A flag's number: 'nan' and 'inf', which float() reads, are refused like any non-number
    (a bound check would call nan "more than 1")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


_MAX_SECONDS = 3600.0  # an hour: a longer wait is a hung driver (and 1e300 overflows the clock)


def _seconds(text: str) -> float:
    value = _finite(text)
    if not 0 < value <= _MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds above 0 and at most {_MAX_SECONDS:g}, got {text!r}"
        )
    return value


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (override the profile)")
    g.add_argument("-m", "--model", help="Hugging Face id, or a local model directory")
    g.add_argument("--revision", help="model revision (branch, tag or commit)")
    g.add_argument("--model-config", metavar="PATH", help="local config.json or model directory")
    g.add_argument(
        "--trust-remote-code",
        action="store_true",
        default=None,
        help="passed through to vLLM; never executed here",
    )
    g.add_argument("--dtype", help="auto, float16, bfloat16, float32 (default auto)")
    g.add_argument(
        "-q", "--quantization", help="vLLM method: fp8, awq, gptq, ... or none (default none)"
    )
    g.add_argument(
        "--kv-cache-dtype", help="auto, fp8, fp8_e4m3, fp8_e5m2, ... (default auto: the dtype)"
    )
    g.add_argument(
        "--max-model-len",
        metavar="TOKENS",
        help="context length to serve: 32768, 32k or 1M as vLLM reads them, or auto (vLLM fits "
        "it to the KV cache); default: the model's maximum, as vLLM derives it",
    )
    g.add_argument("--params-b", type=_finite, help="parameter count in billions (informational)")

    g = p.add_argument_group("hardware")
    g.add_argument(
        "--gpu",
        dest="gpu_name",
        metavar="NAME[:COUNT]",
        help="GPU catalog name or alias (see 'gpus'); NAME:COUNT, as check takes it, sets --gpus",
    )
    g.add_argument("--gpus", type=int, help="number of GPUs for this instance (default 1)")
    g.add_argument("--vram-gb", type=_finite, help="memory per GPU in GiB, overrides the catalog")
    g.add_argument("--interconnect", help="pcie, nvlink or unknown (default unknown)")
    g.add_argument(
        "--tp",
        "--tensor-parallel-size",
        dest="tp_size",
        type=int,
        help="tensor parallel size (default: smallest that fits)",
    )
    g.add_argument(
        "--pp",
        "--pipeline-parallel-size",
        dest="pp_size",
        type=int,
        help="pipeline parallel size (default 1)",
    )

    g = p.add_argument_group("workload and policy")
    g.add_argument(
        "--prompt-tokens", type=int, help="prompt length of a typical request (default 512)"
    )
    g.add_argument(
        "--gen-tokens", type=int, help="output tokens of a typical request (default 256)"
    )
    g.add_argument("-c", "--concurrency", type=int, help="simultaneous requests (default 1)")
    g.add_argument(
        "--random-range-ratio",
        type=_finite,
        help="spread of request lengths: each uniform in [L*(1-r), L*(1+r)] around "
        "--prompt-tokens / --gen-tokens, as vllm bench serve's flag (default 0: fixed)",
    )
    g.add_argument(
        "--batching-mode", dest="mode", help="throughput, latency or balanced (default balanced)"
    )
    g.add_argument(
        "--gpu-memory-utilization",
        type=_finite,
        help="fraction of total memory, in (0, 1] (default 0.90)",
    )
    g.add_argument(
        "--overhead-gb",
        type=_finite,
        help="the seed's setting, accepted but not used: the plan models vLLM's own "
        "non-torch and CUDA-graph memory",
    )
    g.add_argument(
        "--fragmentation-factor",
        type=_finite,
        help="KV need of the workload is multiplied by this, in [1, 2] (default 1.15)",
    )
    g.add_argument(
        "--headroom-gb",
        type=_finite,
        help="KV memory to keep free at the workload, GiB (default 1)",
    )

    g = p.add_argument_group("vLLM engine")
    g.add_argument(
        "--vllm-version", help="pinned vLLM version, e.g. 0.19.0 (default: newest known)"
    )
    g.add_argument(
        "--install",
        choices=("image", "pip"),
        help="how vLLM is installed where it runs: image (the official vllm/vllm-openai "
        "image, the default) or pip (pip install vllm); decides its kernels",
    )
    g.add_argument(
        "--max-num-seqs", type=int, help="requests batched at once (default: vLLM's for the GPU)"
    )
    g.add_argument(
        "--max-num-batched-tokens",
        type=int,
        help="tokens per scheduler step (default: vLLM's for the GPU and version)",
    )
    g.add_argument(
        "--block-size",
        type=int,
        help="KV cache block size in tokens (default: vLLM's for the model's attention backend)",
    )
    g.add_argument(
        "--enforce-eager",
        action="store_true",
        default=None,
        help="no CUDA graphs (less memory, slower decode)",
    )


def _add_source_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--profile", help="profile YAML to start from; flags override it")
    _add_lockfile_flags(p)
    _add_model_flags(p)


def _add_lockfile_flags(p: argparse.ArgumentParser) -> None:
    """Where model metadata may come from beyond local configs and the built-in catalog."""
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--online",
        dest="offline",
        action="store_false",
        default=None,
        help="ask the Hugging Face Hub for a model found in no local config, the catalog or "
        "--lockfile (HF_ENDPOINT, HF_TOKEN honoured; HF_HUB_OFFLINE=1 still forbids it)",
    )
    g.add_argument(
        "--offline",
        dest="offline",
        action="store_true",
        default=None,
        help="never contact the Hugging Face Hub: the default, unless --online or "
        "--update-lockfile",
    )
    p.add_argument(
        "--lockfile",
        metavar="PATH",
        help="model metadata lockfile read before the Hub (e.g. vllm-wizard.lock.json)",
    )
    p.add_argument(
        "--update-lockfile",
        action="store_true",
        help="record models fetched from the Hub into --lockfile, for hermetic CI (implies "
        "--online)",
    )


def _resolve_hub_access(args: argparse.Namespace) -> None:
    """Offline unless asked: --online, or --update-lockfile (which exists to fetch)."""
    if not hasattr(args, "offline"):
        return
    recording = bool(getattr(args, "update_lockfile", False))
    if args.offline and recording:
        raise UsageError(
            "--update-lockfile records models fetched from the Hub; --offline forbids the Hub",
            hint="drop --offline",
        )
    if args.offline is None:
        args.offline = not recording


def _add_fail_on_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fail-on",
        choices=["error", "warning"],
        help="error: a start-up error or a high OOM risk fails; warning: any warning fails "
        "too, reported as an error (default: the repo config's, else error)",
    )


def _add_publish_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("GitHub (default: on inside GitHub Actions)")
    g.add_argument(
        "--comment",
        action=argparse.BooleanOptionalAction,
        help="post or update one sticky PR comment (needs GITHUB_TOKEN)",
    )
    g.add_argument(
        "--summary", action=argparse.BooleanOptionalAction, help="append to the job summary"
    )
    g.add_argument("--report-file", metavar="PATH", help="also write the markdown report here")


class _Unbuilt:
    """The parser of a command this run does not name: it takes every flag and keeps none.
    argparse looks its messages' translations up on disk for each parser and group it builds,
    which for all the commands cost a cold start about 2%; help and usage errors, which list
    every command, build them all."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``only``, the parser of that command alone (all when it names
    none of them)."""
    parser = _Parser(
        prog="vllm-wizard",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vllm-wizard {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        if only is not None and name != only:
            return cast(argparse.ArgumentParser, _Unbuilt())
        p = sub.add_parser(
            name,
            help=help_text,
            description=textwrap.fill(help_text, 92),
            formatter_class=argparse.RawDescriptionHelpFormatter,  # epilogs keep their lines
        )
        p.set_defaults(handler=handler)
        # after the command too: "run again with --debug" is most often obeyed at the end
        p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
        return p

    p = add(
        "plan",
        "Plan one profile or model on one GPU target, the way vLLM will (exit 1 if it fails).",
        _cmd_plan,
    )
    _add_source_flags(p)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--explain", action="store_true", help="give the reason for each setting")
    _add_calibration_flag(p)
    # plan prints the performance figures: they come from the step-level scheduler model
    p.set_defaults(step_model=True)
    _add_fail_on_flag(p)
    p.epilog = """\
examples:
  vllm-wizard plan --profile examples/profiles/llama-3.1-8b-l4.yaml
  vllm-wizard plan -m Qwen/Qwen3-8B --gpu H100-SXM-80GB --max-model-len 32k --explain
  vllm-wizard plan -m meta-llama/Llama-3.1-70B-Instruct --gpu H100-80GB --gpus 4 --json
  vllm-wizard plan -p serving.yaml --gpu L4 --gpu-memory-utilization 0.95   # flags override

exit 0 when vLLM would start (PASS or WARN), 1 when it would not (or a warning under
--fail-on warning), 2 on bad input"""

    p = add(
        "generate",
        "Write serve command, docker, compose, Kubernetes and report artifacts.",
        _cmd_generate,
    )
    _add_source_flags(p)
    p.add_argument(
        "-o",
        "--output-dir",
        default=".",
        help="directory to write into (default: the current one); '-' prints the artifacts to "
        "stdout instead",
    )
    p.add_argument(
        "--emit",
        default="command,profile",
        help="comma list: command,docker,compose,k8s,helm,report,bench,profile (default "
        "%(default)s)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write even when the plan fails (each setting changed from the profile is marked "
        "CHANGED), and overwrite files that vllm-wizard did not generate",
    )
    p.epilog = """\
examples:
  vllm-wizard generate -p serving.yaml -o deploy/ --emit command,compose,k8s
  vllm-wizard generate -p serving.yaml -o - --emit command   # print the serve command
  vllm-wizard generate -m Qwen/Qwen3-8B --gpu L4 --max-model-len 8k -o deploy/ --emit helm

a file there that vllm-wizard did not write is replaced only with --force, and the profile
it generates from never"""

    p = add("detect", "Detect local NVIDIA GPUs with nvidia-smi.", _cmd_detect)
    p.add_argument(
        "--json",
        action="store_true",
        help='print {"gpus": [...]} as JSON; on failure {"gpus": [], "error": "..."} and exit 2',
    )
    p.add_argument(
        "--timeout", type=_seconds, default=10.0, help="seconds per nvidia-smi call (default 10)"
    )
    p.epilog = """\
examples:
  vllm-wizard detect
  vllm-wizard detect --json

exit 0 with 'no NVIDIA GPU detected' when nvidia-smi lists no device; exit 2 when nvidia-smi
is missing, fails or prints something unreadable"""

    p = add("gpus", "List the GPU catalog.", _cmd_gpus)
    p.add_argument("--json", action="store_true", help="print the specs as a JSON list")
    p.epilog = """\
examples:
  vllm-wizard gpus
  vllm-wizard gpus --json

a GPU the catalog lacks: describe it under hardware.custom_gpus (profile), gpus: (repo
config) or spec: (fleet entry)"""

    p = add("schema", "Print the JSON Schema of the profile format.", _cmd_schema)
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.epilog = """\
examples:
  vllm-wizard schema -o profile.schema.json

then the first line of a profile lets editors validate it:
  # yaml-language-server: $schema=profile.schema.json"""

    p = add("check", "Gate: check profiles on GPU targets; exit 1 if any fails.", _cmd_check)
    p.add_argument(
        "paths",
        nargs="*",
        help="profile files, directories or globs (after '--', even one that starts with '-')",
    )
    p.add_argument(
        "--gpu",
        action="append",
        default=[],
        metavar="NAME[:COUNT]",
        help="GPU target, repeatable (default: each profile's own)",
    )
    p.add_argument("--config", help="repo config (default: .vllm-wizard.yaml if present)")
    p.add_argument("--vllm-version", help="check against this vLLM version")
    _add_calibration_flag(p)
    _add_fail_on_flag(p)
    p.add_argument(
        "--format",
        default="text",
        choices=["text", "json", "markdown", "sarif", "github"],
        help="report format (default text; github: workflow-command annotations)",
    )
    p.add_argument("--output", help="also write the report to this file")
    p.add_argument("--base", metavar="REF", help="diff against the profiles at this git revision")
    p.add_argument(
        "--check-artifacts",
        action="store_true",
        help="regenerate committed artifacts and fail on drift",
    )
    p.add_argument(
        "--fix",
        action="store_true",
        help="rewrite drifted and create missing artifacts; like a formatter, exit 1 when a "
        "file was written, so it gets reviewed and staged",
    )
    p.add_argument(
        "--artifacts-dir",
        metavar="DIR",
        help="check artifacts and write each drifted one's regenerated text under DIR",
    )
    _add_lockfile_flags(p)
    _add_publish_flags(p)
    p.add_argument(
        "--pre-commit",
        action="store_true",
        help="how the pre-commit hooks call check: the trailing arguments that name existing "
        "YAML files are files, even one named like an option",
    )
    p.epilog = """\
examples:
  vllm-wizard check profiles/ --gpu H100-SXM-80GB --gpu L4:2
  vllm-wizard check 'deploy/**/*.yaml' --format markdown --output report.md
  vllm-wizard check --base origin/main --check-artifacts   # paths from .vllm-wizard.yaml
  vllm-wizard check profiles/ --fix                        # rewrite drifted artifacts

exit 0 when every pair passes (WARN included), 1 when a pair fails or an artifact drifted
(or --fix wrote one), 2 on bad input"""

    p = add(
        "comment",
        "Post a saved markdown report as the sticky PR comment (workflow_run job of a fork PR).",
        _cmd_comment,
    )
    p.add_argument("report", help="markdown report saved by the pull request's run")
    p.add_argument(
        "--pr-number-file",
        metavar="PATH",
        help="file with the PR number (used only if that PR's head is the checked commit)",
    )
    p.epilog = """\
example (what the action's post-report input runs; see examples/workflows/pr-comment.yml):
  vllm-wizard comment pr-report/report.md --pr-number-file pr-report/pr-number"""

    p = add(
        "audit",
        "Check every profile on every GPU of a fleet file, and rank each profile's priced "
        "options by estimated cost per million output tokens at its targets.",
        _cmd_audit,
    )
    p.add_argument("paths", nargs="*", help="profile files, directories or globs")
    p.add_argument(
        "--fleet",
        required=True,
        help="YAML list of GPU targets; an entry's price_per_hour (per instance) ranks it",
    )
    p.add_argument("--config", help="repo config (default: .vllm-wizard.yaml if present)")
    p.add_argument("-j", "--jobs", type=int, default=0, help="processes (default: CPU count)")
    p.add_argument(
        "--output-dir",
        default=".",
        help="where to write audit.md and audit.json (default: the current directory); files "
        "of those names that vllm-wizard did not write are never replaced",
    )
    p.add_argument("--vllm-version", help="check against this vLLM version")
    _add_calibration_flag(p)
    _add_fail_on_flag(p)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _add_lockfile_flags(p)
    p.epilog = """\
cost per million output tokens (estimated): the price of the instances the deployment takes,
with the replicas its stated request rate or minimum throughput needs, over the output tokens
it serves at its targets (without a stated load, at its workload's concurrency); a plan that
fails, or misses a latency target, gets none and says why.

examples:
  vllm-wizard audit examples/profiles --fleet examples/fleet.yaml --output-dir audit/
  vllm-wizard audit --fleet fleet.yaml --vllm-version 0.19.0 -j 2 --quiet

exit 0 when every pair passes (WARN included), 1 when a pair fails, 2 on bad input"""

    p = add(
        "explain",
        "Hold a vLLM start-up log against our plan of the same settings, term by term; for a "
        "failed start, what ran out and the fix.",
        _cmd_explain,
    )
    _add_explain_flags(p)
    p.epilog = """\
examples:
  vllm-wizard explain vllm.log
  vllm-wizard explain vllm.log.gz --gpu H100-SXM-80GB --format markdown
  vllm-wizard explain vllm.log --profile deploy/llama.yaml
  kubectl logs deploy/llama | vllm-wizard explain - --gpu H100-SXM-80GB

exit 0 with the explanation (a failed start too); exit 2 when the log is missing, binary,
over 64 MiB, has no vLLM start-up line, or cannot be planned"""

    p = add(
        "calibrate",
        "Record the memory vLLM measured at start-up (weights, activation, non-torch, CUDA "
        "graphs) into a calibration file that plan, check and audit then use for that setup.",
        _cmd_calibrate,
    )
    p.add_argument(
        "logs",
        nargs="+",
        metavar="LOG",
        help="vLLM start-up logs of the profile's setup (UTF-8 or UTF-16 text, or gzip; up to "
        "64 MiB each; '-' reads standard input)",
    )
    p.add_argument("-p", "--profile", required=True, help="the profile the logs were started from")
    p.add_argument(
        "-o",
        "--output",
        default="vllm-wizard.calibration.yaml",
        help="calibration file to add the setup to (created if missing or empty; the entry of "
        "the same setup is replaced; any other file is left alone); default %(default)s, the "
        "name plan/check/audit look for",
    )
    _add_lockfile_flags(p)
    p.epilog = CALIBRATE_EPILOG
    if only is not None and only not in sub.choices:  # a typo: the error lists every command
        return build_parser()
    return parser


CALIBRATE_EPILOG = """\
what it records: per pipeline stage, the terms vLLM logged ("Model loading took", "torch peak
memory increase", "non-torch forward increase memory", the CUDA graph pool) and the memory it
took before the KV cache, to the byte range of the logged block count. A plan of the same setup
then reproduces the log's KV GiB, blocks, tokens and concurrency; its figures say "measured".

the setup: model and revision, GPU, vLLM version, TP/PP/DP, dtype, quantization, kv-cache
dtype, max_num_batched_tokens, enforce_eager. The entry serves that setup at any max_model_len
and gpu_memory_utilization; at another max_num_seqs its terms move by the estimate's change.
A plan of the same model that differs otherwise ignores the entry and says so (VW151).

examples:
  vllm-wizard calibrate vllm.log --profile deploy/llama.yaml
  kubectl logs deploy/llama > llama.log && vllm-wizard calibrate llama.log -p deploy/llama.yaml
  vllm-wizard plan --profile deploy/llama.yaml --calibration vllm-wizard.calibration.yaml

exit 0 when written; exit 2 when a log is missing, unreadable, sized no KV cache, or was
started with another model, vLLM version, GPU or setting than the profile (each difference
is listed with its log line)."""


def _add_calibration_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--calibration",
        metavar="FILE",
        help="measured terms written by 'vllm-wizard calibrate' (default: the repo config's "
        "calibration, else vllm-wizard.calibration.yaml beside it or here, if it exists)",
    )


def _add_explain_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "log",
        help="the vLLM start-up log (UTF-8 or UTF-16 text, or gzip; up to 64 MiB; '-' reads "
        "standard input)",
    )
    p.add_argument(
        "-p", "--profile", help="plan this profile instead of the settings read from the log"
    )
    p.add_argument(
        "--format",
        default="text",
        choices=["text", "markdown", "json"],
        help="text (terminal, the default), markdown (to paste into an issue) or json",
    )
    p.add_argument(
        "--gpu",
        dest="gpu_name",
        metavar="NAME",
        help="GPU catalog name (see 'gpus'); needed when the log does not state the memory",
    )
    p.add_argument("--vram-gb", type=_finite, help="GPU memory in GiB, overrides the log's")
    p.add_argument(
        "-m", "--model", help="Hugging Face id, when the log names a local path or no model"
    )
    p.add_argument("--model-config", metavar="PATH", help="local config.json or model directory")
    p.add_argument("--vllm-version", help="vLLM version, when the log does not print it")
    _add_lockfile_flags(p)


def _not_built(name: str) -> int:
    raise CheckerError(f"'{name}' is not available in this build")


def _cmd_plan(args: argparse.Namespace) -> int:
    from checker.pipeline import lockfile_note, plan_from_args
    from checker.planning.verdict import judge
    from checker.schemas.enums import Verdict

    plan, _, _ = plan_from_args(args)
    _note(lockfile_note(args, plan))
    # The gate's verdict, policy included: plan and check cannot disagree on a profile.
    plan = judge(plan, _fail_on(args))
    if args.json:
        from checker.render.report import serve_command
        from checker.schemas.outputs import Artifacts

        command = serve_command(plan)
        if not command.startswith("#"):  # the text's "# no command: why" is not a command
            plan = plan.model_copy(update={"artifacts": Artifacts(serve_command=command)})
        print(plan.model_dump_json_pretty())
    else:
        from checker.render.terminal import render_plan_text

        print(render_plan_text(plan, explain=args.explain, color=_color()))
    return EXIT_GATE_FAILED if plan.feasibility.verdict is Verdict.FAIL else 0


def _fail_on(args: argparse.Namespace) -> FailOn:
    """--fail-on, else the repo config's (found as check finds it), else error."""
    from pathlib import Path

    from checker.gate.sources.repo_config import find_repo_config, load_repo_config

    if args.fail_on:
        return FailOn(args.fail_on)
    found = find_repo_config(Path.cwd())
    return load_repo_config(found).fail_on if found else FailOn.ERROR


def _cmd_generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from checker.pipeline import located, lockfile_note, plan_from_args
    from checker.render.context import context_for_profile
    from checker.render.generate import findings_text, generate, parse_emit, render_all
    from checker.schemas.enums import Verdict
    from checker.schemas.profile_io import profile_from_request

    kinds = parse_emit(args.emit)
    out_dir = Path(args.output_dir)
    if args.output_dir != "-" and out_dir.exists() and not out_dir.is_dir():
        raise UsageError(
            f"--output-dir {args.output_dir} is a file, not a directory",
            hint="give a directory (created if missing), or '-' to print the artifacts",
        )
    plan, request, loaded = plan_from_args(args)
    _note(lockfile_note(args, plan))
    failing = plan.feasibility.verdict is Verdict.FAIL
    if failing and not args.force:
        # Artifacts of a plan vLLM refuses would start nothing, or silently another config.
        print(
            f"vllm-wizard: error: this plan FAILS on {terminal(plan.feasibility.gpu)}; "
            "no artifact written (pass --force to write them anyway)",
            file=sys.stderr,
        )
        print(findings_text(plan, loaded), file=sys.stderr)
        return EXIT_GATE_FAILED
    profile = profile_from_request(request, loaded.profile if loaded else None)
    source = Path(args.profile) if args.profile else None
    ctx = context_for_profile(plan, profile, source)
    with located(loaded):  # deploy and vllm_args problems point at their profile line
        if args.output_dir == "-":
            sys.stdout.write(render_all(ctx, kinds))
        else:
            for path in generate(ctx, kinds, out_dir, force=args.force):
                print(f"wrote {terminal(path)}")
    if failing:
        print(
            f"vllm-wizard: warning: this plan FAILS on {terminal(plan.feasibility.gpu)}; "
            "written anyway (--force). The findings:",
            file=sys.stderr,
        )
        print(findings_text(plan, loaded), file=sys.stderr)
    for change in ctx.changes:
        print(f"vllm-wizard: warning: CHANGED: {terminal(str(change))}", file=sys.stderr)
    return 0


def _cmd_detect(args: argparse.Namespace) -> int:
    import json

    from checker.hardware.detect import detect_gpus

    try:
        found = detect_gpus(timeout_s=args.timeout)
    except CheckerError as exc:
        if args.json:  # a script reading stdout gets JSON either way; the exit code says which
            print(json.dumps({"gpus": [], "error": str(exc)}, indent=2))
        raise
    if args.json:
        print(json.dumps({"gpus": [g.model_dump(mode="json") for g in found]}, indent=2))
    elif not found:
        print("vllm-wizard: no NVIDIA GPU detected (nvidia-smi lists no device)")
    else:
        rows = [("GPU", "NAME", "MEMORY GiB", "CC", "CATALOG SKU")]
        rows += [
            (
                str(g.index) if g.mig_device is None else f"{g.index}:{g.mig_device}",
                g.name if g.mig_profile is None else f"{g.name} MIG {g.mig_profile}",
                f"{g.spec.memory_gib:.2f}",
                g.compute_capability or "?",
                g.catalog_name or "not in catalog (figures estimated)",
            )
            for g in found
        ]
        print(_aligned(rows, numeric=(2,)))
        print(f"driver {found[0].driver_version or '?'}, CUDA {found[0].cuda_version or '?'}")
    return 0


def _cmd_gpus(args: argparse.Namespace) -> int:
    import json

    from checker.hardware.catalog import all_gpus

    gpus = all_gpus()
    if args.json:
        print(json.dumps([g.model_dump(mode="json") for g in gpus], indent=2))
        return 0
    rows = [("NAME", "MEMORY GiB", "BW GB/s", "FP16 TFLOPS", "FP8 TFLOPS", "CC", "ALIASES")]
    for g in gpus:
        fp8 = f"{g.fp8_tflops:g}" if g.fp8_tflops else "-"
        rows.append(
            (
                g.name,
                f"{g.memory_gib:.2f}",
                f"{g.memory_bandwidth_gbs:g}",
                f"{g.fp16_tflops:g}",
                fp8,
                g.compute_capability,
                ", ".join(g.aliases),
            )
        )
    print(_aligned(rows, numeric=(1, 2, 3, 4)))
    print("memory: total as CUDA reports it; TFLOPS dense; sources: vllm-wizard gpus --json")
    return 0


def _aligned(rows: Sequence[Sequence[str]], numeric: tuple[int, ...]) -> str:
    """Rows as columns two spaces apart; ``numeric`` columns right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.rjust(w) if i in numeric else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


def _cmd_schema(args: argparse.Namespace) -> int:
    from pathlib import Path

    from checker.schemas.json_schema import profile_json_schema_text
    from checker.schemas.profile_io import write_atomic

    text = profile_json_schema_text()
    if args.output:
        _not_a_profile(Path(args.output))
        write_atomic(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return 0


def _not_a_profile(output: Path) -> None:
    """``schema -o`` never replaces a profile (``-o`` typed for ``--profile``, a tab-completed
    name): any other file it was told to write is replaced."""
    from checker.gate.sources.discovery import looks_like_profile
    from checker.schemas.yaml_source import YAMLSourceError, read_text

    try:
        existing = read_text(output) if output.is_file() else None
    except (OSError, YAMLSourceError):
        return  # not readable as text: not a profile; the write says what is wrong
    if existing is not None and looks_like_profile(existing):
        raise UsageError(
            f"-o {output} is a profile; not overwriting it with the schema",
            hint="name another file, e.g. profile.schema.json",
        )


def _cmd_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from checker.gate.check import CheckOptions, run_check
    from checker.gate.formats import PLAN_FORMATS, render_report, report_chunks, write_report
    from checker.pipeline import lockfile_from_args
    from checker.schemas.profile_io import write_atomic

    result = run_check(
        CheckOptions(
            paths=tuple(args.paths),
            gpus=tuple(args.gpu),
            config=Path(args.config) if args.config else None,
            vllm_version=args.vllm_version,
            fail_on=FailOn(args.fail_on) if args.fail_on else None,
            base=args.base,
            offline=args.offline,
            lockfile=lockfile_from_args(args),
            update_lockfile=args.update_lockfile,
            check_artifacts=args.check_artifacts,
            fix=args.fix,
            artifacts_dir=Path(args.artifacts_dir) if args.artifacts_dir else None,
            calibration=Path(args.calibration) if args.calibration else None,
            # a failing pair's plan (its recommendations) is printed by these reports only
            plans=args.format in PLAN_FORMATS or _publishes(args),
        )
    )
    _keep_inputs(result, {"--output": args.output, "--report-file": args.report_file})
    # written in pieces: a fleet's JSON or markdown report is never whole in memory
    write_report(result, args.format, sys.stdout, color=args.format == "text" and _color())
    if args.output:
        write_atomic(Path(args.output), report_chunks(result, args.format))
    if args.update_lockfile and not Path(args.lockfile).exists():
        _note(
            f"--update-lockfile: nothing recorded in {args.lockfile}: every model came from the "
            "built-in catalog or a local config, not the Hub (only Hub models are locked)"
        )
    if not _publishes(args):
        return result.exit_code
    from checker.gate.github.publish import GateReport, PublishOptions, publish

    publish(  # job summary, step outputs, sticky PR comment: each on by default in Actions
        GateReport(
            verdict=result.verdict,
            counts=result.counts,
            markdown=render_report(result, "markdown"),
            report_path=Path(args.report_file) if args.report_file else None,
        ),
        PublishOptions(comment=args.comment, summary=args.summary),
        os.environ,
        sys.stderr,
    )
    return result.exit_code


def _keep_inputs(result: CheckResult, outputs: dict[str, str | None]) -> None:
    """A report file never replaces a profile the run read (``--output p.yaml`` for
    ``--format``, or a slip in the argument order, would lose it)."""
    real = os.path.realpath  # unlike Path.resolve, never raises on a symlink loop
    read = {real(p.profile) for p in result.pairs} | {real(e.path) for e in result.errors}
    for flag, output in outputs.items():
        if output and real(output) in read:
            raise UsageError(
                f"{flag} {output} is a profile this run checks; not overwriting it",
                hint=f"give {flag} another file, e.g. vllm-wizard-report.md",
            )


def _publishes(args: argparse.Namespace) -> bool:
    """Whether ``publish`` has anything to do: outside Actions, only what was asked for (a local
    run or a pre-commit hook then skips the markdown report and the GitHub client)."""
    from checker.gate.github.env import in_actions

    return bool(args.report_file or args.comment or args.summary or in_actions(os.environ))


def _cmd_comment(args: argparse.Namespace) -> int:
    from pathlib import Path

    from checker.gate.github.publish import post_saved_report
    from checker.schemas.yaml_source import read_prefix

    pr_text = None
    if args.pr_number_file:
        try:
            raw = read_prefix(Path(args.pr_number_file), 64)
            pr_text = raw.decode("utf-8", errors="replace")
        except OSError as exc:
            raise CheckerError(
                f"cannot read the PR number: {reason(exc)}",
                location=args.pr_number_file,
            ) from None
    result = post_saved_report(Path(args.report), pr_text, os.environ, None)
    print(f"vllm-wizard: PR comment {result.action}: {terminal(result.url)}")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from pathlib import Path

    from checker.gate.audit.cost import cost_text
    from checker.gate.audit.fleet import load_fleet
    from checker.gate.audit.report import refuse_others, write_audit
    from checker.gate.audit.run import AuditOptions, run_audit
    from checker.gate.formats.common import INPUT_RULE, headline, located
    from checker.gate.formats.text import located_lines
    from checker.gate.progress import progress_reporter
    from checker.pipeline import lockfile_from_args

    if args.update_lockfile:
        raise UsageError("audit reads --lockfile but does not update it; use check or plan")
    if args.jobs < 0:
        raise UsageError("--jobs must be 0 (one per CPU) or more")
    refuse_others(Path(args.output_dir))
    result = run_audit(
        AuditOptions(
            fleet=load_fleet(Path(args.fleet)),
            paths=tuple(args.paths),
            config=Path(args.config) if args.config else None,
            vllm_version=args.vllm_version,
            fail_on=FailOn(args.fail_on) if args.fail_on else None,
            offline=args.offline,
            lockfile=lockfile_from_args(args),
            jobs=args.jobs,
            calibration=Path(args.calibration) if args.calibration else None,
        ),
        progress_reporter(sys.stderr, quiet=args.quiet),
    )
    md_path, json_path = write_audit(result, Path(args.output_dir))
    for item in located(result.check):  # what made the exit code 2, without opening audit.md
        if item.rule_id == INPUT_RULE[0]:
            print("\n".join(located_lines(item)))
    print(headline(result.check).replace("check", "audit", 1))
    print(
        f"{len(result.edge)} close to the edge, {len(result.cheaper)} could move to a cheaper GPU"
    )
    for c in result.costs:
        if c.cheapest:
            print(
                f"cheapest that passes: {terminal(c.profile)} on {terminal(c.target)}, "
                f"{cost_text(c)} per 1M output tokens (estimated)"
            )
    print(f"wrote {terminal(md_path)} and {terminal(json_path)}")
    return result.check.exit_code


def _note(text: str | None) -> None:
    if text:
        print(f"vllm-wizard: note: {terminal(text)}", file=sys.stderr)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from checker.render.calibrate import run_calibrate

    return run_calibrate(args)


def _cmd_explain(args: argparse.Namespace) -> int:
    from checker.render.explain import run_explain

    return run_explain(args)


def _color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


class _PipeGuard(io.TextIOBase):
    """stdout that goes quiet once its reader has gone (``plan | head -2``), so the command still
    runs to its verdict and exits with it instead of with the broken pipe."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def _quiet(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # not a real descriptor (tests capture)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._inner.fileno())
            os.close(devnull)
        self._inner = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives with stdout

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except BrokenPipeError:
            self._quiet()
            return len(text)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError:
            self._quiet()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()


def _files_last(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``check --pre-commit``: pre-commit appends the file names after the hook's own args with
    no ``--``, so a committed file named ``--output=x.vllm.yaml`` would read as an option. The
    trailing arguments that name existing YAML files (and are no option's value) go after a
    ``--``: they are files, whatever they look like."""
    args = list(argv)
    if _command(args) != "check" or "--pre-commit" not in args or "--" in args:
        return args
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    check: argparse.ArgumentParser = sub.choices["check"]
    takes_value = {o for a in check._actions if a.nargs != 0 for o in a.option_strings}
    n = len(args)
    while n > 1 and args[n - 2] not in takes_value and _is_yaml_file(args[n - 1]):
        n -= 1
    return args if n == len(args) else [*args[:n], "--", *args[n:]]


def _command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first argument that is no option (the top level's options
    take no value); None after a ``--``, which argparse reads its own way."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def _is_yaml_file(arg: str) -> bool:
    return arg.endswith((".yaml", ".yml")) and os.path.isfile(arg)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command(argv))
    debug = "--debug" in argv
    stdout = sys.stdout
    sys.stdout = _PipeGuard(stdout)
    previous = _on_sigterm(_terminated)
    try:
        args = parser.parse_args(_files_last(parser, argv))
        if not getattr(args, "handler", None):
            parser.print_help()
            return EXIT_USAGE
        _resolve_hub_access(args)
        result: int = args.handler(args)
        sys.stdout.flush()
        return result
    except CheckerError as exc:
        # The message quotes committed text (keys, paths, values): one escaped line each.
        print(f"vllm-wizard: error: {terminal(exc)}", file=sys.stderr)
        for line in exc.details[1:]:
            print(f"  also: {terminal(line)}", file=sys.stderr)
        if debug:
            _traceback()
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the one place a bug becomes a message instead of a traceback
        if debug:
            _traceback()
            return EXIT_INTERNAL
        print(
            f"vllm-wizard: internal error: {type(exc).__name__}: {terminal(exc)}\n"
            "  run again with --debug for the traceback, and please report it",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    finally:
        sys.stdout = stdout
        _on_sigterm(previous)


def _traceback() -> None:
    """--debug: the traceback of the error being handled, with the exit status left as it is
    (raising it would exit 1, which the gate reads as a failing profile)."""
    import traceback

    traceback.print_exc()


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (a CI cancel, a killed hook) unwinds like Ctrl-C: temporary files are removed."""
    raise SystemExit(128 + signum)


def _on_sigterm(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM, returning the one before (only the main thread may)."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


def entry() -> None:
    # A command's objects (modules, models, catalogs) live to its end and make hardly any
    # garbage cycles (a fleet's check leaves the same hundred whatever its size; a bad profile,
    # a few dozen): the collector's passes over them while modules load, and the interpreter's
    # collections at exit, cost a cold start about a twentieth of its CPU.
    gc.set_threshold(*GC_THRESHOLDS)
    code = main()
    gc.freeze()  # the collections at exit then skip everything the run made
    raise SystemExit(code)


if __name__ == "__main__":
    entry()
