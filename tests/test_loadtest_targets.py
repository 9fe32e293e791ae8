"""Short real runs: Locust against local-container and local-lambda, the Lambda emulation, a wrk probe.

The servers are the real ones (``python -m container``, the real Lambda handler through ``awslambdaric``)
on a tiny generated model (tests/fixtures/loadtest/tiny_model.py), so the runs stay short and cheap.
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from inference.settings import Settings
from loadtest import capacity, targets
from loadtest.__main__ import main
from loadtest.runner import RunConfig, run
from loadtest.summary import problems, read_summary
from loadtest.targets import LocalOptions
from loadtest.texts import REVIEWS
from tests.fixtures.loadtest.dockerfile_text import final_stage_env
from tests.fixtures.loadtest.tiny_model import build_tiny_model

STUB_HANDLER = "tests.fixtures.loadtest.stub_handler.handler"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    words = sorted({word.strip(".,;:!?\"'()").lower() for text in REVIEWS for word in text.split()})
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny", words)


def _post(url: str, payload: dict, timeout: float = 30) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_locust_run_against_local_container(tiny_model, tmp_path):
    config = RunConfig(
        target="local-container",
        out_dir=tmp_path / "container",
        users=3,
        spawn_rate=3,
        duration_s=5,
        think_min_s=0.05,
        think_max_s=0.2,
        local=LocalOptions(model_dir=tiny_model),
    )
    summary = run(config)
    assert problems(summary) == []
    assert read_summary(tmp_path / "container") == summary
    assert summary["failures"] == 0 and summary["requests"] >= 10
    assert set(summary["latency_by_request_ms"]) == {"/predict", "/predict/batch"}
    assert summary["latency_ms"]["median"] > 0 and summary["rps"] > 0
    assert summary["emulated"] is False and summary["cold_starts"]["count"] == 0
    # The worker count the image runs: its Dockerfile's text (not the target's parser), else the settings' default.
    declared = final_stage_env("WEB_CONCURRENCY")
    assert summary["server"]["workers"] == int(declared or Settings().web_concurrency)
    assert summary["load_generator"]["tool"] == "locust" and summary["load_generator"]["cpu_percent"] > 0
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "requests.csv"):
        assert (tmp_path / "container" / name).is_file(), name


def test_locust_run_against_local_lambda(tiny_model, tmp_path):
    config = RunConfig(
        target="local-lambda",
        out_dir=tmp_path / "lambda",
        users=2,
        spawn_rate=2,
        duration_s=6,
        think_min_s=0.05,
        think_max_s=0.2,
        local=LocalOptions(model_dir=tiny_model, lambda_concurrency=2, lambda_memory_mb=1024),
    )
    summary = run(config)
    assert problems(summary) == []
    assert summary["failures"] == 0 and summary["requests"] >= 5
    assert summary["emulated"] is True
    cold = summary["cold_starts"]
    assert 1 <= cold["count"] <= 2 and cold["median_ms"] > 0 and len(cold["durations_ms"]) == cold["count"]
    assert summary["lambda"]["memory_mb"] == 1024
    assert summary["lambda"]["billed_duration_ms"]["median"] >= 1
    assert summary["lambda"]["init_errors"] == []
    assert summary["server"]["workers"] == summary["lambda"]["peak_environments"] <= 2


def test_emulator_reaps_idle_environments_and_starts_cold_again(tmp_path):
    process, url = targets.start_emulator(
        ["--handler", STUB_HANDLER, "--concurrency", "1", "--idle-timeout", "1"], tmp_path / "emulator.log"
    )
    try:
        status, first = _post(f"{url}/predict?debug=1", {"text": "hello"})
        assert status == 200 and first["path"] == "/predict" and first["method"] == "POST"
        assert json.loads(first["body"]) == {"text": "hello"} and first["query"] == {"debug": "1"}
        _, again = _post(f"{url}/predict", {"text": "again"})
        assert again["pid"] == first["pid"], "a warm environment is reused"
        time.sleep(2.0)
        _, after_idle = _post(f"{url}/predict", {"text": "later"})
        assert after_idle["pid"] != first["pid"], "the idle environment was reaped; a new one started"
        stats = _get(f"{url}/_emulator/stats")
    finally:
        targets.stop_process(process)
    assert stats["environments_started"] == 2 and stats["environments_reaped"] == 1
    assert [entry["environment"] for entry in stats["cold_starts"]] == [1, 2]
    assert all(entry["cold_start_ms"] >= entry["init_ms"] > 0 for entry in stats["cold_starts"])
    assert stats["invocations"] == 3 and stats["init_errors"] == []


def _two_at_once(tmp_path: Path, *extra: str) -> tuple[list[int], dict]:
    arguments = ["--handler", STUB_HANDLER, "--concurrency", "1", "--env", "STUB_HANDLER_SLEEP_S=1.5", *extra]
    process, url = targets.start_emulator(arguments, tmp_path / "emulator.log")
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(_post, f"{url}/predict", {"text": "a"})
            time.sleep(0.5)
            second = pool.submit(_post, f"{url}/predict", {"text": "b"})
            answers = [first.result(), second.result()]
        stats = _get(f"{url}/_emulator/stats")
    finally:
        targets.stop_process(process)
    return [status for status, _ in answers], {"answers": answers, **stats}


def test_emulator_throttles_beyond_its_concurrency_as_lambda_does(tmp_path):
    statuses, stats = _two_at_once(tmp_path)
    assert statuses == [200, 429]
    assert stats["answers"][1][1] == {"message": "Too Many Requests"}
    assert stats["throttles"] == 1 and stats["invocations"] == 1 and stats["environments_started"] == 1
    assert stats["runtime_interface_emulator"].endswith(("aws-lambda-rie-x86_64", "aws-lambda-rie-arm64"))


def test_emulator_queues_beyond_its_concurrency_when_asked(tmp_path):
    statuses, stats = _two_at_once(tmp_path, "--queue")
    assert statuses == [200, 200]
    assert stats["throttles"] == 0 and stats["queued_at_limit"] == 1 and stats["environments_started"] == 1


def _one_failing_request(tmp_path: Path, behaviour: str) -> dict:
    arguments = ["--handler", STUB_HANDLER, "--env", f"STUB_HANDLER_BEHAVIOUR={behaviour}"]
    process, url = targets.start_emulator(arguments, tmp_path / "emulator.log")
    try:
        status, body = _post(f"{url}/predict", {"text": "x"})
        stats = _get(f"{url}/_emulator/stats")
    finally:
        targets.stop_process(process)
    assert status == 502 and body == {"message": "Internal Server Error"}
    return stats


def test_emulator_answers_502_when_the_handler_raises(tmp_path):
    stats = _one_failing_request(tmp_path, "fail")
    assert stats["function_errors"] == 1 and stats["init_errors"] == []
    assert stats["invocations"] == 1 and len(stats["cold_starts"]) == 1


def test_emulator_answers_502_and_records_a_failed_init(tmp_path):
    stats = _one_failing_request(tmp_path, "init-fail")
    assert stats["function_errors"] == 0 and stats["cold_starts"] == []
    assert any("init failure requested" in entry["reason"] for entry in stats["init_errors"])


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_capacity_probe_against_local_container(tiny_model, tmp_path):
    config = capacity.CapacityConfig(
        target="local-container",
        out_dir=tmp_path / "probe",
        step_s=1,
        start_rps=20,
        max_rps=40,
        growth=2,
        refine=0,
        warm_up_s=1,
        cool_down_s=0.2,
        local=LocalOptions(model_dir=tiny_model),
    )
    summary = capacity.probe(config)
    assert problems(summary) == []
    steps = summary["capacity"]["steps"]
    assert [step["offered_rps"] for step in steps] == [20, 40]
    assert all(step["passed"] and step["failures"] == 0 for step in steps)
    assert summary["capacity"]["knee_rps"] == max(step["achieved_rps"] for step in steps)
    assert summary["capacity"]["p99_budget_ms"] == 100
    for step in steps:  # the server's CPU and the model thread's, read around each step
        assert step["server_cpu_ms_per_request"] > 0 and step["cpu_busy"] > 0
        assert step["requests"] <= step["model_texts"] <= step["requests"] + step["connections"]
        assert 0 < step["model_cpu_s"] < step["server_cpu_s"]
    assert summary["load_generator"]["tool"].startswith("wrk")


def test_cli_rejects_unknown_targets_and_missing_baseline_in_one_line(tmp_path, capsys):
    assert main(["run", "--target", "nowhere", "--out", str(tmp_path / "x"), "--duration", "1s"]) == 1
    assert capsys.readouterr().err.startswith("error: unknown target 'nowhere'")
    missing = tmp_path / "no-checkpoint"
    arguments = ["run", "--target", "baseline", "--baseline-checkpoint", str(missing), "--out", str(tmp_path / "b")]
    assert main(arguments) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "random-checkpoint --size base" in error
    assert main(["run", "--target", "local-container", "--model", str(missing), "--out", str(tmp_path / "c")]) == 1
    assert "model folder does not exist" in capsys.readouterr().err


def test_baseline_server_serves_the_api_contract(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed (the export extra: pip install -e '.[export]')")
    from fastapi.testclient import TestClient

    from inference.schemas import BatchPredictResponse, PredictResponse
    from loadtest.baseline_server import create_app
    from model_export.random_checkpoint import build_random_distilbert

    checkpoint = build_random_distilbert(tmp_path / "tiny-distilbert", size="tiny")
    client = TestClient(create_app(checkpoint))
    single = client.post("/predict", json={"text": REVIEWS[0]})
    assert single.status_code == 200, single.text
    assert PredictResponse.model_validate(single.json()).text == REVIEWS[0]
    batch = client.post("/predict/batch", json={"texts": list(REVIEWS[:3])})
    assert [p.text for p in BatchPredictResponse.model_validate(batch.json()).predictions] == list(REVIEWS[:3])
    assert client.post("/predict", json={"text": "  "}).status_code == 422
    assert client.get("/health").json()["ready"] is True
