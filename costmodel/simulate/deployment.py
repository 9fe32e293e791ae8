"""The deployed scaling shapes, read from the project's deployment files (never restated here).

- Lambda (``template.yaml``): the parameters' defaults for ``MemorySize``, ``Timeout``,
  ``ReservedConcurrency``, ``ProvisionedConcurrency`` and the HTTP API's ``ThrottlingRateLimit`` /
  ``ThrottlingBurstLimit``.
- ECS Fargate (``copilot/api/manifest.yml``): task CPU and memory (`loadtest.shapes.fargate_shape`),
  ``WEB_CONCURRENCY`` workers, ``count.range``, ``cooldown``, ``cpu_percentage``, ``requests``, the health
  check's ``healthy_threshold`` × ``interval`` and ``deregistration_delay``.
- EKS (``eksctl/k8s/deployment.yaml``, ``hpa.yaml``, ``eksctl/cluster.yaml``): the pod's CPU/memory
  requests and workers, readiness probe period, HPA replicas, target and stabilisation windows, and
  the node groups' instance type and sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loadtest.shapes import COPILOT_MANIFEST, EKS_DEPLOYMENT, fargate_shape, kubernetes_cpus, kubernetes_memory_mb
from loadtest.targets import REPO_ROOT, SAM_TEMPLATE

EKS_HPA = REPO_ROOT / "eksctl" / "k8s" / "hpa.yaml"
EKS_CLUSTER = REPO_ROOT / "eksctl" / "cluster.yaml"


class DeploymentError(ValueError):
    """A deployment file lacks a value the simulator needs; the message names the file and the key."""


@dataclass(frozen=True)
class LambdaDeployment:
    memory_mb: int
    timeout_s: float
    reserved_concurrency: int | None  # None: the account's unreserved pool
    provisioned_concurrency: int
    api_rate_limit: float  # requests per second (HTTP API stage throttling)
    api_burst_limit: float
    source: str


@dataclass(frozen=True)
class FargateDeployment:
    vcpu: float
    memory_gb: float
    workers: int
    min_tasks: int
    max_tasks: int
    cooldown_in_s: float
    cooldown_out_s: float
    cpu_target: float  # fraction
    requests_per_target_per_minute: float | None
    health_check_s: float  # healthy_threshold × interval
    deregistration_s: float
    source: str


@dataclass(frozen=True)
class EksDeployment:
    pod_vcpu: float
    pod_memory_gb: float
    workers: int
    readiness_period_s: float
    min_pods: int
    max_pods: int
    cpu_target: float
    scale_up_window_s: float
    scale_down_window_s: float
    instance_type: str
    min_nodes: int
    max_nodes: int
    node_volume_gb: float
    source: str
    pod_source: str = "eksctl/k8s/deployment.yaml"
    hpa_source: str = "eksctl/k8s/hpa.yaml"
    cluster_source: str = "eksctl/cluster.yaml"


@dataclass(frozen=True)
class Deployment:
    lambda_: LambdaDeployment
    fargate: FargateDeployment
    eks: EksDeployment


class _TagIgnoringLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !If...) read as plain nodes."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_TagIgnoringLoader.add_multi_constructor("!", _any_tag)


def _read(path: Path, all_documents: bool = False) -> Any:
    if not path.is_file():
        raise DeploymentError(f"{path}: not found")
    text = path.read_text(encoding="utf-8")
    if all_documents:
        return list(yaml.safe_load_all(text))
    return yaml.load(text, Loader=_TagIgnoringLoader)


def _need(value: Any, path: Path, key: str) -> Any:
    if value is None:
        raise DeploymentError(f"{path}: no {key}")
    return value


def _seconds(text: Any, path: Path, key: str) -> float:
    match = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|m|h)?\s*", str(_need(text, path, key)))
    if not match:
        raise DeploymentError(f"{path}: {key} {text!r} is not a duration")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    return float(match.group(1)) * scale


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def lambda_deployment(path: Path = SAM_TEMPLATE) -> LambdaDeployment:
    params = (_read(path) or {}).get("Parameters") or {}

    def default(name: str) -> Any:
        return _need((params.get(name) or {}).get("Default"), path, f"Parameters.{name}.Default")

    reserved = int(default("ReservedConcurrency"))
    return LambdaDeployment(
        memory_mb=int(default("MemorySize")),
        timeout_s=float(default("Timeout")),
        reserved_concurrency=None if reserved < 0 else reserved,
        provisioned_concurrency=int(default("ProvisionedConcurrency")),
        api_rate_limit=float(default("ThrottlingRateLimit")),
        api_burst_limit=float(default("ThrottlingBurstLimit")),
        source=_rel(path),
    )


def fargate_deployment(path: Path = COPILOT_MANIFEST) -> FargateDeployment:
    manifest = _read(path) or {}
    shape = fargate_shape(path)
    count = _need(manifest.get("count"), path, "count")
    low, high = (int(v) for v in str(_need(count.get("range"), path, "count.range")).split("-"))
    cooldown = count.get("cooldown") or {}
    check = ((manifest.get("http") or {}).get("healthcheck")) or {}
    requests = count.get("requests")
    return FargateDeployment(
        vcpu=shape.cpus,
        memory_gb=shape.memory_mb / 1024,
        workers=int(shape.environment.get("WEB_CONCURRENCY", 1)),
        min_tasks=low,
        max_tasks=high,
        cooldown_in_s=_seconds(cooldown.get("in"), path, "count.cooldown.in"),
        cooldown_out_s=_seconds(cooldown.get("out"), path, "count.cooldown.out"),
        cpu_target=float(_need(count.get("cpu_percentage"), path, "count.cpu_percentage")) / 100,
        requests_per_target_per_minute=float(requests) if requests is not None else None,
        health_check_s=int(_need(check.get("healthy_threshold"), path, "http.healthcheck.healthy_threshold"))
        * _seconds(check.get("interval"), path, "http.healthcheck.interval"),
        deregistration_s=_seconds(
            (manifest.get("http") or {}).get("deregistration_delay", "300s"), path, "http.deregistration_delay"
        ),
        source=_rel(path),
    )


def eks_deployment(
    deployment_path: Path = EKS_DEPLOYMENT, hpa_path: Path = EKS_HPA, cluster_path: Path = EKS_CLUSTER
) -> EksDeployment:
    container = None
    for document in _read(deployment_path, all_documents=True):
        if isinstance(document, dict) and document.get("kind") == "Deployment":
            for spec in document["spec"]["template"]["spec"].get("containers", []):
                if spec.get("name") == "api":
                    container = spec
    container = _need(container, deployment_path, "Deployment with a container named 'api'")
    requests = _need((container.get("resources") or {}).get("requests"), deployment_path, "resources.requests")
    env = {e["name"]: str(e["value"]) for e in container.get("env") or [] if "value" in e}
    readiness = container.get("readinessProbe") or {}
    hpa = _read(hpa_path) or {}
    spec = _need(hpa.get("spec"), hpa_path, "spec")
    target = None
    for metric in spec.get("metrics") or []:
        resource = metric.get("resource") or {}
        if resource.get("name") == "cpu":
            target = (resource.get("target") or {}).get("averageUtilization")
    behavior = spec.get("behavior") or {}
    groups = _need((_read(cluster_path) or {}).get("managedNodeGroups"), cluster_path, "managedNodeGroups")
    instance = _need((groups[0].get("instanceTypes") or [None])[0], cluster_path, "managedNodeGroups[0].instanceTypes")
    return EksDeployment(
        pod_vcpu=kubernetes_cpus(_need(requests.get("cpu"), deployment_path, "resources.requests.cpu")),
        pod_memory_gb=kubernetes_memory_mb(_need(requests.get("memory"), deployment_path, "requests.memory")) / 1024,
        workers=int(env.get("WEB_CONCURRENCY", 1)),
        readiness_period_s=float(readiness.get("periodSeconds", 10)),
        min_pods=int(spec.get("minReplicas", 1)),
        max_pods=int(_need(spec.get("maxReplicas"), hpa_path, "spec.maxReplicas")),
        cpu_target=float(_need(target, hpa_path, "a cpu averageUtilization metric")) / 100,
        scale_up_window_s=float((behavior.get("scaleUp") or {}).get("stabilizationWindowSeconds", 0)),
        scale_down_window_s=float((behavior.get("scaleDown") or {}).get("stabilizationWindowSeconds", 300)),
        instance_type=str(instance),
        min_nodes=sum(int(g.get("minSize", 0)) for g in groups),
        max_nodes=sum(int(g.get("maxSize", 0)) for g in groups),
        node_volume_gb=float(groups[0].get("volumeSize", 80)),
        source=f"{_rel(deployment_path)}, {_rel(hpa_path)}, {_rel(cluster_path)}",
        pod_source=_rel(deployment_path),
        hpa_source=_rel(hpa_path),
        cluster_source=_rel(cluster_path),
    )


def load_deployment() -> Deployment:
    return Deployment(lambda_deployment(), fargate_deployment(), eks_deployment())
