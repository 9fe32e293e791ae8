"""Where a load step's server CPU goes, and so why the knee is the share of the model alone that it is.

Each step of ``capacity`` and ``overload`` reads the server's CPU seconds (the container's cgroup, or the server
processes) and the service's ``model_texts_total`` and ``model_cpu_seconds_total`` (``/metrics``: the model
thread's own CPU time) before and after, with ``requests_admitted_in_burst_total`` (the admission's burst
allowance at work). At the knee, with the model alone timed in the same run
(``--model-limit``), the ratio splits into three measured factors whose product it is (one text a request)::

    knee / model alone = CPU busy            (server CPU seconds a second)
                       × model speed         (model alone's ms a text / the model thread's ms a text in the server)
                       × model share         (the model thread's CPU / the server's CPU)

CPU busy below 1 is headroom the p99 budget and the admission bound need; model speed below 1 is the model
running slower between requests than back to back; model share below 1 is HTTP, validation and the hand-offs.

A container's readings also count the periods its CPU quota (``--cpus``) throttled it in: each is a stall of the
whole server (every answer waits for the next period), so a step with any has had its tail set by the quota,
not by the load.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from loadtest.targets import SERVICE_TARGETS, Target

MODEL_TEXTS = "model_texts_total"
MODEL_CPU_SECONDS = "model_cpu_seconds_total"
BURST_ADMITTED = "requests_admitted_in_burst_total"
COUNTERS = (MODEL_TEXTS, MODEL_CPU_SECONDS, BURST_ADMITTED)


@dataclass(frozen=True)
class Reading:
    """The server's counters at one moment; ``None`` where the target does not expose them."""

    at: float
    server_cpu_s: float | None
    model: tuple[float, float] | None  # (model_texts_total, model_cpu_seconds_total)
    throttling: tuple[int, float] | None = None  # (periods throttled, seconds throttled) of the CPU quota
    burst_admitted: float | None = None  # requests_admitted_in_burst_total: the admission's burst allowance


def service_counters(url: str) -> dict[str, float]:
    """The counters of ``COUNTERS`` the service's ``/metrics`` has, summed over workers (empty without)."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            return parse_counters(response.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return {}


def parse_counters(text: str) -> dict[str, float]:
    """The counters of ``COUNTERS`` in a Prometheus exposition, each summed over workers; absent ones left out."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in COUNTERS:
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def parse_model_counters(text: str) -> tuple[float, float] | None:
    """The two model counters in a Prometheus exposition, summed over workers; ``None`` if absent."""
    return _model_pair(parse_counters(text))


def _model_pair(counters: dict[str, float]) -> tuple[float, float] | None:
    if MODEL_TEXTS not in counters and MODEL_CPU_SECONDS not in counters:
        return None
    return counters.get(MODEL_TEXTS, 0.0), counters.get(MODEL_CPU_SECONDS, 0.0)


def read(target: Target) -> Reading:
    """The target's server CPU and model counters now (the counters only from the FastAPI service's targets: a
    Lambda front would hand ``/metrics`` to the function as one more invocation)."""
    counters = service_counters(target.url) if target.name in SERVICE_TARGETS else {}
    return Reading(
        time.monotonic(),
        target.server_cpu_seconds(),
        _model_pair(counters),
        target.server_cpu_throttling(),
        counters.get(BURST_ADMITTED),
    )


def step_figures(before: Reading, after: Reading, requests: int) -> dict[str, Any]:
    """A step's CPU figures between two readings: server CPU per request, CPU busy, the model thread's share,
    the quota's throttling, and the requests the admission's burst allowance let in."""
    wall = after.at - before.at
    figures: dict[str, Any] = {}
    if before.server_cpu_s is not None and after.server_cpu_s is not None and wall > 0:
        server_cpu = after.server_cpu_s - before.server_cpu_s
        figures["server_cpu_s"] = round(server_cpu, 4)
        figures["cpu_busy"] = round(server_cpu / wall, 4)
        if requests > 0:
            figures["server_cpu_ms_per_request"] = round(1000 * server_cpu / requests, 4)
    if before.model is not None and after.model is not None:
        texts = after.model[0] - before.model[0]
        model_cpu = after.model[1] - before.model[1]
        if texts > 0:
            figures["model_texts"] = int(texts)
            figures["model_cpu_s"] = round(model_cpu, 4)
            figures["model_cpu_ms_per_text"] = round(1000 * model_cpu / texts, 4)
    if before.burst_admitted is not None and after.burst_admitted is not None:
        figures["admitted_in_burst"] = int(after.burst_admitted - before.burst_admitted)
    if before.throttling is not None and after.throttling is not None:
        figures["cpu_quota_throttled_periods"] = after.throttling[0] - before.throttling[0]
        figures["cpu_quota_throttled_ms"] = round(1000 * (after.throttling[1] - before.throttling[1]), 1)
    return figures


def knee_split(knee_step: dict[str, Any] | None, texts_per_s_alone: float) -> dict[str, Any] | None:
    """The three factors of knee / model alone at the knee step, or ``None`` where a figure is missing."""
    if not knee_step or not texts_per_s_alone:
        return None
    needed = ("server_cpu_s", "cpu_busy", "server_cpu_ms_per_request", "model_cpu_s", "model_cpu_ms_per_text")
    if any(not knee_step.get(key) for key in needed):
        return None
    alone_ms = 1000 / texts_per_s_alone
    split = {
        "cpu_busy": knee_step["cpu_busy"],
        "model_speed": round(alone_ms / knee_step["model_cpu_ms_per_text"], 4),
        "model_share": round(knee_step["model_cpu_s"] / knee_step["server_cpu_s"], 4),
    }
    split["product"] = round(split["cpu_busy"] * split["model_speed"] * split["model_share"], 4)
    split["model_alone_ms_per_text"] = round(alone_ms, 4)
    split["model_served_ms_per_text"] = knee_step["model_cpu_ms_per_text"]
    split["server_cpu_ms_per_request"] = knee_step["server_cpu_ms_per_request"]
    return split


def describe(split: dict[str, Any]) -> str:
    """One line: the split's factors and what they multiply to."""
    return (
        f"at the knee: CPU busy {split['cpu_busy']:.2f} × model speed {100 * split['model_speed']:.0f} % "
        f"({split['model_served_ms_per_text']:.2f} ms a text served, {split['model_alone_ms_per_text']:.2f} alone) "
        f"× model share {100 * split['model_share']:.0f} % of {split['server_cpu_ms_per_request']:.2f} ms "
        f"server CPU a request = {100 * split['product']:.1f} %"
    )
