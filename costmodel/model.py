"""The cost model's core: pure functions from inputs + prices + a daily volume to monthly line items.

Notation (per month unless said): N daily requests; D = month_hours / 24 days; H = month_hours;
R = N × D requests; w_h the share of the day's requests in hour h; m_h = N × w_h / 3600 the mean RPS and
p_h = m_h × peak_to_average the peak RPS of hour h (see `costmodel.traffic`). sp is the Compute Savings
Plan discount for the service (0 unless --savings-plan). Every line item is non-decreasing in N, so
every platform's total is too (the crossover solver relies on it).

Lambda (`lambda_cost`)
    d        = ceil(duration_ms) / 1000 s            billed duration, rounded up to 1 ms
    G        = memory_mb / 1024 GB
    C_pc     = PC × 3600 / d                           requests one hour of provisioned concurrency serves
    R_pc     = D × Σ_h min(N w_h, C_pc);  R_od = D × Σ_h max(0, N w_h − C_pc)      (R_od = R when PC = 0)
    requests = max(0, R − free_requests) × $0.20/1M
    compute  = max(0, R_od × d × G − free_GBs) × duration price(arch) × (1 − sp)
    cold     = S × D with S = min(N, cold_starts_per_day), or 0 when PC ≥ peak concurrency max_h p_h × d
    INIT     = max(0, S × D × ceil(init_ms)/1000 × G − free GB-s left) × duration price × (1 − sp)
    PC       = PC × G × H × 3600 × PC price(arch) × (1 − sp)
    PC dur.  = R_pc × d × G × PC duration price(arch) × (1 − sp)
    HTTP API = min(R, 300M) × $1.00/1M + max(0, R − 300M) × $0.90/1M      (only with --api-gateway)
    free_requests and free_GBs are 0 unless --free-tier (1M requests, 400,000 GB-s).

ECS Fargate (`fargate_cost`)
    rps_task = --rps-per-task, else rps_per_core × task vCPU
    tasks_h  = max(min_tasks, ceil(p_h / (rps_task × target_utilization)))
    T        = D × Σ_h tasks_h                        task-hours
    vCPU     = T × (1 − s) × vCPU × vCPU-hour price(arch) × (1 − sp)
    memory   = T × (1 − s) × GB × GB-hour price(arch) × (1 − sp)
    Spot     = T × s × (vCPU × vCPU price + GB × GB price) × (1 − spot discount)      (s = --spot-share)

EKS (`eks_cost`)
    control  = H × $0.10
    pods_h   = max(min_pods, ceil(p_h / (rps_pod × target_utilization))),  rps_pod as rps_task
    per node = min(floor(alloc vCPU / pod vCPU), floor(alloc GiB / pod GiB), max_pods − 2)
               alloc vCPU = vCPU − kube-reserved CPU (6% of core 1, 1% of core 2, 0.5% of cores 3-4,
                            0.25% above) − 0.125 (aws-node and kube-proxy DaemonSet requests)
               alloc GiB  = GiB − (255 MiB + 11 MiB × max_pods + 100 MiB eviction threshold) / 1024
    nodes_h  = max(min_nodes, ceil(pods_h / per node));  NH = D × Σ_h nodes_h node-hours
    nodes    = NH × instance price × (1 − sp)  on demand, or NH × instance price × (1 − spot discount)
    volumes  = NH / H × root volume GB × gp3 GB-month price
    instance type "auto": every type of the architecture in the pricing file is costed; the cheapest wins.

Load balancer (Fargate and EKS, `alb_items`; an internet-facing ALB)
    hours    = H × $0.0225;  public IPv4 = AZs × H × $0.005
    LCU      = (N / 3600) × D × max(1 / 25, bytes × 3600 / 10^9 / 1) × $0.008
               (one new connection per request — no keep-alive assumed; processed GB per hour per RPS)

Shared network (`network_items`, the same line on every platform)
    NAT      = gateways × H × $0.045 + NAT GB × $0.045
    egress   = max(0, R × egress bytes / 10^9 − free GB) × $0.09      (free 100 GB only with --free-tier)

Shared stack (`shared_items`, infra/shared.yaml, the same line on every platform)
    dashboards × $3.00 + alarm metrics × $0.10 + ECR GB × $0.10 a month
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from costmodel.pricing import Instance, Pricing
from costmodel.service import (
    DEFAULT_COLD_STARTS_PER_DAY,
    DEFAULT_LAMBDA_COLD_START_MS,
    DEFAULT_LAMBDA_DURATION_MS,
    DEFAULT_LAMBDA_MEMORY_MB,
    DEFAULT_RPS_PER_CORE,
)
from costmodel.traffic import SECONDS_PER_HOUR, Traffic, flat_shape

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
# EKS node overheads (see the module docstring).
DAEMONSET_VCPU = 0.125  # aws-node 25m + kube-proxy 100m CPU requests
SYSTEM_PODS_PER_NODE = 2  # aws-node, kube-proxy
KUBE_RESERVED_BASE_MIB = 255
KUBE_RESERVED_PER_POD_MIB = 11
EVICTION_HARD_MIB = 100
LAMBDA_DEFAULT_CONCURRENCY_QUOTA = 1000


class ModelError(ValueError):
    """An input the model cannot cost (invalid Fargate size, pod that fits no node, ...)."""


# ----------------------------------------------------------------------------------------------- inputs


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


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ModelError(message)


def validate(inputs: ModelInputs, pricing: Pricing) -> None:
    """Refuse inputs the model cannot cost, with a message that names the flag."""
    _require(inputs.arch in ("arm64", "x86_64"), f"--arch must be arm64 or x86_64, got {inputs.arch!r}")
    _require(0 < inputs.target_utilization <= 1, "--target-utilization must be in (0, 1]")
    _require(inputs.rps_per_core > 0, "--rps-per-core must be positive")
    lam = inputs.lambda_
    _require(128 <= lam.memory_mb <= 10240, f"--memory-mb must be 128-10240 (Lambda's range), got {lam.memory_mb}")
    _require(lam.duration_ms > 0, "--duration-ms must be positive")
    _require(lam.provisioned_concurrency >= 0, "--provisioned-concurrency must not be negative")
    _require(lam.cold_starts_per_day >= 0, "--cold-starts-per-day must not be negative")
    _require(lam.init_ms >= 0, "--init-ms must not be negative")
    far = inputs.fargate
    sizes = FARGATE_SIZES.get(far.task_vcpu)
    _require(sizes is not None, f"--task-vcpu must be one of {', '.join(f'{v:g}' for v in FARGATE_SIZES)}")
    _require(
        far.task_memory_gb in sizes,
        f"Fargate has no {far.task_vcpu:g} vCPU / {far.task_memory_gb:g} GB task; "
        f"with {far.task_vcpu:g} vCPU --task-memory-gb can be {', '.join(f'{g:g}' for g in sizes)}",
    )
    _require(far.min_tasks >= 1, "--min-tasks must be at least 1")
    _require(far.rps_per_task is None or far.rps_per_task > 0, "--rps-per-task must be positive")
    _require(0 <= far.spot_share <= 1, "--spot-share must be between 0 and 1")
    eks = inputs.eks
    _require(eks.min_nodes >= 1, "--min-nodes must be at least 1")
    _require(eks.min_pods >= 1, "--min-pods must be at least 1")
    _require(eks.pod_vcpu > 0 and eks.pod_memory_gb > 0, "--pod-vcpu and --pod-memory-gb must be positive")
    _require(eks.rps_per_pod is None or eks.rps_per_pod > 0, "--rps-per-pod must be positive")
    _require(eks.node_volume_gb >= 0, "--node-volume-gb must not be negative")
    _eks_candidates(inputs, pricing)  # raises when no instance type fits
    lb = inputs.load_balancer
    _require(lb.azs >= 1, "--alb-azs must be at least 1")
    _require(lb.bytes_per_request >= 0, "--bytes-per-request must not be negative")
    net = inputs.network
    _require(net.nat_gateways >= 0 and net.nat_gb_per_month >= 0, "NAT inputs must not be negative")
    _require(net.egress_bytes_per_request >= 0, "--egress-bytes-per-request must not be negative")
    shared = inputs.shared
    _require(
        min(shared.dashboards, shared.alarm_metrics, shared.ecr_gb) >= 0, "shared stack inputs must not be negative"
    )


# ----------------------------------------------------------------------------------------------- output


@dataclass(frozen=True)
class LineItem:
    """One monthly charge: what it is, its formula, the formula with numbers, and the amount in USD."""

    name: str
    formula: str
    arithmetic: str
    amount: float


@dataclass(frozen=True)
class PlatformCost:
    platform: str
    daily_requests: int
    monthly_requests: float
    items: tuple[LineItem, ...]
    derived: dict[str, object] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return sum(item.amount for item in self.items)

    @property
    def per_1k_requests(self) -> float | None:
        return self.total / (self.monthly_requests / 1000) if self.monthly_requests > 0 else None


def usd(amount: float) -> str:
    """Money as the breakdown shows it: 4 decimals, so the arithmetic can be checked."""
    return f"${amount:,.4f}"


def num(value: float) -> str:
    """A quantity with thousands separators and at most 4 decimals."""
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.4f}".rstrip("0").rstrip(".")


def _item(name: str, formula: str, arithmetic: str, amount: float) -> LineItem:
    return LineItem(name, formula, f"{arithmetic} = {usd(amount)}", amount)


def _discount_text(discount: float, label: str) -> str:
    return f" × (1 − {discount:g} {label})" if discount else ""


# ----------------------------------------------------------------------------------------------- Lambda


def lambda_cost(daily: int, inputs: ModelInputs, pricing: Pricing) -> PlatformCost:
    """Lambda + (optionally) API Gateway HTTP API; see the module docstring for the formulas."""
    cfg, traffic, arch = inputs.lambda_, inputs.traffic, inputs.arch
    days, hours = traffic.days_per_month, traffic.month_hours
    monthly = traffic.monthly_requests(daily)
    gb = cfg.memory_mb / 1024
    billed_ms = math.ceil(cfg.duration_ms)
    billed_s = billed_ms / 1000
    sp = pricing.rate("savings_plans.compute_lambda_discount") if inputs.savings_plan else 0.0
    sp_text = _discount_text(sp, "Savings Plan")
    items: list[LineItem] = []
    notes: list[str] = []

    pc = cfg.provisioned_concurrency
    if pc:
        per_hour = pc * SECONDS_PER_HOUR / billed_s
        hourly = traffic.hourly_requests(daily)
        on_pc = days * sum(min(r, per_hour) for r in hourly)
        on_demand = days * sum(max(0.0, r - per_hour) for r in hourly)
    else:
        per_hour, on_pc, on_demand = 0.0, 0.0, monthly
    peak_rps = max(traffic.hourly_peak_rps(daily))
    peak_concurrency = peak_rps * billed_s
    covered = pc > 0 and pc >= peak_concurrency
    cold_per_day = 0.0 if covered else min(float(daily), cfg.cold_starts_per_day)
    cold_monthly = cold_per_day * days
    init_s = math.ceil(cfg.init_ms) / 1000

    # requests
    req = pricing["lambda.requests"]
    if inputs.free_tier:
        free_req = pricing.rate("lambda.free_tier_requests")
        amount = max(0.0, monthly - free_req) * req.rate
        items.append(
            _item(
                "Lambda requests",
                "max(0, R − free-tier requests) × request price",
                f"max(0, {num(monthly)} − {num(free_req)}) × {req.show()}",
                amount,
            )
        )
    else:
        items.append(
            _item("Lambda requests", "R × request price", f"{num(monthly)} × {req.show()}", monthly * req.rate)
        )

    # on-demand compute: invocations, then INIT of cold starts; the free tier covers invocations first
    dur = pricing[f"lambda.duration_{arch}"]
    free_gbs = pricing.rate("lambda.free_tier_compute") if inputs.free_tier else 0.0
    invoke_gbs = on_demand * billed_s * gb
    init_gbs = cold_monthly * init_s * gb
    invoke_billable = max(0.0, invoke_gbs - free_gbs)
    init_billable = max(0.0, init_gbs - max(0.0, free_gbs - invoke_gbs))
    requests_label = "R_od (on-demand requests)" if pc else "R"
    gbs_text = f"{num(on_demand)} × {billed_ms} ms × {gb:g} GB"
    if free_gbs:
        items.append(
            _item(
                "Lambda compute (invocations)",
                f"max(0, {requests_label} × billed duration × memory − free-tier GB-s) × GB-s price({arch}) × (1 − sp)",
                f"max(0, {gbs_text} − {num(free_gbs)} GB-s) × {dur.show()}{sp_text}",
                invoke_billable * dur.rate * (1 - sp),
            )
        )
    else:
        items.append(
            _item(
                "Lambda compute (invocations)",
                f"{requests_label} × billed duration × memory × GB-s price({arch}) × (1 − sp)",
                f"{gbs_text} = {num(invoke_gbs)} GB-s × {dur.show()}{sp_text}",
                invoke_billable * dur.rate * (1 - sp),
            )
        )
    cold_text = (
        "provisioned concurrency covers the peak: 0 cold starts"
        if covered
        else f"min({num(daily)}, {num(cfg.cold_starts_per_day)}) × {num(days)} days = {num(cold_monthly)} cold starts"
    )
    init_gbs_text = f"{num(cold_monthly)} × {math.ceil(cfg.init_ms)} ms × {gb:g} GB"
    if free_gbs:
        init_formula = f"max(0, cold starts × INIT duration × memory − free GB-s left) × GB-s price({arch}) × (1 − sp)"
        free_left = max(0.0, free_gbs - invoke_gbs)
        init_arith = f"{cold_text}; max(0, {init_gbs_text} − {num(free_left)} free GB-s left)"
    else:
        init_formula = f"cold starts × INIT duration × memory × GB-s price({arch}) × (1 − sp)"
        init_arith = f"{cold_text}; {init_gbs_text}"
    items.append(
        _item(
            "Lambda cold-start INIT (billed)",
            init_formula,
            f"{init_arith} = {num(init_billable)} GB-s × {dur.show()}{sp_text}",
            init_billable * dur.rate * (1 - sp),
        )
    )

    if pc:
        pc_price = pricing[f"lambda.provisioned_concurrency_{arch}"]
        pc_gbs = pc * gb * hours * SECONDS_PER_HOUR
        items.append(
            _item(
                "Lambda provisioned concurrency",
                f"PC × memory × H × 3600 s × PC price({arch}) × (1 − sp)",
                f"{pc} × {gb:g} GB × {num(hours)} h × 3600 s = {num(pc_gbs)} GB-s × {pc_price.show()}{sp_text}",
                pc_gbs * pc_price.rate * (1 - sp),
            )
        )
        pcd = pricing[f"lambda.provisioned_duration_{arch}"]
        pcd_gbs = on_pc * billed_s * gb
        items.append(
            _item(
                "Lambda duration on provisioned concurrency",
                f"R_pc × billed duration × memory × PC duration price({arch}) × (1 − sp)",
                f"R_pc = {num(days)} × Σ_h min(N·w_h, {num(per_hour)}) = {num(on_pc)}; "
                f"{num(on_pc)} × {billed_ms} ms × {gb:g} GB = {num(pcd_gbs)} GB-s × {pcd.show()}{sp_text}",
                pcd_gbs * pcd.rate * (1 - sp),
            )
        )

    if cfg.api_gateway:
        first = pricing["api_gateway.http_api_requests"]
        over = pricing["api_gateway.http_api_requests_over_tier"]
        tier = pricing.rate("api_gateway.http_api_tier_requests")
        in_tier, above = min(monthly, tier), max(0.0, monthly - tier)
        arithmetic = f"{num(in_tier)} × {first.show()}"
        if above:
            arithmetic += f" + {num(above)} × {over.show()}"
        items.append(
            _item(
                "API Gateway HTTP API requests",
                "min(R, 300M) × first-tier price + max(0, R − 300M) × next-tier price",
                arithmetic,
                in_tier * first.rate + above * over.rate,
            )
        )
    else:
        notes.append("No API Gateway: a Lambda function URL (no per-request charge) is assumed.")

    if peak_concurrency > LAMBDA_DEFAULT_CONCURRENCY_QUOTA:
        notes.append(
            f"Peak concurrency {peak_concurrency:,.0f} exceeds the default account quota of "
            f"{LAMBDA_DEFAULT_CONCURRENCY_QUOTA:,}; a quota increase is needed."
        )
    if pc and not covered:
        notes.append(
            f"Provisioned concurrency {pc} is below the peak concurrency {peak_concurrency:.2f}: "
            "requests above it run on demand and can cold-start."
        )
    items.extend(network_items(daily, inputs, pricing))
    items.extend(shared_items(inputs, pricing))
    derived = {
        "arch": arch,
        "monthly_requests": monthly,
        "billed_duration_ms": billed_ms,
        "memory_gb": gb,
        "peak_rps": peak_rps,
        "peak_concurrency": peak_concurrency,
        "provisioned_concurrency": pc,
        "provisioned_covers_peak": covered,
        "requests_on_provisioned": on_pc,
        "requests_on_demand": on_demand,
        "cold_starts_per_day": cold_per_day,
        "cold_starts_per_month": cold_monthly,
    }
    return PlatformCost("lambda", daily, monthly, tuple(items), derived, tuple(notes))


# ----------------------------------------------------------------------------------------------- load balancer


def alb_items(daily: int, inputs: ModelInputs, pricing: Pricing) -> list[LineItem]:
    """ALB hours, its public IPv4 addresses and LCU-hours (empty with --no-load-balancer)."""
    lb, traffic = inputs.load_balancer, inputs.traffic
    if not lb.enabled:
        return []
    hours, days = traffic.month_hours, traffic.days_per_month
    alb = pricing["load_balancer.alb_hour"]
    ipv4 = pricing["load_balancer.public_ipv4_hour"]
    lcu = pricing["load_balancer.alb_lcu_hour"]
    conn_per_lcu = pricing.rate("load_balancer.lcu_new_connections")
    gb_per_lcu = pricing.rate("load_balancer.lcu_processed_gb")
    by_connections = 1.0 / conn_per_lcu
    by_bytes = lb.bytes_per_request * SECONDS_PER_HOUR / 1e9 / gb_per_lcu
    lcu_per_rps = max(by_connections, by_bytes)
    lcu_hours = daily / SECONDS_PER_HOUR * days * lcu_per_rps
    dimension = "new connections" if by_connections >= by_bytes else "processed bytes"
    return [
        _item("ALB hours", "H × ALB-hour price", f"{num(hours)} h × {alb.show()}", hours * alb.rate),
        _item(
            "ALB public IPv4 addresses",
            "AZs × H × IPv4-address-hour price",
            f"{lb.azs} × {num(hours)} h × {ipv4.show()}",
            lb.azs * hours * ipv4.rate,
        ),
        _item(
            "ALB LCU-hours",
            "N / 3600 × D × max(1 / new connections per LCU, bytes × 3600 / 1e9 / GB per LCU) × LCU-hour price",
            f"{num(daily)} / 3600 × {num(days)} × max(1/{num(conn_per_lcu)}, "
            f"{num(lb.bytes_per_request)} B × 3600 / 1e9 / "
            f"{num(gb_per_lcu)}) [{dimension}] = {num(lcu_hours)} LCU-h × {lcu.show()}",
            lcu_hours * lcu.rate,
        ),
    ]


# ----------------------------------------------------------------------------------------------- shared network


def network_items(daily: int, inputs: ModelInputs, pricing: Pricing) -> list[LineItem]:
    """NAT gateways and data transfer out: the same lines on every platform (empty unless asked for)."""
    net, traffic = inputs.network, inputs.traffic
    if not net.enabled:
        return []
    items = []
    hours = traffic.month_hours
    if net.nat_gateways:
        nat = pricing["network.nat_gateway_hour"]
        items.append(
            _item(
                "Shared network: NAT gateway hours",
                "gateways × H × NAT-gateway-hour price",
                f"{net.nat_gateways} × {num(hours)} h × {nat.show()}",
                net.nat_gateways * hours * nat.rate,
            )
        )
    if net.nat_gb_per_month:
        nat_gb = pricing["network.nat_gateway_gb"]
        items.append(
            _item(
                "Shared network: NAT data processed",
                "NAT GB × NAT GB price",
                f"{num(net.nat_gb_per_month)} GB × {nat_gb.show()}",
                net.nat_gb_per_month * nat_gb.rate,
            )
        )
    if net.egress_bytes_per_request:
        out = pricing["network.data_transfer_out_gb"]
        free = pricing.rate("network.data_transfer_out_free_gb") if inputs.free_tier else 0.0
        gb = traffic.monthly_requests(daily) * net.egress_bytes_per_request / 1e9
        items.append(
            _item(
                "Shared network: data transfer out",
                "max(0, R × egress bytes / 1e9 − free GB) × GB price",
                f"max(0, {num(gb)} GB − {num(free)} GB) × {out.show()}",
                max(0.0, gb - free) * out.rate,
            )
        )
    return items


def shared_items(inputs: ModelInputs, pricing: Pricing) -> list[LineItem]:
    """The shared stack's dashboard, alarms and image storage: the same lines on every platform (empty unless
    asked for)."""
    shared = inputs.shared
    parts = (
        ("dashboards", shared.dashboards, "cloudwatch.dashboard_month", "dashboards × dashboard-month price"),
        ("alarm metrics", shared.alarm_metrics, "cloudwatch.alarm_metric_month", "alarm metrics × alarm-metric price"),
        ("ECR storage", shared.ecr_gb, "ecr.storage_gb_month", "GB × GB-month price"),
    )
    items = []
    for label, quantity, key, formula in parts:
        if quantity:
            price = pricing[key]
            items.append(
                _item(f"Shared stack: {label}", formula, f"{num(quantity)} × {price.show()}", quantity * price.rate)
            )
    return items


# ----------------------------------------------------------------------------------------------- Fargate


def units_per_hour(peaks: list[float], capacity: float, minimum: int) -> list[int]:
    """max(minimum, ceil(p_h / capacity)) for each hour."""
    return [max(minimum, math.ceil(p / capacity)) for p in peaks]


def fargate_cost(daily: int, inputs: ModelInputs, pricing: Pricing) -> PlatformCost:
    """ECS Fargate tasks sized per hour from capacity, plus the ALB; see the module docstring."""
    cfg, traffic, arch = inputs.fargate, inputs.traffic, inputs.arch
    days = traffic.days_per_month
    rps_task = inputs.rps_per_task
    capacity = rps_task * inputs.target_utilization
    peaks = traffic.hourly_peak_rps(daily)
    tasks = units_per_hour(peaks, capacity, cfg.min_tasks)
    task_hours = days * sum(tasks)
    s = cfg.spot_share
    sp = pricing.rate("savings_plans.compute_fargate_discount") if inputs.savings_plan else 0.0
    spot_discount = pricing.rate("fargate.spot_discount")
    vcpu = pricing[f"fargate.vcpu_{arch}"]
    mem = pricing[f"fargate.memory_{arch}"]
    sizing = (
        f"tasks_h = max({cfg.min_tasks}, ceil(p_h / ({num(rps_task)} RPS × {inputs.target_utilization:g}))); "
        f"T = {num(days)} days × {sum(tasks)} task-hours/day = {num(task_hours)} task-h"
    )
    items: list[LineItem] = []
    if s < 1:
        od = task_hours * (1 - s)
        share = f" × (1 − {s:g} Spot)" if s else ""
        sp_text = _discount_text(sp, "Savings Plan")
        items.append(
            _item(
                "Fargate vCPU (on-demand)",
                f"T × (1 − spot share) × task vCPU × vCPU-hour price({arch}) × (1 − sp)",
                f"{sizing}; {num(task_hours)}{share} × {cfg.task_vcpu:g} vCPU × {vcpu.show()}{sp_text}",
                od * cfg.task_vcpu * vcpu.rate * (1 - sp),
            )
        )
        items.append(
            _item(
                "Fargate memory (on-demand)",
                f"T × (1 − spot share) × task GB × GB-hour price({arch}) × (1 − sp)",
                f"{num(task_hours)}{share} × {cfg.task_memory_gb:g} GB × {mem.show()}{sp_text}",
                od * cfg.task_memory_gb * mem.rate * (1 - sp),
            )
        )
    if s > 0:
        on_spot = task_hours * s
        spot_text = f" × (1 − {spot_discount:g} Spot discount)"
        prefix = "" if s < 1 else f"{sizing}; "
        items.append(
            _item(
                "Fargate Spot vCPU",
                f"T × spot share × task vCPU × vCPU-hour price({arch}) × (1 − Spot discount)",
                f"{prefix}{num(task_hours)} × {s:g} × {cfg.task_vcpu:g} vCPU × {vcpu.show()}{spot_text}",
                on_spot * cfg.task_vcpu * vcpu.rate * (1 - spot_discount),
            )
        )
        items.append(
            _item(
                "Fargate Spot memory",
                f"T × spot share × task GB × GB-hour price({arch}) × (1 − Spot discount)",
                f"{num(task_hours)} × {s:g} × {cfg.task_memory_gb:g} GB × {mem.show()}{spot_text}",
                on_spot * cfg.task_memory_gb * mem.rate * (1 - spot_discount),
            )
        )
    items.extend(alb_items(daily, inputs, pricing))
    items.extend(network_items(daily, inputs, pricing))
    items.extend(shared_items(inputs, pricing))
    notes = []
    if not inputs.load_balancer.enabled:
        notes.append("No load balancer (--no-load-balancer): tasks are reached some other way.")
    derived = {
        "arch": arch,
        "monthly_requests": traffic.monthly_requests(daily),
        "rps_per_task": rps_task,
        "task_capacity_rps": capacity,
        "peak_rps": max(peaks),
        "tasks_per_hour": tasks,
        "task_hours_per_month": task_hours,
    }
    return PlatformCost("fargate", daily, traffic.monthly_requests(daily), tuple(items), derived, tuple(notes))


# ----------------------------------------------------------------------------------------------- EKS


def kube_reserved_vcpu(vcpu: float) -> float:
    """The EKS AMI's kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above."""
    return (
        0.06 * min(vcpu, 1.0)
        + 0.01 * min(max(vcpu - 1.0, 0.0), 1.0)
        + 0.005 * min(max(vcpu - 2.0, 0.0), 2.0)
        + 0.0025 * max(vcpu - 4.0, 0.0)
    )


