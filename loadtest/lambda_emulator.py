"""A local emulation of AWS Lambda behind an API Gateway HTTP API (payload format 2.0). Not AWS figures.

The front turns each HTTP request into an API Gateway v2 event and hands it to an execution environment:

- an environment is one process running the real handler through AWS's runtime interface client
  (``python -m awslambdaric functions.handler.lambda_handler``), which polls a Runtime API this module
  serves (``/2018-06-01/runtime/invocation/next``, ``.../{id}/response``, ``.../{id}/error``,
  ``/runtime/init/error``), one port per environment, as on Lambda;
- an environment runs one invocation at a time; a request that finds none idle starts a new one (a real
  cold start: interpreter, imports, model load) and waits for it, up to ``--concurrency`` environments;
  beyond that requests queue for the next free environment (real Lambda would throttle with 429);
- an environment idle for ``--idle-timeout`` seconds is reaped (its process killed);
- every cold start is recorded: environment start to the end of init (first ``/next``) and to its
  first response. ``GET /_emulator/stats`` returns them with every invocation's duration.

``python -m loadtest.lambda_emulator --port 9000`` serves it on its own; ``python -m loadtest run --target
local-lambda`` starts and stops it around a load test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import datetime as dt
import json
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from loadtest.http11 import BadRequest, Request, encode_response, json_response, read_request

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HANDLER = "functions.handler.lambda_handler"
RUNTIME_PREFIX = "/2018-06-01/runtime"
STATS_PATH = "/_emulator/stats"
FUNCTION_NAME = "sentiment-local-emulation"
# What the function process inherits from this one; everything else is set explicitly (no AWS credentials).
INHERITED_VARIABLES = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "SYSTEMROOT")


@dataclass
class EmulatorConfig:
    """How the emulated function is run."""

    handler: str = DEFAULT_HANDLER
    concurrency: int = 4
    idle_timeout_s: float = 60.0
    function_timeout_s: float = 30.0
    memory_mb: int | None = None
    function_env: dict[str, str] = field(default_factory=dict)
    workdir: Path = REPO_ROOT
    log_dir: Path | None = None


@dataclass
class Invocation:
    """One event on its way through an environment."""

    event: bytes
    done: asyncio.Future
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    dispatched_at: float = 0.0


@dataclass
class Environment:
    """One execution environment: a process, its Runtime API server, and what it is doing."""

    number: int
    started_at: float
    state: str = "starting"  # starting, idle, busy, dead
    process: asyncio.subprocess.Process | None = None
    server: asyncio.base_events.Server | None = None
    assigned: Invocation | None = None
    current: Invocation | None = None
    wakeup: asyncio.Future | None = None
    initialised_at: float | None = None
    first_response_at: float | None = None
    rss_mb: float | None = None
    reap_handle: asyncio.TimerHandle | None = None
    log_path: Path | None = None


def api_gateway_event(request: Request, source_ip: str) -> dict[str, Any]:
    """The API Gateway HTTP API (payload format 2.0) event for ``request``."""
    now = dt.datetime.now(dt.UTC)
    headers: dict[str, str] = {}
    for name, value in request.header_list:
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": headers.get("host", "localhost").split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.version,
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if "cookie" in headers:
        event["cookies"] = [part.strip() for part in headers["cookie"].split(";") if part.strip()]
    if request.query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(request.query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    if request.body:
        try:
            event["body"] = request.body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    return event


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


class Emulator:
    """The front, the per-environment Runtime APIs, and the pool of environments."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.environments: dict[int, Environment] = {}
        self.idle: list[Environment] = []
        self.waiting: collections.deque[Invocation] = collections.deque()
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

    # --- the pool -------------------------------------------------------------------------------------

    def _function_environment(self, runtime_port: int) -> dict[str, str]:
        env = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
        pythonpath = [str(self.config.workdir)]
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{runtime_port}",
                "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "local",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
                "LAMBDA_TASK_ROOT": str(self.config.workdir),
                "PYTHONPATH": os.pathsep.join(pythonpath),
                "PYTHONUNBUFFERED": "1",
                "TZ": ":UTC",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        if self.config.memory_mb:
            env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(self.config.memory_mb)
        env.update(self.config.function_env)
        return env

    def _take_idle(self) -> Environment | None:
        while self.idle:
            environment = self.idle.pop()  # most recently idle first, as Lambda reuses warm environments
            if environment.state != "idle":
                continue
            if environment.reap_handle:
                environment.reap_handle.cancel()
            environment.state = "busy"
            return environment
        return None

    async def _start_environment(self) -> Environment:
        self.started += 1
        environment = Environment(number=self.started, started_at=time.perf_counter())
        self.init_windows[environment.number] = (environment.started_at, None)
        self.environments[environment.number] = environment
        self.peak = max(self.peak, len(self.environments))
        environment.server = await asyncio.start_server(
            lambda reader, writer: self._serve_runtime(environment, reader, writer), "127.0.0.1", 0
        )
        port = environment.server.sockets[0].getsockname()[1]
        output: Any = asyncio.subprocess.DEVNULL
        if self.config.log_dir:
            environment.log_path = self.config.log_dir / f"lambda-env-{environment.number}.log"
            output = environment.log_path.open("ab")
        try:
            environment.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "awslambdaric",
                self.config.handler,
                cwd=self.config.workdir,
                env=self._function_environment(port),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            if output is not asyncio.subprocess.DEVNULL:
                output.close()
        asyncio.get_running_loop().create_task(self._watch(environment))
        return environment

    async def _watch(self, environment: Environment) -> None:
        assert environment.process is not None
        code = await environment.process.wait()
        reason = "reaped" if environment.state == "reaped" else f"process exited with status {code}"
        if environment.initialised_at is None and environment.state != "reaped":
            self.init_errors.append(
                {"environment": environment.number, "reason": reason, "log": self._log_tail(environment)}
            )
        environment.state = "dead"
        self.environments.pop(environment.number, None)
        with contextlib.suppress(ValueError):
            self.idle.remove(environment)
        for invocation in (environment.assigned, environment.current):
            if invocation and not invocation.done.done():
                invocation.done.set_result(("error", json.dumps({"errorMessage": reason}).encode()))
        if environment.wakeup and not environment.wakeup.done():
            environment.wakeup.cancel()  # ends the Runtime API request the dead process was waiting on
        if environment.server:
            environment.server.close()

    def _log_tail(self, environment: Environment) -> str:
        if not environment.log_path or not environment.log_path.is_file():
            return ""
        return environment.log_path.read_text(errors="replace")[-2000:]

    def _reap(self, environment: Environment) -> None:
        if environment.state != "idle" or environment.process is None:
            return
        environment.state = "reaped"
        self.reaped += 1
        with contextlib.suppress(ValueError):
            self.idle.remove(environment)
        with contextlib.suppress(ProcessLookupError):
            environment.process.kill()

    async def invoke(self, event: bytes) -> tuple[str, bytes]:
        """Run one event on an environment: ``("response" | "error" | "timeout", payload)``."""
        invocation = Invocation(event, asyncio.get_running_loop().create_future())
        environment = self._take_idle()
        if environment is not None:
            self._hand_over(environment, invocation)
        elif len(self.environments) < self.config.concurrency:
            environment = await self._start_environment()
            environment.assigned = invocation
        else:
            self.queued += 1
            self.waiting.append(invocation)
        try:
            return await asyncio.wait_for(asyncio.shield(invocation.done), self.config.function_timeout_s)
        except TimeoutError:
            self.timeouts += 1
            with contextlib.suppress(ValueError):
                self.waiting.remove(invocation)
            for running in list(self.environments.values()):
                if invocation in (running.current, running.assigned) and running.process:
                    with contextlib.suppress(ProcessLookupError):
                        running.process.kill()
            return "timeout", b""

    def _hand_over(self, environment: Environment, invocation: Invocation) -> None:
        if environment.wakeup and not environment.wakeup.done():
            environment.wakeup.set_result(invocation)
        else:
            environment.assigned = invocation

    async def _next_invocation(self, environment: Environment) -> Invocation:
        now = time.perf_counter()
        if environment.initialised_at is None:
            environment.initialised_at = now
            self.init_windows[environment.number] = (environment.started_at, now)
            environment.rss_mb = _rss_mb(environment.process.pid if environment.process else None)
        environment.current = None
        if environment.assigned is not None:
            invocation, environment.assigned = environment.assigned, None
        elif self.waiting:
            invocation = self.waiting.popleft()
        else:
            environment.state = "idle"
            environment.wakeup = asyncio.get_running_loop().create_future()
            self.idle.append(environment)
            environment.reap_handle = asyncio.get_running_loop().call_later(
                self.config.idle_timeout_s, self._reap, environment
            )
            invocation = await environment.wakeup
            environment.wakeup = None
        environment.state = "busy"
        environment.current = invocation
        invocation.dispatched_at = time.perf_counter()
        return invocation

    def _finish(self, environment: Environment, request_id: str, kind: str, payload: bytes) -> bool:
        invocation = environment.current
        if invocation is None or invocation.request_id != request_id:
            return False
        now = time.perf_counter()
        self.durations_ms.append((now - invocation.dispatched_at) * 1000)
        if kind == "error":
            self.errors += 1
        if environment.first_response_at is None:
            environment.first_response_at = now
            self.cold_starts.append(
                {
                    "environment": environment.number,
                    "init_ms": round(((environment.initialised_at or now) - environment.started_at) * 1000, 3),
                    "cold_start_ms": round((now - environment.started_at) * 1000, 3),
                    "rss_mb": environment.rss_mb,
                }
            )
        if not invocation.done.done():
            invocation.done.set_result((kind, payload))
        return True

    # --- the Runtime API, one server per environment --------------------------------------------------

    async def _serve_runtime(
        self, environment: Environment, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                request = await read_request(reader, writer)
                if request is None:
                    break
                writer.write(await self._runtime_answer(environment, request))
                await writer.drain()
                if not request.keep_alive:
                    break
        except (BadRequest, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _runtime_answer(self, environment: Environment, request: Request) -> bytes:
        path = request.path
        if request.method == "GET" and path == f"{RUNTIME_PREFIX}/invocation/next":
            invocation = await self._next_invocation(environment)
            deadline_ms = int((time.time() + self.config.function_timeout_s) * 1000)
            headers = [
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
                ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    f"arn:aws:lambda:us-east-1:000000000000:function:{FUNCTION_NAME}",
                ),
                ("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"),
            ]
            return encode_response(200, invocation.event, headers)
        if request.method == "POST" and path == f"{RUNTIME_PREFIX}/init/error":
            self.init_errors.append(
                {"environment": environment.number, "reason": request.body.decode("utf-8", "replace")[:2000]}
            )
            return json_response(202, {"status": "OK"})
        parts = path.removeprefix(f"{RUNTIME_PREFIX}/invocation/").split("/")
        if request.method == "POST" and path.startswith(f"{RUNTIME_PREFIX}/invocation/") and len(parts) == 2:
            request_id, outcome = parts
            if outcome in ("response", "error") and self._finish(environment, request_id, outcome, request.body):
                return json_response(202, {"status": "OK"})
            return json_response(
                400, {"errorMessage": f"unknown invocation {request_id}", "errorType": "InvalidRequestID"}
            )
        return json_response(404, {"errorMessage": f"no route {request.method} {path}"})

    # --- the front ------------------------------------------------------------------------------------

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
            "handler": self.config.handler,
            "concurrency_limit": self.config.concurrency,
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
            "queued_at_limit": self.queued,
            "durations_ms": [round(value, 3) for value in self.durations_ms],
        }

    async def serve_front(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer HTTP requests on one client connection."""
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        try:
            while True:
                request = await read_request(reader, writer)
                if request is None:
                    break
                writer.write(await self._front_answer(request, peer[0]))
                await writer.drain()
                if not request.keep_alive:
                    break
        except BadRequest as error:
            with contextlib.suppress(ConnectionError):
                writer.write(json_response(400, {"message": str(error)}, keep_alive=False))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _front_answer(self, request: Request, source_ip: str) -> bytes:
        if request.method == "GET" and request.path == STATS_PATH:
            return json_response(200, self.stats(), request.keep_alive)
        event = json.dumps(api_gateway_event(request, source_ip)).encode()
        kind, payload = await self.invoke(event)
        if kind == "response":
            status, headers, body = http_response_from_result(payload)
            return encode_response(status, body, headers, request.keep_alive)
        if kind == "timeout":
            return json_response(504, {"message": "Endpoint request timed out"}, request.keep_alive)
        return json_response(502, {"message": "Internal Server Error"}, request.keep_alive)

    async def close(self) -> None:
        """Kill every environment."""
        for environment in list(self.environments.values()):
            environment.state = "reaped"
            if environment.process and environment.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    environment.process.kill()
                await environment.process.wait()


def _rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        import psutil

        return round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    except Exception:  # the process may be gone already; the figure is informative only
        return None


async def serve(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve the front until SIGTERM or SIGINT; prints ``listening on http://HOST:PORT`` once ready."""
    emulator = Emulator(config)
    server = await asyncio.start_server(emulator.serve_front, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()
    print(f"listening on http://{bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    await emulator.close()


def _run(main_coroutine) -> None:
    """Run on uvloop where it is installed (as uvicorn does), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_coroutine)
        return
    uvloop.run(main_coroutine)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest.lambda_emulator", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="front port (0: any free port)")
    parser.add_argument("--handler", default=DEFAULT_HANDLER, help="module.function the environments run")
    parser.add_argument("--concurrency", type=int, default=4, help="most environments at once")
    parser.add_argument("--idle-timeout", type=float, default=60.0, help="seconds before an idle environment is reaped")
    parser.add_argument("--timeout", type=float, default=30.0, help="function timeout, seconds")
    parser.add_argument("--memory-mb", type=int, default=None, help="AWS_LAMBDA_FUNCTION_MEMORY_SIZE to report")
    parser.add_argument("--model", default=None, help="MODEL_DIR for the function")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra function variable")
    parser.add_argument("--log-dir", default=None, help="folder for each environment's output")
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
    log_dir = Path(args.log_dir) if args.log_dir else None
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    config = EmulatorConfig(
        handler=args.handler,
        concurrency=args.concurrency,
        idle_timeout_s=args.idle_timeout,
        function_timeout_s=args.timeout,
        memory_mb=args.memory_mb,
        function_env=function_env,
        log_dir=log_dir,
    )
    try:
        _run(serve(config, args.host, args.port))
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
