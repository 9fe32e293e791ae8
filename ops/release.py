"""Releases: the Lambda through its SAM stack and CodeDeploy (status, rollback); ECS by a forced redeploy.

Lambda: the SAM stack owns the alias ``live`` (``AutoPublishAlias``) and CodeDeploy shifts its traffic
(``DeploymentPreference``, alarms that roll back). A release is ``sam build && sam deploy``; nothing here
writes to the alias. ``lambda_status`` reads what the alias serves and which CodeDeploy deployment is in
progress; ``rollback_lambda`` stops an in-progress deployment with rollback (CodeDeploy moves the alias
back and the CloudFormation update it belongs to rolls back), and with none in progress explains that a
finished release is undone by deploying the previous release again. The function, its alias and its
CodeDeploy application and deployment group are the stack's own resources, read from CloudFormation.

ECS: ``release_ecs`` forces a new deployment and waits with botocore's ``services_stable`` waiter; every run
records one ``DeploymentSuccess`` or ``DeploymentFailure`` (``ops.metrics``) with the task definition
``family:revision`` as its ``Version``.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.s3_model import error_code
from inference.settings import REPO_ROOT
from ops.errors import OpsError
from ops.metrics import DEFAULT_NAMESPACE, record_deployment

if TYPE_CHECKING:
    from botocore.client import BaseClient

# CodeDeploy statuses of a deployment that has not finished (the rest: Succeeded, Failed, Stopped).
IN_PROGRESS_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")
SAMCONFIG = REPO_ROOT / "samconfig.toml"


def describe_aws_error(error: Exception) -> str:
    """``Code: message`` of a botocore error, or its text."""
    response = getattr(error, "response", None)
    if response:
        details = response.get("Error", {})
        return f"{details.get('Code', '')}: {details.get('Message', '')}".strip(": ")
    return str(error)


@dataclass(frozen=True)
class Wait:
    """How long a botocore waiter polls: every ``interval_s`` seconds for at most ``timeout_s`` seconds."""

    timeout_s: float = 900.0
    interval_s: float = 5.0

    def waiter_config(self) -> dict[str, float | int]:
        """The ``WaiterConfig`` of a waiter call: the first check, then one per interval until the timeout."""
        return {"Delay": self.interval_s, "MaxAttempts": math.floor(self.timeout_s / self.interval_s) + 1}


@dataclass(frozen=True)
class MetricOutcome:
    """Which deployment metric was recorded, or why none could be."""

    name: str | None
    error: str | None = None


def _record(cloudwatch: BaseClient, platform: str, version: str, succeeded: bool, namespace: str) -> MetricOutcome:
    """Record the outcome; a CloudWatch failure is reported, never allowed to hide the release's own result."""
    try:
        return MetricOutcome(record_deployment(cloudwatch, platform, version, succeeded, namespace))
    except Exception as error:  # botocore raises ClientError and BotoCoreError subclasses
        return MetricOutcome(None, f"could not record the deployment metric: {describe_aws_error(error)}")


class ReleaseFailed(OpsError):
    """A release step failed after it started; carries the failure metric outcome."""

    def __init__(self, message: str, metric: MetricOutcome) -> None:
        super().__init__(message)
        self.metric = metric


@dataclass(frozen=True)
class SamFunction:
    """The SAM stack's function: its alias and the CodeDeploy deployment group that shifts the alias."""

    stack: str
    function: str
    alias: str
    application: str
    deployment_group: str


def _only(resources: dict[str, list[str]], resource_type: str, stack: str) -> str:
    """The physical ID of the stack's one resource of ``resource_type``."""
    found = resources.get(resource_type, [])
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise OpsError(
            f"stack {stack} has {what} {resource_type} resources (expected one: the SAM function's "
            "AutoPublishAlias and DeploymentPreference in template.yaml)"
        )
    return found[0]


def find_sam_function(cloudformation: BaseClient, stack: str) -> SamFunction:
    """Read the function's alias and CodeDeploy application and deployment group from ``stack``'s resources."""
    from botocore.exceptions import BotoCoreError, ClientError

    resources: dict[str, list[str]] = {}
    try:
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack):
            for summary in page["StackResourceSummaries"]:
                resources.setdefault(summary["ResourceType"], []).append(summary.get("PhysicalResourceId", ""))
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in describe_aws_error(error):
            region = cloudformation.meta.region_name
            raise OpsError(f"CloudFormation stack {stack} does not exist in {region}") from None
        raise OpsError(f"cannot read CloudFormation stack {stack}: {describe_aws_error(error)}") from None
    except BotoCoreError as error:
        raise OpsError(f"cannot read CloudFormation stack {stack}: {error}") from None
    alias_arn = _only(resources, "AWS::Lambda::Alias", stack)  # arn:aws:lambda:<region>:<account>:function:<f>:<a>
    function_arn, _, alias = alias_arn.rpartition(":")
    return SamFunction(
        stack=stack,
        function=function_arn.rpartition(":")[2],
        alias=alias,
        application=_only(resources, "AWS::CodeDeploy::Application", stack),
        deployment_group=_only(resources, "AWS::CodeDeploy::DeploymentGroup", stack),
    )


