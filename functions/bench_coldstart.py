"""``python -m functions.bench_coldstart``: cold start of the Lambda entry points, measured in fresh processes.

Each run starts a new Python process that imports one entry point (its init loads the model) and answers
one API Gateway HTTP API event (``events/predict.json``). The time from process start to that first
response is split into: interpreter start-up, imports, model load (verify, load, warm-up) and first
invocation. Medians over ``--runs`` runs per variant are printed as a table and written to
``results/coldstart/coldstart.json`` (read by the load-test report) with a PNG chart next to it.

Variants: ``powertools`` and ``mangum`` (the two handlers with tracing off, ``Tracing: PassThrough``),
``powertools+xray`` (the Powertools handler with ``Tracing: Active``: the X-Ray SDK loaded, segments sent to
127.0.0.1 over UDP and nowhere else) and ``bare-model`` (ONNX Runtime, tokenizer and model load alone: the
floor under both handlers). The Lambda runtime's own bootstrap is not included.

With the Lambda image built (``make images``), ``image:powertools`` and ``image:mangum`` start a fresh
container of it per run under AWS's Runtime Interface Emulator, in the template's memory and CPU share
(``functions/coldstart_image.py``); there the runtime's bootstrap and the container's start are included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from functions.apigw import FUNCTION_NAME, REGION
from inference.settings import REPO_ROOT, get_settings

DEFAULT_OUTPUT = REPO_ROOT / "results" / "coldstart" / "coldstart.json"
DEFAULT_EVENT = REPO_ROOT / "events" / "predict.json"
DEFAULT_IMAGE = "sentiment-api-lambda:local"
PHASES = ("interpreter", "imports", "model_load", "first_invocation")
GOAL_SECONDS = 0.6

# Runs in the fresh process. It reads the clock first, before any import, and prints one JSON line.
CHILD_CODE = """
import time
started = time.monotonic()
import importlib, json, sys
from pathlib import Path
variant, event_path = sys.argv[1], sys.argv[2]
event = json.loads(Path(event_path).read_text())
if variant == "bare-model":
    from inference.model import SentimentModel
    from inference.settings import get_settings
    model = SentimentModel.load(get_settings().model_dir)
    model_load_s = model.info.load_seconds
    loaded = time.monotonic()
    text = json.loads(event["body"])["text"]
    status, sentiment = 200, model.predict(text).sentiment
else:
    from functions.apigw import LocalLambdaContext
    module = importlib.import_module(sys.argv[3])
    loaded = time.monotonic()
    model_load_s = module.INIT_REPORT.model_load_ms / 1000
    response = module.lambda_handler(event, LocalLambdaContext())
    status, sentiment = response["statusCode"], json.loads(response["body"]).get("sentiment")
answered = time.monotonic()
sys.stderr.flush()
print("COLDSTART " + json.dumps({"started": started, "loaded": loaded, "answered": answered,
      "model_load_s": model_load_s, "status": status, "sentiment": sentiment,
      "xray_sdk_loaded": "aws_xray_sdk.core" in sys.modules}), flush=True)
