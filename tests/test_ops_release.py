"""Lambda canary releases, promotion and rollback; ECS redeploys; deployment metrics (moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from inference.s3_model import RetryPolicy, new_client
from ops import release
from ops.cli import main
from ops.errors import OpsError

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sentiment-api"
FUNCTION = "sentiment-api"
NAMESPACE = "SentimentService"


@pytest.fixture
def aws(dummy_aws_credentials):
    """Dummy credentials and a moto-backed AWS for the whole test."""
    with mock_aws():
        yield


class FakeClock:
    """A clock that only moves when the poller sleeps: waits cost no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def poller(self, timeout_s: float = 60.0) -> release.Poller:
        return release.Poller(timeout_s=timeout_s, interval_s=5.0, sleep=self.sleep, clock=lambda: self.now)


@pytest.fixture
def live_function(aws) -> str:
    """An image function with version 1 published and alias ``live`` on it."""
    role = boto3.client("iam").create_role(RoleName="sentiment-lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lambda_client = boto3.client("lambda")
    lambda_client.create_function(
        FunctionName=FUNCTION, Role=role, PackageType="Image", Code={"ImageUri": f"{IMAGE}:v1"}
    )
    version = lambda_client.publish_version(FunctionName=FUNCTION)["Version"]
    lambda_client.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=version)
    return FUNCTION


def alias_routing(name: str = "live") -> tuple[str, dict[str, float], str]:
    alias = boto3.client("lambda").get_alias(FunctionName=FUNCTION, Name=name)
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return alias["FunctionVersion"], weights, alias.get("Description", "")


def deployment_metrics() -> dict[tuple[str, str, str], float]:
    """{(metric, platform, version): count} of the deployment metrics recorded, summed by CloudWatch."""
    cloudwatch = boto3.client("cloudwatch")
    now = datetime.now(UTC)
    counts = {}
    for metric in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]:
        dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        key = (metric["MetricName"], dimensions["Platform"], dimensions["Version"])
        if key in counts:
            continue
        points = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=metric["MetricName"],
            Dimensions=metric["Dimensions"],
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(hours=1),
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        counts[key] = sum(point["Sum"] for point in points)
    return counts


def test_canary_release_then_promote(live_function, capsys):
    argv = ["release", "lambda", "--function", FUNCTION, "--alias", "live", "--image-uri", f"{IMAGE}:v2"]
    assert main([*argv, "--canary", "10", "--poll-interval", "0.01"]) == 0
    assert "version 2 gets 10%, version 1 the rest" in capsys.readouterr().out
    assert alias_routing()[:2] == ("1", {"2": 0.1})
    config = boto3.client("lambda").get_function(FunctionName=FUNCTION, Qualifier="2")["Code"]
    assert config["ImageUri"] == f"{IMAGE}:v2"

    assert main(["promote", "--function", FUNCTION, "--alias", "live"]) == 0
    assert alias_routing() == ("2", {}, "previous-version=1")
    assert deployment_metrics() == {("DeploymentSuccess", "lambda", "2"): 2.0}  # the canary and the promotion


def test_rollback_after_promote_restores_the_previous_version(live_function):
    lambda_client, cloudwatch = new_client("lambda"), new_client("cloudwatch")
    release.release_lambda(lambda_client, cloudwatch, FUNCTION, "live", f"{IMAGE}:v2", 25, FakeClock().poller())
    release.promote_lambda(lambda_client, cloudwatch, FUNCTION, "live")
    assert alias_routing()[0] == "2"

    outcome = release.rollback_lambda(lambda_client, FUNCTION, "live")
    assert (outcome.action, outcome.stable_version) == ("rolled back", "1")
    assert alias_routing() == ("1", {}, "rolled back from version 2")
    with pytest.raises(OpsError, match="records no previous version"):
        release.rollback_lambda(lambda_client, FUNCTION, "live")


