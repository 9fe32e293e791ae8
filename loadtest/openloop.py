"""Open-loop steps that keep every answer (``wrk_per_request.lua``), the capacity knee, and the server's RSS.

Shared by ``python -m loadtest overload`` and ``python -m loadtest soak``: both need latencies split by
status (admitted 200s apart from 429s), which wrk's own histogram does not give.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from loadtest.capacity import parse_wrk_output, run_wrk, run_wrk_step, search, wrk_timeout_s
from loadtest.targets import REPO_ROOT, Target

LUA_SCRIPT = REPO_ROOT / "loadtest" / "wrk_per_request.lua"
# Connections (one per wrk thread) for a rate: enough that a thread's interval outlasts a slow answer.
MAX_CONNECTIONS = 256
SLOW_ANSWER_S = 0.5


def connections_for(rate: float) -> int:
    """One connection per wrk thread: about ``rate x SLOW_ANSWER_S``, at least 4, at most ``MAX_CONNECTIONS``.

    Each thread offers ``rate / connections`` requests a second, so an answer slower than
    ``connections / rate`` makes that thread's next request late (recorded as lateness). Fewer than the
    rate over 2 per second: uvicorn closes a keep-alive connection idle for 5 s.
    """
    wanted = max(4, math.ceil(rate * SLOW_ANSWER_S))
    return max(1, min(wanted, MAX_CONNECTIONS, math.floor(rate * 2)))


def run_records(binary: str, url: str, bodies: Path, rate: float, seconds: int, records: Path) -> dict[str, Any]:
    """Offer ``rate`` RPS for ``seconds``; every answer's status, send time, latency and lateness, and wrk's errors."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/") + "/predict"
    connections = connections_for(rate)
    timeout_s = wrk_timeout_s(rate, connections, 100.0)
    command = [binary, f"-t{connections}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s"]
    command += ["-s", str(LUA_SCRIPT), base, "--", str(bodies), f"{rate:.6f}", path, str(records), str(connections)]
    output, cpu_s, wall = run_wrk(command)
    result = parse_wrk_output(output)
    table = np.loadtxt(records, dtype=np.float64, ndmin=2) if records.stat().st_size else np.empty((0, 4))
    return {
        "offered_rps": rate,
        "seconds": seconds,
        "connections": connections,
        "wrk": result,
        "status": table[:, 0].astype(int),
        "sent_ms": table[:, 1] - (table[:, 1].min() if len(table) else 0.0),
        "sent_at_ms": table[:, 1],  # the monotonic clock's ms, comparable across runs
        "latency_ms": table[:, 2],
        "lateness_ms": table[:, 3],
        "generator_cpu_percent": round(100 * cpu_s / wall, 1) if wall > 0 else 0.0,
    }


def percentile(values: np.ndarray, q: float) -> float | None:
    """The ``q``-th percentile by nearest rank (the smallest value with q % at or below it); ``None`` if empty."""
    if not len(values):
        return None
    return round(float(np.percentile(values, q, method="inverted_cdf")), 3)


def figures(run: dict[str, Any]) -> dict[str, Any]:
    """A step's figures: answers by status, admitted (200) and 429 latencies, failures, lateness."""
    status, latency = run["status"], run["latency_ms"]
    answered = len(status)
    admitted = latency[status == 200]
    throttled = latency[status == 429]
    errors = run["wrk"]["errors"]
    socket_errors = sum(int(errors[key]) for key in ("connect", "read", "write", "timeout"))
    server_errors = int(np.count_nonzero(status >= 500))
    other = int(np.count_nonzero((status != 200) & (status != 429) & (status < 500)))  # incl. 0: bad answers
    duration_s = run["wrk"]["duration_us"] / 1e6
    return {
        "offered_rps": round(run["offered_rps"], 3),
        "achieved_rps": round(answered / duration_s, 3) if duration_s > 0 else 0.0,
        "answers": answered,
        "admitted": len(admitted),
        "admitted_rps": round(len(admitted) / duration_s, 3) if duration_s > 0 else 0.0,
        "admitted_p50_ms": percentile(admitted, 50),
        "admitted_p99_ms": percentile(admitted, 99),
        "throttled": len(throttled),
        "throttled_share": round(len(throttled) / answered, 4) if answered else 0.0,
        "throttled_p99_ms": percentile(throttled, 99),
        "server_errors": server_errors,
        "other_failures": other + socket_errors,
        "failures": server_errors + other + socket_errors,
        "socket_errors": errors,
        "send_lateness_p99_ms": percentile(run["lateness_ms"], 99),
        "connections": run["connections"],
        "generator_cpu_percent": run["generator_cpu_percent"],
    }


def server_rss_bytes(target: Target) -> int | None:
    """Resident memory of the server's processes (the root and every worker), where it can be read."""
    if target.rss_reader is not None:
        return target.rss_reader()
    if target.process is None:
        return None
    import psutil

    try:
        root = psutil.Process(target.process.pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


def probe_knee(
    binary: str, url: str, bodies: Path, budget_ms: float, step_s: int, on_step: Callable[[dict[str, Any]], None]
) -> tuple[float | None, list[dict[str, Any]]]:
    """The capacity knee (``python -m loadtest capacity``'s rule: no failures, a 429 included, p99 + lateness
    within ``budget_ms``), searched from 20 RPS by x1.5 steps and 2 bisections; with every step."""

    def run_step(rate: float) -> dict[str, Any]:
        time.sleep(1.0)
        step = run_wrk_step(binary, url, bodies, rate, step_s, budget_ms)
        on_step(step)
        return step

    steps = search(run_step, 20.0, 5000.0, 1.5, 2)
    passing = [step["achieved_rps"] for step in steps if step["passed"]]
    return (max(passing) if passing else None), steps
