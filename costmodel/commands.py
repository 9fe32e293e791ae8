"""The commands: compare, crossover, breakdown, plot, recommend. Each takes the parsed flags and resolved inputs."""

from __future__ import annotations

import argparse

from costmodel.compare import DEFAULT_RANGE, DEFAULT_VOLUMES, Scenario, compare, find_crossovers, row_json, scenarios
from costmodel.inputs import Resolved
from costmodel.model import PLATFORM_LABELS, PLATFORMS, PlatformCost, platform_cost
from costmodel.recommend import latency_facts, recommend
from costmodel.render import (
    crossover_lines,
    inputs_sentence,
    markdown_crossovers,
    markdown_rows,
    markdown_scenarios,
    money,
    new_console,
    per_1k,
    print_inputs,
    print_json,
    print_notes,
    service_rows,
    text,
)
from costmodel.simulate.cli import cmd_simulate, wants_simulation
from costmodel.simulate.cli import run as simulate_run


class CliError(Exception):
    """A bad input found after parsing; printed as one line, exit status 2."""


def cmd_compare(args: argparse.Namespace, resolved: Resolved) -> int:
    if args.daily_requests is not None and args.volumes is not None:
        raise CliError("give --volumes or --daily-requests, not both")
    volumes = [args.daily_requests] if args.daily_requests is not None else (args.volumes or list(DEFAULT_VOLUMES))
    if args.scenarios:
        return _compare_scenarios(args, resolved, volumes)
    rows = compare(volumes, resolved.inputs, resolved.pricing)
    crossings = find_crossovers(*DEFAULT_RANGE, resolved.inputs, resolved.pricing)
    if args.json:
        print_json(
            {
                "rows": [row_json(r) for r in rows],
                "crossovers": crossings.to_json(),
                "inputs": resolved.rows_json(),
                "notes": list(resolved.profile.notes),
            }
        )
        return 0
    if args.markdown:
        print(markdown_rows(rows))
        return 0
    from rich.table import Table

    console = new_console()
    table = Table(title="Monthly cost by daily volume (USD, us-east-1 list prices)", title_justify="left")
    table.add_column("requests/day", justify="right")
    for p in PLATFORMS:
        table.add_column(f"{PLATFORM_LABELS[p]} $/month", justify="right")
    for p in PLATFORMS:
        table.add_column(f"{PLATFORM_LABELS[p]} $/1K", justify="right")
    table.add_column("cheapest")
    for row in rows:
        c = row.costs
        table.add_row(
            f"{row.daily_requests:,}",
            *(money(c[p].total) for p in PLATFORMS),
            *(per_1k(c[p].per_1k_requests) for p in PLATFORMS),
            PLATFORM_LABELS[row.cheapest],
        )
    console.print(table)
    for line in crossover_lines(crossings):
        console.print(text(line))
    print_inputs(console, service_rows(resolved), "Service inputs and flags set")
    print_notes(console, resolved)
    return 0


def _compare_scenarios(args: argparse.Namespace, resolved: Resolved, volumes: list[int]) -> int:
    variants = scenarios(resolved.inputs, resolved.pricing)
    results = []
    for s in variants:
        results.append(
            (
                s,
                compare(volumes, s.inputs, resolved.pricing),
                find_crossovers(*DEFAULT_RANGE, s.inputs, resolved.pricing),
            )
        )
    if args.json:
        print_json(
            {
                "scenarios": [
                    {
                        "name": s.name,
                        "description": s.description,
                        "rows": [row_json(r) for r in rows],
                        "crossovers": crossings.to_json(),
                    }
                    for s, rows, crossings in results
                ],
                "inputs": resolved.rows_json(),
                "notes": list(resolved.profile.notes),
            }
        )
        return 0
    if args.markdown:
        print(markdown_scenarios(volumes, results))
        return 0
    from rich.table import Table

    console = new_console()
    table = Table(title="Scenarios side by side (USD per month)", title_justify="left")
    for name, justify in (("requests/day", "right"), ("scenario", "left")):
        table.add_column(name, justify=justify)
    for p in PLATFORMS:
        table.add_column(PLATFORM_LABELS[p], justify="right")
    table.add_column("cheapest")
    for i, n in enumerate(volumes):
        for j, (s, rows, _) in enumerate(results):
            c = rows[i].costs
            table.add_row(
                f"{n:,}" if j == 0 else "",
                s.name,
                *(money(c[p].total) for p in PLATFORMS),
                PLATFORM_LABELS[rows[i].cheapest],
                end_section=j == len(results) - 1,
            )
    console.print(table)
    for s, _, crossings in results:
        console.print(text(f"{s.name}: {s.description}"), style="bold")
        for line in crossover_lines(crossings):
            console.print(text(f"  {line}"))
    print_inputs(console, service_rows(resolved), "Service inputs and flags set (baseline)")
    print_notes(console, resolved)
    return 0


