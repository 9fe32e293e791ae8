"""`python -m costmodel <command>`: a thin argparse + rich layer over the pure model.

Commands: compare, crossover, breakdown, plot, recommend. Every model input is a flag shared by all
of them; flags left out take the documented default, or the value `--from-results DIR` measured. Bad
arguments end with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costmodel.compare import (
    DEFAULT_RANGE,
    DEFAULT_VOLUMES,
    CrossoverResult,
    Row,
    Scenario,
    compare,
    find_crossovers,
    row_json,
    scenarios,
)
from costmodel.model import (
    AUTO_INSTANCE,
    PLATFORM_LABELS,
    PLATFORMS,
    EksConfig,
    FargateConfig,
    LambdaConfig,
    LoadBalancerConfig,
    ModelError,
    ModelInputs,
    NetworkConfig,
    PlatformCost,
    platform_cost,
    validate,
)
from costmodel.pricing import PricingError, load_pricing
from costmodel.recommend import latency_facts, recommend
from costmodel.results import load_results
from costmodel.service import ServiceProfile
from costmodel.traffic import (
    DEFAULT_MONTH_HOURS,
    DEFAULT_PEAK_TO_AVERAGE,
    NAMED_SHAPES,
    Traffic,
    TrafficError,
    load_hourly_profile,
    named_shape,
)

DEFAULT_PLOT_PATH = Path("docs/img/cost-vs-volume.png")
DEFAULT_P99_SLO_MS = 200.0
DEFAULT = "default"


class CliError(Exception):
    """A bad input found after parsing; printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line: 'costmodel compare: error: ...'."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# ----------------------------------------------------------------------------------------------- argument types

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def volume(text: str) -> int:
    """A daily request count: 25000, 25_000, 25K, 1.5M."""
    match = re.fullmatch(r"\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*([kKmMgG]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a request count: {text!r} (use e.g. 25000, 25K or 1.5M)")
    value = float(match.group(1).replace("_", "")) * _SUFFIX[match.group(2).lower()]
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"not a whole number of requests: {text!r}")
    return int(value)


def volume_list(text: str) -> list[int]:
    values = [volume(part) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError("empty volume list")
    return values


def _number(kind: type, minimum: float | None = None, strict: bool = False, maximum: float | None = None):
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}") from None
        if value != value:  # NaN
            raise argparse.ArgumentTypeError(f"not a number: {text!r}")
        if minimum is not None and (value <= minimum if strict else value < minimum):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '≥'} {minimum:g}, got {text}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be ≤ {maximum:g}, got {text}")
        return value

    convert.__name__ = kind.__name__
    return convert


positive = _number(float, 0, strict=True)
non_negative = _number(float, 0)
positive_int = _number(int, 1)
non_negative_int = _number(int, 0)
fraction = _number(float, 0, maximum=1)


# ----------------------------------------------------------------------------------------------- parser