def test_rollback_during_a_canary_drops_the_canary(live_function, capsys):
    lambda_client, cloudwatch = new_client("lambda"), new_client("cloudwatch")
    release.release_lambda(lambda_client, cloudwatch, FUNCTION, "live", f"{IMAGE}:v2", 10, FakeClock().poller())
    assert main(["rollback", "--function", FUNCTION]) == 0
    assert "canary removed: serves version 1" in capsys.readouterr().out
    assert alias_routing()[:2] == ("1", {})


def test_canary_100_switches_and_a_second_release_waits_for_the_canary(live_function):
    lambda_client, cloudwatch = new_client("lambda"), new_client("cloudwatch")
    switched = release.release_lambda(
        lambda_client, cloudwatch, FUNCTION, "live", f"{IMAGE}:v2", 100, FakeClock().poller()
    )
    assert (switched.action, alias_routing()) == ("switched", ("2", {}, "previous-version=1"))

    release.release_lambda(lambda_client, cloudwatch, FUNCTION, "live", f"{IMAGE}:v3", 5, FakeClock().poller())
    with pytest.raises(release.ReleaseFailed, match="already has version 3 in canary at 5%"):
        release.release_lambda(lambda_client, cloudwatch, FUNCTION, "live", f"{IMAGE}:v4", 5, FakeClock().poller())
    assert deployment_metrics() == {
        ("DeploymentSuccess", "lambda", "2"): 1.0,
        ("DeploymentSuccess", "lambda", "3"): 1.0,
        ("DeploymentFailure", "lambda", "v4"): 1.0,
    }


def test_release_waits_while_lambda_is_still_updating(live_function):
    lambda_client, cloudwatch = new_client("lambda"), new_client("cloudwatch")
    statuses = iter(["InProgress"] * 3)

    def report_in_progress(parsed, **kwargs):
        status = next(statuses, None)
        if status:
            parsed["LastUpdateStatus"] = status

    lambda_client.raw.meta.events.register("after-call.lambda.GetFunctionConfiguration", report_in_progress)
    clock = FakeClock()
    release.release_lambda(lambda_client, cloudwatch, FUNCTION, "live", f"{IMAGE}:v2", 10, clock.poller())
    assert clock.sleeps == [5.0, 5.0]  # the alias check and two polls saw InProgress; the third poll did not


def test_a_failed_image_update_is_reported_and_recorded(live_function, capsys):
    lambda_client = new_client("lambda")

    def report_failure(parsed, **kwargs):
        parsed.update(LastUpdateStatus="Failed", LastUpdateStatusReason="image manifest is not arm64")

    lambda_client.raw.meta.events.register("after-call.lambda.GetFunctionConfiguration", report_failure)
    argv = ["release", "lambda", "--function", FUNCTION, "--image-uri", f"{IMAGE}:bad"]
    assert main(argv, clients=lambda service: lambda_client if service == "lambda" else new_client(service)) == 1
    error = capsys.readouterr().err
    assert "Lambda rejected the new image for sentiment-api: image manifest is not arm64" in error
    assert "recorded DeploymentFailure" in error
    assert deployment_metrics() == {("DeploymentFailure", "lambda", "bad"): 1.0}
    assert alias_routing()[:2] == ("1", {})


def test_release_times_out_when_the_update_never_finishes(live_function):
    lambda_client = new_client("lambda")
    lambda_client.raw.meta.events.register(
        "after-call.lambda.GetFunctionConfiguration",
        lambda parsed, **kwargs: parsed.update(LastUpdateStatus="InProgress"),
    )
    clock = FakeClock()
    with pytest.raises(release.ReleaseFailed, match="timed out after 30 s"):
        release.release_lambda(
            lambda_client, new_client("cloudwatch"), FUNCTION, "live", f"{IMAGE}:v2", 10, clock.poller(30)
        )
    assert clock.now >= 30


