"""The API contract, shared by the FastAPI service, the Lambda handlers, the load test and the tests.

The request models carry their limits as JSON-schema constraints (``minLength``, ``pattern``, ``maxLength``,
``minItems``, ``maxItems``) built from the settings when a surface starts (``request_models``), so the
OpenAPI document states exactly what the server enforces: pydantic checks those very constraints, and
``describe_validation_errors`` only rewords its messages. The same module holds the other rules every surface
applies to a request body: the content types read as JSON (``declares_json``) and the largest body a valid
request can have (``RequestModels.max_body_bytes``).
"""

from __future__ import annotations

import email.message
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from inference.settings import Settings

Sentiment = Literal["POSITIVE", "NEGATIVE"]

# "Empty or whitespace only" is one rule, stated once as this pattern: a text must hold a character outside
# this class. The class is the union of ECMA-262's ``\s`` (what JSON Schema's ``pattern`` means by whitespace:
# it adds U+FEFF) and Python's ``str.isspace`` (it adds U+001C-U+001F and U+0085), written out so that every
# regex engine that reads it (ECMA-262 for clients of the OpenAPI document, Rust's regex in pydantic-core
# for the server, Python's ``re``) reads the same set; ``\s`` and ``\S`` differ between those engines.
WHITESPACE_CLASS = r"\t\n\v\f\r\x1c-\x1f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
NOT_BLANK_PATTERN = f"[^{WHITESPACE_CLASS}]"
NOT_BLANK = re.compile(NOT_BLANK_PATTERN)

JSON_MEDIA_TYPE = "application/json"

# The largest body a valid request can have, from the limits. A text of MAX_TEXT_CHARS characters (code points,
# as JSON Schema's maxLength and pydantic count them) is longest on the wire when every character is an astral
# one sent as a surrogate-pair escape, "\ud83d\ude00": 12 bytes. Each text adds its two quotes, the comma and
# room for the whitespace a pretty-printer puts between array items; the envelope, ``{"texts": [...]}`` with
# whitespace around it, fits in ENVELOPE_BYTES.
JSON_BYTES_PER_CHAR = 12
TEXT_OVERHEAD_BYTES = 16
ENVELOPE_BYTES = 1024


def text_bytes(max_text_chars: int) -> int:
    """The most bytes one JSON-encoded text of up to ``max_text_chars`` characters takes in a request body."""
    return JSON_BYTES_PER_CHAR * max_text_chars + TEXT_OVERHEAD_BYTES


class RequestModels(NamedTuple):
    """The request models for one pair of limits, and the largest body a valid request of each can have."""

    predict: type[BaseModel]
    batch: type[BaseModel]
    max_text_chars: int
    max_batch_size: int

    def max_body_bytes(self, model: type[BaseModel]) -> int:
        """The largest valid body of ``model``, in bytes (``text_bytes`` per text, plus ``ENVELOPE_BYTES``)."""
        texts = self.max_batch_size if model is self.batch else 1
        return ENVELOPE_BYTES + texts * text_bytes(self.max_text_chars)


def request_models(settings: Settings) -> RequestModels:
    """The request models whose JSON-schema constraints are ``settings``' limits."""
    return build_request_models(settings.max_text_chars, settings.max_batch_size)


@lru_cache(maxsize=8)
def build_request_models(max_text_chars: int, max_batch_size: int) -> RequestModels:
    """``PredictRequest`` and ``BatchPredictRequest`` with these limits as constraints (one pair per limits)."""
    Text = Annotated[
        str,
        Field(
            strict=True,
            min_length=1,
            max_length=max_text_chars,
            pattern=NOT_BLANK_PATTERN,
            description=f"1 to {max_text_chars} characters, not whitespace only",
        ),
    ]

    class PredictRequest(BaseModel):
        """One text to classify."""

        model_config = ConfigDict(
            extra="forbid", json_schema_extra={"examples": [{"text": "This movie was fantastic!"}]}
        )
        text: Text

    class BatchPredictRequest(BaseModel):
        """Several texts to classify in one call; predictions come back in the same order."""

        model_config = ConfigDict(
            extra="forbid", json_schema_extra={"examples": [{"texts": ["A delight.", "A dreary, lifeless mess."]}]}
        )
        texts: Annotated[
            list[Text],
            Field(min_length=1, max_length=max_batch_size, description=f"1 to {max_batch_size} texts to classify"),
        ]

    return RequestModels(PredictRequest, BatchPredictRequest, max_text_chars, max_batch_size)


