"""A local emulation of AWS Lambda behind an API Gateway HTTP API (payload format 2.0). Not AWS figures.

The front is a Starlette app on uvicorn that turns each HTTP request into an API Gateway v2 event
(``functions.apigw.http_api_event``, the project's one builder of them) and hands it to an execution
environment:

- an environment is AWS's Runtime Interface Emulator (the ``aws-lambda-rie`` binary shipped in the
  aws-sam-cli wheel in ``.venv-sam``) running the real handler: as processes of this machine through AWS's
  runtime interface client (``python -m awslambdaric functions.handler.lambda_handler``), or with ``--image``
  as a container of the Lambda image limited to ``--memory-mb`` and ``--cpus`` (``loadtest.environments``
  has both launchers); the front invokes it on RIE's ``/2015-03-31/functions/function/invocations``;
- an environment runs one invocation at a time; a request that finds none idle starts a new one (a real
  cold start: RIE, interpreter, imports, model load) and waits for it, up to ``--concurrency``
  environments; beyond that the front answers 429 ``{"message":"Too Many Requests"}`` as API Gateway does
  when the function is throttled, or with ``--queue`` waits for the next free environment;
- an environment idle for ``--idle-timeout`` seconds is reaped (its processes killed, its container removed);
- every cold start is recorded: environment start to the end of init (RIE start plus the runtime's init,
  from RIE's ``INIT REPORT`` log line) and to its first response. ``GET /_emulator/stats`` returns them
  with every invocation's duration.

``python -m loadtest.lambda_emulator --port 9000`` serves it on its own; ``python -m loadtest run --target
local-lambda`` starts and stops it around a load test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import re
import socket
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from functions.apigw import http_api_event
from loadtest.environments import (
    ContainerLauncher,
    Environment,
    Launcher,
    ProcessLauncher,
    free_port,
    rie_binary,
)
from loadtest.shapes import Shape

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HANDLER = "functions.handler.lambda_handler"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
STATS_PATH = "/_emulator/stats"
# RIE's own log of the runtime's init (it inits on the first invoke, as Lambda's on-demand init does).
INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([0-9.]+)\)")
INIT_DONE = re.compile(r"INIT RTDONE\(status: (\w+)\)")
INIT_LOG_WAIT_S = 2.0
THROTTLED = {"message": "Too Many Requests"}
# RIE's answer (200, text/plain) when the function outlives its timeout; it then resets the runtime.
FUNCTION_TIMED_OUT = re.compile(rb"^Task timed out after [0-9.]+ seconds$")


@dataclass
class EmulatorConfig:
    """How the emulated function is run."""

    handler: str = DEFAULT_HANDLER
    concurrency: int = 4
    queue: bool = False
    idle_timeout_s: float = 60.0
    function_timeout_s: float = 30.0
    memory_mb: int | None = None
    function_env: dict[str, str] = field(default_factory=dict)
    workdir: Path = REPO_ROOT
    log_dir: Path | None = None
    rie: Path | None = None
    image: str | None = None  # a container of this image per environment (else a process)
    cpus: float | None = None  # the container's CPU limit (with image)

    def launcher(self, rie: Path) -> Launcher:
        """How environments start: a container of ``image`` in the function's shape, or a process."""
        if self.image is None:
            return ProcessLauncher(self, rie)
        if not self.memory_mb or not self.cpus:
            raise ValueError("a container environment needs the function's memory and CPUs")
        return ContainerLauncher(self, rie, self.image, Shape("lambda", self.cpus, self.memory_mb, "command line"))


