"""The simulation as a PNG: per platform, offered vs served RPS with the serving replicas, and rolling p99."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from costmodel.model import PLATFORM_LABELS
from costmodel.plot import COLORS

WINDOW_BEFORE_S = 20 * 60
WINDOW_AFTER_S = 40 * 60


def _window(outcome) -> tuple[int, int]:
    """The spike and the hour after it when there is a spike, else the whole period."""
    sim = outcome.simulation
    rate = sim.arrivals.rate
    if rate.size and rate.max() > 3 * np.median(rate) > 0:
        hot = np.flatnonzero(rate > 3 * np.median(rate))
        return max(0, int(hot[0]) - WINDOW_BEFORE_S), min(sim.seconds, int(hot[-1]) + WINDOW_AFTER_S)
    return 0, sim.seconds


def _binned(values: np.ndarray, bin_s: int) -> np.ndarray:
    usable = values[: values.size // bin_s * bin_s].astype(np.float64)
    return usable.reshape(-1, bin_s).mean(axis=1)


def plot(outcome, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sim = outcome.simulation
    lo, hi = _window(outcome)
    span = hi - lo
    bin_s = 10 if span <= 4 * 3600 else 60
    platforms = list(sim.runs)
    fig, axes = plt.subplots(len(platforms) + 1, 1, figsize=(11, 2.6 * (len(platforms) + 1)), dpi=110, sharex=True)
    start = sim.arrivals.start_s

    def clock(seconds: np.ndarray) -> np.ndarray:
        return (start + seconds) / 3600

    for ax, p in zip(axes, platforms, strict=False):
        run = sim.runs[p]
        x = clock(lo + np.arange(span // bin_s) * bin_s + bin_s / 2)
        ax.plot(x, _binned(run.offered[lo:hi], bin_s), color="0.55", lw=1.2, label="offered RPS")
        ax.plot(x, _binned(run.served[lo:hi], bin_s), color=COLORS[p], lw=1.4, label="served RPS")
        ax.set_ylabel("requests/s")
        failed = ""
        if run.throttled or run.dropped:
            failed = f", {run.throttled:,.0f} throttled, {run.dropped:,.0f} dropped"
        ax.set_title(
            f"{PLATFORM_LABELS[p]}: p99 {run.percentile_ms(0.99):,.0f} ms, {run.cold_starts:,.0f} cold starts{failed}, "
            f"${run.total_cost:,.2f} for the period",
            fontsize=9,
            loc="left",
        )
        twin = ax.twinx()
        label = "environments alive" if p == "lambda" else "ready pods" if p == "eks" else "ready tasks"
        twin.step(x, _binned(run.replicas[lo:hi], bin_s), where="mid", color="black", lw=1, ls="--", label=label)
        if run.nodes is not None:
            twin.step(x, _binned(run.nodes[lo:hi], bin_s), where="mid", color="tab:red", lw=1, ls=":", label="nodes")
        twin.set_ylabel("replicas")
        twin.set_ylim(bottom=0)
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right", fontsize=7)
        ax.grid(alpha=0.3)
    ax = axes[-1]
    for p in platforms:
        run = sim.runs[p]
        p99 = run.latencies.rolling_quantile(0.99, bin_s, hi, start=lo) * 1000
        x = clock(lo + np.arange(p99.size) * bin_s + bin_s / 2)
        ax.plot(x, p99, color=COLORS[p], lw=1.3, label=PLATFORM_LABELS[p])
    ax.axhline(outcome.slo_ms, color="0.3", ls="--", lw=0.9, label=f"SLO {outcome.slo_ms:g} ms")
    ax.set_yscale("log")
    ax.set_ylabel(f"p99 ms per {bin_s} s")
    ax.set_xlabel("time of day (h)")
    ax.legend(loc="upper right", fontsize=7)
    ax.grid(alpha=0.3, which="both")
    fig.suptitle(
        f"{sim.arrivals.description}\n{sim.mode} mode; window {_hhmm(start + lo)}-{_hhmm(start + hi)}", fontsize=10
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _hhmm(seconds: float) -> str:
    s = int(seconds) % 86_400
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"