def __getattr__(name: str) -> type[BaseModel]:
    """``PredictRequest`` and ``BatchPredictRequest`` for the process's settings (``get_settings()``)."""
    if name in ("PredictRequest", "BatchPredictRequest"):
        from inference.settings import get_settings

        models = request_models(get_settings())
        return models.predict if name == "PredictRequest" else models.batch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


ErrorKind = Literal[
    "invalid_json",
    "validation_error",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
    "unsupported_media_type",
    "overloaded",
    "shutting_down",
]


class ErrorResponse(BaseModel):
    """Body of every 4xx answer, on every surface (and of the 503 a draining service answers)."""

    error: ErrorKind
    detail: list[ErrorDetail]


class RequestError(Exception):
    """A request the API refuses: status code, the shared error body and any extra headers."""

    def __init__(self, status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status_code} {body.get('error')}")
        self.status_code = status_code
        self.body = body
        self.headers = headers or {}


def error_body(error: ErrorKind, field: str, message: str) -> dict[str, Any]:
    """An ``ErrorResponse`` body with one problem."""
    return ErrorResponse(error=error, detail=[ErrorDetail(field=field, message=message)]).model_dump()


def readable_message(error: dict[str, Any]) -> str:
    """Pydantic's message for one error, reworded where it is one of the request models' limits."""
    kind, context = error.get("type"), error.get("ctx") or {}
    if kind in ("string_too_short", "string_pattern_mismatch"):
        return "text must not be empty or whitespace only"
    if kind == "string_too_long" and isinstance(error.get("input"), str):
        return f"text has {len(error['input'])} characters; the limit is {context['max_length']}"
    if kind == "too_short" and "min_length" in context:
        count = context["min_length"]
        return f"texts must hold at least {'one text' if count == 1 else f'{count} texts'}"
    if kind == "too_long" and "max_length" in context:
        return f"texts holds {context['actual_length']} texts; the limit is {context['max_length']}"
    return str(error.get("msg", "invalid value")).removeprefix("Value error, ")


def describe_validation_errors(errors: list[dict[str, Any]]) -> list[ErrorDetail]:
    """Turn pydantic's error list into ``ErrorDetail`` items with readable messages."""
    details = []
    for error in errors:
        location = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
        details.append(ErrorDetail(field=".".join(location) or "body", message=readable_message(error)))
    return details


def validation_error_body(error: ValidationError | list[dict[str, Any]]) -> dict[str, Any]:
    """JSON body for a request that failed schema validation."""
    errors = error.errors() if isinstance(error, ValidationError) else error
    return ErrorResponse(error="validation_error", detail=describe_validation_errors(errors)).model_dump()


def invalid_json_body(reason: str) -> dict[str, Any]:
    """JSON body for a request whose body is not JSON."""
    return error_body("invalid_json", "body", reason)


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
    return error_body(kind, "path", message)


def declares_json(content_type: str | None) -> bool:
    """Whether a ``Content-Type`` value declares JSON (``application/json``, ``application/*+json``, any parameters).

    Parsed as FastAPI parses it before it reads a body as JSON, so every surface draws the line in the same place.
    """
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def check_content_type(content_type: str | None) -> None:
    """Accept a JSON or absent ``Content-Type``; any other raises a 415 ``RequestError`` naming the header to send."""
    if content_type and not declares_json(content_type):
        message = (
            f"Content-Type {content_type!r} is not JSON; send the body as JSON with the header "
            f"Content-Type: {JSON_MEDIA_TYPE} (or no Content-Type at all)"
        )
        raise RequestError(415, error_body("unsupported_media_type", "content-type", message))


def payload_too_large(limit: int, size: int | None = None) -> RequestError:
    """The 413 answer for a body over ``limit`` bytes: of ``size`` bytes when declared, else cut off at the limit."""
    if size is not None:
        message = f"request body has {size} bytes; the limit is {limit} bytes, the largest a valid request can be"
    else:
        message = f"request body passed the limit of {limit} bytes, the largest a valid request can be, and was cut off"
    return RequestError(413, error_body("payload_too_large", "body", message))