def http_response_from_result(result: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body API Gateway makes of a handler's result (payload format 2.0)."""
    try:
        payload = json.loads(result or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return 502, [("Content-Type", "application/json")], b'{"message":"Internal Server Error"}'
    if not isinstance(payload, dict) or "statusCode" not in payload:
        return 200, [("Content-Type", "application/json")], json.dumps(payload).encode()
    headers = [(str(name), str(value)) for name, value in (payload.get("headers") or {}).items()]
    headers += [("Set-Cookie", str(cookie)) for cookie in payload.get("cookies") or []]
    body = payload.get("body") or ""
    raw = base64.b64decode(body) if payload.get("isBase64Encoded") else str(body).encode()
    return int(payload["statusCode"]), headers, raw


def _is_function_error(result: bytes) -> bool:
    """Whether RIE's answer is the runtime's error document (``errorType``/``errorMessage``), not a result."""
    try:
        payload = json.loads(result or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(payload, dict) and "statusCode" not in payload and "errorType" in payload


class Pool:
    """Execution environments under RIE: concurrency cap, throttling or queueing, idle reaping, cold starts."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.rie = config.rie or rie_binary(config.workdir)
        self.launcher = config.launcher(self.rie)
        self.environments: dict[int, Environment] = {}
        self.idle: list[Environment] = []
        self.freed = asyncio.Condition()
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(config.function_timeout_s + 5, connect=5))
        self.started = 0
        self.peak = 0
        self.reaped = 0
        self.cold_starts: list[dict[str, Any]] = []
        self.init_windows: dict[int, tuple[float, float | None]] = {}
        self.init_errors: list[dict[str, Any]] = []
        self.durations_ms: list[float] = []
        self.errors = 0
        self.timeouts = 0
        self.function_timeouts = 0
        self.queued = 0
        self.throttles = 0
        self.tasks: set[asyncio.Task] = set()

    async def _start_environment(self) -> Environment:
        self.started += 1
        environment = Environment(number=self.started, started_at=time.perf_counter(), port=free_port())
        self.init_windows[environment.number] = (environment.started_at, None)
        self.environments[environment.number] = environment
        self.peak = max(self.peak, len(self.environments))
        environment.state = "busy"
        await self.launcher.start(environment)
        loop = asyncio.get_running_loop()
        self.tasks.update({loop.create_task(self._read_log(environment)), loop.create_task(self._watch(environment))})
        await self.launcher.wait_ready(environment)
        return environment

    async def _read_log(self, environment: Environment) -> None:
        assert environment.process is not None and environment.process.stdout is not None
        log_file = None
        if self.config.log_dir:
            log_file = (self.config.log_dir / f"lambda-env-{environment.number}.log").open("a")
        try:
            async for raw in environment.process.stdout:
                line = raw.decode("utf-8", "replace")
                environment.log = [*environment.log[-39:], line]
                if log_file:
                    log_file.write(line)
                    log_file.flush()
                if done := INIT_DONE.search(line):
                    environment.init_status = done.group(1)
                if report := INIT_REPORT.search(line):
                    environment.init_ms = float(report.group(1))
                    environment.init_logged.set()
        finally:
            environment.init_logged.set()
            if log_file:
                log_file.close()

    async def _watch(self, environment: Environment) -> None:
        assert environment.process is not None
        await environment.process.wait()
        self.environments.pop(environment.number, None)
        self.tasks = {task for task in self.tasks if not task.done()}
        with contextlib.suppress(ValueError):
            self.idle.remove(environment)
        async with self.freed:
            self.freed.notify()

    def _kill(self, environment: Environment) -> None:
        self.launcher.kill(environment)

    def _reap(self, environment: Environment) -> None:
        if environment.state != "idle":
            return
        environment.state = "reaped"
        self.reaped += 1
        with contextlib.suppress(ValueError):
            self.idle.remove(environment)
        self._kill(environment)

    def _take_idle(self) -> Environment | None:
        while self.idle:
            environment = self.idle.pop()  # most recently idle first, as Lambda reuses warm environments
            if environment.state == "idle":
                if environment.reap_handle:
                    environment.reap_handle.cancel()
                environment.state = "busy"
                return environment
        return None

    async def _acquire(self) -> Environment | None:
        """An environment for one invocation: idle, new, or (with queueing) the next freed; ``None``: throttled."""
        queued = False
        while True:
            environment = self._take_idle()
            if environment is not None:
                return environment
            if len(self.environments) < self.config.concurrency:
                return await self._start_environment()
            if not self.config.queue:
                self.throttles += 1
                return None
            if not queued:
                self.queued += 1
                queued = True
            async with self.freed:
                await self.freed.wait()

    async def _release(self, environment: Environment) -> None:
        if environment.process is None or environment.process.returncode is not None:
            return
        environment.state = "idle"
        self.idle.append(environment)
        environment.reap_handle = asyncio.get_running_loop().call_later(
            self.config.idle_timeout_s, self._reap, environment
        )
        async with self.freed:
            self.freed.notify()

    async def invoke(self, event: dict[str, Any]) -> tuple[str, bytes]:
        """Run one event: ``("response" | "error" | "function_timeout" | "timeout" | "throttled", payload)``."""
        environment = await self._acquire()
        if environment is None:
            return "throttled", b""
        dispatched = time.perf_counter()
        try:
            answer = await self.client.post(f"http://127.0.0.1:{environment.port}{INVOKE_PATH}", json=event)
            kind, payload = "response", answer.content
            if answer.status_code == 200 and FUNCTION_TIMED_OUT.match(payload.strip()):
                kind = "function_timeout"
            elif answer.status_code != 200 or _is_function_error(payload):
                kind = "error"
        except httpx.TimeoutException:
            self._kill(environment)
            self.timeouts += 1
            return "timeout", b""
        except httpx.HTTPError as error:
            kind, payload = "error", json.dumps({"errorMessage": str(error)}).encode()
        now = time.perf_counter()
        if environment.first_response_at is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(environment.init_logged.wait(), INIT_LOG_WAIT_S)
            environment.rss_mb = await self.launcher.rss_mb(environment)
        self._record(environment, dispatched, now, kind, payload)
        await self._release(environment)
        return kind, payload

    def _record(self, environment: Environment, dispatched: float, now: float, kind: str, payload: bytes) -> None:
        first = environment.first_response_at is None
        environment.first_response_at = environment.first_response_at or now
        if first and kind == "error" and environment.init_status != "success":
            # An error on the first invocation whose init RIE did not log as a success is a failed init.
            reason = payload.decode("utf-8", "replace")[:2000] + "".join(environment.log)[-2000:]
            self.init_errors.append({"environment": environment.number, "reason": reason})
            self.init_windows[environment.number] = (environment.started_at, now)
            self._kill(environment)
            return
        # RIE inits on the first invoke; Lambda bills a managed runtime's init apart, so it is not the duration.
        self.durations_ms.append((now - dispatched) * 1000 - ((environment.init_ms or 0.0) if first else 0.0))
        if kind == "error":
            self.errors += 1
        if kind == "function_timeout":
            self.function_timeouts += 1
        if first:
            init_ms = environment.init_ms or 0.0
            listening_ms = (dispatched - environment.started_at) * 1000
            self.init_windows[environment.number] = (environment.started_at, dispatched + init_ms / 1000)
            self.cold_starts.append(
                {
                    "environment": environment.number,
                    "init_ms": round(listening_ms + init_ms, 3),
                    "runtime_init_ms": environment.init_ms,
                    "cold_start_ms": round((now - environment.started_at) * 1000, 3),
                    "rss_mb": environment.rss_mb,
                }
            )

    def _overlapping_inits(self, number: int) -> int:
        """How many other environments were initialising while environment ``number`` was (CPU contention)."""
        now = time.perf_counter()
        start, end = self.init_windows[number]
        end = now if end is None else end
        return sum(
            1
            for other, (other_start, other_end) in self.init_windows.items()
            if other != number and other_start < end and (now if other_end is None else other_end) > start
        )

    def stats(self) -> dict[str, Any]:
        """Cold starts, invocation durations and pool figures so far."""
        cold_starts = [
            {**entry, "overlapping_inits": self._overlapping_inits(entry["environment"])} for entry in self.cold_starts
        ]
        return {
            "emulated": True,
            **self.launcher.describe(),
            "handler": self.config.handler,
            "concurrency_limit": self.config.concurrency,
            "queue_at_limit": self.config.queue,
            "idle_timeout_s": self.config.idle_timeout_s,
            "memory_mb": self.config.memory_mb,
            "environments_started": self.started,
            "environments_alive": len(self.environments),
            "environments_reaped": self.reaped,
            "peak_environments": self.peak,
            "cold_starts": cold_starts,
            "init_errors": self.init_errors,
            "invocations": len(self.durations_ms),
            "function_errors": self.errors,
            "timeouts": self.timeouts,
            "function_timeouts": self.function_timeouts,
            "throttles": self.throttles,
            "queued_at_limit": self.queued,
            "durations_ms": [round(value, 3) for value in self.durations_ms],
        }

    async def close(self) -> None:
        """Kill every environment."""
        for environment in list(self.environments.values()):
            environment.state = "reaped"
            self._kill(environment)
            if environment.process:
                await environment.process.wait()
        await self.launcher.close()
        await self.client.aclose()


def create_app(config: EmulatorConfig) -> Starlette:
    """The API Gateway front: every route becomes a payload 2.0 event for the pool."""
    pool: Pool | None = None

    @asynccontextmanager
    async def lifespan(app: Starlette):
        nonlocal pool
        pool = Pool(config)
        yield
        await pool.close()

    async def stats(request: Request) -> Response:
        assert pool is not None
        return JSONResponse(pool.stats())

    async def front(request: Request) -> Response:
        assert pool is not None
        raw = await request.body()
        body: str | bytes | None = None
        if raw:
            try:
                body = raw.decode("utf-8")
            except UnicodeDecodeError:
                body = raw
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        event = http_api_event(
            request.method,
            request.url.path,
            body,
            headers,
            query=request.url.query,
            source_ip=request.client.host if request.client else "127.0.0.1",
            route_key="$default",
        )
        kind, payload = await pool.invoke(event)
        if kind == "response":
            status, response_headers, content = http_response_from_result(payload)
            response = Response(content, status_code=status)
            for name, value in response_headers:
                response.headers.append(name, value)
            return response
        if kind == "throttled":
            return JSONResponse(THROTTLED, status_code=429)
        if kind == "timeout":
            return JSONResponse({"message": "Endpoint request timed out"}, status_code=504)
        return JSONResponse({"message": "Internal Server Error"}, status_code=502)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    routes = [Route(STATS_PATH, stats, methods=["GET"]), Route("/{path:path}", front, methods=methods)]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve the front on uvicorn until SIGTERM or SIGINT; prints ``listening on http://HOST:PORT`` once bound."""
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    bound = sock.getsockname()
    print(f"listening on http://{bound[0]}:{bound[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", access_log=False))
    asyncio.run(server.serve(sockets=[sock]))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest.lambda_emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="front port (0: any free port)")
    parser.add_argument("--handler", default=DEFAULT_HANDLER, help="module.function the environments run")
    parser.add_argument("--concurrency", type=int, default=4, help="most environments at once")
    parser.add_argument("--queue", action="store_true", help="queue requests beyond --concurrency instead of 429")
    parser.add_argument("--idle-timeout", type=float, default=60.0, help="seconds before an idle environment is reaped")
    parser.add_argument("--timeout", type=float, default=30.0, help="function timeout, seconds")
    parser.add_argument("--memory-mb", type=int, default=None, help="AWS_LAMBDA_FUNCTION_MEMORY_SIZE to report")
    parser.add_argument("--model", default=None, help="MODEL_DIR for the function")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra function variable")
    parser.add_argument("--log-dir", default=None, help="folder for each environment's output")
    parser.add_argument("--rie", default=None, help="aws-lambda-rie binary (default: the one in .venv-sam)")
    parser.add_argument("--image", default=None, help="run each environment as a container of this Lambda image")
    parser.add_argument("--cpus", type=float, default=None, help="with --image: each container's CPU limit")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the emulator from the command line."""
    args = _parser().parse_args(argv)
    function_env = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"error: --env {item!r} is not NAME=VALUE", file=sys.stderr)
            return 2
        function_env[name] = value
    if args.model:
        function_env["MODEL_DIR"] = str(Path(args.model).resolve())
    if args.concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    try:
        rie = Path(args.rie) if args.rie else rie_binary()
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    log_dir = Path(args.log_dir) if args.log_dir else None
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    config = EmulatorConfig(
        handler=args.handler,
        concurrency=args.concurrency,
        queue=args.queue,
        idle_timeout_s=args.idle_timeout,
        function_timeout_s=args.timeout,
        memory_mb=args.memory_mb,
        function_env=function_env,
        log_dir=log_dir,
        rie=rie,
        image=args.image,
        cpus=args.cpus,
    )
    try:
        config.launcher(rie)
    except ValueError as error:
        print(f"error: {error} (--memory-mb and --cpus)", file=sys.stderr)
        return 2
    try:
        serve(config, args.host, args.port)
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
