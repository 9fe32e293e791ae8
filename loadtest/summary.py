"""``summary.json``: the one file per result that the report and the cost model read.

Required keys (the cost model reads them; keep them)::

    {"target", "label", "requests", "failures", "rps",
     "latency_ms": {"mean", "median", "p95", "p99"},
     "cold_starts": {"count", "median_ms", "durations_ms"},
     "server": {"cpus", "workers"}, "load_generator": {"cpu_percent", "tool"},
     "emulated"}

Optional blocks: ``capacity`` (capacity probe), ``lambda`` (``local-lambda``). Extra keys (``scenario``,
``model``, ``created``, ...) are informative.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
from pathlib import Path
from typing import Any

SUMMARY_FILE = "summary.json"
LATENCY_KEYS = ("mean", "median", "p95", "p99")


class SummaryError(ValueError):
    """A summary file is missing, unreadable or lacks a required field."""


def percentile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (0..1) by linear interpolation between order statistics; ``None`` if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def latency_block(values_ms: list[float]) -> dict[str, float | None]:
    """Mean, median, p95 and p99 of ``values_ms``, rounded to microseconds (``None`` each when empty)."""
    return {
        "mean": _round(statistics.fmean(values_ms) if values_ms else None),
        "median": _round(percentile(values_ms, 0.50)),
        "p95": _round(percentile(values_ms, 0.95)),
        "p99": _round(percentile(values_ms, 0.99)),
    }


def cold_start_block(
    durations_ms: list[float] | None, source: str, alone_ms: list[float] | None = None
) -> dict[str, Any]:
    """``cold_starts``: count, median and every duration; ``source`` says where they come from (or why none).

    ``alone_ms``, where given, are the cold starts that had the machine to themselves (no other environment
    initialising at the same time): ``alone_count`` and ``alone_median_ms``.
    """
    durations = [round(value, 3) for value in durations_ms or []]
    block: dict[str, Any] = {
        "count": len(durations),
        "median_ms": _round(percentile(durations, 0.5)),
        "durations_ms": durations,
        "source": source,
    }
    if alone_ms is not None:
        block["alone_count"] = len(alone_ms)
        block["alone_median_ms"] = _round(percentile(alone_ms, 0.5))
    return block


def machine_block() -> dict[str, Any]:
    """The machine the figures were measured on."""
    return {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()}


def _is_number(value: Any, allow_none: bool = False) -> bool:
    if value is None:
        return allow_none
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def problems(summary: Any) -> list[str]:
    """Every required field that is missing or of the wrong type, as readable lines (empty: valid)."""
    if not isinstance(summary, dict):
        return ["summary is not a JSON object"]
    found = []

    def need(path: str, ok: bool) -> None:
        if not ok:
            found.append(f"{path} is missing or not the right type")

    need("target", isinstance(summary.get("target"), str))
    need("label", isinstance(summary.get("label"), str))
    need("requests", isinstance(summary.get("requests"), int) and not isinstance(summary.get("requests"), bool))
    need("failures", isinstance(summary.get("failures"), int) and not isinstance(summary.get("failures"), bool))
    need("rps", _is_number(summary.get("rps")))
    need("emulated", isinstance(summary.get("emulated"), bool))
    latency = summary.get("latency_ms")
    need("latency_ms", isinstance(latency, dict))
    for key in LATENCY_KEYS if isinstance(latency, dict) else ():
        need(f"latency_ms.{key}", key in latency and _is_number(latency[key], allow_none=True))
    cold = summary.get("cold_starts")
    need("cold_starts", isinstance(cold, dict))
    if isinstance(cold, dict):
        need("cold_starts.count", isinstance(cold.get("count"), int))
        need("cold_starts.median_ms", "median_ms" in cold and _is_number(cold["median_ms"], allow_none=True))
        need("cold_starts.durations_ms", isinstance(cold.get("durations_ms"), list))
    server = summary.get("server")
    need("server", isinstance(server, dict))
    if isinstance(server, dict):
        need("server.cpus", "cpus" in server and _is_number(server["cpus"], allow_none=True))
        need(
            "server.workers", "workers" in server and (server["workers"] is None or isinstance(server["workers"], int))
        )
    generator = summary.get("load_generator")
    need("load_generator", isinstance(generator, dict))
    if isinstance(generator, dict):
        need(
            "load_generator.cpu_percent",
            "cpu_percent" in generator and _is_number(generator["cpu_percent"], allow_none=True),
        )
        need("load_generator.tool", isinstance(generator.get("tool"), str))
    capacity = summary.get("capacity")
    if capacity is not None:
        need("capacity", isinstance(capacity, dict))
        if isinstance(capacity, dict):
            need("capacity.knee_rps", "knee_rps" in capacity and _is_number(capacity["knee_rps"], allow_none=True))
            need("capacity.p99_budget_ms", _is_number(capacity.get("p99_budget_ms")))
            need("capacity.steps", isinstance(capacity.get("steps"), list))
    return found


def read_summary(path: Path) -> dict[str, Any]:
    """A valid summary from ``path`` (a ``summary.json`` or the folder holding one)."""
    path = Path(path)
    if not path.exists():
        raise SummaryError(f"{path}: no such results folder")
    file = path / SUMMARY_FILE if path.is_dir() else path
    if not file.is_file():
        raise SummaryError(f"{file}: no such summary file")
    try:
        summary = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SummaryError(f"{file}: not readable as JSON ({error})") from None
    found = problems(summary)
    if found:
        raise SummaryError(f"{file}: {'; '.join(found)}")
    return summary


def write_summary(out_dir: Path, summary: dict[str, Any]) -> Path:
    """Write ``out_dir/summary.json`` (checked first), keeping an earlier probe of the same target and model.

    A load-test run and a capacity probe of one target can share a results folder: each keeps the other's part.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SUMMARY_FILE
    if path.is_file():
        try:
            earlier = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            earlier = None
        same = isinstance(earlier, dict) and all(earlier.get(k) == summary.get(k) for k in ("target", "model"))
        if same and "capacity" in earlier and "capacity" not in summary:
            summary = {**summary, "capacity": earlier["capacity"]}
        if same and summary.get("scenario") == "capacity" and earlier.get("scenario") != "capacity":
            summary = {**earlier, "capacity": summary["capacity"]}
    found = problems(summary)
    if found:
        raise SummaryError(f"refusing to write an invalid summary: {'; '.join(found)}")
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path
