"""The SAM template, its samconfig.toml and the Lambda image's Dockerfile: linted by their own tools and
checked for what the deployment promises (arm64 image, alias ``live`` behind a canary that alarms roll back,
least-privilege role, throttled HTTP API with the API's three routes, CORS and IAM authorization as options).

``sam validate --lint`` and ``cfn-lint`` run here against local files only: dummy credentials, a region and a
proxy on 127.0.0.1 that refuses connections make sure nothing reaches AWS (or anywhere else).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from inference.settings import REPO_ROOT, Settings, environment_variable_names
from infra.cfn import load_template

TEMPLATE = REPO_ROOT / "template.yaml"
SAMCONFIG = REPO_ROOT / "samconfig.toml"
DOCKERFILE = REPO_ROOT / "functions" / "Dockerfile"
SAM = REPO_ROOT / ".venv-sam" / "bin" / "sam"
TOOLS = Path(sys.executable).parent
HANDLERS = {"functions.handler.lambda_handler", "functions.mangum_handler.lambda_handler"}
HEAVY_PACKAGES = ("torch", "transformers", "optimum")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """template.yaml as data, intrinsics in their long form."""
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def function(template) -> dict[str, Any]:
    """The one ``AWS::Serverless::Function``'s properties."""
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == 1
    return functions[0]["Properties"]


@pytest.fixture
def offline_aws(monkeypatch, tmp_path) -> None:
    """Dummy credentials and region; outbound HTTP(S) through a proxy on 127.0.0.1 that refuses connections;
    SAM CLI's weekly version check marked as done and its telemetry off."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAM_CLI_TELEMETRY": "0",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "__SAM_CLI_APP_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    (tmp_path / "metadata.json").write_text(json.dumps({"lastVersionCheck": time.time(), "telemetryEnabled": False}))


def run_tool(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a linter from the repository root."""
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180, check=False)


# ------------------------------------------------------------------------------------------- linters


