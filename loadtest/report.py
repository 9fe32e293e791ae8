"""``python -m loadtest report results/* --out report/``: the comparison table and plots.

Writes ``report.md`` (one column per results folder, a winner per row, each figure's ratio to the
baseline) and PNGs: latency percentiles per target, RPS and p99 over time (Locust's stats history),
the capacity curve (capacity probes) and cold-start durations (where any were measured).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.report_shapes import plot_deployed_shapes, ran_sentence, targets_table
from loadtest.summary import SummaryError, read_summary

HISTORY_FILE = "locust_stats_history.csv"
REPORT_FILE = "report.md"


@dataclass
class Result:
    """One results folder: its summary and where it lives."""

    folder: Path
    summary: dict[str, Any]
    label: str

    @property
    def is_baseline(self) -> bool:
        """Whether this is the seed-style baseline."""
        return self.summary["target"] == "baseline"

    @property
    def texts(self) -> str:
        """The text set of its capacity probe (``reviews`` unless the probe says otherwise)."""
        return (self.summary.get("capacity") or {}).get("texts", "reviews")


def baseline_for(result: Result, results: list[Result]) -> Result | None:
    """The baseline ``result`` is compared with: one probed with the same text set if there is one, else the first."""
    baselines = [candidate for candidate in results if candidate.is_baseline]
    same_texts = [candidate for candidate in baselines if candidate.texts == result.texts]
    return (same_texts or baselines or [None])[0]


@dataclass(frozen=True)
class Row:
    """One row of the comparison table."""

    name: str
    unit: str
    value: Callable[[dict[str, Any]], float | None]
    higher_is_better: bool


def _latency(key: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda summary: summary["latency_ms"].get(key)


def _cold_start(summary: dict[str, Any]) -> float | None:
    cold = summary["cold_starts"]
    return cold["median_ms"] if cold["count"] else None


def _cold_start_alone(summary: dict[str, Any]) -> float | None:
    return summary["cold_starts"].get("alone_median_ms")


def _success_rate(summary: dict[str, Any]) -> float | None:
    requests = summary["requests"]
    return 100.0 * (requests - summary["failures"]) / requests if requests else None


def _knee(summary: dict[str, Any]) -> float | None:
    return (summary.get("capacity") or {}).get("knee_rps")


ROWS = (
    Row("mean latency", "ms", _latency("mean"), False),
    Row("median latency", "ms", _latency("median"), False),
    Row("p95 latency", "ms", _latency("p95"), False),
    Row("p99 latency", "ms", _latency("p99"), False),
    Row("cold start (median)", "ms", _cold_start, False),
    Row("cold start alone (median)", "ms", _cold_start_alone, False),
    Row("RPS", "req/s", lambda summary: summary["rps"], True),
    Row("success rate", "%", _success_rate, True),
    Row("capacity knee", "req/s", _knee, True),
)


def load_results(folders: list[Path]) -> list[Result]:
    """Read every folder's summary; labels are made unique with the folder name where they clash."""
    if not folders:
        raise SummaryError("no results folders given")
    results = [Result(Path(folder), read_summary(Path(folder)), "") for folder in folders]
    counts: dict[str, int] = {}
    for result in results:
        counts[result.summary["label"]] = counts.get(result.summary["label"], 0) + 1
    for result in results:
        label = result.summary["label"]
        result.label = f"{label} ({result.folder.name})" if counts[label] > 1 else label
    return results


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "%":
        return f"{value:.2f} %"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _ratio(value: float | None, baseline: float | None) -> str:
    if value is None or baseline is None or baseline == 0:
        return ""
    ratio = value / baseline
    return f" ({ratio:.2g}×)" if ratio < 10 else f" ({ratio:,.0f}×)"


def winners(results: list[Result], row: Row) -> list[str]:
    """Labels with the best value of ``row`` (ties share it); empty when fewer than two have a value."""
    values = [(result.label, row.value(result.summary)) for result in results]
    present = [(label, value) for label, value in values if value is not None]
    if len(present) < 2:
        return []
    best = max(value for _, value in present) if row.higher_is_better else min(value for _, value in present)
    return [label for label, value in present if value == best]


