"""Prometheus metrics: requests by route and status, latency, predictions by label, model load time, the model
thread's CPU time, and admission control (requests shed, texts in flight).

With several worker processes, metrics go through prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by ``python -m container``), so one scrape sees every worker.
"""

from __future__ import annotations

import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("http_requests_total", "HTTP requests by route, method and status", ["route", "method", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PREDICTIONS = Counter("predictions_total", "Predictions by label", ["sentiment"])
MODEL_LOAD_SECONDS = Gauge("model_load_seconds", "Seconds taken to verify and load the model", multiprocess_mode="max")
MODEL_TEXTS = Counter("model_texts_total", "Texts the model thread has run")
MODEL_CPU_SECONDS = Counter(
    "model_cpu_seconds_total", "CPU seconds the model thread has spent running texts (tokenizer and ONNX Runtime)"
)
SHED = Counter(
    "requests_shed_total",
    "Prediction requests refused before the model: overloaded (429) or shutting_down (503)",
    ["reason"],
)
BURST_ADMITTED = Counter(
    "requests_admitted_in_burst_total",
    "Prediction requests admitted past MAX_INFLIGHT_TEXTS under the burst allowance (BURST_TEXTS)",
)
INFLIGHT_TEXTS = Gauge(
    "inflight_texts", "Texts admitted and not yet answered (summed over live workers)", multiprocess_mode="livesum"
)


def record_model_run(texts: int, cpu_seconds: float) -> None:
    """Count one batch the model thread ran (``MicroBatcher``'s ``on_run``)."""
    MODEL_TEXTS.inc(texts)
    MODEL_CPU_SECONDS.inc(cpu_seconds)


def render() -> tuple[bytes, str]:
    """The exposition text for every worker's metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class PrometheusMiddleware:
    """Pure ASGI middleware (no per-request task or body copy) that counts and times every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            labels = (path, scope["method"], str(status))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)
