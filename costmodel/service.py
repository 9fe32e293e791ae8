"""What the cost model knows about the service itself: how long a request takes, how much one CPU core
serves within the p99 budget, how slow a cold start is. Each value carries its origin.

The defaults below are ASSUMPTIONS, used until `--from-results DIR` finds measurements (see
`costmodel.results`) or a flag sets the value. They are deliberately round numbers for the int8
MiniLM-L6 model on one CPU core; the README's "Cost model" section lists them with the same origins.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

ASSUMED = "assumed default (documented in costmodel/service.py), until --from-results"

# Lambda: billed duration of one warm request (handler + tokenizer + int8 model, one short text) at
# 2048 MB (about 1.16 vCPU; Lambda allots 1 vCPU per 1,769 MB).
DEFAULT_LAMBDA_DURATION_MS = 20.0
DEFAULT_LAMBDA_MEMORY_MB = 2048
# Client-observed p99 of warm requests, and the latency of a cold start (container image with
# onnxruntime: image pull, Python imports, model load). The INIT phase is billed too.
DEFAULT_LAMBDA_WARM_P99_MS = 60.0
DEFAULT_LAMBDA_COLD_START_MS = 3000.0
# New execution environments per day (scale-out plus Lambda recycling idle environments), capped at the
# day's request count. Not measured by the load test; set it with --cold-starts-per-day.
DEFAULT_COLD_STARTS_PER_DAY = 50.0
# Containers: requests per second one CPU core serves with p99 within the budget (the capacity "knee"),
# and that budget. Fargate tasks and EKS pods get knee-per-core × their vCPU.
DEFAULT_RPS_PER_CORE = 50.0
DEFAULT_P99_BUDGET_MS = 100.0
# Lambda allots CPU in proportion to memory: one full vCPU at 1,769 MB.
LAMBDA_MB_PER_VCPU = 1769.0


@dataclass(frozen=True)
class CapacityStep:
    """One step of the container capacity probe: offered load and what it achieved."""

    offered_rps: float
    achieved_rps: float
    p99_ms: float
    failures: int


@dataclass(frozen=True)
class ServiceProfile:
    """Measured or assumed facts about the service; ``sources`` maps each field to where it came from."""

    lambda_duration_ms: float = DEFAULT_LAMBDA_DURATION_MS
    lambda_memory_mb: int = DEFAULT_LAMBDA_MEMORY_MB
    lambda_warm_p99_ms: float = DEFAULT_LAMBDA_WARM_P99_MS
    lambda_cold_start_ms: float = DEFAULT_LAMBDA_COLD_START_MS
    cold_starts_per_day: float = DEFAULT_COLD_STARTS_PER_DAY
    rps_per_core: float = DEFAULT_RPS_PER_CORE
    p99_budget_ms: float = DEFAULT_P99_BUDGET_MS
    # p99 of a container serving at or below its knee; by definition of the knee, at most the budget.
    container_p99_ms: float = DEFAULT_P99_BUDGET_MS
    capacity_steps: tuple[CapacityStep, ...] = ()
    capacity_cpus: float | None = None
    # Measured on the deployed shapes (image targets): a task's and a pod's knee at their own vCPU, and the
    # vCPU it was measured at; None: derived as RPS per core × vCPU.
    rps_per_task: float | None = None
    rps_per_task_vcpu: float | None = None
    rps_per_pod: float | None = None
    rps_per_pod_vcpu: float | None = None
    # The EKS-shape run's own capacity steps and p99 at its knee; () / None: the container run's.
    pod_capacity_steps: tuple[CapacityStep, ...] = ()
    pod_p99_ms: float | None = None
    # Billed INIT per cold start (the runtime's init as the RIE reports it); None: the cold-start latency.
    lambda_init_ms: float | None = None
    sources: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def source(self, name: str) -> str:
        return self.sources.get(name, ASSUMED)

    def with_value(self, name: str, value: object, origin: str) -> ServiceProfile:
        """A copy with one field set, recording its origin."""
        return replace(self, **{name: value}, sources={**self.sources, name: origin})

    def with_note(self, note: str) -> ServiceProfile:
        return replace(self, notes=(*self.notes, note))

    def rps_per_core_within(self, slo_ms: float) -> tuple[float, CapacityStep] | None:
        """Highest measured RPS per core whose p99 met ``slo_ms`` without failures, from the capacity steps."""
        if not self.capacity_cpus:
            return None
        best = step_within(self.capacity_steps, slo_ms)
        return None if best is None else (best.achieved_rps / self.capacity_cpus, best)


def step_within(steps: tuple[CapacityStep, ...], slo_ms: float) -> CapacityStep | None:
    """The step with the highest achieved RPS whose p99 met ``slo_ms`` without failures, or None."""
    fitting = [s for s in steps if s.p99_ms <= slo_ms and s.failures == 0 and s.achieved_rps > 0]
    return max(fitting, key=lambda s: s.achieved_rps) if fitting else None


DEFAULT_SERVICE = ServiceProfile()
