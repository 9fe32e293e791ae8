"""How an execution environment of the Lambda emulation starts and stops: a process or a container.

Both run the handler under AWS's Runtime Interface Emulator (``aws-lambda-rie`` from the aws-sam-cli wheel in
``.venv-sam``) and answer RIE's Invoke API on a port of 127.0.0.1; the pool in ``loadtest.lambda_emulator``
(concurrency cap, throttling or queueing, idle reaping, cold-start records) is the same for both.

- ``ProcessLauncher``: RIE and ``python -m awslambdaric HANDLER`` as processes of this machine (``local-lambda``);
- ``ContainerLauncher``: ``docker run`` of the Lambda image (``make images``) limited to the function's memory
  and its CPU share, read-only root, the RIE mounted as entry point, the port published on 127.0.0.1 only
  (``image-lambda``). A cold start is then a real container start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from loadtest.docker_cli import container_memory_mb, docker_run_name_prefix
from loadtest.shapes import Shape, docker_run_flags

if TYPE_CHECKING:
    from loadtest.lambda_emulator import EmulatorConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTION_NAME = "sentiment-local-emulation"
STARTUP_TIMEOUT_S = 30.0
CONTAINER_STARTUP_TIMEOUT_S = 120.0
# What the function process inherits from this one; everything else is set explicitly (no AWS credentials).
INHERITED_VARIABLES = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "SYSTEMROOT")
RIE_IN_CONTAINER = "/aws-lambda/aws-lambda-rie"
LAMBDA_ENTRYPOINT = "/lambda-entrypoint.sh"


def rie_binary(root: Path = REPO_ROOT) -> Path:
    """AWS's Runtime Interface Emulator for this machine's architecture, from the aws-sam-cli wheel in .venv-sam."""
    arch = {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "x86_64")
    found = sorted(root.glob(f".venv-sam/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{arch}"))
    if not found:
        raise FileNotFoundError(
            f"{root}/.venv-sam/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{arch} not found; "
            "install it with: make .venv-sam/bin/sam"
        )
    return found[-1]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Environment:
    """One execution environment: its RIE (a process, or the ``docker run`` of its container), port and state."""

    number: int
    started_at: float
    port: int
    process: asyncio.subprocess.Process | None = None
    container: str | None = None
    state: str = "starting"  # starting, idle, busy, reaped
    initialised_at: float | None = None
    init_ms: float | None = None
    init_status: str | None = None
    init_logged: asyncio.Event = field(default_factory=asyncio.Event)
    first_response_at: float | None = None
    rss_mb: float | None = None
    reap_handle: asyncio.TimerHandle | None = None
    log: list[str] = field(default_factory=list)


class Launcher(Protocol):
    """Starts, readies, measures and kills one execution environment."""

    kind: str

    async def start(self, environment: Environment) -> None: ...
    async def wait_ready(self, environment: Environment) -> None: ...
    def kill(self, environment: Environment) -> None: ...
    async def close(self) -> None: ...
    async def rss_mb(self, environment: Environment) -> float | None: ...
    def describe(self) -> dict[str, Any]: ...


def lambda_variables(config: EmulatorConfig) -> dict[str, str]:
    """What Lambda sets in a function's environment that the handler reads (no credentials)."""
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(config.function_timeout_s)),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    if config.memory_mb:
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(config.memory_mb)
    return env


