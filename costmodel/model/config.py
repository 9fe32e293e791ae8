"""The cost model's inputs: the platforms, Fargate's task sizes, EKS's node overheads, and one frozen dataclass
per part of the bill. Every default is written here once (the service's own figures in `costmodel.service`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from costmodel.service import (
    DEFAULT_COLD_STARTS_PER_DAY,
    DEFAULT_LAMBDA_COLD_START_MS,
    DEFAULT_LAMBDA_DURATION_MS,
    DEFAULT_LAMBDA_MEMORY_MB,
    DEFAULT_RPS_PER_CORE,
)
from costmodel.traffic import Traffic, flat_shape

PLATFORMS = ("lambda", "fargate", "eks")
PLATFORM_LABELS = {"lambda": "Lambda", "fargate": "ECS Fargate", "eks": "EKS"}
AUTO_INSTANCE = "auto"

# Fargate's valid task sizes: vCPU -> allowed memory in GB.
FARGATE_SIZES: dict[float, tuple[float, ...]] = {
    0.25: (0.5, 1.0, 2.0),
    0.5: tuple(float(g) for g in range(1, 5)),
    1.0: tuple(float(g) for g in range(2, 9)),
    2.0: tuple(float(g) for g in range(4, 17)),
    4.0: tuple(float(g) for g in range(8, 31)),
    8.0: tuple(float(g) for g in range(16, 61, 4)),
    16.0: tuple(float(g) for g in range(32, 121, 8)),
}
# EKS node overheads (see `costmodel.model.containers`).
DAEMONSET_VCPU = 0.125  # aws-node 25m + kube-proxy 100m CPU requests
SYSTEM_PODS_PER_NODE = 2  # aws-node, kube-proxy
KUBE_RESERVED_BASE_MIB = 255
KUBE_RESERVED_PER_POD_MIB = 11
EVICTION_HARD_MIB = 100
LAMBDA_DEFAULT_CONCURRENCY_QUOTA = 1000


class ModelError(ValueError):
    """An input the model cannot cost (invalid Fargate size, pod that fits no node, ...)."""


def require(condition: bool, message: str) -> None:
    """Raise ``ModelError(message)`` unless ``condition``."""
    if not condition:
        raise ModelError(message)


@dataclass(frozen=True)
class LambdaConfig:
    memory_mb: int = DEFAULT_LAMBDA_MEMORY_MB
    duration_ms: float = DEFAULT_LAMBDA_DURATION_MS
    api_gateway: bool = True
    provisioned_concurrency: int = 0
    cold_starts_per_day: float = DEFAULT_COLD_STARTS_PER_DAY
    init_ms: float = DEFAULT_LAMBDA_COLD_START_MS


@dataclass(frozen=True)
class FargateConfig:
    task_vcpu: float = 1.0
    task_memory_gb: float = 2.0
    min_tasks: int = 2
    rps_per_task: float | None = None  # None: rps_per_core × task_vcpu
    spot_share: float = 0.0


@dataclass(frozen=True)
class EksConfig:
    instance_type: str = AUTO_INSTANCE
    min_nodes: int = 2
    min_pods: int = 2
    pod_vcpu: float = 1.0
    pod_memory_gb: float = 2.0
    rps_per_pod: float | None = None  # None: rps_per_core × pod_vcpu
    spot: bool = False
    node_volume_gb: float = 80.0  # eksctl's default root volume


@dataclass(frozen=True)
class LoadBalancerConfig:
    """The ALB in front of Fargate tasks and EKS pods."""

    enabled: bool = True
    azs: int = 2
    bytes_per_request: float = 2048.0  # request + response through the ALB


@dataclass(frozen=True)
class NetworkConfig:
    """Optional network costs, identical on every platform; all zero by default."""

    nat_gateways: int = 0
    nat_gb_per_month: float = 0.0
    egress_bytes_per_request: float = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.nat_gateways or self.nat_gb_per_month or self.egress_bytes_per_request)


@dataclass(frozen=True)
class SharedStackConfig:
    """The shared stack (infra/shared.yaml), identical on every platform; all zero by default."""

    dashboards: int = 0
    alarm_metrics: int = 0
    ecr_gb: float = 0.0


@dataclass(frozen=True)
class ModelInputs:
    """Every input except the daily volume."""

    traffic: Traffic = field(default_factory=lambda: Traffic(flat_shape()))
    arch: str = "arm64"
    target_utilization: float = 0.7
    rps_per_core: float = DEFAULT_RPS_PER_CORE
    savings_plan: bool = False
    free_tier: bool = False
    lambda_: LambdaConfig = field(default_factory=LambdaConfig)
    fargate: FargateConfig = field(default_factory=FargateConfig)
    eks: EksConfig = field(default_factory=EksConfig)
    load_balancer: LoadBalancerConfig = field(default_factory=LoadBalancerConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    shared: SharedStackConfig = field(default_factory=SharedStackConfig)

    @property
    def rps_per_task(self) -> float:
        f = self.fargate
        return f.rps_per_task if f.rps_per_task is not None else self.rps_per_core * f.task_vcpu

    @property
    def rps_per_pod(self) -> float:
        e = self.eks
        return e.rps_per_pod if e.rps_per_pod is not None else self.rps_per_core * e.pod_vcpu
