"""``python -m loadtest profile``: where a request's server CPU time goes, under a steady open-loop load.

The target is started as for ``run``; wrk offers ``--rps`` for ``--duration`` (``wrk_open_loop.lua``) while
py-spy (PyPI ``py-spy``) samples every server process (``--subprocesses``) at ``--rate`` Hz. Each on-CPU
sample is put in one component by its innermost frame that belongs to a known one (inside the model, by
the source line: tokenization or the ONNX Runtime call). The server's CPU time (its processes' user +
system time over the load) divided by the requests answered gives CPU ms per request; each component's
share of the samples splits it.

Writes ``profile.json``, ``profile.md``, ``profile.png`` and py-spy's raw stacks (``pyspy.txt``).
"""

from __future__ import annotations

import json
import linecache
import re
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.capacity import CapacityError, run_wrk_step, write_bodies, wrk_binary
from loadtest.summary import machine_block
from loadtest.targets import IMAGE_TARGETS, LocalOptions, running_target, stop_process

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# (component, test on (function, file, source line)); the first component found from the innermost frame wins.
COMPONENTS: tuple[tuple[str, Any], ...] = (
    ("model: tokenization (tokenizers)", lambda fn, path, src: "inference/model.py" in path and "encode" in src),
    ("model: ONNX Runtime run", lambda fn, path, src: "inference/model.py" in path and ".run(" in src),
    ("model: ONNX Runtime run", lambda fn, path, src: "onnxruntime" in path),
    ("model: arrays, softmax, sorting", lambda fn, path, src: "inference/model.py" in path or "numpy" in path),
    ("micro-batcher hand-off", lambda fn, path, src: "inference/batcher.py" in path),
    ("pydantic (validation, serialization)", lambda fn, path, src: "pydantic" in path),
    ("JSON encode/decode", lambda fn, path, src: "/json/" in path),
    ("metrics middleware", lambda fn, path, src: "container/metrics.py" in path or "prometheus_client" in path),
    ("app code (routes, service)", lambda fn, path, src: "container/app.py" in path or "inference/" in path),
    ("thread-pool hop (sync dependency via anyio)", lambda fn, path, src: "anyio" in path),
    ("FastAPI / Starlette", lambda fn, path, src: "fastapi" in path or "starlette" in path),
    (
        "uvicorn, HTTP parsing, event loop",
        lambda fn, path, src: any(k in path for k in ("uvicorn", "httptools", "asyncio", "uvloop", "libuv")),
    ),
)
OTHER = "other (interpreter, threads, logging, ...)"
IDLE = "idle (waiting)"
# Native functions a thread sits in while it waits (locks, queues, the event loop's poll, pipes): not CPU work.
WAITS = frozenset(
    {
        "PyThread_acquire_lock_timed",
        "pthread_cond_timedwait",
        "pthread_cond_wait",
        "take_gil",
        "epoll_wait",
        "epoll_pwait",
        "select",
        "poll",
        "sem_wait",
        "sem_timedwait",
        "do_futex_wait",
        "clock_nanosleep",
        "nanosleep",
        "Connection._recv",
    }
)


@dataclass
class ProfileConfig:
    """What ``python -m loadtest profile`` was asked to do."""

    target: str
    out_dir: Path
    rps: float = 100.0
    duration_s: float = 20.0
    rate_hz: int = 200
    budget_ms: float = 100.0
    texts: str = "reviews"
    local: LocalOptions = field(default_factory=LocalOptions)


def py_spy_binary() -> str:
    """The ``py-spy`` executable (next to this interpreter or on PATH), or a clear error."""
    import sys

    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.is_file() else shutil.which("py-spy")
    if not found:
        raise CapacityError("py-spy not found: install it with `pip install py-spy` (PyPI package py-spy)")
    return found


def parse_frame(frame: str) -> tuple[str, str, int | None]:
    """``function (file:line)`` as ``(function, file, line)``."""
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip(), "", None
    line = match.group("line")
    return match.group("function"), match.group("file"), int(line) if line else None


def component_of(stack: list[str]) -> str:
    """``IDLE`` when the stack waits; else the component of its innermost frame that belongs to one."""
    if any(parse_frame(frame)[0] in WAITS for frame in stack):
        return IDLE
    for frame in reversed(stack):
        function, path, line = parse_frame(frame)
        source = linecache.getline(path, line).strip() if path and line else ""
        for name, test in COMPONENTS:
            if test(function, path.replace("\\", "/"), source):
                return name
    return OTHER


