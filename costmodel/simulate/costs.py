"""The simulated period's cost at per-second prices, from the pricing file the cost model reads.

Lambda: invocations × request price; Σ ceil(duration in ms) × GB × GB-s price; Σ ceil(INIT in ms) × GB ×
GB-s price for cold starts; provisioned concurrency × GB × seconds × its price; HTTP API requests it
accepted × its first-tier price. Fargate: billed task-seconds (from the image pull, one-minute minimum)
× (vCPU × vCPU price + GB × GB price) / 3600. EKS: control plane seconds, node-seconds × instance price
/ 3600, root volumes pro rata of the month. Fargate and EKS add the ALB: its hours, public IPv4
addresses and LCU-hours of the period's requests, as `costmodel.model.containers.alb_items` counts them.
"""

from __future__ import annotations

from costmodel.model import ModelInputs
from costmodel.pricing import Pricing


def _sp(inputs: ModelInputs, pricing: Pricing, key: str) -> float:
    return pricing.rate(f"savings_plans.{key}") if inputs.savings_plan else 0.0


def alb_cost(seconds: float, requests: float, inputs: ModelInputs, pricing: Pricing) -> dict[str, float]:
    lb = inputs.load_balancer
    if not lb.enabled:
        return {}
    hours = seconds / 3600
    per_rps = max(
        1 / pricing.rate("load_balancer.lcu_new_connections"),
        lb.bytes_per_request * 3600 / 1e9 / pricing.rate("load_balancer.lcu_processed_gb"),
    )
    return {
        "ALB hours": hours * pricing.rate("load_balancer.alb_hour"),
        "ALB public IPv4": lb.azs * hours * pricing.rate("load_balancer.public_ipv4_hour"),
        "ALB LCU-hours": requests / 3600 * per_rps * pricing.rate("load_balancer.alb_lcu_hour"),
    }


def lambda_cost(
    billing: dict, memory_mb: int, provisioned: int, seconds: float, inputs: ModelInputs, pricing: Pricing
) -> dict[str, float]:
    gb = memory_mb / 1024
    arch = inputs.arch
    sp = _sp(inputs, pricing, "compute_lambda_discount")
    price = pricing.rate(f"lambda.duration_{arch}")
    items = {
        "Lambda requests": billing["invocations"] * pricing.rate("lambda.requests"),
        "Lambda compute": billing["billed_ms"] / 1000 * gb * price * (1 - sp),
        "Lambda INIT": billing["init_ms"] / 1000 * gb * price * (1 - sp),
    }
    if provisioned:
        pc = pricing.rate(f"lambda.provisioned_concurrency_{arch}")
        items["Lambda provisioned concurrency"] = provisioned * gb * seconds * pc * (1 - sp)
    if inputs.lambda_.api_gateway:
        items["HTTP API requests"] = billing["api_requests"] * pricing.rate("api_gateway.http_api_requests")
    return items


def fargate_cost(
    task_seconds: float, vcpu: float, memory_gb: float, seconds: float, requests: float, inputs: ModelInputs, pricing
) -> dict[str, float]:
    arch = inputs.arch
    sp = _sp(inputs, pricing, "compute_fargate_discount")
    hours = task_seconds / 3600
    return {
        "Fargate vCPU": hours * vcpu * pricing.rate(f"fargate.vcpu_{arch}") * (1 - sp),
        "Fargate memory": hours * memory_gb * pricing.rate(f"fargate.memory_{arch}") * (1 - sp),
        **alb_cost(seconds, requests, inputs, pricing),
    }


def eks_cost(
    node_seconds: float, instance: str, volume_gb: float, seconds: float, requests: float, inputs: ModelInputs, pricing
) -> dict[str, float]:
    inst = pricing.instance(instance)
    if inputs.eks.spot:
        factor = 1 - pricing.rate("ec2.spot_discount")
    else:
        factor = 1 - _sp(inputs, pricing, "compute_ec2_discount")
    node_hours = node_seconds / 3600
    return {
        "EKS control plane": seconds / 3600 * pricing.rate("eks.cluster_hour"),
        f"EKS nodes ({instance})": node_hours * inst.on_demand.rate * factor,
        "EKS node volumes": node_hours / inputs.traffic.month_hours * volume_gb * pricing.rate("ec2.gp3_storage"),
        **alb_cost(seconds, requests, inputs, pricing),
    }
