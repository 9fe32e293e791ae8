"""Admission control in the FastAPI service: 429 past the bound, /health never shed, the metrics count it.

Requests are held in flight by a gated model (its ``predict_batch`` waits until the test opens the gate),
so "in flight" is a fact the test sets up, not a matter of timing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import pytest

from container.admission import BURST_REARM_S, Admission, Overloaded
from container.app import BatchingService, create_app
from inference.batcher import MicroBatcher
from inference.schemas import ErrorResponse, Health, PredictResponse
from inference.settings import REPO_ROOT, Settings, SettingsError
from loadtest.texts import REVIEWS
from tests.fixtures.loadtest.tiny_model import build_tiny_model

LIMIT = 4
HANG_GUARD_S = 60  # only so a broken build fails instead of hanging; nothing is asserted about time


class GatedModel:
    """A model whose ``predict_batch`` records its texts and waits until ``gate`` is set."""

    def __init__(self, model) -> None:
        self.model = model
        self.info = model.info
        self.gate = threading.Event()
        self.seen: list[str] = []

    def predict_batch(self, texts: list[str]):
        self.seen.extend(texts)
        if not self.gate.wait(HANG_GUARD_S):
            raise RuntimeError("the test never opened the gate")
        return self.model.predict_batch(texts)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    words = sorted({word.strip(".,;:!?\"'()").lower() for text in REVIEWS for word in text.split()})
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny", words)


@pytest.fixture(scope="module")
def loaded_service(tiny_model_dir) -> BatchingService:
    return BatchingService(Settings(model_dir=tiny_model_dir))


@pytest.fixture
def gated(loaded_service):
    """The app over a service whose batcher runs a gated model, with at most ``LIMIT`` texts in flight."""
    model = GatedModel(loaded_service.sync.model)
    loaded_service.batcher = MicroBatcher(model, max_batch_size=32)
    loaded_service.admission = Admission(LIMIT)
    app = create_app(Settings(max_inflight_texts=LIMIT), service=loaded_service)
    app.state.service = loaded_service
    yield app, loaded_service, model
    model.gate.set()
    loaded_service.batcher.close()


async def _until(condition, what: str) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    try:
        await asyncio.wait_for(poll(), HANG_GUARD_S)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _metric(text: str, name: str, **labels: str) -> float:
    selector = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = rf"^{name}\{{{selector}\}} (\S+)$" if labels else rf"^{name} (\S+)$"
    found = re.search(pattern, text, flags=re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_past_the_bound_429_with_retry_after_and_the_model_never_sees_it(gated):
    app, service, model = gated

    async def scenario():
        async with _client(app) as client:
            held = [
                asyncio.create_task(client.post("/predict", json={"text": f"held number {i}"})) for i in range(LIMIT)
            ]
            await _until(lambda: service.admission.texts == LIMIT, f"{LIMIT} texts in flight")
            refused = await client.post("/predict", json={"text": "one too many"})
            refused_batch = await client.post("/predict/batch", json={"texts": ["also", "too many"]})
            model.gate.set()
            answers = await asyncio.gather(*held)
            after = await client.post("/predict", json={"text": "room again"})
        return refused, refused_batch, answers, after

    refused, refused_batch, answers, after = asyncio.run(scenario())
    for response in (refused, refused_batch):
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        body = ErrorResponse.model_validate(response.json())
        assert body.error == "overloaded"
        assert "MAX_INFLIGHT_TEXTS" in body.detail[0].message
        assert f"the limit is {LIMIT}" in body.detail[0].message
    assert [response.status_code for response in answers] == [200] * LIMIT
    assert PredictResponse.model_validate(after.json()).text == "room again"
    assert "one too many" not in model.seen and "too many" not in model.seen
    assert sorted(model.seen) == sorted([f"held number {i}" for i in range(LIMIT)] + ["room again"])


def test_a_request_that_only_partly_fits_is_refused_and_one_that_fits_is_admitted(gated):
    app, service, model = gated

    async def scenario():
        async with _client(app) as client:
            held = asyncio.create_task(client.post("/predict/batch", json={"texts": ["a", "b", "c"]}))
            await _until(lambda: service.admission.texts == 3, "3 texts in flight")
            too_many = await client.post("/predict/batch", json={"texts": ["d", "e"]})
            fits = asyncio.create_task(client.post("/predict", json={"text": "f"}))
            await _until(lambda: service.admission.texts == LIMIT, "the fourth text admitted")
            model.gate.set()
            return too_many, await held, await fits

    too_many, held, fits = asyncio.run(scenario())
    assert too_many.status_code == 429
    assert "3 texts are in flight and this request adds 2" in too_many.json()["detail"][0]["message"]
    assert (held.status_code, fits.status_code) == (200, 200)


def test_a_batch_larger_than_the_bound_runs_when_nothing_is_in_flight(gated):
    app, _, model = gated
    model.gate.set()

    async def scenario():
        async with _client(app) as client:
            return await client.post("/predict/batch", json={"texts": [f"text {i}" for i in range(LIMIT + 3)]})

    response = asyncio.run(scenario())
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == LIMIT + 3


def test_health_is_never_shed_and_the_metrics_count_what_was(gated):
    app, service, model = gated

    async def scenario():
        async with _client(app) as client:
            before = (await client.get("/metrics")).text
            held = [asyncio.create_task(client.post("/predict", json={"text": f"held {i}"})) for i in range(LIMIT)]
            await _until(lambda: service.admission.texts == LIMIT, f"{LIMIT} texts in flight")
            health = await client.get("/health")
            refusals = [await client.post("/predict", json={"text": "no room"}) for _ in range(3)]
            during = (await client.get("/metrics")).text
            model.gate.set()
            await asyncio.gather(*held)
            after = (await client.get("/metrics")).text
        return before, health, refusals, during, after

    before, health, refusals, during, after = asyncio.run(scenario())
    assert health.status_code == 200
    assert Health.model_validate(health.json()).ready is True
    assert [response.status_code for response in refusals] == [429] * 3
    shed = _metric(after, "requests_shed_total", reason="overloaded") - _metric(
        before, "requests_shed_total", reason="overloaded"
    )
    assert shed == 3
    by_route = {"method": "POST", "route": "/predict", "status": "429"}
    assert _metric(after, "http_requests_total", **by_route) - _metric(before, "http_requests_total", **by_route) == 3
    assert _metric(during, "inflight_texts") - _metric(before, "inflight_texts") == LIMIT
    assert _metric(after, "inflight_texts") == _metric(before, "inflight_texts")


def test_openapi_documents_the_429_and_503_answers(gated):
    app, _, _ = gated
    document = app.openapi()
    for path in ("/predict", "/predict/batch"):
        responses = document["paths"][path]["post"]["responses"]
        assert {"429", "503"} <= set(responses), responses
        assert responses["429"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert "503" in document["paths"]["/health"]["get"]["responses"]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _hold(admission: Admission, held: ExitStack, count: int = 1) -> None:
    held.enter_context(admission.admit(count))


def test_a_burst_is_admitted_up_to_the_allowance_and_a_refusal_disarms_it_for_a_quiet_second():
    clock = FakeClock()
    admission = Admission(LIMIT, burst_texts=3, clock=clock)
    with ExitStack() as held:
        for _ in range(LIMIT + 3):  # a burst from idle: the allowance is armed
            _hold(admission, held)
        with pytest.raises(
            Overloaded,
            match=rf"the limit is {LIMIT} per worker \(MAX_INFLIGHT_TEXTS\), "
            rf"{LIMIT + 3} in a burst \(BURST_TEXTS\)",
        ):
            _hold(admission, held)
        assert admission.texts == LIMIT + 3
    with ExitStack() as held:
        for _ in range(LIMIT):
            _hold(admission, held)
        clock.now += BURST_REARM_S / 2
        with pytest.raises(Overloaded, match=rf"the limit is {LIMIT} per worker \(MAX_INFLIGHT_TEXTS\): retry"):
            _hold(admission, held)  # disarmed, and this refusal keeps it so for another BURST_REARM_S
        clock.now += BURST_REARM_S * 0.99
        assert admission.refusal_at_door() is not None
        clock.now += BURST_REARM_S
        assert admission.refusal_at_door() is None
        _hold(admission, held, 3)
        assert admission.texts == LIMIT + 3


def test_without_a_burst_allowance_the_bound_holds_from_idle():
    admission = Admission(LIMIT, burst_texts=0, clock=FakeClock())
    with ExitStack() as held:
        for _ in range(LIMIT):
            _hold(admission, held)
        assert isinstance(admission.refusal_at_door(), Overloaded)


def test_the_service_admits_a_burst_and_counts_it_in_the_metrics(gated):
    app, service, model = gated
    service.admission = Admission(LIMIT, burst_texts=2)

    async def scenario():
        async with _client(app) as client:
            before = (await client.get("/metrics")).text
            held = [
                asyncio.create_task(client.post("/predict", json={"text": f"burst number {i}"}))
                for i in range(LIMIT + 2)
            ]
            await _until(lambda: service.admission.texts == LIMIT + 2, f"{LIMIT + 2} texts in flight")
            refused = await client.post("/predict", json={"text": "past the burst"})
            model.gate.set()
            answers = await asyncio.gather(*held)
            after = (await client.get("/metrics")).text
        return before, refused, answers, after

    before, refused, answers, after = asyncio.run(scenario())
    assert [response.status_code for response in answers] == [200] * (LIMIT + 2)
    assert refused.status_code == 429
    assert "BURST_TEXTS" in refused.json()["detail"][0]["message"]
    burst = _metric(after, "requests_admitted_in_burst_total") - _metric(before, "requests_admitted_in_burst_total")
    assert burst == 2


@pytest.mark.parametrize("value", ["-1", "1.5"])
def test_burst_texts_out_of_range_is_refused_naming_the_variable(value, monkeypatch):
    monkeypatch.setenv("BURST_TEXTS", value)
    with pytest.raises(SettingsError, match=rf"^invalid setting BURST_TEXTS='{value}': "):
        Settings()


def test_the_service_takes_its_burst_allowance_from_the_settings(loaded_service, tiny_model_dir):
    service = BatchingService(Settings(model_dir=tiny_model_dir, max_inflight_texts=5, burst_texts=7))
    try:
        assert (service.admission.limit, service.admission.burst_limit) == (5, 12)
    finally:
        service.batcher.close()


@pytest.mark.parametrize("value", ["0", "-3"])
def test_max_inflight_texts_below_one_is_refused_naming_the_variable(value, monkeypatch):
    monkeypatch.setenv("MAX_INFLIGHT_TEXTS", value)
    with pytest.raises(
        SettingsError, match=rf"^invalid setting MAX_INFLIGHT_TEXTS='{value}': .*greater than or equal to 1"
    ):
        Settings()


def test_max_inflight_texts_not_a_number_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv("MAX_INFLIGHT_TEXTS", "many")
    with pytest.raises(SettingsError, match=r"^invalid setting MAX_INFLIGHT_TEXTS='many': .*integer"):
        Settings()


def test_python_m_container_stops_at_once_on_a_bad_bound(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "MAX_INFLIGHT_TEXTS": "0"}
    completed = subprocess.run(
        [sys.executable, "-m", "container"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 1
    assert completed.stderr.strip() == (
        "error: invalid setting MAX_INFLIGHT_TEXTS='0': Input should be greater than or equal to 1"
    )


def _synthetic_run(statuses: list[int], latencies: list[float]) -> dict:
    count = len(statuses)
    return {
        "offered_rps": 10.0,
        "connections": 4,
        "generator_cpu_percent": 1.0,
        "wrk": {"duration_us": 1_000_000, "errors": {"connect": 0, "read": 1, "write": 0, "status": 0, "timeout": 0}},
        "status": np.array(statuses),
        "latency_ms": np.array(latencies, dtype=float),
        "lateness_ms": np.zeros(count),
        "sent_ms": np.linspace(0, 999, count),
    }


def test_overload_figures_split_latency_by_answer():
    from loadtest.openloop import figures
    from loadtest.overload import verdict

    run = _synthetic_run([200] * 4 + [429] * 4 + [503, 0], [10, 20, 30, 90, 1, 1, 2, 3, 5, 7])
    step = figures(run)
    assert (step["admitted"], step["throttled"], step["server_errors"]) == (4, 4, 1)
    assert (step["admitted_p50_ms"], step["admitted_p99_ms"], step["throttled_p99_ms"]) == (20.0, 90.0, 3.0)
    assert step["throttled_share"] == 0.4
    assert step["other_failures"] == 2  # the unlabelled 200 (status 0) and wrk's read error
    assert verdict(step) == {"admitted_p99_ms": True, "throttled_p99_ms": True, "server_errors": False}


def test_soak_growth_is_measured_from_the_end_of_the_warm_up():
    from loadtest.soak import growth

    samples = [(float(at), 100 * 2**20 if at <= 60 else 108 * 2**20) for at in range(0, 600, 2)]
    memory = growth(samples, warm_up_s=60)
    assert (memory["after_warm_up_mb"], memory["at_end_mb"], memory["growth"]) == (100.0, 108.0, 0.08)
    assert memory["within_goal"] is True
    assert growth([(float(at), (100 + at) * 2**20) for at in range(0, 600, 2)], 60)["within_goal"] is False


def test_a_429_is_a_soak_failure():
    """At 80 % of the knee nothing should be shed: the soak counts a 429 with the 5xx and the others."""
    from loadtest.soak import failure_kinds

    segments = [
        {"throttled": 2, "server_errors": 0, "other_failures": 1, "failures": 1},
        {"throttled": 1, "server_errors": 1, "other_failures": 0, "failures": 1},
    ]
    assert failure_kinds(segments) == {"429": 3, "5xx": 1, "other": 1}


def test_loadtest_cli_refuses_bad_factors_and_shares(capsys):
    from loadtest.__main__ import main

    for argv in (
        ["overload", "--target", "local-container", "--out", "x", "--factors", "1,-2"],
        ["soak", "--target", "local-container", "--out", "x", "--share", "1.5"],
    ):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
    assert "every factor must be above zero" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_overload_and_soak_commands_run_against_local_container(tiny_model_dir, tmp_path):
    from loadtest.__main__ import main

    overload_out, soak_out = tmp_path / "overload", tmp_path / "soak"
    common = ["--target", "local-container", "--model", str(tiny_model_dir), "--knee-rps", "20"]
    assert main(["overload", *common, "--out", str(overload_out), "--factors", "1,4", "--step-duration", "2s"]) == 0
    summary = json.loads((overload_out / "overload.json").read_text())
    assert [step["factor"] for step in summary["steps"]] == [1.0, 4.0]
    for step in summary["steps"]:
        assert step["answers"] == step["admitted"] + step["throttled"] + step["server_errors"] + (
            step["other_failures"] - sum(step["socket_errors"][key] for key in ("connect", "read", "write", "timeout"))
        )
        assert step["server_rss_before_mb"] > 0 and step["server_rss_after_mb"] > 0
        assert step["server_cpu_percent"] > 0 and step["model_cpu_ms_per_text"] > 0
    assert (overload_out / "overload.png").stat().st_size > 0
    argv = ["soak", *common, "--out", str(soak_out), "--duration", "6s", "--segment", "3s", "--warm-up", "2s"]
    assert main(argv) == 0
    soak = json.loads((soak_out / "soak.json").read_text())
    assert len(soak["segments"]) == 2
    assert soak["requests"] == sum(segment["answers"] for segment in soak["segments"]) > 0
    assert soak["rss"]["after_warm_up_mb"] > 0
    assert all(segment["cpu_busy"] > 0 for segment in soak["segments"])
    assert soak["cpu_quota_throttled"] is None  # a process on the host: no quota to read
    # Every answer of both segments is kept, on one clock: the second segment's were all sent after the first's.
    answers = np.loadtxt(soak_out / "answers.tsv", skiprows=1, ndmin=2)
    assert len(answers) == soak["requests"] and set(answers[:, 0]) == {0, 1}
    assert answers[answers[:, 0] == 1, 2].min() > answers[answers[:, 0] == 0, 2].max()
    assert (soak_out / "soak.png").stat().st_size > 0
    # The host's steal was sampled through the soak, one row a second with a figure for each CPU, on the answers' clock.
    steal = soak["host_steal"]
    assert len(steal["by_second"]) >= 5 and all(len(row) == os.cpu_count() for row in steal["by_second"].values())
    assert min(int(second) for second in steal["by_second"]) <= answers[:, 2].min() // 1000 + 1
    assert steal["beside_refusals"]["without"]["seconds"] + steal["beside_refusals"]["with_a_refusal"][
        "seconds"
    ] == len(steal["by_second"])
