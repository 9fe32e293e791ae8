"""FastAPI app: thin routes over the inference core.

Request bodies go through the contract's rules in order: a body over the largest valid request gets 413
(``container.body_limit``, before it is read whole); a ``Content-Type`` that is set and not JSON gets 415 (no
``Content-Type`` reads as JSON); undecodable JSON 400; a request the schema forbids 422. The request models, and
so the OpenAPI document's constraints, are built from the settings' limits when the app is created.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations, which name the request
# models built inside ``create_app``, at runtime.
import time
from collections import Counter as Tally
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from container import metrics
from container.admission import Admission, AdmissionMiddleware, Refused, on_refused
from container.body_limit import BodyLimitMiddleware
from inference.batcher import MicroBatcher
from inference.schemas import (
    JSON_MEDIA_TYPE,
    BatchPredictResponse,
    ErrorResponse,
    Health,
    PredictResponse,
    RequestError,
    RequestModels,
    check_content_type,
    path_error_body,
    request_error,
    request_models,
)
from inference.service import SentimentService, elapsed_ms, load_model, to_responses
from inference.settings import Settings, get_settings


def error_responses(models: RequestModels, model: type[BaseModel]) -> dict[int | str, dict]:
    """The OpenAPI ``responses`` of a route taking a ``model`` body: every error status it can answer."""
    return {
        400: {"model": ErrorResponse, "description": "The body is not valid JSON (`invalid_json`)."},
        413: {
            "model": ErrorResponse,
            "description": f"The body is over {models.max_body_bytes(model)} bytes, the largest a valid request "
            "can be (`payload_too_large`).",
        },
        415: {
            "model": ErrorResponse,
            "description": f"`Content-Type` is set and is not JSON: send `Content-Type: {JSON_MEDIA_TYPE}` "
            "(`application/*+json` and no `Content-Type` are read as JSON too) (`unsupported_media_type`).",
        },
        422: {"model": ErrorResponse, "description": "The body breaks the request schema (`validation_error`)."},
        429: {
            "model": ErrorResponse,
            "description": "Overloaded: retry after the seconds in `Retry-After` (`overloaded`).",
            "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
        },
        503: {"model": ErrorResponse, "description": "Shutting down: retry elsewhere (`shutting_down`)."},
    }


async def require_json_content_type(request: Request) -> None:
    """415 unless the ``Content-Type`` is JSON or absent (the body is then read as JSON)."""
    check_content_type(request.headers.get("content-type"))


class BatchingService:
    """The async face of the service: predictions go through the micro-batcher, off the event loop."""

    def __init__(self, settings: Settings) -> None:
        self.sync = SentimentService(load_model(settings))
        self.batcher = MicroBatcher(
            self.sync.model,
            settings.micro_batch_max_size,
            settings.micro_batch_wait_ms,
            on_run=metrics.record_model_run,
        )
        self.admission = Admission(settings.max_inflight_texts, settings.burst_texts)
        metrics.MODEL_LOAD_SECONDS.set(self.sync.model.info.load_seconds)

    async def predict(self, texts: list[str]) -> tuple[list[PredictResponse], float]:
        """Responses for ``texts`` and the milliseconds they took, queueing included.

        Raises ``admission.Refused`` (429 or 503) without queueing when the worker cannot admit them.
        """
        started = time.perf_counter()
        with self.admission.admit(len(texts)):
            predictions = await self.batcher.predict(texts)
        took = elapsed_ms(started)
        for sentiment, count in Tally(p.sentiment for p in predictions).items():
            metrics.PREDICTIONS.labels(sentiment).inc(count)
        return to_responses(texts, predictions, took), took

    def health(self) -> Health:
        """The model's health; not ready while draining."""
        return self.admission.health(self.sync.health())


async def get_service(request: Request) -> BatchingService:
    """The service the lifespan loaded (``async``, so FastAPI calls it on the loop, not in a thread pool)."""
    return request.app.state.service


ServiceDep = Annotated[BatchingService, Depends(get_service)]


def create_app(settings: Settings | None = None, service: BatchingService | None = None) -> FastAPI:
    """The API; the model is loaded (and verified) before the first request is accepted.

    Pass a ``service`` loaded beforehand where the lifespan runs per invocation (Lambda through Mangum):
    the app then uses it as it is and leaves it running.
    """
    settings = settings or get_settings()
    models = request_models(settings)
    PredictBody = models.predict
    BatchBody = models.batch

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service is not None:
            app.state.service = service
            yield
            return
        app.state.service = BatchingService(settings)
        app.state.service.admission.drain_on_sigterm(settings.drain_grace_seconds)
        yield
        app.state.service.batcher.close()

    app = FastAPI(
        title="Sentiment API",
        version="1.0",
        summary="POSITIVE / NEGATIVE sentiment from an int8 ONNX model",
        lifespan=lifespan,
        strict_content_type=False,
    )
    body_limits = {("POST", "/predict"): PredictBody, ("POST", "/predict/batch"): BatchBody}
    app.add_middleware(BodyLimitMiddleware, limits={key: models.max_body_bytes(m) for key, m in body_limits.items()})
    app.add_middleware(AdmissionMiddleware)  # outside the body limit: a full worker refuses before any body is read
    app.add_middleware(metrics.PrometheusMiddleware)  # added last: outermost, so it counts the refusals too
    app.add_exception_handler(Refused, on_refused)

    @app.exception_handler(RequestError)
    async def on_request_error(request: Request, error: RequestError) -> JSONResponse:
        return JSONResponse(error.body, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        status_code, body = request_error(list(error.errors()))
        return JSONResponse(body, status_code=status_code)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        body = path_error_body(error.status_code, str(error.detail))
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    json_body = [Depends(require_json_content_type)]

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses=error_responses(models, PredictBody),
        dependencies=json_body,
    )
    async def predict(body: PredictBody, service: ServiceDep) -> PredictResponse:
        """Sentiment of one text."""
        (response,), _ = await service.predict([body.text])
        return response

    @app.post(
        "/predict/batch",
        response_model=BatchPredictResponse,
        responses=error_responses(models, BatchBody),
        dependencies=json_body,
    )
    async def predict_batch(body: BatchBody, service: ServiceDep) -> BatchPredictResponse:
        """Sentiments of several texts, in request order."""
        responses, took = await service.predict(body.texts)
        return BatchPredictResponse(predictions=responses, processing_time_ms=took)

    @app.get("/health", response_model=Health, responses={503: {"model": Health, "description": "Not ready"}})
    async def health(service: ServiceDep, response: Response) -> Health:
        """Which model is loaded, and whether the service is ready (503 while it drains before stopping)."""
        health = service.health()
        if not health.ready:
            response.status_code = 503
        return health

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """Prometheus exposition format."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return app
