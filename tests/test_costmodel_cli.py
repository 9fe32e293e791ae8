"""`python -m costmodel`: every command works from a fresh clone (no results), output formats, clean errors,
scenarios and the recommendation rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from costmodel.cli import main, volume
from costmodel.compare import DEFAULT_VOLUMES, scenarios, totals_at
from costmodel.model import EksConfig, LambdaConfig, ModelInputs, lambda_cost
from costmodel.pricing import load_pricing
from costmodel.recommend import recommend
from costmodel.service import ServiceProfile

REPO = Path(__file__).resolve().parent.parent
PRICING = load_pricing()


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv",
    [
        ["compare"],
        ["compare", "--scenarios"],
        ["crossover"],
        ["crossover", "--scenarios"],
        ["breakdown", "--platform", "lambda", "--daily-requests", "100000"],
        ["breakdown", "--platform", "fargate", "--daily-requests", "100K"],
        ["breakdown", "--platform", "eks", "--daily-requests", "1M"],
        ["recommend", "--daily-requests", "50000"],
    ],
)
def test_commands_work_without_results(argv, capsys):
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert out.strip()
    assert "assumed default" in out or argv[0] == "crossover"


def test_module_entry_point_runs_in_a_subprocess(tmp_path):
    png = tmp_path / "cost.png"
    done = subprocess.run(
        [sys.executable, "-m", "costmodel", "plot", "--output", str(png)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "wrote" in done.stdout


def test_compare_json_has_every_default_volume(capsys):
    code, out, _ = run(capsys, "compare", "--json")
    assert code == 0
    data = json.loads(out)
    assert [row["daily_requests"] for row in data["rows"]] == list(DEFAULT_VOLUMES)
    for row in data["rows"]:
        totals = {p: v["monthly_usd"] for p, v in row["platforms"].items()}
        assert row["cheapest"] == min(totals, key=totals.get)
        for v in row["platforms"].values():
            assert v["per_1k_requests_usd"] == pytest.approx(v["monthly_usd"] / (row["monthly_requests"] / 1000))
    assert data["inputs"]["duration-ms"]["origin"].startswith("assumed default")


def test_compare_markdown_is_a_table(capsys):
    _, out, _ = run(capsys, "compare", "--markdown", "--volumes", "1K,1M")
    lines = out.strip().splitlines()
    assert lines[0].startswith("| requests/day |") and len(lines) == 4
    assert lines[2].startswith("| 1,000 |")


def test_breakdown_json_items_add_up(capsys):
    _, out, _ = run(
        capsys, "breakdown", "--platform", "fargate", "--daily-requests", "3M", "--json", "--spot-share", "0.5"
    )
    data = json.loads(out)
    assert sum(i["amount_usd"] for i in data["items"]) == pytest.approx(data["total_usd"])
    assert {"Fargate Spot vCPU", "ALB LCU-hours"} <= {i["name"] for i in data["items"]}
    assert all(i["formula"] and i["arithmetic"] for i in data["items"])
    assert data["inputs"]["spot-share"] == {"value": 0.5, "origin": "--spot-share"}


def test_breakdown_text_keeps_brackets_rich_would_eat(capsys):
    _, out, _ = run(capsys, "breakdown", "--platform", "eks", "--daily-requests", "1M")
    assert "[new" in out  # the cell may wrap before "connections]"


def test_every_documented_flag_is_accepted(capsys):
    argv = [
        "breakdown", "--platform", "lambda", "--daily-requests", "20K", "--arch", "x86_64",
        "--duration-ms", "35", "--memory-mb", "1024", "--no-api-gateway", "--provisioned-concurrency", "2",
        "--task-vcpu", "2", "--task-memory-gb", "4", "--min-tasks", "3", "--rps-per-task", "80",
        "--spot-share", "0.2", "--no-load-balancer", "--instance-type", "m6i.large", "--min-nodes", "3",
        "--rps-per-pod", "60", "--spot", "--shape", "business", "--peak-to-average", "3", "--month-hours", "720",
        "--savings-plan", "--free-tier", "--nat-gateways", "1", "--egress-bytes-per-request", "500",
        "--json",
    ]  # fmt: skip
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    data = json.loads(out)
    assert data["derived"]["billed_duration_ms"] == 35 and data["derived"]["provisioned_concurrency"] == 2
    assert data["inputs"]["instance-type"]["value"] == "m6i.large"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "--arch", "sparc"], "invalid choice"),
        (["breakdown", "--platform", "lambda"], "required: --daily-requests"),
        (["breakdown", "--platform", "lambda", "--daily-requests", "lots"], "not a request count"),
        (["compare", "--task-vcpu", "1", "--task-memory-gb", "20"], "no 1 vCPU / 20 GB task"),
        (["compare", "--instance-type", "z9.huge"], "not in us-east-1.yaml"),
        (["compare", "--instance-type", "c6i.large"], "pass --arch x86_64"),
        (["compare", "--spot-share", "1.5"], "must be ≤ 1"),
        (["compare", "--memory-mb", "99999"], "--memory-mb must be 128-10240"),
        (["compare", "--pricing", "/nonexistent/prices.yaml"], "cannot read pricing file"),
        (["compare", "--hourly-profile", "/nonexistent/profile.csv"], "cannot read hourly profile"),
        (["crossover", "--min-volume", "5M", "--max-volume", "1M"], "--max-volume must be above"),
        (["plot", "--output", "cost.svg"], "must be a .png"),
        (["compare", "--volumes", "1K", "--daily-requests", "5K"], "not both"),
        ([], "required: command"),
    ],
)
def test_bad_arguments_give_one_clean_line(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert message in lines[0]


@pytest.mark.parametrize(
    ("text", "value"), [("25000", 25_000), ("25_000", 25_000), ("25K", 25_000), ("1.5M", 1_500_000)]
)
def test_volume_parsing(text, value):
    assert volume(text) == value


def test_scenarios_change_one_lever_each():
    base = ModelInputs()
    by_name = {s.name: s.inputs for s in scenarios(base, PRICING)}
    assert set(by_name) == {"baseline", "x86_64", "savings-plan", "fargate-spot", "ec2-spot", "all-levers"}
    assert by_name["baseline"] == base
    assert by_name["x86_64"].arch == "x86_64"
    assert by_name["savings-plan"].savings_plan
    assert by_name["fargate-spot"].fargate.spot_share == 0.5
    assert by_name["ec2-spot"].eks.spot
    # every lever lowers or keeps every platform's cost, except the other architecture (x86 is dearer)
    for name, inputs in by_name.items():
        if name in ("baseline", "x86_64"):
            continue
        for n in (10_000, 1_000_000, 10_000_000):
            lever, plain = totals_at(n, inputs, PRICING), totals_at(n, base, PRICING)
            assert all(lever[p] <= plain[p] for p in plain), name


def test_scenario_with_explicit_instance_uses_its_counterpart():
    base = ModelInputs(eks=EksConfig(instance_type="m7g.large"))
    other = next(s for s in scenarios(base, PRICING) if s.name == "x86_64")
    assert other.inputs.eks.instance_type == "m6i.large"


# ----------------------------------------------------------------------------------------------- recommend rules


def test_recommend_picks_the_cheapest_platform_that_meets_the_slo():
    rec = recommend(50_000, ModelInputs(), ServiceProfile(), PRICING, p99_slo_ms=150, cold_starts_acceptable=True)
    assert rec.recommended.platform == "lambda" and rec.recommended.meets
    assert rec.runner_up.platform == "fargate" and rec.runner_up.meets
    assert [o.cost.total for o in rec.options] == sorted(o.cost.total for o in rec.options)


def test_no_cold_starts_adds_provisioned_concurrency_covering_the_peak():
    rec = recommend(1_000_000, ModelInputs(), ServiceProfile(), PRICING, p99_slo_ms=150, cold_starts_acceptable=False)
    lam = next(o for o in rec.options if o.platform == "lambda")
    # peak 1M / 86,400 × 2 = 23.1 RPS × 0.020 s = 0.46 concurrent; ceil(0.46 / 0.7) = 1
    assert lam.label == "Lambda + provisioned concurrency 1"
    assert lam.cold_starts is False and lam.meets
    assert lam.cost.total > lambda_cost(1_000_000, ModelInputs(), PRICING).total


def test_sparse_traffic_makes_cold_starts_the_p99():
    # 1,000 requests a day with 50 cold starts a day: 5% of requests are cold, so p99 is the cold start
    profile = ServiceProfile()
    rec = recommend(1_000, ModelInputs(), profile, PRICING, p99_slo_ms=500, cold_starts_acceptable=True)
    lam = next(o for o in rec.options if o.platform == "lambda")
    assert lam.label.startswith("Lambda + provisioned concurrency")  # PC was added to meet the SLO
    assert lam.meets


def test_slo_below_every_measured_p99_fails_everything():
    inputs = ModelInputs(lambda_=LambdaConfig(cold_starts_per_day=0))
    rec = recommend(100_000, inputs, ServiceProfile(), PRICING, p99_slo_ms=5, cold_starts_acceptable=True)
    assert rec.recommended is None and rec.runner_up is None
    assert all(not o.meets for o in rec.options)


def test_recommend_cli_says_when_nothing_meets(capsys):
    code, out, _ = run(capsys, "recommend", "--daily-requests", "100K", "--p99-slo-ms", "5")
    assert code == 0
    assert "No platform meets" in out