def node_allocatable(inst: Instance) -> tuple[float, float]:
    """(vCPU, GiB) left for application pods on one node."""
    cpu = inst.vcpu - kube_reserved_vcpu(inst.vcpu) - DAEMONSET_VCPU
    reserved_mib = KUBE_RESERVED_BASE_MIB + KUBE_RESERVED_PER_POD_MIB * inst.max_pods + EVICTION_HARD_MIB
    return cpu, inst.memory_gib - reserved_mib / 1024


def pods_per_node(inst: Instance, cfg: EksConfig) -> int:
    cpu, mem = node_allocatable(inst)
    eps = 1e-9
    return max(
        0,
        min(
            math.floor(cpu / cfg.pod_vcpu + eps),
            math.floor(mem / cfg.pod_memory_gb + eps),
            inst.max_pods - SYSTEM_PODS_PER_NODE,
        ),
    )


def _eks_candidates(inputs: ModelInputs, pricing: Pricing) -> list[Instance]:
    cfg = inputs.eks
    if cfg.instance_type != AUTO_INSTANCE:
        inst = pricing.instance(cfg.instance_type)
        _require(
            inst.arch == inputs.arch,
            f"instance type {inst.name} is {inst.arch} but --arch is {inputs.arch}; "
            f"pass --arch {inst.arch} or another --instance-type",
        )
        _require(
            pods_per_node(inst, cfg) >= 1,
            f"a pod requesting {cfg.pod_vcpu:g} vCPU / {cfg.pod_memory_gb:g} GiB does not fit on {inst.name}",
        )
        return [inst]
    fitting = [inst for inst in pricing.instances_for(inputs.arch) if pods_per_node(inst, cfg) >= 1]
    _require(
        bool(fitting),
        f"a pod requesting {cfg.pod_vcpu:g} vCPU / {cfg.pod_memory_gb:g} GiB fits no {inputs.arch} instance type "
        "in the pricing file",
    )
    return fitting