def _model_options(parser: argparse.ArgumentParser) -> None:
    """The model inputs every command shares. None means 'not given': the default or a measured value applies."""
    g = parser.add_argument_group("traffic")
    g.add_argument("--shape", choices=sorted(NAMED_SHAPES), help="daily shape (default: flat)")
    g.add_argument("--hourly-profile", type=Path, metavar="FILE", help="24 relative hourly weights; overrides --shape")
    g.add_argument(
        "--peak-to-average",
        type=_number(float, 1),
        metavar="R",
        help=f"peak RPS within an hour ÷ that hour's mean (default: {DEFAULT_PEAK_TO_AVERAGE:g})",
    )
    g.add_argument(
        "--month-hours", type=positive, metavar="H", help=f"hours in a month (default: {DEFAULT_MONTH_HOURS:g})"
    )

    g = parser.add_argument_group("all platforms")
    g.add_argument("--arch", choices=("x86_64", "arm64"), help="CPU architecture (default: arm64, the project's)")
    g.add_argument(
        "--target-utilization",
        type=_number(float, 0, strict=True, maximum=1),
        metavar="U",
        help="share of a task's/pod's knee RPS to plan for (default: 0.7)",
    )
    g.add_argument("--savings-plan", action="store_true", default=None, help="apply Compute Savings Plan discounts")
    g.add_argument(
        "--free-tier", action="store_true", default=None, help="subtract the always-free tier (off by default)"
    )
    g.add_argument(
        "--from-results", type=Path, metavar="DIR", help="read measured service inputs from load-test/bench results"
    )
    g.add_argument(
        "--pricing", type=Path, metavar="FILE", help="pricing file (default: costmodel/pricing/us-east-1.yaml)"
    )

    g = parser.add_argument_group("Lambda")
    g.add_argument("--duration-ms", type=positive, metavar="MS", help="billed duration per warm request")
    g.add_argument("--memory-mb", type=positive_int, metavar="MB", help="function memory")
    g.add_argument(
        "--api-gateway",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="HTTP API in front of the function (default: yes; --no-api-gateway = function URL)",
    )
    g.add_argument("--provisioned-concurrency", type=non_negative_int, metavar="N", help="(default: 0)")
    g.add_argument("--cold-starts-per-day", type=non_negative, metavar="N", help="new execution environments per day")
    g.add_argument("--init-ms", type=non_negative, metavar="MS", help="billed INIT duration per cold start")

    g = parser.add_argument_group("containers (Fargate and EKS)")
    g.add_argument("--rps-per-core", type=positive, metavar="RPS", help="knee RPS per CPU core at the p99 budget")
    g.add_argument(
        "--load-balancer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ALB in front of tasks and pods (default: yes)",
    )
    g.add_argument(
        "--bytes-per-request",
        type=non_negative,
        metavar="B",
        help="request + response bytes through the ALB (default: 2048)",
    )
    g.add_argument(
        "--alb-azs", type=positive_int, metavar="N", help="Availability Zones, one public IPv4 each (default: 2)"
    )

    g = parser.add_argument_group("ECS Fargate")
    g.add_argument("--task-vcpu", type=positive, metavar="V", help="(default: 1)")
    g.add_argument("--task-memory-gb", type=positive, metavar="GB", help="(default: 2)")
    g.add_argument("--min-tasks", type=positive_int, metavar="N", help="minimum tasks for availability (default: 2)")
    g.add_argument("--rps-per-task", type=positive, metavar="RPS", help="(default: RPS per core × task vCPU)")
    g.add_argument("--spot-share", type=fraction, metavar="S", help="share of task-hours on Fargate Spot (default: 0)")

    g = parser.add_argument_group("EKS")
    g.add_argument(
        "--instance-type",
        metavar="TYPE",
        help="node type from the pricing file, or 'auto' (default: auto, the cheapest)",
    )
    g.add_argument("--min-nodes", type=positive_int, metavar="N", help="(default: 2)")
    g.add_argument("--min-pods", type=positive_int, metavar="N", help="(default: 2)")
    g.add_argument("--pod-vcpu", type=positive, metavar="V", help="pod CPU request (default: 1)")
    g.add_argument("--pod-memory-gb", type=positive, metavar="GIB", help="pod memory request (default: 2)")
    g.add_argument("--rps-per-pod", type=positive, metavar="RPS", help="(default: RPS per core × pod vCPU)")
    g.add_argument("--spot", action="store_true", default=None, help="nodes on EC2 Spot")
    g.add_argument(
        "--node-volume-gb", type=non_negative, metavar="GB", help="root volume per node (default: 80, eksctl's)"
    )

    g = parser.add_argument_group("shared network (the same line on every platform; off by default)")
    g.add_argument("--nat-gateways", type=non_negative_int, metavar="N")
    g.add_argument("--nat-gb-per-month", type=non_negative, metavar="GB")
    g.add_argument(
        "--egress-bytes-per-request", type=non_negative, metavar="B", help="response bytes out to the internet"
    )


