"""What the Lambda entry points do around the contract: EMF metrics, structured logs with the cold-start
flag, init failures on a broken model, the sample events in ``events/`` and ``python -m functions.invoke``.

Fresh-process checks (cold start, init failure, the invoke command's entry point) run in subprocesses, since a handler's
init happens once per process, at import.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from functions.apigw import LocalLambdaContext, json_event, response_json
from functions.invoke import main as invoke_main
from inference.settings import REPO_ROOT, Settings
from tests.conftest import HANDLER_MODULES

EVENTS_DIR = REPO_ROOT / "events"
# What each sample event must answer.
EVENT_STATUS = {
    "predict.json": 200,
    "predict-batch.json": 200,
    "health.json": 200,
    "predict-empty-text.json": 422,
    "predict-batch-empty.json": 422,
    "predict-invalid-json.json": 400,
}
NAMESPACE = Settings().powertools_metrics_namespace


def subprocess_environment(model_dir: Path) -> dict[str, str]:
    """The environment of a fresh handler process: this one's, tracing off, the given model."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MODEL_", "LAMBDA_", "AWS_LAMBDA"))}
    env.update({"POWERTOOLS_TRACE_DISABLED": "1", "MODEL_DIR": str(model_dir), "PYTHONUNBUFFERED": "1"})
    return env


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` that is a JSON object."""
    objects = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                objects.append(value)
    return objects


def emf_metrics(text: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``(namespace, metric name, blob)`` for every metric of every EMF blob (JSON line with ``_aws``)."""
    found = []
    for blob in json_lines(text):
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive["Metrics"]:
                found.append((directive["Namespace"], metric["Name"], blob))
    return found


# ------------------------------------------------------------------------------------------- metrics


def test_powertools_handler_emits_latency_and_predictions_by_sentiment(handlers, capsys) -> None:
    event = json_event("POST", "/predict/batch", {"texts": ["A delight.", "A dreary mess.", "Fine.", "Superb!"]})
    capsys.readouterr()
    response = handlers["powertools"].lambda_handler(event, LocalLambdaContext())
    metrics = emf_metrics(capsys.readouterr().out)
    sentiments = [p["sentiment"] for p in response_json(response)["predictions"]]

    assert {namespace for namespace, _, _ in metrics} == {NAMESPACE}
    latency = [blob for _, name, blob in metrics if name == "PredictionLatency"]
    assert len(latency) == 1
    assert latency[0]["PredictionLatency"] == [response_json(response)["processing_time_ms"]]
    counted = {blob["sentiment"]: sum(blob["Predictions"]) for _, name, blob in metrics if name == "Predictions"}
    assert counted == {sentiment: sentiments.count(sentiment) for sentiment in set(sentiments)}


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_health_checks_emit_no_prediction_metrics(handlers, capsys) -> None:
    capsys.readouterr()
    handlers["powertools"].lambda_handler(json_event("GET", "/health", None), LocalLambdaContext())
    names = {name for _, name, _ in emf_metrics(capsys.readouterr().out)}
    assert not names & {"PredictionLatency", "Predictions"}


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_rejected_requests_emit_no_prediction_metrics(handlers, capsys) -> None:
    capsys.readouterr()
    response = handlers["powertools"].lambda_handler(json_event("POST", "/predict", {"text": ""}), LocalLambdaContext())
    assert response["statusCode"] == 422
    names = {name for _, name, _ in emf_metrics(capsys.readouterr().out)}
    assert not names & {"PredictionLatency", "Predictions"}


COLD_START_SCRIPT = """
import json, sys
from functions.apigw import LocalLambdaContext, json_event
module = __import__(sys.argv[1], fromlist=["lambda_handler"])
for text in ("A fine film.", "A dull film."):
    response = module.lambda_handler(json_event("POST", "/predict", {"text": text}), LocalLambdaContext())
    print("STATUS", response["statusCode"], flush=True)
"""


@pytest.mark.parametrize("handler", sorted(HANDLER_MODULES))
def test_cold_start_is_flagged_on_the_first_invocation_only(handler: str, lambda_model_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", COLD_START_SCRIPT, HANDLER_MODULES[handler]],
        cwd=REPO_ROOT,
        env=subprocess_environment(lambda_model_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("STATUS 200") == 2, result.stdout
    request_logs = [line for line in json_lines(result.stdout) if line.get("message") == "request"]
    assert [line["cold_start"] for line in request_logs] == [True, False]
    assert all(line["function_request_id"] and line["correlation_id"] for line in request_logs)
    assert {line["level"] for line in request_logs} == {"INFO"}

    metrics = emf_metrics(result.stdout)
    names = [name for _, name, _ in metrics]
    assert names.count("ColdStart") == 1
    assert names.count("InitDuration") == 1 and names.count("ModelLoadDuration") == 1
    init_blob = next(blob for _, name, blob in metrics if name == "InitDuration")
    assert 0 < init_blob["ModelLoadDuration"][0] <= init_blob["InitDuration"][0]
    init_log = next(line for line in json_lines(result.stdout) if line.get("message") == "model loaded")
    assert init_log["init_ms"] == init_blob["InitDuration"][0]
    assert init_log["entry_point"] == handler


# ------------------------------------------------------------------------------------------- init failure


def broken_copy(source: Path, target: Path, how: str) -> Path:
    """A copy of the model folder with one file corrupted or removed; returns the path of that file."""
    shutil.copytree(source, target)
    if how == "corrupted":
        broken = target / "model.onnx"
        data = bytearray(broken.read_bytes())
        data[len(data) // 2] ^= 0xFF
        broken.write_bytes(bytes(data))
    else:
        broken = target / "tokenizer.json"
        broken.unlink()
    return broken


@pytest.mark.parametrize("handler", sorted(HANDLER_MODULES))
@pytest.mark.parametrize("how", ["corrupted", "missing"])
def test_broken_model_fails_the_init_naming_the_file(handler: str, how: str, lambda_model_dir, tmp_path) -> None:
    broken = broken_copy(lambda_model_dir, tmp_path / "model", how)
    result = subprocess.run(
        [sys.executable, "-c", f"import {HANDLER_MODULES[handler]}"],
        cwd=REPO_ROOT,
        env=subprocess_environment(broken.parent),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert f"ModelLoadError: cannot load model: {broken}:" in result.stderr
    expected_reason = "does not match the manifest" if how == "corrupted" else "file is missing"
    assert expected_reason in result.stderr
    error_logs = [line for line in json_lines(result.stdout) if line.get("level") == "ERROR"]
    assert error_logs and error_logs[0]["path"] == str(broken)


# ------------------------------------------------------------------------------------------- sample events


def test_every_sample_event_has_an_expected_status() -> None:
    assert sorted(path.name for path in EVENTS_DIR.glob("*.json")) == sorted(EVENT_STATUS)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize("handler", sorted(HANDLER_MODULES))
@pytest.mark.parametrize("name", sorted(EVENT_STATUS))
def test_sample_events_answer_as_expected(name: str, handler: str, handlers) -> None:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

    event = json.loads((EVENTS_DIR / name).read_text())
    parsed = APIGatewayProxyEventV2(event)
    assert parsed.version == "2.0"
    assert event["routeKey"] == f"{parsed.request_context.http.method} {parsed.raw_path}"
    response = handlers[handler].lambda_handler(event, LocalLambdaContext())
    assert response["statusCode"] == EVENT_STATUS[name], response


# ------------------------------------------------------------------------------------------- invoke command


def test_invoke_command_prints_only_the_response_on_stdout(lambda_model_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "functions.invoke", "events/predict.json"],
        cwd=REPO_ROOT,
        env=subprocess_environment(lambda_model_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    assert response_json(response)["sentiment"] in ("POSITIVE", "NEGATIVE")
    assert '"message":"model loaded"' in result.stderr


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_invoke_runs_the_mangum_handler_too(handlers, capsys) -> None:
    assert invoke_main([str(EVENTS_DIR / "predict-empty-text.json"), "--handler", "mangum"]) == 0
    response = json.loads(capsys.readouterr().out)
    assert response["statusCode"] == 422
    assert response_json(response)["detail"][0]["field"] == "text"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read event file"),
        ("{not json", "is not valid JSON"),
        ('{"version": "1.0", "httpMethod": "GET"}', "is not an API Gateway HTTP API (payload v2.0) event"),
    ],
)
def test_invoke_rejects_bad_event_files_in_one_line(content: str | None, problem: str, tmp_path, capsys) -> None:
    path = tmp_path / "event.json"
    if content is not None:
        path.write_text(content)
    assert invoke_main([str(path)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and problem in error and str(path) in error
    assert "\n" not in error and "Traceback" not in error


def test_invoke_reports_a_broken_model_in_one_line(lambda_model_dir: Path, tmp_path, monkeypatch, capsys) -> None:
    broken = broken_copy(lambda_model_dir, tmp_path / "model", "missing")
    monkeypatch.setenv("MODEL_DIR", str(broken.parent))
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.delenv("MODEL_URI", raising=False)
    # The handler's init (its import) runs again on the broken model; the imported module is put back afterwards.
    monkeypatch.delitem(sys.modules, HANDLER_MODULES["powertools"], raising=False)
    assert invoke_main([str(EVENTS_DIR / "health.json")]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().splitlines()[-1] == f"error: cannot load model: {broken}: file is missing"
