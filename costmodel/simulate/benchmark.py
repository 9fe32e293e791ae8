"""Speed of the simulator: `python -m costmodel.simulate.benchmark` (a benchmark, not a test).

Runs, on one core (the simulator is single-threaded numpy and Python):
1. one day at 100 requests/s on average with a 10× spike for 5 minutes (8.6 million requests);
2. one flat day of 10 million requests;
3. the same two hours (23 requests/s with a 4× spike) in event and in fluid mode, the event-driven
   run as the baseline of the ratio.
It prints wall and CPU seconds of each run (all three platforms, no plot) and the fluid/event ratio.
"""

from __future__ import annotations

import time

from costmodel.cli import build_parser
from costmodel.inputs import resolve
from costmodel.simulate.cli import model_args, run

CASES = (
    ("1 day, 100 req/s mean, 10x spike 5 min", ["--shape", "spike", "--daily-requests", "8.64M", "--spike", "10x:5m"]),
    ("1 day, 10M requests, flat", ["--shape", "flat", "--daily-requests", "10M"]),
    ("2 h, 23 req/s, 4x spike, event", ["--shape", "spike", "--daily-requests", "2M", "--spike", "4x:10m",
                                        "--spike-at", "01:00", "--duration", "2h", "--mode", "event"]),
    ("2 h, 23 req/s, 4x spike, fluid", ["--shape", "spike", "--daily-requests", "2M", "--spike", "4x:10m",
                                        "--spike-at", "01:00", "--duration", "2h", "--mode", "fluid"]),
)  # fmt: skip


def main() -> None:
    timings = {}
    for name, flags in CASES:
        args = build_parser().parse_args(["simulate", "--no-plot", *flags])
        resolved = resolve(model_args(args))
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = run(args, resolved)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        timings[name] = wall
        sim = outcome.simulation
        p99 = ", ".join(f"{p} p99 {r.percentile_ms(0.99):,.0f} ms" for p, r in sim.runs.items())
        print(f"{name}: {sim.arrivals.total:,} requests, {sim.mode} mode: {wall:.2f} s wall, {cpu:.2f} s CPU ({p99})")
    event, fluid = timings[CASES[2][0]], timings[CASES[3][0]]
    print(f"fluid / event on the same 2 hours: {fluid / event:.3f} ({event / fluid:.1f}x faster)")


if __name__ == "__main__":
    main()
