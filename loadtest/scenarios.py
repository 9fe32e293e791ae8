"""Scenario arithmetic shared by the Locust files and the runner, without importing Locust.

(Importing Locust monkey-patches the process with gevent, whose child watcher would reap the runner's
subprocesses; the runner must never import it.)
"""

from __future__ import annotations


def burst_phases(warm_s: float, idle_s: float, burst_s: float, burst_users: int) -> list[tuple[float, int, float]]:
    """``(ends_at_s, users, spawn_rate)`` per phase; the burst spawns every user in its first second."""
    phases = []
    elapsed = 0.0
    for length, users in ((warm_s, 1), (idle_s, 0), (burst_s, burst_users)):
        if length <= 0:
            continue
        elapsed += length
        phases.append((elapsed, users, float(max(users, 1))))
    return phases


def burst_length_s(warm_s: float, idle_s: float, burst_s: float) -> float:
    """How long the whole shape runs."""
    return max(warm_s, 0) + max(idle_s, 0) + max(burst_s, 0)