def cmd_crossover(args: argparse.Namespace, resolved: Resolved) -> int:
    if args.max_volume <= args.min_volume:
        raise CliError("--max-volume must be above --min-volume")
    variants = scenarios(resolved.inputs, resolved.pricing) if args.scenarios else None
    runs = [
        (s.name, s.description, find_crossovers(args.min_volume, args.max_volume, s.inputs, resolved.pricing))
        for s in variants or [Scenario("baseline", "inputs as given", resolved.inputs)]
    ]
    if args.json:
        body = {name: {"description": d, **result.to_json()} for name, d, result in runs}
        print_json({"scenarios": body} if variants else runs[0][2].to_json() | {"inputs": resolved.rows_json()})
        return 0
    if args.markdown:
        for name, description, result in runs:
            if variants:
                print(f"**{name}**: {description}\n")
            print(markdown_crossovers(result))
            print()
        return 0
    console = new_console()
    for name, description, result in runs:
        if variants:
            console.print(text(f"{name}: {description}"), style="bold")
        for line in crossover_lines(result):
            console.print(text(line))
        console.print(
            text(
                f"(solved exactly over {result.low:,}–{result.high:,} requests/day "
                f"with {result.evaluations} cost evaluations)"
            ),
            style="dim",
        )
    print_notes(console, resolved)
    return 0


def _breakdown_json(cost: PlatformCost, resolved: Resolved) -> dict:
    return {
        "platform": cost.platform,
        "daily_requests": cost.daily_requests,
        "monthly_requests": cost.monthly_requests,
        "items": [
            {"name": i.name, "formula": i.formula, "arithmetic": i.arithmetic, "amount_usd": i.amount}
            for i in cost.items
        ],
        "total_usd": cost.total,
        "per_1k_requests_usd": cost.per_1k_requests,
        "derived": cost.derived,
        "notes": list(cost.notes),
        "inputs": resolved.rows_json(),
        "service_notes": list(resolved.profile.notes),
    }


def cmd_breakdown(args: argparse.Namespace, resolved: Resolved) -> int:
    cost = platform_cost(args.platform, args.daily_requests, resolved.inputs, resolved.pricing)
    if args.json:
        print_json(_breakdown_json(cost, resolved))
        return 0
    from rich.table import Table

    console = new_console()
    table = Table(
        title=f"{PLATFORM_LABELS[cost.platform]} at {cost.daily_requests:,} requests/day "
        f"({cost.monthly_requests:,.2f} a month, month = {resolved.inputs.traffic.month_hours:g} h)",
        title_justify="left",
        show_lines=True,
    )
    table.add_column("item")
    table.add_column("formula")
    table.add_column("arithmetic")
    table.add_column("USD/month", justify="right")
    for item in cost.items:
        table.add_row(text(item.name), text(item.formula), text(item.arithmetic), f"{item.amount:,.4f}")
    table.add_row("total", "", "", f"{cost.total:,.4f}", style="bold")
    console.print(table)
    console.print(text(f"Per 1K requests: {per_1k(cost.per_1k_requests)}"))
    derived = Table(title="Derived", title_justify="left", show_edge=False)
    derived.add_column("quantity")
    derived.add_column("value")
    for key, value in cost.derived.items():
        shown = f"{value:,.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else value
        derived.add_row(text(key), text(shown))
    console.print(derived)
    for note in cost.notes:
        console.print(text(f"note: {note}"), style="yellow")
    groups = {"traffic", "general", "network", "shared", args.platform} | (
        {"containers"} if args.platform != "lambda" else set()
    )
    print_inputs(console, [r for r in resolved.rows if r.group in groups])
    print_notes(console, resolved)
    return 0


def cmd_plot(args: argparse.Namespace, resolved: Resolved) -> int:
    from costmodel.plot import plot

    if args.max_volume <= args.min_volume:
        raise CliError("--max-volume must be above --min-volume")
    if args.output.suffix.lower() != ".png":
        raise CliError(f"--output must be a .png file, got {args.output}")
    result = find_crossovers(args.min_volume, args.max_volume, resolved.inputs, resolved.pricing)
    path = plot(
        args.output,
        resolved.inputs,
        resolved.pricing,
        result,
        "Monthly cost vs daily requests: Lambda, ECS Fargate, EKS",
        inputs_sentence(resolved),
    )
    console = new_console()
    console.print(text(f"wrote {path}"))
    for line in crossover_lines(result):
        console.print(text(line))
    print_notes(console, resolved)
    return 0


