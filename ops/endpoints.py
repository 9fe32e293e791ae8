"""Endpoint discovery from CloudFormation: the SAM API URL and the Copilot load-balanced service URL.

What is read (Copilot stack names and outputs as Copilot's own templates define them):

- SAM: the stack's output ``ApiUrl``.
- Copilot, Load Balanced Web Service ``<svc>`` in environment ``<env>`` of application ``<app>``:
  the service stack ``<app>-<env>-<svc>`` exports no URL of its own; its parameters ``RulePath`` and
  ``HTTPSEnabled`` say how the environment's load balancer routes to it. Without HTTPS the URL is
  ``http://`` + the environment stack ``<app>-<env>`` output ``PublicLoadBalancerDNSName`` (+ ``/RulePath``
  unless it is ``/``), as ``copilot svc show`` prints it. With HTTPS (a domain on the application) the URL
  is Copilot's default alias ``https://<svc>.<EnvironmentSubdomain>``, from the environment stack output
  ``EnvironmentSubdomain``; custom ``http.alias`` names are not discovered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from inference.s3_model import error_code
from ops.errors import OpsError

if TYPE_CHECKING:
    from botocore.client import BaseClient

SAM_OUTPUT_KEY = "ApiUrl"
COPILOT_LB_DNS_OUTPUT = "PublicLoadBalancerDNSName"
COPILOT_SUBDOMAIN_OUTPUT = "EnvironmentSubdomain"
DEFAULT_COPILOT_SERVICE = "api"
DASHBOARD_OUTPUT_KEY = "DashboardName"


@dataclass(frozen=True)
class Stack:
    """The parts of a CloudFormation stack that discovery reads."""

    name: str
    status: str
    outputs: dict[str, str]
    parameters: dict[str, str]

    def output(self, key: str) -> str:
        """One output's value; a clear error when the stack lacks it."""
        if key not in self.outputs:
            known = ", ".join(sorted(self.outputs)) or "none"
            raise OpsError(f"stack {self.name} ({self.status}) has no output {key} (its outputs: {known})")
        return self.outputs[key]


def describe_stack(cloudformation: BaseClient, name: str) -> Stack:
    """Read a stack's status, outputs and parameters; ``OpsError`` when it does not exist."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", "")
        if error_code(error) == "ValidationError" and "does not exist" in message:
            region = cloudformation.meta.region_name
            raise OpsError(f"CloudFormation stack {name} does not exist in {region}") from None
        raise OpsError(f"cannot read CloudFormation stack {name}: {error_code(error)}: {message}") from None
    except BotoCoreError as error:
        raise OpsError(f"cannot read CloudFormation stack {name}: {error}") from None
    stack: dict[str, Any] = stacks[0]
    return Stack(
        name=name,
        status=stack.get("StackStatus", ""),
        outputs={item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])},
        parameters={item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])},
    )


def sam_api_url(cloudformation: BaseClient, stack_name: str) -> str:
    """The SAM stack's ``ApiUrl`` output, without a trailing slash."""
    return describe_stack(cloudformation, stack_name).output(SAM_OUTPUT_KEY).rstrip("/")


def dashboard_url(cloudformation: BaseClient, stack_name: str) -> str:
    """The CloudWatch console URL of the dashboard a stack names in its ``DashboardName`` output
    (the shared stack, infra/shared.yaml), in the client's region."""
    name = describe_stack(cloudformation, stack_name).output(DASHBOARD_OUTPUT_KEY)
    region = cloudformation.meta.region_name
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards/dashboard/{quote(name)}"


def copilot_stack_names(app: str, env: str, service: str) -> tuple[str, str]:
    """Copilot's stack names: environment ``<app>-<env>``, service ``<app>-<env>-<svc>`` (cut at 128)."""
    return f"{app}-{env}", f"{app}-{env}-{service}"[:128]


def copilot_service_url(cloudformation: BaseClient, app: str, env: str, service: str) -> str:
    """The public URL of a Copilot Load Balanced Web Service (see the module docstring for the rules)."""
    env_stack_name, service_stack_name = copilot_stack_names(app, env, service)
    service_stack = describe_stack(cloudformation, service_stack_name)
    env_stack = describe_stack(cloudformation, env_stack_name)
    if service_stack.parameters.get("HTTPSEnabled") == "true":
        return f"https://{service}.{env_stack.output(COPILOT_SUBDOMAIN_OUTPUT)}"
    path = service_stack.parameters.get("RulePath", "/").strip("/")
    base = f"http://{env_stack.output(COPILOT_LB_DNS_OUTPUT)}"
    return f"{base}/{path}" if path else base


def discover(
    cloudformation: BaseClient,
    sam_stack: str | None = None,
    copilot_app: str | None = None,
    copilot_env: str | None = None,
    copilot_service: str = DEFAULT_COPILOT_SERVICE,
) -> dict[str, str]:
    """``{"lambda": url, "ecs": url}`` for whichever of the two was asked for."""
    if not sam_stack and not copilot_app:
        raise OpsError("name a SAM stack (--stack) and/or a Copilot application (--copilot-app with --env)")
    if copilot_app and not copilot_env:
        raise OpsError("--copilot-app needs --env (the Copilot environment, e.g. staging)")
    endpoints = {}
    if sam_stack:
        endpoints["lambda"] = sam_api_url(cloudformation, sam_stack)
    if copilot_app and copilot_env:
        endpoints["ecs"] = copilot_service_url(cloudformation, copilot_app, copilot_env, copilot_service)
    return endpoints
