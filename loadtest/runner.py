"""``python -m loadtest run``: Locust headless against a target, with a progress line and ``summary.json``.

Writes into ``--out``: Locust's CSV stats (``locust_stats.csv``, ``locust_stats_history.csv``,
``locust_failures.csv``, ``locust_exceptions.csv``), every request's timing (``requests.csv``), Locust's
log, the servers' logs, and ``summary.json``.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.scenarios import burst_length_s
from loadtest.summary import cold_start_block, latency_block, machine_block, percentile, write_summary
from loadtest.targets import REPO_ROOT, LocalOptions, Target, running_target, stop_process

LOCUSTFILE = REPO_ROOT / "loadtest" / "locustfile.py"
BURST_SHAPE = REPO_ROOT / "loadtest" / "burst.py"
CSV_PREFIX = "locust"
REQUEST_LOG = "requests.csv"
SCENARIOS = ("mix", "single", "burst")


class RunError(RuntimeError):
    """The load test could not run; the message names the reason."""


@dataclass
class RunConfig:
    """What ``python -m loadtest run`` was asked to do."""

    target: str
    out_dir: Path
    users: int = 10
    spawn_rate: float = 10.0
    duration_s: float = 60.0
    scenario: str = "mix"
    label: str | None = None
    think_min_s: float = 0.1
    think_max_s: float = 0.5
    burst_users: int = 50
    burst_warm_s: float = 10.0
    burst_idle_s: float = 20.0
    burst_s: float = 30.0
    server_cpus: float | None = None
    server_workers: int | None = None
    local: LocalOptions = field(default_factory=LocalOptions)

    @property
    def length_s(self) -> float:
        """How long the load runs."""
        if self.scenario == "burst":
            return burst_length_s(self.burst_warm_s, self.burst_idle_s, self.burst_s)
        return self.duration_s


@dataclass
class LocustOutcome:
    """What the Locust process left behind."""

    exit_code: int
    wall_s: float
    cpu_s: float

    @property
    def cpu_percent(self) -> float:
        """Load generator CPU, percent of one core, averaged over the run."""
        return round(100 * self.cpu_s / self.wall_s, 1) if self.wall_s > 0 else 0.0


def parse_duration(text: str) -> float:
    """Seconds in ``60s``, ``2m``, ``1m30s``, ``1h`` or a bare number of seconds."""
    import re

    cleaned = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        seconds = float(cleaned)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", cleaned)
        if not parts or "".join(number + unit for number, unit in parts) != cleaned:
            raise ValueError(f"duration {text!r}: use seconds or a form like 60s, 2m, 1m30s")
        scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
        seconds = sum(float(number) * scale[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be above zero")
    return seconds


def locust_command(config: RunConfig, url: str) -> list[str]:
    """The ``locust`` command line for ``config`` against ``url``."""
    out = config.out_dir
    files = str(LOCUSTFILE) + (f",{BURST_SHAPE}" if config.scenario == "burst" else "")
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        files,
        "--headless",
        "--host",
        url,
        "--csv",
        str(out / CSV_PREFIX),
        "--csv-full-history",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        "10",
        "--exit-code-on-error",
        "0",
        "--request-log",
        str(out / REQUEST_LOG),
        "--scenario",
        "single" if config.scenario == "single" else "mix",
        "--think-min",
        str(config.think_min_s),
        "--think-max",
        str(config.think_max_s),
    ]
    if config.scenario == "burst":
        command += [
            "--burst-users",
            str(config.burst_users),
            "--burst-warm-s",
            str(config.burst_warm_s),
            "--burst-idle-s",
            str(config.burst_idle_s),
            "--burst-s",
            str(config.burst_s),
        ]
    else:
        command += ["-u", str(config.users), "-r", str(config.spawn_rate), "-t", f"{math.ceil(config.duration_s)}s"]
    return command


def _last_aggregated_row(history: Path) -> dict[str, str] | None:
    if not history.is_file():
        return None
    try:
        with history.open(newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if row.get("Name") == "Aggregated"]
    except (OSError, csv.Error):
        return None
    return rows[-1] if rows else None


def _status_line(row: dict[str, str] | None) -> str:
    if not row:
        return "starting"
    try:
        return (
            f"users {row['User Count']}  rps {float(row['Requests/s']):.1f}  p95 {row['95%']} ms  "
            # Locust's failure count includes the 429 throttles, which the summary counts apart.
            f"requests {row['Total Request Count']}  not 2xx (429 included) {row['Total Failure Count']}"
        )
    except (KeyError, ValueError):
        return "running"


def run_locust(config: RunConfig, url: str) -> LocustOutcome:
    """Run Locust headless with a rich progress line; CPU time comes from the process's own rusage."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    log_path = config.out_dir / "locust.log"
    history = config.out_dir / f"{CSV_PREFIX}_stats_history.csv"
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            locust_command(config, url), cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
    )
    try:
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task(config.label or config.target, total=config.length_s, status="starting")
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                time.sleep(0.5)
                elapsed = time.monotonic() - started
                progress.update(
                    task, completed=min(elapsed, config.length_s), status=_status_line(_last_aggregated_row(history))
                )
            progress.update(task, completed=config.length_s, status=_status_line(_last_aggregated_row(history)))
    except BaseException:
        stop_process(process, group=False)
        raise
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if process.returncode not in (0, 1):
        tail = log_path.read_text(errors="replace")[-1500:]
        raise RunError(f"locust exited with status {process.returncode}: {tail}")
    return LocustOutcome(process.returncode, wall, usage.ru_utime + usage.ru_stime)