def test_missing_function_or_alias(aws, live_function, capsys):
    argv = ["release", "lambda", "--function", "no-such-function", "--image-uri", f"{IMAGE}:v2"]
    assert main(argv) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"error: release of {IMAGE}:v2 to no-such-function:live failed: Lambda function no-such-function does not exist"
    )
    assert main(["promote", "--function", FUNCTION, "--alias", "beta"]) == 1
    assert capsys.readouterr().err == f"error: alias beta of Lambda function {FUNCTION} does not exist\n"
    assert main(["promote", "--function", FUNCTION]) == 1
    assert capsys.readouterr().err == f"error: {FUNCTION}:live has no canary to promote (it serves version 1)\n"


def test_first_release_creates_the_alias(live_function):
    outcome = release.release_lambda(
        new_client("lambda"), new_client("cloudwatch"), FUNCTION, "beta", f"{IMAGE}:v2", 10, FakeClock().poller()
    )
    assert (outcome.action, alias_routing("beta")[:2]) == ("created alias", ("2", {}))


def test_a_throttled_alias_update_is_retried(live_function):
    waits: list[float] = []
    lambda_client = new_client("lambda", policy=RetryPolicy(sleep=waits.append))
    calls = []

    def throttle_once(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException"}, "ResponseMetadata": {"HTTPStatusCode": 429}},
                "UpdateAlias",
            )

    lambda_client.raw.meta.events.register("before-call.lambda.UpdateAlias", throttle_once)
    release.release_lambda(
        lambda_client, new_client("cloudwatch"), FUNCTION, "live", f"{IMAGE}:v2", 10, FakeClock().poller()
    )
    assert (len(calls), waits) == (2, [0.25])
    assert alias_routing()[:2] == ("1", {"2": 0.1})


@pytest.fixture
def ecs_service(aws, monkeypatch) -> tuple[str, str]:
    """Cluster ``sentiment`` with service ``api`` (two tasks, all running when MOTO_ECS_SERVICE_RUNNING says so)."""
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName="sentiment")
    ecs.register_task_definition(
        family="sentiment-api",
        containerDefinitions=[{"name": "api", "image": f"{IMAGE}:v1", "memory": 1024}],
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
    )
    return "sentiment", "api"


def create_ecs_service(running: int, monkeypatch) -> None:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", str(running))
    boto3.client("ecs").create_service(
        cluster="sentiment", serviceName="api", taskDefinition="sentiment-api", desiredCount=2, launchType="FARGATE"
    )


def test_ecs_release_forces_a_deployment_and_waits_for_stability(ecs_service, monkeypatch, capsys):
    create_ecs_service(2, monkeypatch)
    before = boto3.client("ecs").describe_services(cluster="sentiment", services=["api"])["services"][0]
    assert main(["release", "ecs", "--cluster", "sentiment", "--service", "api"]) == 0
    out = capsys.readouterr().out
    after = boto3.client("ecs").describe_services(cluster="sentiment", services=["api"])["services"][0]
    assert after["deployments"][0]["id"] != before["deployments"][0]["id"]
    assert f"deployment {after['deployments'][0]['id']}, sentiment-api:1, 2 task(s) running" in out
    assert deployment_metrics() == {("DeploymentSuccess", "ecs", "sentiment-api:1"): 1.0}


def test_ecs_release_times_out_when_tasks_never_run(ecs_service, monkeypatch):
    create_ecs_service(0, monkeypatch)
    clock = FakeClock()
    with pytest.raises(release.ReleaseFailed, match="timed out after 60 s waiting for ECS service api"):
        release.release_ecs(new_client("ecs"), new_client("cloudwatch"), "sentiment", "api", clock.poller(60))
    assert clock.sleeps == [5.0] * 12
    assert deployment_metrics() == {("DeploymentFailure", "ecs", "sentiment-api:1"): 1.0}


def test_ecs_missing_cluster_or_service(ecs_service, capsys):
    assert main(["release", "ecs", "--cluster", "nope", "--service", "api"]) == 1
    assert (
        capsys.readouterr().err.splitlines()[0]
        == "error: redeploy of api in nope failed: ECS cluster nope does not exist"
    )
    assert main(["release", "ecs", "--cluster", "sentiment", "--service", "nope"]) == 1
    assert "ECS service nope does not exist in cluster sentiment" in capsys.readouterr().err
