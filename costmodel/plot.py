"""`plot`: monthly cost against daily requests (log-log), one line per platform, crossovers marked."""

from __future__ import annotations

import math
from pathlib import Path

from costmodel.compare import CrossoverResult, totals_at
from costmodel.model import PLATFORM_LABELS, PLATFORMS, ModelInputs
from costmodel.pricing import Pricing

DEFAULT_PLOT_PATH = Path("docs/img/cost-vs-volume.png")  # the figure the README and docs/comparison.md show
COLORS = {"lambda": "#d95f02", "fargate": "#1b9e77", "eks": "#7570b3"}
POINTS = 400
MAX_ANNOTATED = 4


def sample_volumes(low: int, high: int, crossovers: CrossoverResult, points: int = POINTS) -> list[int]:
    """A log-spaced grid, plus both sides of every crossover so the steps are drawn where they are."""
    step = (math.log10(high) - math.log10(low)) / (points - 1)
    grid = {round(10 ** (math.log10(low) + i * step)) for i in range(points)}
    for c in crossovers.crossovers:
        grid.update({c.daily_requests - 1, c.daily_requests})
    return sorted(n for n in grid if low <= n <= high)


def plot(
    path: Path,
    inputs: ModelInputs,
    pricing: Pricing,
    crossovers: CrossoverResult,
    title: str,
    subtitle: str,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    volumes = sample_volumes(crossovers.low, crossovers.high, crossovers)
    series = {p: [] for p in PLATFORMS}
    for n in volumes:
        for p, total in totals_at(n, inputs, pricing).items():
            series[p].append(total)

    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(10, 6), dpi=120)
    for p in PLATFORMS:
        # task/pod/node counts are steps; Lambda is straight pieces
        style = "default" if p == "lambda" else "steps-post"
        ax.plot(volumes, series[p], label=PLATFORM_LABELS[p], color=COLORS[p], linewidth=2, drawstyle=style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(crossovers.low, crossovers.high)
    ymin = min(min(v) for v in series.values())
    ymax = max(max(v) for v in series.values())
    ax.set_ylim(max(ymin * 0.7, 0.01), ymax * 1.6)
    shown = list(crossovers.crossovers)
    if len(shown) > MAX_ANNOTATED:  # a long back-and-forth: label where it starts and where it ends
        shown = [shown[0], shown[-1]]
        title += f"\n({len(crossovers.crossovers)} crossovers, dashed; `python -m costmodel crossover` lists them)"
    for c in crossovers.crossovers:
        ax.axvline(c.daily_requests, color="0.35", linestyle="--", linewidth=0.8)
    span = math.log10(crossovers.high) - math.log10(crossovers.low)
    for i, c in enumerate(shown):
        cost = c.at[c.to_platform]
        # labels go below the lines (costs rise to the right), and to the left near the right edge
        right = (math.log10(c.daily_requests) - math.log10(crossovers.low)) / span > 0.7
        ax.annotate(
            f"{c.daily_requests:,}/day\n{PLATFORM_LABELS[c.from_platform]} → {PLATFORM_LABELS[c.to_platform]}\n"
            f"${cost:,.0f}/month",
            xy=(c.daily_requests, cost),
            xytext=(-150 if right else 10, -60 - 58 * (i % 3)),
            textcoords="offset points",
            fontsize=8,
            arrowprops={"arrowstyle": "->", "color": "0.35"},
            bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.6"},
        )
        ax.plot([c.daily_requests], [cost], marker="o", color="black", markersize=4)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"${y:,.0f}" if y >= 1 else f"${y:.2f}"))
    ax.set_xlabel("requests per day (log scale)")
    ax.set_ylabel("USD per month (log scale)")
    ax.set_title(title, fontsize=12)
    fig.text(0.5, 0.01, subtitle, ha="center", fontsize=7.5, color="0.3", wrap=True)
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", alpha=0.15)
    ax.legend(loc="upper left")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