def _eks_cost_on(inst: Instance, daily: int, inputs: ModelInputs, pricing: Pricing) -> PlatformCost:
    cfg, traffic = inputs.eks, inputs.traffic
    days, hours = traffic.days_per_month, traffic.month_hours
    rps_pod = inputs.rps_per_pod
    capacity = rps_pod * inputs.target_utilization
    peaks = traffic.hourly_peak_rps(daily)
    pods = units_per_hour(peaks, capacity, cfg.min_pods)
    per_node = pods_per_node(inst, cfg)
    nodes = [max(cfg.min_nodes, math.ceil(p / per_node)) for p in pods]
    node_hours = days * sum(nodes)
    alloc_cpu, alloc_mem = node_allocatable(inst)

    control = pricing["eks.cluster_hour"]
    items = [
        _item("EKS control plane", "H × cluster-hour price", f"{num(hours)} h × {control.show()}", hours * control.rate)
    ]
    sizing = (
        f"pods_h = max({cfg.min_pods}, ceil(p_h / ({num(rps_pod)} RPS × {inputs.target_utilization:g}))); "
        f"{per_node} pods per {inst.name}; nodes_h = max({cfg.min_nodes}, ceil(pods_h / {per_node})); "
        f"NH = {num(days)} days × {sum(nodes)} node-hours/day = {num(node_hours)} node-h"
    )
    if cfg.spot:
        discount = pricing.rate("ec2.spot_discount")
        items.append(
            _item(
                f"EKS nodes ({inst.name}, Spot)",
                "NH × on-demand instance-hour price × (1 − Spot discount)",
                f"{sizing}; {num(node_hours)} × {inst.on_demand.show()} × (1 − {discount:g} Spot discount)",
                node_hours * inst.on_demand.rate * (1 - discount),
            )
        )
    else:
        sp = pricing.rate("savings_plans.compute_ec2_discount") if inputs.savings_plan else 0.0
        items.append(
            _item(
                f"EKS nodes ({inst.name}, on-demand)",
                "NH × instance-hour price × (1 − sp)",
                f"{sizing}; {num(node_hours)} × {inst.on_demand.show()}{_discount_text(sp, 'Savings Plan')}",
                node_hours * inst.on_demand.rate * (1 - sp),
            )
        )
    gp3 = pricing["ec2.gp3_storage"]
    items.append(
        _item(
            "EKS node root volumes (gp3)",
            "NH / H × volume GB × GB-month price",
            f"{num(node_hours)} / {num(hours)} × {num(cfg.node_volume_gb)} GB × {gp3.show()}",
            node_hours / hours * cfg.node_volume_gb * gp3.rate,
        )
    )
    items.extend(alb_items(daily, inputs, pricing))
    items.extend(network_items(daily, inputs, pricing))
    items.extend(shared_items(inputs, pricing))
    notes = []
    if not inputs.load_balancer.enabled:
        notes.append("No load balancer (--no-load-balancer): pods are reached some other way.")
    derived = {
        "arch": inputs.arch,
        "monthly_requests": traffic.monthly_requests(daily),
        "instance_type": inst.name,
        "spot": cfg.spot,
        "node_allocatable_vcpu": alloc_cpu,
        "node_allocatable_gib": alloc_mem,
        "pods_per_node": per_node,
        "rps_per_pod": rps_pod,
        "peak_rps": max(peaks),
        "pods_per_hour": pods,
        "nodes_per_hour": nodes,
        "node_hours_per_month": node_hours,
    }
    return PlatformCost("eks", daily, traffic.monthly_requests(daily), tuple(items), derived, tuple(notes))