async def _output(*command: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await process.communicate()
    return out.decode().strip()


class ProcessLauncher:
    """RIE running ``python -m awslambdaric HANDLER`` as processes of this machine, in their own process group."""

    kind = "process"

    def __init__(self, config: EmulatorConfig, rie: Path) -> None:
        self.config = config
        self.rie = rie

    def _environment(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
        env.update(lambda_variables(self.config))
        env.update(
            {
                "LAMBDA_TASK_ROOT": str(self.config.workdir),
                "PYTHONPATH": str(self.config.workdir),
                "PYTHONUNBUFFERED": "1",
                "TZ": ":UTC",
            }
        )
        env.update(self.config.function_env)
        return env

    async def start(self, environment: Environment) -> None:
        environment.process = await asyncio.create_subprocess_exec(
            str(self.rie),
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{environment.port}",
            "--runtime-api-address",
            f"127.0.0.1:{free_port()}",
            sys.executable,
            "-m",
            "awslambdaric",
            self.config.handler,
            cwd=self.config.workdir,
            env=self._environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )

    async def wait_ready(self, environment: Environment) -> None:
        """Until RIE accepts connections on its port (or its process has ended)."""
        deadline = time.perf_counter() + STARTUP_TIMEOUT_S
        while time.perf_counter() < deadline:
            if environment.process is None or environment.process.returncode is not None:
                return
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", environment.port)
                writer.close()
                return
            await asyncio.sleep(0.01)

    def kill(self, environment: Environment) -> None:
        if environment.process and environment.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(environment.process.pid, 9)

    async def close(self) -> None:
        return None

    async def rss_mb(self, environment: Environment) -> float | None:
        """Resident memory of RIE and the runtime under it."""
        if environment.process is None:
            return None
        try:
            import psutil

            process = psutil.Process(environment.process.pid)
            children = process.children(recursive=True)
            total = process.memory_info().rss + sum(child.memory_info().rss for child in children)
            return round(total / 2**20, 1)
        except Exception:  # the process may be gone already; the figure is informative only
            return None

    def describe(self) -> dict[str, Any]:
        return {"environment": "process", "runtime_interface_emulator": str(self.rie)}


def lambda_container_flags(shape: Shape, port: int, rie: Path, variables: dict[str, str]) -> list[str]:
    """``docker run`` flags of one environment: the shape's limits, a read-only root, the RIE as entry point."""
    flags = [*docker_run_flags(shape), "--read-only", "--tmpfs", "/tmp", "-p", f"127.0.0.1:{port}:8080"]
    for name, value in variables.items():
        flags += ["-e", f"{name}={value}"]
    return [*flags, "-v", f"{rie}:{RIE_IN_CONTAINER}:ro", "--entrypoint", RIE_IN_CONTAINER]


class ContainerLauncher:
    """A container of the Lambda image per environment; ``docker run`` in the foreground streams its log."""

    kind = "container"

    def __init__(self, config: EmulatorConfig, rie: Path, image: str, shape: Shape) -> None:
        self.config = config
        self.rie = rie
        self.image = image
        self.shape = shape
        self.prefix = f"{docker_run_name_prefix()}-{uuid.uuid4().hex[:6]}"
        self.removals: list[subprocess.Popen] = []

    async def start(self, environment: Environment) -> None:
        environment.container = f"{self.prefix}-env{environment.number}"
        variables = {**lambda_variables(self.config), **self.config.function_env}
        flags = lambda_container_flags(self.shape, environment.port, self.rie, variables)
        environment.process = await asyncio.create_subprocess_exec(
            "docker",
            "run",
            "--rm",
            "--name",
            environment.container,
            *flags,
            self.image,
            LAMBDA_ENTRYPOINT,
            self.config.handler,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )

    async def wait_ready(self, environment: Environment) -> None:
        """Until RIE in the container answers HTTP (docker's proxy accepts connections before it does)."""
        deadline = time.perf_counter() + CONTAINER_STARTUP_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2) as client:
            while time.perf_counter() < deadline:
                if environment.process is None or environment.process.returncode is not None:
                    return
                with contextlib.suppress(httpx.HTTPError):
                    await client.get(f"http://127.0.0.1:{environment.port}/")
                    return
                await asyncio.sleep(0.01)

    def kill(self, environment: Environment) -> None:
        """``docker rm -f`` the container (killing the ``docker run`` client would leave it running)."""
        if environment.container and environment.process and environment.process.returncode is None:
            removal = subprocess.Popen(
                ["docker", "rm", "-f", environment.container],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
            )
            self.removals.append(removal)

    async def close(self) -> None:
        for removal in self.removals:
            await asyncio.to_thread(removal.wait)

    async def rss_mb(self, environment: Environment) -> float | None:
        """The container's memory (its cgroup's resident memory)."""
        if not environment.container:
            return None
        container_id = await _output("docker", "inspect", "--format", "{{.Id}}", environment.container)
        return container_memory_mb(container_id) if container_id else None

    def describe(self) -> dict[str, Any]:
        return {
            "environment": "container",
            "runtime_interface_emulator": str(self.rie),
            "image": self.image,
            "shape": self.shape.as_dict(),
        }