def build_parser() -> Parser:
    parser = Parser(
        prog="costmodel",
        description="Monthly cost of the sentiment service on Lambda, ECS Fargate and EKS, and which to choose.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("compare", help="cost per platform over daily volumes")
    p.add_argument(
        "--volumes", type=volume_list, metavar="LIST", help="comma-separated daily volumes (25K, 1M allowed)"
    )
    p.add_argument("--daily-requests", type=volume, metavar="N", help="a single daily volume")
    p.add_argument(
        "--scenarios",
        action="store_true",
        help="baseline, other arch, Savings Plan, Fargate Spot, EC2 Spot side by side",
    )
    _output_options(p, markdown=True)
    _model_options(p)

    p = sub.add_parser("crossover", help="exact daily volumes where the cheapest platform changes")
    _range_options(p)
    p.add_argument("--scenarios", action="store_true", help="crossovers of every scenario")
    _output_options(p, markdown=True)
    _model_options(p)

    p = sub.add_parser("breakdown", help="line items for one platform at one volume")
    p.add_argument("--platform", required=True, choices=PLATFORMS)
    p.add_argument("--daily-requests", required=True, type=volume, metavar="N")
    _output_options(p)
    _model_options(p)

    p = sub.add_parser("plot", help="PNG of cost vs daily requests with the crossovers marked")
    p.add_argument(
        "--output", type=Path, default=DEFAULT_PLOT_PATH, metavar="PNG", help=f"(default: {DEFAULT_PLOT_PATH})"
    )
    _range_options(p)
    _model_options(p)

    p = sub.add_parser("recommend", help="cheapest platform that meets a p99 SLO and the cold-start requirement")
    p.add_argument("--daily-requests", required=True, type=volume, metavar="N")
    p.add_argument(
        "--p99-slo-ms",
        type=positive,
        default=DEFAULT_P99_SLO_MS,
        metavar="MS",
        help=f"p99 latency objective (default: {DEFAULT_P99_SLO_MS:g})",
    )
    p.add_argument(
        "--cold-starts-acceptable",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="whether occasional cold starts are acceptable (default: yes)",
    )
    _output_options(p)
    _model_options(p)
    return parser


def _output_options(p: argparse.ArgumentParser, markdown: bool = False) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help="machine-readable output")
    if markdown:
        group.add_argument("--markdown", action="store_true", help="Markdown table (as in the README)")


def _range_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--min-volume", type=volume, default=DEFAULT_RANGE[0], metavar="N", help=f"(default: {DEFAULT_RANGE[0]:,})"
    )
    p.add_argument(
        "--max-volume", type=volume, default=DEFAULT_RANGE[1], metavar="N", help=f"(default: {DEFAULT_RANGE[1]:,})"
    )


# ----------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class InputRow:
    group: str
    name: str
    value: Any
    origin: str


@dataclass(frozen=True)
class Resolved:
    inputs: ModelInputs
    profile: ServiceProfile
    pricing: Any
    rows: tuple[InputRow, ...]

    def rows_json(self) -> dict:
        return {r.name: {"value": r.value, "origin": r.origin} for r in self.rows}


