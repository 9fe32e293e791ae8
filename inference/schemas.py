"""The API contract, shared by the FastAPI service, the Lambda handlers, the load test and the tests."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inference.settings import get_settings

Sentiment = Literal["POSITIVE", "NEGATIVE"]


def check_text(text: str) -> str:
    """Reject empty, whitespace-only and over-long texts with a message naming the problem."""
    if not text.strip():
        raise ValueError("text must not be empty or whitespace only")
    limit = get_settings().max_text_chars
    if len(text) > limit:
        raise ValueError(f"text has {len(text)} characters; the limit is {limit}")
    return text


class PredictRequest(BaseModel):
    """One text to classify."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": "This movie was fantastic!"}]})
    text: Annotated[str, Field(strict=True, description="Text to classify")]

    @field_validator("text")
    @classmethod
    def _check_text(cls, text: str) -> str:
        return check_text(text)


class BatchPredictRequest(BaseModel):
    """Several texts to classify in one call; predictions come back in the same order."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"texts": ["A delight.", "A dreary, lifeless mess."]}]}
    )
    texts: Annotated[list[Annotated[str, Field(strict=True)]], Field(description="Texts to classify")]

    @field_validator("texts")
    @classmethod
    def _check_texts(cls, texts: list[str]) -> list[str]:
        limit = get_settings().max_batch_size
        if not texts:
            raise ValueError("texts must hold at least one text")
        if len(texts) > limit:
            raise ValueError(f"texts holds {len(texts)} texts; the limit is {limit}")
        for index, text in enumerate(texts):
            try:
                check_text(text)
            except ValueError as error:
                raise ValueError(f"texts[{index}]: {error}") from None
        return texts


class PredictResponse(BaseModel):
    """The sentiment of one text and the model's probability for it."""

    text: str
    sentiment: Sentiment
    confidence: Annotated[float, Field(ge=0.0, le=1.0)]
    processing_time_ms: Annotated[float, Field(ge=0.0)]


class BatchPredictResponse(BaseModel):
    """Predictions in request order."""

    predictions: list[PredictResponse]
    processing_time_ms: Annotated[float, Field(ge=0.0)]


class Health(BaseModel):
    """Service health: which model is loaded and whether it is ready."""

    status: Literal["ok", "loading", "error", "draining"]
    ready: bool
    model_name: str
    model_version: str


class ErrorDetail(BaseModel):
    """One problem with a request."""

    field: str
    message: str


class ErrorResponse(BaseModel):
    """Body of every 4xx answer, on every surface (and of the 503 a draining service answers)."""

    error: Literal["invalid_json", "validation_error", "not_found", "method_not_allowed", "overloaded", "shutting_down"]
    detail: list[ErrorDetail]


def describe_validation_errors(errors: list[dict[str, Any]]) -> list[ErrorDetail]:
    """Turn pydantic's error list into ``ErrorDetail`` items with readable messages."""
    details = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
        message = error.get("msg", "invalid value")
        message = message.removeprefix("Value error, ")
        details.append(ErrorDetail(field=".".join(location) or "body", message=message))
    return details


def validation_error_body(error: ValidationError | list[dict[str, Any]]) -> dict[str, Any]:
    """JSON body for a request that failed schema validation."""
    errors = error.errors() if isinstance(error, ValidationError) else error
    return ErrorResponse(error="validation_error", detail=describe_validation_errors(errors)).model_dump()


def invalid_json_body(reason: str) -> dict[str, Any]:
    """JSON body for a request whose body is not JSON."""
    return ErrorResponse(error="invalid_json", detail=[ErrorDetail(field="body", message=reason)]).model_dump()


def request_error(errors: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """Status and body for FastAPI-style request errors: 400 when the JSON is undecodable, 422 otherwise."""
    json_errors = [error for error in errors if error.get("type") == "json_invalid"]
    if json_errors:
        reason = json_errors[0].get("ctx", {}).get("error") or json_errors[0].get("msg")
        return 400, invalid_json_body(f"request body is not valid JSON: {reason}")
    return 422, validation_error_body(errors)


def path_error_body(status_code: int, message: str) -> dict[str, Any]:
    """JSON body for a request the router cannot serve: 404 unknown path, 405 wrong method."""
    kind = {404: "not_found", 405: "method_not_allowed"}.get(status_code, "validation_error")
    return ErrorResponse(error=kind, detail=[ErrorDetail(field="path", message=message)]).model_dump()