def cmd_recommend(args: argparse.Namespace, resolved: Resolved) -> int:
    if wants_simulation(args):
        return _recommend_simulated(args, resolved)
    if args.daily_requests is None:
        raise CliError("give --daily-requests N (or --trace FILE)")
    rec = recommend(
        args.daily_requests,
        resolved.inputs,
        resolved.profile,
        resolved.pricing,
        args.p99_slo_ms,
        args.cold_starts_acceptable,
    )
    if args.json:
        print_json(rec.to_json() | {"latency_facts": latency_facts(resolved.profile), "inputs": resolved.rows_json()})
        return 0
    from rich.table import Table

    console = new_console()
    table = Table(
        title=f"{args.daily_requests:,} requests/day, p99 SLO {args.p99_slo_ms:g} ms, cold starts "
        f"{'acceptable' if args.cold_starts_acceptable else 'not acceptable'}",
        title_justify="left",
        show_lines=True,
    )
    for name, justify in (
        ("option", "left"),
        ("$/month", "right"),
        ("p99 ms", "right"),
        ("meets", "left"),
        ("why", "left"),
    ):
        table.add_column(name, justify=justify)
    for o in rec.options:
        table.add_row(
            text(o.label),
            money(o.cost.total),
            f"{o.p99_ms:,.0f}",
            "yes" if o.meets else "no",
            text("; ".join(o.reasons) + f" [p99 from: {o.p99_source}]"),
        )
    console.print(table)
    if rec.recommended is None:
        console.print(text("No platform meets these requirements with the inputs given."), style="bold red")
    else:
        r = rec.recommended
        console.print(
            text(
                f"Recommended: {r.label} at {money(r.cost.total)}/month "
                f"({per_1k(r.cost.per_1k_requests)} per 1K requests)."
            ),
            style="bold green",
        )
        console.print(text("Why: " + "; ".join(r.reasons) + "."))
        if rec.runner_up is not None:
            u = rec.runner_up
            delta = u.cost.total - r.cost.total
            state = "also meets the requirements" if u.meets else "does not meet them: " + "; ".join(u.reasons)
            console.print(text(f"Runner-up: {u.label} at {money(u.cost.total)}/month ({money(delta)} more); {state}."))
    print_inputs(console, service_rows(resolved), "Service inputs and flags set")
    print_notes(console, resolved)
    return 0


def _recommend_simulated(args: argparse.Namespace, resolved: Resolved) -> int:
    from costmodel.simulate.judge import judge, print_recommendation

    outcome = simulate_run(args, resolved)
    rec = judge(outcome, args.p99_slo_ms, args.cold_starts_acceptable)
    if args.json:
        print_json(
            {
                "traffic": outcome.simulation.arrivals.description,
                "p99_slo_ms": args.p99_slo_ms,
                "cold_starts_acceptable": args.cold_starts_acceptable,
                "recommended": rec.recommended.to_json() if rec.recommended else None,
                "runner_up": rec.runner_up.to_json() if rec.runner_up else None,
                "options": [v.to_json() for v in rec.verdicts],
                "service_times": outcome.simulation.config.service.sources,
                "inputs": outcome.resolved.rows_json(),
            }
        )
        return 0
    print_recommendation(outcome, rec, args.p99_slo_ms, args.cold_starts_acceptable)
    return 0


def cmd_page(args: argparse.Namespace, _: Resolved | None) -> int:
    """Regenerate docs/comparison.md's blocks, the README's row and the plot from one results folder."""
    from costmodel import page
    from costmodel.plot import plot

    if not args.from_results.is_dir():
        raise CliError(f"--from-results {args.from_results}: no such results folder")
    measured, defaults = page.resolve_pair(args.from_results, args.pricing)
    generated = page.generate(measured, defaults, args.from_results, args.page, args.readme, args.pricing)
    stale = [path for path, body in generated.files.items() if path.read_text(encoding="utf-8") != body]
    if args.check:
        for path in stale:
            print(f"{path}: out of date; run python -m costmodel page --from-results {args.from_results}")
        return 1 if stale else 0
    for path in stale:
        path.write_text(generated.files[path], encoding="utf-8")
    result = find_crossovers(*DEFAULT_RANGE, measured.inputs, measured.pricing)
    title = f"Monthly cost vs daily requests: Lambda, ECS Fargate, EKS\n(inputs measured in {args.from_results})"
    plot(args.plot, measured.inputs, measured.pricing, result, title, inputs_sentence(measured))
    for path in generated.files:
        print(f"{'wrote' if path in stale else 'up to date'} {path}")
    print(f"wrote {args.plot}")
    return 0


COMMANDS = {
    "simulate": cmd_simulate,
    "compare": cmd_compare,
    "crossover": cmd_crossover,
    "breakdown": cmd_breakdown,
    "plot": cmd_plot,
    "recommend": cmd_recommend,
    "page": cmd_page,
}
