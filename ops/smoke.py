"""Smoke test of a deployed endpoint: health, a positive and a negative prediction, a batch, a bad request.

Every response is validated against the API contract in ``inference.schemas``. Only the standard library
talks HTTP here, so the check runs anywhere the ``ops`` package is installed.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from inference.schemas import BatchPredictResponse, ErrorResponse, Health, PredictResponse
from ops.errors import OpsError

POSITIVE_TEXT = "A wonderful, heartfelt film with brilliant performances and a moving story."
NEGATIVE_TEXT = "A dull, lifeless and painfully boring mess that wastes its talented cast."


@dataclass(frozen=True)
class HttpReply:
    """Status, body and round-trip time of one request (status 0: no answer at all)."""

    status: int
    body: bytes
    latency_ms: float
    error: str = ""


@dataclass(frozen=True)
class CheckResult:
    """One smoke check: passed or not, how long the request took, and what was seen."""

    name: str
    passed: bool
    latency_ms: float | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def request(base_url: str, path: str, payload: Any | None, timeout_s: float) -> HttpReply:
    """GET (no payload) or POST JSON to ``base_url + path``; HTTP errors come back as replies, not exceptions."""
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    headers = {"Accept": "application/json", "User-Agent": "sentiment-ops-smoke"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    call = urllib.request.Request(base_url.rstrip("/") + path, data=data, headers=headers)
    started = time.perf_counter()
    try:
        # run_smoke() accepts http:// and https:// URLs only.
        with urllib.request.urlopen(call, timeout=timeout_s) as response:  # nosec B310
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        body, status = error.read(), error.code
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        return HttpReply(0, b"", (time.perf_counter() - started) * 1000, f"no response: {reason}")
    return HttpReply(status, body, (time.perf_counter() - started) * 1000)


def parse(model: type[BaseModel], reply: HttpReply) -> Any:
    """The reply's body as ``model``; ``ValueError`` describing the mismatch otherwise."""
    try:
        return model.model_validate_json(reply.body)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        raise ValueError(f"body does not match {model.__name__}: {problems}") from None


def _expect_status(reply: HttpReply, expected: Callable[[int], bool], wanted: str) -> None:
    if reply.error:
        raise ValueError(reply.error)
    if not expected(reply.status):
        raise ValueError(f"HTTP {reply.status}, expected {wanted}: {reply.body[:200].decode('utf-8', 'replace')}")


def check_health(reply: HttpReply) -> str:
    """``/health`` answers 200, ready, naming the model."""
    _expect_status(reply, lambda status: status == 200, "200")
    health = parse(Health, reply)
    if health.status != "ok" or not health.ready:
        raise ValueError(f"not ready: status {health.status}, ready {health.ready}")
    return f"{health.model_name} {health.model_version}"


def check_prediction(reply: HttpReply, text: str, sentiment: str) -> str:
    """``/predict`` classifies ``text`` as ``sentiment``."""
    _expect_status(reply, lambda status: status == 200, "200")
    prediction = parse(PredictResponse, reply)
    if prediction.text != text:
        raise ValueError(f"response echoes {prediction.text!r}, not the text sent")
    if prediction.sentiment != sentiment:
        raise ValueError(f"{prediction.sentiment} ({prediction.confidence:.3f}), expected {sentiment}")
    return f"{prediction.sentiment} ({prediction.confidence:.3f})"


def check_batch(reply: HttpReply, texts: list[str], sentiments: list[str]) -> str:
    """``/predict/batch`` answers in order with the expected sentiments."""
    _expect_status(reply, lambda status: status == 200, "200")
    batch = parse(BatchPredictResponse, reply)
    if [p.text for p in batch.predictions] != texts:
        raise ValueError(f"{len(batch.predictions)} predictions, not the {len(texts)} texts sent in order")
    got = [p.sentiment for p in batch.predictions]
    if got != sentiments:
        raise ValueError(f"sentiments {got}, expected {sentiments}")
    return ", ".join(got)


def check_bad_request(reply: HttpReply) -> str:
    """An empty text is refused with a 4xx and an ``ErrorResponse`` body."""
    _expect_status(reply, lambda status: 400 <= status < 500, "4xx")
    error = parse(ErrorResponse, reply)
    return f"HTTP {reply.status} {error.error}"


def run_smoke(base_url: str, latency_budget_ms: float | None = None, timeout_s: float = 10.0) -> list[CheckResult]:
    """Run every check against ``base_url``; a check over ``latency_budget_ms`` fails."""
    if not base_url.startswith(("http://", "https://")):
        raise OpsError(f"{base_url!r} is not an http:// or https:// URL")
    if latency_budget_ms is not None and latency_budget_ms <= 0:
        raise OpsError(f"--latency-budget-ms must be positive, not {latency_budget_ms:g}")
    texts = [POSITIVE_TEXT, NEGATIVE_TEXT]
    plan: list[tuple[str, str, Any, Callable[[HttpReply], str]]] = [
        ("health", "/health", None, check_health),
        ("predict positive", "/predict", {"text": POSITIVE_TEXT}, lambda r: check_prediction(r, texts[0], "POSITIVE")),
        ("predict negative", "/predict", {"text": NEGATIVE_TEXT}, lambda r: check_prediction(r, texts[1], "NEGATIVE")),
        ("batch", "/predict/batch", {"texts": texts}, lambda r: check_batch(r, texts, ["POSITIVE", "NEGATIVE"])),
        ("bad request", "/predict", {"text": ""}, check_bad_request),
    ]
    results = []
    for name, path, payload, check in plan:
        reply = request(base_url, path, payload, timeout_s)
        latency = round(reply.latency_ms, 1)
        try:
            detail = check(reply)
        except ValueError as error:
            results.append(CheckResult(name, False, latency, str(error)))
            continue
        if latency_budget_ms is not None and reply.latency_ms > latency_budget_ms:
            results.append(CheckResult(name, False, latency, f"{detail}; over the {latency_budget_ms:g} ms budget"))
        else:
            results.append(CheckResult(name, True, latency, detail))
    return results