def resolve(args: argparse.Namespace) -> Resolved:
    """Model inputs from the flags, the measured results and the documented defaults, with each origin."""
    pricing = load_pricing(args.pricing)
    profile = load_results(args.from_results) if args.from_results else ServiceProfile()
    rows: list[InputRow] = []

    def pick(group: str, flag: str, default: Any, origin: str = DEFAULT) -> Any:
        given = getattr(args, flag.replace("-", "_"))
        value, where = (given, f"--{flag}") if given is not None else (default, origin)
        rows.append(InputRow(group, flag, value, where))
        return value

    if args.hourly_profile is not None:
        shape = load_hourly_profile(args.hourly_profile)
        rows.append(InputRow("traffic", "shape", shape.name, "--hourly-profile"))
    else:
        shape = named_shape(pick("traffic", "shape", "flat"))
    traffic = Traffic(
        shape,
        peak_to_average=pick("traffic", "peak-to-average", DEFAULT_PEAK_TO_AVERAGE),
        month_hours=pick("traffic", "month-hours", DEFAULT_MONTH_HOURS),
    )
    arch = pick("general", "arch", "arm64", "default (the project's Graviton convention)")
    utilization = pick("general", "target-utilization", 0.7)
    savings_plan = pick("general", "savings-plan", False)
    free_tier = pick("general", "free-tier", False)
    rps_per_core = pick("containers", "rps-per-core", profile.rps_per_core, profile.source("rps_per_core"))

    lam = LambdaConfig(
        memory_mb=pick("lambda", "memory-mb", profile.lambda_memory_mb, profile.source("lambda_memory_mb")),
        duration_ms=pick("lambda", "duration-ms", profile.lambda_duration_ms, profile.source("lambda_duration_ms")),
        api_gateway=pick("lambda", "api-gateway", True),
        provisioned_concurrency=pick("lambda", "provisioned-concurrency", 0),
        cold_starts_per_day=pick(
            "lambda", "cold-starts-per-day", profile.cold_starts_per_day, profile.source("cold_starts_per_day")
        ),
        init_ms=pick(
            "lambda",
            "init-ms",
            profile.lambda_cold_start_ms,
            f"cold-start latency, {profile.source('lambda_cold_start_ms')}",
        ),
    )
    lb = LoadBalancerConfig(
        enabled=pick("containers", "load-balancer", True),
        bytes_per_request=pick("containers", "bytes-per-request", 2048.0),
        azs=pick("containers", "alb-azs", 2),
    )
    far = FargateConfig(
        task_vcpu=pick("fargate", "task-vcpu", 1.0),
        task_memory_gb=pick("fargate", "task-memory-gb", 2.0),
        min_tasks=pick("fargate", "min-tasks", 2),
        rps_per_task=pick("fargate", "rps-per-task", None, "RPS per core × task vCPU"),
        spot_share=pick("fargate", "spot-share", 0.0),
    )
    eks = EksConfig(
        instance_type=pick("eks", "instance-type", AUTO_INSTANCE, "default (cheapest type of the architecture)"),
        min_nodes=pick("eks", "min-nodes", 2),
        min_pods=pick("eks", "min-pods", 2),
        pod_vcpu=pick("eks", "pod-vcpu", 1.0),
        pod_memory_gb=pick("eks", "pod-memory-gb", 2.0),
        rps_per_pod=pick("eks", "rps-per-pod", None, "RPS per core × pod vCPU"),
        spot=pick("eks", "spot", False),
        node_volume_gb=pick("eks", "node-volume-gb", 80.0),
    )
    net = NetworkConfig(
        nat_gateways=pick("network", "nat-gateways", 0),
        nat_gb_per_month=pick("network", "nat-gb-per-month", 0.0),
        egress_bytes_per_request=pick("network", "egress-bytes-per-request", 0.0),
    )
    inputs = ModelInputs(
        traffic=traffic,
        arch=arch,
        target_utilization=utilization,
        rps_per_core=rps_per_core,
        savings_plan=savings_plan,
        free_tier=free_tier,
        lambda_=lam,
        fargate=far,
        eks=eks,
        load_balancer=lb,
        network=net,
    )
    validate(inputs, pricing)
    return Resolved(inputs, profile, pricing, tuple(rows))


# ----------------------------------------------------------------------------------------------- output helpers


def _console():
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    return console


def _t(text: Any):
    from rich.text import Text

    return Text(str(text))


def money(amount: float) -> str:
    return f"${amount:,.2f}"


def per_1k(amount: float | None) -> str:
    return "–" if amount is None else f"${amount:,.4f}"


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _service_rows(resolved: Resolved) -> list[InputRow]:
    """Inputs worth showing under a comparison: the service inputs and every flag that was set."""
    service = {"rps-per-core", "duration-ms", "memory-mb", "cold-starts-per-day", "init-ms"}
    return [r for r in resolved.rows if r.name in service or r.origin.startswith("--")]


