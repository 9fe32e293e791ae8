"""`python -m costmodel <command>`: a thin argparse layer over the pure model.

Commands: compare, crossover, breakdown, plot, recommend, page (in `costmodel.commands`), simulate
(`costmodel.simulate.cli`). Every model input is
a flag shared by all of them, built from the table in `costmodel.options`; flags left out take the
dataclass default, or the value `--from-results DIR` measured (`costmodel.inputs`). Bad arguments end
with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from costmodel import page
from costmodel.commands import COMMANDS, CliError
from costmodel.compare import DEFAULT_RANGE
from costmodel.inputs import resolve
from costmodel.model import PLATFORMS, ModelError
from costmodel.options import add_model_options, positive, volume, volume_list
from costmodel.page import MarkerError
from costmodel.plot import DEFAULT_PLOT_PATH
from costmodel.pricing import PricingError
from costmodel.simulate.cli import SIMULATE_ERRORS, add_simulate_parser, add_traffic_options, model_args
from costmodel.traffic import TrafficError

__all__ = ["build_parser", "main", "volume"]

DEFAULT_P99_SLO_MS = 200.0


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line: 'costmodel compare: error: ...'."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


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
    add_model_options(p)

    p = sub.add_parser("crossover", help="exact daily volumes where the cheapest platform changes")
    _range_options(p)
    p.add_argument("--scenarios", action="store_true", help="crossovers of every scenario")
    _output_options(p, markdown=True)
    add_model_options(p)

    p = sub.add_parser("breakdown", help="line items for one platform at one volume")
    p.add_argument("--platform", required=True, choices=PLATFORMS)
    p.add_argument("--daily-requests", required=True, type=volume, metavar="N")
    _output_options(p)
    add_model_options(p)

    p = sub.add_parser("plot", help="PNG of cost vs daily requests with the crossovers marked")
    p.add_argument(
        "--output", type=Path, default=DEFAULT_PLOT_PATH, metavar="PNG", help=f"(default: {DEFAULT_PLOT_PATH})"
    )
    _range_options(p)
    add_model_options(p)

    p = sub.add_parser("recommend", help="cheapest platform that meets a p99 SLO and the cold-start requirement")
    p.add_argument("--daily-requests", type=volume, metavar="N", help="required unless --trace")
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
    add_traffic_options(p)  # --shape spike|diurnal|onoff or --trace: judged by simulation
    add_model_options(p, shape_option=False)

    p = sub.add_parser(
        "page", help="regenerate docs/comparison.md's tables, the README's cheapest row and the plot from results"
    )
    p.add_argument(
        "--from-results",
        type=Path,
        default=page.DEFAULT_RESULTS,
        metavar="DIR",
        help=f"measured results (default: {page.DEFAULT_RESULTS}, the committed fixtures)",
    )
    p.add_argument(
        "--pricing", type=Path, metavar="FILE", help="pricing file (default: costmodel/pricing/us-east-1.yaml)"
    )
    p.add_argument("--page", type=Path, default=page.PAGE, metavar="MD", help=f"(default: {page.PAGE})")
    p.add_argument("--readme", type=Path, default=page.README, metavar="MD", help=f"(default: {page.README})")
    p.add_argument(
        "--plot", type=Path, default=DEFAULT_PLOT_PATH, metavar="PNG", help=f"(default: {DEFAULT_PLOT_PATH})"
    )
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is out of date")
    p.set_defaults(resolve_inputs=False)  # it resolves the measured and the default inputs itself

    add_simulate_parser(sub, DEFAULT_P99_SLO_MS)
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        resolved = resolve(model_args(args)) if getattr(args, "resolve_inputs", True) else None
        return COMMANDS[args.command](args, resolved)
    except (CliError, MarkerError, ModelError, PricingError, TrafficError, *SIMULATE_ERRORS) as error:
        print(f"costmodel {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `| head`
        return 0
