"""The image targets: their shapes and flags, the errors without Docker, the cost model on their measured results,
and (marker ``images``, ``make test-images``) short runs of each image target against the built images."""

from __future__ import annotations

import concurrent.futures
import json
import time
from pathlib import Path

import pytest

import loadtest.image_targets as image_targets
from costmodel.cli import main as costmodel_main
from costmodel.results import load_results
from loadtest.__main__ import main as loadtest_main
from loadtest.environments import lambda_container_flags
from loadtest.image_targets import container_shape, image_tag, keep_off, server_cpus
from loadtest.shapes import docker_run_flags, eks_shape, fargate_shape, lambda_shape
from loadtest.summary import problems, read_summary
from loadtest.targets import LocalOptions, TargetError, running_target

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGE_RESULTS = REPO_ROOT / "tests" / "fixtures" / "loadtest" / "image-results"


def fixture(name: str) -> dict:
    """A committed, measured summary of an image target (see image-results/PROVENANCE.md)."""
    path = IMAGE_RESULTS / name / "summary.json"
    assert path.is_file(), f"{path} missing: the measured fixtures are part of the project"
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------------- shapes and flags


def test_image_tags_are_the_ones_make_images_builds():
    assert image_tag("CONTAINER_TAG") == "sentiment-api:local"
    assert image_tag("LAMBDA_TAG") == "sentiment-api-lambda:local"


def test_container_shapes_are_read_from_the_deployment_files():
    assert container_shape(None) == fargate_shape() and container_shape("eks") == eks_shape()
    with pytest.raises(TargetError, match="fargate, eks"):
        container_shape("gke")


