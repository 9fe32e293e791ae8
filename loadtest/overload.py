"""``python -m loadtest overload``: the service past its capacity, at 1x, 2x and 4x the knee (open loop).

Short texts (the ``sentences`` set) go to ``POST /predict`` at a constant arrival rate with wrk and
``wrk_per_request.lua``, which keeps every answer, so admitted requests (200) and shed ones (429) get their
own latencies. The knee is ``--knee-rps``, or measured first on the same server with ``python -m loadtest
capacity``'s rule (no failures, a 429 included; p99 + send lateness within the budget). For each factor:
admitted p50/p99, the share answered 429, the 429s' p99, 5xx count and the server's RSS before and after.
The goal at 4x: admitted p99 <= 100 ms, 429 p99 <= 5 ms, no 5xx.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest import cpu_split
from loadtest.capacity import write_bodies, wrk_binary, wrk_version
from loadtest.openloop import figures, probe_knee, run_records, server_rss_bytes
from loadtest.summary import machine_block
from loadtest.targets import LocalOptions, running_target

FACTORS = (1.0, 2.0, 4.0)
GOAL = {"admitted_p99_ms": 100.0, "throttled_p99_ms": 5.0, "server_errors": 0}
WARM_UP_S = 3


@dataclass
class OverloadConfig:
    """What ``python -m loadtest overload`` was asked to do."""

    target: str
    out_dir: Path
    knee_rps: float | None = None
    factors: tuple[float, ...] = FACTORS
    step_s: int = 20
    knee_step_s: int = 8
    budget_ms: float = 100.0
    texts: str = "sentences"
    cool_down_s: float = 3.0
    label: str | None = None
    local: LocalOptions = field(default_factory=LocalOptions)


def verdict(step: dict[str, Any]) -> dict[str, bool]:
    """Which of the goals a step meets (a figure that could not be measured does not meet its goal)."""
    admitted, throttled = step["admitted_p99_ms"], step["throttled_p99_ms"]
    return {
        "admitted_p99_ms": admitted is not None and admitted <= GOAL["admitted_p99_ms"],
        "throttled_p99_ms": throttled is None or throttled <= GOAL["throttled_p99_ms"],
        "server_errors": step["server_errors"] == GOAL["server_errors"],
    }


def run_overload(config: OverloadConfig, console=None) -> dict[str, Any]:
    """Start the target, find (or take) the knee, offer each factor of it; write and return the summary."""
    from rich.console import Console

    console = console or Console(width=160, soft_wrap=True)
    binary = wrk_binary()
    config.out_dir.mkdir(parents=True, exist_ok=True)
    config.local.log_dir = config.out_dir / "logs"
    bodies = write_bodies(config.out_dir / "wrk_bodies.jsonl", config.texts)
    records = config.out_dir / "records.tsv"
    knee_steps: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    with running_target(config.target, config.local) as target:
        console.print(f"[bold]{target.name}[/]: warm-up {WARM_UP_S} s at 20 RPS")
        run_records(binary, target.url, bodies, 20.0, WARM_UP_S, records)
        knee = config.knee_rps
        if knee is None:
            with console.status("measuring the capacity knee") as status:

                def on_step(step: dict[str, Any]) -> None:
                    mark = "pass" if step["passed"] else "fail"
                    console.print(
                        f"  knee probe: offered {step['offered_rps']:7.1f}  p99 {step['p99_ms']:7.1f} ms  "
                        f"failures {step['failures']}  {mark}"
                    )
                    status.update(f"measuring the capacity knee (last step {step['offered_rps']:.0f} RPS)")

                knee, knee_steps = probe_knee(binary, target.url, bodies, config.budget_ms, config.knee_step_s, on_step)
            if knee is None:
                raise ValueError("no capacity knee: even 20 RPS failed or broke the p99 budget; give --knee-rps")
        console.print(f"knee: {knee:.1f} RPS ({'given' if config.knee_rps else 'measured'})")
        for factor in config.factors:
            rate = knee * factor
            time.sleep(config.cool_down_s)
            rss_before = server_rss_bytes(target)
            load_before = os.getloadavg()[0]
            before = cpu_split.read(target)
            with console.status(f"offering {factor:g}x the knee: {rate:.1f} RPS for {config.step_s} s"):
                run = run_records(binary, target.url, bodies, rate, config.step_s, records)
            step = {"factor": factor, **figures(run)}
            step.update(cpu_split.step_figures(before, cpu_split.read(target), step["answers"]))
            # CPU the server's processes got (100 % = one core): low under load means other processes took it.
            step["server_cpu_percent"] = round(100 * step["cpu_busy"], 1) if "cpu_busy" in step else None
            step["server_rss_before_mb"] = _mb(rss_before)
            step["server_rss_after_mb"] = _mb(server_rss_bytes(target))
            step["load_average_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            step["goals_met"] = verdict(step)
            step["timeline"] = _timeline(run)
            steps.append(step)
            console.print(_step_line(step))
    summary = {
        "target": config.target,
        "label": config.label or target.label(),
        "scenario": "overload",
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "knee_rps": round(knee, 3),
        "knee_source": "given (--knee-rps)" if config.knee_rps else "measured (capacity rule, same server)",
        "knee_steps": knee_steps,
        "request": f"POST /predict, one text each, the {config.texts!r} text set in turn",
        "step_s": config.step_s,
        "goal_at_4x": GOAL,
        "steps": steps,
        "server": target.server,
        "load_generator": f"{wrk_version(binary)} + wrk_per_request.lua (open loop, one connection per thread)",
        "machine": machine_block(),
    }
    _write(config.out_dir, summary)
    return summary


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


def _timeline(run: dict[str, Any]) -> dict[str, list]:
    """Per second: answers admitted and shed, and the admitted p99."""
    import numpy as np

    seconds = (run["sent_ms"] // 1000).astype(int)
    admitted, shed, p99 = [], [], []
    for second in range(int(seconds.max()) + 1 if len(seconds) else 0):
        in_second = seconds == second
        ok = run["latency_ms"][in_second & (run["status"] == 200)]
        admitted.append(len(ok))
        shed.append(int(np.count_nonzero(in_second & (run["status"] == 429))))
        p99.append(round(float(np.percentile(ok, 99, method="inverted_cdf")), 3) if len(ok) else None)
    return {"admitted": admitted, "shed": shed, "admitted_p99_ms": p99}


def _step_line(step: dict[str, Any]) -> str:
    def ms(value: float | None) -> str:
        return "   -  " if value is None else f"{value:6.1f}"

    return (
        f"  {step['factor']:g}x  offered {step['offered_rps']:7.1f}  admitted p50 {ms(step['admitted_p50_ms'])} "
        f"p99 {ms(step['admitted_p99_ms'])} ms  429 {100 * step['throttled_share']:5.1f} % "
        f"(p99 {ms(step['throttled_p99_ms'])} ms)  5xx {step['server_errors']}  other failures "
        f"{step['other_failures']}  RSS {step['server_rss_before_mb']} -> {step['server_rss_after_mb']} MB  "
        f"late p99 {ms(step['send_lateness_p99_ms'])} ms  server CPU {step['server_cpu_percent']} %  "
        f"quota-throttled {step.get('cpu_quota_throttled_periods', '-')}  "
        f"admitted in a burst {step.get('admitted_in_burst', '-')}  load {step['load_average_1m'][1]}"
    )


def print_table(summary: dict[str, Any], console=None) -> None:
    """The steps as a rich table, with the 4x goal's verdict."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=160, soft_wrap=True)
    table = Table(title=f"overload: {summary['label']}, knee {summary['knee_rps']:.1f} RPS ({summary['knee_source']})")
    columns = ("factor", "offered RPS", "admitted RPS", "admitted p50 ms", "admitted p99 ms", "429 share")
    columns += ("429 p99 ms", "5xx", "other failures", "RSS before MB", "RSS after MB", "send late p99 ms")
    for column in columns:
        table.add_column(column, justify="right")

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    for step in summary["steps"]:
        table.add_row(
            f"{step['factor']:g}x",
            f"{step['offered_rps']:.1f}",
            f"{step['admitted_rps']:.1f}",
            ms(step["admitted_p50_ms"]),
            ms(step["admitted_p99_ms"]),
            f"{100 * step['throttled_share']:.1f} %",
            ms(step["throttled_p99_ms"]),
            str(step["server_errors"]),
            str(step["other_failures"]),
            str(step["server_rss_before_mb"]),
            str(step["server_rss_after_mb"]),
            ms(step["send_lateness_p99_ms"]),
        )
    console.print(table)
    last = summary["steps"][-1]
    met = last["goals_met"]
    console.print(
        f"goal at {last['factor']:g}x: admitted p99 <= 100 ms {'met' if met['admitted_p99_ms'] else 'NOT met'}, "
        f"429 p99 <= 5 ms {'met' if met['throttled_p99_ms'] else 'NOT met'}, "
        f"0 5xx {'met' if met['server_errors'] else 'NOT met'}"
    )


