"""`--from-results DIR`: measured inputs replace the documented defaults, each with its file named; broken
or missing files fall back to the defaults. Includes the CLI run against such a directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from costmodel.cli import main
from costmodel.results import classify, load_results
from costmodel.service import ASSUMED, DEFAULT_SERVICE

CONTAINER_SUMMARY = {
    "target": "local-container",
    "requests": 12000,
    "failures": 0,
    "rps": 95.2,
    "latency_ms": {"mean": 21.0, "median": 15.0, "p95": 48.0, "p99": 70.0},
    "cold_starts": {"count": 0, "median_ms": None, "durations_ms": []},
    "server": {"cpus": 2.0, "workers": 2},
    "capacity": {
        "knee_rps": 180.0,
        "p99_budget_ms": 100.0,
        "steps": [
            {"offered_rps": 50, "achieved_rps": 50, "p99_ms": 22.0, "failures": 0},
            {"offered_rps": 100, "achieved_rps": 99.5, "p99_ms": 41.0, "failures": 0},
            {"offered_rps": 180, "achieved_rps": 180, "p99_ms": 95.0, "failures": 0},
            {"offered_rps": 250, "achieved_rps": 210, "p99_ms": 400.0, "failures": 3},
        ],
    },
}
LAMBDA_SUMMARY = {
    "target": "local-lambda",
    "requests": 2000,
    "failures": 0,
    "rps": 40.0,
    "latency_ms": {"mean": 30.0, "median": 25.0, "p95": 45.0, "p99": 55.0},
    "cold_starts": {"count": 3, "median_ms": 2400.0, "durations_ms": [2300, 2400, 2600]},
    "server": {"cpus": 1.0, "workers": 1},
    "lambda": {"billed_duration_ms": {"median": 17.0, "p99": 31.0}, "memory_mb": 2048},
}
BENCH = {  # row names as `make bench` (model_export/bench.py) writes them
    "rows": [
        {"name": "(a) PyTorch FP32 DistilBERT-base, padded to 512", "single_p50_ms": 90.0, "single_p99_ms": 120.0},
        {"name": "(b) ONNX int8 DistilBERT-base", "single_p50_ms": 20.0, "single_p99_ms": 30.0},
        {"name": "(c) ONNX FP32 MiniLM-L6 [trained]", "single_p50_ms": 12.0, "single_p99_ms": 20.0},
        {"name": "(d) ONNX int8 MiniLM-L6 (bundled model)", "single_p50_ms": 6.0, "single_p99_ms": 9.0},
    ]
}


def write_results(root: Path, container=CONTAINER_SUMMARY, lam=LAMBDA_SUMMARY, bench=BENCH) -> Path:
    """A results directory in the layout the load-test runner and `make bench` write."""
    for name, body in (("container", container), ("lambda", lam)):
        if body is not None:
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / "summary.json").write_text(json.dumps(body))
    if bench is not None:
        (root / "bench").mkdir(parents=True, exist_ok=True)
        (root / "bench" / "bench.json").write_text(json.dumps(bench))
    (root / "baseline").mkdir(exist_ok=True)
    (root / "baseline" / "summary.json").write_text(json.dumps({"target": "baseline", "requests": 10}))
    return root


def test_measurements_replace_defaults_and_name_their_file(tmp_path):
    profile = load_results(write_results(tmp_path))
    assert profile.rps_per_core == pytest.approx(90.0)  # knee 180 RPS / 2 cpus
    assert "container/summary.json: capacity.knee_rps 180 / server.cpus 2" in profile.source("rps_per_core")
    assert profile.p99_budget_ms == 100.0 and profile.container_p99_ms == 100.0
    assert len(profile.capacity_steps) == 4 and profile.capacity_cpus == 2.0
    assert profile.lambda_duration_ms == 17.0
    assert "lambda.billed_duration_ms.median" in profile.source("lambda_duration_ms")
    assert profile.lambda_memory_mb == 2048
    assert profile.lambda_warm_p99_ms == 55.0
    assert profile.lambda_cold_start_ms == 2400.0
    # not measured by anything: still the documented assumption
    assert profile.cold_starts_per_day == DEFAULT_SERVICE.cold_starts_per_day
    assert profile.source("cold_starts_per_day") == ASSUMED
    assert any("baseline" in note and "skipped" in note for note in profile.notes)
    assert any("bench.json: read, but the Lambda duration came from the Lambda summary" in n for n in profile.notes)


def test_bench_gives_the_lambda_duration_when_no_lambda_summary(tmp_path):
    profile = load_results(write_results(tmp_path, lam=None))
    assert profile.lambda_duration_ms == 6.0  # the bundled model's row; 2048 MB is a full vCPU, no scaling
    assert "single_p50_ms 6 of row '(d) ONNX int8 MiniLM-L6 (bundled model)'" in profile.source("lambda_duration_ms")


def test_bench_duration_scales_with_lambda_cpu_share_below_1769_mb(tmp_path):
    lam = {"target": "local-lambda", "lambda": {"memory_mb": 1024}}  # memory, but no billed duration
    profile = load_results(write_results(tmp_path, lam=lam))
    assert profile.lambda_memory_mb == 1024
    assert profile.lambda_duration_ms == pytest.approx(6.0 * 1769 / 1024)
    assert "× 1.728 (CPU share at 1024 MB)" in profile.source("lambda_duration_ms")
    assert profile.lambda_warm_p99_ms == DEFAULT_SERVICE.lambda_warm_p99_ms


def test_missing_directory_falls_back_to_defaults(tmp_path):
    profile = load_results(tmp_path / "nope")
    assert profile.rps_per_core == DEFAULT_SERVICE.rps_per_core
    assert any("no such results directory" in note for note in profile.notes)


def test_empty_directory_says_nothing_was_usable(tmp_path):
    profile = load_results(tmp_path)
    assert profile.lambda_duration_ms == DEFAULT_SERVICE.lambda_duration_ms
    assert any("no usable measurements" in note for note in profile.notes)


def test_broken_and_partial_files_are_skipped(tmp_path):
    partial = {"target": "local-container", "latency_ms": {"p99": 80.0}, "capacity": {"knee_rps": "fast"}}
    write_results(
        tmp_path, container=partial, lam={"target": "local-lambda", "lambda": {"memory_mb": -5}}, bench={"rows": 3}
    )
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "summary.json").write_text("{not json")
    profile = load_results(tmp_path)
    assert profile.rps_per_core == DEFAULT_SERVICE.rps_per_core  # knee was not a number
    assert profile.container_p99_ms == 80.0  # but the measured p99 was usable
    assert profile.lambda_memory_mb == DEFAULT_SERVICE.lambda_memory_mb
    assert any("not valid JSON" in note for note in profile.notes)
    assert any("no row with single_p50_ms" in note for note in profile.notes)


def test_local_summary_wins_over_a_newer_deployed_one(tmp_path):
    write_results(tmp_path)
    deployed = {
        "target": "https://abc.execute-api.us-east-1.amazonaws.com/predict",
        "latency_ms": {"p99": 120.0},
        "cold_starts": {"count": 1, "median_ms": 900.0},
    }
    (tmp_path / "deployed").mkdir()
    path = tmp_path / "deployed" / "summary.json"
    path.write_text(json.dumps(deployed))
    os.utime(path, (2_000_000_000, 2_000_000_000))
    profile = load_results(tmp_path)
    assert profile.lambda_warm_p99_ms == 55.0
    assert any("another lambda summary" in note for note in profile.notes)


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("local-container", "container"),
        ("local-lambda", "lambda"),
        ("baseline", None),
        ("https://x.execute-api.us-east-1.amazonaws.com", "lambda"),
        ("https://abc.lambda-url.us-east-1.on.aws/", "lambda"),
        ("http://sentiment-123.us-east-1.elb.amazonaws.com", "container"),
        ("https://example.com", None),
        (None, None),
    ],
)
def test_targets_are_classified(target, kind):
    assert classify(target) == kind


def test_slo_resizing_uses_the_capacity_steps(tmp_path):
    profile = load_results(write_results(tmp_path))
    per_core, step = profile.rps_per_core_within(50)
    assert step.achieved_rps == 99.5 and per_core == pytest.approx(49.75)
    assert profile.rps_per_core_within(10) is None


# ----------------------------------------------------------------------------------------------- CLI with results


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv",
    [
        ["compare"],
        ["compare", "--scenarios", "--volumes", "10K,1M"],
        ["crossover"],
        ["breakdown", "--platform", "fargate", "--daily-requests", "2M"],
        ["recommend", "--daily-requests", "2M", "--p99-slo-ms", "50"],
    ],
)
def test_every_command_runs_from_results(argv, tmp_path, capsys):
    root = write_results(tmp_path / "results")
    code, out, err = run(capsys, *argv, "--from-results", str(root))
    assert code == 0, err
    assert "summary.json" in out


def test_plot_runs_from_results(tmp_path, capsys):
    root = write_results(tmp_path / "results")
    png = tmp_path / "plot.png"
    code, out, _ = run(capsys, "plot", "--from-results", str(root), "--output", str(png))
    assert code == 0
    assert f"wrote {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_change_the_costs_and_json_names_the_origin(tmp_path, capsys):
    root = write_results(tmp_path / "results")
    _, plain, _ = run(capsys, "breakdown", "--platform", "fargate", "--daily-requests", "5M", "--json")
    _, measured, _ = run(
        capsys, "breakdown", "--platform", "fargate", "--daily-requests", "5M", "--json", "--from-results", str(root)
    )
    plain, measured = json.loads(plain), json.loads(measured)
    assert measured["derived"]["rps_per_task"] == pytest.approx(90.0)  # 90 RPS per core × 1 vCPU
    assert measured["total_usd"] < plain["total_usd"]
    assert "capacity.knee_rps" in measured["inputs"]["rps-per-core"]["origin"]


def test_recommend_resizes_containers_for_a_tight_slo(tmp_path, capsys):
    root = write_results(tmp_path / "results")
    code, out, _ = run(
        capsys, "recommend", "--daily-requests", "2M", "--p99-slo-ms", "50", "--json", "--from-results", str(root)
    )
    assert code == 0
    rec = json.loads(out)
    # Lambda's measured warm p99 (55 ms) misses the 50 ms SLO; containers re-sized to the 41 ms step pass
    lam = next(o for o in rec["options"] if o["platform"] == "lambda")
    assert lam["meets_requirements"] is False
    assert rec["recommended"]["platform"] == "fargate"
    assert rec["recommended"]["p99_ms"] == 41.0
    assert rec["runner_up"]["platform"] == "eks"
    assert rec["latency_facts"]["lambda"]["cold_start_ms"] == 2400.0


LOADTEST_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "loadtest" / "hand-made-results"


def test_reads_what_the_load_test_writes():
    # the load-test part's own fixture results: the two parts agree on the summary format
    profile = load_results(LOADTEST_FIXTURE)
    assert "container/summary.json: capacity.knee_rps" in profile.source("rps_per_core")
    assert "lambda/summary.json" in profile.source("lambda_duration_ms")
    assert not any("not valid JSON" in note for note in profile.notes)
