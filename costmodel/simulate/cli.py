"""`python -m costmodel simulate` (and `recommend --shape spike | --trace FILE`): flags, then the pure core.

The cost model's flags (service inputs, architecture, prices, `--from-results`) are shared; this module
adds the traffic (a generated shape or a trace), the seed, the mode and the outputs.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from costmodel.inputs import Resolved
from costmodel.options import add_model_options, positive, volume
from costmodel.simulate import MODES
from costmodel.simulate import arrivals as traffic
from costmodel.simulate.constants import Constants, ConstantsError, load_constants
from costmodel.simulate.deployment import DeploymentError
from costmodel.traffic import NAMED_SHAPES, DailyShape

if TYPE_CHECKING:
    from costmodel.simulate.engine import Simulation

DEFAULT_OUTPUT = Path("results/simulate.png")
SIMULATED_ONLY = tuple(s for s in traffic.SHAPES if s not in NAMED_SHAPES)


def _arg(parse):
    def convert(text: str):
        try:
            return parse(text)
        except traffic.ArrivalsError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = parse.__name__
    return convert


def add_traffic_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulated traffic")
    g.add_argument(
        "--shape",
        dest="traffic_shape",
        choices=traffic.SHAPES,
        help="daily shape; spike, diurnal and onoff are simulated (default: flat)",
    )
    g.add_argument("--trace", type=Path, metavar="CSV", help="per-second 'count' or request 'timestamp' column")
    g.add_argument(
        "--spike", type=_arg(traffic.parse_spike), metavar="FxD", help=f"e.g. {traffic.DEFAULT_SPIKE} (shape spike)"
    )
    g.add_argument(
        "--spike-at", type=_arg(traffic.time_of_day), metavar="HH:MM", help=f"(default: {traffic.DEFAULT_SPIKE_AT})"
    )
    g.add_argument(
        "--on-off", type=_arg(traffic.parse_on_off), metavar="ON:OFF", help=f"(default: {traffic.DEFAULT_ON_OFF})"
    )
    g.add_argument("--duration", type=_arg(traffic.duration), default=traffic.DAY_S, metavar="D", help="(default: 1d)")
    g.add_argument("--start", type=_arg(traffic.time_of_day), default=0.0, metavar="HH:MM", help="(default: 00:00)")
    g.add_argument("--seed", type=int, default=0, help="Poisson arrivals and service times (default: 0)")
    g.add_argument("--mode", choices=MODES, default="auto", help="event, fluid, or auto by request count")
    g.add_argument("--constants", type=Path, metavar="FILE", help="(default: costmodel/simulate/constants.yaml)")


def add_simulate_parser(sub, default_slo_ms: float) -> None:
    p = sub.add_parser("simulate", help="second-by-second scaling of Lambda, Fargate and EKS under a traffic shape")
    p.add_argument("--daily-requests", type=volume, metavar="N", help="requests on an unspiked day")
    p.add_argument(
        "--p99-slo-ms", type=positive, default=default_slo_ms, metavar="MS", help=f"(default: {default_slo_ms:g})"
    )
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, metavar="PNG", help=f"(default: {DEFAULT_OUTPUT})")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_traffic_options(p)
    add_model_options(p, shape_option=False)


def model_args(args: argparse.Namespace) -> argparse.Namespace:
    """The flags as the cost model reads them: a simulated shape it does not know becomes its default."""
    if not hasattr(args, "traffic_shape"):
        return args
    shape = args.traffic_shape if args.traffic_shape in NAMED_SHAPES else None
    return argparse.Namespace(**{**vars(args), "shape": shape})


def wants_simulation(args: argparse.Namespace) -> bool:
    return bool(
        getattr(args, "trace", None)
        or getattr(args, "traffic_shape", None) in SIMULATED_ONLY
        or getattr(args, "spike", None)
        or getattr(args, "on_off", None)
    )


class SimulateError(ValueError):
    """A bad combination of simulate flags."""


SIMULATE_ERRORS = (SimulateError, traffic.ArrivalsError, ConstantsError, DeploymentError)


@dataclass(frozen=True)
class Outcome:
    simulation: Simulation  # costmodel.simulate.engine.Simulation
    resolved: Resolved
    runtime_s: float
    slo_ms: float
    monthly_factor: float
    constants: Constants

    def monthly(self, platform: str) -> float:
        return self.simulation.runs[platform].total_cost * self.monthly_factor


def make_arrivals(args: argparse.Namespace) -> traffic.Arrivals:
    if getattr(args, "hourly_profile", None) is not None:
        raise SimulateError("--hourly-profile is the cost model's; simulate a day with --trace or --shape")
    if args.trace is not None:
        if args.daily_requests is not None or args.traffic_shape:
            raise SimulateError("give --trace or --shape/--daily-requests, not both")
        return traffic.load_trace(args.trace)
    if args.daily_requests is None:
        raise SimulateError("give --daily-requests N (or --trace FILE)")
    seconds = int(args.duration)
    if seconds < 60:
        raise SimulateError("--duration must be at least 1 minute")
    return traffic.generate(
        args.traffic_shape or "flat",
        args.daily_requests,
        seconds,
        args.seed,
        start_s=args.start,
        spike=args.spike,
        spike_at_s=args.spike_at,
        on_off=args.on_off,
    )


def run(args: argparse.Namespace, resolved: Resolved) -> Outcome:
    """Traffic, configuration and the three platforms, from the flags."""
    from costmodel.simulate.config import build_config
    from costmodel.simulate.deployment import load_deployment
    from costmodel.simulate.engine import simulate
    from costmodel.simulate.service_times import service_times

    started = time.perf_counter()
    arrivals = make_arrivals(args)
    if wants_simulation(args):  # the cost model's hourly shape, from the simulated traffic
        shape = DailyShape.from_relative(f"simulated:{args.traffic_shape or 'trace'}", traffic.hourly_weights(arrivals))
        inputs = replace(resolved.inputs, traffic=replace(resolved.inputs.traffic, shape=shape))
        resolved = replace(resolved, inputs=inputs)
    constants = load_constants(args.constants)
    rows = {r.name: r for r in resolved.rows}
    lam = resolved.inputs.lambda_
    svc = service_times(
        lam.duration_ms,
        rows["duration-ms"].origin,
        lam.init_ms,
        rows["init-ms"].origin,
        resolved.inputs.rps_per_core,
        rows["rps-per-core"].origin,
        constants["containers.service_time_p99_over_p50"],
        args.from_results,
    )
    config = build_config(resolved, load_deployment(), constants, svc)
    sim = simulate(arrivals, config, resolved.inputs, resolved.pricing, seed=args.seed, mode=args.mode)
    factor = resolved.inputs.traffic.month_hours * 3600 / arrivals.seconds
    return Outcome(sim, resolved, time.perf_counter() - started, args.p99_slo_ms, factor, constants)


def cmd_simulate(args: argparse.Namespace, resolved: Resolved) -> int:
    from costmodel.simulate.render import print_outcome, to_json

    if args.output.suffix.lower() != ".png":
        raise SimulateError(f"--output must be a .png file, got {args.output}")
    outcome = run(args, resolved)
    path = None
    if not args.no_plot:
        from costmodel.simulate.plot import plot

        path = plot(outcome, args.output)
    if args.json:
        from costmodel.render import print_json

        print_json(to_json(outcome, path))
    else:
        print_outcome(outcome, path)
    return 0
