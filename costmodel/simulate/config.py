"""Everything one simulation needs, from the deployment files, the constants file and the cost model's inputs.

Precedence for each value: a flag given on the command line (its origin starts with ``--``), else the
deployment file, else the cost model's measured or default input. The cost model's inputs supply what
the files do not state: service times, architecture, prices, Savings Plan, Spot, the load balancer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from costmodel.inputs import Resolved
from costmodel.model import EksConfig, pods_per_node
from costmodel.simulate.constants import Constants
from costmodel.simulate.deployment import Deployment
from costmodel.simulate.lambda_ import LambdaSim
from costmodel.simulate.scalers import EksScaling, FargateScaling
from costmodel.simulate.service_times import LogNormal, ServiceTimes


@dataclass(frozen=True)
class ContainerShape:
    vcpu: float
    memory_gb: float
    workers: int
    rps: float  # RPS one replica serves at full utilisation (the cost model's RPS per task/pod)
    service: LogNormal


@dataclass(frozen=True)
class SimConfig:
    lambda_: LambdaSim
    fargate: FargateScaling
    fargate_shape: ContainerShape
    eks: EksScaling
    eks_shape: ContainerShape
    instance_type: str
    node_volume_gb: float
    service: ServiceTimes
    request_timeout_s: float
    origins: dict[str, str]


def _given(resolved: Resolved, flag: str) -> bool:
    return any(r.name == flag and r.origin.startswith("--") for r in resolved.rows)


def build_config(resolved: Resolved, deployment: Deployment, constants: Constants, service: ServiceTimes) -> SimConfig:
    inputs, c = resolved.inputs, constants
    dl, df, de = deployment.lambda_, deployment.fargate, deployment.eks
    origins: dict[str, str] = {}

    def pick(flag: str, from_flag, from_file, file: str):
        if _given(resolved, flag):
            origins[flag] = f"--{flag}"
            return from_flag
        origins[flag] = file
        return from_file

    memory = pick("memory-mb", inputs.lambda_.memory_mb, dl.memory_mb, dl.source)
    provisioned = pick(
        "provisioned-concurrency", inputs.lambda_.provisioned_concurrency, dl.provisioned_concurrency, dl.source
    )
    limit = dl.reserved_concurrency if dl.reserved_concurrency is not None else int(c["lambda.account_concurrency"])
    lam = LambdaSim(
        memory_mb=int(memory),
        concurrency_limit=int(limit),
        provisioned=int(provisioned),
        idle_lifetime_s=c["lambda.idle_lifetime"],
        scaling_burst=c["lambda.scaling_burst"],
        scaling_refill=c["lambda.scaling_refill"],
        api_rate=dl.api_rate_limit if inputs.lambda_.api_gateway else None,
        api_burst=dl.api_burst_limit,
    )

    task_vcpu = pick("task-vcpu", inputs.fargate.task_vcpu, df.vcpu, df.source)
    task_gb = pick("task-memory-gb", inputs.fargate.task_memory_gb, df.memory_gb, df.source)
    min_tasks = pick("min-tasks", inputs.fargate.min_tasks, df.min_tasks, df.source)
    rps_task = inputs.fargate.rps_per_task or inputs.rps_per_core * task_vcpu
    fargate_shape = ContainerShape(
        task_vcpu, task_gb, df.workers, rps_task, LogNormal(df.workers / rps_task, service.container_spread)
    )
    start = c["fargate.image_size"] / c["fargate.image_pull_rate"] + c["containers.model_load"] + df.health_check_s
    fargate = FargateScaling(
        min_tasks=int(min_tasks),
        max_tasks=max(int(min_tasks), df.max_tasks),
        cpu_target=df.cpu_target,
        requests_target_per_minute=df.requests_per_target_per_minute,
        cooldown_out_s=df.cooldown_out_s,
        cooldown_in_s=df.cooldown_in_s,
        metric_period_s=int(c["fargate.metric_period"]),
        metric_delay_s=c["fargate.metric_delay"],
        out_datapoints=int(c["fargate.scale_out_datapoints"]),
        in_datapoints=int(c["fargate.scale_in_datapoints"]),
        in_threshold=c["fargate.scale_in_threshold"],
        provisioning_s=c["fargate.task_provisioning"],
        start_s=start,
        deregistration_s=df.deregistration_s,
        billing_minimum_s=c["fargate.billing_minimum"],
    )

    pod_vcpu = pick("pod-vcpu", inputs.eks.pod_vcpu, de.pod_vcpu, de.pod_source)
    pod_gb = pick("pod-memory-gb", inputs.eks.pod_memory_gb, de.pod_memory_gb, de.pod_source)
    instance_name = pick("instance-type", inputs.eks.instance_type, de.instance_type, de.cluster_source)
    if instance_name == "auto":
        instance_name = de.instance_type
    instance = resolved.pricing.instance(instance_name)
    per_node = pods_per_node(instance, EksConfig(pod_vcpu=pod_vcpu, pod_memory_gb=pod_gb))
    min_nodes = pick("min-nodes", inputs.eks.min_nodes, de.min_nodes, de.cluster_source)
    min_pods = pick("min-pods", inputs.eks.min_pods, de.min_pods, de.hpa_source)
    volume = pick("node-volume-gb", inputs.eks.node_volume_gb, de.node_volume_gb, de.cluster_source)
    rps_pod = inputs.eks.rps_per_pod or inputs.rps_per_core * pod_vcpu
    eks_shape = ContainerShape(
        pod_vcpu, pod_gb, de.workers, rps_pod, LogNormal(de.workers / rps_pod, service.container_spread)
    )
    eks = EksScaling(
        min_pods=int(min_pods),
        max_pods=max(int(min_pods), de.max_pods),
        cpu_target=de.cpu_target,
        tolerance=c["eks.hpa_tolerance"],
        sync_period_s=int(c["eks.hpa_sync_period"]),
        metrics_window_s=int(c["eks.metrics_resolution"]),
        up_window_s=de.scale_up_window_s,
        down_window_s=de.scale_down_window_s,
        up_pods=int(c["eks.hpa_scale_up_pods"]),
        up_percent=c["eks.hpa_scale_up_percent"],
        pods_per_node=max(1, per_node),
        min_nodes=int(min_nodes),
        max_nodes=max(int(min_nodes), de.max_nodes),
        pod_start_s=c["eks.pod_start"] + c["containers.model_load"] + de.readiness_period_s,
        image_pull_s=c["fargate.image_size"] / c["eks.node_image_pull_rate"],
        scan_interval_s=int(c["eks.autoscaler_scan_interval"]),
        node_launch_s=c["eks.node_launch"],
        node_unneeded_s=c["eks.node_scale_down_unneeded"],
    )
    return SimConfig(
        lam,
        fargate,
        fargate_shape,
        eks,
        eks_shape,
        instance_name,
        float(volume),
        service,
        c["containers.request_timeout"],
        origins,
    )


def initial_replicas(rate: float, rps: float, target: float) -> int:
    """Replicas a steady rate needs at the target utilisation (the simulation starts settled)."""
    return max(1, math.ceil(rate / (rps * target) - 1e-9)) if rate > 0 else 1
