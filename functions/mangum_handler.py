"""AWS Lambda entry point that runs the unchanged FastAPI app (``container.app``) through Mangum.

For teams that prefer identical code on every surface over the lighter Powertools resolver
(``functions.handler``); both answer the same contract. The model is loaded once, at init, into a
``BatchingService`` that the app reuses: Mangum runs the ASGI lifespan around every invocation, and a service
passed in is left running by it.

Logs are Powertools' structured JSON with the request id and cold-start flag; the init metrics and
``ColdStart`` go out as CloudWatch EMF. Per-prediction counts stay in the app's Prometheus registry, which
nothing scrapes on Lambda: ``PredictionLatency`` and ``Predictions`` come from the Powertools handler only.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from container.app import BatchingService, create_app
from functions import INIT_STARTED
from functions.telemetry import report_init
from functions.tracing import make_tracer
from inference.manifest import ModelLoadError
from inference.settings import get_settings

settings = get_settings()
logger = Logger(service=settings.powertools_service_name, level=settings.log_level)
metrics = Metrics(namespace=settings.powertools_metrics_namespace, service=settings.powertools_service_name)
tracer = make_tracer(settings.powertools_service_name)

try:
    service = BatchingService(settings)
except ModelLoadError as error:
    logger.error("cannot load the model", extra={"error": str(error), "path": str(error.path)})
    raise
INIT_REPORT = report_init(logger, settings, service.sync.model.info, INIT_STARTED, entry_point="mangum")

asgi_handler = Mangum(create_app(settings, service=service), lifespan="auto")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one API Gateway HTTP API event through the FastAPI app."""
    response = asgi_handler(event, context)
    logger.info(
        "request",
        extra={"route": event.get("routeKey"), "status": response["statusCode"], "path": event.get("rawPath")},
    )
    return response
