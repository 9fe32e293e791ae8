"""Cold start of the Lambda image: a fresh container per run under AWS's Runtime Interface Emulator.

Each run starts a new container of the image (``make images``) with the template's ``MemorySize`` and its
CPU share (``MemorySize / 1769`` vCPUs), a read-only root and the RIE from the SAM CLI wheel mounted as its
entry point, as ``sam local`` does, then sends one invocation. The run's phases, in the fields the process
benchmark uses:

- ``interpreter``: from ``docker run`` to the invocation reaching the RIE (container start), measured here;
- ``imports``: the RIE's ``INIT REPORT`` minus the model load: runtime client, interpreter and imports;
- ``model_load``: the handler's own ``model_load_ms`` (verify, load, warm-up);
- ``first_invocation``: the RIE's ``REPORT`` duration minus its init (it inits on the first invoke).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import httpx

from loadtest.environments import lambda_container_flags
from loadtest.lambda_emulator import INIT_REPORT, free_port, rie_binary
from loadtest.shapes import lambda_shape

INVOKE_PATH = "/2015-03-31/functions/function/invocations"
REPORT_DURATION = re.compile(r"REPORT RequestId: \S+\s+Init Duration: [0-9.]+ ms\s+Duration: ([0-9.]+) ms")
MODEL_LOAD = re.compile(r'"model_load_ms":\s*([0-9.]+)')


class ImageBenchError(Exception):
    """A container run that did not produce a measurement."""


def docker_available(image: str) -> str | None:
    """Why the image variants cannot run (no Docker, no daemon, no image), or None when they can."""
    try:
        found = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=30, check=False)
    except FileNotFoundError:
        return "docker is not installed"
    if found.returncode != 0:
        return f"no image {image} (make images) or no Docker daemon: {found.stderr.decode().strip()[:200]}"
    return None


def run_flags(port: int) -> list[str]:
    """The Lambda shape, a read-only root, the RIE as entry point: the load test's environment flags."""
    shape = lambda_shape()
    variables = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(shape.memory_mb), "POWERTOOLS_TRACE_DISABLED": "true"}
    return lambda_container_flags(shape, port, rie_binary(), variables)


def measure_image_once(image: str, handler: str, event_path: Path, timeout: float = 120) -> dict[str, float | int]:
    """One fresh container: seconds per phase (see the module's docstring), total, and the status."""
    name = f"coldstart-{uuid.uuid4().hex[:8]}"
    port = free_port()
    event = json.loads(event_path.read_text())
    flags = run_flags(port)
    command = ["docker", "run", "-d", "--name", name, *flags, image, "/lambda-entrypoint.sh", handler]
    spawned = time.monotonic()
    try:
        subprocess.run(command, capture_output=True, check=True, timeout=timeout)
        response = _first_invoke(port, event, spawned + timeout)
        answered = time.monotonic()
        logs = _logs_with(name, REPORT_DURATION, deadline=answered + 5)
    except subprocess.CalledProcessError as error:
        raise ImageBenchError(f"docker run failed: {error.stderr.decode().strip()[:300]}") from None
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False, timeout=60)
    init_ms, duration_ms, load_ms = (_number(pattern, logs) for pattern in (INIT_REPORT, REPORT_DURATION, MODEL_LOAD))
    total = answered - spawned
    return {
        "interpreter": total - duration_ms / 1000,
        "imports": (init_ms - load_ms) / 1000,
        "model_load": load_ms / 1000,
        "first_invocation": (duration_ms - init_ms) / 1000,
        "total": total,
        "status": int(response.get("statusCode", 0)),
        "sentiment": json.loads(response.get("body") or "{}").get("sentiment"),
    }


def _first_invoke(port: int, event: dict, deadline: float) -> dict:
    """The first invocation, sent as soon as the RIE accepts it."""
    url = f"http://127.0.0.1:{port}{INVOKE_PATH}"
    while True:
        try:
            return httpx.post(url, json=event, timeout=max(1.0, deadline - time.monotonic())).json()
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
            if time.monotonic() > deadline:
                raise ImageBenchError(f"the RIE on port {port} never answered") from None
            time.sleep(0.01)


def _logs_with(name: str, pattern: re.Pattern[str], deadline: float) -> str:
    """The container's logs once ``pattern`` is in them (the RIE writes its REPORT after the response)."""
    while True:
        done = subprocess.run(["docker", "logs", name], capture_output=True, text=True, check=False, timeout=30)
        logs = done.stdout + done.stderr
        if pattern.search(logs) or time.monotonic() > deadline:
            return logs
        time.sleep(0.05)


def _number(pattern: re.Pattern[str], logs: str) -> float:
    """The first number ``pattern`` captures in the logs."""
    found = pattern.search(logs)
    if not found:
        raise ImageBenchError(f"no {pattern.pattern!r} in the container's logs:\n{logs[-1500:]}")
    return float(found.group(1))
