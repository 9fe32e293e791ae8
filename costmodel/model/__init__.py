"""The cost model: pure functions from inputs + prices + a daily volume to monthly line items.

Notation (per month unless said): N daily requests; D = month_hours / 24 days; H = month_hours;
R = N × D requests; w_h the share of the day's requests in hour h; m_h = N × w_h / 3600 the mean RPS and
p_h = m_h × peak_to_average the peak RPS of hour h (see `costmodel.traffic`). sp is the Compute Savings
Plan discount for the service (0 unless --savings-plan). Every line item is non-decreasing in N, so
every platform's total is too (the crossover solver relies on it).

Each platform's formulas are in its module's docstring, beside the code: `costmodel.model.lambda_` (Lambda and
API Gateway), `costmodel.model.containers` (the ALB, ECS Fargate, EKS), `costmodel.model.items` (the lines every
platform carries: network and the shared stack). The inputs are `costmodel.model.config`.
"""

from __future__ import annotations

from costmodel.model.config import (
    AUTO_INSTANCE,
    FARGATE_SIZES,
    PLATFORM_LABELS,
    PLATFORMS,
    EksConfig,
    FargateConfig,
    LambdaConfig,
    LoadBalancerConfig,
    ModelError,
    ModelInputs,
    NetworkConfig,
    SharedStackConfig,
    require,
)
from costmodel.model.containers import (
    eks_candidates,
    eks_cost,
    fargate_cost,
    kube_reserved_vcpu,
    node_allocatable,
    pods_per_node,
)
from costmodel.model.items import PlatformCost
from costmodel.model.lambda_ import lambda_cost
from costmodel.pricing import Pricing

__all__ = [
    "AUTO_INSTANCE",
    "FARGATE_SIZES",
    "PLATFORMS",
    "PLATFORM_LABELS",
    "EksConfig",
    "FargateConfig",
    "LambdaConfig",
    "LoadBalancerConfig",
    "ModelError",
    "ModelInputs",
    "NetworkConfig",
    "PlatformCost",
    "SharedStackConfig",
    "all_costs",
    "cheapest",
    "eks_cost",
    "fargate_cost",
    "kube_reserved_vcpu",
    "lambda_cost",
    "node_allocatable",
    "platform_cost",
    "pods_per_node",
    "validate",
]


def validate(inputs: ModelInputs, pricing: Pricing) -> None:
    """Refuse inputs the model cannot cost, with a message that names the flag."""
    require(inputs.arch in ("arm64", "x86_64"), f"--arch must be arm64 or x86_64, got {inputs.arch!r}")
    require(0 < inputs.target_utilization <= 1, "--target-utilization must be in (0, 1]")
    require(inputs.rps_per_core > 0, "--rps-per-core must be positive")
    lam = inputs.lambda_
    require(128 <= lam.memory_mb <= 10240, f"--memory-mb must be 128-10240 (Lambda's range), got {lam.memory_mb}")
    require(lam.duration_ms > 0, "--duration-ms must be positive")
    require(lam.provisioned_concurrency >= 0, "--provisioned-concurrency must not be negative")
    require(lam.cold_starts_per_day >= 0, "--cold-starts-per-day must not be negative")
    require(lam.init_ms >= 0, "--init-ms must not be negative")
    far = inputs.fargate
    sizes = FARGATE_SIZES.get(far.task_vcpu)
    require(sizes is not None, f"--task-vcpu must be one of {', '.join(f'{v:g}' for v in FARGATE_SIZES)}")
    require(
        far.task_memory_gb in sizes,
        f"Fargate has no {far.task_vcpu:g} vCPU / {far.task_memory_gb:g} GB task; "
        f"with {far.task_vcpu:g} vCPU --task-memory-gb can be {', '.join(f'{g:g}' for g in sizes)}",
    )
    require(far.min_tasks >= 1, "--min-tasks must be at least 1")
    require(far.rps_per_task is None or far.rps_per_task > 0, "--rps-per-task must be positive")
    require(0 <= far.spot_share <= 1, "--spot-share must be between 0 and 1")
    eks = inputs.eks
    require(eks.min_nodes >= 1, "--min-nodes must be at least 1")
    require(eks.min_pods >= 1, "--min-pods must be at least 1")
    require(eks.pod_vcpu > 0 and eks.pod_memory_gb > 0, "--pod-vcpu and --pod-memory-gb must be positive")
    require(eks.rps_per_pod is None or eks.rps_per_pod > 0, "--rps-per-pod must be positive")
    require(eks.node_volume_gb >= 0, "--node-volume-gb must not be negative")
    eks_candidates(inputs, pricing)  # raises when no instance type fits
    lb = inputs.load_balancer
    require(lb.azs >= 1, "--alb-azs must be at least 1")
    require(lb.bytes_per_request >= 0, "--bytes-per-request must not be negative")
    net = inputs.network
    require(net.nat_gateways >= 0 and net.nat_gb_per_month >= 0, "NAT inputs must not be negative")
    require(net.egress_bytes_per_request >= 0, "--egress-bytes-per-request must not be negative")
    shared = inputs.shared
    require(
        min(shared.dashboards, shared.alarm_metrics, shared.ecr_gb) >= 0, "shared stack inputs must not be negative"
    )


_COSTERS = {"lambda": lambda_cost, "fargate": fargate_cost, "eks": eks_cost}


def platform_cost(platform: str, daily: int, inputs: ModelInputs, pricing: Pricing) -> PlatformCost:
    """The monthly cost of ``platform`` at ``daily`` requests."""
    try:
        coster = _COSTERS[platform]
    except KeyError:
        raise ModelError(f"unknown platform {platform!r} (choose {', '.join(PLATFORMS)})") from None
    return coster(daily, inputs, pricing)


def all_costs(daily: int, inputs: ModelInputs, pricing: Pricing) -> dict[str, PlatformCost]:
    """Every platform's monthly cost at ``daily`` requests."""
    return {p: platform_cost(p, daily, inputs, pricing) for p in PLATFORMS}


def cheapest(totals: dict[str, float]) -> str:
    """The platform with the lowest total; ties go to the earlier platform in PLATFORMS."""
    return min(totals, key=lambda p: (totals[p], PLATFORMS.index(p)))
