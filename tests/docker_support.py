"""Helpers of the image tests: the images `make images` built, containers that are always removed, ports.

Every container publishes its port on 127.0.0.1 only (or shares the host's network where it must reach a
server on the host, such as moto), and is removed when its test ends.
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGES_SCRIPT = REPO_ROOT / "scripts" / "images.sh"
RIE_DIR = "samcli/local/rapid"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"

HOST_ARCH = {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "amd64")
# The platform `make test-images PLATFORM=...` built for (default: the host's); another one runs under QEMU
# with Graviton2's core (QEMU's default core advertises SME, which Graviton has not).
IMAGE_PLATFORM = os.environ.get("IMAGE_PLATFORM") or f"linux/{HOST_ARCH}"
IMAGE_ARCH = IMAGE_PLATFORM.removeprefix("linux/")
EMULATED = IMAGE_ARCH != HOST_ARCH
EMULATED_CPU = "neoverse-n1"


def image_tag(variable: str) -> str:
    """The tag ``scripts/images.sh`` gives an image (``CONTAINER_TAG``, ``LAMBDA_TAG``) for IMAGE_PLATFORM."""
    found = re.search(rf"^{variable}=(\S+?)\$SUFFIX$", IMAGES_SCRIPT.read_text(), flags=re.MULTILINE)
    assert found, f"{IMAGES_SCRIPT} sets no {variable}"
    return found.group(1) + (f"-{IMAGE_ARCH}" if EMULATED else "")


def platform_flags() -> list[str]:
    """``docker run`` flags for IMAGE_PLATFORM: none on the host's, the platform and the CPU under QEMU."""
    return ["--platform", IMAGE_PLATFORM, "-e", f"QEMU_CPU={EMULATED_CPU}"] if EMULATED else []


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``docker args...``; a failure shows docker's own message."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} ... failed ({done.returncode}): {done.stderr.strip()}")
    return done


def require_image(tag: str) -> str:
    """``tag``, after checking Docker answers and has the image (``make test-images`` builds it first)."""
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30)
    except FileNotFoundError:
        pytest.fail("the image tests need docker (make test-images; scripts/with-docker.sh installs it)")
    assert info.returncode == 0, f"no Docker daemon answers: {info.stderr.strip()} (scripts/with-docker.sh starts one)"
    assert docker("image", "inspect", tag, check=False).returncode == 0, f"image {tag} missing: run make images"
    return tag


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rie_binary() -> Path:
    """AWS's Runtime Interface Emulator for IMAGE_PLATFORM (it runs inside the container), from .venv-sam."""
    machine = {"amd64": "x86_64"}.get(IMAGE_ARCH, IMAGE_ARCH)
    found = sorted(REPO_ROOT.glob(f".venv-sam/lib/python3*/site-packages/{RIE_DIR}/aws-lambda-rie-{machine}"))
    assert found, "the RIE comes with aws-sam-cli in .venv-sam: run make .venv-sam/bin/sam"
    return found[0]


@dataclass
class Container:
    """A running container: its id and the URL its port is published on."""

    id: str
    url: str

    def logs(self) -> str:
        """Everything the container printed, stdout and stderr."""
        done = docker("logs", self.id, check=False)
        return done.stdout + done.stderr

    def state(self) -> dict:
        """``docker inspect``'s State of the container."""
        return json.loads(docker("inspect", "--format", "{{json .State}}", self.id).stdout)


@contextmanager
def running(image: str, *flags: str, command: tuple[str, ...] = (), port: int | None = None) -> Iterator[Container]:
    """``docker run -d`` with the container port 8080 published on 127.0.0.1 (unless ``port`` is None and
    ``--network host`` is among the flags); the container is removed afterwards, whatever happened."""
    name = f"sentiment-test-{uuid.uuid4().hex[:8]}"
    publish: list[str] = []
    host_port = port
    if "--network" not in flags:
        host_port = free_port()
        publish = ["-p", f"127.0.0.1:{host_port}:8080"]
    started = docker("run", "-d", "--name", name, *publish, *platform_flags(), *flags, image, *command)
    try:
        yield Container(started.stdout.strip(), f"http://127.0.0.1:{host_port}")
    finally:
        docker("rm", "-f", name, check=False)


def wait_until_ready(container: Container, path: str = "/health", timeout: float = 120) -> httpx.Response:
    """Poll ``path`` until it answers 200; fail with the container's logs if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(container.url + path, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        if not container.state().get("Running"):
            pytest.fail(f"container exited before {path} answered:\n{container.logs()[-3000:]}")
        time.sleep(0.25)
    pytest.fail(f"{path} did not answer 200 within {timeout:.0f} s:\n{container.logs()[-3000:]}")


def wait_for_exit(container: Container, timeout: float = 120) -> dict:
    """The container's State once it has stopped; fail if it is still running after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = container.state()
        if not state.get("Running"):
            return state
        time.sleep(0.25)
    pytest.fail(f"container still running after {timeout:.0f} s:\n{container.logs()[-3000:]}")


def broken_image(base: str, tag: str) -> str:
    """``base`` with its baked model's ``model.onnx`` cut to 100 bytes (its manifest then disagrees)."""
    user = docker("image", "inspect", "--format", "{{.Config.User}}", base).stdout.strip() or "root"
    dockerfile = f"FROM {base}\nUSER root\nRUN truncate -s 100 /opt/ml/model/model.onnx\nUSER {user}\n"
    done = subprocess.run(
        ["docker", "build", "-q", "--platform", IMAGE_PLATFORM, "-t", tag, "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin"},
    )
    assert done.returncode == 0, done.stderr
    return tag
