"""The image targets: what is deployed, in the shape it is deployed in, on 127.0.0.1.

- ``image-container``: the service image (``make images``: ``sentiment-api:local``) with the Copilot task's CPUs,
  memory and environment (``loadtest.shapes.fargate_shape``; ``--shape eks``: the EKS pod's), a read-only root
  with a ``/tmp`` tmpfs, its port published on 127.0.0.1 only;
- ``image-lambda``: the Lambda emulation's pool (``loadtest.lambda_emulator``) with every execution environment
  a container of the Lambda image (``sentiment-api-lambda:local``) limited to the template's ``MemorySize`` and
  its CPU share (``lambda_shape``), under AWS's RIE mounted from ``.venv-sam``.

Both serve the model baked into the image. Docker, its daemon or an image missing is a ``TargetError`` naming
which (and ``make images``). Every container started here is removed when the target stops.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inference.settings import BUNDLED_MODEL_DIR, REPO_ROOT
from loadtest.docker_cli import (
    DockerError,
    container_cpu_seconds,
    container_cpu_throttling,
    container_memory_mb,
    docker,
    docker_run_name_prefix,
    require_image,
)
from loadtest.shapes import Shape, ShapeError, docker_run_flags, eks_shape, fargate_shape, lambda_shape
from loadtest.targets import STARTUP_TIMEOUT_S, LocalOptions, Target, TargetError, free_port, start_lambda

IMAGES_SCRIPT = REPO_ROOT / "scripts" / "images.sh"
CONTAINER_SHAPES = {"fargate": fargate_shape, "eks": eks_shape}
HARDENING = ("--read-only", "--tmpfs", "/tmp")
BAKED_MODEL_MANIFEST = "/opt/ml/model/manifest.json"
# What the service process in the container runs with, as its own settings resolve it.
SETTINGS_PROBE = (
    "import json; from inference.settings import Settings; s = Settings(); "
    "print(json.dumps({'workers': s.web_concurrency, 'inference_threads': s.inference_threads, "
    "'micro_batch_max_size': s.micro_batch_max_size, 'model_dir': str(s.model_dir)}))"
)


def image_tag(variable: str, script: Path = IMAGES_SCRIPT) -> str:
    """The tag ``scripts/images.sh`` gives an image on this machine's architecture (``CONTAINER_TAG``, ...)."""
    found = re.search(rf"^{variable}=(\S+?)\$SUFFIX$", script.read_text(encoding="utf-8"), flags=re.MULTILINE)
    if not found:
        raise TargetError(f"{script}: sets no {variable}; the image targets take their image tags from it")
    return found.group(1)


def _image(tag: str) -> dict[str, Any]:
    try:
        inspected = require_image(tag)
    except DockerError as error:
        raise TargetError(str(error)) from None
    return {"image": tag, "image_id": inspected.get("Id"), "architecture": inspected.get("Architecture")}


def _refuse_other_model(options: LocalOptions, target: str) -> None:
    if options.model_dir.resolve() != BUNDLED_MODEL_DIR.resolve():
        raise TargetError(
            f"{target} serves the model baked into the image; --model {options.model_dir} does not apply "
            "(bake another model by changing the Dockerfile, then make images)"
        )


def _baked_model(image: str) -> dict[str, Any]:
    """The baked model's manifest name and version, read from the image itself."""
    done = docker("run", "--rm", "--network", "none", "--entrypoint", "cat", image, BAKED_MODEL_MANIFEST, check=False)
    info: dict[str, Any] = {"dir": f"{BAKED_MODEL_MANIFEST.rsplit('/', 1)[0]} in {image}", "bundled": True}
    try:
        manifest = json.loads(done.stdout)
        info.update(name=manifest.get("name"), version=manifest.get("version"))
    except json.JSONDecodeError:
        info["bundled"] = False
    return info


def container_shape(name: str | None) -> Shape:
    """The deployed shape ``name`` (``fargate``, the default, or ``eks``) read from its deployment file."""
    key = name or "fargate"
    if key not in CONTAINER_SHAPES:
        raise TargetError(f"--shape {key!r}: image-container runs in one of {', '.join(CONTAINER_SHAPES)}")
    try:
        return CONTAINER_SHAPES[key]()
    except ShapeError as error:
        raise TargetError(str(error)) from None


def shape_block(shape: Shape, image: dict[str, Any], workers: int | None, **extra: Any) -> dict[str, Any]:
    """What ``summary.json`` records of the shape: CPUs, memory, workers, environment, image and source file."""
    return {**shape.as_dict(), "workers": workers, **image, **extra}


def _logs(name: str) -> str:
    done = docker("logs", "--tail", "40", name, check=False)
    return (done.stdout + done.stderr).strip()[-1500:]


