"""Lambda status and rollback through the SAM stack's CodeDeploy deployment group; ECS redeploys; metrics.

moto runs Lambda, CodeDeploy (applications, deployment groups, deployments), ECS and CloudWatch. Two things
come from botocore's Stubber instead: CloudFormation's ``ListStackResources`` of the SAM stack (moto's
CloudFormation does not implement the ``AWS::Lambda::Alias`` and ``AWS::CodeDeploy::*`` resources SAM
generates) and CodeDeploy's ``StopDeployment`` (moto does not implement it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from inference.s3_model import new_client
from ops import release
from ops.cli import main
from tests.aws_faults import fail_sends, json_error, record_retry_sleeps, record_waiter_sleeps
from tests.test_sam_template import offline_aws, transformed  # noqa: F401 (offline_aws is a fixture)

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sentiment-api"
FUNCTION = "sentiment-api-SentimentFunction-AbC123"
STACK = "sentiment-api"  # samconfig.toml's [prod] stack
APPLICATION = "sentiment-api-ServerlessDeploymentApplication-DeF456"
GROUP = "sentiment-api-SentimentFunctionDeploymentGroup-GhI789"
NAMESPACE = "SentimentService"

# The resources SAM's transform of template.yaml gives the stack (test_the_sam_transform_... checks the
# types against the transform itself where SAM CLI is installed), with physical IDs CloudFormation would give.
SAM_STACK_RESOURCES = {
    "SentimentFunction": ("AWS::Lambda::Function", FUNCTION),
    "SentimentFunctionVersion209000e8a8": (
        "AWS::Lambda::Version",
        f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:2",
    ),
    "SentimentFunctionAliaslive": (
        "AWS::Lambda::Alias",
        f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:live",
    ),
    "ServerlessDeploymentApplication": ("AWS::CodeDeploy::Application", APPLICATION),
    "SentimentFunctionDeploymentGroup": ("AWS::CodeDeploy::DeploymentGroup", GROUP),
    "CodeDeployServiceRole": ("AWS::IAM::Role", "sentiment-api-CodeDeployServiceRole-JkL012"),
}


@pytest.fixture
def aws(dummy_aws_credentials, monkeypatch):
    """Dummy credentials and a moto-backed AWS for the whole test; retry and waiter waits are recorded."""
    record_retry_sleeps(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The waits botocore's waiters asked for (nothing really sleeps)."""
    return record_waiter_sleeps(monkeypatch)


def stack_resources(resources: dict[str, tuple[str, str]]) -> dict:
    """A ``ListStackResources`` answer listing ``resources`` ({logical ID: (type, physical ID)})."""
    now = datetime.now(UTC)
    return {
        "StackResourceSummaries": [
            {
                "LogicalResourceId": logical,
                "PhysicalResourceId": physical,
                "ResourceType": kind,
                "LastUpdatedTimestamp": now,
                "ResourceStatus": "UPDATE_IN_PROGRESS" if kind == "AWS::Lambda::Alias" else "UPDATE_COMPLETE",
            }
            for logical, (kind, physical) in resources.items()
        ]
    }


def stubbed_cloudformation(resources: dict[str, tuple[str, str]] | None = None, stack: str = STACK) -> Stubber:
    """A CloudFormation client whose ``ListStackResources`` of ``stack`` answers with ``resources``."""
    stubber = Stubber(new_client("cloudformation"))
    stubber.add_response(
        "list_stack_resources", stack_resources(resources or SAM_STACK_RESOURCES), {"StackName": stack}
    )
    stubber.activate()
    return stubber


@pytest.fixture
def sam_function(aws) -> None:
    """The stack's function mid-canary (alias ``live``: version 1, 10 % on version 2) and its deployment group."""
    role = boto3.client("iam").create_role(RoleName="sentiment-lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lambda_client = boto3.client("lambda")
    lambda_client.create_function(
        FunctionName=FUNCTION, Role=role, PackageType="Image", Code={"ImageUri": f"{IMAGE}:v1"}
    )
    lambda_client.publish_version(FunctionName=FUNCTION)
    lambda_client.update_function_code(FunctionName=FUNCTION, ImageUri=f"{IMAGE}:v2")
    lambda_client.publish_version(FunctionName=FUNCTION)
    lambda_client.create_alias(
        FunctionName=FUNCTION, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}}
    )
    codedeploy = boto3.client("codedeploy")
    codedeploy.create_application(applicationName=APPLICATION, computePlatform="Lambda")
    codedeploy.create_deployment_group(
        applicationName=APPLICATION,
        deploymentGroupName=GROUP,
        serviceRoleArn=role,
        deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent5Minutes",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    )


def start_deployment() -> str:
    """A CodeDeploy deployment of the alias from version 1 to 2, as CloudFormation starts it (moto: ``Created``)."""
    appspec = {
        "version": 0.0,
        "Resources": [
            {
                "SentimentFunction": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {"Name": FUNCTION, "Alias": "live", "CurrentVersion": "1", "TargetVersion": "2"},
                }
            }
        ],
    }
    return boto3.client("codedeploy").create_deployment(
        applicationName=APPLICATION,
        deploymentGroupName=GROUP,
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(appspec)}},
        description="CloudFormation stack update",
    )["deploymentId"]


