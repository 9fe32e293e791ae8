"""Output helpers shared by the commands: rich console, money formats, input tables, crossover lines."""

from __future__ import annotations

import json
from typing import Any

from costmodel.compare import CrossoverResult, Row
from costmodel.inputs import InputRow, Resolved
from costmodel.model import PLATFORM_LABELS


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
