"""The capacity step's CPU figures and the split of knee / model alone into its three factors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from container.app import create_app
from inference.settings import Settings
from loadtest.cpu_split import BURST_ADMITTED, Reading, knee_split, parse_counters, parse_model_counters, step_figures
from loadtest.targets import Target


def test_the_three_factors_multiply_to_knee_over_model_alone():
    # 10 s at 200 RPS, 8 CPU seconds in the server, 6 of them in the model thread; the model alone does 300/s.
    step = {"achieved_rps": 200.0, "requests": 2000}
    step |= step_figures(Reading(0.0, 1.0, (50.0, 0.5)), Reading(10.0, 9.0, (2050.0, 6.5)), 2000)
    assert step["server_cpu_ms_per_request"] == 4.0 and step["cpu_busy"] == 0.8
    assert step["model_texts"] == 2000 and step["model_cpu_ms_per_text"] == 3.0
    split = knee_split(step, 300.0)
    assert split["cpu_busy"] == 0.8
    assert split["model_speed"] == pytest.approx((1000 / 300) / 3.0, abs=1e-4)
    assert split["model_share"] == 0.75
    assert split["product"] == pytest.approx(step["achieved_rps"] / 300.0, abs=1e-3)


def test_no_split_without_the_servers_or_the_models_counters():
    no_cpu = step_figures(Reading(0.0, None, (0.0, 0.0)), Reading(10.0, None, (100.0, 0.3)), 100)
    assert "cpu_busy" not in no_cpu and no_cpu["model_texts"] == 100
    assert knee_split(no_cpu, 300.0) is None
    no_model = step_figures(Reading(0.0, 1.0, None), Reading(10.0, 2.0, None), 100)
    assert "model_texts" not in no_model and no_model["cpu_busy"] == 0.1
    assert knee_split(no_model, 300.0) is None
    assert knee_split(None, 300.0) is None


def test_the_model_counters_are_read_from_the_services_own_metrics(bundled_model_dir):
    with TestClient(create_app(Settings(model_dir=bundled_model_dir))) as client:
        texts_before, _ = parse_model_counters(client.get("/metrics").text)
        client.post("/predict/batch", json={"texts": ["Loved it.", "Hated it."]})
        metrics = client.get("/metrics").text
        texts_after, cpu_after = parse_model_counters(metrics)
    assert texts_after - texts_before == 2 and cpu_after > 0
    assert parse_model_counters("# nothing here\n") is None
    assert BURST_ADMITTED in parse_counters(metrics)  # exposed from the start, before any burst


def test_a_lambda_front_is_never_asked_for_metrics(monkeypatch):
    from loadtest import cpu_split

    asked: list[str] = []
    counters = {cpu_split.MODEL_TEXTS: 1.0, cpu_split.MODEL_CPU_SECONDS: 0.1, cpu_split.BURST_ADMITTED: 4.0}
    monkeypatch.setattr(cpu_split, "service_counters", lambda url: asked.append(url) or counters)
    lambda_target = Target("local-lambda", "http://127.0.0.1:9", cpu_reader=lambda: 2.0)
    reading = cpu_split.read(lambda_target)
    assert asked == [] and reading.model is None and reading.burst_admitted is None and reading.server_cpu_s == 2.0
    service = cpu_split.read(Target("image-container", "http://127.0.0.1:9", cpu_reader=lambda: 2.0))
    assert (service.model, service.burst_admitted) == ((1.0, 0.1), 4.0)
    assert asked == ["http://127.0.0.1:9"]


def test_a_step_counts_the_requests_the_burst_allowance_let_in():
    step = step_figures(Reading(0.0, 1.0, None, burst_admitted=7.0), Reading(10.0, 9.0, None, burst_admitted=31.0), 10)
    assert step["admitted_in_burst"] == 24
    assert "admitted_in_burst" not in step_figures(Reading(0.0, 1.0, None), Reading(10.0, 9.0, None), 10)


def test_a_step_counts_the_periods_the_cpu_quota_throttled_the_server():
    before, after = Reading(0.0, 1.0, None, (3, 0.120)), Reading(10.0, 9.0, None, (5, 0.2055))
    step = step_figures(before, after, 1000)
    assert step["cpu_quota_throttled_periods"] == 2 and step["cpu_quota_throttled_ms"] == 85.5
    unread = step_figures(Reading(0.0, 1.0, None), after, 1000)
    assert "cpu_quota_throttled_periods" not in unread and "cpu_quota_throttled_ms" not in unread


@pytest.mark.parametrize(
    ("layout", "text", "expected"),
    [
        ("cpu/docker/{id}", "nr_periods 601\nnr_throttled 9\nthrottled_time 385944786\n", (9, 0.385944786)),
        ("system.slice/docker-{id}.scope", "usage_usec 5\nnr_throttled 2\nthrottled_usec 43000\n", (2, 0.043)),
    ],
)
def test_the_quota_throttling_is_read_from_the_containers_cgroup(monkeypatch, tmp_path, layout, text, expected):
    """cgroup v1 (cpu controller, ns) and v2 (unified, µs) as Docker lays them out."""
    from loadtest import docker_cli

    directory = tmp_path / layout.format(id="abc")
    directory.mkdir(parents=True)
    (directory / "cpu.stat").write_text(text)
    monkeypatch.setattr(docker_cli, "CGROUP_ROOT", tmp_path)
    assert docker_cli.container_cpu_throttling("abc") == pytest.approx(expected)
    assert docker_cli.container_cpu_throttling("other") is None