def test_lambda_environment_flags_carry_the_shape_and_publish_on_loopback_only(tmp_path):
    rie = tmp_path / "aws-lambda-rie"
    flags = lambda_container_flags(lambda_shape(), 9123, rie, {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048"})
    assert flags[: len(docker_run_flags(lambda_shape()))] == docker_run_flags(lambda_shape())
    assert flags[flags.index("-p") + 1] == "127.0.0.1:9123:8080"
    assert "--read-only" in flags and flags[flags.index("--tmpfs") + 1] == "/tmp"
    assert flags[flags.index("-v") + 1] == f"{rie}:/aws-lambda/aws-lambda-rie:ro"
    assert flags[flags.index("--entrypoint") + 1] == "/aws-lambda/aws-lambda-rie"
    assert "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=2048" in flags


@pytest.mark.parametrize("target", ["image-container", "image-lambda"])
def test_without_docker_the_image_targets_say_what_is_missing(target, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker executable on it
    options = LocalOptions(log_dir=tmp_path / "logs")
    with pytest.raises(TargetError, match=r"docker is not installed.*make images"), running_target(target, options):
        pass


def test_image_targets_refuse_another_model(tmp_path):
    options = LocalOptions(model_dir=tmp_path)
    with pytest.raises(TargetError, match="baked into the image"), running_target("image-container", options):
        pass


def test_model_limit_needs_the_image_container_target(tmp_path, capsys):
    code = loadtest_main(["capacity", "--target", "local-container", "--model-limit", "--out", str(tmp_path)])
    assert code == 1 and "--model-limit needs --target image-container" in capsys.readouterr().err


def test_profile_refuses_the_image_targets_with_the_reason(tmp_path, capsys):
    assert loadtest_main(["profile", "--target", "image-container", "--out", str(tmp_path)]) == 1
    assert "finds no interpreter in the image targets' containers" in capsys.readouterr().err


def test_a_function_outliving_its_timeout_is_counted_and_answered_502(tmp_path):
    from loadtest.targets import start_emulator, stop_process
    from tests.test_loadtest_targets import STUB_HANDLER, _get, _post

    arguments = ["--handler", STUB_HANDLER, "--timeout", "1", "--env", "STUB_HANDLER_SLEEP_S=2"]
    process, url = start_emulator(arguments, tmp_path / "emulator.log")
    try:
        status, body = _post(f"{url}/predict", {"text": "slow"})
        stats = _get(f"{url}/_emulator/stats")
    finally:
        stop_process(process)
    assert (status, body) == (502, {"message": "Internal Server Error"})
    assert stats["function_timeouts"] == 1 and stats["function_errors"] == 0 and stats["timeouts"] == 0


# ------------------------------------------------------------------------- the cost model on measured fixtures


def test_measured_fixtures_are_valid_summaries_naming_their_shape():
    for name, shape, source in (
        ("fargate-sentences", "fargate", "copilot/api/manifest.yml"),
        ("eks-sentences", "eks", "eksctl/k8s/deployment.yaml"),
        ("lambda-mix", "lambda", "template.yaml"),
        ("lambda-burst", "lambda", "template.yaml"),
        ("lambda-coldstart", "lambda", "template.yaml"),
    ):
        summary = read_summary(IMAGE_RESULTS / name)
        block = summary["server"]["shape"]
        assert (block["shape"], block["source"]) == (shape, source), name
        assert block["cpus"] == summary["server"]["cpus"] and block["memory_mb"] and block["image"], name


def test_cost_model_takes_rps_per_task_and_pod_from_the_image_knees():
    fargate, eks = fixture("fargate-sentences"), fixture("eks-sentences")
    profile = load_results(IMAGE_RESULTS)
    assert profile.rps_per_task == fargate["capacity"]["knee_rps"]
    assert profile.rps_per_task_vcpu == fargate["server"]["shape"]["cpus"]
    # No division by this machine's cores: per core is the knee over the task's own vCPU.
    assert profile.rps_per_core == pytest.approx(fargate["capacity"]["knee_rps"] / fargate["server"]["shape"]["cpus"])
    assert profile.rps_per_pod == eks["capacity"]["knee_rps"]
    assert "fargate-sentences/summary.json" in profile.source("rps_per_task")
    assert "eks-sentences/summary.json" in profile.source("rps_per_pod")


def test_cost_model_takes_lambda_duration_from_the_steady_run_and_init_from_lone_cold_starts():
    # Lone cold starts come from the run with the most environments starting alone: the one-user run (10).
    mix, cold = fixture("lambda-mix"), fixture("lambda-coldstart")
    profile = load_results(IMAGE_RESULTS)
    assert profile.lambda_duration_ms == mix["lambda"]["billed_duration_ms"]["median"]
    assert "lambda-mix/summary.json" in profile.source("lambda_duration_ms")
    assert profile.lambda_memory_mb == mix["server"]["shape"]["memory_mb"]
    assert profile.lambda_cold_start_ms == cold["cold_starts"]["alone_median_ms"]
    assert profile.lambda_init_ms == cold["lambda"]["runtime_init_ms"]["median"]
    assert "lambda-coldstart/summary.json: lambda.runtime_init_ms.median" in profile.source("lambda_init_ms")


def test_breakdown_from_fixture_results_names_each_file(capsys):
    fargate, eks = fixture("fargate-sentences"), fixture("eks-sentences")
    for platform, flag, knee in (("fargate", "rps-per-task", fargate), ("eks", "rps-per-pod", eks)):
        code = costmodel_main(
            [
                "breakdown",
                "--platform",
                platform,
                "--daily-requests",
                "5M",
                "--json",
                "--from-results",
                str(IMAGE_RESULTS),
            ]
        )
        out = json.loads(capsys.readouterr().out)
        assert code == 0
        assert out["inputs"][flag]["value"] == knee["capacity"]["knee_rps"]
        assert "summary.json" in out["inputs"][flag]["origin"]
        assert "summary.json" in out["inputs"]["duration-ms"]["origin"]
        assert "summary.json" in out["inputs"]["init-ms"]["origin"]


def test_a_measured_rps_per_task_does_not_apply_at_another_vcpu(capsys):
    args = ["breakdown", "--platform", "fargate", "--daily-requests", "5M", "--json"]
    args += ["--task-vcpu", "2", "--task-memory-gb", "4"]
    code = costmodel_main([*args, "--from-results", str(IMAGE_RESULTS)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["inputs"]["rps-per-task"]["value"] is None
    assert out["inputs"]["rps-per-task"]["origin"] == "RPS per core × task vCPU"


def _best_step_within(summary: dict, slo_ms: float) -> dict:
    fitting = [
        s for s in summary["capacity"]["steps"] if s["p99_ms"] <= slo_ms and s["failures"] == 0 and s["achieved_rps"]
    ]
    assert fitting, "the fixture has no step under the SLO this test needs"
    return max(fitting, key=lambda s: s["achieved_rps"])


def test_recommend_resizes_tasks_and_pods_from_the_steps_measured_in_their_shape(capsys):
    # An SLO just under the p99 each shape measured at its knee: the platform's cost is recomputed at the
    # fastest step its own deployed shape kept under it, as RPS per task (pod). At a volume needing many
    # tasks (pods), the slower rate needs more of them than the knee.
    argv = ["recommend", "--daily-requests", "1000M", "--json", "--from-results", str(IMAGE_RESULTS)]
    assert costmodel_main([*argv, "--p99-slo-ms", "100"]) == 0
    at_knee = {o["platform"]: o for o in json.loads(capsys.readouterr().out)["options"]}
    for platform, name, unit in (("fargate", "fargate-sentences", "task"), ("eks", "eks-sentences", "pod")):
        capacity = fixture(name)["capacity"]
        knee_step = next(s for s in capacity["steps"] if s["achieved_rps"] == capacity["knee_rps"])
        slo = knee_step["p99_ms"] - 0.01
        step = _best_step_within(fixture(name), slo)
        assert step["achieved_rps"] < capacity["knee_rps"], name
        assert costmodel_main([*argv, "--p99-slo-ms", f"{slo:g}"]) == 0
        option = next(o for o in json.loads(capsys.readouterr().out)["options"] if o["platform"] == platform)
        assert option["meets_requirements"] and option["label"].endswith("(re-sized)"), option
        assert option["p99_ms"] == step["p99_ms"]
        assert f"{name}/summary.json: capacity.steps" in option["p99_source"]
        assert f"{step['achieved_rps']:g} RPS per {unit}" in " ".join(option["reasons"])
        assert option["monthly_usd"] > at_knee[platform]["monthly_usd"]


def test_recommend_does_not_resize_an_explicit_rps_per_task(capsys):
    knee = fixture("fargate-sentences")["capacity"]["knee_rps"]
    argv = ["recommend", "--daily-requests", "5M", "--json", "--p99-slo-ms", "50"]
    argv += ["--rps-per-task", f"{knee / 2:g}", "--from-results", str(IMAGE_RESULTS)]
    assert costmodel_main(argv) == 0
    fargate = next(o for o in json.loads(capsys.readouterr().out)["options"] if o["platform"] == "fargate")
    assert not fargate["meets_requirements"]
    assert "explicit --rps-per-task/--rps-per-pod is not re-sized" in " ".join(fargate["reasons"])


def test_report_names_what_ran_and_plots_the_three_deployed_shapes(tmp_path):
    from loadtest.report import write_report

    folders = [IMAGE_RESULTS / name for name in ("fargate-sentences", "eks-sentences", "lambda-sentences")]
    folders.append(IMAGE_RESULTS / "process-lambda-coldstart")
    report = write_report(folders, tmp_path).read_text()
    assert "Both ran: the images in their deployed shapes and process stand-ins" in report
    for source in ("copilot/api/manifest.yml", "eksctl/k8s/deployment.yaml", "template.yaml"):
        assert source in report
    assert "![Latency against offered load, deployed shapes](shapes.png)" in report
    assert (tmp_path / "shapes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- short runs against the built images (Docker)


def _no_stray_containers() -> list[str]:
    from loadtest.docker_cli import docker

    listed = docker("ps", "-a", "--filter", "name=loadtest-", "--format", "{{.Names}}").stdout.split()
    return [name for name in listed if "modellimit" not in name]


@pytest.fixture(scope="module")
def built_images() -> None:
    from tests.docker_support import require_image

    require_image(image_tag("CONTAINER_TAG"))
    require_image(image_tag("LAMBDA_TAG"))


@pytest.mark.images
@pytest.mark.parametrize("shape", ["fargate", "eks"])
def test_image_container_short_run_in_each_shape(built_images, shape, tmp_path):
    before = set(_no_stray_containers())
    out = tmp_path / shape
    args = ["run", "--target", "image-container", "--shape", shape, "--users", "2", "--duration", "4s"]
    assert loadtest_main([*args, "--out", str(out)]) == 0
    summary = read_summary(out)
    assert problems(summary) == [] and summary["failures"] == 0 and summary["requests"] > 0
    expected = container_shape(shape)
    block = summary["server"]["shape"]
    assert (block["shape"], block["cpus"], block["memory_mb"], block["source"]) == (
        expected.name,
        expected.cpus,
        expected.memory_mb,
        expected.source,
    )
    assert block["image"] == image_tag("CONTAINER_TAG") and block["workers"] >= 1
    assert summary["model"]["name"] and summary["server"]["cpu_seconds"] > 0
    assert set(_no_stray_containers()) <= before, "the target's container was removed"


@pytest.mark.images
def test_image_lambda_short_run_starts_containers_cold(built_images, tmp_path):
    before = set(_no_stray_containers())
    args = ["run", "--target", "image-lambda", "--users", "2", "--duration", "6s", "--lambda-concurrency", "2"]
    assert loadtest_main([*args, "--out", str(tmp_path)]) == 0
    summary = read_summary(tmp_path)
    assert summary["failures"] == 0 and summary["requests"] > 0
    assert summary["cold_starts"]["count"] >= 1 and summary["lambda"]["runtime_init_ms"]["median"] > 0
    block = summary["server"]["shape"]
    assert (block["shape"], block["memory_mb"], block["source"]) == (
        "lambda",
        lambda_shape().memory_mb,
        "template.yaml",
    )
    assert block["image"] == image_tag("LAMBDA_TAG") and block["environment_kind"] == "container"
    assert set(_no_stray_containers()) <= before, "every environment's container was removed"


@pytest.mark.images
def test_image_lambda_throttles_while_its_only_environment_starts(built_images, tmp_path):
    from loadtest.environments import rie_binary
    from loadtest.targets import start_emulator, stop_process
    from tests.test_loadtest_targets import _get, _post

    shape = lambda_shape()
    arguments = ["--image", image_tag("LAMBDA_TAG"), "--cpus", f"{shape.cpus:g}", "--memory-mb", str(shape.memory_mb)]
    arguments += ["--concurrency", "1", "--rie", str(rie_binary())]
    process, url = start_emulator(arguments, tmp_path / "emulator.log")
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            first = pool.submit(_post, f"{url}/predict", {"text": "a fine film"}, 120)
            for _ in range(200):  # until the first request has started the only environment
                if _get(f"{url}/_emulator/stats")["environments_started"]:
                    break
                time.sleep(0.01)
            second = pool.submit(_post, f"{url}/predict", {"text": "a dull film"})
            answers = [first.result(), second.result()]
        stats = _get(f"{url}/_emulator/stats")
    finally:
        stop_process(process)
    assert answers[0][0] == 200 and answers[0][1]["sentiment"] == "POSITIVE"
    assert answers[1] == (429, {"message": "Too Many Requests"})
    assert stats["throttles"] == 1 and stats["environment"] == "container"
    assert len(stats["cold_starts"]) == 1 and stats["cold_starts"][0]["rss_mb"] is not None


@pytest.mark.images
def test_image_container_runs_no_health_command_and_reads_its_quota_throttling(built_images):
    """In the Fargate shape nothing runs in the container beside the server (ECS runs no command there), and each
    reading has the CPU quota's throttling from the container's cgroup."""
    import httpx

    from loadtest import cpu_split
    from loadtest.docker_cli import docker

    with running_target("image-container", LocalOptions()) as target:
        before = cpu_split.read(target)
        for _ in range(5):
            httpx.post(f"{target.url}/predict", json={"text": "fine"}, timeout=30).raise_for_status()
        step = cpu_split.step_figures(before, cpu_split.read(target), 5)
        name = target.server["container"]["name"]
        health = docker("inspect", "--format", "{{json .State.Health}}", name).stdout.strip()
    assert "--no-healthcheck" in target.server["container"]["flags"] and health == "null"
    assert step["cpu_quota_throttled_periods"] >= 0 and step["cpu_quota_throttled_ms"] >= 0


@pytest.mark.images
def test_the_quota_throttling_reader_sees_a_container_held_to_its_quota(built_images):
    """A busy loop under a tenth of a CPU is throttled in nearly every 100 ms period: the reader counts it."""
    from loadtest.docker_cli import container_cpu_throttling, docker

    spin = "import time\nstart = time.monotonic()\nwhile time.monotonic() - start < 30: pass"
    flags = ["--rm", "-d", "--cpus", "0.1", "--entrypoint", "python"]
    container_id = docker("run", *flags, image_tag("CONTAINER_TAG"), "-c", spin).stdout.strip()
    try:
        first = container_cpu_throttling(container_id)
        time.sleep(2)
        last = container_cpu_throttling(container_id)
    finally:
        docker("rm", "-f", container_id, check=False)
    assert first is not None and last is not None
    assert last[0] - first[0] >= 10 and last[1] > first[1]


@pytest.mark.images
def test_model_limit_times_the_image_model_alone(built_images):
    from loadtest.model_limit import measure_model_limit

    limit = measure_model_limit(image_tag("CONTAINER_TAG"), fargate_shape(), "sentences", 8, count=64, rounds=1)
    assert limit["texts_per_s"] > 0 and limit["texts"] == 64 and limit["batch_size"] == 8
    assert limit["cpus"] == fargate_shape().cpus


@pytest.mark.images
@pytest.mark.parametrize("target", ["image-container", "image-lambda"])
def test_a_missing_image_is_named_with_make_images(built_images, target, tmp_path, capsys):
    args = ["run", "--target", target, "--image", "sentiment-api:no-such-tag", "--out", str(tmp_path)]
    assert loadtest_main(args) == 1
    assert "image sentiment-api:no-such-tag not found: build it with `make images`" in capsys.readouterr().err


@pytest.mark.parametrize(("listed", "cpus"), [("0", {0}), ("0-3", {0, 1, 2, 3}), ("1,4-5,7", {1, 4, 5, 7})])
def test_server_cpus_reads_the_servers_allowed_list(monkeypatch, listed, cpus):
    status = f"Name:\tpython\nCpus_allowed:\tff\nCpus_allowed_list:\t{listed}\n"
    done = type("Done", (), {"stdout": status})
    monkeypatch.setattr(image_targets, "docker", lambda *args, check=True: done)
    assert server_cpus("any") == cpus


def test_keep_off_moves_the_load_generator_off_a_pinned_server_and_back(monkeypatch):
    affinity = {0, 1, 2}
    monkeypatch.setattr(image_targets.os, "sched_getaffinity", lambda pid: set(affinity))
    monkeypatch.setattr(
        image_targets.os, "sched_setaffinity", lambda pid, cpus: affinity.clear() or affinity.update(cpus)
    )
    moved, undo = keep_off({0})
    assert moved == {1, 2} and affinity == {1, 2}
    undo()
    assert affinity == {0, 1, 2}
    # A server not pinned (its CPUs are all of ours) or nothing known: the generator stays where it is.
    for cpus in ({0, 1, 2}, None):
        assert keep_off(cpus)[0] is None and affinity == {0, 1, 2}
