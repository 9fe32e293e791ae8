"""Admission control and graceful drain for the FastAPI service (one ``Admission`` per worker process).

**Admission.** At most ``MAX_INFLIGHT_TEXTS`` texts are admitted and not yet answered per worker, plus
``BURST_TEXTS`` more as long as the worker has refused nothing for ``BURST_REARM_S``. A request that would go
past the limit that applies is refused with 429 ``{"error": "overloaded", ...}`` and ``Retry-After`` before it
reaches the micro-batcher's queue or the model; a request that finds nothing in flight is always admitted, so a
batch larger than the bound still runs (alone).

The two limits tell a burst from a standing queue. A stall of the host or a short burst of arrivals piles up
texts that a worker below its capacity then catches up on: the burst allowance admits them instead of refusing
them. Under overload the pile outgrows the allowance, the first refusal disarms it, and from then on (until a
second passes without a refusal) every admitted request waits behind at most ``MAX_INFLIGHT_TEXTS`` texts, so
its queueing is about ``bound / throughput``. Both defaults were chosen by measurement in the deployed shape
(the Fargate task: one vCPU, one worker, ``PIN_CPUS``): docs/overload.md#choosing-the-bound.

**Drain.** On SIGTERM (what ECS and Kubernetes send) the worker stops admitting: new prediction requests get
503 ``{"error": "shutting_down", ...}`` with ``Connection: close``, so a client's retry opens a connection
to another instance, and ``/health`` answers 503 (not ready). Once every admitted request is answered, or
``DRAIN_GRACE_SECONDS`` have passed, the signal goes on to the handler uvicorn installed, and uvicorn shuts
down as it does on SIGTERM: it closes the listener and the idle connections, gives the rest
``SHUTDOWN_AFTER_DRAIN_S`` to finish, runs the lifespan shutdown, and ``python -m container`` exits 0.
The whole stop then takes at most ``DRAIN_GRACE_SECONDS + SHUTDOWN_MARGIN_S``, which must fit the
platforms' stop timeouts (ECS ``stopTimeout``; Kubernetes' ``terminationGracePeriodSeconds`` less the pod's
``preStop`` sleep; a test reads the deployment files).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from container import metrics
from inference.schemas import ErrorDetail, ErrorResponse, Health

PREDICT_PATHS = frozenset({"/predict", "/predict/batch"})
RETRY_AFTER_S = 1
# Seconds without a refusal after which the burst allowance is armed again.
BURST_REARM_S = 1.0
# Seconds uvicorn gives open connections after the drain (its timeout_graceful_shutdown).
SHUTDOWN_AFTER_DRAIN_S = 2
# Most seconds from the end of the drain to exit: uvicorn's 0.1 s tick and 0.1 s pause, the connections'
# SHUTDOWN_AFTER_DRAIN_S, and the lifespan shutdown (the batcher finishes the texts already queued).
SHUTDOWN_MARGIN_S = 3.0

logger = logging.getLogger("uvicorn.error")


class Refused(Exception):
    """A prediction request refused before the model; ``response()`` is the answer."""

    status_code = 503
    error = "shutting_down"

    def __init__(self, message: str, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers

    def response(self) -> JSONResponse:
        """The JSON error answer, in the API's error body shape."""
        body = ErrorResponse(error=self.error, detail=[ErrorDetail(field="request", message=self.message)])
        return JSONResponse(body.model_dump(), status_code=self.status_code, headers=self.headers)


class Overloaded(Refused):
    """Admitting the request would put more texts in flight than the bound."""

    status_code = 429
    error = "overloaded"


class ShuttingDown(Refused):
    """The worker is draining before it stops."""


async def on_refused(request: Request, error: Exception) -> JSONResponse:
    """FastAPI exception handler for ``Refused``."""
    assert isinstance(error, Refused)
    return error.response()


