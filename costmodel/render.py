"""Output helpers shared by the commands: rich console, money formats, input tables, crossover lines."""

from __future__ import annotations

import json
from typing import Any

from costmodel.compare import DEFAULT_RANGE, CrossoverResult, Row, Scenario
from costmodel.inputs import InputRow, Resolved
from costmodel.model import PLATFORM_LABELS, PLATFORMS


def new_console():
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    return console


def text(value: Any):
    from rich.text import Text

    return Text(str(value))


def money(amount: float) -> str:
    return f"${amount:,.2f}"


def per_1k(amount: float | None) -> str:
    return "–" if amount is None else f"${amount:,.4f}"


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def service_rows(resolved: Resolved) -> list[InputRow]:
    """Inputs worth showing under a comparison: the service inputs and every flag that was set."""
    service = {"rps-per-core", "duration-ms", "memory-mb", "cold-starts-per-day", "init-ms"}
    measured = {"rps-per-task", "rps-per-pod"}  # shown when --from-results measured them on the deployed shapes
    return [
        r
        for r in resolved.rows
        if r.name in service or r.origin.startswith("--") or (r.name in measured and r.value is not None)
    ]


def print_inputs(console, rows: list[InputRow], title: str = "Inputs") -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("input")
    table.add_column("value", justify="right")
    table.add_column("origin")
    for r in rows:
        table.add_row(text(r.name), text("(derived)" if r.value is None else r.value), text(r.origin))
    console.print(table)


def print_notes(console, resolved: Resolved) -> None:
    for note in resolved.profile.notes:
        console.print(text(f"note: {note}"), style="yellow")


def crossover_lines(result: CrossoverResult) -> list[str]:
    lines = [f"At {result.low:,} requests/day the cheapest is {PLATFORM_LABELS[result.start]}."]
    for c in result.crossovers:
        lines.append(
            f"From {c.daily_requests:,} requests/day: {PLATFORM_LABELS[c.to_platform]} "
            f"(${c.at[c.to_platform]:,.4f}/month) is cheaper than {PLATFORM_LABELS[c.from_platform]} "
            f"(${c.at[c.from_platform]:,.4f}); at {c.daily_requests - 1:,} it was "
            f"{PLATFORM_LABELS[c.from_platform]} ${c.before[c.from_platform]:,.4f} vs "
            f"{PLATFORM_LABELS[c.to_platform]} ${c.before[c.to_platform]:,.4f}."
        )
    if not result.crossovers:
        lines.append(f"No crossover up to {result.high:,} requests/day.")
    return lines


def inputs_sentence(resolved: Resolved) -> str:
    """The model's inputs in one sentence: traffic, each platform's shape and sizing, prices (the plot's subtitle)."""
    i = resolved.inputs
    lam, far, eks = i.lambda_, i.fargate, i.eks
    dates = sorted({p.read_on for p in resolved.pricing.all_prices()})
    return (
        f"{i.arch}; {i.traffic.describe()}. Lambda {lam.memory_mb} MB × {lam.duration_ms:g} ms"
        f"{' + HTTP API' if lam.api_gateway else ''}; Fargate {far.task_vcpu:g} vCPU/{far.task_memory_gb:g} GB, "
        f"≥{far.min_tasks} tasks at {i.rps_per_task:g} RPS × {i.target_utilization:g}; "
        f"EKS {eks.instance_type} nodes ≥{eks.min_nodes}, "
        f"pods {eks.pod_vcpu:g} vCPU at {i.rps_per_pod:g} RPS; ALB{' on' if i.load_balancer.enabled else ' off'}. "
        f"{resolved.pricing.region} list prices read {dates[-1]}."
    )


def markdown_rows(rows: list[Row]) -> str:
    head = (
        "| requests/day | Lambda $/month | ECS Fargate $/month | EKS $/month "
        "| Lambda $/1K | Fargate $/1K | EKS $/1K | cheapest |"
    )
    lines = [head, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        c = row.costs
        lines.append(
            f"| {row.daily_requests:,} | {money(c['lambda'].total)} | {money(c['fargate'].total)} "
            f"| {money(c['eks'].total)} "
            f"| {per_1k(c['lambda'].per_1k_requests)} | {per_1k(c['fargate'].per_1k_requests)} "
            f"| {per_1k(c['eks'].per_1k_requests)} | {PLATFORM_LABELS[row.cheapest]} |"
        )
    return "\n".join(lines)


def markdown_crossovers(result: CrossoverResult) -> str:
    """Where the cheapest platform starts, then one table row per change."""
    lines = [
        f"At {result.low:,} requests/day the cheapest is {PLATFORM_LABELS[result.start]}.",
        "",
        "| from requests/day | cheapest becomes | was | "
        + " | ".join(f"{PLATFORM_LABELS[p]} $/month" for p in PLATFORMS)
        + " |",
        "| ---: | --- | --- | " + " | ".join("---:" for _ in PLATFORMS) + " |",
    ]
    for c in result.crossovers:
        costs = " | ".join(money(c.at[p]) for p in PLATFORMS)
        change = f"{PLATFORM_LABELS[c.to_platform]} | {PLATFORM_LABELS[c.from_platform]}"
        lines.append(f"| {c.daily_requests:,} | {change} | {costs} |")
    if not result.crossovers:
        lines.append(f"| – | no change up to {result.high:,} | | " + " | ".join("" for _ in PLATFORMS) + " |")
    return "\n".join(lines)


def markdown_scenarios(volumes: list[int], results: list[tuple[Scenario, list[Row], CrossoverResult]]) -> str:
    """Scenarios side by side at each volume, then each scenario's crossovers."""
    lines = [
        "| requests/day | scenario | Lambda $/month | ECS Fargate $/month | EKS $/month | cheapest |",
        "| ---: | --- | ---: | ---: | ---: | --- |",
    ]
    for i, n in enumerate(volumes):
        for s, rows, _ in results:
            c = rows[i].costs
            lines.append(
                f"| {n:,} | {s.name} | {money(c['lambda'].total)} | {money(c['fargate'].total)} | "
                f"{money(c['eks'].total)} | {PLATFORM_LABELS[rows[i].cheapest]} |"
            )
    lines.append("")
    for s, _, crossings in results:
        points = ", ".join(
            f"{c.daily_requests:,} ({PLATFORM_LABELS[c.from_platform]} → {PLATFORM_LABELS[c.to_platform]})"
            for c in crossings.crossovers
        )
        searched = f"{DEFAULT_RANGE[0]:,}–{DEFAULT_RANGE[1]:,}/day"
        lines.append(f"- **{s.name}** ({s.description}): {points or 'no crossover'} (searched {searched})")
    return "\n".join(lines)


def markdown_inputs(rows: list[InputRow]) -> str:
    """The inputs as a Markdown table: value and where it came from."""
    lines = ["| input | value | from |", "| --- | ---: | --- |"]
    for r in rows:
        value = "(derived)" if r.value is None else f"{r.value:g}" if isinstance(r.value, float) else r.value
        origin = r.origin.replace("|", "\\|")
        lines.append(f"| `{r.name}` | {value} | {origin} |")
    return "\n".join(lines)
