"""The container platforms: an ALB in front, and tasks or pods sized hour by hour from their capacity.

Load balancer (Fargate and EKS, `alb_items`; an internet-facing ALB)
    hours    = H × $0.0225;  public IPv4 = AZs × H × $0.005
    LCU      = (N / 3600) × D × max(1 / 25, bytes × 3600 / 10^9 / 1) × $0.008
               (one new connection per request — no keep-alive assumed; processed GB per hour per RPS)

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
"""

from __future__ import annotations

import math

from costmodel.model.config import (
    AUTO_INSTANCE,
    DAEMONSET_VCPU,
    EVICTION_HARD_MIB,
    KUBE_RESERVED_BASE_MIB,
    KUBE_RESERVED_PER_POD_MIB,
    SYSTEM_PODS_PER_NODE,
    EksConfig,
    ModelInputs,
    require,
)
from costmodel.model.items import LineItem, PlatformCost, discount_text, every_platform_items, item, num
from costmodel.pricing import Instance, Pricing
from costmodel.traffic import SECONDS_PER_HOUR


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
        item("ALB hours", "H × ALB-hour price", f"{num(hours)} h × {alb.show()}", hours * alb.rate),
        item(
            "ALB public IPv4 addresses",
            "AZs × H × IPv4-address-hour price",
            f"{lb.azs} × {num(hours)} h × {ipv4.show()}",
            lb.azs * hours * ipv4.rate,
        ),
        item(
            "ALB LCU-hours",
            "N / 3600 × D × max(1 / new connections per LCU, bytes × 3600 / 1e9 / GB per LCU) × LCU-hour price",
            f"{num(daily)} / 3600 × {num(days)} × max(1/{num(conn_per_lcu)}, "
            f"{num(lb.bytes_per_request)} B × 3600 / 1e9 / "
            f"{num(gb_per_lcu)}) [{dimension}] = {num(lcu_hours)} LCU-h × {lcu.show()}",
            lcu_hours * lcu.rate,
        ),
    ]


def behind_alb(daily: int, inputs: ModelInputs, pricing: Pricing, units: str) -> tuple[list[LineItem], list[str]]:
    """The lines after a container platform's own (the ALB, then every platform's), and the note when there is
    no ALB in front of its ``units``."""
    items = [*alb_items(daily, inputs, pricing), *every_platform_items(daily, inputs, pricing)]
    if inputs.load_balancer.enabled:
        return items, []
    return items, [f"No load balancer (--no-load-balancer): {units} are reached some other way."]


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
        sp_text = discount_text(sp, "Savings Plan")
        items.append(
            item(
                "Fargate vCPU (on-demand)",
                f"T × (1 − spot share) × task vCPU × vCPU-hour price({arch}) × (1 − sp)",
                f"{sizing}; {num(task_hours)}{share} × {cfg.task_vcpu:g} vCPU × {vcpu.show()}{sp_text}",
                od * cfg.task_vcpu * vcpu.rate * (1 - sp),
            )
        )
        items.append(
            item(
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
            item(
                "Fargate Spot vCPU",
                f"T × spot share × task vCPU × vCPU-hour price({arch}) × (1 − Spot discount)",
                f"{prefix}{num(task_hours)} × {s:g} × {cfg.task_vcpu:g} vCPU × {vcpu.show()}{spot_text}",
                on_spot * cfg.task_vcpu * vcpu.rate * (1 - spot_discount),
            )
        )
        items.append(
            item(
                "Fargate Spot memory",
                f"T × spot share × task GB × GB-hour price({arch}) × (1 − Spot discount)",
                f"{num(task_hours)} × {s:g} × {cfg.task_memory_gb:g} GB × {mem.show()}{spot_text}",
                on_spot * cfg.task_memory_gb * mem.rate * (1 - spot_discount),
            )
        )
    tail, notes = behind_alb(daily, inputs, pricing, "tasks")
    items.extend(tail)
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
    """Application pods of ``cfg``'s requests that fit on one node (0 if none)."""
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


def eks_candidates(inputs: ModelInputs, pricing: Pricing) -> list[Instance]:
    """The instance types to cost: the one named, or every type of the architecture a pod fits on."""
    cfg = inputs.eks
    if cfg.instance_type != AUTO_INSTANCE:
        inst = pricing.instance(cfg.instance_type)
        require(
            inst.arch == inputs.arch,
            f"instance type {inst.name} is {inst.arch} but --arch is {inputs.arch}; "
            f"pass --arch {inst.arch} or another --instance-type",
        )
        require(
            pods_per_node(inst, cfg) >= 1,
            f"a pod requesting {cfg.pod_vcpu:g} vCPU / {cfg.pod_memory_gb:g} GiB does not fit on {inst.name}",
        )
        return [inst]
    fitting = [inst for inst in pricing.instances_for(inputs.arch) if pods_per_node(inst, cfg) >= 1]
    require(
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
        item("EKS control plane", "H × cluster-hour price", f"{num(hours)} h × {control.show()}", hours * control.rate)
    ]
    sizing = (
        f"pods_h = max({cfg.min_pods}, ceil(p_h / ({num(rps_pod)} RPS × {inputs.target_utilization:g}))); "
        f"{per_node} pods per {inst.name}; nodes_h = max({cfg.min_nodes}, ceil(pods_h / {per_node})); "
        f"NH = {num(days)} days × {sum(nodes)} node-hours/day = {num(node_hours)} node-h"
    )
    if cfg.spot:
        discount = pricing.rate("ec2.spot_discount")
        items.append(
            item(
                f"EKS nodes ({inst.name}, Spot)",
                "NH × on-demand instance-hour price × (1 − Spot discount)",
                f"{sizing}; {num(node_hours)} × {inst.on_demand.show()} × (1 − {discount:g} Spot discount)",
                node_hours * inst.on_demand.rate * (1 - discount),
            )
        )
    else:
        sp = pricing.rate("savings_plans.compute_ec2_discount") if inputs.savings_plan else 0.0
        items.append(
            item(
                f"EKS nodes ({inst.name}, on-demand)",
                "NH × instance-hour price × (1 − sp)",
                f"{sizing}; {num(node_hours)} × {inst.on_demand.show()}{discount_text(sp, 'Savings Plan')}",
                node_hours * inst.on_demand.rate * (1 - sp),
            )
        )
    gp3 = pricing["ec2.gp3_storage"]
    items.append(
        item(
            "EKS node root volumes (gp3)",
            "NH / H × volume GB × GB-month price",
            f"{num(node_hours)} / {num(hours)} × {num(cfg.node_volume_gb)} GB × {gp3.show()}",
            node_hours / hours * cfg.node_volume_gb * gp3.rate,
        )
    )
    tail, notes = behind_alb(daily, inputs, pricing, "pods")
    items.extend(tail)
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
    candidates = eks_candidates(inputs, pricing)
    costs = [_eks_cost_on(inst, daily, inputs, pricing) for inst in candidates]
    best = min(costs, key=lambda c: c.total)
    if inputs.eks.instance_type != AUTO_INSTANCE:
        return best
    others = ", ".join(f"{c.derived['instance_type']} ${c.total:,.2f}" for c in costs if c is not best)
    note = f"Instance type chosen automatically: the cheapest {inputs.arch} type at this volume (others: {others})."
    return PlatformCost(best.platform, daily, best.monthly_requests, best.items, best.derived, (*best.notes, note))
