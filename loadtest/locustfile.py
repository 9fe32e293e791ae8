"""Locust users for the sentiment API: the realistic mix (70 % single texts, 30 % batches of 5 to 10).

Run it through ``python -m loadtest run`` (which starts local targets, shows progress and writes
``summary.json``), or directly: ``locust -f loadtest/locustfile.py --host URL``. Every response is checked
for status, schema (the API's pydantic models) and labels; a response that fails a check counts as a
failure with the reason. ``--scenario single`` sends only single texts (latency at low load).
``loadtest/burst.py`` adds the burst shape.
"""

from __future__ import annotations

import csv
import random
import time
from pathlib import Path

from locust import FastHttpUser, events, task

from loadtest.checks import check_batch, check_single
from loadtest.texts import pick_batch, pick_text

_REQUEST_LOG: list[tuple[float, str, float, bool]] = []


@events.init_command_line_parser.add_listener
def _add_arguments(parser) -> None:
    group = parser.add_argument_group("sentiment load test")
    group.add_argument("--scenario", choices=("mix", "single"), default="mix", help="request mix")
    group.add_argument("--think-min", type=float, default=0.1, help="shortest pause between requests, seconds")
    group.add_argument("--think-max", type=float, default=0.5, help="longest pause between requests, seconds")
    group.add_argument("--request-log", default="", help="CSV file for every request's timing (written at exit)")
    group.add_argument("--burst-users", type=int, default=50, help="burst shape: users in the burst")
    group.add_argument("--burst-warm-s", type=float, default=10.0, help="burst shape: one user for this long")
    group.add_argument("--burst-idle-s", type=float, default=20.0, help="burst shape: then no users for this long")
    group.add_argument("--burst-s", type=float, default=30.0, help="burst shape: then the burst for this long")


@events.request.add_listener
def _log_request(request_type, name, response_time, response_length, exception=None, **_) -> None:
    _REQUEST_LOG.append((time.time(), name, float(response_time), exception is None))


@events.quitting.add_listener
def _write_request_log(environment, **_) -> None:
    path = getattr(environment.parsed_options, "request_log", "") if environment.parsed_options else ""
    if not path:
        return
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "name", "response_time_ms", "success"])
        writer.writerows((f"{t:.6f}", name, f"{ms:.3f}", int(ok)) for t, name, ms, ok in _REQUEST_LOG)


class SentimentUser(FastHttpUser):
    """A client of the API: mostly single texts, sometimes a batch, with a short think time between."""

    def __init__(self, environment) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        self.think_min = getattr(options, "think_min", 0.1)
        self.think_max = max(self.think_min, getattr(options, "think_max", 0.5))
        self.single_only = getattr(options, "scenario", "mix") == "single"
        self.rng = random.Random()

    def wait_time(self) -> float:
        """A uniform think time between ``--think-min`` and ``--think-max`` seconds."""
        return self.rng.uniform(self.think_min, self.think_max)

    @task(7)
    def predict_one(self) -> None:
        """``POST /predict`` with one review."""
        text = pick_text(self.rng)
        with self.client.post("/predict", json={"text": text}, name="/predict", catch_response=True) as response:
            problem = check_single(response.status_code, response.content, text)
            if problem:
                response.failure(problem)

    @task(3)
    def predict_batch(self) -> None:
        """``POST /predict/batch`` with 5 to 10 reviews (a single text in ``--scenario single``)."""
        if self.single_only:
            self.predict_one()
            return
        texts = pick_batch(self.rng)
        with self.client.post(
            "/predict/batch", json={"texts": texts}, name="/predict/batch", catch_response=True
        ) as response:
            problem = check_batch(response.status_code, response.content, texts)
            if problem:
                response.failure(problem)