def read_request_log(path: Path) -> list[tuple[float, str, float, bool]]:
    """``(timestamp, name, response_time_ms, success)`` for every request Locust made."""
    if not path.is_file():
        raise RunError(f"{path}: Locust wrote no request log (see locust.log beside it)")
    with path.open(newline="") as handle:
        return [
            (float(row["timestamp"]), row["name"], float(row["response_time_ms"]), row["success"] == "1")
            for row in csv.DictReader(handle)
        ]


def read_aggregated_stats(path: Path) -> dict[str, str]:
    """Locust's ``Aggregated`` row from ``locust_stats.csv``."""
    if not path.is_file():
        raise RunError(f"{path}: Locust wrote no stats (see locust.log beside it)")
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("Name") == "Aggregated":
                return row
    raise RunError(f"{path}: no Aggregated row")


def cold_starts(target: Target, emulator: dict[str, Any] | None) -> dict[str, Any]:
    """``cold_starts``: the emulation's, or none (with the reason) for servers started before the load and URLs."""
    if emulator is not None:
        return emulator_cold_starts(emulator)
    if target.process is not None:
        return cold_start_block([], "none during the load: the server was started and healthy before it")
    return cold_start_block([], "not observable from the client")


def emulator_cold_starts(stats: dict[str, Any]) -> dict[str, Any]:
    """``cold_starts`` from the Lambda emulation's stats, with those that initialised alone apart."""
    entries = stats.get("cold_starts", [])
    alone = [entry["cold_start_ms"] for entry in entries if entry.get("overlapping_inits") == 0]
    return cold_start_block([entry["cold_start_ms"] for entry in entries], "emulator", alone)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def lambda_block(stats: dict[str, Any]) -> dict[str, Any]:
    """The ``lambda`` block: billed duration (each invocation rounded up to 1 ms, as Lambda bills) and memory."""
    billed = [float(math.ceil(value)) for value in stats.get("durations_ms", [])]
    init = [entry["init_ms"] for entry in stats.get("cold_starts", [])]
    runtime_init = [entry["runtime_init_ms"] for entry in stats.get("cold_starts", []) if entry.get("runtime_init_ms")]
    return {
        "billed_duration_ms": {"median": _round(percentile(billed, 0.5)), "p99": _round(percentile(billed, 0.99))},
        "memory_mb": stats.get("memory_mb"),
        "init_ms": {"median": _round(percentile(init, 0.5)), "values": init},
        # The runtime's init as RIE reports it (INIT REPORT): what Lambda bills as Init Duration.
        "runtime_init_ms": {"median": _round(percentile(runtime_init, 0.5)), "values": runtime_init},
        "invocations": stats.get("invocations", 0),
        "peak_environments": stats.get("peak_environments", 0),
        "environments_reaped": stats.get("environments_reaped", 0),
        "function_errors": stats.get("function_errors", 0),
        "timeouts": stats.get("timeouts", 0),
        "function_timeouts": stats.get("function_timeouts", 0),  # RIE: "Task timed out after N seconds"
        "queued_at_limit": stats.get("queued_at_limit", 0),
        "init_errors": stats.get("init_errors", []),
        "environment_rss_mb": [entry.get("rss_mb") for entry in stats.get("cold_starts", [])],
    }


