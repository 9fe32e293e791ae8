"""The FastAPI service through HTTP: routes, bad input, metrics, and fail-fast start-up."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from container.app import create_app
from inference.model import Prediction
from inference.schemas import BatchPredictResponse, ErrorResponse, Health, PredictResponse
from inference.settings import Settings
from loadtest.cpu_split import parse_model_counters

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


class GatedCountingModel:
    """The real model, recording every batch it is given; its first call waits until every request is queued.

    While that first call runs, the other requests can only queue in the batcher, so the batches that follow
    are formed from them, whatever the timing of the threads. Each prediction keeps the model's sentiment and
    carries its text's own mark as the confidence, so an answer handed to another request shows.
    """

    def __init__(self, model, texts: list[str]) -> None:
        self.model = model
        self.marks = {text: (number + 1) / 1000 for number, text in enumerate(texts)}
        self.queued = 0
        self.condition = threading.Condition()
        self.batches: list[list[str]] = []
        self.all_queued_in_time = True

    def predict_batch(self, texts: list[str]) -> list[Prediction]:
        self.batches.append(list(texts))
        if len(self.batches) == 1:
            with self.condition:
                self.all_queued_in_time = self.condition.wait_for(lambda: self.queued == len(self.marks), timeout=30)
        predictions = self.model.predict_batch(texts)
        return [p._replace(confidence=self.marks[text]) for text, p in zip(texts, predictions, strict=True)]

    def counting(self, predict):
        """The batcher's ``predict``, counting a request once its job is in the batcher's queue."""

        async def queued_predict(texts: list[str]) -> list[Prediction]:
            task = asyncio.ensure_future(predict(texts))
            await asyncio.sleep(0)  # the task runs up to its first wait: its job is queued
            with self.condition:
                self.queued += 1
                self.condition.notify_all()
            return await task

        return queued_predict


@pytest.fixture
def roomy_client(bundled_model_dir):
    """The app with room for 40 texts in flight (admission control would shed past its default of 8)."""
    with TestClient(create_app(Settings(model_dir=bundled_model_dir, max_inflight_texts=40))) as test_client:
        yield test_client


def test_concurrent_requests_are_batched_correctly(roomy_client, monkeypatch):
    client = roomy_client
    batcher = client.app.state.service.batcher
    texts = [f"{POSITIVE} ({i})" if i % 2 == 0 else f"{NEGATIVE} ({i})" for i in range(40)]
    model = GatedCountingModel(batcher.model, texts)
    monkeypatch.setattr(batcher, "model", model)
    monkeypatch.setattr(batcher, "predict", model.counting(batcher.predict))
    with ThreadPoolExecutor(max_workers=len(texts)) as pool:
        responses = list(pool.map(lambda text: client.post("/predict", json={"text": text}), texts))
    assert model.all_queued_in_time, f"only {model.queued} of {len(texts)} requests reached the batcher"

    bodies = [PredictResponse.model_validate(response.json()) for response in responses]
    assert [body.text for body in bodies] == texts
    assert [body.confidence for body in bodies] == [model.marks[text] for text in texts], "an answer went astray"
    assert [body.sentiment for body in bodies] == ["POSITIVE", "NEGATIVE"] * 20
    # A first call for the request(s) that came before the worker woke, then the rest, which queued behind it,
    # in full batches of max_batch_size and one for what remains.
    first, *rest = [len(batch) for batch in model.batches]
    waiting, limit = len(texts) - first, batcher.max_batch_size
    assert rest == [min(limit, waiting - start) for start in range(0, waiting, limit)]
    assert len(model.batches) < len(texts)
    assert sorted(text for batch in model.batches for text in batch) == sorted(texts), "each text ran once"


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


def test_metrics_count_the_texts_the_model_ran_and_its_cpu_time(client):
    texts_before, cpu_before = parse_model_counters(client.get("/metrics").text)
    client.post("/predict/batch", json={"texts": [POSITIVE, NEGATIVE, POSITIVE]})
    client.post("/predict", json={"text": ""})  # refused by the schema: never reaches the model
    texts_after, cpu_after = parse_model_counters(client.get("/metrics").text)
    assert texts_after - texts_before == 3
    assert cpu_after > cpu_before


def test_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/predict", "/predict/batch", "/health"} <= set(paths)


def test_server_refuses_to_start_on_a_broken_model(model_copy, monkeypatch, capsys):
    """``python -m container`` stops before uvicorn starts (the entry point's own process runs in the load tests)."""
    import signal

    from container.__main__ import main as serve

    monkeypatch.setattr(signal, "signal", lambda *args: None)  # the entry point's SIGTERM handler stays out of pytest
    (model_copy / "tokenizer.json").write_text("{}")
    monkeypatch.setenv("MODEL_DIR", str(model_copy))
    monkeypatch.delenv("MODEL_URI", raising=False)
    assert serve() == 1
    out, err = capsys.readouterr()
    assert err.startswith(f"error: cannot load model: {model_copy / 'tokenizer.json'}: sha256"), err
    assert err.count("\n") == 1 and out == ""


@pytest.mark.parametrize(("setting", "pinned"), [("true", {0}), ("false", None)])
def test_server_pins_itself_to_its_quota_only_when_asked(monkeypatch, capsys, setting, pinned):
    """``PIN_CPUS=true``: the affinity is set to ``quota_cpu_set()`` before uvicorn starts (its workers inherit it)."""
    import container.__main__ as entry

    calls: list[set[int]] = []
    monkeypatch.setenv("PIN_CPUS", setting)
    monkeypatch.setenv("WEB_CONCURRENCY", "1")  # more would set PROMETHEUS_MULTIPROC_DIR for the rest of the session
    monkeypatch.setattr(entry.signal, "signal", lambda *args: None)  # nor keep its SIGTERM handler
    monkeypatch.delenv("MODEL_URI", raising=False)
    monkeypatch.setattr(entry, "quota_cpu_set", lambda: {0})
    monkeypatch.setattr(entry, "pin_process", lambda cpus: calls.append(cpus))
    monkeypatch.setattr(entry.uvicorn, "run", lambda *args, **kwargs: None)
    assert entry.main() == 0
    assert calls == ([pinned] if pinned else [])
    out = capsys.readouterr().out
    assert ("pinned to CPU 0" in out) == bool(pinned), out


def test_the_model_thread_runs_below_the_event_loops_priority():
    """The micro-batcher's thread is ``MODEL_THREAD_NICENESS`` steps nicer than the thread that started it."""
    from inference.batcher import MODEL_THREAD_NICENESS, lower_this_threads_priority

    seen: dict[str, int] = {}

    def in_a_thread() -> None:
        thread_id = threading.get_native_id()
        seen["before"] = os.getpriority(os.PRIO_PROCESS, thread_id)
        lower_this_threads_priority()
        seen["after"] = os.getpriority(os.PRIO_PROCESS, thread_id)

    worker = threading.Thread(target=in_a_thread)
    worker.start()
    worker.join()
    assert seen["after"] == min(seen["before"] + MODEL_THREAD_NICENESS, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == seen["before"]  # this thread unchanged