def alias_routing() -> tuple[str, dict[str, float]]:
    alias = boto3.client("lambda").get_alias(FunctionName=FUNCTION, Name="live")
    return alias["FunctionVersion"], (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def clients_with(**overrides):
    """A client factory for ``main``: ``overrides`` by service, ``new_client`` for the rest."""
    return lambda service: overrides[service] if service in overrides else new_client(service)


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


def test_status_reads_the_alias_and_the_deployment_in_progress(sam_function, capsys):
    deployment_id = start_deployment()
    cloudformation = stubbed_cloudformation()
    assert main(["status", "lambda", "--stack", STACK], clients=clients_with(cloudformation=cloudformation.client)) == 0
    out = capsys.readouterr().out
    assert f"{FUNCTION}:live serves version 1, version 2 gets 10%" in out
    assert f"CodeDeploy deployment {deployment_id}: Created since" in out
    cloudformation.assert_no_pending_responses()
    assert alias_routing() == ("1", {"2": 0.1})  # read only


def test_status_json_names_the_deployment_group(sam_function, capsys):
    cloudformation = stubbed_cloudformation()
    argv = ["status", "lambda", "--stack", STACK, "--json"]
    assert main(argv, clients=clients_with(cloudformation=cloudformation.client)) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["function"], status["alias"], status["version"]) == (FUNCTION, "live", "1")
    assert (status["application"], status["deployment_group"]) == (APPLICATION, GROUP)
    assert (status["additional_weights"], status["in_progress"]) == ({"2": 0.1}, [])


def test_rollback_stops_the_deployment_in_progress_with_rollback(sam_function, capsys):
    codedeploy = Stubber(new_client("codedeploy"))  # moto has no StopDeployment
    codedeploy.add_response(
        "list_deployments",
        {"deployments": ["d-ABCDEF123"]},
        {
            "applicationName": APPLICATION,
            "deploymentGroupName": GROUP,
            "includeOnlyStatuses": list(release.IN_PROGRESS_STATUSES),
        },
    )
    codedeploy.add_response(
        "batch_get_deployments",
        {"deploymentsInfo": [{"deploymentId": "d-ABCDEF123", "status": "InProgress", "createTime": datetime.now(UTC)}]},
        {"deploymentIds": ["d-ABCDEF123"]},
    )
    codedeploy.add_response(
        "stop_deployment",
        {"status": "Pending", "statusMessage": "Stopping deployment"},
        {"deploymentId": "d-ABCDEF123", "autoRollbackEnabled": True},
    )
    cloudformation = stubbed_cloudformation()
    with codedeploy:
        argv = ["rollback", "lambda", "--stack", STACK]
        assert main(argv, clients=clients_with(cloudformation=cloudformation.client, codedeploy=codedeploy.client)) == 0
    out = capsys.readouterr().out
    assert "stopped CodeDeploy deployment d-ABCDEF123 with rollback (Pending: Stopping deployment)" in out
    assert f"python -m ops status lambda --stack {STACK}" in out
    codedeploy.assert_no_pending_responses()
    assert alias_routing() == ("1", {"2": 0.1})  # CodeDeploy moves the alias back, not ops


def test_rollback_with_nothing_in_progress_says_how_to_redeploy_the_previous_release(sam_function, capsys):
    cloudformation = stubbed_cloudformation()
    assert (
        main(["rollback", "lambda", "--stack", STACK], clients=clients_with(cloudformation=cloudformation.client)) == 1
    )
    error = capsys.readouterr().err
    assert error.startswith(
        f"error: no CodeDeploy deployment of {FUNCTION}:live is in progress (deployment group {GROUP})"
    )
    assert "  git checkout <previous-release>\n  sam build && sam deploy --config-env prod\n" in error
    assert alias_routing() == ("1", {"2": 0.1})


def test_redeploy_commands_follow_samconfig(tmp_path):
    assert release.redeploy_commands("sentiment-api-dev")[-1] == "sam build && sam deploy"
    assert release.redeploy_commands("sentiment-api")[-1] == "sam build && sam deploy --config-env prod"
    assert release.redeploy_commands("elsewhere")[-1] == "sam build && sam deploy --stack-name elsewhere --guided"
    (tmp_path / "samconfig.toml").write_text('[staging.deploy.parameters]\nstack_name = "sentiment-api-staging"\n')
    assert release.sam_config_env("sentiment-api-staging", tmp_path / "samconfig.toml") == "staging"


def test_a_throttled_codedeploy_call_is_retried(sam_function, capsys):
    deployment_id = start_deployment()
    codedeploy = new_client("codedeploy")
    sends = fail_sends(codedeploy, "ListDeployments", json_error(400, "ThrottlingException"))
    cloudformation = stubbed_cloudformation()
    argv = ["status", "lambda", "--stack", STACK]
    assert main(argv, clients=clients_with(cloudformation=cloudformation.client, codedeploy=codedeploy)) == 0
    assert f"CodeDeploy deployment {deployment_id}: Created" in capsys.readouterr().out
    assert len(sends) == 2