def _wait_healthy(url: str, name: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        running = docker("inspect", "--format", "{{.State.Running}}", name, check=False).stdout.strip()
        if running != "true":
            raise TargetError(f"container {name} exited before /health answered: {_logs(name)}")
        time.sleep(0.25)
    raise TargetError(f"container {name} not healthy after {timeout_s:.0f} s: {_logs(name)}")


def container_resident_bytes(container_id: str) -> int | None:
    """The container's resident memory (its cgroup's anonymous + RSS pages), in bytes."""
    mb = container_memory_mb(container_id)
    return None if mb is None else int(mb * 2**20)


def server_cpus(name: str) -> set[int] | None:
    """The CPUs the container's server process (PID 1) may run on, as its ``Cpus_allowed_list`` says."""
    status = docker("exec", name, "cat", "/proc/1/status", check=False).stdout
    listed = next((line.split()[1] for line in status.splitlines() if line.startswith("Cpus_allowed_list")), None)
    if listed is None:
        return None
    cpus: set[int] = set()
    for part in listed.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def keep_off(cpus: set[int] | None) -> tuple[set[int] | None, Callable[[], None]]:
    """Move this process (and the load generator it starts) off ``cpus``, where the server pinned itself, as a
    client on another machine would be; returns the CPUs it now runs on and how to undo it."""
    before = os.sched_getaffinity(0)
    rest = before - (cpus or set())
    if not cpus or not rest or rest == before:
        return None, lambda: None
    os.sched_setaffinity(0, rest)
    return rest, lambda: os.sched_setaffinity(0, before)


def start_image_container(options: LocalOptions) -> Target:
    """The service image in the Fargate task's (or ``--shape eks``: the pod's) shape, healthy on 127.0.0.1."""
    _refuse_other_model(options, "image-container")
    shape = container_shape(options.shape)
    image = _image(options.image or image_tag("CONTAINER_TAG"))
    port = free_port()
    name = f"{docker_run_name_prefix()}-container-{uuid.uuid4().hex[:8]}"
    flags = [*HARDENING, *docker_run_flags(shape), "-p", f"127.0.0.1:{port}:8080"]
    try:
        container_id = docker("run", "-d", "--name", name, *flags, image["image"]).stdout.strip()
    except DockerError as error:
        raise TargetError(str(error)) from None

    undo_keep_off = lambda: None  # noqa: E731 (replaced once the server's CPUs are known)

    def remove() -> None:
        undo_keep_off()
        if options.log_dir:
            (options.log_dir / "container.log").write_text(docker("logs", name, check=False).stdout)
        docker("rm", "-f", name, check=False)

    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, name, STARTUP_TIMEOUT_S)
        settings = json.loads(docker("exec", name, "python", "-c", SETTINGS_PROBE).stdout)
        model = _baked_model(image["image"])
        pinned = server_cpus(name)
    except (TargetError, DockerError, json.JSONDecodeError) as error:
        remove()
        raise TargetError(str(error)) from None
    generator_cpus, undo_keep_off = keep_off(pinned)
    workers = int(settings["workers"])
    server = {
        "cpus": shape.cpus,
        "workers": workers,
        "memory_mb": shape.memory_mb,
        "shape": shape_block(shape, image, workers, inference_threads=settings["inference_threads"]),
        "container": {"name": name, "flags": flags, "settings": settings},
        "server_cpus": sorted(pinned) if pinned else None,
        "load_generator_cpus": sorted(generator_cpus) if generator_cpus else None,
    }
    return Target(
        "image-container",
        url,
        server,
        False,
        model,
        cleanup=remove,
        cpu_reader=lambda: container_cpu_seconds(container_id),
        rss_reader=lambda: container_resident_bytes(container_id),
        throttling_reader=lambda: container_cpu_throttling(container_id),
    )


def start_image_lambda(options: LocalOptions) -> Target:
    """The Lambda emulation's pool with every environment a container of the Lambda image in its shape."""
    _refuse_other_model(options, "image-lambda")
    try:
        shape = lambda_shape()
    except ShapeError as error:
        raise TargetError(str(error)) from None
    image = _image(options.image or image_tag("LAMBDA_TAG"))
    model = _baked_model(image["image"])
    target = start_lambda(options, name="image-lambda", image=image["image"], shape=shape)
    target.model = model
    target.server["shape"] = shape_block(
        shape, image, options.lambda_concurrency, per="execution environment", environment_kind="container"
    )
    target.cpu_reader = lambda: None  # the environments are containers, not children of the emulator
    return target


STARTERS = {"image-container": start_image_container, "image-lambda": start_image_lambda}
