"""The burst shape: one user, then no users, then a step to many users at once (exposes cold starts).

Load it beside the users: ``locust -f loadtest/locustfile.py,loadtest/burst.py``. Phases come from the
``--burst-*`` options the locustfile adds. The idle phase should outlast the target's idle reaping
(``local-lambda``: ``--lambda-idle-timeout``) so the burst lands on cold environments.
"""

from __future__ import annotations

from locust import LoadTestShape

from loadtest.scenarios import burst_phases


class BurstShape(LoadTestShape):
    """Warm (1 user), idle (0 users), burst (``--burst-users`` users spawned at once)."""

    def tick(self) -> tuple[int, float] | None:
        """Users and spawn rate for now, or ``None`` once the burst is over."""
        options = self.runner.environment.parsed_options
        phases = burst_phases(options.burst_warm_s, options.burst_idle_s, options.burst_s, options.burst_users)
        run_time = self.get_run_time()
        for ends_at, users, spawn_rate in phases:
            if run_time < ends_at:
                return users, spawn_rate
        return None
