"""Targets a load test runs against: a URL, or a local server the runner starts and stops on loopback.

- ``local-container``: ``python -m container`` with the environment ``container/Dockerfile`` sets (its last
  stage's ``ENV`` lines: ``WEB_CONCURRENCY``, ``INFERENCE_THREADS``, ...), ``MODEL_DIR`` on the local model;
- ``local-lambda``: the real Lambda handler in the local emulation (``loadtest.lambda_emulator``);
- ``baseline``: the seed-style PyTorch FP32 server (``loadtest.baseline_server``);
- ``image-container``, ``image-lambda``: the images in their deployed shapes (``loadtest.image_targets``).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.settings import BUNDLED_MODEL_DIR, REPO_ROOT, available_cpus, environment_variable_names
from loadtest.shapes import SAM_TEMPLATE, Shape, template_function, template_memory_mb

__all__ = ["SAM_TEMPLATE", "template_function", "template_memory_mb"]  # read by loadtest.shapes, kept here too

LOCAL_TARGETS = ("local-container", "local-lambda", "baseline")
IMAGE_TARGETS = ("image-container", "image-lambda")
LAMBDA_TARGETS = ("local-lambda", "image-lambda")
SERVICE_TARGETS = ("local-container", "image-container")  # the FastAPI service, with its /metrics
DOCKERFILE = REPO_ROOT / "container" / "Dockerfile"
BASELINE_CHECKPOINT = REPO_ROOT / "build" / "distilbert-base-random"
BASELINE_CHECKPOINT_COMMAND = (
    "python -m model_export random-checkpoint --size base --output build/distilbert-base-random"
)
# Image-only variables that make no sense for a process on this machine.
IMAGE_ONLY_VARIABLES = {"PATH", "PYTHONPATH", "VIRTUAL_ENV", "HOME", "LD_LIBRARY_PATH", "LAMBDA_TASK_ROOT"}
STARTUP_TIMEOUT_S = 120.0


class TargetError(RuntimeError):
    """A target could not be started or reached; the message names the reason."""


@dataclass
class LocalOptions:
    """Settings for the local targets."""

    model_dir: Path = BUNDLED_MODEL_DIR
    baseline_checkpoint: Path = BASELINE_CHECKPOINT
    lambda_concurrency: int = 4
    lambda_queue: bool = False
    lambda_idle_timeout_s: float = 60.0
    lambda_memory_mb: int | None = None
    log_dir: Path | None = None
    shape: str | None = None  # image-container: fargate (default) or eks
    image: str | None = None  # image targets: another tag than make images'


@dataclass
class Target:
    """A reachable target: its URL and what is known about the server behind it."""

    name: str
    url: str
    server: dict[str, Any] = field(default_factory=dict)
    emulated: bool = False
    model: dict[str, Any] | None = None
    process: subprocess.Popen | None = None
    cleanup: Callable[[], None] | None = None  # removes what the target started besides ``process``
    cpu_reader: Callable[[], float | None] | None = None  # server CPU seconds, where not ``process``'s
    rss_reader: Callable[[], int | None] | None = None  # server resident bytes, where not ``process``'s
    throttling_reader: Callable[[], tuple[int, float] | None] | None = None  # CPU-quota throttling (containers)

    def label(self, explicit: str | None = None, scenario: str = "mix") -> str:
        """``explicit``, else e.g. ``local-container``, ``local-lambda burst``, ``local-container [model]``, a host."""
        if explicit:
            return explicit
        name = self.name
        if name.startswith(("http://", "https://")):
            name = name.split("://", 1)[1].split("/", 1)[0]
        if self.model and not self.model.get("bundled") and self.name in LOCAL_TARGETS:
            name += f" [{self.model.get('name') or Path(self.model['dir']).name}]"
        if (self.server.get("shape") or {}).get("shape") == "eks":
            name += " [eks]"
        if scenario in ("single", "burst"):
            name += f" {scenario}"
        return name

    def server_block(self, cpus: float | None = None, workers: int | None = None) -> dict[str, Any]:
        """What is known about the server, with CPUs and workers given on the command line taking precedence."""
        server = dict(self.server)
        if cpus is not None:
            server["cpus"] = cpus
        if workers is not None:
            server["workers"] = workers
        return server

    def emulator_stats(self) -> dict[str, Any] | None:
        """The Lambda emulation's cold starts and durations (``local-lambda``, ``image-lambda``)."""
        if self.name not in LAMBDA_TARGETS:
            return None
        with urllib.request.urlopen(f"{self.url}/_emulator/stats", timeout=10) as response:
            return json.loads(response.read())

    def server_cpu_throttling(self) -> tuple[int, float] | None:
        """Periods the server's CPU quota stopped it in so far, and the seconds it stood still; ``None`` without a
        quota to read (a server that is not a container)."""
        return self.throttling_reader() if self.throttling_reader is not None else None

    def server_cpu_seconds(self) -> float | None:
        """CPU seconds the server's processes have used so far (user + system), where they can be read."""
        if self.cpu_reader is not None:
            return self.cpu_reader()
        if self.process is None:
            return None
        import psutil

        try:
            root = psutil.Process(self.process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        total = 0.0
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total


def dockerfile_env(path: Path = DOCKERFILE) -> dict[str, str]:
    """The variables the Dockerfile's last stage sets with ``ENV`` (both ``K=V ...`` and ``K V`` forms)."""
    if not path.is_file():
        raise TargetError(f"{path}: not found; local-container runs with the environment its ENV lines set")
    text = re.sub(r"\\\r?\n", " ", path.read_text(encoding="utf-8"))
    env: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.upper().startswith("FROM "):
            env = {}  # a new stage starts with a clean environment
            continue
        if not stripped.upper().startswith("ENV "):
            continue
        body = stripped[4:].strip()
        words = shlex.split(body, comments=False)
        if words and "=" in words[0]:
            for word in words:
                name, _, value = word.partition("=")
                env[name] = value
        elif len(words) >= 2:
            env[words[0]] = body.split(None, 1)[1].strip()
    return env


def container_env(model_dir: Path, port: int, dockerfile: Path = DOCKERFILE) -> tuple[dict[str, str], dict[str, str]]:
    """The environment for ``python -m container`` as the image runs it, and the Dockerfile variables applied."""
    applied = {name: value for name, value in dockerfile_env(dockerfile).items() if name not in IMAGE_ONLY_VARIABLES}
    env = {name: value for name, value in os.environ.items() if name not in environment_variable_names()}
    env.update(applied)
    local = {"MODEL_DIR": str(model_dir), "HOST": "127.0.0.1", "PORT": str(port)}
    env.update(local)
    env.pop("MODEL_URI", None)
    return env, {name: value for name, value in applied.items() if name not in local}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _log_tail(path: Path | None, limit: int = 1500) -> str:
    if path is None or not path.is_file():
        return ""
    text = path.read_text(errors="replace").strip()
    return text[-limit:]


def _wait_healthy(url: str, process: subprocess.Popen, log_path: Path | None, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = _log_tail(log_path)
            raise TargetError(f"server exited with status {process.returncode} before it was ready: {tail}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise TargetError(f"server at {url} not healthy after {timeout_s:.0f} s: {_log_tail(log_path)}")


def _read_listening_line(process: subprocess.Popen, log_path: Path | None, timeout_s: float) -> str:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if selector.select(timeout=0.2):
            line = process.stdout.readline().decode().strip()
            if line.startswith("listening on "):
                return line.removeprefix("listening on ")
            if not line and process.poll() is not None:
                break
    raise TargetError(f"Lambda emulation did not start: {_log_tail(log_path)}")


def stop_process(process: subprocess.Popen, grace_s: float = 10.0, group: bool = True) -> None:
    """Stop a process this package started: SIGTERM (to its whole process group when ``group``: a server and
    the workers it started), SIGKILL after ``grace_s``."""
    if process.poll() is not None:
        return

    def send(signum: int) -> None:
        if group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)

    try:
        send(signal.SIGTERM)
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait(timeout=grace_s)
    except ProcessLookupError:
        pass
    if process.stdout:
        process.stdout.close()


def _model_info(model_dir: Path) -> dict[str, Any]:
    info: dict[str, Any] = {"dir": str(model_dir), "bundled": model_dir.resolve() == BUNDLED_MODEL_DIR.resolve()}
    try:
        manifest = json.loads((model_dir / "manifest.json").read_text(encoding="utf-8"))
        info.update(name=manifest.get("name"), version=manifest.get("version"))
    except (OSError, json.JSONDecodeError):
        pass
    return info


def _check_model_dir(model_dir: Path) -> None:
    from inference.manifest import ModelLoadError, read_manifest

    try:
        read_manifest(model_dir)
    except ModelLoadError as error:
        raise TargetError(str(error)) from None


def _spawn(
    command: list[str], env: dict[str, str], log_path: Path | None, stdout_pipe: bool = False
) -> subprocess.Popen:
    log = log_path.open("ab") if log_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else log,
            stderr=log,
            start_new_session=True,  # its own process group: stop_process ends it and every worker it started
        )
    finally:
        if log is not subprocess.DEVNULL:
            log.close()


def cpu_count() -> int:
    """CPUs this process (and the servers it starts) may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _start_container(options: LocalOptions) -> Target:
    _check_model_dir(options.model_dir)
    port = free_port()
    env, applied = container_env(options.model_dir.resolve(), port)
    log_path = options.log_dir / "server.log" if options.log_dir else None
    process = _spawn([sys.executable, "-m", "container"], env, log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log_path, STARTUP_TIMEOUT_S)
    except TargetError:
        stop_process(process)
        raise
    server = {
        "cpus": float(cpu_count()),
        # What the server's settings resolve: WEB_CONCURRENCY where set, else the CPUs it may use.
        "workers": int(env.get("WEB_CONCURRENCY") or available_cpus()),
        "dockerfile_env": applied,
    }
    return Target("local-container", url, server, False, _model_info(options.model_dir), process)


def start_emulator(arguments: list[str], log_path: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``python -m loadtest.lambda_emulator --port 0 ARGUMENTS``; its process and front URL once it listens."""
    env = {name: value for name, value in os.environ.items() if name not in environment_variable_names()}
    command = [sys.executable, "-m", "loadtest.lambda_emulator", "--port", "0", *arguments]
    process = _spawn(command, env, log_path, stdout_pipe=True)
    try:
        return process, _read_listening_line(process, log_path, STARTUP_TIMEOUT_S)
    except TargetError:
        stop_process(process)
        raise


def start_lambda(
    options: LocalOptions, name: str = "local-lambda", image: str | None = None, shape: Shape | None = None
) -> Target:
    """The Lambda emulation: environments as processes on ``options.model_dir``, or containers of ``image``."""
    function = template_function()
    memory = (shape.memory_mb if shape else None) or options.lambda_memory_mb or function.get("memory_mb")
    if image is None:
        _check_model_dir(options.model_dir)
        arguments = ["--model", str(options.model_dir.resolve())]
    else:
        arguments = ["--image", image, "--cpus", f"{shape.cpus:g}" if shape else "1"]
    arguments += [
        "--concurrency",
        str(options.lambda_concurrency),
        "--idle-timeout",
        str(options.lambda_idle_timeout_s),
    ]
    if options.lambda_queue:
        arguments.append("--queue")
    if memory:
        arguments += ["--memory-mb", str(memory)]
    if function.get("timeout_s"):
        arguments += ["--timeout", str(function["timeout_s"])]
    log_path = None
    if options.log_dir:
        arguments += ["--log-dir", str(options.log_dir / "lambda-environments")]
        log_path = options.log_dir / "emulator.log"
    process, url = start_emulator(arguments, log_path)
    server = {
        "cpus": shape.cpus if shape else float(cpu_count()),
        "workers": options.lambda_concurrency,
        "concurrency_limit": options.lambda_concurrency,
        "at_limit": "queue" if options.lambda_queue else "throttle (429)",
        "idle_timeout_s": options.lambda_idle_timeout_s,
        "memory_mb": memory,
        "function_timeout_s": function.get("timeout_s"),
    }
    return Target(name, url, server, True, None if image else _model_info(options.model_dir), process)


def _start_baseline(options: LocalOptions) -> Target:
    checkpoint = options.baseline_checkpoint
    if not (checkpoint / "config.json").is_file():
        raise TargetError(f"baseline checkpoint {checkpoint} not found; make it with: {BASELINE_CHECKPOINT_COMMAND}")
    port = free_port()
    log_path = options.log_dir / "server.log" if options.log_dir else None
    env = dict(os.environ)
    command = [sys.executable, "-m", "loadtest.baseline_server", "--checkpoint", str(checkpoint), "--port", str(port)]
    process = _spawn(command, env, log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log_path, STARTUP_TIMEOUT_S)
    except TargetError:
        stop_process(process)
        raise
    model = {"dir": str(checkpoint), "name": "distilbert-base (random weights, PyTorch FP32)", "bundled": False}
    return Target("baseline", url, {"cpus": float(cpu_count()), "workers": 1}, False, model, process)


@contextmanager
def running_target(target: str, options: LocalOptions):
    """Yield a ``Target`` for ``target`` (a URL or a local target name); local servers are stopped on exit."""
    if target.startswith(("http://", "https://")):
        yield Target(target, target.rstrip("/"), {"cpus": None, "workers": None})
        return
    starters = {"local-container": _start_container, "local-lambda": start_lambda, "baseline": _start_baseline}
    if target in IMAGE_TARGETS:
        from loadtest.image_targets import STARTERS

        starters = STARTERS
    if target not in starters:
        names = ", ".join((*LOCAL_TARGETS, *IMAGE_TARGETS))
        raise TargetError(f"unknown target {target!r}: give a URL (http://...) or one of {names}")
    if options.log_dir:
        options.log_dir.mkdir(parents=True, exist_ok=True)
    started = starters[target](options)
    try:
        yield started
    finally:
        if started.process is not None:
            stop_process(started.process)
        if started.cleanup is not None:
            started.cleanup()
