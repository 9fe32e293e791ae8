"""Unit tests of the load-test pieces that need no server: texts, checks, parsing, search, summaries."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from functions.apigw import http_api_event
from inference.settings import environment_variable_names
from loadtest import capacity, summary, targets
from loadtest.checks import check_batch, check_single
from loadtest.lambda_emulator import http_response_from_result
from loadtest.runner import emulator_cold_starts, lambda_block, parse_duration
from loadtest.scenarios import burst_length_s, burst_phases
from loadtest.texts import REVIEWS, pick_batch
from tests.fixtures.loadtest.dockerfile_text import final_stage_env


def test_review_pool_is_varied_enough():
    words = sorted(len(text.split()) for text in REVIEWS)
    assert len(REVIEWS) >= 20
    assert len(set(REVIEWS)) == len(REVIEWS)
    assert words[0] <= 10, "the pool needs one-liners"
    assert words[-1] >= 300, "the pool needs reviews of several hundred words"
    assert sum(1 for count in words if 30 <= count <= 150) >= 5, "the pool needs paragraph-length reviews"


def test_text_sets():
    from loadtest.texts import SENTENCE_WORDS, text_set

    assert text_set("reviews") == REVIEWS
    sentences = text_set("sentences")
    assert 10 <= len(sentences) < len(REVIEWS)
    assert all(len(text.split()) <= SENTENCE_WORDS for text in sentences)
    with pytest.raises(ValueError, match="unknown text set 'tweets'"):
        text_set("tweets")


def test_batches_hold_five_to_ten_reviews():
    rng = random.Random(1)
    sizes = {len(pick_batch(rng)) for _ in range(300)}
    assert sizes == set(range(5, 11))
    with pytest.raises(ValueError, match="empty"):
        pick_batch(rng, 6, 5)


def _prediction(text: str, sentiment: str = "POSITIVE") -> dict:
    return {"text": text, "sentiment": sentiment, "confidence": 0.9, "processing_time_ms": 1.5}


def test_check_single_accepts_a_good_answer_and_names_each_problem():
    good = json.dumps(_prediction("Great.")).encode()
    assert check_single(200, good, "Great.") is None
    assert check_single(503, b"busy", "Great.") == "HTTP 503: busy"
    assert "not JSON" in check_single(200, b"<html>", "Great.")
    assert check_single(200, json.dumps({"text": "Great."}).encode(), "Great.").startswith("schema: sentiment")
    assert "schema: sentiment" in check_single(200, json.dumps(_prediction("Great.", "NEUTRAL")), "Great.")
    assert check_single(200, good, "Other text.") == "text does not echo the text sent"


def test_check_batch_checks_count_order_and_each_prediction():
    texts = ["One.", "Two."]
    body = {"predictions": [_prediction(t) for t in texts], "processing_time_ms": 2.0}
    assert check_batch(200, json.dumps(body), texts) is None
    assert check_batch(200, json.dumps(body), [*texts, "Three."]) == "2 predictions for 3 texts"
    assert check_batch(200, json.dumps(body), list(reversed(texts))).startswith("predictions[0]:")
    body["predictions"][1]["confidence"] = 1.5
    assert check_batch(200, json.dumps(body), texts).startswith("schema: predictions.1.confidence")


@pytest.mark.parametrize(("text", "seconds"), [("60s", 60), ("2m", 120), ("1m30s", 90), ("45", 45), ("1h", 3600)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "10x", "0s", "5s5"])
def test_parse_duration_rejects_nonsense(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_burst_phases_go_warm_idle_burst():
    assert burst_phases(10, 20, 30, 50) == [(10, 1, 1.0), (30, 0, 1.0), (60, 50, 50.0)]
    assert burst_phases(0, 5, 10, 8) == [(5, 0, 1.0), (15, 8, 8.0)]
    assert burst_length_s(10, 20, 30) == 60


def test_dockerfile_env_reads_the_last_stage_in_both_forms(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM python AS build\nENV PIP_NO_CACHE_DIR=1\nFROM python\n"
        'ENV PATH=/opt/venv/bin:$PATH \\\n    WEB_CONCURRENCY=3 \\\n    GREETING="hello world"\n'
        "ENV INFERENCE_THREADS 2\n"
    )
    env = targets.dockerfile_env(dockerfile)
    assert env == {
        "PATH": "/opt/venv/bin:$PATH",
        "WEB_CONCURRENCY": "3",
        "GREETING": "hello world",
        "INFERENCE_THREADS": "2",
    }
    run_env, applied = targets.container_env(Path("/models/x"), 18080, dockerfile)
    assert applied == {"WEB_CONCURRENCY": "3", "GREETING": "hello world", "INFERENCE_THREADS": "2"}
    assert run_env["MODEL_DIR"] == "/models/x" and run_env["PORT"] == "18080" and run_env["HOST"] == "127.0.0.1"
    assert run_env["PATH"] != "/opt/venv/bin:$PATH"


def test_container_env_follows_the_real_dockerfile():
    """What local-container applies is what the Dockerfile's last stage says, read from its text."""
    _, applied = targets.container_env(Path("/m"), 1)
    for name in ("WEB_CONCURRENCY", "INFERENCE_THREADS"):
        assert applied.get(name) == final_stage_env(name), name
    assert {name: final_stage_env(name) for name in applied} == applied
    assert not {"MODEL_DIR", "HOST", "PORT"} & set(applied)
    assert set(applied) - {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"} <= set(environment_variable_names())


def test_dockerfile_env_missing_file_names_it(tmp_path):
    with pytest.raises(targets.TargetError, match="Dockerfile: not found"):
        targets.dockerfile_env(tmp_path / "Dockerfile")


def test_template_function_resolves_parameters_for_the_handler(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(
        "Parameters:\n  Handler:\n    Type: String\n    Default: functions.handler.lambda_handler\n"
        "  Memory:\n    Type: Number\n    Default: 2048\n"
        "Globals:\n  Function:\n    Timeout: 10\nResources:\n"
        "  Other:\n    Type: AWS::Serverless::Function\n    Properties:\n      MemorySize: 512\n"
        "      ImageConfig:\n        Command: [functions.mangum_handler.lambda_handler]\n"
        "  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      MemorySize: !Ref Memory\n"
        "      ImageConfig:\n        Command: [!Ref Handler]\n"
    )
    assert targets.template_function(template) == {"memory_mb": 2048, "timeout_s": 10}
    assert targets.template_memory_mb(template, "functions.mangum_handler.lambda_handler") == 512
    assert targets.template_function(template, "functions.other.handler") == {}
    assert targets.template_memory_mb(tmp_path / "absent.yaml") is None


def test_template_function_reads_the_projects_template():
    function = targets.template_function()
    assert 128 <= function["memory_mb"] <= 10240
    assert 1 <= function["timeout_s"] <= 900


def test_api_gateway_event_has_the_v2_shape():
    headers = {"Host": "127.0.0.1:9000", "Content-Type": "application/json", "X-A": "1,2", "Cookie": "a=1; b=2"}
    event = http_api_event(
        "POST", "/predict", '{"text":"hi"}', headers, query="x=1&x=2&y=", source_ip="127.0.0.1", route_key="$default"
    )
    assert event["version"] == "2.0" and event["rawPath"] == "/predict" and event["rawQueryString"] == "x=1&x=2&y="
    assert event["headers"]["x-a"] == "1,2" and event["headers"]["content-type"] == "application/json"
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""} and event["cookies"] == ["a=1", "b=2"]
    assert event["requestContext"]["http"]["method"] == "POST" and event["body"] == '{"text":"hi"}'
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1" and event["routeKey"] == "$default"
    assert event["isBase64Encoded"] is False
    assert http_api_event("POST", "/predict", b"\xff\xfe")["isBase64Encoded"] is True


def test_http_response_from_result_follows_payload_format_2():
    result = {"statusCode": 422, "headers": {"content-type": "application/json"}, "body": '{"error":"x"}'}
    assert http_response_from_result(json.dumps(result).encode()) == (
        422,
        [("content-type", "application/json")],
        b'{"error":"x"}',
    )
    encoded = {"statusCode": 200, "body": "aGk=", "isBase64Encoded": True, "cookies": ["a=b"]}
    assert http_response_from_result(json.dumps(encoded).encode()) == (200, [("Set-Cookie", "a=b")], b"hi")
    assert http_response_from_result(b'{"plain": 1}')[0] == 200
    assert http_response_from_result(b"not json")[0] == 502


def test_lambda_block_bills_each_invocation_rounded_up():
    stats = {
        "durations_ms": [1.2, 2.0, 2.01, 9.5],
        "cold_starts": [{"init_ms": 400.0, "cold_start_ms": 450.0, "rss_mb": 90.0}],
        "memory_mb": 2048,
        "peak_environments": 1,
    }
    block = lambda_block(stats)
    assert block["billed_duration_ms"]["median"] == 2.5  # of 2, 2, 3, 10
    assert block["billed_duration_ms"]["p99"] == pytest.approx(9.79)
    assert block["memory_mb"] == 2048 and block["init_ms"]["median"] == 400.0


def test_emulator_cold_starts_keep_those_that_initialised_alone():
    stats = {
        "cold_starts": [
            {"cold_start_ms": 500.0, "overlapping_inits": 0},
            {"cold_start_ms": 1500.0, "overlapping_inits": 2},
            {"cold_start_ms": 700.0, "overlapping_inits": 0},
        ]
    }
    block = emulator_cold_starts(stats)
    assert block["count"] == 3 and block["median_ms"] == 700.0
    assert block["alone_count"] == 2 and block["alone_median_ms"] == 600.0


def test_latency_and_cold_start_blocks():
    block = summary.latency_block([float(v) for v in range(1, 101)])
    assert block == {"mean": 50.5, "median": 50.5, "p95": 95.05, "p99": 99.01}
    assert summary.latency_block([]) == {"mean": None, "median": None, "p95": None, "p99": None}
    cold = summary.cold_start_block([900.0, 700.0, 800.0], "emulator")
    assert cold["count"] == 3 and cold["median_ms"] == 800.0


def test_summary_problems_name_each_missing_field():
    good = json.loads((Path(__file__).parent / "fixtures/loadtest/hand-made-results/lambda/summary.json").read_text())
    assert summary.problems(good) == []
    broken = {**good, "requests": "many", "latency_ms": {"mean": 1.0}}
    del broken["cold_starts"]
    found = summary.problems(broken)
    assert "requests is missing or not the right type" in found
    assert "latency_ms.median is missing or not the right type" in found
    assert "cold_starts is missing or not the right type" in found


def test_write_summary_keeps_a_capacity_probe_of_the_same_target(tmp_path):
    base = json.loads(
        (Path(__file__).parent / "fixtures/loadtest/hand-made-results/container/summary.json").read_text()
    )
    probe = {**base, "scenario": "capacity", "rps": 1.0}
    summary.write_summary(tmp_path, probe)
    run = {key: value for key, value in base.items() if key != "capacity"}
    summary.write_summary(tmp_path, run)
    merged = summary.read_summary(tmp_path)
    assert merged["capacity"] == base["capacity"] and merged["scenario"] == "mix"
    other = {**run, "model": {"name": "another"}}
    summary.write_summary(tmp_path, other)
    assert "capacity" not in summary.read_summary(tmp_path)
    with pytest.raises(summary.SummaryError, match="failures"):
        summary.write_summary(tmp_path, {**run, "failures": None})


def _fake_step(knee_at: float, calls: list[float]):
    def run_step(rate: float) -> dict:
        calls.append(rate)
        return {"offered_rps": rate, "achieved_rps": rate, "p99_ms": 10.0, "failures": 0, "passed": rate <= knee_at}

    return run_step


def test_search_grows_then_bisects_to_the_knee():
    calls: list[float] = []
    steps = capacity.search(_fake_step(130, calls), start=10, maximum=10_000, growth=2, refine=3)
    assert calls == [10, 20, 40, 80, 160, 120, 140, 130]
    assert capacity.knee(steps)["achieved_rps"] == 130


def test_search_halves_when_the_first_step_fails_and_stops_at_the_maximum():
    calls: list[float] = []
    capacity.search(_fake_step(3, calls), start=10, maximum=100, growth=2, refine=0)
    assert calls == [10, 5, 2.5]
    calls.clear()
    steps = capacity.search(_fake_step(1000, calls), start=10, maximum=50, growth=2, refine=3)
    assert calls == [10, 20, 40, 50] and capacity.knee(steps)["achieved_rps"] == 50
    assert capacity.knee([]) is None


def _wrk_result(requests=300, status_errors=0, p99_us=40_000, lateness_p99=1.0, bad=0) -> dict:
    return {
        "requests": requests,
        "duration_us": 3_000_000,
        "errors": {"connect": 0, "read": 0, "write": 0, "status": status_errors, "timeout": 0},
        "bad_answers": bad,
        "latency_us": {"mean": 20_000.0, "p50": 15_000, "p95": 35_000, "p99": p99_us, "max": 60_000},
        "lateness_ms": {"p50": 0.2, "p99": lateness_p99, "max": 3.0, "count": requests},
    }


def test_step_verdict_needs_rate_latency_and_no_failures():
    assert capacity.step_from_wrk(100, _wrk_result(), 0.3, 3.0, 100)["passed"] is True
    assert capacity.step_from_wrk(100, _wrk_result(), 0.3, 3.0, 100)["generator_cpu_percent"] == 10.0
    assert capacity.step_from_wrk(100, _wrk_result(status_errors=1), 0.3, 3.0, 100)["passed"] is False
    assert capacity.step_from_wrk(100, _wrk_result(bad=1), 0.3, 3.0, 100)["failures"] == 1
    assert capacity.step_from_wrk(100, _wrk_result(requests=270), 0.3, 3.0, 100)["passed"] is False  # 90 RPS
    assert capacity.step_from_wrk(100, _wrk_result(p99_us=101_000), 0.3, 3.0, 100)["passed"] is False
    assert capacity.step_from_wrk(100, _wrk_result(p99_us=90_000, lateness_p99=15), 0.3, 3.0, 100)["passed"] is False


def test_parse_wrk_output_finds_the_result_line():
    output = "Running 3s test\n  1 threads\nWRK_RESULT " + json.dumps(_wrk_result()) + "\n"
    assert capacity.parse_wrk_output(output)["requests"] == 300
    with pytest.raises(capacity.CapacityError, match="no result"):
        capacity.parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused")


def test_wrk_timeout_outlasts_a_paced_connections_wait():
    assert capacity.wrk_timeout_s(rate=600, connections=240, budget_ms=100) == 2
    assert capacity.wrk_timeout_s(rate=1, connections=8, budget_ms=100) == 17
    assert capacity.wrk_timeout_s(rate=50, connections=8, budget_ms=1000) == 20


def test_connections_cover_the_rate_within_bounds():
    assert capacity.connections_for(10, 100) == 8
    assert capacity.connections_for(600, 100) == 240
    assert capacity.connections_for(100_000, 100) == 1000
    assert capacity.connections_for(1, 1000) == 2  # each connection idles at most 2 s between requests
    assert capacity.connections_for(0.4, 100) == 1


def test_endpoints_file_names_the_target_url(tmp_path):
    from loadtest.__main__ import resolve_target

    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text(json.dumps({"lambda": "https://abc.execute-api.us-east-1.amazonaws.com", "ecs": "http://x"}))
    assert resolve_target("lambda", endpoints) == "https://abc.execute-api.us-east-1.amazonaws.com"
    assert resolve_target("local-container", None) == "local-container"
    with pytest.raises(ValueError, match=r"no URL for 'eks' \(keys: ecs, lambda\)"):
        resolve_target("eks", endpoints)
    endpoints.write_text("not json")
    with pytest.raises(ValueError, match="not readable as JSON"):
        resolve_target("lambda", endpoints)


def _line_of(path: Path, needle: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_profile_breakdown_sorts_samples_into_components():
    from loadtest import profile
    from loadtest.targets import REPO_ROOT

    model = REPO_ROOT / "inference" / "model.py"
    tokenize = f"SentimentModel.probabilities ({model}:{_line_of(model, '.encode_batch(')})"
    onnx = f"SentimentModel.probabilities ({model}:{_line_of(model, '_session.run(')})"
    root = 'process 1:"python -m container";Thread._bootstrap (/usr/lib/python3.11/threading.py:1002)'
    raw = "\n".join(
        [
            f"{root};{tokenize};tokenizers::encode (tokenizers.abi3.so) 30",
            f"{root};{onnx};OrtRun (/site-packages/onnxruntime/capi/libonnxruntime.so) 50",
            f"{root};MicroBatcher._run (/work/inference/batcher.py:70);PyThread_acquire_lock_timed (python3.11) 400",
            f"{root};validate_python (/site-packages/pydantic_core/core.cpython.so) 15",
            f"{root};run_sync (/site-packages/anyio/to_thread.py:56);Thread.start (/threading.py:964) 5",
            "garbage line",
        ]
    )
    counts = profile.breakdown(raw)
    assert counts == {
        "model: tokenization (tokenizers)": 30,
        "model: ONNX Runtime run": 50,
        profile.IDLE: 400,
        "pydantic (validation, serialization)": 15,
        "thread-pool hop (sync dependency via anyio)": 5,
    }
    rows = profile.per_request_table(counts, cpu_ms_per_request=10.0)
    assert [row["component"] for row in rows][:2] == ["model: ONNX Runtime run", "model: tokenization (tokenizers)"]
    assert sum(row["cpu_ms_per_request"] for row in rows) == pytest.approx(10.0)
    assert rows[0]["share"] == 0.5
    assert profile.parse_frame("f (/a/b.py:12)") == ("f", "/a/b.py", 12)