"""


@dataclass(frozen=True)
class Variant:
    """One way to start: which module, and the environment it runs in."""

    name: str
    module: str
    description: str
    environment: dict[str, str]
    image: str = ""


def variants(repo_root: Path) -> dict[str, Variant]:
    """The variants this benchmark knows, by name.

    Every child gets the variables Lambda sets (``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_NAME``, ...), so
    that libraries take their Lambda code paths: the X-Ray SDK, for one, skips its sampling-rules client (and
    botocore's session, about 0.4 s here) inside Lambda.
    """
    lambda_like = {
        "LAMBDA_TASK_ROOT": str(repo_root),
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    tracing_off = {**lambda_like, "POWERTOOLS_TRACE_DISABLED": "true"}
    tracing_on = {
        **lambda_like,
        "POWERTOOLS_TRACE_DISABLED": "false",
        "_X_AMZN_TRACE_ID": "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    }
    return {
        "powertools": Variant(
            "powertools", "functions.handler", "Powertools resolver, Tracing: PassThrough", tracing_off
        ),
        "powertools+xray": Variant(
            "powertools+xray", "functions.handler", "Powertools resolver, Tracing: Active (X-Ray SDK)", tracing_on
        ),
        "mangum": Variant(
            "mangum", "functions.mangum_handler", "FastAPI app through Mangum, Tracing: PassThrough", tracing_off
        ),
        "bare-model": Variant(
            "bare-model", "", "ONNX Runtime + tokenizer + model load and one prediction, no handler", lambda_like
        ),
    }


@dataclass(frozen=True)
class Run:
    """One fresh process: seconds per phase, from the parent's spawn to the first response."""

    interpreter: float
    imports: float
    model_load: float
    first_invocation: float
    total: float
    status: int
    sentiment: str | None
    xray_sdk_loaded: bool


class BenchError(Exception):
    """A run that did not produce a measurement."""


def image_variants(image: str) -> dict[str, Variant]:
    """Both entry points in fresh containers of the Lambda image ``image``."""
    return {
        f"image:{name}": Variant(f"image:{name}", module, f"{module} in {image} under the RIE", {}, image)
        for name, module in (("powertools", "functions.handler"), ("mangum", "functions.mangum_handler"))
    }


def measure_once(variant: Variant, event_path: Path, environment: dict[str, str]) -> Run:
    """Start one fresh process for ``variant`` and time it; ``BenchError`` with its stderr when it fails."""
    if variant.image:
        from functions.coldstart_image import ImageBenchError, measure_image_once

        try:
            phases = measure_image_once(variant.image, f"{variant.module}.lambda_handler", event_path)
        except ImageBenchError as error:
            raise BenchError(f"{variant.name}: {error}") from None
        return Run(**phases, xray_sdk_loaded=False)
    env = {**environment, **variant.environment}
    spawned = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", CHILD_CODE, variant.name, str(event_path), variant.module],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("COLDSTART ")]
    if result.returncode != 0 or not lines:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"{variant.name}: the process failed (exit {result.returncode}): {last}")
    stamps = json.loads(lines[-1].removeprefix("COLDSTART "))
    init = stamps["loaded"] - stamps["started"]
    return Run(
        interpreter=stamps["started"] - spawned,
        imports=init - stamps["model_load_s"],
        model_load=stamps["model_load_s"],
        first_invocation=stamps["answered"] - stamps["loaded"],
        total=stamps["answered"] - spawned,
        status=stamps["status"],
        sentiment=stamps["sentiment"],
        xray_sdk_loaded=stamps["xray_sdk_loaded"],
    )


def summarise(runs: list[Run]) -> dict[str, Any]:
    """Median, minimum and maximum of every phase and of the total, in seconds."""
    summary: dict[str, Any] = {}
    for phase in (*PHASES, "total"):
        values = [getattr(run, phase) for run in runs]
        summary[phase] = {
            "median_s": round(statistics.median(values), 4),
            "min_s": round(min(values), 4),
            "max_s": round(max(values), 4),
        }
    return summary