def _winner_text(results: list[Result], row: Row) -> str:
    best = winners(results, row)
    present = sum(1 for result in results if row.value(result.summary) is not None)
    if not best:
        return "–"
    return "tie" if len(best) == present else ", ".join(best)


def comparison_table(results: list[Result]) -> str:
    """The Markdown table: rows are figures, columns are results, then the winner; ratios to the baseline."""
    headers = [result.label + (" ¹" if result.summary["emulated"] else "") for result in results]
    lines = [
        "| figure | " + " | ".join(headers) + " | winner |",
        "| --- | " + " | ".join("---:" for _ in results) + " | --- |",
    ]
    for row in ROWS:
        cells = []
        for result in results:
            value = row.value(result.summary)
            baseline = baseline_for(result, results)
            ratio = "" if baseline is None or result.is_baseline else _ratio(value, row.value(baseline.summary))
            cells.append(_format(value, row.unit) + ratio)
        lines.append(f"| {row.name} ({row.unit}) | " + " | ".join(cells) + f" | {_winner_text(results, row)} |")
    return "\n".join(lines)


def details_table(results: list[Result]) -> str:
    """What each column measured: scenario, load, model, server, load generator."""
    lines = [
        "| result | target | scenario | requests | failures | users / duration | model | server | load generator |",
        "| --- | --- | --- | ---: | ---: | --- | --- | --- | --- |",
    ]
    for result in results:
        summary = result.summary
        load = summary.get("load") or {}
        load_text = f"{load.get('users', '–')} users, {load.get('duration_s', '–')} s" if load else "–"
        if summary.get("scenario") == "capacity" or (summary.get("capacity") and not load):
            capacity = summary["capacity"]
            load_text = f"{len(capacity['steps'])} steps × {capacity.get('step_s', '–')} s"
        model = summary.get("model") or {}
        server = summary["server"]
        generator = summary["load_generator"]
        cpu = generator.get("cpu_percent")
        scenario = summary.get("scenario", "–")
        if summary.get("capacity"):
            scenario += f"; capacity probe on {result.texts}, p99 ≤ {summary['capacity']['p99_budget_ms']:g} ms"
        lines.append(
            f"| {result.label} | {summary['target']} | {scenario} | {summary['requests']} | "
            f"{summary['failures']} | {load_text} | {model.get('name') or '–'} | "
            f"{server.get('workers', '–')} worker(s), {server.get('cpus', '–')} CPUs | "
            f"{generator['tool']}, {'–' if cpu is None else f'{cpu:.0f} %'} CPU |"
        )
    return "\n".join(lines)


