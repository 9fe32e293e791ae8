"""Both Lambda entry points serve the API's contract through API Gateway HTTP API (v2) events, and answer
every request exactly as the FastAPI service does.

One table of requests runs through the Powertools handler and the Mangum handler. Each answer is checked
against the table (status, error kind, the field the problem is in) and against the FastAPI service's answer
to the same request (status, JSON body and ``Allow`` header, equal).

The handlers load the bundled model (or ``MODEL_DIR`` where set) once per test session, as Lambda does once
per execution environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from functions.apigw import LocalLambdaContext, http_api_event, response_header, response_json
from inference.schemas import request_models
from inference.settings import BUNDLED_MODEL_DIR, Settings
from tests.conftest import HANDLER_MODULES

JSON = {"content-type": "application/json"}
DEFAULTS = Settings()
POSITIVE_TEXT = "An absolute triumph: moving, funny and beautifully acted. I loved every minute of it."
NEGATIVE_TEXT = "A dull, tedious mess with wooden acting and no story. I hated every minute of it."


@pytest.fixture(scope="session")
def container_client(lambda_model_dir: Path) -> Iterator[Any]:
    """The FastAPI service on the same model, to compare answers with."""
    from fastapi.testclient import TestClient

    from container.app import create_app

    with TestClient(create_app(Settings(model_dir=lambda_model_dir))) as client:
        yield client


@pytest.fixture(params=sorted(HANDLER_MODULES))
def invoke(request, handlers) -> Any:
    """Call one handler (each test runs once per handler) on an event; returns the Lambda response."""
    module = handlers[request.param]

    def call(event: dict[str, Any]) -> dict[str, Any]:
        return module.lambda_handler(event, LocalLambdaContext())

    call.handler_name = request.param  # type: ignore[attr-defined]
    return call


@dataclass(frozen=True)
class Case:
    """One request and what the contract says about its answer."""

    name: str
    method: str
    path: str
    body: str | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    error: str | None = None
    fields: tuple[str, ...] = ()
    message_part: str = ""

    def event(self) -> dict[str, Any]:
        """The API Gateway HTTP API event for this request."""
        return http_api_event(self.method, self.path, self.body, self.headers)


def body(payload: Any) -> str:
    """A JSON request body."""
    return json.dumps(payload)


TOO_LONG = "a" * (DEFAULTS.max_text_chars + 1)
TOO_MANY = ["fine"] * (DEFAULTS.max_batch_size + 1)
MODELS = request_models(DEFAULTS)
PREDICT_LIMIT = MODELS.max_body_bytes(MODELS.predict)
BATCH_LIMIT = MODELS.max_body_bytes(MODELS.batch)


def padded(payload: Any, size: int) -> str:
    """``payload`` as JSON, padded with trailing whitespace (still valid JSON) to exactly ``size`` bytes."""
    text = json.dumps(payload)
    assert len(text.encode()) <= size
    return text + " " * (size - len(text.encode()))


# The longest valid text, in its longest encoding: every character an astral one, sent as an escaped surrogate pair.
LONGEST_TEXT_BODY = '{"text": "' + "\\ud83d\\ude00" * DEFAULTS.max_text_chars + '"}'

PREDICT, BATCH, HEALTH = "/predict", "/predict/batch", "/health"
INVALID = "validation_error"
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON_UTF8 = {"content-type": "application/json; charset=utf-8"}
JSON_API = {"content-type": "application/vnd.api+json"}
JSON_UPPER = {"content-type": "Application/JSON"}
PROBLEM_JSON = {"content-type": "application/problem+json; charset=utf-8"}
TEXT_PLAIN = {"content-type": "text/plain"}
MULTIPART = {"content-type": "multipart/form-data; boundary=xyz"}
LATIN_1 = '{"text": "café"}'.encode("latin-1")
UNSUPPORTED = "unsupported_media_type"
TOO_LARGE = "payload_too_large"
FIX = "Content-Type: application/json"

# fmt: off
CASES = [
    # Good requests.
    Case("predict", "POST", PREDICT, body({"text": POSITIVE_TEXT}), JSON),
    Case("predict-batch", "POST", BATCH, body({"texts": [POSITIVE_TEXT, NEGATIVE_TEXT, "ok"]}), JSON),
    Case("health", "GET", HEALTH),
    Case("json-with-charset", "POST", PREDICT, body({"text": "fine"}), JSON_UTF8),
    Case("json-suffix-media-type", "POST", PREDICT, body({"text": "fine"}), JSON_API),
    Case("base64-encoded-body", "POST", PREDICT, body({"text": "fine"}).encode(), JSON),
    Case("text-at-the-limit", "POST", PREDICT, body({"text": "a" * DEFAULTS.max_text_chars}), JSON),
    # Schema violations: 422 validation_error, naming the field.
    Case("json-upper-case", "POST", PREDICT, body({"text": "fine"}), JSON_UPPER),
    Case("problem-json-with-charset", "POST", BATCH, body({"texts": ["fine"]}), PROBLEM_JSON),
    Case("batch-at-the-limit", "POST", BATCH, body({"texts": ["fine"] * DEFAULTS.max_batch_size}), JSON),
    Case("text-with-a-separator-and-a-letter", "POST", PREDICT, body({"text": "\u001d a"}), JSON),
    # No Content-Type: the body is read as JSON.
    Case("no-content-type", "POST", PREDICT, body({"text": "ok"}), {}),
    Case("no-content-type-batch", "POST", BATCH, body({"texts": ["ok", "fine"]}), {}),
    Case("no-content-type-base64", "POST", PREDICT, body({"text": "ok"}).encode(), {}),
    Case("no-content-type-not-json", "POST", PREDICT, "text=ok", {}, 400, "invalid_json", ("body",), "not valid JSON"),
    Case("no-content-type-empty-body", "POST", PREDICT, "", {}, 422, INVALID, ("body",), "required"),
    # A Content-Type that is set and is not JSON: 415, naming the header to send.
    Case("text-plain", "POST", PREDICT, body({"text": "ok"}), TEXT_PLAIN, 415, UNSUPPORTED, ("content-type",), FIX),
    Case("form-encoded", "POST", BATCH, "texts=good", FORM, 415, UNSUPPORTED, ("content-type",), FIX),
    Case("curl-data-json", "POST", PREDICT, body({"text": "fine"}), FORM, 415, UNSUPPORTED, ("content-type",), FIX),
    Case("multipart", "POST", PREDICT, "--xyz--", MULTIPART, 415, UNSUPPORTED, ("content-type",), "multipart"),
    Case("text-plain-base64", "POST", BATCH, body({"texts": ["ok"]}).encode(), TEXT_PLAIN, 415, UNSUPPORTED,
         ("content-type",), FIX),
    Case("text-plain-empty-body", "POST", PREDICT, "", TEXT_PLAIN, 415, UNSUPPORTED, ("content-type",), FIX),
    # Schema violations: 422 validation_error, naming the field.
    Case("empty-text", "POST", PREDICT, body({"text": ""}), JSON, 422, INVALID, ("text",), "empty"),
    Case("whitespace-text", "POST", PREDICT, body({"text": " \n\t "}), JSON, 422, INVALID, ("text",), "empty"),
    Case("python-only-whitespace", "POST", PREDICT, body({"text": "\u001c\u001d\u001e\u001f\u0085"}), JSON, 422,
         INVALID, ("text",), "empty"),
    Case("ecma-only-whitespace", "POST", PREDICT, body({"text": "\ufeff"}), JSON, 422, INVALID, ("text",), "empty"),
    Case("unicode-spaces", "POST", BATCH, body({"texts": ["ok", "\u00a0\u2003\u3000\u2028"]}), JSON, 422, INVALID,
         ("texts.1",), "empty"),
    Case("text-too-long", "POST", PREDICT, body({"text": TOO_LONG}), JSON, 422, INVALID, ("text",),
         f"the limit is {DEFAULTS.max_text_chars}"),
    Case("text-not-a-string", "POST", PREDICT, body({"text": 5}), JSON, 422, INVALID, ("text",), "string"),
    Case("text-missing", "POST", PREDICT, body({}), JSON, 422, INVALID, ("text",), "required"),
    Case("unknown-field", "POST", PREDICT, body({"text": "ok", "lang": "en"}), JSON, 422, INVALID, ("lang",),
         "not permitted"),
    Case("body-is-a-list", "POST", PREDICT, body(["text"]), JSON, 422, INVALID, ("body",), "dictionary"),
    Case("body-is-null", "POST", PREDICT, "null", JSON, 422, INVALID, ("body",), "dictionary"),
    Case("empty-body", "POST", PREDICT, "", JSON, 422, INVALID, ("body",), "required"),
    Case("no-body", "POST", BATCH, None, JSON, 422, INVALID, ("body",), "required"),
    Case("batch-empty", "POST", BATCH, body({"texts": []}), JSON, 422, INVALID, ("texts",), "at least one"),
    Case("batch-too-many", "POST", BATCH, body({"texts": TOO_MANY}), JSON, 422, INVALID, ("texts",),
         f"the limit is {DEFAULTS.max_batch_size}"),
    Case("batch-with-empty-text", "POST", BATCH, body({"texts": ["ok", " "]}), JSON, 422, INVALID, ("texts.1",),
         "empty"),
    Case("batch-with-non-string", "POST", BATCH, body({"texts": ["ok", 3]}), JSON, 422, INVALID, ("texts.1",),
         "string"),
    Case("batch-texts-not-a-list", "POST", BATCH, body({"texts": "ok"}), JSON, 422, INVALID, ("texts",), "list"),
    Case("batch-given-text", "POST", BATCH, body({"text": "ok"}), JSON, 422, INVALID, ("texts", "text"), "required"),
    # Body size: up to the largest valid request is read; one byte more is 413, before the content type.
    Case("longest-valid-text-encoding", "POST", PREDICT, LONGEST_TEXT_BODY, JSON),
    Case("predict-body-at-the-limit", "POST", PREDICT, padded({"text": "fine"}, PREDICT_LIMIT), JSON),
    Case("predict-body-over-the-limit", "POST", PREDICT, padded({"text": "fine"}, PREDICT_LIMIT + 1), JSON, 413,
         TOO_LARGE, ("body",), f"has {PREDICT_LIMIT + 1} bytes; the limit is {PREDICT_LIMIT} bytes"),
    Case("predict-body-over-the-limit-base64", "POST", PREDICT, padded({"text": "ok"}, PREDICT_LIMIT + 1).encode(),
         JSON, 413, TOO_LARGE, ("body",), f"the limit is {PREDICT_LIMIT} bytes"),
    Case("predict-body-over-the-limit-text-plain", "POST", PREDICT, "x" * (PREDICT_LIMIT + 1), TEXT_PLAIN, 413,
         TOO_LARGE, ("body",), f"the limit is {PREDICT_LIMIT} bytes"),
    Case("batch-body-at-the-limit", "POST", BATCH, padded({"texts": ["fine"]}, BATCH_LIMIT), JSON),
    Case("batch-body-over-the-limit", "POST", BATCH, padded({"texts": ["fine"]}, BATCH_LIMIT + 1), {}, 413,
         TOO_LARGE, ("body",), f"has {BATCH_LIMIT + 1} bytes; the limit is {BATCH_LIMIT} bytes"),
    # Bodies that cannot be decoded: 400.
    Case("not-json", "POST", PREDICT, "this is not json", JSON, 400, "invalid_json", ("body",), "not valid JSON"),
    Case("truncated-json", "POST", BATCH, '{"texts": ["a"', JSON, 400, "invalid_json", ("body",), "not valid JSON"),
    Case("latin-1-body", "POST", PREDICT, LATIN_1, JSON, 400, INVALID, ("path",), "parsing"),
    # Routing: 404 and 405.
    Case("unknown-path", "GET", "/sentiment", None, {}, 404, "not_found", ("path",), "Not Found"),
    Case("unknown-path-post", "POST", "/predict/many", body({"texts": ["ok"]}), JSON, 404, "not_found", ("path",)),
    Case("get-predict", "GET", PREDICT, None, {}, 405, "method_not_allowed", ("path",), "Method Not Allowed"),
    Case("post-health", "POST", HEALTH, body({}), JSON, 405, "method_not_allowed", ("path",)),
    Case("delete-batch", "DELETE", BATCH, None, {}, 405, "method_not_allowed", ("path",)),
    Case("head-health", "HEAD", HEALTH, None, {}, 405, "method_not_allowed", ("path",)),
    Case("form-to-unknown-path", "POST", "/predict/many", "texts=ok", FORM, 404, "not_found", ("path",)),
    Case("form-to-health", "POST", HEALTH, "a=b", FORM, 405, "method_not_allowed", ("path",)),
    Case("large-body-to-get-predict", "GET", PREDICT, "x" * (PREDICT_LIMIT + 1), TEXT_PLAIN, 405,
         "method_not_allowed", ("path",)),
]
# fmt: on


def check_success(case: Case, answer: Any) -> None:
    """A 200 answer has the contract's shape and echoes the request's texts in order."""
    if case.path == HEALTH:
        assert answer["status"] == "ok" and answer["ready"] is True
        assert answer["model_name"] and answer["model_version"]
        return
    request = json.loads(case.body if isinstance(case.body, str) else case.body.decode())
    predictions = [answer] if case.path == PREDICT else answer["predictions"]
    texts = [request["text"]] if case.path == PREDICT else request["texts"]
    assert [p["text"] for p in predictions] == texts
    for prediction in predictions:
        assert prediction["sentiment"] in ("POSITIVE", "NEGATIVE")
        assert 0.5 <= prediction["confidence"] <= 1.0
        assert prediction["processing_time_ms"] >= 0


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_contract(case: Case, invoke) -> None:
    response = invoke(case.event())
    assert response["statusCode"] == case.status, response
    assert response_header(response, "content-type") == "application/json"
    answer = response_json(response)
    if case.status == 200:
        check_success(case, answer)
        return
    assert answer["error"] == case.error, answer
    assert tuple(detail["field"] for detail in answer["detail"]) == case.fields, answer
    assert case.message_part in answer["detail"][0]["message"], answer
    if case.status == 405:
        assert response_header(response, "allow") == ("GET" if case.path == HEALTH else "POST")


def container_answer(client: Any, case: Case) -> Any:
    """The FastAPI service's answer to the same request."""
    content = case.body.encode() if isinstance(case.body, str) else case.body
    return client.request(case.method, case.path, content=content, headers=case.headers)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_same_answer_as_the_container(case: Case, invoke, container_client) -> None:
    response = invoke(case.event())
    reference = container_answer(container_client, case)
    assert response["statusCode"] == reference.status_code
    assert response_header(response, "allow") == reference.headers.get("allow")
    answer = response_json(response)
    expected = reference.json() if case.method != "HEAD" else answer
    if case.status == 200 and case.path != HEALTH:
        # Timings differ between two runs; everything else is the same.
        for result in (answer, expected):
            for prediction in result.get("predictions", [result]):
                prediction.pop("processing_time_ms")
            result.pop("processing_time_ms", None)
    assert answer == expected


def test_every_table_case_has_a_distinct_name() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


@pytest.fixture(scope="session")
def uses_bundled_model(lambda_model_dir: Path) -> None:
    """Skip prediction-quality checks unless the handlers loaded the bundled (trained) model."""
    if lambda_model_dir.resolve() != BUNDLED_MODEL_DIR.resolve():
        pytest.skip(f"predictions are checked on the bundled model only; MODEL_DIR is {lambda_model_dir}")


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize(("text", "sentiment"), [(POSITIVE_TEXT, "POSITIVE"), (NEGATIVE_TEXT, "NEGATIVE")])
def test_clear_sentiments_are_recognised(text: str, sentiment: str, invoke, uses_bundled_model) -> None:
    single = response_json(invoke(Case("", "POST", PREDICT, body({"text": text}), JSON).event()))
    batch = response_json(invoke(Case("", "POST", BATCH, body({"texts": [text]}), JSON).event()))
    assert single["sentiment"] == sentiment
    assert batch["predictions"][0]["sentiment"] == sentiment
