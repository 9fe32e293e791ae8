"""`python -m costmodel simulate`: traffic, the three platform models' behaviours, event vs fluid mode,
consistency with the cost model, and the command line. Deterministic: every run has a seed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from costmodel.cli import build_parser, main
from costmodel.inputs import resolve
from costmodel.simulate import arrivals as traffic
from costmodel.simulate.cli import model_args
from costmodel.simulate.config import build_config
from costmodel.simulate.constants import FIELDS, load_constants
from costmodel.simulate.deployment import load_deployment
from costmodel.simulate.engine import run_eks, run_fargate, simulate
from costmodel.simulate.lambda_ import LambdaSim, simulate_events, simulate_fluid
from costmodel.simulate.service_times import LogNormal, ServiceTimes, service_times

REPO = Path(__file__).resolve().parent.parent
FIXTURE_RESULTS = REPO / "tests" / "fixtures" / "loadtest" / "hand-made-results"
CONSTANTS = load_constants()


def setup(*flags: str):
    """Resolved cost-model inputs and the simulation configuration for `simulate` with these flags."""
    args = build_parser().parse_args(["simulate", "--daily-requests", "1", *flags])
    resolved = resolve(model_args(args))
    lam = resolved.inputs.lambda_
    svc = service_times(
        lam.duration_ms, "d", lam.init_ms, "i", resolved.inputs.rps_per_core, "r",
        CONSTANTS["containers.service_time_p99_over_p50"],
    )  # fmt: skip
    return resolved, build_config(resolved, load_deployment(), CONSTANTS, svc)


def fixed_service(seconds: float = 1.0, cold_ms: float = 500.0) -> ServiceTimes:
    """Every request takes exactly ``seconds``; every cold start ``cold_ms``."""
    return ServiceTimes(LogNormal(seconds, 1.0), (cold_ms,), 50.0, 1.0, {})


def lambda_sim(**changes) -> LambdaSim:
    base = LambdaSim(
        memory_mb=2048,
        concurrency_limit=1000,
        provisioned=0,
        idle_lifetime_s=10.0,
        scaling_burst=1000.0,
        scaling_refill=100.0,
        api_rate=None,
        api_burst=0.0,
    )
    return replace(base, **changes)


def step_arrivals(before_rps: float, after_rps: float, step_s: int, seconds: int) -> traffic.Arrivals:
    rate = np.where(np.arange(seconds) < step_s, before_rps, after_rps).astype(float)
    return traffic.Arrivals("step", np.random.default_rng(7).poisson(rate), rate)


# ----------------------------------------------------------------------------------------------- traffic


def test_spike_multiplies_the_rate_for_its_duration_at_its_time():
    rate, text = traffic.rate_profile(
        "spike", 86_400, 86_400, spike=traffic.parse_spike("10x:5m"), spike_at_s=traffic.time_of_day("12:00")
    )
    assert rate[12 * 3600 - 1] == pytest.approx(1.0)
    assert rate[12 * 3600] == pytest.approx(10.0) and rate[12 * 3600 + 299] == pytest.approx(10.0)
    assert rate[12 * 3600 + 300] == pytest.approx(1.0)
    assert "10× for 5 min at 12:00" in text


@pytest.mark.parametrize("shape", ["flat", "business", "diurnal", "onoff"])
def test_unspiked_shapes_carry_the_daily_volume(shape):
    rate, _ = traffic.rate_profile(shape, 500_000, 86_400)
    assert rate.sum() == pytest.approx(500_000, rel=1e-6)


def test_poisson_arrivals_are_reproducible_from_the_seed():
    one = traffic.generate("diurnal", 100_000, 3600, seed=5)
    assert np.array_equal(one.counts, traffic.generate("diurnal", 100_000, 3600, seed=5).counts)
    assert not np.array_equal(one.counts, traffic.generate("diurnal", 100_000, 3600, seed=6).counts)
    times = one.arrival_times(np.random.default_rng(1))
    assert times.size == one.total and np.all(np.diff(times) >= 0)
    assert np.array_equal(np.bincount(times.astype(int), minlength=3600), one.counts)


def test_traces_of_counts_and_of_timestamps(tmp_path):
    counts = tmp_path / "counts.csv"
    counts.write_text("second,count\n0,3\n2,5\n")
    a = traffic.load_trace(counts)
    assert a.counts.tolist() == [3, 0, 5]
    stamps = tmp_path / "stamps.csv"
    stamps.write_text("timestamp\n2026-12-02T10:00:00.5Z\n2026-12-02T10:00:00Z\n2026-12-02T10:00:02Z\n")
    b = traffic.load_trace(stamps)
    assert b.counts.tolist() == [2, 0, 1] and b.times.tolist() == [0.0, 0.5, 2.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [("second,requests\n0,1\n", "'count' column"), ("count\nmany\n", "must be numbers"), ("count\n-1\n", "negative")],
)
def test_bad_traces_are_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "trace.csv"
    path.write_text(text)
    with pytest.raises(traffic.ArrivalsError, match=message):
        traffic.load_trace(path)


# ----------------------------------------------------------------------------------------------- Lambda


def test_lambda_reuses_an_idle_environment_and_starts_cold_when_none_is_idle():
    times = np.array([0.0, 5.0, 5.2, 100.0])  # 1 s each; idle lifetime 10 s
    run, billing = simulate_events(times, 101, lambda_sim(), fixed_service(), np.random.default_rng(0))
    # t=0 cold; t=5 reuses it; t=5.2 finds it busy: cold; t=100: both expired, cold
    assert run.cold_starts == 3 and run.throttled == 0
    assert sorted(run.latencies.values.round(3).tolist()) == [1.0, 1.5, 1.5, 1.5]
    assert billing["init_ms"] == 3 * 500 and billing["billed_ms"] == 4 * 1000


def test_lambda_throttles_beyond_its_concurrency_limit():
    times = np.linspace(0, 0.1, 10)  # ten requests at once, each 1 s
    run, _ = simulate_events(times, 2, lambda_sim(concurrency_limit=4), fixed_service(), np.random.default_rng(0))
    assert run.cold_starts == 4 and run.throttled == 6


def test_lambda_throttles_beyond_its_scaling_rate():
    times = np.linspace(0, 0.1, 10)
    cfg = lambda_sim(scaling_burst=3.0, scaling_refill=0.0)
    run, _ = simulate_events(times, 2, cfg, fixed_service(), np.random.default_rng(0))
    assert run.cold_starts == 3 and run.throttled == 7


def test_provisioned_environments_are_never_cold():
    times = np.array([0.0, 50.0, 100.0])
    run, _ = simulate_events(times, 101, lambda_sim(provisioned=1), fixed_service(), np.random.default_rng(0))
    assert run.cold_starts == 0


def test_the_http_api_throttle_refuses_above_its_burst():
    times = np.linspace(0, 0.01, 5)
    cfg = lambda_sim(api_rate=1.0, api_burst=2.0)
    run, billing = simulate_events(times, 1, cfg, fixed_service(), np.random.default_rng(0))
    assert run.throttled == 3 and billing["api_requests"] == 2


def test_lambda_fluid_mode_throttles_at_the_limit_and_counts_cold_starts():
    counts = np.array([0] * 10 + [400] * 30 + [0] * 10)  # 400/s × 1 s: 400 concurrent executions
    run, _ = simulate_fluid(counts, lambda_sim(concurrency_limit=100), fixed_service(), np.random.default_rng(0))
    assert run.throttled > 0.6 * 400 * 30  # at most ~100 of every 400 run
    assert 100 <= run.cold_starts <= 130
    assert run.replicas.max() <= 100


# ----------------------------------------------------------------------------------------------- containers


def test_fargate_serves_more_only_after_alarms_and_task_start():
    resolved, cfg = setup()
    step = 300
    arrivals = step_arrivals(10, 150, step, 1800)  # 50 RPS a task: 2 tasks cannot serve 150
    run = run_fargate(arrivals, cfg, resolved.inputs, resolved.pricing, "fluid", seed=1)
    f = cfg.fargate
    assert run.replicas[0] == f.min_tasks
    first_up = int(np.argmax(run.replicas > f.min_tasks))
    # three datapoints above target (the first complete minute after the step), CloudWatch's delay, then start-up
    earliest = step + f.out_datapoints * f.metric_period_s + f.metric_delay_s + f.provisioning_s + f.start_s
    assert earliest <= first_up <= earliest + f.metric_period_s + 1
    assert run.replicas.max() >= 5  # ceil(150 / (50 × 0.7))
    lagging = run.latencies.seconds < first_up
    assert run.latencies.values[lagging & (run.latencies.seconds > step + 30)].min() > 0.2  # queueing while it waits


def test_eks_adds_a_node_when_pods_do_not_fit():
    resolved, cfg = setup()
    e = cfg.eks
    slots = e.pods_per_node * e.min_nodes
    arrivals = step_arrivals(10, 450, 120, 1200)  # needs all 10 pods; only `slots` fit on the first nodes
    run = run_eks(arrivals, cfg, resolved.inputs, resolved.pricing, "fluid", seed=1)
    assert slots < e.max_pods
    assert run.nodes[0] == e.min_nodes and run.nodes.max() > e.min_nodes
    node_added = int(np.argmax(run.nodes > e.min_nodes))
    beyond = int(np.argmax(run.replicas > slots))
    assert run.replicas.max() == e.max_pods
    assert beyond >= node_added + e.node_launch_s + e.image_pull_s + e.pod_start_s - 1


def test_eks_pods_on_existing_nodes_start_without_a_new_node():
    resolved, cfg = setup()
    arrivals = step_arrivals(10, 90, 120, 900)  # 3 pods: room on the minimum nodes
    run = run_eks(arrivals, cfg, resolved.inputs, resolved.pricing, "fluid", seed=1)
    assert run.replicas.max() >= 3 and run.nodes.max() == cfg.eks.min_nodes


# ----------------------------------------------------------------------------------------------- modes agree

# Event-driven and fluid runs of the same 2 hours. Spike: 23 RPS with a 4× spike for 10 minutes; p50
# within 5%; p95 and p99 within 25% (the spike briefly overloads the minimum tasks, where queueing is
# steep and one seed's tail is noisy); peak replicas within one (two for Lambda); cost within 2%.
# On/off: 2-minute bursts of 49 RPS after 15 idle minutes (longer than the idle lifetime), so every
# burst starts Lambda from no environment: cold starts and peak environments within 10%.
AGREE_FLAGS = ("--shape", "spike", "--spike", "4x:10m", "--spike-at", "01:00", "--duration", "2h")


@pytest.fixture(scope="module")
def both_modes():
    resolved, cfg = setup(*AGREE_FLAGS)
    arrivals = traffic.generate("spike", 2_000_000, 7200, 3, spike=traffic.parse_spike("4x:10m"), spike_at_s=3600)
    return {m: simulate(arrivals, cfg, resolved.inputs, resolved.pricing, seed=3, mode=m) for m in ("event", "fluid")}


@pytest.mark.parametrize("platform", ["lambda", "fargate", "eks"])
def test_event_and_fluid_modes_agree_where_they_overlap(both_modes, platform):
    event, fluid = both_modes["event"].runs[platform], both_modes["fluid"].runs[platform]
    assert fluid.percentile_ms(0.5) == pytest.approx(event.percentile_ms(0.5), rel=0.05)
    for q in (0.95, 0.99):
        assert fluid.percentile_ms(q) == pytest.approx(event.percentile_ms(q), rel=0.25)
    assert fluid.total_cost == pytest.approx(event.total_cost, rel=0.02)
    assert abs(int(fluid.replicas.max()) - int(event.replicas.max())) <= (2 if platform == "lambda" else 1)


def test_event_and_fluid_modes_agree_on_lambda_cold_starts_after_idle_gaps():
    resolved, cfg = setup()
    arrivals = traffic.generate("onoff", 500_000, 7200, 3, on_off=traffic.parse_on_off("2m:15m"))
    runs = {
        m: simulate(arrivals, cfg, resolved.inputs, resolved.pricing, 3, m, ("lambda",)) for m in ("event", "fluid")
    }
    event, fluid = runs["event"].runs["lambda"], runs["fluid"].runs["lambda"]
    assert event.cold_starts > 500  # each burst starts cold, and INIT (3 s) makes the first seconds cascade
    assert fluid.cold_starts == pytest.approx(event.cold_starts, rel=0.10)
    assert fluid.replicas.max() == pytest.approx(event.replicas.max(), rel=0.10)
    assert fluid.percentile_ms(0.99) == pytest.approx(event.percentile_ms(0.99), rel=0.10)


# ----------------------------------------------------------------------------------------------- cost model


def test_flat_traffic_costs_what_compare_says(capsys):
    """A simulated flat period, scaled to the month, against `compare` with the same deployment.

    Tolerance 3%: the simulation bills each request's duration rounded up to 1 ms (compare rounds the
    mean once), counts the cold starts it simulates (compare assumes 50 a day), and its Poisson counts
    wander from the mean; compare sizes tasks for the hour's peak, here peak-to-average 1.
    """
    flags = [
        "--rps-per-core",
        "20",
        "--peak-to-average",
        "1",
        "--instance-type",
        "c7g.xlarge",
        "--node-volume-gb",
        "40",
    ]
    code = main(["compare", "--daily-requests", "5M", "--json", *flags])
    monthly = {p: v["monthly_usd"] for p, v in json.loads(capsys.readouterr().out)["rows"][0]["platforms"].items()}
    code = main(["simulate", "--daily-requests", "5M", "--duration", "6h", "--json", "--no-plot", *flags])
    assert code == 0
    simulated = json.loads(capsys.readouterr().out)["platforms"]
    assert simulated["fargate"]["peak_replicas"] == 5  # scaled past the minimum of 2: ceil(58 / (20 × 0.7))
    for platform, total in monthly.items():
        assert simulated[platform]["monthly_usd"] == pytest.approx(total, rel=0.03), platform


# ----------------------------------------------------------------------------------------------- files


def test_every_constant_has_value_unit_source_and_date():
    raw = yaml.safe_load((REPO / "costmodel" / "simulate" / "constants.yaml").read_text())
    entries = [(g, k, v) for g, items in raw.items() if g != "version" for k, v in items.items()]
    assert len(entries) == len(CONSTANTS.entries)
    for group, key, entry in entries:
        assert all(field in entry for field in FIELDS), f"{group}.{key}"
        assert entry["source"].startswith("https://")
    assert {c.key for c in CONSTANTS.assumptions()} >= {"lambda.idle_lifetime", "eks.node_launch"}


def test_deployment_values_come_from_the_deployment_files():
    manifest = yaml.safe_load((REPO / "copilot" / "api" / "manifest.yml").read_text())
    hpa = yaml.safe_load((REPO / "eksctl" / "k8s" / "hpa.yaml").read_text())
    cluster = yaml.safe_load((REPO / "eksctl" / "cluster.yaml").read_text())
    d = load_deployment()
    low, high = manifest["count"]["range"].split("-")
    assert (d.fargate.min_tasks, d.fargate.max_tasks) == (int(low), int(high))
    assert d.fargate.cpu_target * 100 == manifest["count"]["cpu_percentage"]
    assert (d.eks.min_pods, d.eks.max_pods) == (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])
    assert d.eks.scale_down_window_s == hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"]
    assert d.eks.max_nodes == sum(g["maxSize"] for g in cluster["managedNodeGroups"])
    assert d.lambda_.api_rate_limit > 0 and d.lambda_.memory_mb >= 128


# ----------------------------------------------------------------------------------------------- command line


def test_acceptance_command_prints_three_platforms_and_writes_the_png(tmp_path, capsys):
    png = tmp_path / "spike.png"
    code = main(
        ["simulate", "--shape", "spike", "--daily-requests", "500K", "--spike", "10x:5m", "--spike-at", "00:20",
         "--duration", "1h", "--output", str(png)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    for label in ("Lambda", "ECS Fargate", "EKS", "p99 ms", "cold starts", f"wrote {png}"):
        assert label in out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_from_results_uses_measured_service_times_and_says_which(capsys):
    code = main(
        ["simulate", "--daily-requests", "100K", "--duration", "10m", "--no-plot", "--json",
         "--from-results", str(FIXTURE_RESULTS)]
    )  # fmt: skip
    assert code == 0
    sources = json.loads(capsys.readouterr().out)["service_times"]
    assert "lambda/summary.json: cold_starts.durations_ms (4 measured)" in sources["lambda_cold"]
    assert "lambda.billed_duration_ms.median" in sources["lambda_warm_mean"]
    assert "container/summary.json: latency_ms p99/median" in sources["container_spread"]
    assert "capacity.knee_rps" in sources["container_mean"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--daily-requests", "1K", "--spike", "10:5m"], "not a spike"),
        (["--daily-requests", "1K", "--spike-at", "25:00"], "not a time of day"),
    ],
)
def test_bad_simulate_flags_end_with_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "--no-plot", *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--trace", "no-such-trace.csv"], "cannot read trace"),
        ([], "give --daily-requests"),
        (["--daily-requests", "1K", "--hourly-profile", "PROFILE"], "--hourly-profile is the cost model's"),
    ],
)
def test_bad_simulate_inputs_end_with_one_line(capsys, tmp_path, argv, message):
    profile = tmp_path / "profile.txt"
    profile.write_text("\n".join(["1"] * 24))
    argv = [str(profile) if a == "PROFILE" else a for a in argv]
    assert main(["simulate", "--no-plot", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------------------------- recommend


def test_recommend_judges_the_simulated_p99_under_a_spike(capsys):
    argv = ["recommend", "--shape", "spike", "--daily-requests", "2M", "--spike", "10x:5m", "--spike-at", "00:20",
            "--duration", "1h", "--json"]  # fmt: skip
    assert main(argv) == 0
    body = json.loads(capsys.readouterr().out)
    options = {o["platform"]: o for o in body["options"]}
    assert set(options) == {"lambda", "fargate", "eks"}
    for o in options.values():
        assert o["meets_requirements"] == (o["share_over_slo"] <= 0.01)
    # 230 RPS against two tasks of 50: Fargate queues until new tasks serve, Lambda's environments keep up
    assert options["fargate"]["share_over_slo"] > options["lambda"]["share_over_slo"]
    assert main([*argv, "--no-cold-starts-acceptable"]) == 0
    lam = next(o for o in json.loads(capsys.readouterr().out)["options"] if o["platform"] == "lambda")
    assert not lam["meets_requirements"] and any("not acceptable" in r for r in lam["reasons"])


def test_recommend_without_simulated_traffic_keeps_the_cost_models_rules(capsys):
    assert main(["recommend", "--shape", "business", "--daily-requests", "50K", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert "latency_facts" in body and body["inputs"]["shape"]["value"] == "business"


def test_docs_constants_table_lists_every_constant_with_its_value():
    from tests.test_docs import documented_table

    documented = documented_table(REPO / "docs" / "simulate.md", "constant")
    assert set(documented) == set(CONSTANTS.entries), "docs/simulate.md's constants table and constants.yaml differ"
    for key, cell in documented.items():
        assert float(cell) == CONSTANTS[key], f"{key}: the file says {CONSTANTS[key]:g}, the docs {cell}"


# ----------------------------------------------------------------------------------------------- validation

VALIDATION = REPO / "tests" / "fixtures" / "simulate-validation"


def test_validation_fixture_reproduces_from_the_committed_measurements():
    """The committed comparison is what the simulator gives on the committed measured bursts (seed fixed)."""
    from costmodel.simulate.validate import validate

    committed = json.loads((VALIDATION / "validation.json").read_text())
    result, _ = validate(VALIDATION / "lambda", VALIDATION / "container", seed=committed["seed"])
    lam_summary = json.loads((VALIDATION / "lambda" / "summary.json").read_text())
    assert result["local-lambda"]["measured"]["cold_starts"] == lam_summary["cold_starts"]["count"]
    assert result["local-lambda"]["measured"]["throttles"] == lam_summary["throttles"]
    for target in ("local-lambda", "local-container"):
        for key, value in committed[target]["simulated"].items():
            assert result[target]["simulated"][key] == pytest.approx(value), (target, key)


def test_a_trace_drives_simulate_and_recommend(tmp_path, capsys):
    trace = tmp_path / "trace.csv"
    trace.write_text("count\n" + "\n".join(str(5 if s < 300 else 60) for s in range(600)) + "\n")
    assert main(["simulate", "--trace", str(trace), "--no-plot", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["traffic"]["requests"] == 5 * 300 + 60 * 300 and body["mode"] == "event"
    assert all(p["requests"] == 19_500 for p in body["platforms"].values())
    assert main(["recommend", "--trace", str(trace), "--json"]) == 0
    assert "trace trace.csv" in json.loads(capsys.readouterr().out)["traffic"]
