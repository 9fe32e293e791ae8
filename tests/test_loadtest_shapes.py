"""The shape readers against the project's own deployment files, and the quantity parsers."""

from __future__ import annotations

import pytest

from loadtest.shapes import (
    HealthCommand,
    Shape,
    ShapeError,
    copilot_health_command,
    docker_run_flags,
    eks_shape,
    fargate_shape,
    kubernetes_cpus,
    kubernetes_health_command,
    kubernetes_memory_mb,
    lambda_shape,
)


def test_fargate_shape_is_the_copilot_task():
    shape = fargate_shape()
    assert (shape.cpus, shape.memory_mb, shape.source) == (1.0, 2048, "copilot/api/manifest.yml")
    # The one override of the production variant: a Fargate task's CPU is its own, so the server pins itself.
    assert shape.environment == {"PIN_CPUS": "true"}


def test_eks_shape_is_the_pod_limits_and_matches_fargate_environment():
    shape = eks_shape()
    assert (shape.cpus, shape.memory_mb, shape.source) == (1.0, 2048, "eksctl/k8s/deployment.yaml")
    # A pod shares its node: it must not pin itself (every replica would pick the same CPUs).
    fargate_environment = {k: v for k, v in fargate_shape().environment.items() if k != "PIN_CPUS"}
    assert shape.environment == fargate_environment


def test_lambda_shape_gets_the_cpu_share_of_its_memory():
    shape = lambda_shape()
    assert shape.source == "template.yaml" and shape.memory_mb >= 128
    assert shape.cpus == pytest.approx(shape.memory_mb / 1769, abs=0.001)


def test_docker_flags_carry_the_shape():
    flags = docker_run_flags(fargate_shape())
    # The manifest gives no image.healthcheck: ECS runs no command in the task, so Docker runs none either.
    assert flags == ["--cpus", "1", "--memory", "2048m", "--no-healthcheck", "-e", "PIN_CPUS=true"]
    staged = docker_run_flags(Shape("fargate", 0.5, 1024, "copilot/api/manifest.yml", {"LOG_LEVEL": "DEBUG"}))
    assert staged == ["--cpus", "0.5", "--memory", "1024m", "--no-healthcheck", "-e", "LOG_LEVEL=DEBUG"]


def test_the_deployment_files_run_no_health_command_in_the_container():
    """The ALB's check and the httpGet probes come from outside the container: the shapes carry no command."""
    assert fargate_shape().health_command is None
    assert eks_shape().health_command is None
    assert "--no-healthcheck" in docker_run_flags(eks_shape())


def test_a_platforms_health_command_replaces_the_images(tmp_path):
    manifest = tmp_path / "manifest.yml"
    check = "healthcheck: {command: [CMD-SHELL, 'curl -f http://localhost:8080/health || exit 1'], interval: 15s}"
    manifest.write_text(f"name: api\ncpu: 512\nmemory: 1024\nimage:\n  port: 8080\n  {check}\n")
    shape = fargate_shape(manifest)
    assert shape.health_command == HealthCommand("curl -f http://localhost:8080/health || exit 1", 15.0)
    flags = docker_run_flags(shape)
    assert flags[4:8] == ["--health-cmd", "curl -f http://localhost:8080/health || exit 1", "--health-interval", "15s"]
    assert "--no-healthcheck" not in flags


def test_a_kubernetes_exec_probe_is_the_pods_health_command():
    container = {
        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}},
        "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy file"]}, "periodSeconds": 7},
    }
    assert kubernetes_health_command(container) == HealthCommand("cat '/tmp/healthy file'", 7.0)
    assert kubernetes_health_command({"livenessProbe": {"httpGet": {"path": "/health"}}}) is None
    assert copilot_health_command({"port": 8080}) is None


def test_kubernetes_quantities():
    assert kubernetes_cpus("500m") == 0.5 and kubernetes_cpus("2") == 2.0
    assert kubernetes_memory_mb("2Gi") == 2048 and kubernetes_memory_mb("512Mi") == 512
    assert kubernetes_memory_mb(str(2**30)) == 1024
    with pytest.raises(ShapeError, match="not understood"):
        kubernetes_memory_mb("lots")


def test_a_manifest_without_a_size_is_named(tmp_path):
    manifest = tmp_path / "manifest.yml"
    manifest.write_text("name: api\n")
    with pytest.raises(ShapeError, match=r"manifest\.yml: no top-level cpu and memory"):
        fargate_shape(manifest)