@dataclass(frozen=True)
class Deployment:
    """A CodeDeploy deployment of the function's alias."""

    deployment_id: str
    status: str
    created: str
    description: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready fields."""
        return {
            "id": self.deployment_id,
            "status": self.status,
            "created": self.created,
            "description": self.description,
        }


@dataclass(frozen=True)
class LambdaStatus:
    """What the alias serves and which CodeDeploy deployments have not finished."""

    target: SamFunction
    version: str
    additional_weights: dict[str, float]
    in_progress: list[Deployment]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "stack": self.target.stack,
            "function": self.target.function,
            "alias": self.target.alias,
            "version": self.version,
            "additional_weights": self.additional_weights,
            "application": self.target.application,
            "deployment_group": self.target.deployment_group,
            "in_progress": [deployment.to_dict() for deployment in self.in_progress],
        }


def in_progress_deployments(codedeploy: BaseClient, target: SamFunction) -> list[Deployment]:
    """The deployments of the stack's deployment group that have not finished, oldest first."""
    pages = codedeploy.get_paginator("list_deployments").paginate(
        applicationName=target.application,
        deploymentGroupName=target.deployment_group,
        includeOnlyStatuses=list(IN_PROGRESS_STATUSES),
    )
    ids = [deployment_id for page in pages for deployment_id in page.get("deployments", [])]
    if not ids:
        return []
    infos = codedeploy.batch_get_deployments(deploymentIds=ids).get("deploymentsInfo", [])
    deployments = [
        Deployment(
            deployment_id=info["deploymentId"],
            status=info.get("status", ""),
            created=str(info.get("createTime", "")),
            description=info.get("description", ""),
        )
        for info in infos
    ]
    return sorted(deployments, key=lambda deployment: deployment.created)


def lambda_status(
    cloudformation: BaseClient, lambda_client: BaseClient, codedeploy: BaseClient, stack: str
) -> LambdaStatus:
    """Read (never write) the alias's routing and the deployment group's unfinished deployments."""
    from botocore.exceptions import BotoCoreError, ClientError

    target = find_sam_function(cloudformation, stack)
    try:
        alias = lambda_client.get_alias(FunctionName=target.function, Name=target.alias)
        in_progress = in_progress_deployments(codedeploy, target)
    except (ClientError, BotoCoreError) as error:
        raise OpsError(
            f"cannot read the status of {target.function}:{target.alias}: {describe_aws_error(error)}"
        ) from None
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return LambdaStatus(
        target=target,
        version=str(alias["FunctionVersion"]),
        additional_weights={str(version): float(weight) for version, weight in weights.items()},
        in_progress=in_progress,
    )


@dataclass(frozen=True)
class StoppedDeployment:
    """A deployment ``rollback`` stopped, and CodeDeploy's answer."""

    deployment_id: str
    status: str
    message: str


@dataclass(frozen=True)
class LambdaRollback:
    """Outcome of ``rollback lambda``: the deployments stopped with rollback."""

    target: SamFunction
    stopped: list[StoppedDeployment]


