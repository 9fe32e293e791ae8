"""Service times the simulator draws from: measured (`--from-results DIR`) or the documented defaults.

- Lambda warm: log-normal with mean = the cost model's billed duration (``--duration-ms``: measured
  ``lambda.billed_duration_ms.median`` or the default) and the spread p99/p50 of
  ``lambda.billed_duration_ms`` when the Lambda summary records both, else the constants file's ratio.
- Lambda cold start: the measured cold starts (``cold_starts.durations_ms``) drawn uniformly, else the
  single value ``--init-ms``.
- Containers: one worker serves one request at a time; the mean is set so a task or pod serves exactly
  the cost model's RPS per task/pod (``rps_per_core`` × vCPU, the measured capacity knee) at full
  utilisation: mean = workers / (RPS per core × vCPU). The spread is p99/p50 of the container summary's
  ``latency_ms`` when recorded, else the constants file's ratio.

The summaries record no latency per text length, so one distribution stands for the load test's mix.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from costmodel.results import CONTAINER, LAMBDA, classify

Z99 = 2.3263478740408408  # standard normal 99th percentile


@dataclass(frozen=True)
class LogNormal:
    """A log-normal service time given by its mean (s) and its p99 / p50 ratio."""

    mean_s: float
    p99_over_p50: float

    @property
    def sigma(self) -> float:
        return math.log(max(self.p99_over_p50, 1.0)) / Z99

    @property
    def scv(self) -> float:
        """Squared coefficient of variation."""
        return math.expm1(self.sigma**2)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        sigma = self.sigma
        mu = math.log(self.mean_s) - sigma**2 / 2
        return rng.lognormal(mu, sigma, size) if sigma > 0 else np.full(size, self.mean_s)


@dataclass(frozen=True)
class Empirical:
    """Service times drawn from measured values (s), with replacement."""

    values: tuple[float, ...]

    @property
    def mean_s(self) -> float:
        return float(np.mean(self.values))

    @property
    def scv(self) -> float:
        return float(np.var(self.values) / np.mean(self.values) ** 2)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(np.asarray(self.values), size)


@dataclass(frozen=True)
class ServiceTimes:
    lambda_warm: LogNormal | Empirical
    lambda_cold_ms: tuple[float, ...]
    container_per_core_rps: float
    container_spread: float
    sources: dict[str, str]

    def container(self, workers: int, vcpu: float) -> LogNormal:
        return LogNormal(workers / (self.container_per_core_rps * vcpu), self.container_spread)

    def cold_sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(np.asarray(self.lambda_cold_ms) / 1000, size) if size else np.zeros(0)


def _summaries(directory: Path) -> dict[str, dict]:
    """The newest local summary of each kind (as `costmodel.results` picks them)."""
    found: dict[str, list[tuple[bool, float, Path, dict]]] = {CONTAINER: [], LAMBDA: []}
    files = sorted(directory.glob("*/summary.json")) + (
        [directory / "summary.json"] * (directory / "summary.json").is_file()
    )
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        kind = classify(data.get("target")) if isinstance(data, dict) else None
        if kind:
            found[kind].append((str(data.get("target", "")).startswith("local-"), path.stat().st_mtime, path, data))
    return {kind: max(items, key=lambda c: c[:2])[2:] for kind, items in found.items() if items}


def _ratio(block: object, high: str, low: str) -> float | None:
    if not isinstance(block, dict):
        return None
    hi, lo = block.get(high), block.get(low)
    if isinstance(hi, int | float) and isinstance(lo, int | float) and lo > 0 and hi >= lo:
        return float(hi) / float(lo)
    return None


def service_times(
    duration_ms: float,
    duration_origin: str,
    init_ms: float,
    init_origin: str,
    rps_per_core: float,
    rps_origin: str,
    default_spread: float,
    results_dir: Path | None = None,
) -> ServiceTimes:
    """The distributions, with each one's origin in ``sources``."""
    lambda_spread = container_spread = default_spread
    spread_origin = "assumed spread (constants.yaml containers.service_time_p99_over_p50)"
    sources = {
        "lambda_warm_mean": duration_origin,
        "lambda_warm_spread": spread_origin,
        "lambda_cold": init_origin,
        "container_mean": f"1 / RPS per core: {rps_origin}",
        "container_spread": spread_origin,
    }
    cold: tuple[float, ...] = (init_ms,)
    if results_dir is not None and Path(results_dir).is_dir():
        picked = _summaries(Path(results_dir))
        if LAMBDA in picked:
            path, data = picked[LAMBDA]
            ratio = _ratio((data.get("lambda") or {}).get("billed_duration_ms"), "p99", "median")
            if ratio:
                lambda_spread = ratio
                sources["lambda_warm_spread"] = f"{path}: lambda.billed_duration_ms p99/median"
            durations = (data.get("cold_starts") or {}).get("durations_ms") or []
            durations = [float(d) for d in durations if isinstance(d, int | float) and d > 0]
            if durations:
                cold = tuple(durations)
                sources["lambda_cold"] = f"{path}: cold_starts.durations_ms ({len(durations)} measured)"
        if CONTAINER in picked:
            path, data = picked[CONTAINER]
            ratio = _ratio(data.get("latency_ms"), "p99", "median")
            if ratio:
                container_spread = ratio
                sources["container_spread"] = f"{path}: latency_ms p99/median"
    return ServiceTimes(LogNormal(duration_ms / 1000, lambda_spread), cold, rps_per_core, container_spread, sources)
