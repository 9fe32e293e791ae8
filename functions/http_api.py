"""Request bodies read the way the FastAPI service reads them, and its error answers, for the Powertools handler.

The FastAPI service (``container/app.py``) refuses a body over the largest valid request with ``413
payload_too_large``; parses a body as JSON when its ``content-type`` declares JSON (``application/json``,
``application/*+json``, with any parameters) or is absent, and refuses any other content type with ``415
unsupported_media_type``; an empty body is a missing body. Undecodable JSON answers ``400 invalid_json``; a schema
failure ``422 validation_error``; an unknown path ``404 not_found``; a known path with the wrong method ``405
method_not_allowed`` with an ``Allow`` header. Reading bodies here with the same rules (from ``inference.schemas``)
gives both Lambda entry points the container's answers, byte for byte after JSON parsing.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from inference.schemas import RequestError, check_content_type, path_error_body, payload_too_large, request_error

Model = TypeVar("Model", bound=BaseModel)

# Starlette's reason phrases, which the container puts in its 404/405 bodies.
NOT_FOUND_MESSAGE = "Not Found"
METHOD_NOT_ALLOWED_MESSAGE = "Method Not Allowed"
# FastAPI's message when a body cannot be decoded at all (bytes that are not UTF-8).
UNPARSABLE_BODY_MESSAGE = "There was an error parsing the body"


def validation_failure(errors: list[dict[str, Any]]) -> RequestError:
    """The answer for FastAPI-style validation errors: 400 for undecodable JSON, 422 for everything else."""
    return RequestError(*request_error(errors))


def path_failure(status_code: int, message: str, allow: str | None = None) -> RequestError:
    """The answer for a request the router cannot serve (404, 405) or a body it cannot decode (400)."""
    return RequestError(status_code, path_error_body(status_code, message), {"Allow": allow} if allow else None)


def raw_body(body: str | None, is_base64_encoded: bool) -> bytes:
    """The request body's bytes, base64-decoded when API Gateway encoded it."""
    if not body:
        return b""
    if not is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise path_failure(400, UNPARSABLE_BODY_MESSAGE) from None


def read_body(
    model: type[Model], body: str | None, is_base64_encoded: bool, content_type: str | None, max_bytes: int
) -> Model:
    """Validate a request body against ``model`` with the FastAPI service's rules; ``RequestError`` when it fails.

    In the service's order: size (over ``max_bytes``: 413), content type (415), JSON (400), schema (422).
    """
    data = raw_body(body, is_base64_encoded)
    if len(data) > max_bytes:
        raise payload_too_large(max_bytes, len(data))
    check_content_type(content_type)
    if not data:
        raise validation_failure([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        value: Any = json.loads(data)
    except json.JSONDecodeError as error:
        problem = {"type": "json_invalid", "loc": ("body", error.pos), "msg": "JSON decode error"}
        raise validation_failure([{**problem, "ctx": {"error": error.msg}}]) from None
    except ValueError:  # bytes that are not text in any JSON encoding
        raise path_failure(400, UNPARSABLE_BODY_MESSAGE) from None
    try:
        return model.model_validate(value, from_attributes=True)
    except ValidationError as error:
        errors = [{**detail, "loc": ("body", *detail["loc"])} for detail in error.errors()]
        raise validation_failure(errors) from None
