"""Step-level model of vLLM's V1 continuous-batching scheduler, pure and deterministic.

Each engine step the scheduler (vllm/v1/core/sched/scheduler.py Scheduler.schedule) first gives
every running request its next tokens - one for a decoding request, the rest of its prompt up
to the token budget for one still prefilling (chunked prefill) - then admits waiting requests
first come first served while max_num_seqs, the token budget (max_num_batched_tokens) and the
KV cache pool allow: room for the first chunk through 0.18, for the whole prompt from 0.19
(SchedulerConfig.scheduler_reserve_full_isl). When the pool cannot hold a running request's
next tokens, the request scheduled last is preempted and recomputed later (V1's only
preemption mode) - from scratch, or with prefix caching from whatever of its blocks no
allocation has reused meanwhile. A
request whose known tokens (prompt plus those generated so far) are all computed at the end of
a step emits a token. The step's duration comes from a caller's cost function, so this module
knows nothing of GPUs.

Workloads mirror `vllm bench serve`: ``concurrency`` requests in flight (--max-concurrency;
None sends all prompts at once, a burst) and optionally Poisson arrivals at ``request_rate``
(--request-rate, seeded, so the result is reproducible). The client's send loop spans exactly
prompts / rate from vLLM 0.10.0 and a random Gamma(prompts, 1 / rate) seconds before it
(``span_fixed``): the run is simulated over the mean span, and ``send_span_s`` gives the span's
quantiles for a range that carries the draw (Result.with_send_span). A prompt prefix every
request shares (--random-prefix-len) is computed once: later requests find it in the prefix
cache, whose blocks the pool holds once. Lengths are the means, or spread uniformly around them
as the random dataset's --random-range-ratio spreads them
(checker/planning/performance/lengths.py); a closed loop whose lengths vary around the means (a
ShareGPT run) has its clients drift apart (_desynchronized).

Before the engine sees a request the API server spends ``request_s`` of CPU on it (HTTP,
tokenization, for /v1/chat/completions the chat template), in one process (vLLM's default
--api-server-count 1, vllm/entrypoints/openai/cli_args.py). The completions endpoint the
recipe uses tokenizes in AsyncMicrobatchTokenizer's one worker (vllm/utils), first come first
served: a burst reaches the engine spread over N x ``request_s``. The chat endpoint renders the
chat template synchronously on the event loop before its first await
(OpenAIServing._preprocess_chat, apply_hf_chat_template), so the handlers of requests that
arrive together take turns: a processor-sharing queue, and N requests sent at once all reach the
engine after about N x ``request_s`` - the burst waits for its whole front end, then meets the
engine as one burst. (Where the release parses the chat template per request, the caller adds
that parse to ``request_s``: checker/planning/performance/perf.py chat_template_parse_s.)

Speed: the running batch is kept as totals (_Batch). Its decoding requests - all but the last
one, which may still be computing a prompt - advance a token a step on a shared clock: the
step's load comes from their count and summed context, a heap of the clock at which each
finishes says who finishes, and a request is brought up to date only when it leaves (finishes
or is preempted), so a step costs what happens in it - arrivals, admissions, preemptions,
finishes - not the requests running (the request-by-request model it reproduces exactly is
tests/planning/batching_reference.py). A run of steps in which every running request only
decodes and nothing can change the batch (no arrival due, no request finishing, the KV pool
not full, nobody admissible) is one segment: its steps differ only by one token of context per
request, so the segment costs its step count times the mean of its first and last step (exact
when a step's cost is linear in the context, as the memory-bound decode step is); segments cut
only by arrivals to a queue whose head cannot be admitted follow one another
(_Run._decode_stretch). Step costs are computed once per distinct load (a closed loop repeats
its loads wave after wave).

Past ``steady_after`` finished requests (STEADY_AFTER by default) a long run is in its steady
state, and the rest of it follows from what ran after the first quarter of them, its warm-up
(_steady): the requests still to finish keep that window's latencies, replayed in turn, and its
pace - the engine finishes one every ``d`` seconds. Where the engine is the bottleneck (a burst,
or a rate above that pace) their queue grows instead: the engine reaches each one ``d`` after
the one before, so its first token comes that much later than its window counterpart's. Held
against the full simulation of closed loops, bursts and rates below and above the engine's pace,
with fixed and spread lengths, every figure agrees within 5 % (3.4 % the worst seen; the test
test_a_long_run_follows_from_its_steady_state_within_5_percent_of_the_full_run).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from heapq import heappop, heappush
from itertools import accumulate
from operator import add, itemgetter
from typing import Literal, NamedTuple

from checker.planning.performance.lengths import request_lengths
from checker.schemas.lazy_dataclass import lazy_dataclass


@lazy_dataclass(frozen=True)
class Workload:
    prompts: int
    prompt_tokens: int
    output_tokens: int
    concurrency: int | None = None  # None: no cap (a burst, or a pure rate)
    request_rate: float | None = None  # requests per second; None: all arrive at once
    cached_prefix: int = 0  # prompt tokens every request after the first finds in the cache
    prefix_caching: bool = False  # a preempted request finds its blocks again unless evicted
    chat: bool = False  # sent to /v1/chat/completions: the API server shares its CPU
    # --random-range-ratio: lengths uniform around the means (performance/lengths.py)
    range_ratio: float = 0.0
    random_prefix: int = 0  # of prompt_tokens, the --random-prefix-len part, never sampled
    # lengths vary per request around the means modelled (a ShareGPT run): see _desynchronized
    varied_lengths: bool = False
    # at a rate, the client's sends span exactly prompts / rate (vllm bench serve from 0.10.0);
    # else it sleeps a drawn gap after every send, the last included (_arrivals)
    span_fixed: bool = True


@lazy_dataclass(frozen=True)
class Limits:
    max_num_batched_tokens: int
    max_num_seqs: int
    kv_tokens: int  # tokens the KV cache pool holds
    shared_tokens: int = 0  # of them, the cached prefix's blocks, held once for everyone
    # admit a waiting request only when the pool holds its whole prompt, not just the first
    # chunk (--scheduler-reserve-full-isl, on by default from 0.19)
    reserve_full_prompt: bool = False


class StepLoad(NamedTuple):
    """What one engine step computes, in the terms a cost model needs (a tuple: a run looks
    each step's cost up by its load)."""

    decode_requests: int
    decode_context: int  # KV tokens the decoding requests attend to, summed
    prefill_tokens: int
    prefill_requests: int
    prefill_context: int  # KV tokens already cached before each prefill chunk, summed
    prefill_attention: float  # (query token x key token) pairs of the prefill chunks


StepCost = Callable[[StepLoad], float]

# The benchmark recipe we generate (checker/render/bench.py) sends this many prompts per
# request in flight, at least _MIN_PROMPTS: enough waves for stable percentiles.
_MIN_PROMPTS = 100
_PROMPTS_PER_SLOT = 10
# Finished requests after which a run is taken to be in its steady state (_steady): above every
# run of the accuracy corpus (benchmarks/perf_accuracy.py, 1,000 simulated requests at most),
# which stays simulated in full, and a warm-up quarter of several waves of a batch of hundreds.
STEADY_AFTER = 2000


def recipe_prompts(concurrency: int) -> int:
    return max(_MIN_PROMPTS, _PROMPTS_PER_SLOT * concurrency)


@dataclass(slots=True)
class _Request:
    arrival: float  # when the client sends it (closed loop: when a slot frees)
    prompt: int
    output: int
    computed: int = 0
    generated: int = 0
    cached: int = 0  # prompt tokens the prefix cache holds for it (prefix caching)
    kept: int = 0  # tokens it had computed when preempted, their blocks free but cached
    evicted_after: int = 0  # allocations after which those blocks start to be reused
    first_token: float | None = None
    finish: float | None = None
    known: int = 0  # prompt plus the tokens generated so far
    leaves: float = 0.0  # when the API server is done with it (virtual time if it shares)
    reached: float = 0.0  # when the API server handed it to the engine (real time)
    seq: int = 0  # its place in the running batch's order: the order of admission
    mark: int = 0  # while decoding, the batch's clock when its counts above were last updated

    def __post_init__(self) -> None:
        self.known = self.prompt + self.generated


def percentile(values: Sequence[float], q: float, weights: Sequence[float] | None = None) -> float:
    """The ``q``-th percentile (0-100) as numpy's default (linear) method gives it, which
    `vllm bench serve` prints; with ``weights``, of the values repeated that many times."""
    if not values:
        return 0.0
    if weights is None:
        return _ranked(sorted(values), q)
    pairs = sorted(zip(values, weights, strict=True))
    rank, seen = q / 100 * (sum(weights) - 1), 0.0
    for value, weight in pairs:
        seen += weight
        if seen > rank:
            return value
    return pairs[-1][0]


def _ranked(ordered: Sequence[float], q: float) -> float:
    """``percentile`` of values already sorted."""
    if not ordered:
        return 0.0
    pos = q / 100 * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@lazy_dataclass(frozen=True)
class Result:
    ttft_s: list[float]
    tpot_s: list[float]
    duration_s: float
    output_tokens: int
    preemptions: int = 0
    steps: int = 0
    e2e_s: tuple[float, ...] = ()
    itl_s: tuple[tuple[float, int], ...] = ()  # (gap between two tokens, tokens with it)
    cohort: int = 1  # requests each simulated one stands for (checker/planning/performance/perf.py)
    sent_s: float = 0.0  # when the client's send loop ended (the benchmark's clock waits for it)
    steady_from: int = 0  # requests simulated before the rest followed from them; 0: all were
    # each latency series sorted, once asked for (a long run's are 100,000 long)
    _sorted: dict[str, list[float]] = field(default_factory=dict, init=False, compare=False)

    @property
    def output_tok_s(self) -> float:
        return self.output_tokens / self.duration_s if self.duration_s else 0.0

    @property
    def request_per_s(self) -> float:
        return len(self.ttft_s) * self.cohort / self.duration_s if self.duration_s else 0.0

    def median_ttft_s(self) -> float:
        return self.percentile_s("ttft_s", 50)

    def median_tpot_s(self) -> float:
        return self.percentile_s("tpot_s", 50)

    def percentile_s(self, series: Literal["ttft_s", "tpot_s", "e2e_s"], q: float) -> float:
        """The ``q``-th percentile of a latency series, as ``percentile``."""
        ordered = self._sorted.get(series)
        if ordered is None:
            ordered = self._sorted[series] = sorted(getattr(self, series))
        return _ranked(ordered, q)

    def itl_percentile_s(self, q: float) -> float:
        return percentile([v for v, _ in self.itl_s], q, [w for _, w in self.itl_s])

    def with_send_span(self, span_s: float) -> Result:
        """The run had the client's send loop lasted ``span_s``: the benchmark's duration is
        the span plus whatever the last responses took beyond it (the tail)."""
        tail = max(0.0, self.duration_s - self.sent_s)
        return replace(self, duration_s=span_s + tail, sent_s=span_s)


def send_span_s(work: Workload, quantile: float) -> float:
    """The ``quantile`` (0-1) of how long `vllm bench serve` takes to send ``work`` at its rate
    (perf_constants.yaml bench_rate_span_fixed_from): exactly prompts / rate where the client
    rescales its draws; else the sum of one exponential gap per prompt, Gamma(prompts, 1 / rate),
    by the Wilson-Hilferty cube-root normal approximation (within 0.25 % of the exact Erlang
    quantile at 3 prompts, 0.05 % from 10); 0 without a rate."""
    if work.request_rate is None:
        return 0.0
    mean = work.prompts / work.request_rate
    if work.span_fixed:
        return mean
    from statistics import NormalDist  # only a request rate needs it: kept off each start

    z = NormalDist().inv_cdf(quantile)
    n = work.prompts
    return mean * max(0.0, 1 - 1 / (9 * n) + z / (3 * math.sqrt(n))) ** 3


def _arrivals(work: Workload) -> tuple[float, ...]:
    """Send times as `vllm bench serve` draws them (vllm/benchmarks/serve.py get_request),
    exponential gaps over the mean span, prompts / rate: from 0.10.0 the gaps' running sums,
    so the last request goes out at exactly that span; before, the first goes out at once and
    each later one a gap after the one before, the last gap slept after the last send. All at
    0 without a rate."""
    if work.request_rate is None:
        return (0.0,) * work.prompts
    return _poisson_sends(work.prompts, work.request_rate, work.span_fixed)


@lru_cache(maxsize=4)  # both ends of a range run the same workload
def _poisson_sends(prompts: int, rate: float, span_fixed: bool) -> tuple[float, ...]:
    draw = random.Random(0).expovariate  # noqa: S311 - a reproducible schedule, not security
    times = list(accumulate(draw(rate) for _ in range(prompts)))
    scale = prompts / rate / times[-1]
    if not span_fixed:
        times = [0.0, *times[:-1]]
    return tuple([a * scale for a in times])


def _desynchronized(sizes: list[tuple[int, int]], concurrency: int) -> list[tuple[int, int]]:
    """A closed loop whose requests vary in length (ShareGPT) frees its slots at different
    times, so after the first wave each new request meets the others mid-decode, alone;
    requests of one length sent together would instead finish, and be replaced, together for
    the whole run (vllm bench serve sends the first --max-concurrency requests at once). With
    only the mean known, the first wave's outputs are spread evenly over (0, 2 x mean) - the
    k-th of C gets (2k + 1) / C of the mean, the wave's total kept to rounding - and the mean-length
    requests that replace them keep those staggered finishing times."""
    wave = min(concurrency, len(sizes))
    spread = [
        (prompt, max(1, round(output * (2 * k + 1) / wave)))
        for k, (prompt, output) in enumerate(sizes[:wave])
    ]
    return spread + sizes[wave:]


def _decodes(batch: int, computed: int, ahead: int) -> StepLoad:
    """The load of a decode-only step of ``batch`` requests that have ``computed`` tokens
    between them, ``ahead`` tokens later."""
    return StepLoad(batch, computed + batch * (ahead + 1), 0, 0, 0, 0.0)


def simulate(
    work: Workload,
    limits: Limits,
    step_s: StepCost,
    request_s: float = 0.0,
    *,
    ahead: bool = False,
    steady_after: int | None = STEADY_AFTER,
) -> Result:
    """Run ``work`` to completion; ``request_s`` is the API server's CPU time on each request
    before the engine sees it (HTTP, tokenization, the chat template). ``ahead``: the engine
    schedules each step while the step before it runs (async scheduling: v1/engine/core.py
    EngineCore.step_with_batch_queue with a batch queue of 2, v1/executor/multiproc_executor.py
    max_concurrent_batches), so a request that reaches a busy engine joins the step after the
    one already scheduled - one step later than without it. Past ``steady_after`` finished
    requests (None: never) the rest of the run follows from its steady state (_steady)."""
    queue = _Queue.of(work, limits, steady_after)
    run = _Run(work, limits, step_s, request_s, ahead=ahead, sends=deque(queue.requests))
    warm: _Warm | None = None
    while len(run.done) < queue.stop:
        if run.step() and warm is None and len(run.done) >= queue.stop // 4:
            warm = _Warm(len(run.done), len(run.itl), run.steps, run.preemptions)
    return queue.report(run.done, run.itl, run.steps, run.preemptions, warm)


class _Warm(NamedTuple):
    """The warm-up's end, once a quarter of the simulated requests have finished: requests
    finished, ITL entries, steps and preemptions by then."""

    done: int
    itl: int
    steps: int
    preemptions: int


@dataclass(frozen=True)
class _Queue:
    """The requests of a run as the client sends them, and how many of them finish before the
    rest follows from the steady state (``stop``)."""

    work: Workload
    sizes: list[tuple[int, int]]  # (prompt, output) tokens of every request
    arrivals: tuple[float, ...]  # when the client sends each
    stop: int
    requests: list[_Request]  # those simulated: the first ``line``

    @classmethod
    def of(cls, work: Workload, limits: Limits, steady_after: int | None) -> _Queue:
        sizes = request_lengths(
            work.prompts,
            work.prompt_tokens - work.random_prefix,
            work.output_tokens,
            work.range_ratio,
            work.random_prefix,
        )
        if work.varied_lengths and work.concurrency:
            sizes = _desynchronized(sizes, work.concurrency)
        arrivals = _arrivals(work)
        stop = work.prompts
        if steady_after is not None and work.prompts > max(2, steady_after):
            stop = max(2, steady_after)
        # A fresh request is admitted first come first served, and only while no preempted
        # one waits, so with at most done + running requests admitted: none past the first
        # stop + max_num_seqs in line joins the batch before the run stops. The
        # first-come-first-served API server hands each over regardless of those behind it,
        # so they are left out (the steady state completes them); a shared one (chat) is
        # slowed by every request in it.
        line = work.prompts
        if stop < work.prompts and not work.chat:
            line = min(work.prompts, stop + limits.max_num_seqs)
        requests: list[_Request] = []
        for i, (a, (prompt, output)) in enumerate(zip(arrivals[:line], sizes, strict=False)):
            # vLLM recomputes at least a prompt's last token, whatever the cache holds
            hit = min(work.cached_prefix, prompt - 1) if i else 0
            requests.append(_Request(a, prompt, output, computed=hit, cached=hit))
        return cls(work, sizes, arrivals, stop, requests)

    def report(
        self,
        done: list[_Request],
        itl: list[tuple[float, int]],
        steps: int,
        preemptions: int,
        warm: _Warm | None,
    ) -> Result:
        """The run as `vllm bench serve` reports it: the requests ``done`` (in the order they
        finished), completed from their steady state where the run stopped early."""
        work = self.work
        # the client's send loop ends with the last send (or, before 0.10.0, the gap slept
        # after it)
        sent = work.prompts / work.request_rate if work.request_rate else 0.0
        result = Result(
            ttft_s=[(r.first_token or 0.0) - r.arrival for r in done],
            tpot_s=[_tpot(r) for r in done if r.output > 1],
            # from the benchmark's start: the first request is sent one gap in at a rate
            duration_s=max(sent, *(r.finish or 0.0 for r in done)),
            output_tokens=sum(r.output for r in done),
            preemptions=preemptions,
            steps=steps,
            e2e_s=tuple((r.finish or 0.0) - r.arrival for r in done),
            itl_s=tuple(itl),
            sent_s=sent,
        )
        if len(done) == work.prompts or warm is None:
            return result
        line = len(self.requests)
        rest = [r for r in self.requests if r.finish is None]  # in order of arrival
        return _steady(
            result,
            done,
            [r.arrival for r in rest] + list(self.arrivals[line:]),
            sum(r.output for r in rest) + sum(map(itemgetter(1), self.sizes[line:])),
            warm,
            engine_bound=work.concurrency is None,
            rate=work.request_rate,
        )


class _Batch:
    """The running requests in the scheduler's order - the order they were admitted in - kept
    so that a step costs what changes in it, not what runs. The decoding requests (each
    computes the token it emitted the step before) advance a token a step together, on a
    shared clock, and each is brought up to date only when it leaves the batch; their totals
    give the step's load and a heap of the clock at which each will finish tells who finishes.
    The others - the last request, while it computes its prompt in chunks (or again after
    preemption), and those admitted this step - wait in ``tail`` until they emit a token. They
    all come after the decoding ones: a request is admitted only while the token budget lasts,
    so none is admitted after one that got only part of the tokens it needs."""

    def __init__(self) -> None:
        self.decoding: dict[int, _Request] = {}  # by ``seq``: inserted, so iterated, in order
        self.tail: list[_Request] = []
        self.clock = 0  # decode steps run so far
        self.context = 0  # the decoding requests' computed tokens, summed
        self.cached = 0  # of those, the prefix cache's
        self.ends: list[tuple[int, int, _Request]] = []  # (clock it finishes at, seq, request)
        self.seq = 0

    def __len__(self) -> int:
        return len(self.decoding) + len(self.tail)

    def held(self) -> int:
        """KV tokens the running requests hold beyond the shared prefix's blocks."""
        held = self.context - self.cached
        for r in self.tail:
            held += r.computed - r.cached
        return held

    def admit(self, r: _Request) -> None:
        """``r`` joins the batch, last."""
        self.seq += 1
        r.seq = self.seq
        self.tail.append(r)

    def pop_last(self) -> _Request:
        """The request scheduled last, up to date and out of the batch (the one preempted)."""
        if self.tail:
            return self.tail.pop()
        r = self.decoding.popitem()[1]
        self._leave(r)
        return r

    def advance(self, steps: int) -> None:
        """The decoding requests run ``steps`` decode steps."""
        self.clock += steps
        self.context += len(self.decoding) * steps

    def next_end(self) -> int:
        """The clock at which the first decoding request finishes."""
        ends = self.ends
        while not self._current(ends[0]):
            heappop(ends)
        return ends[0][0]

    def finish(self, t: float) -> list[_Request]:
        """The decoding requests whose last token this step emitted, in order, out of the
        batch; then the tail's requests that emitted one join the decoding."""
        out = []
        ends = self.ends
        while ends and ends[0][0] <= self.clock:
            entry = heappop(ends)
            if self._current(entry):
                r = entry[2]
                self._leave(r)
                r.finish = t
                out.append(r)
        if not self.tail:
            return out
        tail, self.tail = self.tail, []
        for r in tail:
            if r.finish is not None:
                continue
            if r.first_token is not None and r.computed == r.known - 1:  # it decodes
                self._join(r)
            else:
                self.tail.append(r)
        return out

    def _current(self, entry: tuple[int, int, _Request]) -> bool:
        """Whether a heap entry is a running request's (a preempted one leaves its entry
        behind, and comes back under a new ``seq``)."""
        return self.decoding.get(entry[1]) is entry[2]

    def _join(self, r: _Request) -> None:
        r.mark = self.clock
        self.decoding[r.seq] = r
        self.context += r.computed
        self.cached += r.cached
        heappush(self.ends, (self.clock + r.output - r.generated, r.seq, r))

    def _leave(self, r: _Request) -> None:
        self._sync(r)
        self.decoding.pop(r.seq, None)
        self.context -= r.computed
        self.cached -= r.cached

    def _sync(self, r: _Request) -> None:
        behind = self.clock - r.mark
        r.computed += behind
        r.generated += behind
        r.known += behind
        r.mark = self.clock


class _Run:
    """One simulated `vllm bench serve` run: the client, the API server, the engine's waiting
    queue and its running batch, played a step (or a stretch of like decode steps) at a time."""

    def __init__(
        self,
        work: Workload,
        limits: Limits,
        step_s: StepCost,
        request_s: float,
        *,
        ahead: bool,
        sends: deque[_Request],
    ) -> None:
        self.work, self.limits, self.step_s, self.ahead = work, limits, step_s, ahead
        self.sends = sends  # not yet sent by the client, in order
        self.cap = work.concurrency or work.prompts
        self.front = _FrontEnd(request_s, shared=work.chat)
        self.waiting: deque[_Request] = deque()
        self.batch = _Batch()
        self.done: list[_Request] = []
        self.itl: list[tuple[float, int]] = []
        self.costs: dict[StepLoad, float] = {}
        self.in_flight, self.t, self.preemptions, self.steps = 0, 0.0, 0, 0
        self.freed = 0.0  # when a slot last freed
        self.allocated = 0  # KV tokens allocated so far: the free queue's clock
        self.started = 0.0  # when the step that just ended started, and (ahead) chose the next

    def cost(self, load: StepLoad) -> float:
        # a pure function of the load, and loads recur: a closed loop repeats its waves
        known = self.costs.get(load)
        if known is None:
            known = self.costs[load] = self.step_s(load)
        return known

    def step(self) -> bool:
        """One engine step, or a stretch of decode steps; False where the engine only waited
        for a request, or a stretch ended where the next step must be chosen afresh."""
        self.receive()
        if not self.batch and not self.waiting:
            due = _next_event(self.sends, self.front, self.in_flight < self.cap)
            if due == math.inf:
                raise RuntimeError("no request can be scheduled")  # unreachable: cap >= 1
            self.t = max(self.t, due)
            return False
        before = self.preemptions
        used, budget, decoders, scheduled = self._schedule_running()
        admitted = False
        # a step that preempted admits no one (Scheduler.schedule: `if not preempted_reqs`)
        while self.preemptions == before and self.admissible(used, budget):
            r = self.waiting.popleft()
            hit = _cache_hit(r, self.allocated)
            n = min(r.known - hit, budget)
            used += hit - r.computed + n
            r.computed, r.kept = hit, 0
            self.batch.admit(r)
            scheduled.append((r, n))
            budget -= n
            self.allocated += n
            admitted = True
        if not decoders and not scheduled:
            raise RuntimeError("the KV cache cannot hold one request's prompt")
        load = _load(decoders, self.batch.context + decoders, scheduled)
        step, repeat = self.cost(load), 1
        if not admitted and not scheduled and decoders == len(self.batch):
            step, repeat, resume = self._decode_stretch(step, used)
            if resume:
                return False
        self._end_step(step, repeat, decoders, scheduled)
        return True

    def receive(self) -> None:
        """The client sends what is due by ``t``; the engine's queue takes what the API server
        has handed over by the time the step is chosen."""
        sends = self.sends
        while sends and self.in_flight < self.cap and sends[0].arrival <= self.t:
            r = sends.popleft()
            if self.work.concurrency is not None:  # a closed loop sends when a slot frees
                r.arrival = max(r.arrival, self.freed)
            self.front.send(r)
            self.in_flight += 1
        self.waiting.extend(self.front.until(self.started if self.ahead and self.batch else self.t))

    def admissible(self, used: int, budget: int) -> bool:
        """Whether the head of the queue can join the running batch now."""
        limits = self.limits
        if not self.waiting or len(self.batch) >= limits.max_num_seqs or budget <= 0:
            return False
        r = self.waiting[0]
        hit = _cache_hit(r, self.allocated)
        n = min(r.known - hit, budget)
        # Scheduler.schedule allocates the first chunk's slots only; from 0.19 it first
        # checks that the whole prompt fits (KVCacheManager.can_fit_full_sequence), so a
        # long prompt no longer starts in a nearly full pool only to be preempted
        reserved = r.known - hit if limits.reserve_full_prompt else n
        return used + hit - r.computed + reserved <= limits.kv_tokens

    def _schedule_running(self) -> tuple[int, int, int, list[tuple[_Request, int]]]:
        """Each running request, in order, gets its next tokens - one for a decoding request,
        the rest of its prompt for one prefilling - while the token budget lasts; where the KV
        pool cannot hold them, the request scheduled last is preempted until it can. Returns
        the KV tokens then used, the budget left, how many decoding requests were scheduled
        and the tail's requests with their tokens. Every decoding request gets its token: each
        request in the batch took at least one token of a step's budget when it was admitted,
        so the batch never holds more requests than the budget has tokens."""
        limits, batch = self.limits, self.batch
        kv = limits.kv_tokens
        used = limits.shared_tokens + batch.held()
        budget = limits.max_num_batched_tokens
        decoders = 0
        while decoders < len(batch.decoding):
            if used + 1 > kv:
                used -= self._preempt(used)
                continue
            # the decoding requests up to the next preemption, at once
            fit = min(len(batch.decoding) - decoders, kv - used)
            decoders += fit
            budget -= fit
            used += fit
            self.allocated += fit
        scheduled: list[tuple[_Request, int]] = []
        i = 0
        while i < len(batch.tail):
            r = batch.tail[i]
            n = min(r.known - r.computed, budget)
            if used + n > kv:
                used -= self._preempt(used)  # the last: this one or one after it
                continue
            if n > 0:
                scheduled.append((r, n))
                budget -= n
                used += n
                self.allocated += n
            i += 1
        return used, budget, decoders, scheduled

    def _preempt(self, used: int) -> int:
        """Preempt the request scheduled last; the KV tokens it gives back."""
        victim = self.batch.pop_last()
        freed = victim.computed - victim.cached
        if self.work.prefix_caching:
            # its blocks join the end of the free queue: allocations take the free blocks ahead
            # of them first (v1/core/block_pool.py FreeKVCacheBlockQueue)
            victim.kept = victim.computed
            victim.evicted_after = self.allocated + max(0, self.limits.kv_tokens - used)
        victim.computed = victim.cached  # the shared prefix stays cached
        self.waiting.appendleft(victim)
        self.preemptions += 1
        return freed

    def _decode_stretch(self, step: float, used: int) -> tuple[float, int, bool]:
        """Decode-only steps of the whole batch, ``step`` seconds the first, run in segments
        of like steps (_segment) while all that happens is arrivals to a queue whose head
        cannot be admitted. Returns the step time and length of the segment in which a request
        finishes, left for _end_step to run, and whether the stretch ended before it instead,
        where the next step must be chosen afresh (``used``: KV tokens the first step holds)."""
        limits, batch = self.limits, self.batch
        size = len(batch.decoding)
        left = batch.next_end() - batch.clock  # steps to the first finish
        context = batch.context  # computed tokens before this step
        lag = 0  # decode steps run and not yet applied to the batch
        while True:
            due = _next_event(self.sends, self.front, self.in_flight < self.cap)
            repeat = _segment(left - lag, limits.kv_tokens - used, size, (due - self.t) / step)
            if repeat > 1:
                step = (step + self.cost(_decodes(size, context, repeat - 1))) / 2
            if repeat >= left - lag:
                break  # a request finishes: the segment ends the stretch
            self._run_steps(step, repeat, size)
            self.itl.append((step, size * repeat))
            lag += repeat
            context += size * repeat
            used += size * (repeat - 1)  # what the next step starts from
            self.receive()
            if not self._decodes_again(used, size):
                batch.advance(lag)
                return step, repeat, True
            used += size
            step = self.cost(_decodes(size, context, 0))
        batch.advance(lag)
        return step, repeat, False

    def _decodes_again(self, used: int, size: int) -> bool:
        """Whether the scheduler's next step is another decode step of the same ``size``
        requests - the token budget and the KV pool (``used`` tokens so far) hold it and the
        queue's head cannot join - whose tokens are then allocated."""
        limits = self.limits
        if size > limits.max_num_batched_tokens or used + size > limits.kv_tokens:
            return False
        self.allocated += size  # the prefix cache's clock counts them before admission asks
        if self.admissible(used + size, limits.max_num_batched_tokens - size):
            self.allocated -= size
            return False
        return True

    def _run_steps(self, step: float, repeat: int, scheduled: int) -> None:
        """The clock runs ``repeat`` like steps of ``step`` seconds, ``scheduled`` requests
        each (the first step's tokens are allocated when it is scheduled)."""
        self.started = self.t + step * (repeat - 1)
        self.t += step * repeat
        self.steps += repeat
        self.allocated += (repeat - 1) * scheduled

    def _end_step(
        self,
        step: float,
        repeat: int,
        decoders: int,
        scheduled: list[tuple[_Request, int]],
    ) -> None:
        """The step (``repeat`` like steps) has run: tokens are emitted, requests finish."""
        self._run_steps(step, repeat, decoders + len(scheduled))
        t = self.t
        self.batch.advance(repeat)
        decoded = decoders * repeat
        last: list[_Request] = []  # the tail's requests that emitted their last token
        for r, n in scheduled:
            r.computed += n + repeat - 1
            if r.computed < r.known + repeat - 1:
                continue
            if r.first_token is None:
                r.first_token = t
            else:
                decoded += repeat
            r.generated += repeat
            r.known += repeat
            if r.generated >= r.output:
                r.finish = t
                last.append(r)
        # the decoding requests come first in the batch's order, then the tail's
        finished = self.batch.finish(t) + last
        if finished:
            self.done += finished
            self.in_flight -= len(finished)
            self.freed = t
        if decoded:
            self.itl.append((step, decoded))


def _tpot(r: _Request) -> float:
    return ((r.finish or 0.0) - (r.first_token or 0.0)) / (r.output - 1)


def _steady(
    result: Result,
    done: list[_Request],
    rest: list[float],
    rest_output: int,
    warm: _Warm,
    *,
    engine_bound: bool,
    rate: float | None,
) -> Result:
    """``result`` of the requests ``done`` so far, completed by the rest - sent at the times
    ``rest``, ``rest_output`` tokens out between them - in the steady state
    of ``done`` past its warm-up (the window): the k-th request still to finish, in order of
    arrival, repeats window request k mod W one window's span later. A closed loop sends a
    request when one finishes, and an open workload whose rate the engine keeps up with sees
    no queue grow: the request keeps its counterpart's latencies. An open workload the engine
    cannot keep up with (a burst, or a rate above one request per ``d``, the window's span per
    request) queues: the engine reaches each request ``d`` after the one before, so its first
    token comes at the counterpart's shifted by the window's span, not before its own arrival
    plus the counterpart's TTFT."""
    window = done[warm.done :]
    start = done[warm.done - 1].finish or 0.0
    span = (window[-1].finish or 0.0) - start
    # the client sends span x rate requests over the window's span, as a Poisson count: the
    # engine keeps up unless that exceeds what it finished by three standard deviations
    sent = math.inf if rate is None else span * rate
    queues = engine_bound and sent > len(window) + 3 * math.sqrt(len(window))
    size = len(window)
    first = [r.first_token or 0.0 for r in window]
    waited = [f - r.arrival for f, r in zip(first, window, strict=True)]
    decoding = [(r.finish or 0.0) - f for f, r in zip(first, window, strict=True)]
    tpots = [_tpot(r) if r.output > 1 else None for r in window]
    latency: list[float] = []
    e2e: list[float] = []
    tpot: list[float] = []
    last = -math.inf
    # a window's worth of the rest at a time, the k-th one window span after the window
    for k, begin in enumerate(range(0, len(rest), size), start=1):
        sends = rest[begin : begin + size]
        shift = k * span
        if queues:  # max(reached, waited), written out: the hot loop of a long run
            waits = [
                w if w > (reached := f + shift - s) else reached
                for s, f, w in zip(sends, first, waited, strict=False)
            ]
        else:
            waits = waited[: len(sends)]
        ends = list(map(add, waits, decoding))
        if engine_bound:
            last = max(last, *map(add, sends, ends))
        else:  # a closed loop sends a request when a slot frees: its send moves with the window
            last = max(
                last, *(f + d + shift for f, d, _ in zip(first, decoding, sends, strict=False))
            )
        latency += waits
        e2e += ends
        tpot += [v for v in tpots[: len(sends)] if v is not None]
    share = len(rest) / len(window)
    itl = [(gap, round(tokens * share)) for gap, tokens in result.itl_s[warm.itl :]]
    return replace(
        result,
        ttft_s=result.ttft_s + latency,
        tpot_s=result.tpot_s + tpot,
        duration_s=max(result.duration_s, last),
        output_tokens=result.output_tokens + rest_output,
        preemptions=result.preemptions + round((result.preemptions - warm.preemptions) * share),
        steps=result.steps + round((result.steps - warm.steps) * share),
        e2e_s=result.e2e_s + tuple(e2e),
        itl_s=result.itl_s + tuple(p for p in itl if p[1]),
        steady_from=len(done),
    )


class _FrontEnd:
    """The API server's CPU: first come first served, or (``shared``) a processor-sharing queue
    whose requests share it equally. Equal work makes the first in the first out either way; a
    shared queue keeps a virtual clock that runs at 1 / (requests in it)."""

    def __init__(self, work_s: float, *, shared: bool) -> None:
        self.work_s = work_s
        self.shared = shared
        self.queue: deque[_Request] = deque()
        self.done: list[_Request] = []  # handed over, not yet collected by ``until``
        self.clock = 0.0  # real time up to which the queue is played
        self.virtual = 0.0  # CPU seconds each request in a shared queue has had so far
        self.busy = 0.0  # when a first-come-first-served server finishes what it holds

    def send(self, r: _Request) -> None:
        self._run(max(r.arrival, self.clock))
        if self.shared:
            r.leaves = self.virtual + self.work_s
        else:
            r.leaves = self.busy = max(self.busy, r.arrival) + self.work_s
        self.queue.append(r)

    def until(self, t: float) -> list[_Request]:
        """The requests handed to the engine by ``t`` and not collected before (a send may
        have played the queue past ``t``: those handed over later stay)."""
        self._run(t)
        out = [r for r in self.done if r.reached <= t]
        self.done = [r for r in self.done if r.reached > t]
        return out

    def due(self) -> float:
        """When the next request leaves, if no other arrives."""
        if not self.queue:
            return math.inf
        if not self.shared:
            return self.queue[0].leaves
        return self.clock + (self.queue[0].leaves - self.virtual) * len(self.queue)

    def _run(self, t: float) -> None:
        while self.queue and self.due() <= t:
            self.clock = self.due()
            if self.shared:
                self.virtual = self.queue[0].leaves
            r = self.queue.popleft()
            r.reached = self.clock
            self.done.append(r)
        if self.shared and self.queue and t > self.clock:
            self.virtual += (t - self.clock) / len(self.queue)
        self.clock = max(self.clock, t)


def _next_event(pending: deque[_Request], front: _FrontEnd, slot: bool) -> float:
    """When the engine's queue next grows: the API server hands over a request, or the client
    sends one (only while a slot is free)."""
    due = front.due()
    if pending and slot:
        due = min(due, pending[0].arrival)
    return due


def _cache_hit(r: _Request, allocated: int) -> int:
    """Tokens a (re)admitted request finds computed: its shared prefix, and what survives of
    the blocks it had when preempted - vLLM frees a request's blocks tail first, so its prefix
    outlives the rest (v1/core/single_type_kv_cache_manager.py free); at least the last known
    token is computed again."""
    lost = max(0, allocated - r.evicted_after)
    return min(max(r.cached, r.kept - lost), r.known - 1)


def _segment(to_finish: int, kv_free: int, batch: int, steps_to_arrival: float) -> int:
    """Identical decode-only steps of ``batch`` requests that can run from now before the batch
    changes: until the first request finishes (in ``to_finish`` steps), the KV pool fills, or
    the next arrival is due (admitted at the first step boundary after it; the steps before it
    run at about this step's pace)."""
    steps = min(to_finish, 1 + kv_free // batch)
    if steps_to_arrival < steps:
        steps = math.ceil(steps_to_arrival)
    return max(1, steps)


def _load(decoders: int, decoders_context: int, scheduled: list[tuple[_Request, int]]) -> StepLoad:
    """The load of a step that schedules ``decoders`` decoding requests, attending to
    ``decoders_context`` tokens between them, and the requests ``scheduled`` their tokens."""
    decode_n, decode_ctx = decoders, decoders_context
    pre_tokens = pre_n = pre_ctx = 0
    pairs = 0.0
    for r, n in scheduled:
        if r.computed >= r.prompt and n == 1:
            decode_n += 1
            decode_ctx += r.computed + 1
        else:
            pre_n += 1
            pre_tokens += n
            pre_ctx += r.computed
            pairs += n * r.computed + n * (n + 1) / 2  # causal: each token sees those before
    return StepLoad(decode_n, decode_ctx, pre_tokens, pre_n, pre_ctx, pairs)