def test_sam_validate_lint_passes(offline_aws) -> None:
    if not SAM.exists():
        pytest.skip(f"SAM CLI not installed at {SAM}: run `make {SAM.relative_to(REPO_ROOT)}`")
    result = run_tool([str(SAM), "validate", "--lint", "--template", str(TEMPLATE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_cfn_lint_passes(offline_aws) -> None:
    result = run_tool([str(TOOLS / "cfn-lint"), str(TEMPLATE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_passes_on_the_lambda_dockerfile() -> None:
    result = run_tool([str(TOOLS / "hadolint"), str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------------------------------- the function


def test_function_is_an_arm64_image_published_to_live(template, function) -> None:
    assert function["PackageType"] == "Image"
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    architecture = template["Parameters"]["Architecture"]
    assert architecture["Default"] == "arm64"
    assert set(architecture["AllowedValues"]) == {"arm64", "x86_64"}
    assert function["AutoPublishAlias"] == "live"
    assert function["MemorySize"] == {"Ref": "MemorySize"}
    assert function["Timeout"] == {"Ref": "Timeout"}


def test_entry_point_is_a_parameter_naming_the_two_handlers(template, function) -> None:
    parameter = template["Parameters"]["Handler"]
    assert set(parameter["AllowedValues"]) == HANDLERS
    assert function["ImageConfig"]["Command"] == [{"Ref": "Handler"}]
    for handler in HANDLERS:
        module, attribute = handler.rsplit(".", 1)
        source = REPO_ROOT / (module.replace(".", "/") + ".py")
        names = {node.name for node in ast.parse(source.read_text()).body if isinstance(node, ast.FunctionDef)}
        assert attribute in names, f"{source} defines no {attribute}"
    assert dockerfile_instructions("CMD") == [json.dumps([parameter["Default"]])]


def test_canary_deployment_rolls_back_on_errors_and_p99_duration(template, function) -> None:
    preference = function["DeploymentPreference"]
    assert preference["Type"] == {"Ref": "DeploymentType"}
    assert template["Parameters"]["DeploymentType"]["Default"].startswith("Canary")
    alarms = {
        template["Resources"][alarm["Ref"]]["Properties"]["MetricName"]: alarm["Ref"] for alarm in preference["Alarms"]
    }
    assert set(alarms) == {"Errors", "Duration"}
    errors = template["Resources"][alarms["Errors"]]["Properties"]
    duration = template["Resources"][alarms["Duration"]]["Properties"]
    assert errors["Statistic"] == "Sum" and errors["Threshold"] == 0
    assert duration["ExtendedStatistic"] == "p99"
    assert duration["Threshold"] == {"Ref": "P99DurationAlarmMs"}
    for alarm in (errors, duration):
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        # Only the version being deployed, reached through the alias.
        assert dimensions["ExecutedVersion"] == {"Fn::GetAtt": ["SentimentFunction", "Version.Version"]}
        assert dimensions["Resource"] == {"Fn::Sub": "${SentimentFunction}:live"}


def test_concurrency_options_are_off_by_default(template, function) -> None:
    parameters = template["Parameters"]
    assert parameters["ProvisionedConcurrency"]["Default"] == 0
    assert parameters["ReservedConcurrency"]["Default"] == -1
    assert function["ProvisionedConcurrencyConfig"]["Fn::If"][0] == "HasProvisionedConcurrency"
    assert function["ReservedConcurrentExecutions"]["Fn::If"][0] == "HasReservedConcurrency"
    conditions = template["Conditions"]
    assert conditions["HasProvisionedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ProvisionedConcurrency"}, 0]}]
    }
    assert conditions["HasReservedConcurrency"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, -1]}]}


def test_environment_sets_only_settings_and_powertools_variables(template, function) -> None:
    variables = function["Environment"]["Variables"]
    settings = set(environment_variable_names())
    unknown = [name for name in variables if name not in settings and not name.startswith("POWERTOOLS_")]
    assert not unknown
    # The image owns MODEL_DIR (where it put the model); the settings own their defaults.
    assert "MODEL_DIR" not in variables and dockerfile_env()["MODEL_DIR"] == "/opt/ml/model"
    defaults = Settings()
    restated = [name for name, value in variables.items() if str(getattr(defaults, name.lower(), None)) == value]
    assert not restated, f"template.yaml restates the settings' defaults: {restated}"
    assert template["Parameters"]["MetricsNamespace"]["Default"] == Settings().powertools_metrics_namespace
    # Tracing off in the template means the tracer is off in the code (no X-Ray SDK at init).
    assert variables["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TracingActive", "false", "true"]}
    assert function["Tracing"] == {"Ref": "Tracing"}


def test_role_is_least_privilege(template, function) -> None:
    assert function["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}
    role = template["Resources"]["FunctionRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    statements = []
    for policy in role["Policies"]:
        if "Fn::If" in policy:  # optional policy: [condition, policy, AWS::NoValue]
            assert policy["Fn::If"][2] == {"Ref": "AWS::NoValue"}
            policy = policy["Fn::If"][1]
        statements += policy["PolicyDocument"]["Statement"]
    granted = {action: statement["Resource"] for statement in statements for action in statement["Action"]}
    assert granted == {
        "logs:CreateLogStream": {"Fn::GetAtt": ["FunctionLogGroup", "Arn"]},
        "logs:PutLogEvents": {"Fn::GetAtt": ["FunctionLogGroup", "Arn"]},
        "xray:PutTraceSegments": "*",
        "xray:PutTelemetryRecords": "*",
    }


def test_logs_go_to_a_log_group_with_retention(template, function) -> None:
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "FunctionLogGroup"}
    log_group = template["Resources"]["FunctionLogGroup"]["Properties"]
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert (
        template["Parameters"]["LogRetentionInDays"]["Default"]
        in template["Parameters"]["LogRetentionInDays"]["AllowedValues"]
    )


# ------------------------------------------------------------------------------------------- the HTTP API


def test_routes_are_the_apis_three_routes(function) -> None:
    from fastapi.routing import APIRoute

    from container.app import create_app

    app = create_app(Settings())
    api_routes = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods
    }
    events = function["Events"].values()
    sam_routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events if e["Type"] == "HttpApi"}
    assert sam_routes == api_routes == {("POST", "/predict"), ("POST", "/predict/batch"), ("GET", "/health")}
    assert {e["Properties"]["ApiId"]["Ref"] for e in events} == {"HttpApi"}


