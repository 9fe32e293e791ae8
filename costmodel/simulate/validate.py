"""Validation: replay a measured burst through the simulator and compare (a documented command, not a test).

    python -m loadtest run --target local-lambda --scenario burst --burst-users 8 --burst-warm 15 \\
        --burst-idle 20 --burst-length 30 --lambda-concurrency 4 --out results/burst-lambda
    python -m loadtest run --target local-container --scenario burst --burst-users 8 --burst-warm 15 \\
        --burst-idle 20 --burst-length 30 --out results/burst-container
    python -m costmodel.simulate.validate --lambda results/burst-lambda --container results/burst-container \\
        --out tests/fixtures/simulate-validation

Each request's arrival is its ``requests.csv`` completion time less its response time, so the simulator
sees the measured arrivals (the load test's users are a closed loop; the replay is open). Service times
are the measured latencies of the warm phase (one user, no queueing; the first, cold request left out),
drawn with replacement; cold starts take a measured INIT (``lambda.init_ms.values``) plus a service
time. The limits are this machine's: the emulator's concurrency limit (429 beyond it, no scaling-rate
limit, no HTTP API) and idle timeout; one container with the summary's worker count and no autoscaling.
Compared: p50 and p99 of the answered requests, cold starts and throttles.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np

from costmodel.simulate.lambda_ import LambdaSim, simulate_events
from costmodel.simulate.service_times import Empirical, ServiceTimes
from costmodel.simulate.serving import EventServing

SEED = 0
FILES = ("summary.json", "requests.csv")


def read_requests(directory: Path) -> dict[str, np.ndarray]:
    with (directory / "requests.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    done = np.array([float(r["timestamp"]) for r in rows])
    latency = np.array([float(r["response_time_ms"]) for r in rows]) / 1000
    arrival = done - latency
    order = np.argsort(arrival)
    start = arrival.min()
    return {
        "arrival": (arrival - start)[order],
        "latency": latency[order],
        "success": np.array([r["success"] == "1" for r in rows])[order],
    }


def warm_service(requests: dict[str, np.ndarray], warm_s: float) -> Empirical:
    """Latencies of the one-user warm phase, less the first (cold) request."""
    picked = (requests["arrival"] < warm_s) & requests["success"]
    picked[np.flatnonzero(picked)[:1]] = False
    return Empirical(tuple(float(v) for v in requests["latency"][picked]))


def _percentiles(values: np.ndarray) -> dict[str, float]:
    return {"p50_ms": float(np.percentile(values, 50) * 1000), "p99_ms": float(np.percentile(values, 99) * 1000)}


def _compare(measured: dict, simulated: dict) -> dict:
    error = {}
    for key, value in measured.items():
        error[key] = {
            "absolute": simulated[key] - value,
            "relative": (simulated[key] - value) / value if value else None,
        }
    return {"measured": measured, "simulated": simulated, "error": error}


def validate_lambda(directory: Path, seed: int = SEED) -> tuple[dict, dict]:
    summary = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
    requests = read_requests(directory)
    warm_s = float(summary["load"]["burst"]["warm_s"])
    server = summary["server"]
    cfg = LambdaSim(
        memory_mb=int(summary["lambda"]["memory_mb"]),
        concurrency_limit=int(server["concurrency_limit"]),
        provisioned=0,
        idle_lifetime_s=float(server["idle_timeout_s"]),
        scaling_burst=1e9,
        scaling_refill=1e9,
        api_rate=None,
        api_burst=0.0,
        host_cpus=float(summary["machine"]["cpus"]),
    )
    inits = tuple(float(v) for v in summary["lambda"]["init_ms"]["values"])
    svc = ServiceTimes(warm_service(requests, warm_s), inits, 1.0, 1.0, {})
    seconds = math.ceil(requests["arrival"].max()) + 1
    run, _ = simulate_events(requests["arrival"], seconds, cfg, svc, np.random.default_rng(seed))
    answered = requests["latency"][requests["success"]]
    measured = {
        **_percentiles(answered),
        "cold_starts": summary["cold_starts"]["count"],
        "throttles": summary["throttles"],
    }
    simulated = {
        **_percentiles(run.latencies.values),
        "cold_starts": run.cold_starts,
        "throttles": run.throttled,
    }
    series = {"measured": requests, "simulated": run}
    return _compare(measured, simulated), series


def validate_container(directory: Path, seed: int = SEED) -> tuple[dict, dict]:
    summary = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
    requests = read_requests(directory)
    warm_s = float(summary["load"]["burst"]["warm_s"])
    workers = int(summary["server"]["workers"])
    seconds = math.ceil(requests["arrival"].max()) + 1
    serving = EventServing(
        requests["arrival"], seconds, warm_service(requests, warm_s), 60.0, np.random.default_rng(seed)
    )
    serving.set_servers(workers, 0)
    for t in range(seconds):
        serving.serve(t)
    simulated_latency = serving.latencies(seconds)
    answered = requests["latency"][requests["success"]]
    measured = {**_percentiles(answered), "failures": float((~requests["success"]).sum())}
    simulated = {**_percentiles(simulated_latency.values), "failures": float(serving.dropped)}
    return _compare(measured, simulated), {"measured": requests, "simulated": simulated_latency}


def validate(lambda_dir: Path, container_dir: Path, seed: int = SEED) -> tuple[dict, dict]:
    lam, lam_series = validate_lambda(lambda_dir, seed)
    con, con_series = validate_container(container_dir, seed)
    return {"seed": seed, "local-lambda": lam, "local-container": con}, {
        "local-lambda": lam_series,
        "local-container": con_series,
    }


def plot(series: dict, result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(series), 1, figsize=(10, 3.2 * len(series)), dpi=110)
    for ax, (target, data) in zip(axes, series.items(), strict=True):
        measured = data["measured"]
        ok = measured["success"]
        ax.scatter(measured["arrival"][ok], measured["latency"][ok] * 1000, s=6, color="0.4", label="measured")
        if (~ok).any():
            ax.scatter(measured["arrival"][~ok], measured["latency"][~ok] * 1000, s=6, color="tab:red", marker="x",
                       label="measured 429")  # fmt: skip
        sim = data["simulated"]
        latencies = sim.latencies if hasattr(sim, "latencies") else sim
        ax.scatter(
            latencies.seconds + 0.5, latencies.values * 1000, s=6, color="tab:orange", alpha=0.6, label="simulated"
        )
        r = result[target]
        ax.set_title(
            f"{target}: p99 measured {r['measured']['p99_ms']:,.0f} ms, simulated {r['simulated']['p99_ms']:,.0f} ms"
            + (
                f"; cold starts {r['measured']['cold_starts']} vs {r['simulated']['cold_starts']:.0f}; "
                f"throttles {r['measured']['throttles']} vs {r['simulated']['throttles']:.0f}"
                if "cold_starts" in r["measured"]
                else ""
            ),
            fontsize=9,
            loc="left",
        )
        ax.set_yscale("log")
        ax.set_ylabel("latency ms")
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3, which="both")
    axes[-1].set_xlabel("seconds from the first request")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m costmodel.simulate.validate", description=__doc__.splitlines()[0])
    parser.add_argument("--lambda", dest="lambda_dir", type=Path, required=True, metavar="DIR")
    parser.add_argument("--container", type=Path, required=True, metavar="DIR")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    args = parser.parse_args(argv)
    for kind, source in (("lambda", args.lambda_dir), ("container", args.container)):
        (args.out / kind).mkdir(parents=True, exist_ok=True)
        for name in FILES:
            if source.resolve() != (args.out / kind).resolve():
                shutil.copyfile(source / name, args.out / kind / name)
    result, series = validate(args.out / "lambda", args.out / "container")
    (args.out / "validation.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plot(series, result, args.out / "validation.png")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
