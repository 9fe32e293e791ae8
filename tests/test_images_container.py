"""The container image as Copilot (Fargate) and EKS run it: the task's or the pod's CPUs and memory read
from the deployment files, a read-only root with a /tmp tmpfs, the Dockerfile's non-root user.

Run by ``make test-images`` (marker ``images``) on the image ``make images`` built.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from inference.batcher import MODEL_THREAD_NICENESS
from loadtest.shapes import docker_run_flags, eks_shape, fargate_shape
from tests.docker_support import (
    EMULATED,
    Container,
    broken_image,
    docker,
    image_tag,
    require_image,
    running,
    wait_for_exit,
    wait_until_ready,
)
from tests.test_lambda_contract import CASES, Case, container_answer

pytestmark = pytest.mark.images

# ECS sends SIGKILL this long after SIGTERM unless the task definition sets stopTimeout (Copilot does not).
ECS_STOP_TIMEOUT_S = 30
SHAPES = {"fargate": fargate_shape, "eks": eks_shape}
HARDENING = ("--read-only", "--tmpfs", "/tmp")


@pytest.fixture(scope="module")
def image() -> str:
    return require_image(image_tag("CONTAINER_TAG"))


# Under emulation (another PLATFORM), one shape is enough: the contract, not the shapes, is in question there.
@pytest.fixture(scope="module", params=["fargate"] if EMULATED else sorted(SHAPES))
def served(request, image: str) -> Iterator[Container]:
    """The image in one deployment's shape, answering on 127.0.0.1."""
    with running(image, *HARDENING, *docker_run_flags(SHAPES[request.param]())) as container:
        wait_until_ready(container)
        yield container


@pytest.fixture(scope="module")
def reference(lambda_model_dir: Path) -> Iterator[Any]:
    """The FastAPI app in this process, on the same model: what the image must answer."""
    from fastapi.testclient import TestClient

    from container.app import create_app
    from inference.settings import Settings

    with TestClient(create_app(Settings(model_dir=lambda_model_dir))) as client:
        yield client


def without_timings(answer: Any) -> Any:
    """An answer with its processing times removed (they differ between two runs), and under emulation its
    confidences too: another architecture's int8 kernels give slightly different probabilities (the labels
    must still agree)."""
    dropped = {"processing_time_ms", "confidence"} if EMULATED else {"processing_time_ms"}
    if isinstance(answer, dict):
        return {k: without_timings(v) for k, v in answer.items() if k not in dropped}
    if isinstance(answer, list):
        return [without_timings(item) for item in answer]
    return answer


@pytest.mark.emulated
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_image_answers_the_contract_as_the_app_does(served: Container, reference: Any, case: Case) -> None:
    content = case.body.encode() if isinstance(case.body, str) else case.body
    answer = httpx.request(case.method, served.url + case.path, content=content, headers=case.headers, timeout=30)
    expected = container_answer(reference, case)
    assert answer.status_code == expected.status_code == case.status, answer.text
    assert answer.headers.get("allow") == expected.headers.get("allow")
    if case.method != "HEAD":
        assert answer.headers["content-type"] == "application/json"
        assert without_timings(answer.json()) == without_timings(expected.json())


def test_image_serves_metrics(served: Container) -> None:
    httpx.post(served.url + "/predict", json={"text": "fine"}, timeout=30).raise_for_status()
    metrics = httpx.get(served.url + "/metrics", timeout=10)
    assert metrics.status_code == 200 and "text/plain" in metrics.headers["content-type"]
    assert 'predictions_total{sentiment="POSITIVE"}' in metrics.text, metrics.text[:500]


