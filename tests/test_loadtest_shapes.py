"""The shape readers against the project's own deployment files, and the quantity parsers."""

from __future__ import annotations

import pytest

from loadtest.shapes import (
    Shape,
    ShapeError,
    docker_run_flags,
    eks_shape,
    fargate_shape,
    kubernetes_cpus,
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
    assert flags == ["--cpus", "1", "--memory", "2048m", "-e", "PIN_CPUS=true"]
    staged = docker_run_flags(Shape("fargate", 0.5, 1024, "copilot/api/manifest.yml", {"LOG_LEVEL": "DEBUG"}))
    assert staged == ["--cpus", "0.5", "--memory", "1024m", "-e", "LOG_LEVEL=DEBUG"]


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
