"""The step-level scheduler model with its running batch kept request by request: every step
touches every running request, as vLLM's Scheduler.schedule does. Too slow for a long run, it
is the reference the batch's totals (checker/planning/performance/batching.py _Batch) must
reproduce exactly; test_batching.py holds them against each other on random workloads."""

from __future__ import annotations

import math
from collections import deque

from checker.planning.performance.batching import (
    STEADY_AFTER,
    Limits,
    Result,
    StepCost,
    StepLoad,
    Workload,
    _cache_hit,
    _decodes,
    _FrontEnd,
    _load,
    _next_event,
    _Queue,
    _Request,
    _segment,
    _Warm,
)


def simulate(
    work: Workload,
    limits: Limits,
    step_s: StepCost,
    request_s: float = 0.0,
    *,
    ahead: bool = False,
    steady_after: int | None = STEADY_AFTER,
) -> Result:
    """As batching.simulate, a request at a time."""
    queue = _Queue.of(work, limits, steady_after)
    pending = deque(queue.requests)
    warm: _Warm | None = None
    costs: dict[StepLoad, float] = {}

    def cost(load: StepLoad) -> float:
        known = costs.get(load)
        if known is None:
            known = costs[load] = step_s(load)
        return known

    cap = work.concurrency or work.prompts
    front = _FrontEnd(request_s, shared=work.chat)
    waiting: deque[_Request] = deque()
    running: list[_Request] = []
    done: list[_Request] = []
    finished: list[_Request] = []
    itl: list[tuple[float, int]] = []
    in_flight, t, preemptions, steps = 0, 0.0, 0, 0
    freed = 0.0
    allocated = 0
    started = 0.0

    def receive() -> None:
        nonlocal in_flight
        while pending and in_flight < cap and pending[0].arrival <= t:
            r = pending.popleft()
            if work.concurrency is not None:
                r.arrival = max(r.arrival, freed)
            front.send(r)
            in_flight += 1
        waiting.extend(front.until(started if ahead and running else t))

    def admissible(used: int, budget: int) -> bool:
        if not waiting or len(running) >= limits.max_num_seqs or budget <= 0:
            return False
        r = waiting[0]
        hit = _cache_hit(r, allocated)
        n = min(r.known - hit, budget)
        reserved = r.known - hit if limits.reserve_full_prompt else n
        return used + hit - r.computed + reserved <= limits.kv_tokens

    while len(done) < queue.stop:
        receive()
        if not running and not waiting:
            due = _next_event(pending, front, in_flight < cap)
            if due == math.inf:
                raise RuntimeError("no request can be scheduled")
            t = max(t, due)
            continue
        budget = limits.max_num_batched_tokens
        scheduled: list[tuple[_Request, int]] = []
        before = preemptions
        used = limits.shared_tokens + sum([r.computed - r.cached for r in running])
        i = 0
        while i < len(running):
            r = running[i]
            n = min(r.known - r.computed, budget)
            while used + n > limits.kv_tokens and len(running) > i:
                victim = running.pop()
                used -= victim.computed - victim.cached
                if work.prefix_caching:
                    victim.kept = victim.computed
                    free_first = limits.kv_tokens - used - (victim.computed - victim.cached)
                    victim.evicted_after = allocated + max(0, free_first)
                victim.computed = victim.cached
                waiting.appendleft(victim)
                preemptions += 1
            if len(running) <= i:
                break
            if n > 0:
                scheduled.append((r, n))
                budget -= n
                used += n
                allocated += n
            i += 1
        admitted = False
        while preemptions == before and admissible(used, budget):
            r = waiting.popleft()
            hit = _cache_hit(r, allocated)
            n = min(r.known - hit, budget)
            used += hit - r.computed + n
            r.computed, r.kept = hit, 0
            running.append(r)
            scheduled.append((r, n))
            budget -= n
            allocated += n
            admitted = True
        if not scheduled:
            raise RuntimeError("the KV cache cannot hold one request's prompt")
        load = _load(0, 0, scheduled)
        step, repeat = cost(load), 1
        if not admitted and not load.prefill_requests and len(scheduled) == len(running):
            # decode-only steps in segments of like steps, the requests brought up to date after
            batch = len(running)
            left = min([r.output - r.generated for r in running])
            context = load.decode_context - batch
            lag = 0
            resume = False
            while True:
                due = _next_event(pending, front, in_flight < cap)
                repeat = _segment(left - lag, limits.kv_tokens - used, batch, (due - t) / step)
                if repeat > 1:
                    step = (step + cost(_decodes(batch, context, repeat - 1))) / 2
                if repeat >= left - lag:
                    break
                started = t + step * (repeat - 1)
                t += step * repeat
                steps += repeat
                allocated += (repeat - 1) * batch
                itl.append((step, batch * repeat))
                lag += repeat
                context += batch * repeat
                used += batch * (repeat - 1)
                receive()
                resume = batch > limits.max_num_batched_tokens or used + batch > limits.kv_tokens
                allocated += batch
                if resume or admissible(used + batch, limits.max_num_batched_tokens - batch):
                    allocated -= batch
                    resume = True
                    break
                used += batch
                step = cost(_decodes(batch, context, 0))
            if lag:
                for r in running:
                    r.computed += lag
                    r.generated += lag
                    r.known += lag
                scheduled = [(r, 1) for r in running]
            if resume:
                continue
        started = t + step * (repeat - 1)
        t += step * repeat
        steps += repeat
        allocated += (repeat - 1) * len(scheduled)
        decoded = 0
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
                finished.append(r)
        if finished:
            gone = {id(r) for r in finished}
            running = [r for r in running if id(r) not in gone]
            done += finished
            in_flight -= len(finished)
            freed = t
            finished.clear()
        if decoded:
            itl.append((step, decoded))
        if warm is None and len(done) >= queue.stop // 4:
            warm = _Warm(len(done), len(itl), steps, preemptions)
    return queue.report(done, itl, steps, preemptions, warm)
