"""Request bodies read the way the FastAPI service reads them, and its error answers, for the Powertools handler.

The FastAPI service (``container/app.py``) parses a body as JSON only when its ``content-type`` declares JSON
(``application/json`` or ``application/*+json``); any other body is validated as raw bytes, which the request
models reject as "not a dictionary". An empty body is a missing body. Undecodable JSON answers ``400
invalid_json``; a schema failure ``422 validation_error``; an unknown path ``404 not_found``; a known path with
the wrong method ``405 method_not_allowed`` with an ``Allow`` header. Reading bodies here with the same rules
gives both Lambda entry points the container's answers, byte for byte after JSON parsing.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from inference.schemas import path_error_body, request_error

Model = TypeVar("Model", bound=BaseModel)

# Starlette's reason phrases, which the container puts in its 404/405 bodies.
NOT_FOUND_MESSAGE = "Not Found"
METHOD_NOT_ALLOWED_MESSAGE = "Method Not Allowed"
# Starlette's message when a body cannot be decoded at all (bytes that are not UTF-8).
UNPARSABLE_BODY_MESSAGE = "There was an error parsing the body"


class RequestError(Exception):
    """A request the API refuses: status code, the shared error body and any extra headers."""

    def __init__(self, status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status_code} {body.get('error')}")
        self.status_code = status_code
        self.body = body
        self.headers = headers or {}


def declares_json(content_type: str | None) -> bool:
    """Whether a ``content-type`` value declares a JSON body (``application/json``, ``application/*+json``)."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = media_type.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


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


def read_body(model: type[Model], body: str | None, is_base64_encoded: bool, content_type: str | None) -> Model:
    """Validate a request body against ``model`` with the FastAPI service's rules; ``RequestError`` when it fails."""
    data = raw_body(body, is_base64_encoded)
    if not data:
        raise validation_failure([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    value: Any = data
    if declares_json(content_type):
        try:
            value = json.loads(data)
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
