"""Lambda, request by request (event mode) or second by second (fluid mode).

An execution environment serves one request at a time. A request first passes the HTTP API's stage
throttle (a token bucket: rate limit, burst limit from template.yaml), else 429. Then it takes an idle
environment (the most recently used: Lambda keeps reusing warm ones, so the surplus ages out after the
idle lifetime), else a new one starts (a cold start: measured init + service) if the concurrency limit
(reserved concurrency, else the account quota) and the scaling rate (a token bucket of 1,000 new
environments refilled at 100/s) allow, else a 429 throttle. Provisioned environments are always warm.

The replicas a run reports for Lambda are the environments alive (busy, idle or in INIT).

Fluid mode (per second): n accepted requests offer a = n × E[S] concurrent executions (Little's law);
the environments a second needs are the most any arrival sees, Poisson(a) + itself at the 1 − 1/(n+1)
quantile (PASTA); warm environments are those any second in the last idle lifetime needed (LIFO reuse);
the shortfall starts cold, within the scaling tokens. Throttles at the concurrency limit follow Erlang's
loss formula B(limit, a), exact for Poisson arrivals whatever the service time.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy import stats

from costmodel.simulate.result import Latencies, PlatformRun
from costmodel.simulate.service_times import ServiceTimes

FLUID_SAMPLES = 8  # latency samples drawn per second and kind in fluid mode


@dataclass(frozen=True)
class LambdaSim:
    memory_mb: int
    concurrency_limit: int
    provisioned: int
    idle_lifetime_s: float
    scaling_burst: float
    scaling_refill: float
    api_rate: float | None  # None: no HTTP API in front (function URL)
    api_burst: float
    host_cpus: float | None = None  # one machine (the local emulator): environments share its CPUs


def erlang_b(servers: int, load: float) -> float:
    """Erlang's loss formula B(c, a), by the stable recursion."""
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def _loss(servers: float, load: float) -> float:
    """B(c, a) for a fractional c (linear between neighbours); 0 where c is far above a (the recursion is O(c))."""
    if load <= 0:
        return 0.0
    if servers > load + 12 * math.sqrt(load) + 12:
        return 0.0
    low = math.floor(servers)
    frac = servers - low
    below = erlang_b(low, load)
    return below if frac == 0 else (1 - frac) * below + frac * (load * below / (low + 1 + load * below))


def settled_environments(rate: float, mean_s: float, idle_lifetime_s: float) -> int:
    """Warm environments a steady ``rate`` keeps alive: the most in use at once over an idle lifetime."""
    if rate <= 0:
        return 0
    arrivals = rate * idle_lifetime_s
    return int(stats.poisson.ppf(1 - 1 / (arrivals + 1), rate * mean_s)) + 1


def simulate_events(
    times: np.ndarray,
    seconds: int,
    cfg: LambdaSim,
    svc: ServiceTimes,
    rng: np.random.Generator,
    initial_warm: int = 0,
) -> tuple[PlatformRun, dict]:
    """Every request in order, from ``initial_warm`` idle environments; returns the run and the billing."""
    n = times.size
    service = svc.lambda_warm.sample(rng, n)
    cold_init = svc.cold_sample(rng, n)
    latency = np.full(n, np.nan)
    served = np.zeros(seconds, dtype=np.int64)
    peak = np.zeros(seconds, dtype=np.int64)
    busy: list[float] = []  # free times of busy on-demand environments
    busy_pc: list[float] = []
    idle: deque[float] = deque([0.0] * initial_warm)  # free times of idle environments, newest on the right
    idle_pc = cfg.provisioned
    api_tokens, api_last = cfg.api_burst, 0.0
    scale_tokens, scale_last = cfg.scaling_burst, 0.0
    cold = throttled = api_throttled = 0
    billed_ms = init_ms = 0.0
    life = cfg.idle_lifetime_s
    for i in range(n):
        a = float(times[i])
        while busy and busy[0] <= a:
            idle.append(heapq.heappop(busy))
        while busy_pc and busy_pc[0] <= a:
            heapq.heappop(busy_pc)
            idle_pc += 1
        while idle and idle[0] < a - life:
            idle.popleft()
        if cfg.api_rate is not None:
            api_tokens = min(cfg.api_burst, api_tokens + (a - api_last) * cfg.api_rate)
            api_last = a
            if api_tokens < 1:
                api_throttled += 1
                continue
            api_tokens -= 1
        s = float(service[i])
        if cfg.host_cpus:  # processor sharing on one machine, fixed when the request starts
            s *= max(1.0, (len(busy) + len(busy_pc) + 1) / cfg.host_cpus)
        if idle_pc:
            idle_pc -= 1
            heapq.heappush(busy_pc, a + s)
            latency[i] = s
        elif idle:
            idle.pop()
            heapq.heappush(busy, a + s)
            latency[i] = s
        else:
            scale_tokens = min(cfg.scaling_burst, scale_tokens + (a - scale_last) * cfg.scaling_refill)
            scale_last = a
            if len(busy) + len(busy_pc) >= cfg.concurrency_limit or scale_tokens < 1:
                throttled += 1
                continue
            scale_tokens -= 1
            cold += 1
            init = float(cold_init[i])
            init_ms += math.ceil(init * 1000)
            heapq.heappush(busy, a + init + s)
            latency[i] = init + s
        billed_ms += math.ceil(s * 1000)
        sec = min(int(a), seconds - 1)
        served[sec] += 1
        alive = len(busy) + len(busy_pc) + len(idle) + idle_pc
        if alive > peak[sec]:
            peak[sec] = alive
    ok = ~np.isnan(latency)
    lat = Latencies(latency[ok], np.ones(int(ok.sum())), np.minimum(times[ok].astype(np.int64), seconds - 1))
    offered = np.bincount(np.minimum(times.astype(np.int64), seconds - 1), minlength=seconds)
    run = PlatformRun(
        "lambda", "event", offered, served, peak, lat, cold_starts=cold, throttled=throttled + api_throttled
    )
    return run, {
        "invocations": int(ok.sum()),
        "billed_ms": billed_ms,
        "init_ms": init_ms,
        "api_requests": n - api_throttled,
    }