def test_api_is_throttled_and_cors_and_iam_are_options_off_by_default(template) -> None:
    parameters = template["Parameters"]
    api = template["Resources"]["HttpApi"]["Properties"]
    assert api["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
    }
    assert parameters["CorsAllowOrigins"]["Default"] == ""
    assert api["DefinitionBody"]["x-amazon-apigateway-cors"]["Fn::If"][0] == "HasCors"
    assert parameters["IamAuthorization"]["Default"] == "false"
    assert template["Conditions"]["UseIamAuthorization"] == {"Fn::Equals": [{"Ref": "IamAuthorization"}, "true"]}
    methods = [method for path in api["DefinitionBody"]["paths"].values() for method in path.values()]
    assert len(methods) == 3
    for method in methods:
        assert method["security"] == {"Fn::If": ["UseIamAuthorization", [{"AWS_IAM": []}], {"Ref": "AWS::NoValue"}]}


def test_outputs(template) -> None:
    outputs = template["Outputs"]
    assert set(outputs) == {"ApiUrl", "FunctionName", "AliasArn"}
    assert "${HttpApi}.execute-api.${AWS::Region}" in outputs["ApiUrl"]["Value"]["Fn::Sub"]
    assert outputs["FunctionName"]["Value"] == {"Ref": "SentimentFunction"}
    assert outputs["AliasArn"]["Value"] == {"Ref": "SentimentFunction.Alias"}


# Runs in SAM CLI's own virtual environment, where samtranslator lives: the SAM transform, done locally.
TRANSFORM_SCRIPT = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {}

