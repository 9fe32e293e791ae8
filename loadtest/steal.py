"""Steal time: CPU time the hypervisor gave to other guests while this machine's CPUs had work to run.

On a virtual machine a stall of the whole server can come from the host, not from the load: ``/proc/stat``
counts it per CPU (the 8th value of each ``cpuN`` line, in ``USER_HZ`` ticks, 10 ms). A run reads it every
``EVERY_S`` seconds in a thread (``loadtest.sampler.Sampler``); ``by_second`` turns the samples into
milliseconds of steal per CPU in each second of the monotonic clock, the clock ``wrk_per_request.lua`` stamps
requests with, so the seconds in which requests were refused can be set beside the rest.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

PROC_STAT = Path("/proc/stat")
STEAL_FIELD = 8  # cpuN user nice system idle iowait irq softirq steal ...
EVERY_S = 0.1  # how often a run samples it (``loadtest.sampler.Sampler``)


def read_steal_ticks(stat: Path = PROC_STAT) -> tuple[int, ...] | None:
    """Steal ticks of each CPU (``cpu0``, ``cpu1``, ...), or ``None`` where ``/proc/stat`` has none."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    ticks = [int(line.split()[STEAL_FIELD]) for line in lines if line.startswith("cpu") and line[3:4].isdigit()]
    return tuple(ticks) if ticks else None


def by_second(samples: list[tuple[float, tuple[int, ...]]]) -> dict[int, tuple[float, ...]]:
    """Milliseconds of steal per CPU in each whole second of the monotonic clock (each interval's steal is put
    in the second its sample ends in)."""
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    seconds: dict[int, list[float]] = {}
    for (_, before), (at, after) in itertools.pairwise(samples):
        row = seconds.setdefault(int(at), [0.0] * len(after))
        for cpu, (old, new) in enumerate(zip(before, after, strict=True)):
            row[cpu] += (new - old) * tick_ms
    return {second: tuple(round(ms, 1) for ms in row) for second, row in sorted(seconds.items())}


def beside_refusals(per_second: dict[int, tuple[float, ...]], refused_at_ms: list[float]) -> dict[str, Any] | None:
    """Steal per CPU in the seconds with a refusal against the other seconds: mean and most ms a second."""
    if not per_second:
        return None
    refused = {int(at // 1000) for at in refused_at_ms}
    cpus = len(next(iter(per_second.values())))

    def summary(rows: list[tuple[float, ...]]) -> dict[str, Any]:
        if not rows:
            return {"seconds": 0, "mean_ms": None, "max_ms": None}
        return {
            "seconds": len(rows),
            "mean_ms": [round(sum(row[cpu] for row in rows) / len(rows), 1) for cpu in range(cpus)],
            "max_ms": [max(row[cpu] for row in rows) for cpu in range(cpus)],
        }

    with_refusal = [row for second, row in per_second.items() if second in refused]
    without = [row for second, row in per_second.items() if second not in refused]
    return {"with_a_refusal": summary(with_refusal), "without": summary(without)}


def summarize(per_second: dict[int, tuple[float, ...]], refused_at_ms: list[float]) -> dict[str, Any] | None:
    """Steal over a run (share of CPU time, ms per CPU, every second's) and beside its refusals; ``None`` where
    ``/proc/stat`` counted none."""
    if not per_second:
        return None
    rows = list(per_second.values())
    totals = [round(sum(row[cpu] for row in rows), 1) for cpu in range(len(rows[0]))]
    return {
        "share_of_cpu_time": round(sum(totals) / (1000 * len(rows) * len(totals)), 4),
        "ms_per_cpu": totals,
        "beside_refusals": beside_refusals(per_second, refused_at_ms),
        "by_second": {str(second): list(row) for second, row in per_second.items()},
    }