def read_history(folder: Path) -> list[dict[str, float]]:
    """Locust's ``Aggregated`` history rows as ``{"t", "users", "rps"[, "p99"]}``.

    ``rps`` is the change in Locust's total request count over each interval (its own ``Requests/s`` column
    lags by several seconds); ``p99`` is Locust's current-window p99, absent where it had none.
    """
    path = folder / HISTORY_FILE
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as handle:
        for raw in csv.DictReader(handle):
            if raw.get("Name") != "Aggregated":
                continue
            try:
                point = {
                    "t": float(raw["Timestamp"]),
                    "users": float(raw["User Count"]),
                    "total": float(raw["Total Request Count"]),
                }
            except (KeyError, ValueError):
                continue
            try:
                p99 = float(raw["99%"])
            except (KeyError, ValueError):
                p99 = 0.0
            if p99 > 0:
                point["p99"] = p99
            rows.append(point)
    points = []
    for previous, current in itertools.pairwise(rows):
        interval = current["t"] - previous["t"]
        if interval <= 0:
            continue
        point = {
            "t": current["t"] - rows[0]["t"],
            "users": current["users"],
            "rps": (current["total"] - previous["total"]) / interval,
        }
        if "p99" in current:
            point["p99"] = current["p99"]
        points.append(point)
    return points


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_latency(results: list[Result], path: Path) -> Path:
    """Grouped bars: mean, median, p95 and p99 per result (log scale: the baseline is far slower)."""
    plt = _pyplot()
    keys = ("mean", "median", "p95", "p99")
    figure, axes = plt.subplots(figsize=(max(6, 1.8 * len(results) + 2), 4.5))
    width = 0.8 / len(keys)
    for index, key in enumerate(keys):
        values = [result.summary["latency_ms"].get(key) or 0 for result in results]
        positions = [column + (index - 1.5) * width for column in range(len(results))]
        axes.bar(positions, values, width, label=key)
    axes.set_xticks(range(len(results)), [result.label for result in results], rotation=15, ha="right")
    axes.set_yscale("log")
    axes.set_ylabel("latency (ms, log scale)")
    axes.set_title("Latency percentiles per target")
    axes.legend()
    axes.grid(axis="y", which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_timeline(results: list[Result], path: Path) -> Path | None:
    """RPS and p99 over time from each run's Locust history; ``None`` when no run has one."""
    histories = [(result, read_history(result.folder)) for result in results]
    histories = [(result, history) for result, history in histories if history]
    if not histories:
        return None
    plt = _pyplot()
    figure, (rps_axes, p99_axes) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for result, history in histories:
        rps_axes.plot([p["t"] for p in history], [p["rps"] for p in history], label=result.label)
        with_p99 = [p for p in history if "p99" in p]
        p99_axes.plot([p["t"] for p in with_p99], [p["p99"] for p in with_p99], label=result.label)
    rps_axes.set_ylabel("requests/s")
    rps_axes.set_title("Throughput and p99 latency over time (Locust)")
    p99_axes.set_ylabel("p99 (ms, log scale)")
    p99_axes.set_yscale("log")
    p99_axes.set_xlabel("seconds since start")
    for axes in (rps_axes, p99_axes):
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_capacity(results: list[Result], path: Path) -> Path | None:
    """Achieved RPS and p99 against offered RPS per capacity probe, with the budget; ``None`` without probes."""
    probes = [result for result in results if result.summary.get("capacity")]
    if not probes:
        return None
    plt = _pyplot()
    figure, (rate_axes, p99_axes) = plt.subplots(1, 2, figsize=(11, 4.5))
    budgets = set()
    for result in probes:
        capacity = result.summary["capacity"]
        budgets.add(capacity["p99_budget_ms"])
        steps = sorted(capacity["steps"], key=lambda step: step["offered_rps"])
        offered = [step["offered_rps"] for step in steps]
        line = rate_axes.plot(offered, [step["achieved_rps"] for step in steps], marker="o", label=result.label)[0]
        p99_axes.plot(
            offered,
            [max(step["p99_ms"], 0.01) for step in steps],
            marker="o",
            color=line.get_color(),
            label=result.label,
        )
        if capacity.get("knee_rps") is not None:
            rate_axes.axhline(capacity["knee_rps"], color=line.get_color(), linestyle=":", linewidth=1)
    offered_all = [step["offered_rps"] for result in probes for step in result.summary["capacity"]["steps"]]
    ends = [min(offered_all), max(offered_all)]
    rate_axes.plot(ends, ends, color="grey", linestyle="--", linewidth=1, label="achieved = offered")
    for budget in sorted(budgets):
        p99_axes.axhline(budget, color="red", linestyle="--", linewidth=1, label=f"p99 budget {budget:g} ms")
    rate_axes.set_xlabel("offered RPS (open loop)")
    rate_axes.set_ylabel("achieved RPS")
    rate_axes.set_yscale("log")
    rate_axes.set_title("Capacity: achieved vs offered (dotted: knee)")
    p99_axes.set_xlabel("offered RPS (open loop)")
    p99_axes.set_ylabel("p99 (ms, log scale)")
    p99_axes.set_yscale("log")
    p99_axes.set_title("Capacity: p99 vs offered")
    for axes in (rate_axes, p99_axes):
        axes.set_xscale("log")
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_cold_starts(results: list[Result], path: Path) -> Path | None:
    """Every measured cold start per result; ``None`` when none were measured."""
    measured = [result for result in results if result.summary["cold_starts"]["count"]]
    if not measured:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(max(5, 2 * len(measured) + 2), 4))
    for column, result in enumerate(measured):
        durations = result.summary["cold_starts"]["durations_ms"]
        axes.scatter([column] * len(durations), durations, alpha=0.6)
        median = result.summary["cold_starts"]["median_ms"]
        axes.hlines(median, column - 0.25, column + 0.25, color="black")
        axes.annotate(f"median {median:.0f} ms", (column + 0.27, median), fontsize="small", va="center")
    axes.set_xticks(range(len(measured)), [result.label for result in measured], rotation=15, ha="right")
    axes.set_xlim(-0.5, len(measured) - 0.5 + 0.6)
    axes.set_ylabel("environment start to first response (ms)")
    axes.set_title("Cold starts")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _notes(results: list[Result]) -> list[str]:
    notes = []
    if any(result.summary["emulated"] for result in results):
        notes.append(
            "¹ Local emulation of AWS Lambda on this machine (`loadtest.lambda_emulator`: the real handler through "
            "`awslambdaric` under AWS's Runtime Interface Emulator, one RIE process per execution environment, "
            "429 beyond the concurrency limit): these are not AWS figures. Cold starts "
            'here share this machine\'s CPUs; on Lambda each environment has its own: "cold start alone" counts '
            "only environments that initialised while no other one did."
        )
    baseline = next((result for result in results if result.is_baseline), None)
    if baseline:
        notes.append(
            f"Ratios in brackets are each figure divided by the baseline's ({baseline.label}: PyTorch FP32 "
            "DistilBERT-base with random weights, naive server; where baselines were probed with several text "
            "sets, the one probed with the column's set). Below 1× is smaller (better for latency), above 1× "
            "larger (better for RPS and capacity)."
        )
    notes.append(
        "Latency, RPS and success rate come from each folder's Locust run (realistic mix unless the scenario "
        "says otherwise), or from the knee step where a folder holds only a capacity probe. RPS of a Locust run "
        "follows from its users and think time; the capacity knee (open-loop wrk steps, p99 within the budget, "
        "no failures) is the throughput figure."
    )
    budgets = {
        result.label: result.summary["capacity"]["p99_budget_ms"]
        for result in results
        if result.summary.get("capacity")
    }
    if len(set(budgets.values())) > 1:
        listed = ", ".join(f"{label} {budget:g} ms" for label, budget in budgets.items())
        notes.append(f"The capacity knees were probed at different p99 budgets ({listed}): compare them knowing it.")
    machines = {str((result.summary.get("machine") or {}).get("platform")) for result in results}
    cpus = {str((result.summary.get("machine") or {}).get("cpus")) for result in results}
    notes.append(f"Measured on: {', '.join(sorted(machines))}; CPUs: {', '.join(sorted(cpus))}.")
    return notes


