"""The simulation as a rich table, or JSON; no computing here."""

from __future__ import annotations

from pathlib import Path

from costmodel.model import PLATFORM_LABELS
from costmodel.render import money, new_console, print_notes, text


def _constants_rows(outcome) -> list[dict]:
    return [
        {"key": c.key, "value": c.value, "unit": c.unit, "source": c.source, "read_on": str(c.read_on)}
        for c in outcome.constants.assumptions()
    ]


def to_json(outcome, plot_path: Path | None) -> dict:
    sim = outcome.simulation
    return {
        "traffic": {
            "description": sim.arrivals.description,
            "seconds": sim.seconds,
            "requests": sim.arrivals.total,
        },
        "mode": sim.mode,
        "p99_slo_ms": outcome.slo_ms,
        "platforms": {
            p: run.summary(outcome.slo_ms) | {"monthly_usd": outcome.monthly(p)} for p, run in sim.runs.items()
        },
        "service_times": sim.config.service.sources,
        "deployment": sim.config.origins,
        "assumed_constants": _constants_rows(outcome),
        "runtime_s": outcome.runtime_s,
        "plot": str(plot_path) if plot_path else None,
        "inputs": outcome.resolved.rows_json(),
    }


def _ms(value: float) -> str:
    return "–" if value != value else f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def print_outcome(outcome, plot_path: Path | None) -> None:
    from rich.table import Table

    sim = outcome.simulation
    console = new_console()
    hours = sim.seconds / 3600
    table = Table(
        title=f"{sim.arrivals.description}; {hours:g} h simulated ({sim.arrivals.total:,} requests, {sim.mode} mode)",
        title_justify="left",
    )
    for name in (
        "platform",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        f"> {outcome.slo_ms:g} ms",
        "cold starts",
        "throttled",
        "dropped",
        "peak replicas",
        f"$ for {hours:g} h",
        "$/month at this rate",
    ):
        table.add_column(name, justify="left" if name == "platform" else "right")
    for p, run in sim.runs.items():
        peak = int(run.replicas.max()) if run.replicas.size else 0
        if run.nodes is not None:
            peak_text = f"{peak} pods / {int(run.nodes.max())} nodes"
        elif p == "lambda":
            peak_text = f"{peak} environments"
        else:
            peak_text = f"{peak} tasks"
        table.add_row(
            PLATFORM_LABELS[p],
            _ms(run.percentile_ms(0.50)),
            _ms(run.percentile_ms(0.95)),
            _ms(run.percentile_ms(0.99)),
            f"{run.share_over_slo(outcome.slo_ms):.2%}",
            _count(run.cold_starts),
            _count(run.throttled),
            _count(run.dropped),
            peak_text,
            f"${run.total_cost:,.4f}",
            money(outcome.monthly(p)),
        )
    console.print(table)
    console.print(
        text(
            f"> SLO: share of offered requests slower than {outcome.slo_ms:g} ms, throttled (429) or dropped "
            "(ALB timeout). Latency percentiles are of the requests served."
        ),
        style="dim",
    )
    for p, run in sim.runs.items():
        for note in run.notes:
            console.print(text(f"{PLATFORM_LABELS[p]}: {note}"))
    console.print(text("Service times:"))
    for key, origin in sim.config.service.sources.items():
        console.print(text(f"  {key}: {origin}"))
    console.print(text("Deployment values: " + "; ".join(f"{k} from {v}" for k, v in sim.config.origins.items())))
    console.print(
        text(
            f"{len(_constants_rows(outcome))} behaviour constants are assumptions "
            "(costmodel/simulate/constants.yaml, `assumption: true`)."
        ),
        style="yellow",
    )
    if plot_path is not None:
        console.print(text(f"wrote {plot_path}"))
    console.print(text(f"simulated in {outcome.runtime_s:.1f} s"), style="dim")
    print_notes(console, outcome.resolved)
