"""What both Lambda entry points report about their init: a structured log line and CloudWatch EMF metrics.

Metric names (namespace ``POWERTOOLS_METRICS_NAMESPACE``, dimension ``service``):

- ``InitDuration`` (ms): from the ``functions`` package's first import to a loaded, warmed-up model;
- ``ModelLoadDuration`` (ms): verifying, loading and warming up the model, a part of ``InitDuration``;
- ``ColdStart`` (count), ``PredictionLatency`` (ms) and ``Predictions`` (count, by ``sentiment``) are emitted
  per invocation by the handlers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from inference.model import ModelInfo
from inference.settings import Settings


@dataclass(frozen=True)
class InitReport:
    """How long an execution environment's init took, and the model load's part of it."""

    entry_point: str
    init_ms: float
    model_load_ms: float


def report_init(logger: Logger, settings: Settings, info: ModelInfo, started: float, entry_point: str) -> InitReport:
    """Log the finished init and emit its metrics at once (they reach CloudWatch from the init phase's log)."""
    init_ms = round((time.perf_counter() - started) * 1000, 1)
    model_load_ms = round(info.load_seconds * 1000, 1)
    logger.info(
        "model loaded",
        extra={
            "entry_point": entry_point,
            "model_name": info.name,
            "model_version": info.version,
            "model_dir": str(info.model_dir),
            "model_load_ms": model_load_ms,
            "init_ms": init_ms,
        },
    )
    init_metrics = EphemeralMetrics(
        namespace=settings.powertools_metrics_namespace, service=settings.powertools_service_name
    )
    init_metrics.add_metric(name="InitDuration", unit=MetricUnit.Milliseconds, value=init_ms)
    init_metrics.add_metric(name="ModelLoadDuration", unit=MetricUnit.Milliseconds, value=model_load_ms)
    init_metrics.flush_metrics()
    return InitReport(entry_point=entry_point, init_ms=init_ms, model_load_ms=model_load_ms)
