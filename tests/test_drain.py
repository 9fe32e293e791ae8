"""Graceful drain on SIGTERM: a real ``python -m container`` on 127.0.0.1, and the deployments' stop timeouts.

The server runs on the tiny test model; a ``sitecustomize`` put first on its ``PYTHONPATH`` holds every
prediction of a text containing ``HOLD`` until the test creates a release file, so requests are in flight
when SIGTERM arrives because the test put them there, not because they happen to be slow.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from container.admission import SHUTDOWN_MARGIN_S
from inference.settings import REPO_ROOT, Settings, SettingsError
from loadtest.targets import free_port
from loadtest.texts import REVIEWS
from tests.fixtures.loadtest.tiny_model import build_tiny_model

COPILOT_MANIFEST = REPO_ROOT / "copilot" / "api" / "manifest.yml"
K8S_DEPLOYMENT = REPO_ROOT / "eksctl" / "k8s" / "deployment.yaml"
# ECS sends SIGKILL this long after SIGTERM unless the task definition sets stopTimeout (ECS's documented default).
ECS_DEFAULT_STOP_TIMEOUT_S = 30
HANG_GUARD_S = 90  # only so a broken build fails instead of hanging; nothing is asserted about time

GATE = """
import os, time
from inference import model as _model

_predict_batch = _model.SentimentModel.predict_batch
_release = os.environ["DRAIN_TEST_RELEASE_FILE"]


def predict_batch(self, texts):
    if any("HOLD" in text for text in texts):
        deadline = time.monotonic() + 120
        while not os.path.exists(_release) and time.monotonic() < deadline:
            time.sleep(0.02)
    return _predict_batch(self, texts)


_model.SentimentModel.predict_batch = predict_batch
"""


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    words = sorted({word.strip(".,;:!?\"'()").lower() for text in REVIEWS for word in text.split()})
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny", words)


def _request(url: str, payload: dict | None = None, timeout: float = 30) -> tuple[int, dict, dict]:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw.startswith(b"{") else {"raw": raw.decode()}, dict(error.headers)


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def _inflight_texts(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("inflight_texts "):
                return float(line.split()[1])
    return 0.0


def _start(tiny_model_dir: Path, tmp_path: Path, workers: int, grace_s: float) -> tuple[subprocess.Popen, str, Path]:
    (tmp_path / "gate").mkdir()
    (tmp_path / "gate" / "sitecustomize.py").write_text(GATE)
    release = tmp_path / "release"
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{tmp_path / 'gate'}{os.pathsep}{REPO_ROOT}",
        "DRAIN_TEST_RELEASE_FILE": str(release),
        "MODEL_DIR": str(tiny_model_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "MAX_INFLIGHT_TEXTS": "16",
        "DRAIN_GRACE_SECONDS": str(grace_s),
    }
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "container"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: process.poll() is not None or _request(f"{url}/health", timeout=2)[0] == 200, "healthy")
    except AssertionError:
        process.kill()
        raise
    assert process.poll() is None, (tmp_path / "server.log").read_text()
    return process, url, release


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_drains_requests_in_flight_refuses_new_ones_and_exits_0(tiny_model_dir, tmp_path, workers):
    process, url, release = _start(tiny_model_dir, tmp_path, workers, grace_s=60)
    held = 3
    answers: list[tuple[int, dict, dict]] = []
    threads = [
        threading.Thread(target=lambda i=i: answers.append(_request(f"{url}/predict", {"text": f"HOLD {i}"}, 120)))
        for i in range(held)
    ]
    try:
        for thread in threads:
            thread.start()
        _wait_for(lambda: _inflight_texts(url) == held, f"{held} texts in flight")
        process.send_signal(signal.SIGTERM)
        _wait_for(lambda: _request(f"{url}/health")[0] == 503, "/health answers 503 while draining")
        status, health, _ = _request(f"{url}/health")
        assert (status, health["status"], health["ready"]) == (503, "draining", False)
        status, body, headers = _request(f"{url}/predict", {"text": "a new request"})
        assert (status, body["error"]) == (503, "shutting_down")
        assert headers.get("connection") == "close" or headers.get("Connection") == "close"
        assert process.poll() is None  # still running: the held requests are not answered yet
        release.touch()
        for thread in threads:
            thread.join(HANG_GUARD_S)
        assert sorted(status for status, _, _ in answers) == [200] * held
        assert sorted(body["text"] for _, body, _ in answers) == [f"HOLD {i}" for i in range(held)]
        assert process.wait(HANG_GUARD_S) == 0
    finally:
        release.touch()
        if process.poll() is None:
            process.kill()
            process.wait()
    log = (tmp_path / "server.log").read_text()
    assert "SIGTERM: draining" in log
    assert "Drained" in log, log


def test_sigterm_with_nothing_in_flight_exits_0(tiny_model_dir, tmp_path):
    process, url, _ = _start(tiny_model_dir, tmp_path, 1, grace_s=60)
    try:
        assert _request(f"{url}/predict", {"text": "a quick one"})[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(HANG_GUARD_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Drained 0 request(s)" in (tmp_path / "server.log").read_text()


def test_a_request_still_running_when_the_grace_runs_out_does_not_stop_a_clean_exit(tiny_model_dir, tmp_path):
    process, url, release = _start(tiny_model_dir, tmp_path, 1, grace_s=0.5)

    def post_and_ignore_the_answer() -> None:
        # cut off at the end of the grace: what it gets is not what this test is about
        with contextlib.suppress(urllib.error.URLError, ConnectionError):
            _request(f"{url}/predict", {"text": "HOLD forever"}, 120)

    stuck = threading.Thread(target=post_and_ignore_the_answer, daemon=True)
    try:
        stuck.start()
        _wait_for(lambda: _inflight_texts(url) == 1, "1 text in flight")
        process.send_signal(signal.SIGTERM)
        assert process.wait(HANG_GUARD_S) == 0
    finally:
        release.touch()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Drain grace of 0.5 s ran out with 1 request(s) in flight" in (tmp_path / "server.log").read_text()


@pytest.mark.parametrize("value", ["0", "-5", "nan", "3601"])
def test_drain_grace_out_of_range_is_refused_naming_the_variable(value, monkeypatch):
    monkeypatch.setenv("DRAIN_GRACE_SECONDS", value)
    with pytest.raises(SettingsError, match=rf"^invalid setting DRAIN_GRACE_SECONDS='{value}': "):
        Settings()


def test_drain_grace_not_a_number_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv("DRAIN_GRACE_SECONDS", "soon")
    with pytest.raises(SettingsError, match=r"^invalid setting DRAIN_GRACE_SECONDS='soon': .*number"):
        Settings()


def _copilot_stop() -> tuple[float, float]:
    """The drain grace the Copilot service runs with, and ECS's stop timeout for its container."""
    manifest = yaml.safe_load(COPILOT_MANIFEST.read_text(encoding="utf-8"))
    grace = float((manifest.get("variables") or {}).get("DRAIN_GRACE_SECONDS", Settings().drain_grace_seconds))
    stop = ECS_DEFAULT_STOP_TIMEOUT_S
    for override in manifest.get("taskdef_overrides") or []:
        if str(override.get("path", "")).endswith("StopTimeout"):
            stop = override["value"]
    return grace, float(stop)


