"""Comparison over daily volumes, the exact crossover volumes, and the side-by-side scenarios.

Crossovers are solved, not read off the table. Each platform's monthly cost is a non-decreasing
function of the daily volume N (linear pieces and steps: ceil() of tasks, pods and nodes, tiers, minimum
counts). On an interval [a, b] where platform P is cheapest at both ends, P is cheapest everywhere
in between if cost_P(b) < cost_Q(a) for every other platform Q, because cost_P(N) ≤ cost_P(b) and
cost_Q(N) ≥ cost_Q(a) for a ≤ N ≤ b. Intervals where that bound does not settle the question are split in
half, down to neighbouring integers. The result is every integer N where the cheapest platform differs
from the one at N − 1: exact to the request, including the back-and-forth a linear cost can make with a
staircase near a crossover, and it needs only a few hundred cost evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from costmodel.model import (
    AUTO_INSTANCE,
    PLATFORMS,
    ModelError,
    ModelInputs,
    PlatformCost,
    all_costs,
    cheapest,
    platform_cost,
    validate,
)
from costmodel.pricing import Pricing

DEFAULT_VOLUMES = (1_000, 5_000, 10_000, 25_000, 35_000, 50_000, 75_000, 85_000, 100_000, 250_000, 500_000, 1_000_000)
DEFAULT_RANGE = (1_000, 10_000_000)
MAX_EVALUATIONS = 200_000
FARGATE_SPOT_SCENARIO_SHARE = 0.5


# ----------------------------------------------------------------------------------------------- table


@dataclass(frozen=True)
class Row:
    daily_requests: int
    costs: dict[str, PlatformCost]

    @property
    def totals(self) -> dict[str, float]:
        return {p: c.total for p, c in self.costs.items()}

    @property
    def cheapest(self) -> str:
        return cheapest(self.totals)


def compare(volumes: list[int] | tuple[int, ...], inputs: ModelInputs, pricing: Pricing) -> list[Row]:
    return [Row(n, all_costs(n, inputs, pricing)) for n in volumes]


def row_json(row: Row) -> dict:
    return {
        "daily_requests": row.daily_requests,
        "monthly_requests": row.costs[PLATFORMS[0]].monthly_requests,
        "platforms": {
            p: {"monthly_usd": c.total, "per_1k_requests_usd": c.per_1k_requests} for p, c in row.costs.items()
        },
        "cheapest": row.cheapest,
    }


# ----------------------------------------------------------------------------------------------- crossovers


@dataclass(frozen=True)
class Crossover:
    """At ``daily_requests`` the cheapest platform becomes ``to_platform``.

    At one request fewer it was ``from_platform``.
    """

    daily_requests: int
    from_platform: str
    to_platform: str
    before: dict[str, float]  # monthly totals at daily_requests − 1
    at: dict[str, float]  # monthly totals at daily_requests

    def to_json(self) -> dict:
        return {
            "daily_requests": self.daily_requests,
            "from": self.from_platform,
            "to": self.to_platform,
            "monthly_usd_before": self.before,
            "monthly_usd_at": self.at,
        }


@dataclass(frozen=True)
class CrossoverResult:
    low: int
    high: int
    start: str  # cheapest platform at ``low``
    crossovers: tuple[Crossover, ...]
    evaluations: int

    def cheapest_at(self, daily: int) -> str:
        """The cheapest platform at ``daily`` (low ≤ daily ≤ high), read from the solved segments."""
        if not self.low <= daily <= self.high:
            raise ValueError(f"{daily} is outside the solved range {self.low}-{self.high}")
        current = self.start
        for c in self.crossovers:
            if c.daily_requests > daily:
                break
            current = c.to_platform
        return current

    def to_json(self) -> dict:
        return {
            "range": [self.low, self.high],
            "cheapest_at_low": self.start,
            "crossovers": [c.to_json() for c in self.crossovers],
            "evaluations": self.evaluations,
        }


def totals_at(daily: int, inputs: ModelInputs, pricing: Pricing) -> dict[str, float]:
    return {p: platform_cost(p, daily, inputs, pricing).total for p in PLATFORMS}


def _settled(winner: str, at_low: dict[str, float], at_high: dict[str, float]) -> bool:
    """True when ``winner`` is cheapest on the whole interval, by monotonicity (ties by platform order)."""
    upper = (at_high[winner], PLATFORMS.index(winner))
    return all(upper < (at_low[q], PLATFORMS.index(q)) for q in PLATFORMS if q != winner)


def find_crossovers(low: int, high: int, inputs: ModelInputs, pricing: Pricing) -> CrossoverResult:
    """Every daily volume in (low, high] where the cheapest platform changes, exact to one request."""
    if low < 0 or high <= low:
        raise ModelError(f"need 0 ≤ low < high, got {low} and {high}")
    cache: dict[int, dict[str, float]] = {}

    def totals(n: int) -> dict[str, float]:
        if n not in cache:
            if len(cache) >= MAX_EVALUATIONS:
                raise ModelError("crossover search did not settle; costs may be tied over a long range")
            cache[n] = totals_at(n, inputs, pricing)
        return cache[n]

    found: list[int] = []
    stack = [(low, high)]
    while stack:
        a, b = stack.pop()
        ta, tb = totals(a), totals(b)
        wa, wb = cheapest(ta), cheapest(tb)
        if b - a == 1:
            if wa != wb:
                found.append(b)
            continue
        if wa == wb and _settled(wa, ta, tb):
            continue
        mid = (a + b) // 2
        stack.append((mid, b))
        stack.append((a, mid))
    found.sort()
    crossovers = tuple(
        Crossover(n, cheapest(totals(n - 1)), cheapest(totals(n)), totals(n - 1), totals(n)) for n in found
    )
    return CrossoverResult(low, high, cheapest(totals(low)), crossovers, len(cache))


# ----------------------------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    inputs: ModelInputs


def _other_arch(inputs: ModelInputs, pricing: Pricing) -> ModelInputs:
    arch = "x86_64" if inputs.arch == "arm64" else "arm64"
    eks = inputs.eks
    if eks.instance_type != AUTO_INSTANCE:
        counterpart = pricing.instance(eks.instance_type).counterpart
        if counterpart is None:
            raise ModelError(f"instance type {eks.instance_type} has no counterpart of the other architecture")
        eks = replace(eks, instance_type=counterpart)
    return replace(inputs, arch=arch, eks=eks)


def scenarios(inputs: ModelInputs, pricing: Pricing) -> list[Scenario]:
    """The baseline and one variation per lever, each changing one thing from the baseline; each is validated."""
    other = _other_arch(inputs, pricing)
    spot_share = inputs.fargate.spot_share or FARGATE_SPOT_SCENARIO_SHARE
    fargate_spot = replace(inputs, fargate=replace(inputs.fargate, spot_share=spot_share))
    ec2_spot = replace(inputs, eks=replace(inputs.eks, spot=True))
    savings = replace(inputs, savings_plan=True)
    combined = replace(
        inputs,
        arch="arm64",
        savings_plan=True,
        fargate=replace(inputs.fargate, spot_share=spot_share),
        eks=replace((other if inputs.arch == "x86_64" else inputs).eks, spot=True),
    )
    variants = [
        Scenario("baseline", f"inputs as given ({inputs.arch})", inputs),
        Scenario(other.arch, f"{other.arch} instead of {inputs.arch}, same duration and throughput", other),
        Scenario("savings-plan", "Compute Savings Plan on Lambda, Fargate and EC2 on-demand usage", savings),
        Scenario("fargate-spot", f"{spot_share:g} of Fargate task-hours on Fargate Spot", fargate_spot),
        Scenario("ec2-spot", "EKS nodes on EC2 Spot", ec2_spot),
        Scenario(
            "all-levers",
            f"arm64 + Savings Plan + {spot_share:g} Fargate Spot + EKS on Spot",
            combined,
        ),
    ]
    for scenario in variants:
        validate(scenario.inputs, pricing)
    return variants