def eks_cost(daily: int, inputs: ModelInputs, pricing: Pricing) -> PlatformCost:
    """EKS control plane, nodes from pod requests and capacity, volumes and the ALB.

    With instance type "auto", every instance type of the architecture is costed and the cheapest total
    wins (the first listed on a tie); a minimum of non-decreasing functions is non-decreasing too.
    """
    candidates = _eks_candidates(inputs, pricing)
    costs = [_eks_cost_on(inst, daily, inputs, pricing) for inst in candidates]
    best = min(costs, key=lambda c: c.total)
    if inputs.eks.instance_type != AUTO_INSTANCE:
        return best
    others = ", ".join(f"{c.derived['instance_type']} ${c.total:,.2f}" for c in costs if c is not best)
    note = f"Instance type chosen automatically: the cheapest {inputs.arch} type at this volume (others: {others})."
    return PlatformCost(best.platform, daily, best.monthly_requests, best.items, best.derived, (*best.notes, note))


# ----------------------------------------------------------------------------------------------- dispatch

_COSTERS = {"lambda": lambda_cost, "fargate": fargate_cost, "eks": eks_cost}


def platform_cost(platform: str, daily: int, inputs: ModelInputs, pricing: Pricing) -> PlatformCost:
    try:
        coster = _COSTERS[platform]
    except KeyError:
        raise ModelError(f"unknown platform {platform!r} (choose {', '.join(PLATFORMS)})") from None
    return coster(daily, inputs, pricing)


def all_costs(daily: int, inputs: ModelInputs, pricing: Pricing) -> dict[str, PlatformCost]:
    return {p: platform_cost(p, daily, inputs, pricing) for p in PLATFORMS}


def cheapest(totals: dict[str, float]) -> str:
    """The platform with the lowest total; ties go to the earlier platform in PLATFORMS."""
    return min(totals, key=lambda p: (totals[p], PLATFORMS.index(p)))