document = yaml_parse(open(sys.argv[1]).read())
function = next(r for r in document["Resources"].values() if r["Type"] == "AWS::Serverless::Function")
function["Properties"]["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sentiment-api:test"
print(json.dumps(transform(document, json.loads(sys.argv[2]), NoManagedPolicies())))
"""


def transformed(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """template.yaml after the SAM transform, run locally by SAM CLI's samtranslator (no AWS calls)."""
    python = SAM.parent / "python"
    if not python.exists():
        pytest.skip(f"SAM CLI not installed at {SAM}: run `make {SAM.relative_to(REPO_ROOT)}`")
    result = run_tool([str(python), "-c", TRANSFORM_SCRIPT, str(TEMPLATE), json.dumps(parameters or {})])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def resources_of_type(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """Every resource of one CloudFormation type."""
    return [r for r in document["Resources"].values() if r["Type"] == kind]


def test_sam_transform_wires_canary_alias_and_api(offline_aws) -> None:
    document = transformed()
    (group,) = resources_of_type(document, "AWS::CodeDeploy::DeploymentGroup")
    assert {alarm["Name"]["Ref"] for alarm in group["Properties"]["AlarmConfiguration"]["Alarms"]} == {
        "NewVersionErrorsAlarm",
        "NewVersionP99DurationAlarm",
    }
    assert "DEPLOYMENT_STOP_ON_ALARM" in group["Properties"]["AutoRollbackConfiguration"]["Events"]
    (alias,) = resources_of_type(document, "AWS::Lambda::Alias")
    assert alias["Properties"]["Name"] == "live"
    assert "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"]
    (api,) = resources_of_type(document, "AWS::ApiGatewayV2::Api")
    for path, methods in api["Properties"]["Body"]["paths"].items():
        for method, operation in methods.items():
            integration = operation["x-amazon-apigateway-integration"]
            assert integration["payloadFormatVersion"] == "2.0", (path, method)
            assert "${SentimentFunctionAliaslive}" in integration["uri"]["Fn::Sub"], (path, method)
    permissions = resources_of_type(document, "AWS::Lambda::Permission")
    assert len(permissions) == 3
    assert all(p["Properties"]["FunctionName"] == {"Ref": "SentimentFunctionAliaslive"} for p in permissions)


# ------------------------------------------------------------------------------------------- samconfig


def override_pairs(text: str) -> dict[str, str]:
    """``parameter_overrides`` ("A=1 B=2") as a dict."""
    return dict(token.split("=", 1) for token in shlex.split(text))


@pytest.mark.parametrize("environment", ["default", "prod"])
def test_samconfig_environment_deploys_this_template(environment: str, template) -> None:
    config = tomllib.loads(SAMCONFIG.read_text())[environment]
    deploy = config["deploy"]["parameters"]
    assert deploy["stack_name"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_image_repos"] is True
    parameters = template["Parameters"]
    for name, value in override_pairs(deploy.get("parameter_overrides", "")).items():
        assert name in parameters, f"samconfig [{environment}] overrides unknown parameter {name}"
        allowed = parameters[name].get("AllowedValues")
        if allowed:
            assert value in [str(v) for v in allowed], f"{name}={value} is not one of {allowed}"


def test_samconfig_environments_are_distinct_stacks() -> None:
    config = tomllib.loads(SAMCONFIG.read_text())
    stacks = {env: config[env]["deploy"]["parameters"]["stack_name"] for env in ("default", "prod")}
    assert stacks["default"] != stacks["prod"]


# ------------------------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions(keyword: str) -> list[str]:
    """Arguments of every ``keyword`` instruction in functions/Dockerfile, continuation lines joined."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped.upper().startswith(keyword + " "):
            found.append(stripped[len(keyword) + 1 :].strip())
    return found


def dockerfile_env() -> dict[str, str]:
    """Every ``ENV name=value`` of functions/Dockerfile."""
    return dict(token.split("=", 1) for env in dockerfile_instructions("ENV") for token in shlex.split(env))


def test_dockerfile_builds_on_the_lambda_python_image_of_the_lock() -> None:
    """The base is a build argument whose default is AWS's multi-arch Python base, on the lock's Python."""
    assert dockerfile_instructions("FROM") == ["${BASE_IMAGE}"]
    (argument,) = dockerfile_instructions("ARG")
    image, _, tag = argument.removeprefix("BASE_IMAGE=").partition(":")
    assert image == "public.ecr.aws/lambda/python"
    lock_python = re.search(r"--python-version (\d+\.\d+)", (REPO_ROOT / "scripts" / "lock.sh").read_text())
    assert lock_python and tag == lock_python.group(1)


def test_dockerfile_bakes_the_model_and_installs_runtime_dependencies_only() -> None:
    assert "models/minilm-l6-sst2-int8 /opt/ml/model" in dockerfile_instructions("COPY")
    (install,) = [run for run in dockerfile_instructions("RUN") if "pip install" in run]
    assert "--require-hashes" in install and "--requirement /tmp/runtime.lock" in install
    assert "requirements/runtime.lock /tmp/runtime.lock" in dockerfile_instructions("COPY")
    lock = (REPO_ROOT / "requirements" / "runtime.lock").read_text()
    pinned = set(re.findall(r"^([A-Za-z0-9_.-]+)==", lock, flags=re.MULTILINE))
    assert not {name for name in pinned if name.lower().startswith(HEAVY_PACKAGES)}
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for requirement in extras["serve"] + extras["lambda"]:
        assert not requirement.lower().startswith(HEAVY_PACKAGES), requirement