def test_image_runs_as_the_dockerfiles_non_root_user(served: Container, image: str) -> None:
    user = docker("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
    assert user and not user.startswith(("0", "root")), f"the image runs as {user!r}"
    uid = docker("exec", served.id, "python", "-c", "import os; print(os.getuid())").stdout.strip()
    assert uid == user.split(":")[0]
    # The root file system is read-only; /tmp is the one writable place.
    probe = "import pathlib; pathlib.Path('/app/x').write_text('x')"
    assert docker("exec", served.id, "python", "-c", probe, check=False).returncode != 0


def test_the_deployed_shapes_run_no_health_command_in_the_container(served: Container) -> None:
    """Neither ECS nor Kubernetes runs the image's ``HEALTHCHECK``, and the deployment files add none: nor does the
    container run in their shape (a Python process every 15 s would be charged to the server's CPU quota)."""
    assert served.state().get("Health") is None, served.state().get("Health")


def test_healthcheck_reaches_healthy(image: str) -> None:
    """``docker run`` as it is, as a Docker user runs the image: its ``HEALTHCHECK`` reaches healthy."""
    with running(image, *HARDENING, "--health-interval", "1s", "--health-start-period", "0s") as container:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and container.state().get("Health", {}).get("Status") != "healthy":
            time.sleep(0.5)
        health = container.state().get("Health", {})
    assert health.get("Status") == "healthy", health


# The server's threads as /proc lists them, with each one's CPU affinity and nice value (stat field 19).
THREADS_PROBE = """
import pathlib
for task in sorted(pathlib.Path("/proc/1/task").iterdir(), key=lambda task: int(task.name)):
    name = (task / "comm").read_text().strip()
    cpus = next(l.split()[1] for l in (task / "status").read_text().splitlines() if l.startswith("Cpus_allowed_list"))
    nice = (task / "stat").read_text().rsplit(")", 1)[1].split()[16]
    print(name, cpus, nice)
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the Docker host has one CPU: nothing to pin")
def test_fargate_shape_pins_the_server_to_the_cpu_its_quota_pays_for(image: str) -> None:
    """The Copilot task's ``PIN_CPUS`` under its 1-vCPU quota: every thread on one CPU, the model's below the loop."""
    shape = fargate_shape()
    assert shape.environment.get("PIN_CPUS") == "true" and shape.cpus == 1
    with running(image, *HARDENING, *docker_run_flags(shape)) as container:
        wait_until_ready(container)
        httpx.post(container.url + "/predict", json={"text": "fine"}, timeout=30).raise_for_status()
        lines = docker("exec", container.id, "python", "-c", THREADS_PROBE).stdout.split()
        logs = container.logs()
    threads = [(cpus, int(nice)) for cpus, nice in zip(lines[1::3], lines[2::3], strict=True)]
    (main_cpus, main_nice), others = threads[0], threads[1:]  # /proc/1/task/1 is the main thread: the event loop
    assert {cpus for cpus, _ in threads} == {main_cpus} and main_cpus.isdigit(), threads
    assert f"pinned to CPU {main_cpus}" in logs, logs[-2000:]
    # One thread, the micro-batcher's, runs below the loop's priority.
    assert [nice for _, nice in others if nice > main_nice] == [main_nice + MODEL_THREAD_NICENESS], threads


def test_docker_stop_lets_requests_in_flight_finish(image: str) -> None:
    """SIGTERM with batches in flight: every one answers 200, and the container exits 0 in ECS's timeout."""
    texts = ["A long, slow and thoughtful film that rewards patience with a moving final act."] * 64
    # Room for all eight batches in flight at once: past the default admission bound they would get 429.
    roomy = ("-e", f"MAX_INFLIGHT_TEXTS={8 * len(texts)}")
    with running(image, *HARDENING, *roomy, *docker_run_flags(fargate_shape())) as container:
        wait_until_ready(container)

        def batch(_: int) -> int:
            return httpx.post(container.url + "/predict/batch", json={"texts": texts}, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            in_flight = [pool.submit(batch, n) for n in range(8)]
            time.sleep(0.5)
            stopping = time.monotonic()
            stop = subprocess.Popen(["docker", "stop", "-t", str(ECS_STOP_TIMEOUT_S), container.id])
            statuses = [future.result() for future in in_flight]
            stop.wait(timeout=ECS_STOP_TIMEOUT_S + 30)
        took = time.monotonic() - stopping
        state = wait_for_exit(container)
        assert statuses == [200] * 8, statuses
        assert state["ExitCode"] == 0, container.logs()[-2000:]
        assert took < ECS_STOP_TIMEOUT_S, f"stopped after {took:.1f} s"


def test_broken_baked_model_stops_start_up_naming_the_file(image: str) -> None:
    tag = broken_image(image, "sentiment-api:broken-model-test")
    try:
        with running(tag, *HARDENING) as container:
            state = wait_for_exit(container, timeout=60)
            logs = container.logs()
        assert state["ExitCode"] != 0
        assert "/opt/ml/model/model.onnx" in logs, logs[-2000:]
        assert "Traceback" not in logs, logs[-2000:]
    finally:
        docker("rmi", "-f", tag, check=False)


def test_health_names_the_baked_model(served: Container) -> None:
    manifest = json.loads(
        (Path(__file__).resolve().parent.parent / "models/minilm-l6-sst2-int8/manifest.json").read_text()
    )
    health = httpx.get(served.url + "/health", timeout=10).json()
    assert health["model_name"] == manifest["name"] and health["model_version"] == manifest["version"]
