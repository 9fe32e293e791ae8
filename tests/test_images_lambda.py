"""The Lambda image as Lambda runs it: under AWS's Runtime Interface Emulator (mounted from the SAM CLI
wheel, as ``sam local`` does), limited to the template's ``MemorySize`` and its CPU share, with a
read-only root; and built and invoked by ``sam build`` / ``sam local invoke`` for the host's architecture.

Run by ``make test-images`` (marker ``images``) on the image ``make images`` built.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from functions.apigw import LocalLambdaContext
from loadtest.shapes import docker_run_flags, lambda_shape
from tests.conftest import HANDLER_MODULES
from tests.docker_support import (
    EMULATED,
    EMULATED_CPU,
    IMAGE_ARCH,
    IMAGE_PLATFORM,
    INVOKE_PATH,
    REPO_ROOT,
    Container,
    broken_image,
    docker,
    image_tag,
    require_image,
    rie_binary,
    running,
)
from tests.test_lambda_contract import CASES, Case

pytestmark = pytest.mark.images

EVENTS = sorted((REPO_ROOT / "events").glob("*.json"))
SAM = REPO_ROOT / ".venv-sam" / "bin" / "sam"
HOST_ARCHITECTURE = {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "x86_64")
ARCHITECTURE_OVERRIDE = f"Architecture={HOST_ARCHITECTURE}"


@pytest.fixture(scope="module")
def image() -> str:
    return require_image(image_tag("LAMBDA_TAG"))


def rie_flags() -> list[str]:
    """The template's memory and CPU share, a read-only root, and the RIE mounted as the entry point."""
    shape = lambda_shape()
    return [
        *docker_run_flags(shape),
        "-e",
        f"AWS_LAMBDA_FUNCTION_MEMORY_SIZE={shape.memory_mb}",
        "-e",
        "POWERTOOLS_TRACE_DISABLED=true",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "-v",
        f"{rie_binary()}:/aws-lambda/aws-lambda-rie:ro",
        "--entrypoint",
        "/aws-lambda/aws-lambda-rie",
    ]


# Under emulation (another PLATFORM), one entry point is enough.
@pytest.fixture(scope="module", params=["powertools"] if EMULATED else sorted(HANDLER_MODULES))
def environment(request, image: str) -> Iterator[tuple[str, Container]]:
    """One execution environment of the image for one entry point, answering the Invoke API."""
    handler = f"{HANDLER_MODULES[request.param]}.lambda_handler"
    with running(image, *rie_flags(), command=("/lambda-entrypoint.sh", handler)) as container:
        yield request.param, container


def invoke(container: Container, event: dict[str, Any]) -> dict[str, Any]:
    """One invocation through the RIE's Invoke API; until the emulator listens in a container just started
    (slow under QEMU), Docker's port forward resets the connection, and the request is sent again."""
    deadline = time.monotonic() + 120
    while True:
        try:
            response = httpx.post(container.url + INVOKE_PATH, json=event, timeout=120)
            break
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
            if time.monotonic() > deadline or not container.state().get("Running"):
                raise
            time.sleep(0.25)
    assert response.status_code == 200, response.text
    return response.json()


def comparable(response: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """Status, JSON body without timings, and headers (lower-cased, without the length, which the timings
    change) of a Lambda response."""
    body = json.loads(response["body"]) if response.get("body") else None
    # Timings differ between two runs; under emulation confidences too (another architecture's int8
    # kernels), while the labels must agree.
    dropped = ("processing_time_ms", "confidence") if EMULATED else ("processing_time_ms",)
    if isinstance(body, dict):
        for prediction in [body, *body.get("predictions", [])]:
            for key in dropped:
                prediction.pop(key, None)
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items() if k.lower() != "content-length"}
    return response["statusCode"], body, headers


# Lambda refuses an invocation payload over 6 MB (API Gateway answers 413 before the function is called),
# so a request whose event is bigger cannot reach the handler through the Invoke API.
INVOKE_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024
INVOCABLE = [case for case in CASES if len(json.dumps(case.event())) <= INVOKE_PAYLOAD_LIMIT_BYTES]


def test_only_events_over_lambdas_payload_limit_are_left_out() -> None:
    left_out = [case.name for case in CASES if case not in INVOCABLE]
    assert all(len(json.dumps(c.event())) > INVOKE_PAYLOAD_LIMIT_BYTES for c in CASES if c.name in left_out)
    assert len(left_out) < len(CASES) // 10, left_out


@pytest.mark.emulated
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize("case", INVOCABLE, ids=[case.name for case in INVOCABLE])
def test_image_answers_the_contract_as_the_handler_does(
    environment: tuple[str, Container], handlers: dict[str, ModuleType], case: Case
) -> None:
    name, container = environment
    expected = handlers[name].lambda_handler(case.event(), LocalLambdaContext())
    assert comparable(invoke(container, case.event())) == comparable(expected)


def test_image_reports_its_init(environment: tuple[str, Container]) -> None:
    _, container = environment
    invoke(container, json.loads((REPO_ROOT / "events" / "health.json").read_text()))
    found = re.findall(r'"init_ms":\s*([0-9.]+)', container.logs())
    assert found and float(found[0]) > 0, container.logs()[-2000:]
    print(f"init in the image: {found[0]} ms")


