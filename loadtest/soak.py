"""``python -m loadtest soak``: a long steady load at 80 % of the knee; failures and memory growth.

The load is open loop (wrk and ``wrk_per_request.lua``, short texts to ``POST /predict``), run as
consecutive segments so latency and failures are known per segment while the server's RSS (every process)
is sampled every few seconds. A failure is any answer but a 200 with a known label (a 429 included) or a
socket error. RSS growth is measured from the end of the warm-up (the first segments, while caches and
allocator arenas fill) to the end. Goals: 0 failures, growth <= 10 %. Each segment also has the server's CPU
figures (``cpu_split``), the CPU quota's throttling among them: a throttled period stalls the whole server.
Every answer of every segment is kept in ``answers.tsv`` (segment, status, send time, latency, lateness), so a
segment's 429s can be looked at answer by answer (``records.tsv`` holds only the segment running). The host's
steal time (``loadtest.steal``) is sampled throughout, so the seconds with a 429 can be set beside the others.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest import cpu_split, steal
from loadtest.capacity import write_bodies, wrk_binary, wrk_version
from loadtest.openloop import figures, probe_knee, run_records, server_rss_bytes
from loadtest.sampler import Sampler
from loadtest.summary import machine_block
from loadtest.targets import LocalOptions, running_target

MAX_GROWTH = 0.10


@dataclass
class SoakConfig:
    """What ``python -m loadtest soak`` was asked to do."""

    target: str
    out_dir: Path
    duration_s: float = 600.0
    share_of_knee: float = 0.8
    knee_rps: float | None = None
    segment_s: int = 30
    warm_up_s: float = 60.0
    rss_every_s: float = 2.0
    knee_step_s: int = 8
    budget_ms: float = 100.0
    texts: str = "sentences"
    label: str | None = None
    local: LocalOptions = field(default_factory=LocalOptions)


def growth(samples: list[tuple[float, int]], warm_up_s: float) -> dict[str, Any]:
    """RSS at the end of the warm-up (the median of the samples in the 20 s before it) against the last 20 s."""

    def median(values: list[int]) -> float | None:
        ordered = sorted(values)
        return float(ordered[len(ordered) // 2]) if ordered else None

    end = samples[-1][0] if samples else 0.0
    warm = median([rss for at, rss in samples if warm_up_s - 20 <= at <= warm_up_s])
    last = median([rss for at, rss in samples if at >= end - 20])
    share = None if not warm or last is None else (last - warm) / warm
    return {
        "after_warm_up_mb": None if warm is None else round(warm / 2**20, 1),
        "at_end_mb": None if last is None else round(last / 2**20, 1),
        "growth": None if share is None else round(share, 4),
        "peak_mb": round(max(rss for _, rss in samples) / 2**20, 1) if samples else None,
        "within_goal": share is not None and share <= MAX_GROWTH,
    }


def run_soak(config: SoakConfig, console=None) -> dict[str, Any]:
    """Start the target, take (or measure) the knee, hold 80 % of it for the duration; write the summary."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = console or Console(width=160, soft_wrap=True)
    if config.warm_up_s >= config.duration_s:
        raise ValueError(f"--warm-up ({config.warm_up_s:g} s) must be shorter than --duration ({config.duration_s:g})")
    binary = wrk_binary()
    config.out_dir.mkdir(parents=True, exist_ok=True)
    config.local.log_dir = config.out_dir / "logs"
    bodies = write_bodies(config.out_dir / "wrk_bodies.jsonl", config.texts)
    records = config.out_dir / "records.tsv"
    answers = config.out_dir / "answers.tsv"
    answers.write_text("segment\tstatus\tsent_ms\tlatency_ms\tlateness_ms\n")
    knee_steps: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    with running_target(config.target, config.local) as target:
        knee = config.knee_rps
        if knee is None:
            with console.status("measuring the capacity knee"):
                knee, knee_steps = probe_knee(
                    binary, target.url, bodies, config.budget_ms, config.knee_step_s, lambda step: None
                )
            if knee is None:
                raise ValueError("no capacity knee: even 20 RPS failed or broke the p99 budget; give --knee-rps")
        rate = knee * config.share_of_knee
        console.print(f"[bold]{target.name}[/]: knee {knee:.1f} RPS; {rate:.1f} RPS for {config.duration_s:g} s")
        count = max(1, math.ceil(config.duration_s / config.segment_s))
        progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=console
        )
        rss = Sampler(lambda: server_rss_bytes(target), config.rss_every_s, "rss-sampler")
        host_steal = Sampler(steal.read_steal_ticks, steal.EVERY_S, "steal-sampler")
        with rss, host_steal, progress:
            task = progress.add_task(f"soak at {rate:.0f} RPS", total=count)
            started = time.monotonic()
            for index in range(count):
                seconds = int(min(config.segment_s, config.duration_s - index * config.segment_s))
                before = cpu_split.read(target)
                run = run_records(binary, target.url, bodies, rate, max(1, seconds), records)
                segment = {"index": index, "started_s": round(time.monotonic() - started - seconds, 1)}
                segment.update(figures(run))
                keep_answers(answers, index, run)
                segment.update(cpu_split.step_figures(before, cpu_split.read(target), segment["answers"]))
                segment["load_average_1m"] = round(os.getloadavg()[0], 2)
                segments.append(segment)
                progress.update(
                    task,
                    advance=1,
                    description=(
                        f"soak at {rate:.0f} RPS: p99 {segment['admitted_p99_ms'] or 0:.1f} ms, "
                        f"failures {sum(failure_kinds(segments).values())}"
                    ),
                )
        samples = rss.since_start()
    memory = growth(samples, config.warm_up_s)
    steal_figures = steal.summarize(steal.by_second(host_steal.samples), refusal_times_ms(answers))
    kinds = failure_kinds(segments)
    failures = sum(kinds.values())
    summary = {
        "target": config.target,
        "label": config.label or target.label(),
        "scenario": "soak",
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "knee_rps": round(knee, 3),
        "knee_source": "given (--knee-rps)" if config.knee_rps else "measured (capacity rule, same server)",
        "knee_steps": knee_steps,
        "offered_rps": round(rate, 3),
        "share_of_knee": config.share_of_knee,
        "duration_s": config.duration_s,
        "warm_up_s": config.warm_up_s,
        "request": f"POST /predict, one text each, the {config.texts!r} text set in turn",
        "requests": sum(segment["answers"] for segment in segments),
        "failures": failures,
        "failure_kinds": kinds,
        "cpu_quota_throttled": quota_throttling(segments),
        "admitted_in_burst": burst_use(segments),
        "host_steal": steal_figures,
        "rss": memory,
        "rss_samples": [[at, round(rss / 2**20, 2)] for at, rss in samples],
        "goals": {"failures": 0, "rss_growth_after_warm_up": MAX_GROWTH},
        "goals_met": {"failures": failures == 0, "rss_growth": memory["within_goal"]},
        "segments": segments,
        "server": target.server,
        "load_generator": f"{wrk_version(binary)} + wrk_per_request.lua (open loop, one connection per thread)",
        "machine": machine_block(),
    }
    (config.out_dir / "soak.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(summary, config.out_dir / "soak.png")
    return summary


def keep_answers(path: Path, index: int, run: dict[str, Any]) -> None:
    """Append a segment's answers to ``path``, one line each: segment, status, when it was sent (ms on the
    monotonic clock, so comparable across segments), latency ms and lateness ms."""
    import numpy as np

    columns = np.column_stack(
        [np.full(len(run["status"]), index), run["status"], run["sent_at_ms"], run["latency_ms"], run["lateness_ms"]]
    )
    with path.open("a") as out:
        np.savetxt(out, columns, fmt=["%d", "%d", "%.3f", "%.3f", "%.3f"], delimiter="\t")


def refusal_times_ms(answers: Path) -> list[float]:
    """When each 429 of ``answers.tsv`` was sent, in ms of the monotonic clock."""
    import numpy as np

    table = np.loadtxt(answers, skiprows=1, ndmin=2)
    return table[table[:, 1] == 429, 2].tolist() if len(table) else []


def failure_kinds(segments: list[dict[str, Any]]) -> dict[str, int]:
    """The soak's failures by kind: a 429 counts (at 80 % of the knee nothing should be shed), as do 5xx and others."""
    return {
        "429": sum(segment["throttled"] for segment in segments),
        "5xx": sum(segment["server_errors"] for segment in segments),
        "other": sum(segment["other_failures"] for segment in segments),
    }


def quota_throttling(segments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The CPU quota's throttling over the soak: periods, milliseconds, and the segments it fell in."""
    counted = [segment for segment in segments if "cpu_quota_throttled_periods" in segment]
    if not counted:
        return None
    return {
        "periods": sum(segment["cpu_quota_throttled_periods"] for segment in counted),
        "ms": round(sum(segment["cpu_quota_throttled_ms"] for segment in counted), 1),
        "segments": [segment["index"] for segment in counted if segment["cpu_quota_throttled_periods"]],
    }


def burst_use(segments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The requests the admission's burst allowance let in over the soak, and the segments they came in."""
    counted = [segment for segment in segments if "admitted_in_burst" in segment]
    if not counted:
        return None
    return {
        "requests": sum(segment["admitted_in_burst"] for segment in counted),
        "segments": [segment["index"] for segment in counted if segment["admitted_in_burst"]],
    }


def print_result(summary: dict[str, Any], console=None) -> None:
    """The two soak figures against their goals."""
    from rich.console import Console

    console = console or Console(width=160, soft_wrap=True)
    memory = summary["rss"]
    share = memory["growth"]
    console.print(
        f"soak: {summary['requests']} requests at {summary['offered_rps']:.1f} RPS for {summary['duration_s']:g} s: "
        f"failures {summary['failures']} ({summary['failure_kinds']}) "
        f"(goal 0: {'met' if summary['goals_met']['failures'] else 'NOT met'})"
    )
    quota = summary.get("cpu_quota_throttled")
    if quota is not None:
        console.print(
            f"CPU quota: throttled in {quota['periods']} periods, {quota['ms']:g} ms in all "
            f"(segments {quota['segments'] or 'none'})"
        )
    burst = summary.get("admitted_in_burst")
    if burst is not None:
        console.print(
            f"burst allowance: {burst['requests']} requests admitted past the bound "
            f"(segments {burst['segments'] or 'none'})"
        )
    host = summary.get("host_steal")
    if host is not None:
        near = host["beside_refusals"]

        def per_cpu(seconds: dict[str, Any]) -> str:
            if not seconds["seconds"]:
                return "none"
            return f"{seconds['seconds']} s, mean {seconds['mean_ms']} ms a second, most {seconds['max_ms']}"

        console.print(
            f"host steal: {100 * host['share_of_cpu_time']:.1f} % of CPU time ({host['ms_per_cpu']} ms per CPU); "
            f"seconds with a 429: {per_cpu(near['with_a_refusal'])}; the others: {per_cpu(near['without'])}"
        )
    growth_text = "-" if share is None else f"{100 * share:+.1f} %"
    console.print(
        f"RSS after warm-up {memory['after_warm_up_mb']} MB, at end {memory['at_end_mb']} MB, peak {memory['peak_mb']} "
        f"MB: growth {growth_text} (goal <= 10 %: {'met' if summary['goals_met']['rss_growth'] else 'NOT met'})"
    )


def plot(summary: dict[str, Any], path: Path) -> Path:
    """RSS over time (top), admitted p50/p99 per segment (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (memory, latency) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    samples = summary["rss_samples"]
    memory.plot([at for at, _ in samples], [mb for _, mb in samples], color="tab:purple")
    memory.axvline(summary["warm_up_s"], color="grey", linestyle="--", linewidth=0.8, label="end of warm-up")
    memory.set_ylabel("server RSS (MB)")
    memory.legend(fontsize=8)
    segments = summary["segments"]
    middles = [segment["started_s"] + summary["duration_s"] / max(1, len(segments)) / 2 for segment in segments]
    for key, name in (("admitted_p50_ms", "p50"), ("admitted_p99_ms", "p99")):
        latency.plot(middles, [segment[key] or float("nan") for segment in segments], marker="o", label=name)
    latency.set_ylabel("latency (ms)")
    latency.set_xlabel("seconds")
    latency.legend(fontsize=8)
    figure.suptitle(
        f"Soak: {summary['label']} at {summary['offered_rps']:.0f} RPS ({summary['share_of_knee']:.0%} of the knee), "
        f"failures {summary['failures']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