def machine_description() -> dict[str, Any]:
    """What the figures were measured on."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_start": round(load[0], 2) if load else None,
    }


def model_description() -> dict[str, Any]:
    """The model the runs loaded: folder, manifest name and version, size of ``model.onnx``."""
    model_dir = Path(get_settings().model_dir)
    manifest_path = model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    onnx = model_dir / "model.onnx"
    return {
        "model_dir": str(model_dir),
        "name": manifest.get("name"),
        "version": manifest.get("version"),
        "model_onnx_mb": round(onnx.stat().st_size / 1e6, 2) if onnx.is_file() else None,
    }


def write_chart(results: dict[str, Any], path: Path) -> None:
    """Stacked bars of the median phases per variant, with the goal as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["variants"])
    fig, axis = plt.subplots(figsize=(8, 1.8 + 0.6 * len(names)))
    left = [0.0] * len(names)
    for phase in PHASES:
        widths = [results["variants"][name]["summary"][phase]["median_s"] for name in names]
        axis.barh(names, widths, left=left, label=phase.replace("_", " "))
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axis.axvline(GOAL_SECONDS, color="black", linestyle="--", linewidth=1, label=f"goal {GOAL_SECONDS} s (powertools)")
    axis.invert_yaxis()
    axis.set_xlabel("seconds from process start to first response (median)")
    axis.set_title(f"Lambda cold start, {results['runs']} fresh processes per variant")
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=5, fontsize="small", frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_table(results: dict[str, Any]) -> None:
    """The medians as a rich table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Cold start, median of {results['runs']} fresh processes (seconds)")
    table.add_column("variant", no_wrap=True)
    for phase in PHASES:
        table.add_column(phase.replace("_", " "), justify="right")
    table.add_column("total", justify="right", style="bold")
    table.add_column("min-max total", justify="right")
    for name, entry in results["variants"].items():
        summary = entry["summary"]
        table.add_row(
            name,
            *(f"{summary[phase]['median_s']:.3f}" for phase in PHASES),
            f"{summary['total']['median_s']:.3f}",
            f"{summary['total']['min_s']:.3f}-{summary['total']['max_s']:.3f}",
        )
    console = Console(width=None if sys.stdout.isatty() else 120)
    console.print(table)
    powertools = results["variants"].get("powertools")
    if powertools:
        median = powertools["summary"]["total"]["median_s"]
        verdict = "meets" if median <= GOAL_SECONDS else "misses"
        console.print(f"powertools handler: median {median:.3f} s, {verdict} the {GOAL_SECONDS} s goal")


def main(argv: list[str] | None = None) -> int:
    """Run the variants, print the table, write JSON and PNG."""
    known = variants(REPO_ROOT)
    parser = argparse.ArgumentParser(prog="python -m functions.bench_coldstart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per variant (at least 5)")
    parser.add_argument("--variants", nargs="+", choices=list(known), default=list(known), help="what to measure")
    parser.add_argument("--event", type=Path, default=DEFAULT_EVENT, help="API Gateway HTTP API v2 event to answer")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write (PNG alongside)")
    parser.add_argument(
        "--image", default=DEFAULT_IMAGE, help=f"Lambda image for the image:* variants (default {DEFAULT_IMAGE})"
    )
    parser.add_argument("--no-image", action="store_true", help="leave out the image:* variants")
    args = parser.parse_args(argv)
    if args.runs < 5:
        print(f"error: --runs must be at least 5 (got {args.runs}): a median needs several runs", file=sys.stderr)
        return 2
    if not args.event.is_file():
        print(f"error: event file {args.event} does not exist", file=sys.stderr)
        return 2

    from rich.progress import Progress

    environment = {key: value for key, value in os.environ.items() if not key.startswith("POWERTOOLS_TRACE")}
    results: dict[str, Any] = {
        "command": "python -m functions.bench_coldstart " + " ".join(argv if argv is not None else sys.argv[1:]),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": args.runs,
        "event": str(args.event),
        "goal_s": GOAL_SECONDS,
        "machine": machine_description(),
        "model": model_description(),
        "variants": {},
    }
    chosen = [known[name] for name in args.variants]
    if not args.no_image:
        from functions.coldstart_image import docker_available

        missing = docker_available(args.image)
        if missing:
            print(f"image variants left out: {missing}", file=sys.stderr)
        else:
            chosen += image_variants(args.image).values()
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("cold starts", total=args.runs * len(chosen))
            # Interleave the variants so that a change in machine load affects them alike.
            all_runs: dict[str, list[Run]] = {variant.name: [] for variant in chosen}
            for _ in range(args.runs):
                for variant in chosen:
                    progress.update(task, description=f"cold start: {variant.name}")
                    all_runs[variant.name].append(measure_once(variant, args.event, environment))
                    progress.advance(task)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for variant in chosen:
        runs = all_runs[variant.name]
        results["variants"][variant.name] = {
            "description": variant.description,
            "module": variant.module or None,
            "summary": summarise(runs),
            "runs": [asdict(run) for run in runs],
        }
    if hasattr(os, "getloadavg"):
        results["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    chart = args.output.with_suffix(".png")
    write_chart(results, chart)
    print_table(results)
    print(f"wrote {args.output} and {chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
