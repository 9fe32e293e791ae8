"""Releases: Lambda image updates with a weighted canary on an alias (promote, rollback), ECS redeploys.

Lambda: the alias's ``FunctionVersion`` is the stable version; a canary is an ``AdditionalVersionWeights``
entry for the new version. The version an alias served before a full switch is kept in the alias
description as ``previous-version=<n>``, which is what ``rollback`` returns to once nothing is in canary.

Metrics (``ops.metrics``): every ``release`` run records one ``DeploymentSuccess`` or ``DeploymentFailure``;
its ``Version`` is the new Lambda version number (the image tag when the run failed before Lambda assigned
one) or the ECS task definition ``family:revision``. ``promote`` records one once there is a canary to
promote; ``rollback`` records none.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from inference.s3_model import RetryingClient, error_code
from ops.errors import OpsError
from ops.metrics import DEFAULT_NAMESPACE, record_deployment

T = TypeVar("T")

PREVIOUS_VERSION = re.compile(r"previous-version=(\d+)")


def describe_aws_error(error: Exception) -> str:
    """``Code: message`` of a botocore error, or its text."""
    response = getattr(error, "response", None)
    if response:
        details = response.get("Error", {})
        return f"{details.get('Code', '')}: {details.get('Message', '')}".strip(": ")
    return str(error)


@dataclass(frozen=True)
class Poller:
    """Poll until a check returns a value or ``timeout_s`` passes; ``sleep``/``clock`` are injectable for tests."""

    timeout_s: float = 900.0
    interval_s: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    def until(self, check: Callable[[], T | None], what: str) -> T:
        """The first non-``None`` result of ``check``; ``OpsError`` once the time is up."""
        deadline = self.clock() + self.timeout_s
        while True:
            result = check()
            if result is not None:
                return result
            if self.clock() >= deadline:
                raise OpsError(f"timed out after {self.timeout_s:g} s waiting for {what}")
            self.sleep(self.interval_s)


@dataclass(frozen=True)
class MetricOutcome:
    """Which deployment metric was recorded, or why none could be."""

    name: str | None
    error: str | None = None


def _record(cloudwatch: RetryingClient, platform: str, version: str, succeeded: bool, namespace: str) -> MetricOutcome:
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
class AliasState:
    """What a Lambda alias serves now."""

    function: str
    alias: str
    stable_version: str
    canary_version: str | None
    canary_weight: float
    previous_version: str | None


@dataclass(frozen=True)
class LambdaRelease:
    """Outcome of a Lambda release, promotion or rollback: what the alias serves afterwards."""

    function: str
    alias: str
    stable_version: str
    canary_version: str | None
    canary_weight: float
    action: str
    metric: MetricOutcome | None = None


def _lambda_error(error: Exception, function: str) -> OpsError:
    """A clear message for a failed Lambda call on ``function``."""
    if error_code(error) == "ResourceNotFoundException":
        return OpsError(f"Lambda function {function} does not exist")
    return OpsError(f"Lambda function {function}: {describe_aws_error(error)}")


def read_alias(lambda_client: RetryingClient, function: str, alias: str) -> AliasState | None:
    """The alias's routing, or ``None`` when the function exists but the alias does not."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        lambda_client.get_function_configuration(FunctionName=function)
    except (ClientError, BotoCoreError) as error:
        raise _lambda_error(error, function) from None
    try:
        response = lambda_client.get_alias(FunctionName=function, Name=alias)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise _lambda_error(error, function) from None
    except BotoCoreError as error:
        raise _lambda_error(error, function) from None
    weights = (response.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    canary_version, canary_weight = next(iter(weights.items()), (None, 0.0))
    previous = PREVIOUS_VERSION.search(response.get("Description") or "")
    return AliasState(
        function=function,
        alias=alias,
        stable_version=str(response["FunctionVersion"]),
        canary_version=str(canary_version) if canary_version is not None else None,
        canary_weight=float(canary_weight),
        previous_version=previous.group(1) if previous else None,
    )


def image_reference(image_uri: str) -> str:
    """The tag or digest of an image URI (``repo:tag`` → ``tag``), used as the version before Lambda assigns one."""
    if "@" in image_uri:
        return image_uri.rsplit("@", 1)[1]
    last = image_uri.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def _wait_for_update(lambda_client: RetryingClient, function: str, poller: Poller) -> dict[str, Any]:
    """Wait for ``LastUpdateStatus`` to leave ``InProgress``; the configuration once ``Successful``."""

    def updated() -> dict[str, Any] | None:
        config = lambda_client.get_function_configuration(FunctionName=function)
        status = config.get("LastUpdateStatus", "Successful")
        if status == "Failed":
            reason = config.get("LastUpdateStatusReason", "no reason given")
            raise OpsError(f"Lambda rejected the new image for {function}: {reason}")
        return config if status == "Successful" and config.get("State", "Active") == "Active" else None

    return poller.until(updated, f"Lambda function {function} to finish updating")


def release_lambda(
    lambda_client: RetryingClient,
    cloudwatch: RetryingClient,
    function: str,
    alias: str,
    image_uri: str,
    canary_percent: float,
    poller: Poller | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> LambdaRelease:
    """Point ``function`` at ``image_uri``, publish a version, and send ``canary_percent`` % of ``alias`` to it.

    100 % switches the alias outright; a new alias is created at 100 %. Refused while a canary is in progress.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    if not 0 < canary_percent <= 100:
        raise OpsError(f"--canary must be more than 0 and at most 100 (percent), not {canary_percent:g}")
    poller = poller or Poller()
    version = image_reference(image_uri)
    try:
        state = read_alias(lambda_client, function, alias)
        if state and state.canary_version:
            raise OpsError(
                f"{function}:{alias} already has version {state.canary_version} in canary at "
                f"{state.canary_weight:.0%}; promote or roll back first"
            )
        lambda_client.update_function_code(FunctionName=function, ImageUri=image_uri)
        config = _wait_for_update(lambda_client, function, poller)
        published = lambda_client.publish_version(
            FunctionName=function, CodeSha256=config["CodeSha256"], Description=f"image {image_uri}"
        )
        version = str(published["Version"])
        if state and version == state.stable_version:
            raise OpsError(f"{function}:{alias} already serves version {version}: the image did not change")
        if state is None:
            lambda_client.create_alias(
                FunctionName=function, Name=alias, FunctionVersion=version, Description="first release"
            )
            outcome = LambdaRelease(function, alias, version, None, 0.0, "created alias")
        elif canary_percent >= 100:
            lambda_client.update_alias(
                FunctionName=function,
                Name=alias,
                FunctionVersion=version,
                RoutingConfig={"AdditionalVersionWeights": {}},
                Description=f"previous-version={state.stable_version}",
            )
            outcome = LambdaRelease(function, alias, version, None, 0.0, "switched")
        else:
            weight = round(canary_percent / 100, 4)
            lambda_client.update_alias(
                FunctionName=function,
                Name=alias,
                FunctionVersion=state.stable_version,
                RoutingConfig={"AdditionalVersionWeights": {version: weight}},
            )
            outcome = LambdaRelease(function, alias, state.stable_version, version, weight, "canary")
    except (OpsError, ClientError, BotoCoreError) as error:
        metric = _record(cloudwatch, "lambda", version, False, namespace)
        message = str(error) if isinstance(error, OpsError) else _lambda_error(error, function).args[0]
        raise ReleaseFailed(f"release of {image_uri} to {function}:{alias} failed: {message}", metric) from None
    return replace(outcome, metric=_record(cloudwatch, "lambda", version, True, namespace))


def _existing_alias(lambda_client: RetryingClient, function: str, alias: str) -> AliasState:
    state = read_alias(lambda_client, function, alias)
    if state is None:
        raise OpsError(f"alias {alias} of Lambda function {function} does not exist")
    return state


def promote_lambda(
    lambda_client: RetryingClient,
    cloudwatch: RetryingClient,
    function: str,
    alias: str,
    namespace: str = DEFAULT_NAMESPACE,
) -> LambdaRelease:
    """Move 100 % of ``alias`` to its canary version; the old stable version becomes ``previous-version``."""
    from botocore.exceptions import BotoCoreError, ClientError

    state = _existing_alias(lambda_client, function, alias)
    if not state.canary_version:
        raise OpsError(f"{function}:{alias} has no canary to promote (it serves version {state.stable_version})")
    try:
        lambda_client.update_alias(
            FunctionName=function,
            Name=alias,
            FunctionVersion=state.canary_version,
            RoutingConfig={"AdditionalVersionWeights": {}},
            Description=f"previous-version={state.stable_version}",
        )
    except (ClientError, BotoCoreError) as error:
        metric = _record(cloudwatch, "lambda", state.canary_version, False, namespace)
        raise ReleaseFailed(f"promotion on {function}:{alias} failed: {describe_aws_error(error)}", metric) from None
    metric = _record(cloudwatch, "lambda", state.canary_version, True, namespace)
    return LambdaRelease(function, alias, state.canary_version, None, 0.0, "promoted", metric)


def rollback_lambda(lambda_client: RetryingClient, function: str, alias: str) -> LambdaRelease:
    """Drop a canary, or, with none in progress, point ``alias`` back at its recorded previous version."""
    from botocore.exceptions import BotoCoreError, ClientError

    state = _existing_alias(lambda_client, function, alias)
    try:
        if state.canary_version:
            lambda_client.update_alias(
                FunctionName=function, Name=alias, RoutingConfig={"AdditionalVersionWeights": {}}
            )
            return LambdaRelease(function, alias, state.stable_version, None, 0.0, "canary removed")
        if not state.previous_version:
            raise OpsError(
                f"{function}:{alias} serves version {state.stable_version} and records no previous version to "
                "roll back to"
            )
        lambda_client.update_alias(
            FunctionName=function,
            Name=alias,
            FunctionVersion=state.previous_version,
            RoutingConfig={"AdditionalVersionWeights": {}},
            Description=f"rolled back from version {state.stable_version}",
        )
    except (ClientError, BotoCoreError) as error:
        raise OpsError(f"rollback of {function}:{alias} failed: {describe_aws_error(error)}") from None
    return LambdaRelease(function, alias, state.previous_version, None, 0.0, "rolled back")


@dataclass(frozen=True)
class EcsRelease:
    """Outcome of an ECS redeploy."""

    cluster: str
    service: str
    deployment_id: str
    task_definition: str
    running_count: int
    metric: MetricOutcome | None = None


def _describe_service(ecs: RetryingClient, cluster: str, service: str) -> dict[str, Any]:
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


def release_ecs(
    ecs: RetryingClient,
    cloudwatch: RetryingClient,
    cluster: str,
    service: str,
    poller: Poller | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> EcsRelease:
    """Force a new deployment of ``service`` and wait until it is the only one and all its tasks run."""
    from botocore.exceptions import BotoCoreError, ClientError

    poller = poller or Poller()
    version = "unknown"
    try:
        current = _describe_service(ecs, cluster, service)
        version = _task_definition_version(current.get("taskDefinition", version))
        updated = ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)["service"]
        primary = next(d for d in updated.get("deployments", []) if d.get("status") == "PRIMARY")
        deployment_id = primary["id"]
        version = _task_definition_version(primary.get("taskDefinition", updated.get("taskDefinition", version)))

        def stable() -> dict[str, Any] | None:
            described = _describe_service(ecs, cluster, service)
            deployments = described.get("deployments", [])
            ours = next((d for d in deployments if d.get("id") == deployment_id), None)
            if ours is None:
                raise OpsError(f"deployment {deployment_id} was replaced by another deployment")
            if ours.get("rolloutState") == "FAILED":
                raise OpsError(f"deployment {deployment_id} failed: {ours.get('rolloutStateReason', '')}")
            settled = len(deployments) == 1 and ours.get("rolloutState", "COMPLETED") == "COMPLETED"
            return described if settled and described["runningCount"] == described["desiredCount"] else None

        final = poller.until(stable, f"ECS service {service} in {cluster} to become stable")
    except (OpsError, ClientError, BotoCoreError, StopIteration) as error:
        metric = _record(cloudwatch, "ecs", version, False, namespace)
        reason = "no PRIMARY deployment" if isinstance(error, StopIteration) else describe_aws_error(error)
        raise ReleaseFailed(f"redeploy of {service} in {cluster} failed: {reason}", metric) from None
    metric = _record(cloudwatch, "ecs", version, True, namespace)
    return EcsRelease(cluster, service, deployment_id, version, int(final["runningCount"]), metric)
