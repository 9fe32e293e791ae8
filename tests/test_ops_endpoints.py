"""Endpoint discovery from CloudFormation stacks shaped like SAM's and Copilot's (moto)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from ops import endpoints
from ops.cli import main
from ops.errors import OpsError

API_URL = "https://a1b2c3.execute-api.us-east-1.amazonaws.com/Prod/"
LB_DNS = "sentim-Publi-1A2B3C-123456789.us-east-1.elb.amazonaws.com"


@pytest.fixture
def cloudformation(dummy_aws_credentials):
    """A moto CloudFormation client with dummy credentials."""
    with mock_aws():
        yield boto3.client("cloudformation")


def create_stack(client, name: str, outputs: dict[str, str], parameters: dict[str, str] | None = None) -> None:
    """A stack with literal outputs and string parameters (one SNS topic, since a stack needs a resource)."""
    parameters = parameters or {}
    template = {
        "Parameters": {key: {"Type": "String"} for key in parameters},
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    client.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
    )


def create_copilot(client, rule_path: str = "/", https: bool = False, env_outputs: dict[str, str] | None = None):
    """The environment stack ``sentiment-staging`` and the service stack ``sentiment-staging-api``."""
    outputs = {"PublicLoadBalancerDNSName": LB_DNS, "ClusterId": "sentiment-staging-Cluster-abc"}
    create_stack(client, "sentiment-staging", env_outputs if env_outputs is not None else outputs)
    create_stack(
        client,
        "sentiment-staging-api",
        {"DiscoveryServiceARN": "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-1"},
        {"RulePath": rule_path, "HTTPSEnabled": "true" if https else "false"},
    )


def test_discovers_the_sam_api_and_the_copilot_service(cloudformation, capsys):
    create_stack(cloudformation, "sentiment-api", {"ApiUrl": API_URL, "FunctionArn": "arn:aws:lambda:..."})
    create_copilot(cloudformation)
    argv = ["endpoints", "--stack", "sentiment-api", "--copilot-app", "sentiment", "--env", "staging"]

    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"lambda": API_URL.rstrip("/"), "ecs": f"http://{LB_DNS}"}
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [f"lambda\t{API_URL.rstrip('/')}", f"ecs\thttp://{LB_DNS}"]


def test_copilot_rule_path_is_appended(cloudformation):
    create_copilot(cloudformation, rule_path="sentiment")
    assert endpoints.discover(cloudformation, copilot_app="sentiment", copilot_env="staging") == {
        "ecs": f"http://{LB_DNS}/sentiment"
    }


def test_copilot_https_uses_the_default_alias_under_the_environment_subdomain(cloudformation):
    create_copilot(
        cloudformation,
        https=True,
        env_outputs={"PublicLoadBalancerDNSName": LB_DNS, "EnvironmentSubdomain": "staging.sentiment.example.com"},
    )
    url = endpoints.copilot_service_url(cloudformation, "sentiment", "staging", "api")
    assert url == "https://api.staging.sentiment.example.com"


def test_missing_stacks_and_outputs_give_clear_errors(cloudformation, capsys):
    assert main(["endpoints", "--stack", "no-such-stack"]) == 1
    assert capsys.readouterr().err == "error: CloudFormation stack no-such-stack does not exist in us-east-1\n"

    create_stack(cloudformation, "sentiment-api", {"FunctionArn": "arn"})
    with pytest.raises(OpsError, match=r"stack sentiment-api \(CREATE_COMPLETE\) has no output ApiUrl"):
        endpoints.sam_api_url(cloudformation, "sentiment-api")

    create_copilot(cloudformation, env_outputs={"ClusterId": "c"})  # an environment without a public ALB
    with pytest.raises(OpsError, match=r"sentiment-staging .* has no output PublicLoadBalancerDNSName"):
        endpoints.discover(cloudformation, copilot_app="sentiment", copilot_env="staging")
    with pytest.raises(OpsError, match="stack sentiment-prod-api does not exist"):
        endpoints.discover(cloudformation, copilot_app="sentiment", copilot_env="prod")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["endpoints"], "error: name a SAM stack (--stack)"),
        (["endpoints", "--copilot-app", "sentiment"], "error: --copilot-app needs --env"),
    ],
)
def test_incomplete_arguments_are_refused(cloudformation, capsys, argv, message):
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith(message)


def test_copilot_stack_names_follow_copilot():
    assert endpoints.copilot_stack_names("sentiment", "prod", "api") == ("sentiment-prod", "sentiment-prod-api")
    assert len(endpoints.copilot_stack_names("a" * 100, "b" * 20, "c" * 20)[1]) == 128
