"""The FastAPI service through HTTP: routes, bad input, metrics, and fail-fast start-up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from container.app import create_app
from inference.schemas import BatchPredictResponse, ErrorResponse, Health, PredictResponse
from inference.settings import REPO_ROOT, Settings

POSITIVE = "This movie was fantastic!"
NEGATIVE = "What a terrible, boring waste of two hours. The worst film I have seen this year."


@pytest.fixture(scope="module")
def client(bundled_model_dir):
    with TestClient(create_app(Settings(model_dir=bundled_model_dir))) as test_client:
        yield test_client


def test_predict_positive_and_negative(client):
    positive = PredictResponse.model_validate(client.post("/predict", json={"text": POSITIVE}).json())
    negative = PredictResponse.model_validate(client.post("/predict", json={"text": NEGATIVE}).json())
    assert (positive.sentiment, negative.sentiment) == ("POSITIVE", "NEGATIVE")
    assert positive.text == POSITIVE
    assert positive.processing_time_ms > 0


def test_batch_of_64_comes_back_in_order(client):
    texts = [f"{POSITIVE} ({i})" if i % 2 else f"{NEGATIVE} ({i})" for i in range(64)]
    response = client.post("/predict/batch", json={"texts": texts})
    assert response.status_code == 200
    body = BatchPredictResponse.model_validate(response.json())
    assert [p.text for p in body.predictions] == texts
    assert [p.sentiment for p in body.predictions] == ["NEGATIVE", "POSITIVE"] * 32


def test_concurrent_requests_are_batched_correctly(client):
    from concurrent.futures import ThreadPoolExecutor

    texts = [POSITIVE, NEGATIVE] * 20
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(lambda text: client.post("/predict", json={"text": text}).json(), texts))
    assert [body["text"] for body in bodies] == texts
    assert [body["sentiment"] for body in bodies] == ["POSITIVE", "NEGATIVE"] * 20


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "error", "message"),
    [
        ("/predict", {"json": {"text": ""}}, 422, "validation_error", "text must not be empty or whitespace only"),
        ("/predict", {"json": {"text": "a" * 20_001}}, 422, "validation_error", "the limit is 20000"),
        ("/predict", {"json": {"text": 3}}, 422, "validation_error", "Input should be a valid string"),
        ("/predict", {"json": {"txt": "hi"}}, 422, "validation_error", "Field required"),
        ("/predict", {"json": ["text"]}, 422, "validation_error", "valid dictionary"),
        ("/predict/batch", {"json": {"texts": ["a"] * 65}}, 422, "validation_error", "the limit is 64"),
        ("/predict/batch", {"json": {"texts": []}}, 422, "validation_error", "at least one text"),
        ("/predict/batch", {"json": {"texts": [1, 2]}}, 422, "validation_error", "valid string"),
        (
            "/predict",
            {"content": b'{"text": ', "headers": {"content-type": "application/json"}},
            400,
            "invalid_json",
            "not valid JSON",
        ),
    ],
)
def test_bad_input_is_a_4xx_naming_the_problem(client, path, kwargs, status, error, message):
    response = client.post(path, **kwargs)
    assert response.status_code == status
    body = ErrorResponse.model_validate(response.json())
    assert body.error == error
    assert any(message in item.message for item in body.detail), body
    assert client.post("/predict", json={"text": POSITIVE}).status_code == 200


def test_unknown_route_and_wrong_method(client):
    assert client.get("/nowhere").json()["error"] == "not_found"
    response = client.get("/predict")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_health_names_the_model(client, bundled_model_dir):
    import json

    manifest = json.loads((bundled_model_dir / "manifest.json").read_text())
    health = Health.model_validate(client.get("/health").json())
    assert health.ready
    assert (health.model_name, health.model_version) == (manifest["name"], manifest["version"])


def test_metrics_count_requests_predictions_and_load_time(client):
    client.post("/predict", json={"text": POSITIVE})
    client.post("/predict", json={"text": ""})
    text = client.get("/metrics").text
    assert 'http_requests_total{method="POST",route="/predict",status="200"}' in text
    assert 'http_requests_total{method="POST",route="/predict",status="422"}' in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="POST",route="/predict",status="200"}' in text
    assert 'predictions_total{sentiment="POSITIVE"}' in text
    load_line = next(line for line in text.splitlines() if line.startswith("model_load_seconds"))
    assert float(load_line.split()[-1]) > 0


def test_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/predict", "/predict/batch", "/health"} <= set(paths)


def test_server_refuses_to_start_on_a_broken_model(model_copy):
    (model_copy / "tokenizer.json").write_text("{}")
    env = {**os.environ, "MODEL_DIR": str(model_copy), "PORT": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "container"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert f"{model_copy / 'tokenizer.json'}: sha256" in result.stderr
    assert "Traceback" not in result.stderr
