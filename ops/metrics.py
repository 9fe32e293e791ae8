"""Deployment outcomes as CloudWatch custom metrics: ``DeploymentSuccess`` / ``DeploymentFailure``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from inference.settings import Settings

if TYPE_CHECKING:
    from botocore.client import BaseClient

DEFAULT_NAMESPACE = Settings().powertools_metrics_namespace
SUCCESS_METRIC = "DeploymentSuccess"
FAILURE_METRIC = "DeploymentFailure"


def record_deployment(
    cloudwatch: BaseClient, platform: str, version: str, succeeded: bool, namespace: str = DEFAULT_NAMESPACE
) -> str:
    """Put one count of ``DeploymentSuccess`` or ``DeploymentFailure`` with ``Platform`` and ``Version``; return
    the metric name."""
    name = SUCCESS_METRIC if succeeded else FAILURE_METRIC
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "Platform", "Value": platform}, {"Name": "Version", "Value": version}],
                "Value": 1.0,
                "Unit": "Count",
            }
        ],
    )
    return name