def test_a_missing_stack_or_a_stack_without_the_sam_deployment_group(aws, capsys):
    cloudformation = Stubber(new_client("cloudformation"))
    cloudformation.add_client_error(
        "list_stack_resources",
        "ValidationError",
        "Stack with id nope does not exist",
        400,
        expected_params={"StackName": "nope"},
    )
    cloudformation.activate()
    assert (
        main(["rollback", "lambda", "--stack", "nope"], clients=clients_with(cloudformation=cloudformation.client)) == 1
    )
    assert capsys.readouterr().err == "error: CloudFormation stack nope does not exist in us-east-1\n"

    without_preference = {k: v for k, v in SAM_STACK_RESOURCES.items() if "CodeDeploy" not in v[0]}
    cloudformation = stubbed_cloudformation(without_preference)
    assert main(["status", "lambda", "--stack", STACK], clients=clients_with(cloudformation=cloudformation.client)) == 1
    assert capsys.readouterr().err.startswith(f"error: stack {STACK} has no AWS::CodeDeploy::Application resources")


@pytest.mark.parametrize(
    "argv", [["release", "lambda", "--function", "f", "--image-uri", "i"], ["promote", "--function", "f"]]
)
def test_the_alias_editing_commands_are_gone(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.usefixtures("offline_aws")
def test_the_sam_transform_has_the_resources_rollback_reads():
    document = transformed()
    resources = {
        logical: (resource["Type"], SAM_STACK_RESOURCES.get(logical, (None, f"{logical}-physical"))[1])
        for logical, resource in document["Resources"].items()
    }
    for logical, (kind, _) in SAM_STACK_RESOURCES.items():
        if kind != "AWS::Lambda::Version":  # its logical ID carries a hash of the function's code
            assert resources.get(logical, (None,))[0] == kind, logical
    cloudformation = stubbed_cloudformation(resources)
    target = release.find_sam_function(cloudformation.client, STACK)
    assert (target.function, target.alias, target.application, target.deployment_group) == (
        FUNCTION,
        "live",
        APPLICATION,
        GROUP,
    )


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


def test_ecs_release_forces_a_deployment_and_waits_for_stability(ecs_service, monkeypatch, capsys, waits):
    create_ecs_service(2, monkeypatch)
    before = boto3.client("ecs").describe_services(cluster="sentiment", services=["api"])["services"][0]
    assert main(["release", "ecs", "--cluster", "sentiment", "--service", "api"]) == 0
    out = capsys.readouterr().out
    after = boto3.client("ecs").describe_services(cluster="sentiment", services=["api"])["services"][0]
    assert after["deployments"][0]["id"] != before["deployments"][0]["id"]
    assert f"deployment {after['deployments'][0]['id']}, sentiment-api:1, 2 task(s) running" in out
    assert deployment_metrics() == {("DeploymentSuccess", "ecs", "sentiment-api:1"): 1.0}


def test_ecs_release_times_out_when_tasks_never_run(ecs_service, monkeypatch, waits):
    create_ecs_service(0, monkeypatch)
    with pytest.raises(release.ReleaseFailed, match="timed out after 60 s waiting for ECS service api"):
        release.release_ecs(
            new_client("ecs"), new_client("cloudwatch"), "sentiment", "api", release.Wait(timeout_s=60, interval_s=5)
        )
    assert waits == [5.0] * 12  # services_stable checked 13 times, 5 s apart
    assert deployment_metrics() == {("DeploymentFailure", "ecs", "sentiment-api:1"): 1.0}


def test_ecs_missing_cluster_or_service(ecs_service, capsys):
    assert main(["release", "ecs", "--cluster", "nope", "--service", "api"]) == 1
    assert (
        capsys.readouterr().err.splitlines()[0]
        == "error: redeploy of api in nope failed: ECS cluster nope does not exist"
    )
    assert main(["release", "ecs", "--cluster", "sentiment", "--service", "nope"]) == 1
    assert "ECS service nope does not exist in cluster sentiment" in capsys.readouterr().err


def test_an_ecs_deployment_that_was_rolled_back_is_a_failed_release(ecs_service, monkeypatch, waits):
    create_ecs_service(2, monkeypatch)
    ecs = new_client("ecs")
    updated = []
    ecs.meta.events.register("after-call.ecs.UpdateService", lambda **kwargs: updated.append(1))

    def circuit_breaker_rolled_back(parsed, **kwargs):  # after the update, another deployment is the one running
        if updated:
            parsed["services"][0]["deployments"][0]["id"] = "ecs-svc/rollback"

    ecs.meta.events.register("after-call.ecs.DescribeServices", circuit_breaker_rolled_back)
    with pytest.raises(release.ReleaseFailed, match=r"did not stay: the service runs ecs-svc/rollback \(a rollback"):
        release.release_ecs(ecs, new_client("cloudwatch"), "sentiment", "api")
    assert deployment_metrics() == {("DeploymentFailure", "ecs", "sentiment-api:1"): 1.0}
