"""`recommend`: the cheapest platform that meets a p99 latency SLO and the cold-start requirement.

The latency side is explicit data (`latency_facts`), each value with its origin:

- Lambda. p99: the warm p99 (``lambda_warm_p99_ms``), or the cold-start latency instead when cold starts
  are at least 1% of requests (then they are the p99). Cold starts: yes, unless provisioned concurrency
  covers the peak concurrency.
- Fargate, EKS. p99: the container p99 at the sizing point (``container_p99_ms``: the p99 budget the knee
  was measured at; for EKS the EKS-shape run's, ``pod_p99_ms``, when there is one). Cold starts: no;
  tasks and pods run before traffic reaches them.

Rules, per platform:
- Lambda fails when it has cold starts and they are not acceptable, or when its p99 is above the SLO.
  When it fails only because of cold starts, it is costed again with provisioned concurrency covering the
  peak, ``ceil(peak concurrency / target utilisation)``, and judged again.
- Fargate and EKS fail when the container p99 is above the SLO, unless the capacity probe's steps show a
  lower load whose p99 met the SLO; then the cost is recomputed at that step's load (fewer requests per
  task, more tasks). When the RPS per task (pod) was measured in the deployed shape (the image target, at
  the task's or pod's own vCPU), the step's RPS is the RPS per task (pod), from that shape's own steps;
  otherwise RPS per core is re-derived from the step. An explicit --rps-per-task/--rps-per-pod is never
  re-sized.
The recommendation is the cheapest platform that passes; the runner-up is the next one that passes, or
the cheapest that fails when only one passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from costmodel.model import PLATFORM_LABELS, PLATFORMS, ModelInputs, PlatformCost, platform_cost
from costmodel.pricing import Pricing
from costmodel.service import CapacityStep, ServiceProfile, step_within

COLD_START_P99_SHARE = 0.01  # cold starts at or above 1% of requests set the p99


@dataclass(frozen=True)
class Option:
    platform: str
    label: str
    cost: PlatformCost
    p99_ms: float
    p99_source: str
    cold_starts: bool
    meets: bool
    reasons: tuple[str, ...]

    def to_json(self) -> dict:
        return {
            "platform": self.platform,
            "label": self.label,
            "monthly_usd": self.cost.total,
            "per_1k_requests_usd": self.cost.per_1k_requests,
            "p99_ms": self.p99_ms,
            "p99_source": self.p99_source,
            "cold_starts": self.cold_starts,
            "meets_requirements": self.meets,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Recommendation:
    daily_requests: int
    p99_slo_ms: float
    cold_starts_acceptable: bool
    options: tuple[Option, ...]  # cheapest first
    recommended: Option | None
    runner_up: Option | None

    def to_json(self) -> dict:
        return {
            "daily_requests": self.daily_requests,
            "p99_slo_ms": self.p99_slo_ms,
            "cold_starts_acceptable": self.cold_starts_acceptable,
            "recommended": self.recommended.to_json() if self.recommended else None,
            "runner_up": self.runner_up.to_json() if self.runner_up else None,
            "options": [o.to_json() for o in self.options],
        }


def latency_facts(profile: ServiceProfile) -> dict[str, dict]:
    """The latency and cold-start data `recommend` judges by, with origins."""
    container = {
        "p99_ms": profile.container_p99_ms,
        "p99_source": profile.source("container_p99_ms"),
        "cold_starts": "no: tasks/pods run before traffic reaches them",
    }
    return {
        "lambda": {
            "warm_p99_ms": profile.lambda_warm_p99_ms,
            "warm_p99_source": profile.source("lambda_warm_p99_ms"),
            "cold_start_ms": profile.lambda_cold_start_ms,
            "cold_start_source": profile.source("lambda_cold_start_ms"),
            "cold_starts": "yes, unless provisioned concurrency covers the peak concurrency",
        },
        "fargate": dict(container),
        "eks": dict(container, p99_ms=_container_p99("eks", profile)[0], p99_source=_container_p99("eks", profile)[1]),
    }


def _judge_lambda(cost: PlatformCost, profile: ServiceProfile, slo: float, cold_ok: bool, label: str) -> Option:
    d = cost.derived
    cold = not d["provisioned_covers_peak"]
    share = d["cold_starts_per_month"] / cost.monthly_requests if cost.monthly_requests else 0.0
    if cold and share >= COLD_START_P99_SHARE:
        p99 = profile.lambda_cold_start_ms
        source = f"cold starts are {share * 100:.2g}% of requests: {profile.source('lambda_cold_start_ms')}"
    else:
        p99, source = profile.lambda_warm_p99_ms, profile.source("lambda_warm_p99_ms")
    reasons, meets = [], True
    if cold and not cold_ok:
        meets = False
        reasons.append("has cold starts (no provisioned concurrency covering the peak) and they are not acceptable")
    elif cold:
        reasons.append(
            f"cold starts accepted: about {d['cold_starts_per_day']:,.0f} a day, {share * 100:.2g}% of requests, "
            f"~{profile.lambda_cold_start_ms:,.0f} ms each"
        )
    else:
        reasons.append(
            f"provisioned concurrency {d['provisioned_concurrency']} covers "
            f"the peak concurrency {d['peak_concurrency']:.3g}"
        )
    if p99 > slo:
        meets = False
        reasons.append(f"p99 {p99:,.0f} ms is above the {slo:,.0f} ms SLO")
    else:
        reasons.append(f"p99 {p99:,.0f} ms is within the {slo:,.0f} ms SLO")
    return Option("lambda", label, cost, p99, source, cold, meets, tuple(reasons))


def _lambda_option(
    daily: int, inputs: ModelInputs, profile: ServiceProfile, pricing: Pricing, slo: float, cold_ok: bool
) -> Option:
    cost = platform_cost("lambda", daily, inputs, pricing)
    pc = inputs.lambda_.provisioned_concurrency
    label = f"Lambda + provisioned concurrency {pc}" if pc else "Lambda"
    first = _judge_lambda(cost, profile, slo, cold_ok, label)
    if first.meets or not first.cold_starts or profile.lambda_warm_p99_ms > slo:
        return first
    need = max(pc + 1, math.ceil(cost.derived["peak_concurrency"] / inputs.target_utilization))
    covered = replace(inputs, lambda_=replace(inputs.lambda_, provisioned_concurrency=need))
    cost = platform_cost("lambda", daily, covered, pricing)
    second = _judge_lambda(cost, profile, slo, cold_ok, f"Lambda + provisioned concurrency {need}")
    why = "cold starts are not acceptable" if not cold_ok else "cold starts would set the p99"
    return replace(
        second,
        reasons=(
            f"{why}: provisioned concurrency {need} = ceil(peak concurrency "
            f"{first.cost.derived['peak_concurrency']:.3g} / {inputs.target_utilization:g}) added",
            *second.reasons,
        ),
    )


def _container_p99(platform: str, profile: ServiceProfile) -> tuple[float, str]:
    """The p99 at the sizing point: the EKS-shape run's for pods when it was measured, else the container run's."""
    if platform == "eks" and profile.pod_p99_ms is not None:
        return profile.pod_p99_ms, profile.source("pod_p99_ms")
    return profile.container_p99_ms, profile.source("container_p99_ms")


def _measured_in_shape(platform: str, inputs: ModelInputs, profile: ServiceProfile) -> bool:
    """Whether the RPS per task (pod) in ``inputs`` is the one measured in the deployed shape, at its own vCPU."""
    if platform == "fargate":
        given, measured, at, vcpu = (
            inputs.fargate.rps_per_task,
            profile.rps_per_task,
            profile.rps_per_task_vcpu,
            inputs.fargate.task_vcpu,
        )
    else:
        given, measured, at, vcpu = (
            inputs.eks.rps_per_pod,
            profile.rps_per_pod,
            profile.rps_per_pod_vcpu,
            inputs.eks.pod_vcpu,
        )
    return given is not None and given == measured and at == vcpu


def _container_option(
    platform: str, daily: int, inputs: ModelInputs, profile: ServiceProfile, pricing: Pricing, slo: float
) -> Option:
    label = PLATFORM_LABELS[platform]
    given = inputs.fargate.rps_per_task if platform == "fargate" else inputs.eks.rps_per_pod
    in_shape = _measured_in_shape(platform, inputs, profile)
    p99, source = _container_p99(platform, profile)
    if p99 <= slo:
        cost = platform_cost(platform, daily, inputs, pricing)
        reasons = ("no cold starts", f"p99 {p99:,.0f} ms at the sizing point is within the {slo:,.0f} ms SLO")
        return Option(platform, label, cost, p99, source, False, True, reasons)
    if in_shape:
        return _resized_in_shape(platform, daily, inputs, profile, pricing, slo, (p99, source))
    resized = None if given is not None else profile.rps_per_core_within(slo)
    if resized is None:
        cost = platform_cost(platform, daily, inputs, pricing)
        why = (
            "explicit --rps-per-task/--rps-per-pod is not re-sized"
            if given is not None
            else "no measured load met it (run the capacity probe and pass --from-results)"
        )
        reasons = ("no cold starts", f"p99 {p99:,.0f} ms is above the {slo:,.0f} ms SLO; {why}")
        return Option(platform, label, cost, p99, source, False, False, reasons)
    per_core, step = resized
    cost = platform_cost(platform, daily, replace(inputs, rps_per_core=per_core), pricing)
    how = (
        f"{step.achieved_rps:g} RPS on {profile.capacity_cpus:g} cores kept p99 at {step.p99_ms:g} ms, "
        f"so {per_core:.2f} RPS per core instead of {profile.rps_per_core:.2f}"
    )
    return _resized_option(platform, label, cost, step, slo, how, profile.source("capacity_steps"))


def _resized_option(
    platform: str, label: str, cost: PlatformCost, step: CapacityStep, slo: float, how: str, steps_source: str
) -> Option:
    """A container option re-sized to the capacity step ``step`` that met the SLO; ``how`` says how it was sized."""
    reasons = (
        "no cold starts",
        f"re-sized for the SLO: {how}",
        f"p99 {step.p99_ms:,.0f} ms is within the {slo:,.0f} ms SLO",
    )
    source = f"{steps_source}: step at {step.achieved_rps:g} RPS"
    return Option(platform, f"{label} (re-sized)", cost, step.p99_ms, source, False, True, reasons)


def _resized_in_shape(
    platform: str,
    daily: int,
    inputs: ModelInputs,
    profile: ServiceProfile,
    pricing: Pricing,
    slo: float,
    knee_p99: tuple[float, str],
) -> Option:
    """Re-size a task (pod) from the capacity steps measured in its own shape: RPS per task, not per core."""
    label, unit = PLATFORM_LABELS[platform], "task" if platform == "fargate" else "pod"
    steps_field = "capacity_steps" if platform == "fargate" or not profile.pod_capacity_steps else "pod_capacity_steps"
    step = step_within(getattr(profile, steps_field), slo)
    knee = inputs.rps_per_task if platform == "fargate" else inputs.rps_per_pod
    if step is None:
        cost = platform_cost(platform, daily, inputs, pricing)
        p99, source = knee_p99
        reasons = (
            "no cold starts",
            f"p99 {p99:,.0f} ms is above the {slo:,.0f} ms SLO; no step measured in the {unit}'s shape met it "
            f"({profile.source(steps_field)})",
        )
        return Option(platform, label, cost, p99, source, False, False, reasons)
    if platform == "fargate":
        resized = replace(inputs, fargate=replace(inputs.fargate, rps_per_task=step.achieved_rps))
        vcpu = inputs.fargate.task_vcpu
    else:
        resized = replace(inputs, eks=replace(inputs.eks, rps_per_pod=step.achieved_rps))
        vcpu = inputs.eks.pod_vcpu
    cost = platform_cost(platform, daily, resized, pricing)
    how = (
        f"{step.achieved_rps:g} RPS on one {unit} of {vcpu:g} vCPU (its deployed shape) kept p99 at "
        f"{step.p99_ms:g} ms, so {step.achieved_rps:g} RPS per {unit} instead of the knee's {knee:g}"
    )
    return _resized_option(platform, label, cost, step, slo, how, profile.source(steps_field))


def recommend(
    daily: int,
    inputs: ModelInputs,
    profile: ServiceProfile,
    pricing: Pricing,
    p99_slo_ms: float,
    cold_starts_acceptable: bool,
) -> Recommendation:
    options = []
    for platform in PLATFORMS:
        if platform == "lambda":
            options.append(_lambda_option(daily, inputs, profile, pricing, p99_slo_ms, cold_starts_acceptable))
        else:
            options.append(_container_option(platform, daily, inputs, profile, pricing, p99_slo_ms))
    options.sort(key=lambda o: (o.cost.total, PLATFORMS.index(o.platform)))
    passing = [o for o in options if o.meets]
    recommended = passing[0] if passing else None
    if recommended is None:
        runner_up = None
    elif len(passing) > 1:
        runner_up = passing[1]
    else:
        runner_up = next((o for o in options if o is not recommended), None)
    return Recommendation(daily, p99_slo_ms, cold_starts_acceptable, tuple(options), recommended, runner_up)