def sam_config_env(stack: str, samconfig: Path = SAMCONFIG) -> str | None:
    """The ``samconfig.toml`` environment that deploys ``stack`` (``None`` when none does)."""
    try:
        config = tomllib.loads(samconfig.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    for env, commands in config.items():
        if isinstance(commands, dict) and commands.get("deploy", {}).get("parameters", {}).get("stack_name") == stack:
            return env
    return None


def redeploy_commands(stack: str, samconfig: Path = SAMCONFIG) -> list[str]:
    """The commands that deploy the previous release of ``stack`` again: a rollback of a finished release."""
    env = sam_config_env(stack, samconfig)
    if env == "default":
        deploy = "sam deploy"
    elif env:
        deploy = f"sam deploy --config-env {env}"
    else:
        deploy = f"sam deploy --stack-name {stack} --guided"
    return ["git checkout <previous-release>", f"sam build && {deploy}"]


def rollback_lambda(cloudformation: BaseClient, codedeploy: BaseClient, stack: str) -> LambdaRollback:
    """Stop the stack's in-progress CodeDeploy deployment with rollback; ``OpsError`` when none is in progress."""
    from botocore.exceptions import BotoCoreError, ClientError

    target = find_sam_function(cloudformation, stack)
    try:
        in_progress = in_progress_deployments(codedeploy, target)
        if not in_progress:
            steps = "\n".join(f"  {command}" for command in redeploy_commands(stack))
            raise OpsError(
                f"no CodeDeploy deployment of {target.function}:{target.alias} is in progress (deployment group "
                f"{target.deployment_group}); a finished release is rolled back by deploying the previous "
                f"release again:\n{steps}"
            )
        stopped = []
        for deployment in in_progress:
            answer = codedeploy.stop_deployment(deploymentId=deployment.deployment_id, autoRollbackEnabled=True)
            stopped.append(
                StoppedDeployment(deployment.deployment_id, answer.get("status", ""), answer.get("statusMessage", ""))
            )
    except (ClientError, BotoCoreError) as error:
        raise OpsError(f"rollback of {target.function}:{target.alias} failed: {describe_aws_error(error)}") from None
    return LambdaRollback(target, stopped)


@dataclass(frozen=True)
class EcsRelease:
    """Outcome of an ECS redeploy."""

    cluster: str
    service: str
    deployment_id: str
    task_definition: str
    running_count: int
    metric: MetricOutcome | None = None


def _describe_service(ecs: BaseClient, cluster: str, service: str) -> dict[str, Any]:
    """The service's description; ``OpsError`` when the cluster or service does not exist."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = ecs.describe_services(cluster=cluster, services=[service])
    except ClientError as error:
        if error_code(error) == "ClusterNotFoundException":
            raise OpsError(f"ECS cluster {cluster} does not exist") from None
        raise OpsError(f"ECS service {service} in {cluster}: {describe_aws_error(error)}") from None
    except BotoCoreError as error:
        raise OpsError(f"ECS service {service} in {cluster}: {error}") from None
    services = [item for item in response.get("services", []) if item.get("status") != "INACTIVE"]
    if not services:
        raise OpsError(f"ECS service {service} does not exist in cluster {cluster}")
    return services[0]


def _task_definition_version(arn: str) -> str:
    """``family:revision`` of a task definition ARN."""
    return arn.rsplit("/", 1)[-1]


def _wait_until_stable(ecs: BaseClient, cluster: str, service: str, wait: Wait) -> None:
    """botocore's ``services_stable``: one deployment, every desired task running."""
    from botocore.exceptions import WaiterError

    try:
        ecs.get_waiter("services_stable").wait(cluster=cluster, services=[service], WaiterConfig=wait.waiter_config())
    except WaiterError as error:
        reason = str(error.kwargs.get("reason", error))
        if reason.startswith("Max attempts exceeded"):
            raise OpsError(
                f"timed out after {wait.timeout_s:g} s waiting for ECS service {service} in {cluster} to become stable"
            ) from None
        raise OpsError(f"ECS service {service} in {cluster}: {reason}") from None


def release_ecs(
    ecs: BaseClient,
    cloudwatch: BaseClient,
    cluster: str,
    service: str,
    wait: Wait | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> EcsRelease:
    """Force a new deployment of ``service``, wait until the service is stable, and check it is ours that runs.

    A deployment the circuit breaker rolled back also ends stable (on the previous deployment): that is a failure.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    wait = wait or Wait()
    version = "unknown"
    try:
        current = _describe_service(ecs, cluster, service)
        version = _task_definition_version(current.get("taskDefinition", version))
        updated = ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)["service"]
        primary = next(d for d in updated.get("deployments", []) if d.get("status") == "PRIMARY")
        deployment_id = primary["id"]
        version = _task_definition_version(primary.get("taskDefinition", updated.get("taskDefinition", version)))
        _wait_until_stable(ecs, cluster, service, wait)
        final = _describe_service(ecs, cluster, service)
        running = [d.get("id") for d in final.get("deployments", [])]
        if running != [deployment_id]:
            raise OpsError(
                f"deployment {deployment_id} did not stay: the service runs {', '.join(running) or 'nothing'} "
                "(a rollback by the deployment circuit breaker, or a newer deployment; see the service's events)"
            )
        if final["deployments"][0].get("rolloutState") == "FAILED":
            raise OpsError(
                f"deployment {deployment_id} failed: {final['deployments'][0].get('rolloutStateReason', '')}"
            )
    except (OpsError, ClientError, BotoCoreError, StopIteration) as error:
        metric = _record(cloudwatch, "ecs", version, False, namespace)
        reason = "no PRIMARY deployment" if isinstance(error, StopIteration) else describe_aws_error(error)
        raise ReleaseFailed(f"redeploy of {service} in {cluster} failed: {reason}", metric) from None
    metric = _record(cloudwatch, "ecs", version, True, namespace)
    return EcsRelease(cluster, service, deployment_id, version, int(final["runningCount"]), metric)