def _pod_and_container() -> tuple[dict, dict]:
    """The Deployment's pod spec and its ``api`` container."""
    documents = [doc for doc in yaml.safe_load_all(K8S_DEPLOYMENT.read_text(encoding="utf-8")) if doc]
    (deployment,) = [doc for doc in documents if doc.get("kind") == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "api"]
    return pod, container


def _kubernetes_stop() -> tuple[float, float]:
    """The drain grace the pods run with, and what terminationGracePeriodSeconds leaves after the preStop sleep.

    Kubernetes counts the preStop hook against the grace period: SIGTERM comes when the hook ends.
    """
    pod, container = _pod_and_container()
    env = {item["name"]: item.get("value") for item in container.get("env") or []}
    grace = float(env.get("DRAIN_GRACE_SECONDS", Settings().drain_grace_seconds))
    pre_stop = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}
    period = float(pod.get("terminationGracePeriodSeconds", 30))  # 30: Kubernetes' default
    return grace, period - float(pre_stop.get("seconds", 0))


def test_pods_keep_serving_while_the_load_balancer_deregisters_them():
    """On Kubernetes the endpoint removal and the stop run at once (on ECS the target is deregistered first):
    a preStop sleep keeps the pod answering until the ALB has stopped sending it requests."""
    _, container = _pod_and_container()
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] >= 5, container.get("lifecycle")


def test_the_drain_grace_fits_both_deployments_stop_timeouts_and_they_agree():
    ecs_grace, ecs_stop = _copilot_stop()
    k8s_grace, k8s_stop = _kubernetes_stop()
    assert ecs_grace + SHUTDOWN_MARGIN_S <= ecs_stop, (ecs_grace, SHUTDOWN_MARGIN_S, ecs_stop)
    assert k8s_grace + SHUTDOWN_MARGIN_S <= k8s_stop, (k8s_grace, SHUTDOWN_MARGIN_S, k8s_stop)
    assert (ecs_grace, ecs_stop) == (k8s_grace, k8s_stop)
