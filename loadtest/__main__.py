"""``python -m loadtest run | capacity | overload | soak | profile | report``: load tests, capacity probes,
overload and soak runs, and the comparison report.

Targets: a base URL (``http://...``, e.g. from ``python -m ops endpoints ... --json``), or a local target the
command starts and stops on 127.0.0.1: ``local-container``, ``local-lambda`` (local emulation, not AWS
figures), ``baseline`` (the seed-style PyTorch server), or the images in their deployed shapes (``make images``):
``image-container`` (``--shape fargate | eks``) and ``image-lambda``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from inference.settings import BUNDLED_MODEL_DIR


def _bounded(kind: type, accepts, bound: str):
    """An argparse type: ``kind(text)``, refused with ``bound`` in the message unless ``accepts(value)``."""
    noun = "a whole number" if kind is int else "a number"

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not accepts(value):
            raise argparse.ArgumentTypeError(f"{text!r} {bound}")
        return value

    return convert


_positive_int = _bounded(int, lambda value: value >= 1, "must be at least 1")
_positive_float = _bounded(float, lambda value: value > 0, "must be above zero")
_non_negative_float = _bounded(float, lambda value: value >= 0, "must not be negative")


def _factors(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give multiples of the knee, e.g. 1,2,4") from None
    if not values or any(not value > 0 for value in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every factor must be above zero")
    return values


_share = _bounded(float, lambda value: 0 < value <= 1, "must be above 0 and at most 1")


def _duration(text: str) -> float:
    from loadtest.runner import parse_duration

    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        required=True,
        help="URL, or local-container | local-lambda | baseline | image-container | image-lambda (on 127.0.0.1)",
    )
    parser.add_argument(
        "--endpoints",
        type=Path,
        default=None,
        help="JSON of `python -m ops endpoints --json`; --target then names one of its keys (lambda, ecs)",
    )
    parser.add_argument("--out", required=True, type=Path, help="results folder (summary.json and CSVs go there)")
    parser.add_argument("--label", default=None, help="name in the report (default: from the target)")
    local = parser.add_argument_group("local targets")
    local.add_argument("--model", type=Path, default=BUNDLED_MODEL_DIR, help="model folder for local targets")
    local.add_argument(
        "--baseline-checkpoint",
        type=Path,
        default=None,
        help="baseline checkpoint (default build/distilbert-base-random)",
    )
    local.add_argument("--lambda-concurrency", type=_positive_int, default=4, help="Lambda targets: most environments")
    local.add_argument(
        "--lambda-queue",
        action="store_true",
        help="Lambda targets: queue requests beyond --lambda-concurrency (default: 429 Too Many Requests, as Lambda)",
    )
    local.add_argument(
        "--lambda-idle-timeout",
        type=_positive_float,
        default=None,
        help="Lambda targets: seconds before an idle environment is reaped (default 60; burst: half the idle phase)",
    )
    local.add_argument(
        "--lambda-memory-mb",
        type=_positive_int,
        default=None,
        help="local-lambda: memory to report (default: template.yaml; image-lambda always runs its shape)",
    )
    images = parser.add_argument_group("image targets (make images)")
    images.add_argument(
        "--shape",
        choices=("fargate", "eks"),
        default=None,
        help="image-container: the Copilot task's shape (fargate, default) or the EKS pod's",
    )
    images.add_argument("--image", default=None, help="image tag (default: the one make images builds)")
    remote = parser.add_argument_group("URL targets")
    remote.add_argument(
        "--server-cpus", type=_positive_float, default=None, help="CPUs behind the URL (for the cost model)"
    )
    remote.add_argument("--server-workers", type=_positive_int, default=None, help="server processes behind the URL")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="Locust headless against a target; writes CSVs and summary.json")
    _add_target_options(run)
    run.add_argument(
        "--scenario",
        choices=("mix", "single", "burst"),
        default="mix",
        help="mix: 70%% single / 30%% batches; single: single texts; burst: idle then a step to many users",
    )
    run.add_argument("--users", type=_positive_int, default=10)
    run.add_argument("--spawn-rate", type=_positive_float, default=10.0, help="users started per second")
    run.add_argument("--duration", type=_duration, default=60.0, help="e.g. 60s, 2m (not for --scenario burst)")
    run.add_argument("--think-time", default="0.1-0.5", help="pause between a user's requests, MIN-MAX seconds")
    burst = run.add_argument_group("burst scenario")
    burst.add_argument("--burst-users", type=_positive_int, default=50)
    burst.add_argument("--burst-warm", type=_duration, default=10.0, help="one user for this long first")
    burst.add_argument("--burst-idle", type=_duration, default=20.0, help="then no users for this long")
    burst.add_argument("--burst-length", type=_duration, default=30.0, help="then the burst for this long")

    capacity = commands.add_parser("capacity", help="highest RPS with p99 under budget and no failures (open loop)")
    _add_target_options(capacity)
    capacity.add_argument("--budget-ms", type=_positive_float, default=100.0, help="p99 budget, ms")
    capacity.add_argument("--step-duration", type=_duration, default=15.0, help="length of each offered-load step")
    capacity.add_argument("--start-rps", type=_positive_float, default=10.0)
    capacity.add_argument("--max-rps", type=_positive_float, default=5000.0)
    capacity.add_argument("--growth", type=_positive_float, default=1.5, help="factor between steps until one fails")
    capacity.add_argument("--refine", type=int, default=3, help="bisection steps between the last pass and first fail")
    capacity.add_argument(
        "--texts",
        choices=("reviews", "sentences"),
        default="reviews",
        help="reviews: the whole pool (4 to 352 words); sentences: its reviews of at most 40 words",
    )
    capacity.add_argument(
        "--model-limit",
        action="store_true",
        help="image-container: also time the image's model alone on the shape's CPUs, batched, and print the ratio",
    )

    overload = commands.add_parser("overload", help="1x, 2x and 4x the knee: admitted vs 429 latency (open loop)")
    _add_target_options(overload)
    overload.add_argument("--knee-rps", type=_positive_float, default=None, help="the knee (default: measure it first)")
    overload.add_argument("--factors", type=_factors, default=(1.0, 2.0, 4.0), help="multiples of the knee, e.g. 1,2,4")
    overload.add_argument("--step-duration", type=_duration, default=20.0, help="length of each step")
    overload.add_argument("--texts", choices=("reviews", "sentences"), default="sentences", help="as capacity's")

    soak = commands.add_parser("soak", help="a long steady load at 80%% of the knee: failures and RSS growth")
    _add_target_options(soak)
    soak.add_argument("--duration", type=_duration, default=600.0, help="e.g. 10m")
    soak.add_argument("--knee-rps", type=_positive_float, default=None, help="the knee (default: measure it first)")
    soak.add_argument("--share", type=_share, default=0.8, help="share of the knee to offer (default 0.8)")
    soak.add_argument("--segment", type=_duration, default=30.0, help="latency and failures are counted per segment")
    soak.add_argument("--warm-up", type=_duration, default=60.0, help="RSS growth is measured from its end")
    soak.add_argument("--texts", choices=("reviews", "sentences"), default="sentences", help="text set (as capacity)")

    profile = commands.add_parser("profile", help="where a request's server CPU time goes (py-spy under wrk load)")
    _add_target_options(profile)
    profile.add_argument("--rps", type=_positive_float, default=100.0, help="offered load (open loop)")
    profile.add_argument("--duration", type=_duration, default=20.0, help="how long to sample")
    profile.add_argument("--rate", type=_positive_int, default=200, help="py-spy samples per second")
    profile.add_argument("--texts", choices=("reviews", "sentences"), default="reviews", help="text set (as capacity)")

    report = commands.add_parser("report", help="Markdown table and PNG plots from results folders")
    report.add_argument("results", nargs="+", type=Path, help="results folders (each with summary.json)")
    report.add_argument("--out", type=Path, default=Path("report"), help="report folder")
    return parser


def _think_time(text: str) -> tuple[float, float]:
    low, sep, high = text.partition("-")
    try:
        values = (float(low), float(high)) if sep else (float(low), float(low))
    except ValueError:
        raise ValueError(f"--think-time {text!r}: use MIN-MAX seconds, e.g. 0.1-0.5") from None
    if values[0] < 0 or values[1] < values[0]:
        raise ValueError(f"--think-time {text!r}: need 0 <= MIN <= MAX")
    return values


def resolve_target(target: str, endpoints: Path | None) -> str:
    """The target itself, or with ``--endpoints`` the URL its key names in that JSON file."""
    if endpoints is None:
        return target
    import json

    try:
        urls = json.loads(endpoints.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"--endpoints {endpoints}: not readable as JSON ({error})") from None
    if not isinstance(urls, dict) or not isinstance(urls.get(target), str):
        keys = ", ".join(sorted(urls)) if isinstance(urls, dict) else "none"
        raise ValueError(f"--endpoints {endpoints} has no URL for {target!r} (keys: {keys})")
    return urls[target]


def _local_options(args: argparse.Namespace, idle_default: float):
    from loadtest.targets import BASELINE_CHECKPOINT, LocalOptions

    return LocalOptions(
        model_dir=args.model,
        baseline_checkpoint=args.baseline_checkpoint or BASELINE_CHECKPOINT,
        lambda_concurrency=args.lambda_concurrency,
        lambda_queue=args.lambda_queue,
        lambda_idle_timeout_s=args.lambda_idle_timeout or idle_default,
        lambda_memory_mb=args.lambda_memory_mb,
        shape=args.shape,
        image=args.image,
    )


def _run(args: argparse.Namespace) -> int:
    from loadtest.runner import RunConfig, run
    from loadtest.summary import SUMMARY_FILE

    think_min, think_max = _think_time(args.think_time)
    idle_default = args.burst_idle / 2 if args.scenario == "burst" else 60.0
    if args.scenario == "burst" and args.lambda_idle_timeout and args.lambda_idle_timeout >= args.burst_idle:
        raise ValueError(
            f"--burst-idle ({args.burst_idle:g} s) must outlast --lambda-idle-timeout ({args.lambda_idle_timeout:g} s) "
            "for the burst to meet cold environments"
        )
    config = RunConfig(
        target=resolve_target(args.target, args.endpoints),
        out_dir=args.out,
        users=args.users,
        spawn_rate=args.spawn_rate,
        duration_s=args.duration,
        scenario=args.scenario,
        label=args.label,
        think_min_s=think_min,
        think_max_s=think_max,
        burst_users=args.burst_users,
        burst_warm_s=args.burst_warm,
        burst_idle_s=args.burst_idle,
        burst_s=args.burst_length,
        server_cpus=args.server_cpus,
        server_workers=args.server_workers,
        local=_local_options(args, idle_default),
    )
    summary = run(config)
    _print_summary(summary)
    print(f"wrote {args.out / SUMMARY_FILE}")
    return 0


def _print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary['label']} ({'local emulation, ' if summary['emulated'] else ''}{summary['target']})")
    for column in ("requests", "failures", "rps", "mean ms", "p50 ms", "p95 ms", "p99 ms", "cold starts"):
        table.add_column(column, justify="right")
    latency = summary["latency_ms"]
    cold = summary["cold_starts"]
    cold_text = f"{cold['count']} (median {cold['median_ms']:.0f} ms)" if cold["count"] else "0"

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    table.add_row(
        str(summary["requests"]),
        str(summary["failures"]),
        f"{summary['rps']:.1f}",
        ms(latency["mean"]),
        ms(latency["median"]),
        ms(latency["p95"]),
        ms(latency["p99"]),
        cold_text,
    )
    Console().print(table)


def _capacity(args: argparse.Namespace) -> int:
    from loadtest.capacity import CapacityConfig, probe
    from loadtest.cpu_split import describe as describe_split

    if args.refine < 0:
        raise ValueError("--refine must not be negative")
    if args.max_rps < args.start_rps:
        raise ValueError(f"--max-rps ({args.max_rps:g}) is below --start-rps ({args.start_rps:g})")
    if args.growth <= 1:
        raise ValueError(f"--growth ({args.growth:g}) must be above 1")
    config = CapacityConfig(
        target=resolve_target(args.target, args.endpoints),
        out_dir=args.out,
        label=args.label,
        budget_ms=args.budget_ms,
        step_s=args.step_duration,
        start_rps=args.start_rps,
        max_rps=args.max_rps,
        growth=args.growth,
        refine=args.refine,
        texts=args.texts,
        server_cpus=args.server_cpus,
        server_workers=args.server_workers,
        model_limit=args.model_limit,
        local=_local_options(args, 60.0),
    )
    if args.model_limit and args.target != "image-container":
        raise ValueError("--model-limit needs --target image-container (it times that image's model)")
    summary = probe(config)
    knee = summary["capacity"]["knee_rps"]
    budget = summary["capacity"]["p99_budget_ms"]
    if knee is None:
        print(f"knee: none: even {args.start_rps:g} RPS broke the p99 budget of {budget:g} ms or failed")
    else:
        print(f"knee: {knee:.1f} RPS with p99 under {budget:g} ms and no failures ({summary['label']})")
    limit = summary["capacity"].get("model_limit")
    if limit:
        share = summary["capacity"].get("knee_share_of_model_limit")
        print(
            f"model alone: {limit['texts_per_s']:.1f} texts/s on {limit['cpus']:g} CPU in batches of "
            f"{limit['batch_size']} ({limit['image']}); knee / model alone = "
            + ("–" if share is None else f"{100 * share:.1f} %")
        )
        split = summary["capacity"].get("knee_split")
        if split:
            print(describe_split(split))
    print(f"wrote {args.out / 'summary.json'}")
    return 0


def _overload(args: argparse.Namespace) -> int:
    from loadtest.overload import OverloadConfig, print_table, run_overload

    config = OverloadConfig(
        target=resolve_target(args.target, args.endpoints),
        out_dir=args.out,
        knee_rps=args.knee_rps,
        factors=args.factors,
        step_s=max(1, round(args.step_duration)),
        texts=args.texts,
        label=args.label,
        local=_local_options(args, 60.0),
    )
    summary = run_overload(config)
    print_table(summary)
    print(f"wrote {args.out / 'overload.json'} and {args.out / 'overload.png'}")
    return 0


def _soak(args: argparse.Namespace) -> int:
    from loadtest.soak import SoakConfig, print_result, run_soak

    config = SoakConfig(
        target=resolve_target(args.target, args.endpoints),
        out_dir=args.out,
        duration_s=args.duration,
        share_of_knee=args.share,
        knee_rps=args.knee_rps,
        segment_s=max(1, round(args.segment)),
        warm_up_s=args.warm_up,
        texts=args.texts,
        label=args.label,
        local=_local_options(args, 60.0),
    )
    summary = run_soak(config)
    print_result(summary)
    print(f"wrote {args.out / 'soak.json'} and {args.out / 'soak.png'}")
    return 0


def _profile(args: argparse.Namespace) -> int:
    from loadtest.profile import ProfileConfig, profile

    config = ProfileConfig(
        target=resolve_target(args.target, args.endpoints),
        out_dir=args.out,
        rps=args.rps,
        duration_s=args.duration,
        rate_hz=args.rate,
        texts=args.texts,
        local=_local_options(args, 60.0),
    )
    result = profile(config)
    print((args.out / "profile.md").read_text())
    print(f"wrote {args.out / 'profile.json'} ({result['samples']} samples)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from loadtest.report import write_report

    path = write_report(args.results, args.out)
    print(f"wrote {path}")
    return 0


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the `finally` blocks that stop the local servers


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the command; errors print one line and exit non-zero."""
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    from loadtest.capacity import CapacityError
    from loadtest.docker_cli import DockerError
    from loadtest.runner import RunError
    from loadtest.summary import SummaryError
    from loadtest.targets import TargetError

    handlers = {
        "run": _run,
        "capacity": _capacity,
        "overload": _overload,
        "soak": _soak,
        "profile": _profile,
        "report": _report,
    }
    try:
        return handlers[args.command](args)
    except (TargetError, DockerError, RunError, CapacityError, SummaryError, ValueError, OSError) as error:
        message = " ".join(str(error).split())
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
