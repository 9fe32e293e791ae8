"""AWS Lambda entry point on Powertools: ``POST /predict``, ``POST /predict/batch`` and ``GET /health`` behind
API Gateway HTTP API (payload v2), with the FastAPI service's contract.

The model is loaded once per execution environment, at init (module import), from ``MODEL_DIR`` (or
``MODEL_URI``); a missing or broken model fails the init with a message naming the file. Bodies are validated
against the shared request models, built from the settings' limits, with the container's rules
(``functions.http_api``: size, content type, JSON, schema), so bad input gets the same status and body on every
surface; Powertools' validation serializes and checks the responses.

Logs are structured JSON with the request id and the cold-start flag; metrics go out as CloudWatch EMF
(``PredictionLatency``, ``Predictions`` by sentiment, ``ColdStart``, and the init metrics of
``functions.telemetry``); traces go to X-Ray unless ``POWERTOOLS_TRACE_DISABLED`` is set.
"""

# No ``from __future__ import annotations`` here: Powertools reads the routes' return annotations at runtime.
from collections import Counter
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from functions import INIT_STARTED
from functions.http_api import METHOD_NOT_ALLOWED_MESSAGE, NOT_FOUND_MESSAGE, path_failure, read_body
from functions.telemetry import report_init
from functions.tracing import make_tracer
from inference.manifest import ModelLoadError
from inference.schemas import BatchPredictResponse, Health, PredictResponse, RequestError, request_models
from inference.service import SentimentService, load_model
from inference.settings import get_settings

settings = get_settings()
logger = Logger(service=settings.powertools_service_name, level=settings.log_level)
metrics = Metrics(namespace=settings.powertools_metrics_namespace, service=settings.powertools_service_name)
tracer = make_tracer(settings.powertools_service_name)

try:
    service = SentimentService(load_model(settings))
except ModelLoadError as error:
    logger.error("cannot load the model", extra={"error": str(error), "path": str(error.path)})
    raise
INIT_REPORT = report_init(logger, settings, service.model.info, INIT_STARTED, entry_point="powertools")
# The request models with this environment's limits, as the FastAPI app builds them.
models = request_models(settings)

app = APIGatewayHttpResolver(enable_validation=True)
# The methods each path answers, for the 405 answer's Allow header (as the container sends it).
ROUTE_METHODS = {"/predict": "POST", "/predict/batch": "POST", "/health": "GET"}


def request_body(model: type[BaseModel]) -> Any:
    """The current request's body, validated against ``model`` (and no larger than its largest valid body)."""
    event = app.current_event
    content_type = event.headers.get("content-type")
    return read_body(model, event.body, event.is_base64_encoded, content_type, models.max_body_bytes(model))


def record_predictions(sentiments: list[str], latency_ms: float) -> None:
    """``PredictionLatency`` for this call and ``Predictions`` counted by sentiment."""
    metrics.add_metric(name="PredictionLatency", unit=MetricUnit.Milliseconds, value=latency_ms)
    for sentiment, count in sorted(Counter(sentiments).items()):
        with single_metric(
            name="Predictions",
            unit=MetricUnit.Count,
            value=count,
            namespace=settings.powertools_metrics_namespace,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="sentiment", value=sentiment)


@app.post("/predict")
@tracer.capture_method(capture_response=False)
def predict() -> PredictResponse:
    """Sentiment of one text."""
    body = request_body(models.predict)
    response = service.predict(body.text)
    record_predictions([response.sentiment], response.processing_time_ms)
    return response


@app.post("/predict/batch")
@tracer.capture_method(capture_response=False)
def predict_batch() -> BatchPredictResponse:
    """Sentiments of several texts, in request order."""
    body = request_body(models.batch)
    response = service.predict_batch(body.texts)
    record_predictions([p.sentiment for p in response.predictions], response.processing_time_ms)
    return response


@app.get("/health")
def health() -> Health:
    """Which model is loaded, and whether the service is ready."""
    return service.health()


@app.exception_handler(RequestError)
def on_request_error(error: RequestError) -> Response:
    """The shared error body with the container's status code."""
    return Response(
        status_code=error.status_code,
        content_type=content_types.APPLICATION_JSON,
        body=error.body,
        headers=error.headers,
    )


@app.not_found
def on_unknown_route(_: NotFoundError) -> Response:
    """404 for an unknown path; 405 with ``Allow`` for a known path and another method."""
    allowed = ROUTE_METHODS.get(app.current_event.path)
    if allowed:
        return on_request_error(path_failure(405, METHOD_NOT_ALLOWED_MESSAGE, allowed))
    return on_request_error(path_failure(404, NOT_FOUND_MESSAGE))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route one API Gateway HTTP API event."""
    response = app.resolve(event, context)
    logger.info(
        "request",
        extra={"route": event.get("routeKey"), "status": response["statusCode"], "path": event.get("rawPath")},
    )
    return response
