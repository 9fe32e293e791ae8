"""``python -m loadtest capacity``: the highest sustained RPS with p99 under a budget and no failures.

Offered load is stepped up at a constant arrival rate (open loop) with wrk, a compiled generator (Debian
package ``wrk``), driven by ``wrk_open_loop.lua``: requests go out on a fixed schedule whatever the
server's latency, so a slow server shows up as latency and lateness, not as a politely lower rate. Each
step sends ``POST /predict`` with the review pool's texts in turn.

A step passes when it had no failures (connection errors, timeouts, non-2xx, answers without a known
label), achieved at least 95 % of the offered rate, and its p99 latency plus the p99 of how late requests
left against their schedule stays within the budget. Steps grow by ``--growth`` until one fails, then
bisect ``--refine`` times between the last pass and the first failure. The knee is the highest achieved
RPS of a passing step. Each step also records the server's CPU and the model thread's (``loadtest.cpu_split``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadtest import cpu_split
from loadtest.runner import cold_starts, lambda_block
from loadtest.summary import machine_block, write_summary
from loadtest.targets import REPO_ROOT, LocalOptions, Target, running_target, stop_process
from loadtest.texts import text_set

LUA_SCRIPT = REPO_ROOT / "loadtest" / "wrk_open_loop.lua"
WRK_PACKAGE = "wrk"
ACHIEVED_SHARE = 0.95
WARM_UP_S = 3
COOL_DOWN_S = 2.0
MAX_CONNECTION_IDLE_S = 2.0


class CapacityError(RuntimeError):
    """The probe could not run; the message names the reason."""


@dataclass
class CapacityConfig:
    """What ``python -m loadtest capacity`` was asked to do."""

    target: str
    out_dir: Path
    label: str | None = None
    budget_ms: float = 100.0
    step_s: float = 15.0
    start_rps: float = 10.0
    max_rps: float = 5000.0
    growth: float = 1.5
    refine: int = 3
    texts: str = "reviews"
    server_cpus: float | None = None
    server_workers: int | None = None
    warm_up_s: int = WARM_UP_S
    cool_down_s: float = COOL_DOWN_S
    model_limit: bool = False  # image-container: also time the image's model alone (loadtest.model_limit)
    local: LocalOptions = field(default_factory=LocalOptions)


def connections_for(rate: float, budget_ms: float) -> int:
    """Connections enough that a free one is there at every slot while latency stays within 4x the budget.

    At low rates fewer: a paced connection idles ``connections / rate`` seconds between requests, and servers
    close idle keep-alive connections (uvicorn after 5 s), which wrk would count as read errors.
    """
    wanted = max(8, math.ceil(rate * budget_ms / 1000 * 4))
    idle_cap = max(1, math.floor(rate * MAX_CONNECTION_IDLE_S))
    return min(wanted, idle_cap, 1000)


def wrk_timeout_s(rate: float, connections: int, budget_ms: float) -> int:
    """wrk's ``--timeout``: 20x the budget, and longer than a paced connection waits between two requests.

    wrk counts a timeout for every connection whose last request started more than ``--timeout`` ago, waiting
    or not; at low rates a paced connection idles ``connections / rate`` seconds between requests.
    """
    return max(2, math.ceil(budget_ms * 20 / 1000), math.ceil(2 * connections / rate) + 1)


def wrk_binary() -> str:
    """The ``wrk`` executable, or a clear error naming the package to install."""
    found = shutil.which("wrk")
    if not found:
        raise CapacityError(
            f"wrk not found: install it with `apt-get install -y {WRK_PACKAGE}` (Debian package {WRK_PACKAGE})"
        )
    return found


def wrk_version(binary: str) -> str:
    """``wrk``'s version line, e.g. ``wrk debian/4.1.0-3+b2 [epoll]``."""
    completed = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    first = (completed.stdout or completed.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def write_bodies(path: Path, texts_name: str = "reviews", seed: int = 0) -> Path:
    """One ``{"text": ...}`` body per line: the text set (``loadtest.texts.text_set``) in a fixed shuffled order."""
    texts = list(text_set(texts_name))
    random.Random(seed).shuffle(texts)
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    return path


def parse_wrk_output(output: str) -> dict[str, Any]:
    """The ``WRK_RESULT`` JSON line ``wrk_open_loop.lua`` prints at the end."""
    for line in output.splitlines():
        if line.startswith("WRK_RESULT "):
            return json.loads(line.removeprefix("WRK_RESULT "))
    raise CapacityError(f"wrk printed no result: {output.strip()[-600:]}")


def step_from_wrk(
    offered_rps: float, result: dict[str, Any], cpu_s: float, wall_s: float, budget_ms: float
) -> dict[str, Any]:
    """One step's figures and verdict from wrk's result."""
    duration_s = result["duration_us"] / 1e6
    errors = result["errors"]
    failures = sum(int(errors[key]) for key in ("connect", "read", "write", "status", "timeout"))
    failures += int(result.get("bad_answers", 0))
    achieved = result["requests"] / duration_s if duration_s > 0 else 0.0
    latency = result["latency_us"]
    p99_ms = latency["p99"] / 1000
    lateness_p99 = max(0.0, float(result["lateness_ms"]["p99"]))
    passed = (
        failures == 0
        and result["requests"] > 0
        and achieved >= ACHIEVED_SHARE * offered_rps
        and p99_ms + lateness_p99 <= budget_ms
    )
    return {
        "offered_rps": round(offered_rps, 3),
        "achieved_rps": round(achieved, 3),
        "p99_ms": round(p99_ms, 3),
        "failures": failures,
        "passed": passed,
        "requests": int(result["requests"]),
        "mean_ms": round(latency["mean"] / 1000, 3),
        "p50_ms": round(latency["p50"] / 1000, 3),
        "p95_ms": round(latency["p95"] / 1000, 3),
        "max_ms": round(latency["max"] / 1000, 3),
        "send_lateness_p99_ms": round(lateness_p99, 3),
        "errors": errors,
        "bad_answers": int(result.get("bad_answers", 0)),
        "generator_cpu_percent": round(100 * cpu_s / wall_s, 1) if wall_s > 0 else 0.0,
    }


def run_wrk_step(binary: str, url: str, bodies: Path, rate: float, seconds: int, budget_ms: float) -> dict[str, Any]:
    """Offer ``rate`` RPS for ``seconds`` with wrk; the step's figures (wrk's CPU from its own rusage)."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/") + "/predict"
    connections = connections_for(rate, budget_ms)
    timeout_s = wrk_timeout_s(rate, connections, budget_ms)
    command = [
        binary,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(LUA_SCRIPT),
        base,
    ]
    command += ["--", str(bodies), f"{rate:.6f}", path]
    output, cpu_s, wall = run_wrk(command)
    step = step_from_wrk(rate, parse_wrk_output(output), cpu_s, wall, budget_ms)
    step["connections"] = connections
    return step


def run_wrk(command: list[str]) -> tuple[str, float, float]:
    """Run one wrk ``command``: its output, its CPU seconds (from its own rusage) and the wall seconds taken;
    ``CapacityError`` with the output's tail when it fails."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    try:
        output = process.stdout.read().decode("utf-8", "replace")
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        stop_process(process, group=False)
        raise
    code = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if code != 0:
        raise CapacityError(f"wrk exited with status {code}: {output.strip()[-600:]}")
    return output, usage.ru_utime + usage.ru_stime, wall


def search(
    run_step: Callable[[float], dict[str, Any]], start: float, maximum: float, growth: float, refine: int
) -> list[dict[str, Any]]:
    """Steps of the search: grow by ``growth`` until a step fails (or ``maximum``), then bisect ``refine`` times.

    If the very first step fails, the rate is halved (up to four times) to find a passing floor.
    """
    steps: list[dict[str, Any]] = []
    passed_at: float | None = None
    failed_at: float | None = None
    rate = start
    while rate <= maximum:
        step = run_step(rate)
        steps.append(step)
        if step["passed"]:
            passed_at = rate
            if rate >= maximum:
                break
            rate = min(rate * growth, maximum)
        else:
            failed_at = rate
            break
    halvings = 0
    while passed_at is None and failed_at is not None and halvings < 4 and failed_at / 2 >= 0.5:
        halvings += 1
        rate = failed_at / 2
        step = run_step(rate)
        steps.append(step)
        if step["passed"]:
            passed_at = rate
        else:
            failed_at = rate
    for _ in range(refine):
        if passed_at is None or failed_at is None or failed_at - passed_at < max(1.0, passed_at * 0.02):
            break
        rate = (passed_at + failed_at) / 2
        step = run_step(rate)
        steps.append(step)
        if step["passed"]:
            passed_at = rate
        else:
            failed_at = rate
    return steps


def knee(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The passing step with the highest achieved RPS, or ``None``."""
    passing = [step for step in steps if step["passed"]]
    return max(passing, key=lambda step: step["achieved_rps"]) if passing else None


def build_summary(
    config: CapacityConfig, target: Target, steps: list[dict[str, Any]], tool: str, emulator: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``summary.json`` of a capacity probe (top-level requests, failures, latency and RPS are the knee step's)."""
    best = knee(steps)
    reference = best or (steps[0] if steps else None)
    label = target.label(config.label) + ("" if config.label or config.texts == "reviews" else f" ({config.texts})")
    workers = emulator.get("peak_environments", 0) if emulator is not None else None
    server = target.server_block(config.server_cpus, config.server_workers or workers)
    cold = cold_starts(target, emulator)
    generator = {"cpu_percent": reference["generator_cpu_percent"] if reference else None, "tool": tool}
    summary: dict[str, Any] = {
        "target": config.target,
        "label": label,
        "scenario": "capacity",
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "requests": reference["requests"] if reference else 0,
        "failures": reference["failures"] if reference else 0,
        "rps": reference["achieved_rps"] if reference else 0.0,
        "latency_ms": {
            "mean": reference["mean_ms"] if reference else None,
            "median": reference["p50_ms"] if reference else None,
            "p95": reference["p95_ms"] if reference else None,
            "p99": reference["p99_ms"] if reference else None,
        },
        "cold_starts": cold,
        "server": server,
        "load_generator": generator,
        "capacity": {
            "knee_rps": best["achieved_rps"] if best else None,
            "p99_budget_ms": config.budget_ms,
            "steps": steps,
            "step_s": config.step_s,
            "total_requests": sum(step["requests"] for step in steps),
            "total_failures": sum(step["failures"] for step in steps),
            "request": f"POST /predict, one text each, the {config.texts!r} text set in turn",
            "texts": config.texts,
            "load_generator": {
                "tool": tool,
                "max_cpu_percent": max((step["generator_cpu_percent"] for step in steps), default=None),
            },
            "rule": (
                f"no failures, achieved >= {ACHIEVED_SHARE:.0%} of offered, p99 latency + p99 send lateness <= budget"
            ),
            "measured": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        },
        "model": target.model,
        "machine": machine_block(),
        "emulated": target.emulated,
    }
    if emulator is not None:
        summary["lambda"] = lambda_block(emulator)
    return summary


def _model_limit(config: CapacityConfig, target: Target, console) -> dict[str, Any]:
    """The image's model alone in the target's shape (the target's container idles meanwhile)."""
    from loadtest.image_targets import container_shape
    from loadtest.model_limit import measure_model_limit

    shape_block = target.server.get("shape") or {}
    if target.name != "image-container" or not shape_block.get("image"):
        raise CapacityError("--model-limit needs --target image-container")
    batch = int(target.server["container"]["settings"]["micro_batch_max_size"])
    with console.status(f"timing the model alone in {shape_block['image']}, batches of {batch}"):
        return measure_model_limit(shape_block["image"], container_shape(shape_block["shape"]), config.texts, batch)


def probe(config: CapacityConfig, console=None) -> dict[str, Any]:
    """Start the target, warm it up, step the offered load, write and return the summary."""
    from rich.console import Console

    console = console or Console()
    binary = wrk_binary()
    tool = f"{wrk_version(binary)} + wrk_open_loop.lua (open loop)"
    config.out_dir.mkdir(parents=True, exist_ok=True)
    config.local.log_dir = config.out_dir / "logs"
    bodies = write_bodies(config.out_dir / "wrk_bodies.jsonl", config.texts)
    seconds = max(1, round(config.step_s))
    with running_target(config.target, config.local) as target:
        console.print(f"[bold]{target.name}[/]: warm-up {config.warm_up_s} s at {config.start_rps:g} RPS")
        run_wrk_step(binary, target.url, bodies, config.start_rps, config.warm_up_s, config.budget_ms)

        def run_step(rate: float) -> dict[str, Any]:
            time.sleep(config.cool_down_s)
            with console.status(f"offering {rate:.1f} RPS for {seconds} s"):
                before = cpu_split.read(target)
                step = run_wrk_step(binary, target.url, bodies, rate, seconds, config.budget_ms)
                step.update(cpu_split.step_figures(before, cpu_split.read(target), step["requests"]))
            verdict = "[green]pass[/]" if step["passed"] else "[red]fail[/]"
            console.print(
                f"  offered {rate:7.1f}  got {step['achieved_rps']:7.1f}  p99 {step['p99_ms']:7.1f} ms  "
                f"late {step['send_lateness_p99_ms']:5.1f} ms  fail {step['failures']}  "
                f"wrk {step['generator_cpu_percent']:4.1f} %  {verdict}"
            )
            return step

        steps = search(run_step, config.start_rps, config.max_rps, config.growth, config.refine)
        emulator = target.emulator_stats()
        limit = _model_limit(config, target, console) if config.model_limit else None
    summary = build_summary(config, target, steps, tool, emulator)
    if limit is not None:
        knee_rps = summary["capacity"]["knee_rps"]
        summary["capacity"]["model_limit"] = limit
        share = knee_rps / limit["texts_per_s"] if knee_rps else None
        summary["capacity"]["knee_share_of_model_limit"] = None if share is None else round(share, 4)
        summary["capacity"]["knee_split"] = cpu_split.knee_split(knee(steps), limit["texts_per_s"])
    write_summary(config.out_dir, summary)
    return summary