def simulate_fluid(
    counts: np.ndarray, cfg: LambdaSim, svc: ServiceTimes, rng: np.random.Generator, initial_warm: int = 0
) -> tuple[PlatformRun, dict]:
    """Second by second with expected values, from ``initial_warm`` environments; see the module docstring."""
    seconds = counts.size
    mean_s = svc.lambda_warm.mean_s
    n = counts.astype(np.float64)
    # HTTP API stage throttle: a token bucket, per second
    if cfg.api_rate is not None:
        accepted = np.empty(seconds)
        tokens = cfg.api_burst
        for t in range(seconds):
            tokens = min(cfg.api_burst, tokens + cfg.api_rate)
            take = min(n[t], math.floor(tokens))
            accepted[t] = take
            tokens -= take
        api_throttled = n - accepted
    else:
        accepted, api_throttled = n, np.zeros(seconds)
    load = accepted * mean_s
    # the most environments any arrival of the second sees busy, itself included (PASTA)
    peak = np.where(accepted > 0, stats.poisson.ppf(1 - 1 / (accepted + 1), load) + 1, 0).astype(np.int64)
    init_s = float(np.mean(svc.lambda_cold_ms)) / 1000
    init_len = max(1, math.ceil(init_s))
    life = max(1, round(cfg.idle_lifetime_s))
    limit = cfg.concurrency_limit
    window: deque[tuple[int, float]] = deque([(0, float(initial_warm))])  # (second, environments used), decreasing
    starting: deque[tuple[int, float]] = deque()  # (second started, cold starts) still in INIT
    cold = np.zeros(seconds)
    limit_loss = np.zeros(seconds)
    scale_throttled = np.zeros(seconds)
    used = np.zeros(seconds)
    warm_after = np.zeros(seconds)  # environments alive (busy, idle or in INIT) at the end of each second
    tokens = cfg.scaling_burst
    in_init = 0.0
    for t in range(seconds):
        while window and window[0][0] <= t - life:
            window.popleft()
        while starting and starting[0][0] <= t - init_len:
            in_init -= starting.popleft()[1]
        alive = max(window[0][1] if window else 0.0, float(cfg.provisioned))
        tokens = min(cfg.scaling_burst, tokens + cfg.scaling_refill)
        n_t, a_t = accepted[t], load[t]
        started = 0.0
        if n_t > 0:
            # arrivals that find every warm environment busy start a new one (Erlang's loss formula)
            missed = n_t * _loss(max(0.0, alive - in_init), a_t)
            if a_t + in_init > 0.5 * limit:
                limit_loss[t] = n_t * _loss(float(limit), a_t + in_init)
            room = max(0.0, limit - alive)
            wanted = max(0.0, min(missed - limit_loss[t], room))
            started = min(wanted, math.floor(tokens))
            tokens -= started
            scale_throttled[t] = wanted - started
            cold[t] = started
            in_init += started
            starting.append((t, started))
        # a cold start means every environment was busy at once; otherwise the second's peak concurrency
        used[t] = alive + started if started > 0 else min(alive, peak[t] + in_init)
        while window and window[-1][1] <= used[t]:
            window.pop()
        window.append((t, float(used[t])))
        warm_after[t] = max(window[0][1], float(cfg.provisioned))
    throttled = api_throttled + limit_loss + scale_throttled
    ran = np.maximum(accepted - limit_loss - scale_throttled, 0)
    cold = np.minimum(cold, ran)
    warm_requests = ran - cold
    parts = []
    for kind, count in (("warm", warm_requests), ("cold", cold)):
        active = np.flatnonzero(count > 0)
        k = np.minimum(count[active], FLUID_SAMPLES).astype(np.int64)
        k = np.maximum(k, 1)
        sec = np.repeat(active, k)
        weight = np.repeat(count[active] / k, k)
        values = svc.lambda_warm.sample(rng, sec.size)
        if kind == "cold":
            values = values + svc.cold_sample(rng, sec.size)
        parts.append(Latencies(values, weight, sec))
    lat = Latencies.concat(parts)
    run = PlatformRun(
        "lambda",
        "fluid",
        counts,
        ran,
        np.ceil(used).astype(np.int64),
        lat,
        cold_starts=float(cold.sum()),
        throttled=float(throttled.sum()),
    )
    billed_ms_mean = float(np.mean(np.ceil(svc.lambda_warm.sample(rng, 20_000) * 1000)))
    init_ms_mean = float(np.mean(np.ceil(svc.cold_sample(rng, 20_000) * 1000)))
    billing = {
        "invocations": float(ran.sum()),
        "billed_ms": float(ran.sum()) * billed_ms_mean,
        "init_ms": float(cold.sum()) * init_ms_mean,
        "api_requests": float(accepted.sum()),
    }
    return run, billing
