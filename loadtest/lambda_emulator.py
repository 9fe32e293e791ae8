"""A local emulation of AWS Lambda behind an API Gateway HTTP API (payload format 2.0). Not AWS figures.

The front is a Starlette app on uvicorn that turns each HTTP request into an API Gateway v2 event
(``functions.apigw.http_api_event``, the project's one builder of them) and hands it to an execution
environment:

- an environment is AWS's Runtime Interface Emulator (the ``aws-lambda-rie`` binary shipped in the
  aws-sam-cli wheel in ``.venv-sam``) running the real handler through AWS's runtime interface client
  (``python -m awslambdaric functions.handler.lambda_handler``); the front invokes it on RIE's
  ``/2015-03-31/functions/function/invocations``;
- an environment runs one invocation at a time; a request that finds none idle starts a new one (a real
  cold start: RIE, interpreter, imports, model load) and waits for it, up to ``--concurrency``
  environments; beyond that the front answers 429 ``{"message":"Too Many Requests"}`` as API Gateway does
  when the function is throttled, or with ``--queue`` waits for the next free environment;
- an environment idle for ``--idle-timeout`` seconds is reaped (its processes killed);
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
import os
import platform
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

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HANDLER = "functions.handler.lambda_handler"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
STATS_PATH = "/_emulator/stats"
FUNCTION_NAME = "sentiment-local-emulation"
STARTUP_TIMEOUT_S = 30.0
# What the function process inherits from this one; everything else is set explicitly (no AWS credentials).
INHERITED_VARIABLES = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "SYSTEMROOT")
# RIE's own log of the runtime's init (it inits on the first invoke, as Lambda's on-demand init does).
INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([0-9.]+)\)")
INIT_DONE = re.compile(r"INIT RTDONE\(status: (\w+)\)")
INIT_LOG_WAIT_S = 2.0
THROTTLED = {"message": "Too Many Requests"}


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


@dataclass
class Environment:
    """One execution environment: an RIE process, its invoke port, and what it is doing."""

    number: int
    started_at: float
    port: int
    process: asyncio.subprocess.Process | None = None
    state: str = "starting"  # starting, idle, busy, reaped
    initialised_at: float | None = None
    init_ms: float | None = None
    init_status: str | None = None
    init_logged: asyncio.Event = field(default_factory=asyncio.Event)
    first_response_at: float | None = None
    rss_mb: float | None = None
    reap_handle: asyncio.TimerHandle | None = None
    log: list[str] = field(default_factory=list)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        self.queued = 0
        self.throttles = 0
        self.tasks: set[asyncio.Task] = set()

    def _function_environment(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(self.config.function_timeout_s)),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "local",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
                "LAMBDA_TASK_ROOT": str(self.config.workdir),
                "PYTHONPATH": str(self.config.workdir),
                "PYTHONUNBUFFERED": "1",
                "TZ": ":UTC",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        if self.config.memory_mb:
            env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(self.config.memory_mb)
        env.update(self.config.function_env)
        return env

    async def _start_environment(self) -> Environment:
        self.started += 1
        environment = Environment(number=self.started, started_at=time.perf_counter(), port=free_port())
        self.init_windows[environment.number] = (environment.started_at, None)
        self.environments[environment.number] = environment
        self.peak = max(self.peak, len(self.environments))
        environment.state = "busy"
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
            env=self._function_environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        loop = asyncio.get_running_loop()
        self.tasks.update({loop.create_task(self._read_log(environment)), loop.create_task(self._watch(environment))})
        await self._wait_listening(environment)
        return environment

    async def _wait_listening(self, environment: Environment) -> None:
        deadline = time.perf_counter() + STARTUP_TIMEOUT_S
        while time.perf_counter() < deadline:
            if environment.process is None or environment.process.returncode is not None:
                return
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", environment.port)
                writer.close()
                return
            await asyncio.sleep(0.01)

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
        if environment.process and environment.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(environment.process.pid, 9)

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
        """Run one event: ``("response" | "error" | "timeout" | "throttled", payload)``."""
        environment = await self._acquire()
        if environment is None:
            return "throttled", b""
        dispatched = time.perf_counter()
        try:
            answer = await self.client.post(f"http://127.0.0.1:{environment.port}{INVOKE_PATH}", json=event)
            kind, payload = "response", answer.content
            if answer.status_code != 200 or _is_function_error(payload):
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
        if first:
            init_ms = environment.init_ms or 0.0
            listening_ms = (dispatched - environment.started_at) * 1000
            self.init_windows[environment.number] = (environment.started_at, dispatched + init_ms / 1000)
            environment.rss_mb = _rss_mb(environment.process.pid if environment.process else None)
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
            "runtime_interface_emulator": str(self.rie),
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
        await self.client.aclose()


def _rss_mb(pid: int | None) -> float | None:
    """Resident memory of RIE and the runtime under it."""
    if pid is None:
        return None
    try:
        import psutil

        process = psutil.Process(pid)
        total = process.memory_info().rss + sum(child.memory_info().rss for child in process.children(recursive=True))
        return round(total / 2**20, 1)
    except Exception:  # the process may be gone already; the figure is informative only
        return None


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
    )
    try:
        serve(config, args.host, args.port)
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