def test_broken_baked_model_fails_init_naming_the_file(image: str) -> None:
    tag = broken_image(image, "sentiment-api-lambda:broken-model-test")
    try:
        command = ("/lambda-entrypoint.sh", "functions.handler.lambda_handler")
        with running(tag, *rie_flags(), command=command) as container:
            response = httpx.post(container.url + INVOKE_PATH, json={}, timeout=120)
            logs = container.logs()
        assert "errorMessage" in response.text or response.status_code != 200, response.text
        assert "/opt/ml/model/model.onnx" in response.text + logs, logs[-2000:]
    finally:
        docker("rmi", "-f", tag, check=False)


@pytest.fixture(scope="module")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sam build`` of template.yaml for the host's architecture; the built template."""
    assert SAM.exists(), "sam comes from .venv-sam: run make .venv-sam/bin/sam"
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    done = subprocess.run(
        [str(SAM), "build", "--build-dir", str(build_dir), "--parameter-overrides", ARCHITECTURE_OVERRIDE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=sam_environment(),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return build_dir / "template.yaml"


def sam_environment() -> dict[str, str]:
    """The caller's environment, with SAM's telemetry off and Docker's classic builder."""
    return {**os.environ, "SAM_CLI_TELEMETRY": "0", "DOCKER_BUILDKIT": "0"}


def expected_status(event_file: Path, handlers: dict[str, ModuleType]) -> int:
    """What the handler in this process answers to the event file."""
    return handlers["powertools"].lambda_handler(json.loads(event_file.read_text()), LocalLambdaContext())["statusCode"]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize("handler", sorted(HANDLER_MODULES.values()))
@pytest.mark.parametrize("event_file", EVENTS, ids=[path.stem for path in EVENTS])
def test_sam_local_invoke_answers_every_event(
    sam_build: Path, handlers: dict[str, ModuleType], event_file: Path, handler: str
) -> None:
    overrides = f"{ARCHITECTURE_OVERRIDE} Handler={handler}.lambda_handler"
    command = [str(SAM), "local", "invoke", "--template", str(sam_build), "--event", str(event_file)]
    done = subprocess.run(
        [*command, "--parameter-overrides", overrides],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=sam_environment(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    response = json.loads(done.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == expected_status(event_file, handlers), response
    # The cold environment's init, as the handler measured and logged it.
    assert re.search(r'"init_ms":\s*[0-9.]+', done.stderr), done.stderr[-2000:]


@pytest.mark.emulated
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.skipif(not EMULATED, reason="for another PLATFORM only: make test-images PLATFORM=linux/arm64")
def test_sam_local_invoke_with_the_templates_own_architecture(
    tmp_path: Path, handlers: dict[str, ModuleType], image: str
) -> None:
    """``sam build`` and ``sam local invoke`` of template.yaml as it is (Architecture arm64) under QEMU.

    Two changes to the template: the Dockerfile's BASE_IMAGE build argument, set to the arm64 base `make images`
    used (a stand-in has the official name only on the host's architecture), and ``QEMU_CPU`` among the
    function's variables (SAM passes the container no other variable: Graviton2's core, as the other emulated
    tests run). ``Timeout`` is raised to the template's maximum with a parameter: ``sam local`` counts the
    lazy init in the invoke, and under emulation that init alone took 4.6 s of the 10 s default on a quiet
    machine."""
    from infra.cfn import load_template

    template = load_template(REPO_ROOT / "template.yaml")
    assert template["Parameters"]["Architecture"]["Default"] == IMAGE_ARCH, "the template's default is another arch"
    official = re.search(r"^ARG BASE_IMAGE=(\S+)", (REPO_ROOT / "functions" / "Dockerfile").read_text(), re.MULTILINE)
    assert official, "functions/Dockerfile names no BASE_IMAGE"
    build_args = f"      DockerBuildArgs:\n        BASE_IMAGE: {official.group(1)}-{IMAGE_ARCH}\n"
    variables = "      Environment:\n        Variables:\n"
    original = (REPO_ROOT / "template.yaml").read_text()
    assert original.count(variables) == 1, "template.yaml's function variables moved"
    derived = original.replace("      DockerContext: .\n", f"      DockerContext: {REPO_ROOT}\n{build_args}").replace(
        variables, f"{variables}          QEMU_CPU: {EMULATED_CPU}\n"
    )
    assert derived.count(build_args) == 1, "template.yaml's DockerContext moved"
    (tmp_path / "template.yaml").write_text(derived)
    build_dir = tmp_path / "build"
    built = subprocess.run(
        [str(SAM), "build", "--template", str(tmp_path / "template.yaml"), "--build-dir", str(build_dir)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800, check=False, env=sam_environment(),
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    event_file = REPO_ROOT / "events" / "predict.json"
    longest = template["Parameters"]["Timeout"]["MaxValue"]
    command = [str(SAM), "local", "invoke", "--template", str(build_dir / "template.yaml"), "--event", str(event_file),
               "--parameter-overrides", f"Timeout={longest}"]  # fmt: skip
    for attempt in (1, 2):
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
                              env=sam_environment())  # fmt: skip
        # In 2 of 5 clean-clone CI runs the emulated runtime gave no answer within the 29 s timeout, where this
        # whole test takes about 12 s otherwise and the same image answers every other emulated test: QEMU's
        # stall, not the function's. So one more invoke, once, with a warning; a wrong answer or a second
        # silence still fails.
        if attempt == 1 and not done.stdout.strip() and "timed out after" in done.stderr:
            warnings.warn(f"sam local invoke under QEMU timed out once, again: {done.stderr[-300:]}", stacklevel=1)
            continue
        break
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip(), f"sam local invoke printed no response: {done.stderr[-3000:]}"
    response = json.loads(done.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == expected_status(event_file, handlers) == 200, response
    assert json.loads(response["body"])["sentiment"] == "POSITIVE", IMAGE_PLATFORM