class AdmissionMiddleware:
    """Refuses prediction requests at the door when the worker is full or draining: before the body is read,
    parsed or validated, the cheapest answer there is. A request that would only partly fit is refused later,
    by ``Admission.admit``, once its texts are counted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: dict[str, Any] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in PREDICT_PATHS:
            service = getattr(scope["app"].state, "service", None)
            refused = service.admission.refusal_at_door() if service is not None else None
            if refused is not None:
                scope["route"] = self._route(scope)  # so the metrics label it with its route, not "unmatched"
                await refused.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _route(self, scope: Scope) -> Any:
        if self._routes is None:
            self._routes = {getattr(route, "path", ""): route for route in scope["app"].router.routes}
        return self._routes.get(scope["path"])


class Admission:
    """Counts the texts in flight in one worker, refuses what goes past the limit, and drains on request.

    ``limit`` holds under overload; ``burst_limit`` (``limit + burst_texts``) while nothing has been refused for
    ``BURST_REARM_S`` seconds of ``clock``. Everything runs on the worker's event loop, so plain counters need
    no lock.
    """

    def __init__(
        self, max_inflight_texts: int, burst_texts: int = 0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_inflight_texts < 1:
            raise ValueError(f"max_inflight_texts must be at least 1, not {max_inflight_texts}")
        if burst_texts < 0:
            raise ValueError(f"burst_texts must be at least 0, not {burst_texts}")
        self.limit = max_inflight_texts
        self.burst_limit = max_inflight_texts + burst_texts
        self._clock = clock
        self._refused_at = -math.inf
        self.texts = 0
        self.requests = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._drain_task: asyncio.Task[None] | None = None

    def _shutting_down(self) -> ShuttingDown:
        metrics.SHED.labels("shutting_down").inc()
        return ShuttingDown(
            "the service is shutting down and admits no new requests; retry, another instance will answer",
            {"Retry-After": str(RETRY_AFTER_S), "Connection": "close"},
        )

    def _overloaded(self, count: int | None) -> Overloaded:
        metrics.SHED.labels("overloaded").inc()
        burst = "" if self.limit_now() == self.limit else f", {self.burst_limit} in a burst (BURST_TEXTS)"
        self._refused_at = self._clock()
        adds = "" if count is None else f" and this request adds {count}"
        return Overloaded(
            f"{self.texts} texts are in flight{adds}; the limit is {self.limit} per worker (MAX_INFLIGHT_TEXTS)"
            f"{burst}: retry after {RETRY_AFTER_S} s",
            {"Retry-After": str(RETRY_AFTER_S)},
        )

    def limit_now(self) -> int:
        """The texts in flight allowed now: the burst limit unless a request was refused in the last rearm time."""
        return self.burst_limit if self._clock() - self._refused_at >= BURST_REARM_S else self.limit

    def _fits(self, count: int) -> bool:
        return not self.texts or self.texts + count <= self.limit_now()

    def refusal_at_door(self) -> Refused | None:
        """The refusal for any prediction request, before its body is read: draining, or no room for one text."""
        if self.draining:
            return self._shutting_down()
        if not self._fits(1):
            return self._overloaded(None)
        return None

    @contextmanager
    def admit(self, count: int) -> Iterator[None]:
        """Hold ``count`` texts in flight for the block; raises ``ShuttingDown`` or ``Overloaded`` instead."""
        if self.draining:
            raise self._shutting_down()
        if not self._fits(count):
            raise self._overloaded(count)
        if self.texts + count > self.limit:
            metrics.BURST_ADMITTED.inc()
        self.texts += count
        self.requests += 1
        self._idle.clear()
        metrics.INFLIGHT_TEXTS.inc(count)
        try:
            yield
        finally:
            self.texts -= count
            self.requests -= 1
            metrics.INFLIGHT_TEXTS.dec(count)
            if not self.requests:
                self._idle.set()

    def health(self, health: Health) -> Health:
        """``health`` as it is, or not ready (``draining``) once the drain has started."""
        return health.model_copy(update={"status": "draining", "ready": False}) if self.draining else health

    async def drain(self, grace_s: float) -> bool:
        """Stop admitting and wait until every admitted request is answered; ``False`` if ``grace_s`` ran out."""
        self.draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), grace_s)
        except TimeoutError:
            return False
        return True

    def drain_on_sigterm(self, grace_s: float) -> None:
        """On SIGTERM, drain (at most ``grace_s``), then hand the signal to the handler it replaced (uvicorn's).

        Only in the main thread (where signals are delivered): under a test client this does nothing.
        """
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGTERM)
        if previous is None:  # a handler not installed from Python: leave the default behaviour to it
            previous = signal.SIG_DFL

        async def drain_then_stop() -> None:
            started = time.perf_counter()
            in_flight = self.requests
            drained = await self.drain(grace_s)
            took = time.perf_counter() - started
            if drained:
                logger.info("Drained %d request(s) in flight in %.2f s", in_flight, took)
            else:
                logger.warning("Drain grace of %g s ran out with %d request(s) in flight", grace_s, self.requests)
            signal.signal(signal.SIGTERM, previous)
            os.kill(os.getpid(), signal.SIGTERM)

        def start_drain(signum: int, frame: Any) -> None:
            if self._drain_task is not None:
                return  # a repeated SIGTERM changes nothing
            logger.info("SIGTERM: draining (at most %g s)", grace_s)
            self._drain_task = loop.create_task(drain_then_stop())

        def on_sigterm(signum: int, frame: Any) -> None:
            self.draining = True
            loop.call_soon_threadsafe(start_drain, signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)