def breakdown(raw: str) -> Counter[str]:
    """Samples per component from py-spy's raw (collapsed) output: ``frame;frame;... count`` per line."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not stack_text or not count.isdigit():
            continue
        frames = [frame for frame in stack_text.split(";") if not frame.startswith("process ")]
        counts[component_of(frames)] += int(count)
    return counts


def per_request_table(counts: Counter[str], cpu_ms_per_request: float | None) -> list[dict[str, Any]]:
    """Rows ``{"component", "samples", "share", "cpu_ms_per_request"}`` of the busy samples, largest first."""
    busy = Counter({name: samples for name, samples in counts.items() if name != IDLE})
    total = sum(busy.values())
    rows = []
    for name, samples in busy.most_common():
        share = samples / total if total else 0.0
        rows.append(
            {
                "component": name,
                "samples": samples,
                "share": round(share, 4),
                "cpu_ms_per_request": None if cpu_ms_per_request is None else round(share * cpu_ms_per_request, 3),
            }
        )
    return rows


def _plot(rows: list[dict[str, Any]], title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = [row["cpu_ms_per_request"] if row["cpu_ms_per_request"] is not None else row["share"] for row in rows]
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    axes.barh([row["component"] for row in rows][::-1], values[::-1])
    axes.set_xlabel("server CPU ms per request" if rows and rows[0]["cpu_ms_per_request"] is not None else "share")
    axes.set_title(title)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def profile(config: ProfileConfig) -> dict[str, Any]:
    """Load the target, sample it with py-spy, and write the per-request breakdown."""
    if config.target in IMAGE_TARGETS:
        raise CapacityError(
            f"profile --target {config.target}: py-spy samples this machine's processes and finds no interpreter "
            "in the image targets' containers; profile local-container or local-lambda"
        )
    wrk = wrk_binary()
    spy = py_spy_binary()
    config.out_dir.mkdir(parents=True, exist_ok=True)
    config.local.log_dir = config.out_dir / "logs"
    bodies = write_bodies(config.out_dir / "wrk_bodies.jsonl", config.texts)
    raw_path = config.out_dir / "pyspy.txt"
    seconds = max(1, round(config.duration_s))
    with running_target(config.target, config.local) as target:
        if target.process is None:
            raise CapacityError(
                "profile needs a process target (local-container, local-lambda, baseline): py-spy samples this "
                "machine's processes; it finds no interpreter in the image targets' containers"
            )
        pid = target.process.pid
        run_wrk_step(wrk, target.url, bodies, config.rps, 2, config.budget_ms)  # warm-up
        cpu_before = target.server_cpu_seconds()
        spy_command = [
            spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--full-filenames",
            "--native",
        ]
        spy_command += [
            "--rate",
            str(config.rate_hz),
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "-o",
            str(raw_path),
        ]
        sampler = subprocess.Popen(spy_command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            time.sleep(0.5)
            step = run_wrk_step(wrk, target.url, bodies, config.rps, seconds, config.budget_ms)
            cpu_after = target.server_cpu_seconds()
            spy_output = sampler.communicate(timeout=seconds + 30)[0].decode("utf-8", "replace")
        except BaseException:
            stop_process(sampler, group=False)
            raise
        label = target.label()
    if sampler.returncode != 0 or not raw_path.is_file():
        raise CapacityError(f"py-spy failed (status {sampler.returncode}): {spy_output.strip()[-600:]}")
    counts = breakdown(raw_path.read_text())
    cpu_s = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    cpu_ms = 1000 * cpu_s / step["requests"] if cpu_s is not None and step["requests"] else None
    rows = per_request_table(counts, cpu_ms)
    result = {
        "target": config.target,
        "label": label,
        "offered_rps": config.rps,
        "achieved_rps": step["achieved_rps"],
        "requests": step["requests"],
        "failures": step["failures"],
        "latency_ms": {"p50": step["p50_ms"], "p95": step["p95_ms"], "p99": step["p99_ms"]},
        "server_cpu_seconds": None if cpu_s is None else round(cpu_s, 3),
        "server_cpu_ms_per_request": None if cpu_ms is None else round(cpu_ms, 3),
        "samples": sum(counts.values()),
        "idle_samples": counts.get(IDLE, 0),
        "sample_rate_hz": config.rate_hz,
        "components": rows,
        "request": f"POST /predict, one text each, the {config.texts!r} text set in turn",
        "machine": machine_block(),
    }
    (config.out_dir / "profile.json").write_text(json.dumps(result, indent=2) + "\n")
    title = f"{label}: server CPU per request at {step['achieved_rps']:.0f} RPS"
    _plot(rows, title, config.out_dir / "profile.png")
    lines = [
        f"# Where the server's time goes: {label}",
        "",
        f"{step['requests']} requests (`POST /predict`, text set `{config.texts}`) at {step['achieved_rps']:.1f} RPS, "
        f"{step['failures']} failures; p50 {step['p50_ms']:.1f} ms, p99 {step['p99_ms']:.1f} ms. Server CPU "
        + ("unknown" if cpu_ms is None else f"{cpu_s:.2f} s = {cpu_ms:.2f} ms per request")
        + f"; {sum(counts.values())} py-spy samples at {config.rate_hz} Hz ({counts.get(IDLE, 0)} idle, left out).",
        "",
        "| component | samples | share | CPU ms per request |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {row['component']} | {row['samples']} | {100 * row['share']:.1f} % | "
            + ("–" if row["cpu_ms_per_request"] is None else f"{row['cpu_ms_per_request']:.3f}")
            + " |"
            for row in rows
        ),
        "",
        "![breakdown](profile.png)",
        "",
    ]
    (config.out_dir / "profile.md").write_text("\n".join(lines))
    return result