def _print_inputs(console, rows: list[InputRow], title: str = "Inputs") -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("input")
    table.add_column("value", justify="right")
    table.add_column("origin")
    for r in rows:
        table.add_row(_t(r.name), _t("(derived)" if r.value is None else r.value), _t(r.origin))
    console.print(table)


def _print_notes(console, resolved: Resolved) -> None:
    for note in resolved.profile.notes:
        console.print(_t(f"note: {note}"), style="yellow")


def _crossover_lines(result: CrossoverResult) -> list[str]:
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


def _markdown_rows(rows: list[Row]) -> str:
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


# ----------------------------------------------------------------------------------------------- commands


def cmd_compare(args: argparse.Namespace, resolved: Resolved) -> int:
    if args.daily_requests is not None and args.volumes is not None:
        raise CliError("give --volumes or --daily-requests, not both")
    volumes = [args.daily_requests] if args.daily_requests is not None else (args.volumes or list(DEFAULT_VOLUMES))
    if args.scenarios:
        return _compare_scenarios(args, resolved, volumes)
    rows = compare(volumes, resolved.inputs, resolved.pricing)
    crossings = find_crossovers(*DEFAULT_RANGE, resolved.inputs, resolved.pricing)
    if args.json:
        _print_json(
            {
                "rows": [row_json(r) for r in rows],
                "crossovers": crossings.to_json(),
                "inputs": resolved.rows_json(),
                "notes": list(resolved.profile.notes),
            }
        )
        return 0
    if args.markdown:
        print(_markdown_rows(rows))
        return 0
    from rich.table import Table

    console = _console()
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
    for line in _crossover_lines(crossings):
        console.print(_t(line))
    _print_inputs(console, _service_rows(resolved), "Service inputs and flags set")
    _print_notes(console, resolved)
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
        _print_json(
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
        print("\n".join(lines))
        print()
        for s, _, crossings in results:
            points = ", ".join(
                f"{c.daily_requests:,} ({PLATFORM_LABELS[c.from_platform]} → {PLATFORM_LABELS[c.to_platform]})"
                for c in crossings.crossovers
            )
            searched = f"{DEFAULT_RANGE[0]:,}–{DEFAULT_RANGE[1]:,}/day"
            print(f"- **{s.name}** ({s.description}): {points or 'no crossover'} (searched {searched})")
        return 0
    from rich.table import Table

    console = _console()
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
        console.print(_t(f"{s.name}: {s.description}"), style="bold")
        for line in _crossover_lines(crossings):
            console.print(_t(f"  {line}"))
    _print_inputs(console, _service_rows(resolved), "Service inputs and flags set (baseline)")
    _print_notes(console, resolved)
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
        _print_json({"scenarios": body} if variants else runs[0][2].to_json() | {"inputs": resolved.rows_json()})
        return 0
    if args.markdown:
        for name, description, result in runs:
            if variants:
                print(f"**{name}**: {description}\n")
            print(f"At {result.low:,} requests/day the cheapest is {PLATFORM_LABELS[result.start]}.\n")
            print(
                "| from requests/day | cheapest becomes | was | "
                + " | ".join(f"{PLATFORM_LABELS[p]} $/month" for p in PLATFORMS)
                + " |"
            )
            print("| ---: | --- | --- | " + " | ".join("---:" for _ in PLATFORMS) + " |")
            for c in result.crossovers:
                costs = " | ".join(money(c.at[p]) for p in PLATFORMS)
                change = f"{PLATFORM_LABELS[c.to_platform]} | {PLATFORM_LABELS[c.from_platform]}"
                print(f"| {c.daily_requests:,} | {change} | {costs} |")
            if not result.crossovers:
                print(f"| – | no change up to {result.high:,} | | " + " | ".join("" for _ in PLATFORMS) + " |")
            print()
        return 0
    console = _console()
    for name, description, result in runs:
        if variants:
            console.print(_t(f"{name}: {description}"), style="bold")
        for line in _crossover_lines(result):
            console.print(_t(line))
        console.print(
            _t(
                f"(solved exactly over {result.low:,}–{result.high:,} requests/day "
                f"with {result.evaluations} cost evaluations)"
            ),
            style="dim",
        )
    _print_notes(console, resolved)
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
        _print_json(_breakdown_json(cost, resolved))
        return 0
    from rich.table import Table

    console = _console()
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
        table.add_row(_t(item.name), _t(item.formula), _t(item.arithmetic), f"{item.amount:,.4f}")
    table.add_row("total", "", "", f"{cost.total:,.4f}", style="bold")
    console.print(table)
    console.print(_t(f"Per 1K requests: {per_1k(cost.per_1k_requests)}"))
    derived = Table(title="Derived", title_justify="left", show_edge=False)
    derived.add_column("quantity")
    derived.add_column("value")
    for key, value in cost.derived.items():
        shown = f"{value:,.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else value
        derived.add_row(_t(key), _t(shown))
    console.print(derived)
    for note in cost.notes:
        console.print(_t(f"note: {note}"), style="yellow")
    groups = {"traffic", "general", "network", args.platform} | ({"containers"} if args.platform != "lambda" else set())
    _print_inputs(console, [r for r in resolved.rows if r.group in groups])
    _print_notes(console, resolved)
    return 0


def _plot_subtitle(resolved: Resolved) -> str:
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
        _plot_subtitle(resolved),
    )
    console = _console()
    console.print(_t(f"wrote {path}"))
    for line in _crossover_lines(result):
        console.print(_t(line))
    _print_notes(console, resolved)
    return 0