def write_report(folders: list[Path], out_dir: Path) -> Path:
    """Write ``report.md`` and the PNGs into ``out_dir``; returns the Markdown file's path."""
    results = load_results(folders)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = [
        ("Latency percentiles", plot_latency(results, out_dir / "latency_percentiles.png")),
        ("RPS and p99 over time", plot_timeline(results, out_dir / "rps_p99_over_time.png")),
        ("Capacity curve", plot_capacity(results, out_dir / "capacity_curve.png")),
        ("Cold starts", plot_cold_starts(results, out_dir / "cold_starts.png")),
        ("Latency against offered load, deployed shapes", plot_deployed_shapes(results, out_dir / "shapes.png")),
    ]
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    parts = [
        "# Load-test comparison",
        "",
        f"Generated {created} by `python -m loadtest report` from: "
        + ", ".join(f"`{result.folder}`" for result in results)
        + ".",
        "",
        comparison_table(results),
        "",
        *[f"{note}\n" for note in _notes(results)],
        "## What ran, in which shape",
        "",
        ran_sentence(results),
        "",
        targets_table(results),
        "",
        "## What each column measured",
        "",
        details_table(results),
        "",
    ]
    for title, path in plots:
        if path is not None:
            parts += [f"## {title}", "", f"![{title}]({path.name})", ""]
    report = out_dir / REPORT_FILE
    report.write_text("\n".join(parts))
    return report