def build_summary(
    config: RunConfig,
    target: Target,
    label: str,
    aggregated: dict[str, str],
    requests: list[tuple[float, str, float, bool]],
    outcome: LocustOutcome,
    emulator: dict[str, Any] | None,
    server_cpu_s: float | None,
) -> dict[str, Any]:
    """The ``summary.json`` of one Locust run."""
    times = [elapsed for _, _, elapsed, _ in requests]
    by_name: dict[str, list[float]] = {}
    for _, name, elapsed, _ in requests:
        by_name.setdefault(name, []).append(elapsed)
    throttles = throttled_requests(config.out_dir / f"{CSV_PREFIX}_failures.csv")
    cold = cold_starts(target, emulator)
    workers = emulator.get("peak_environments", 0) if emulator is not None else None
    server = target.server_block(config.server_cpus, config.server_workers or workers)
    if server_cpu_s is not None and requests:
        server["cpu_seconds"] = round(server_cpu_s, 3)
        server["cpu_ms_per_request"] = round(1000 * server_cpu_s / len(requests), 3)
    summary: dict[str, Any] = {
        "target": config.target,
        "label": label,
        "scenario": config.scenario,
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "requests": int(aggregated["Request Count"]),
        "failures": int(aggregated["Failure Count"]) - throttles,
        "throttles": throttles,
        "rps": round(float(aggregated["Requests/s"]), 3),
        "latency_ms": latency_block(times),
        "latency_by_request_ms": {name: latency_block(values) for name, values in sorted(by_name.items())},
        "cold_starts": cold,
        "server": server,
        "load_generator": {"cpu_percent": outcome.cpu_percent, "tool": "locust", "host_cpus": os.cpu_count()},
        "load": {
            "users": config.burst_users if config.scenario == "burst" else config.users,
            "spawn_rate": float(config.burst_users) if config.scenario == "burst" else config.spawn_rate,
            "duration_s": round(config.length_s, 3),
            "think_time_s": [config.think_min_s, config.think_max_s],
        },
        "model": target.model,
        "machine": machine_block(),
        "emulated": target.emulated,
    }
    if config.scenario == "burst":
        summary["load"]["burst"] = {
            "warm_s": config.burst_warm_s,
            "idle_s": config.burst_idle_s,
            "burst_s": config.burst_s,
            "users": config.burst_users,
        }
    if emulator is not None:
        summary["lambda"] = lambda_block(emulator)
    return summary


def throttled_requests(failures_csv: Path) -> int:
    """Requests answered 429 (a throttled function, as API Gateway answers): counted apart from failures."""
    if not failures_csv.is_file():
        return 0
    with failures_csv.open(newline="") as handle:
        return sum(int(row["Occurrences"]) for row in csv.DictReader(handle) if "HTTP 429" in row["Error"])


def run(config: RunConfig) -> dict[str, Any]:
    """Start the target, run Locust, write and return the summary."""
    config.out_dir.mkdir(parents=True, exist_ok=True)
    for stale in config.out_dir.glob(f"{CSV_PREFIX}_*.csv"):
        stale.unlink()
    (config.out_dir / REQUEST_LOG).unlink(missing_ok=True)
    config.local.log_dir = config.out_dir / "logs"
    with running_target(config.target, config.local) as target:
        label = target.label(config.label, config.scenario)
        config.label = label
        cpu_before = target.server_cpu_seconds()
        outcome = run_locust(config, target.url)
        cpu_after = target.server_cpu_seconds()
        emulator = target.emulator_stats()
    aggregated = read_aggregated_stats(config.out_dir / f"{CSV_PREFIX}_stats.csv")
    requests = read_request_log(config.out_dir / REQUEST_LOG)
    server_cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    summary = build_summary(config, target, label, aggregated, requests, outcome, emulator, server_cpu)
    write_summary(config.out_dir, summary)
    return summary