def cmd_recommend(args: argparse.Namespace, resolved: Resolved) -> int:
    rec = recommend(
        args.daily_requests,
        resolved.inputs,
        resolved.profile,
        resolved.pricing,
        args.p99_slo_ms,
        args.cold_starts_acceptable,
    )
    if args.json:
        _print_json(rec.to_json() | {"latency_facts": latency_facts(resolved.profile), "inputs": resolved.rows_json()})
        return 0
    from rich.table import Table

    console = _console()
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
            _t(o.label),
            money(o.cost.total),
            f"{o.p99_ms:,.0f}",
            "yes" if o.meets else "no",
            _t("; ".join(o.reasons) + f" [p99 from: {o.p99_source}]"),
        )
    console.print(table)
    if rec.recommended is None:
        console.print(_t("No platform meets these requirements with the inputs given."), style="bold red")
    else:
        r = rec.recommended
        console.print(
            _t(
                f"Recommended: {r.label} at {money(r.cost.total)}/month "
                f"({per_1k(r.cost.per_1k_requests)} per 1K requests)."
            ),
            style="bold green",
        )
        console.print(_t("Why: " + "; ".join(r.reasons) + "."))
        if rec.runner_up is not None:
            u = rec.runner_up
            delta = u.cost.total - r.cost.total
            state = "also meets the requirements" if u.meets else "does not meet them: " + "; ".join(u.reasons)
            console.print(_t(f"Runner-up: {u.label} at {money(u.cost.total)}/month ({money(delta)} more); {state}."))
    _print_inputs(console, _service_rows(resolved), "Service inputs and flags set")
    _print_notes(console, resolved)
    return 0


COMMANDS = {
    "compare": cmd_compare,
    "crossover": cmd_crossover,
    "breakdown": cmd_breakdown,
    "plot": cmd_plot,
    "recommend": cmd_recommend,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        resolved = resolve(args)
        return COMMANDS[args.command](args, resolved)
    except (CliError, ModelError, PricingError, TrafficError) as error:
        print(f"costmodel {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `| head`
        return 0
