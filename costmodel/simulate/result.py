"""What a simulated platform did: per-second series, latency samples, counts and the period's cost."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The q-quantile of ``values`` with ``weights`` (inverse of the weighted CDF); NaN when empty."""
    if values.size == 0 or weights.sum() <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    index = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(values[order][min(index, values.size - 1)])


@dataclass
class Latencies:
    """Latency samples (s), each standing for ``weight`` requests, and the second each arrived in."""

    values: np.ndarray
    weights: np.ndarray
    seconds: np.ndarray

    @classmethod
    def concat(cls, parts: list[Latencies]) -> Latencies:
        parts = [p for p in parts if p.values.size]
        if not parts:
            return cls(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("values", "weights", "seconds")))

    def quantile(self, q: float) -> float:
        return weighted_quantile(self.values, self.weights, q)

    def weight_over(self, threshold_s: float) -> float:
        return float(self.weights[self.values > threshold_s].sum())

    def rolling_quantile(self, q: float, bin_s: int, seconds: int, start: int = 0) -> np.ndarray:
        """The q-quantile of each ``bin_s``-second window of [start, seconds) (NaN where nothing was served)."""
        keep = (self.seconds >= start) & (self.seconds < seconds)
        bins = (self.seconds[keep] - start) // bin_s
        out = np.full((seconds - start + bin_s - 1) // bin_s, np.nan)
        if bins.size == 0:
            return out
        order = np.lexsort((self.values[keep], bins))
        b, v, w = bins[order], self.values[keep][order], self.weights[keep][order]
        edges = np.flatnonzero(np.diff(b)) + 1
        for start, stop in zip(np.r_[0, edges], np.r_[edges, b.size], strict=True):
            cum = np.cumsum(w[start:stop])
            i = int(np.searchsorted(cum, q * cum[-1]))
            out[b[start]] = v[start + min(i, stop - start - 1)]
        return out


@dataclass
class PlatformRun:
    """One platform's simulated period."""

    platform: str
    mode: str  # "event" or "fluid"
    offered: np.ndarray  # requests offered per second
    served: np.ndarray  # requests that started service per second
    replicas: np.ndarray  # serving environments / tasks / pods per second
    latencies: Latencies
    cold_starts: float = 0.0
    throttled: float = 0.0  # refused with 429 (API Gateway or Lambda)
    dropped: float = 0.0  # timed out at the load balancer
    nodes: np.ndarray | None = None
    cost: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total_cost(self) -> float:
        return sum(self.cost.values())

    @property
    def requests(self) -> float:
        return float(self.offered.sum())

    @property
    def failed(self) -> float:
        return self.throttled + self.dropped

    def percentile_ms(self, q: float) -> float:
        return self.latencies.quantile(q) * 1000

    def share_over_slo(self, slo_ms: float) -> float:
        """Share of offered requests not answered within the SLO: slower ones, throttled and dropped."""
        if self.requests <= 0:
            return 0.0
        return (self.latencies.weight_over(slo_ms / 1000) + self.failed) / self.requests

    def summary(self, slo_ms: float) -> dict:
        return {
            "platform": self.platform,
            "mode": self.mode,
            "requests": self.requests,
            "p50_ms": self.percentile_ms(0.50),
            "p95_ms": self.percentile_ms(0.95),
            "p99_ms": self.percentile_ms(0.99),
            "share_over_slo": self.share_over_slo(slo_ms),
            "cold_starts": self.cold_starts,
            "throttled": self.throttled,
            "dropped": self.dropped,
            "peak_replicas": int(self.replicas.max()) if self.replicas.size else 0,
            "peak_nodes": int(self.nodes.max()) if self.nodes is not None and self.nodes.size else None,
            "cost_usd": self.total_cost,
            "cost_items_usd": dict(self.cost),
            "notes": list(self.notes),
        }
