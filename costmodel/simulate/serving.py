"""Requests through the ready container workers: a central first-come-first-served queue (M/G/c).

Each ready task or pod runs ``workers`` workers, each serving one request at a time. The load balancer
is idealised as one queue in front of every worker (the ALB's and kube-proxy's spreading are not
modelled); a request still waiting after the ALB's idle timeout is dropped (504).

- ``EventServing``: every request in order; a heap holds each worker's next free time. Removed
  workers are the idlest; new ones are free from the second they become ready.
- ``FluidServing``: per second, c workers of mean service time m serve up to c/m requests; the rest
  wait in a backlog B. A request arriving at fraction u of the second finds the fluid queue
  Q(u) = max(0, B + (n − c/m) u) and waits Q(u) m / c; when Q(u) = 0 it waits as in a stationary M/G/c
  queue at utilisation ρ = n m / c: with Erlang C's probability, an exponential time of mean
  m (1 + cs²) / 2 / (c (1 − ρ)) (the Allen–Cunneen approximation; cs² the service time's squared
  coefficient of variation).
"""

from __future__ import annotations

import heapq

import numpy as np

from costmodel.simulate.result import Latencies
from costmodel.simulate.service_times import LogNormal

FLUID_SAMPLES = 8
RHO_CAP = 0.99


class EventServing:
    mode = "event"

    def __init__(self, times: np.ndarray, seconds: int, service: LogNormal, timeout_s: float, rng):
        self.times = times
        self.bounds = np.searchsorted(times, np.arange(seconds + 1, dtype=np.float64), side="left")
        self.bounds[-1] = times.size
        self.service = service.sample(rng, times.size)
        self.latency = np.full(times.size, np.nan)
        self.free: list[float] = []
        self.timeout = timeout_s
        self.dropped = 0

    def set_servers(self, count: int, t: int) -> None:
        while len(self.free) < count:
            heapq.heappush(self.free, float(t))
        while len(self.free) > count:
            heapq.heappop(self.free)

    def serve(self, t: int) -> tuple[float, float]:
        """Serve the arrivals of second t; returns (requests started, busy fraction of the workers)."""
        start, stop = int(self.bounds[t]), int(self.bounds[t + 1])
        free, busy = self.free, 0.0
        if not free:
            raise RuntimeError("no ready worker")  # min tasks/pods ≥ 1 keeps this from happening
        for i in range(start, stop):
            a = self.times[i]
            s = self.service[i]
            begin = free[0] if free[0] > a else a
            heapq.heapreplace(free, begin + s)
            wait = begin + s - a
            if wait > self.timeout:
                self.dropped += 1
            else:
                self.latency[i] = wait
            busy += s
        return float(stop - start), min(1.0, busy / len(free))

    def latencies(self, seconds: int) -> Latencies:
        ok = ~np.isnan(self.latency)
        return Latencies(
            self.latency[ok], np.ones(int(ok.sum())), np.minimum(self.times[ok].astype(np.int64), seconds - 1)
        )


def erlang_c(servers: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Erlang C probability of waiting, for each (c, a) pair with a < c."""
    result = np.zeros(servers.size)
    b = np.ones(servers.size)
    for k in range(1, int(servers.max(initial=0)) + 1):
        b = load * b / (k + load * b)
        hit = servers == k
        result[hit] = b[hit]
    rho = np.where(servers > 0, load / np.maximum(servers, 1), 0)
    return np.where(servers > 0, result / (1 - rho * (1 - result)), 1.0)


class FluidServing:
    mode = "fluid"

    def __init__(self, counts: np.ndarray, service: LogNormal, timeout_s: float, rng):
        self.counts = counts.astype(np.float64)
        self.service = service
        self.timeout = timeout_s
        self.rng = rng
        seconds = counts.size
        self.servers_at = np.zeros(seconds, dtype=np.int64)
        self.backlog_at = np.zeros(seconds)
        self.servers = 0
        self.backlog = 0.0
        self.dropped = 0.0

    def set_servers(self, count: int, t: int) -> None:
        self.servers = count

    def serve(self, t: int) -> tuple[float, float]:
        n, c, m = self.counts[t], self.servers, self.service.mean_s
        self.servers_at[t], self.backlog_at[t] = c, self.backlog
        cap = c / m
        work = self.backlog + n
        served = min(work, cap)
        left = work - served
        limit = cap * self.timeout
        if left > limit:
            self.dropped += left - limit
            left = limit
        self.backlog = left
        return served, (served * m / c if c else 0.0)

    def latencies(self, seconds: int) -> Latencies:
        active = np.flatnonzero(self.counts > 0)
        n = self.counts[active]
        c = self.servers_at[active].astype(np.float64)
        backlog = self.backlog_at[active]
        m = self.service.mean_s
        cap = c / m
        k = np.maximum(np.minimum(n, FLUID_SAMPLES), 1).astype(np.int64)
        sec = np.repeat(active, k)
        weight = np.repeat(n / k, k)
        # stratified arrival instants within each second
        offset = np.arange(sec.size) - np.repeat(np.cumsum(k) - k, k)
        u = (offset + 0.5) / np.repeat(k, k)
        queue = np.maximum(0.0, np.repeat(backlog, k) + (np.repeat(n - cap, k)) * u)
        wait = np.minimum(queue / np.repeat(cap, k), self.timeout)  # beyond it: dropped, counted in serve
        rho = np.minimum(n * m / np.maximum(c, 1), RHO_CAP)
        p_wait = erlang_c(c.astype(np.int64), rho * c)
        mean_wait = m * (1 + self.service.scv) / 2 / (np.maximum(c, 1) * (1 - rho))
        waits = self.rng.random(sec.size) < np.repeat(p_wait, k)
        random_wait = np.where(waits, self.rng.exponential(1.0, sec.size) * np.repeat(mean_wait, k), 0.0)
        values = np.where(queue > 0, wait, random_wait) + self.service.sample(self.rng, sec.size)
        return Latencies(values, weight, sec)
