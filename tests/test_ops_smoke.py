"""The smoke test against the real service (``python -m container``) and against broken fake services."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inference.settings import REPO_ROOT
from ops import smoke
from ops.cli import main

Responder = Callable[[str, dict | None], tuple[int, dict]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(url: str, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the service exited with {process.returncode}: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f"{url}/health did not answer within {timeout_s:g} s")


@pytest.fixture(scope="module")
def service_url(bundled_model_dir) -> Iterator[str]:
    """``python -m container`` serving the bundled model on a free 127.0.0.1 port."""
    port = free_port()
    env = {**os.environ, "MODEL_DIR": str(bundled_model_dir), "HOST": "127.0.0.1", "PORT": str(port)}
    env.update(WEB_CONCURRENCY="1", LOG_LEVEL="warning", MODEL_URI="")
    process = subprocess.Popen(
        [sys.executable, "-m", "container"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_smoke_passes_against_the_real_service(service_url, capsys):
    assert main(["smoke", service_url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True
    assert [check["name"] for check in report["checks"]] == [
        "health",
        "predict positive",
        "predict negative",
        "batch",
        "bad request",
    ]
    assert all(check["latency_ms"] > 0 for check in report["checks"])
    assert report["checks"][-1]["detail"] == "HTTP 422 validation_error"


def test_smoke_fails_when_the_real_service_misses_an_impossible_budget(service_url, capsys):
    assert main(["smoke", service_url, "--latency-budget-ms", "0.001"]) == 1
    out = capsys.readouterr().out
    assert "over the 0.001 ms budget" in out
    assert "0/5 checks passed" in out


def serve(responder: Responder, delay_s: float = 0.0) -> tuple[ThreadingHTTPServer, str]:
    """A stand-in service on 127.0.0.1 whose answers come from ``responder(path, json_body)``."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: dict | None) -> None:
            time.sleep(delay_s)
            status, payload = responder(self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(None)

        def do_POST(self) -> None:
            self._answer(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def prediction(text: str, sentiment: str) -> dict:
    return {"text": text, "sentiment": sentiment, "confidence": 0.9, "processing_time_ms": 1.0}


def keyword_service(path: str, body: dict | None) -> tuple[int, dict]:
    """The API contract, with 'dull' meaning NEGATIVE: a correct service as far as smoke can tell."""
    if path == "/health":
        return 200, {"status": "ok", "ready": True, "model_name": "fake", "model_version": "1"}
    texts = body.get("texts") if path == "/predict/batch" else [body.get("text")]
    if not all(texts):
        return 422, {"error": "validation_error", "detail": [{"field": "text", "message": "empty"}]}
    predictions = [prediction(text, "NEGATIVE" if "dull" in text else "POSITIVE") for text in texts]
    if path == "/predict/batch":
        return 200, {"predictions": predictions, "processing_time_ms": 1.0}
    return 200, predictions[0]


def always_positive_service(path: str, body: dict | None) -> tuple[int, dict]:
    """A broken service: everything is POSITIVE and nothing is ever refused."""
    if path == "/health":
        return 200, {"status": "ok", "ready": True, "model_name": "fake", "model_version": "1"}
    if path == "/predict/batch":
        return 200, {"predictions": [prediction(t, "POSITIVE") for t in body["texts"]], "processing_time_ms": 1.0}
    return 200, prediction(body["text"], "POSITIVE")


def test_a_correct_service_passes(capsys):
    server, url = serve(keyword_service)
    try:
        assert main(["smoke", url + "/"]) == 0
        assert "5/5 checks passed" in capsys.readouterr().out
    finally:
        server.shutdown()


def test_each_broken_behaviour_fails_its_check():
    server, url = serve(always_positive_service)
    try:
        results = {result.name: result for result in smoke.run_smoke(url)}
    finally:
        server.shutdown()
    assert {name for name, result in results.items() if not result.passed} == {
        "predict negative",
        "batch",
        "bad request",
    }
    assert results["predict negative"].detail == "POSITIVE (0.900), expected NEGATIVE"
    assert results["bad request"].detail.startswith("HTTP 200, expected 4xx")


def test_a_response_that_breaks_the_schema_fails():
    def unready(path: str, body: dict | None) -> tuple[int, dict]:
        if path == "/health":
            return 200, {"status": "starting", "ready": "maybe"}
        return keyword_service(path, body)

    server, url = serve(unready)
    try:
        (health, *_) = smoke.run_smoke(url)
    finally:
        server.shutdown()
    assert not health.passed
    assert health.detail.startswith("body does not match Health: status:")


def test_a_slow_service_fails_the_latency_budget():
    server, url = serve(keyword_service, delay_s=0.05)
    try:
        results = smoke.run_smoke(url, latency_budget_ms=20)
    finally:
        server.shutdown()
    assert not any(result.passed for result in results)
    assert all(result.latency_ms >= 50 for result in results)
    assert all(result.detail.endswith("over the 20 ms budget") for result in results)


def test_an_unreachable_service_fails_every_check(capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["smoke", url, "--timeout", "2", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False
    assert all(check["detail"].startswith("no response:") for check in report["checks"])


def test_a_url_that_is_not_http_is_refused(capsys):
    assert main(["smoke", "ftp://example.com"]) == 1
    assert capsys.readouterr().err == "error: 'ftp://example.com' is not an http:// or https:// URL\n"
