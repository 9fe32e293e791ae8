"""The Docker CLI as the image targets use it: is it there, is the image built, a container's CPU and memory.

CPU seconds, CPU-quota throttling and memory come from the container's cgroup (v1 ``cpuacct``/``cpu``/``memory``
or v2 ``cpu.stat``/``memory.stat``, as Docker's cgroupfs or systemd driver lays them out), where this machine can
read them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")
IMAGES_COMMAND = "make images"


class DockerError(RuntimeError):
    """Docker, its daemon or an image is missing; the message names which, and what to run."""


def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``docker ARGS``; a failure raises ``DockerError`` with docker's own message."""
    try:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise DockerError("docker is not installed (the image targets need Docker and `make images`)") from None
    if check and done.returncode != 0:
        raise DockerError(f"docker {' '.join(args[:2])} failed: {done.stderr.strip()[:400]}")
    return done


def docker_problem(image: str) -> str | None:
    """Why ``image`` cannot run here (no docker, no daemon, image not built), or ``None`` when it can."""
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30)
    except DockerError as error:
        return str(error)
    if info.returncode != 0:
        return f"no Docker daemon answers ({info.stderr.strip()[:200]}); start one, then `{IMAGES_COMMAND}`"
    if docker("image", "inspect", image, check=False, timeout=30).returncode != 0:
        return f"image {image} not found: build it with `{IMAGES_COMMAND}`"
    return None


def require_image(image: str) -> dict[str, Any]:
    """``docker image inspect`` of ``image``, or ``DockerError`` naming what is missing."""
    problem = docker_problem(image)
    if problem:
        raise DockerError(problem)
    return json.loads(docker("image", "inspect", image).stdout)[0]


def docker_run_name_prefix() -> str:
    """The name every container of the load test starts with (so one can see and remove strays)."""
    return "loadtest"


def _cgroup_dirs(controller: str, container_id: str) -> list[Path]:
    return [
        CGROUP_ROOT / controller / "docker" / container_id,  # v1, cgroupfs driver
        CGROUP_ROOT / controller / "system.slice" / f"docker-{container_id}.scope",  # v1, systemd driver
        CGROUP_ROOT / "docker" / container_id,  # v2, cgroupfs driver
        CGROUP_ROOT / "system.slice" / f"docker-{container_id}.scope",  # v2, systemd driver
    ]


def _stat(path: Path) -> dict[str, int]:
    values = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[name] = int(value)
    return values


def container_cpu_seconds(container_id: str) -> float | None:
    """CPU seconds (user + system) the container's processes used so far, from its cgroup; ``None`` unreadable."""
    for directory in _cgroup_dirs("cpuacct", container_id):
        try:
            if (directory / "cpuacct.usage").is_file():
                return int((directory / "cpuacct.usage").read_text()) / 1e9
            if (directory / "cpu.stat").is_file():
                usage = _stat(directory / "cpu.stat").get("usage_usec")
                if usage is not None:
                    return usage / 1e6
        except (OSError, ValueError):
            continue
    return None


def container_cpu_throttling(container_id: str) -> tuple[int, float] | None:
    """The periods the CFS quota (``--cpus``) stopped the container in, and the seconds it stood still; ``None``
    unreadable (``nr_throttled`` and ``throttled_time`` ns in v1's ``cpu.stat``, ``throttled_usec`` in v2's)."""
    for directory in _cgroup_dirs("cpu", container_id):
        try:
            stats = _stat(directory / "cpu.stat")
        except OSError:
            continue
        if "nr_throttled" in stats and "throttled_time" in stats:
            return stats["nr_throttled"], stats["throttled_time"] / 1e9
        if "nr_throttled" in stats and "throttled_usec" in stats:
            return stats["nr_throttled"], stats["throttled_usec"] / 1e6
    return None


def container_memory_mb(container_id: str) -> float | None:
    """The container's resident memory (anonymous + RSS pages, not page cache), MiB; ``None`` unreadable."""
    for directory in _cgroup_dirs("memory", container_id):
        try:
            stats = _stat(directory / "memory.stat")
        except OSError:
            continue
        resident = stats.get("total_rss", stats.get("anon"))
        if resident is not None:
            return round(resident / 2**20, 1)
    return None
