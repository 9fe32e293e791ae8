"""Checks every load-test response must pass: status, schema (the API's own pydantic models) and labels.

Each check returns ``None`` when the response is good, or a one-line reason naming what is wrong; the
Locust users report that reason as the request's failure.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from inference.schemas import BatchPredictResponse, PredictResponse, Sentiment

LABELS: frozenset[str] = frozenset(Sentiment.__args__)  # type: ignore[attr-defined]


def _first_error(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem.get("loc", ())) or "body"
    return f"{where}: {problem.get('msg', 'invalid')}"


def _parse(status: int, body: bytes | str | None) -> tuple[object, str | None]:
    if status != 200:
        snippet = (body or b"")[:120]
        snippet = snippet.decode("utf-8", "replace") if isinstance(snippet, bytes) else snippet
        return None, f"HTTP {status}: {snippet}"
    try:
        return json.loads(body or b""), None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, f"body is not JSON ({error})"


def _check_prediction(prediction: PredictResponse, sent_text: str, where: str) -> str | None:
    if prediction.sentiment not in LABELS:
        return f"{where}sentiment {prediction.sentiment!r} is not one of {sorted(LABELS)}"
    if prediction.text != sent_text:
        return f"{where}text does not echo the text sent"
    return None


def check_single(status: int, body: bytes | str | None, sent_text: str) -> str | None:
    """Problems with a ``POST /predict`` answer to ``sent_text``, or ``None``."""
    payload, problem = _parse(status, body)
    if problem:
        return problem
    try:
        prediction = PredictResponse.model_validate(payload)
    except ValidationError as error:
        return f"schema: {_first_error(error)}"
    return _check_prediction(prediction, sent_text, "")


def check_batch(status: int, body: bytes | str | None, sent_texts: list[str]) -> str | None:
    """Problems with a ``POST /predict/batch`` answer to ``sent_texts``, or ``None``."""
    payload, problem = _parse(status, body)
    if problem:
        return problem
    try:
        batch = BatchPredictResponse.model_validate(payload)
    except ValidationError as error:
        return f"schema: {_first_error(error)}"
    if len(batch.predictions) != len(sent_texts):
        return f"{len(batch.predictions)} predictions for {len(sent_texts)} texts"
    for index, (prediction, text) in enumerate(zip(batch.predictions, sent_texts, strict=True)):
        problem = _check_prediction(prediction, text, f"predictions[{index}]: ")
        if problem:
            return problem
    return None