def _write(out_dir: Path, summary: dict[str, Any]) -> None:
    import json

    (out_dir / "overload.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(summary, out_dir / "overload.png")


def plot(summary: dict[str, Any], path: Path) -> Path:
    """Per factor: admitted p50/p99 and 429 p99 (left), share shed (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = summary["steps"]
    labels = [f"{step['factor']:g}x\n{step['offered_rps']:.0f} RPS" for step in steps]
    positions = range(len(steps))
    figure, (latency, share) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, name, marker in (
        ("admitted_p50_ms", "admitted p50", "o"),
        ("admitted_p99_ms", "admitted p99", "s"),
        ("throttled_p99_ms", "429 p99", "^"),
    ):
        values = [step[key] if step[key] is not None else float("nan") for step in steps]
        latency.plot(list(positions), values, marker=marker, label=name)
    latency.axhline(100, color="grey", linestyle="--", linewidth=0.8, label="100 ms goal (admitted p99)")
    latency.axhline(5, color="grey", linestyle=":", linewidth=0.8, label="5 ms goal (429 p99)")
    latency.set_xticks(list(positions), labels)
    latency.set_ylabel("ms")
    latency.set_yscale("log")
    latency.set_title("Latency by answer")
    latency.legend(fontsize=8)
    share.bar(list(positions), [100 * step["throttled_share"] for step in steps], color="tab:orange")
    share.set_xticks(list(positions), labels)
    share.set_ylabel("% answered 429")
    share.set_ylim(0, 100)
    share.set_title("Share shed")
    figure.suptitle(f"Overload: {summary['label']}, knee {summary['knee_rps']:.0f} RPS")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
