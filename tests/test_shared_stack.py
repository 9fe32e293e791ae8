"""The shared stack (infra/shared.yaml), offline (the deploy role: tests/test_deploy_role.py).

- cfn-lint (with its informational rules) is clean on the template;
- the dashboard body is JSON whose metrics in the handlers' namespace are the ones the handlers really emit
  (run through Powertools here, EMF parsed from stdout), with the dimension names they emit and the
  dimension values template.yaml and the deployment files give;
- deployed to moto's CloudFormation it creates the repository, the topic and its e-mail subscription and the
  dashboard. moto's CloudFormation does not create ``AWS::CloudWatch::Alarm`` resources and ignores the
  repository's ``LifecyclePolicy`` property, so those go to moto's CloudWatch and ECR APIs as CloudFormation
  would send them (botocore validates every parameter; moto validates the lifecycle policy);
- ``python -m ops dashboard-url`` prints the dashboard's console URL from the deployed stack.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from inference.settings import REPO_ROOT, Settings
from infra import cfn
from infra.dashboard_picture import dashboard_body, draw
from loadtest.capacity import CapacityConfig
from ops.cli import main as ops_main
from tests.test_consistency import k8s_objects, workflow
from tests.test_sam_template import offline_aws  # noqa: F401 (a fixture)

SHARED = REPO_ROOT / "infra" / "shared.yaml"
SAM_TEMPLATE = REPO_ROOT / "template.yaml"
K8S = REPO_ROOT / "eksctl" / "k8s"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "sentiment-shared"
# The names the targets generate, as the second deployment passes them (docs/deploy/shared-stack.md).
GENERATED = {
    "LambdaFunctionName": "sentiment-api-SentimentFunction-AbC123",
    "HttpApiId": "a1b2c3d4e5",
    "EcsClusterName": "sentiment-prod-Cluster-XyZ",
    "EcsServiceName": "sentiment-prod-api-Service-QwE",
    "EcsLoadBalancer": "app/sentim-Publi-1A2B3C/0123456789abcdef",
    "EcsTargetGroup": "targetgroup/sentim-Targe-4D5E6F/fedcba9876543210",
    "EksLoadBalancer": "app/k8s-sentimen-sentimen-9f8e7d6c5b/0123456789abcdef",
    "EksTargetGroup": "targetgroup/k8s-sentimen-sentimen-1a2b3c4d5e/0123456789abcdef",
}
ALB = "AWS/ApplicationELB"
# What the issue asks the alarms to watch: (namespace, metric, the GENERATED parameters its dimensions hold)
# -> a description. The ALB alarms are per platform: ECS's and EKS's load balancer and target group.
REQUIRED_ALARMS = {
    ("AWS/ApiGateway", "5xx", ("HttpApiId",)): "API Gateway 5xx rate",
    ("AWS/Lambda", "Errors", ("LambdaFunctionName",)): "Lambda errors",
    ("AWS/Lambda", "Throttles", ("LambdaFunctionName",)): "Lambda throttles",
    ("AWS/ApiGateway", "Latency", ("HttpApiId",)): "Lambda platform p99 latency",
    **{
        (ALB, metric, (f"{platform}LoadBalancer", f"{platform}TargetGroup")): f"{platform.upper()} {what}"
        for platform in ("Ecs", "Eks")
        for metric, what in (
            ("HTTPCode_Target_5XX_Count", "ALB target 5xx"),
            ("UnHealthyHostCount", "ALB unhealthy hosts"),
            ("TargetResponseTime", "p99 latency"),
        )
    },
}


def generated_parameters(values: Iterable[str]) -> tuple[str, ...]:
    """The GENERATED parameters whose values are among ``values`` (a metric's dimension values), sorted."""
    present = set(values)
    return tuple(sorted(name for name, value in GENERATED.items() if value in present))


def load_template(path: Path) -> dict[str, Any]:
    assert path.is_file(), f"{path.relative_to(REPO_ROOT)} is missing"
    return cfn.load_template(path)


def stack_evaluator(
    template: Mapping[str, Any], overrides: Mapping[str, str], physical: Mapping[str, str]
) -> cfn.Evaluator:
    """infra.cfn's evaluator with this test's account, region and stack name."""
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::StackName": STACK}
    return cfn.Evaluator(template, overrides, physical, pseudo)


@pytest.fixture(scope="module")
def shared() -> dict[str, Any]:
    return load_template(SHARED)


TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-AlarmTopic"


def evaluator(shared: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> cfn.Evaluator:
    return stack_evaluator(shared, overrides or {}, {"AlarmTopic": TOPIC_ARN, "Repository": "sentiment-api"})


def dashboard(shared: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, Any]:
    (properties,) = evaluator(shared, overrides).resources("AWS::CloudWatch::Dashboard").values()
    return json.loads(properties["DashboardBody"])


# ----------------------------------------------------------------------------------- linters


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CFN_LINT), "--include-checks", "I", "--", str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.usefixtures("offline_aws")
def test_cfn_lint_is_clean_on_the_shared_template():
    result = lint(SHARED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


# ----------------------------------------------------------------------------------- what the handlers emit


@pytest.fixture(scope="module")
def emitted(handlers) -> dict[str, tuple[str, frozenset[str], dict[str, str]]]:
    """metric name -> (namespace, dimension names, dimension values) from the EMF the Powertools handler and
    functions.telemetry print: one /health and one /predict invocation (the first records ColdStart)."""
    import contextlib
    import io

    from aws_lambda_powertools.metrics.provider.base import reset_cold_start_flag_provider

    from functions.apigw import LocalLambdaContext, http_api_event
    from functions.telemetry import report_init

    module = handlers["powertools"]
    reset_cold_start_flag_provider()  # a new execution environment, whatever other tests invoked before
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        body, headers = json.dumps({"text": "a fine film"}), {"content-type": "application/json"}
        response = module.lambda_handler(http_api_event("POST", "/predict", body, headers), LocalLambdaContext())
        module.lambda_handler(http_api_event("GET", "/health"), LocalLambdaContext())
        report_init(module.logger, module.settings, module.service.model.info, 0.0, "test")
    assert response["statusCode"] == 200, response
    found = {}
    for line in out.getvalue().splitlines():
        if '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            (dimensions,) = directive["Dimensions"]
            for metric in directive["Metrics"]:
                found[metric["Name"]] = (
                    directive["Namespace"],
                    frozenset(dimensions),
                    {name: record[name] for name in dimensions},
                )
    return found


def source_metric_names() -> set[str]:
    """Metric names written in functions/*.py (``add_metric(name=...)``, ``single_metric(name=...)``)."""
    names = set()
    for path in (REPO_ROOT / "functions").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "add_metric",
                "single_metric",
            ):
                names |= {k.value.value for k in node.keywords if k.arg == "name" and isinstance(k.value, ast.Constant)}
    return names


def sam_defaults() -> tuple[str, str]:
    """(MetricsNamespace default, service name) of template.yaml: what the deployed function emits; the service
    name is the settings' default unless the template sets POWERTOOLS_SERVICE_NAME."""
    template = load_template(SAM_TEMPLATE)
    (function,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    default_service = Settings.model_fields["powertools_service_name"].default
    return template["Parameters"]["MetricsNamespace"]["Default"], variables.get(
        "POWERTOOLS_SERVICE_NAME", default_service
    )


SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\}(?P<terms>[^']*)',")


def dashboard_metrics(body: Mapping[str, Any]) -> list[tuple[str, str, dict[str, str] | frozenset[str]]]:
    """(namespace, metric, dimensions) of every widget: a dict of values for metric arrays, the set of
    dimension names for a SEARCH expression's schema."""
    found = []
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], dict):
                match = SEARCH.search(row[0]["expression"])
                if match:
                    namespace, *dimensions = [part.strip() for part in match["schema"].split(",")]
                    metric = re.search(r'MetricName="([^"]+)"', match["terms"])[1]
                    found.append((namespace, metric, frozenset(dimensions)))
                continue
            strings = [item for item in row if isinstance(item, str)]
            namespace, metric, *pairs = strings
            found.append((namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def test_dashboard_shows_every_metric_the_handlers_emit_as_they_emit_it(shared, emitted):
    namespace, service = sam_defaults()
    parameters = shared["Parameters"]
    assert parameters["MetricsNamespace"]["Default"] == namespace, "MetricsNamespace differs from template.yaml"
    assert parameters["ServiceDimension"]["Default"] == service, "ServiceDimension is not POWERTOOLS_SERVICE_NAME"
    assert source_metric_names() <= set(emitted), "a metric in functions/ was not emitted by the invocations"
    assert {"ColdStart", "PredictionLatency", "Predictions", "InitDuration", "ModelLoadDuration"} <= set(emitted)

    for overrides in ({}, GENERATED):
        on_dashboard = [m for m in dashboard_metrics(dashboard(shared, overrides)) if m[0] == namespace]
        assert {m[1] for m in on_dashboard} == set(emitted), (
            f"handler metrics on the dashboard ({overrides or 'defaults'})"
        )
        for _, metric, dimensions in on_dashboard:
            emitted_namespace, names, values = emitted[metric]
            assert emitted_namespace == namespace
            if isinstance(dimensions, frozenset):
                assert dimensions == names, f"{metric}: SEARCH schema {sorted(dimensions)}, emitted {sorted(names)}"
            else:
                assert set(dimensions) == names, f"{metric}: dashboard dimensions {dimensions}, emitted {sorted(names)}"
                assert dimensions["service"] == service == values["service"]


def test_dashboard_dimensions_are_the_deployment_files_names(shared):
    cluster = yaml.safe_load((REPO_ROOT / "eksctl" / "cluster.yaml").read_text())
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    service = yaml.safe_load((K8S / "service.yaml").read_text())
    deployment = yaml.safe_load((K8S / "deployment.yaml").read_text())
    defaults = {name: spec.get("Default") for name, spec in shared["Parameters"].items()}
    assert defaults["EksClusterName"] == cluster["metadata"]["name"] == workflow()["env"]["EKS_CLUSTER"]
    assert defaults["EksNamespace"] == kustomization["namespace"]
    assert defaults["EksServiceName"] == service["metadata"]["name"] == deployment["metadata"]["name"]
    # ECS task metrics come from Container Insights, which the Copilot environments turn on.
    for env in ("prod", "staging"):
        manifest = yaml.safe_load((REPO_ROOT / "copilot" / "environments" / env / "manifest.yml").read_text())
        assert manifest["observability"]["container_insights"] is True, f"Copilot {env}: Container Insights off"
    # EKS pod and node metrics come from Container Insights, which the CloudWatch observability add-on
    # publishes; it needs CloudWatchAgentServerPolicy, here through a Pod Identity association.
    addons = {addon["name"]: addon for addon in cluster["addons"]}
    assert "amazon-cloudwatch-observability" in addons, "eksctl/cluster.yaml: no add-on publishes ContainerInsights"
    (association,) = addons["amazon-cloudwatch-observability"]["podIdentityAssociations"]
    assert association["permissionPolicyARNs"] == ["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]
    assert (association["namespace"], association["serviceAccountName"]) == ("amazon-cloudwatch", "cloudwatch-agent")
    assert "eks-pod-identity-agent" in addons, "a Pod Identity association without the agent that serves it"
    metrics = dashboard_metrics(dashboard(shared, GENERATED))
    assert "ContainerInsights" in {ns for ns, _, _ in metrics}
    values = {(ns, metric): dims for ns, metric, dims in metrics if isinstance(dims, dict)}
    assert values[("ContainerInsights", "service_number_of_running_pods")] == {
        "ClusterName": defaults["EksClusterName"],
        "Namespace": defaults["EksNamespace"],
        "Service": defaults["EksServiceName"],
    }
    assert values[("AWS/Lambda", "ConcurrentExecutions")] == {"FunctionName": GENERATED["LambdaFunctionName"]}
    assert values[("ECS/ContainerInsights", "RunningTaskCount")] == {
        "ClusterName": GENERATED["EcsClusterName"],
        "ServiceName": GENERATED["EcsServiceName"],
    }


def test_dashboard_reads_the_eks_ingress_alb_as_it_reads_ecs_alb(shared):
    """EKS's load balancer is the ALB the controller makes for the Ingress (class alb), not an NLB: its
    widgets read the metrics ECS's do, with the EKS ALB's dimensions (a load-balancer-wide metric only
    LoadBalancer)."""
    ((_, ingress),) = k8s_objects("Ingress")
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert shared["Parameters"]["EksLoadBalancer"]["AllowedPattern"] == "^$|^app/.+", "not an ALB's name"
    metrics = dashboard_metrics(dashboard(shared, GENERATED))
    assert not [m for m in metrics if m[0] == "AWS/NetworkELB"], "NLB metrics on the dashboard"
    by_platform: dict[str, set[str]] = {"Ecs": set(), "Eks": set()}
    for namespace, metric, dimensions in metrics:
        if namespace != ALB:
            continue
        (platform,) = {name[:3] for name in generated_parameters(dimensions.values())}
        expected = {"LoadBalancer": GENERATED[f"{platform}LoadBalancer"]}
        if "TargetGroup" in dimensions:
            expected["TargetGroup"] = GENERATED[f"{platform}TargetGroup"]
        assert dimensions == expected, f"{platform} {metric}: {dimensions}"
        by_platform[platform].add(metric)
    assert by_platform["Eks"] == by_platform["Ecs"], by_platform
    http_level = {"RequestCount", "TargetResponseTime", "HTTPCode_Target_5XX_Count", "UnHealthyHostCount"}
    assert http_level <= by_platform["Eks"], by_platform["Eks"]


def test_dashboard_puts_the_three_platforms_side_by_side(shared):
    for overrides in ({}, GENERATED):
        body = dashboard(shared, overrides)
        rows: dict[int, list[int]] = {}
        for widget in body["widgets"]:
            assert {"type", "x", "y", "width", "height", "properties"} <= set(widget)
            if widget["width"] == 8:
                rows.setdefault(widget["y"], []).append(widget["x"])
        assert len(rows) >= 5, rows  # heading, requests, latency, errors, capacity
        assert all(sorted(xs) == [0, 8, 16] for xs in rows.values()), rows
    titles = " ".join(w["properties"].get("title", "") for w in dashboard(shared, GENERATED)["widgets"])
    for word in ("requests", "latency", "errors", "capacity"):
        assert titles.count(word) >= 2, f"fewer than two platforms show {word}"


def test_alarms_cover_the_issue_and_notify_the_topic(shared):
    alarms = evaluator(shared, GENERATED).resources("AWS::CloudWatch::Alarm")
    watched = {}
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [TOPIC_ARN], f"{name} notifies nobody"
        stats = [q["MetricStat"]["Metric"] for q in alarm.get("Metrics", []) if "MetricStat" in q] or [alarm]
        for metric in stats:
            names = generated_parameters(d["Value"] for d in metric["Dimensions"])
            watched[(metric["Namespace"], metric["MetricName"], names)] = name
    missing = {what for key, what in REQUIRED_ALARMS.items() if key not in watched}
    assert not missing, f"no alarm for {sorted(missing)}"
    on_dashboard = {
        (ns, metric, generated_parameters(dims.values()))
        for ns, metric, dims in dashboard_metrics(dashboard(shared, GENERATED))
        if isinstance(dims, dict)
    }
    assert set(watched) <= on_dashboard, f"alarmed metrics missing from the dashboard: {set(watched) - on_dashboard}"
    # Without the generated names no alarm could watch anything, so none is created.
    assert evaluator(shared).resources("AWS::CloudWatch::Alarm") == {}


def test_latency_objective_is_the_load_tests_p99_budget(shared):
    (budget,) = [f.default for f in dataclasses.fields(CapacityConfig) if f.name == "budget_ms"]
    assert float(shared["Parameters"]["LatencySloMs"]["Default"]) == budget


# ----------------------------------------------------------------------------------- the repository


def test_repository_is_the_one_the_workflow_and_kubernetes_use(shared):
    name = shared["Parameters"]["RepositoryName"]["Default"]
    assert name == workflow()["env"]["IMAGE_NAME"]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    registry, repository = image["newName"].split("/", 1)
    assert repository == name and registry.endswith(f".dkr.ecr.{REGION}.amazonaws.com"), image


def test_lifecycle_policy_keeps_what_a_rollback_needs(shared):
    properties = evaluator(shared).resources("AWS::ECR::Repository")["Repository"]
    rules = json.loads(properties["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    by_status = {rule["selection"]["tagStatus"]: rule for rule in rules}
    assert by_status["untagged"]["selection"]["countType"] == "sinceImagePushed"
    keep = by_status["tagged"]["selection"]
    # Count tagged images only: the untagged per-architecture manifests of a multi-arch image are not releases.
    assert keep["countType"] == "imageCountMoreThan" and keep["tagPatternList"] == ["*"]
    deployment = yaml.safe_load((K8S / "deployment.yaml").read_text())
    assert keep["countNumber"] >= deployment["spec"]["revisionHistoryLimit"] + 1, (
        "the lifecycle policy would expire images `kubectl rollout undo` can go back to"
    )
    assert properties["ImageTagMutability"] == "IMMUTABLE"
    assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}


# ----------------------------------------------------------------------------------- deployed to moto


def cloudformation_alarm_call(name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """PutMetricAlarm's parameters for an AWS::CloudWatch::Alarm (the names are the same; numbers are numbers)."""
    call = {"AlarmName": f"{STACK}-{name}", **properties}
    call["Threshold"] = float(call["Threshold"])
    for key in ("EvaluationPeriods", "DatapointsToAlarm", "Period"):
        if key in call:
            call[key] = int(call[key])
    for query in call.get("Metrics", []):
        if "MetricStat" in query:
            query["MetricStat"]["Period"] = int(query["MetricStat"]["Period"])
    return call


@pytest.fixture
def aws(dummy_aws_credentials):
    with mock_aws():
        yield {name: boto3.client(name, region_name=REGION) for name in ("cloudformation", "ecr", "sns", "cloudwatch")}


def deploy(aws, parameters: Mapping[str, str]) -> dict[str, str]:
    client = aws["cloudformation"]
    client.create_stack(
        StackName=STACK,
        TemplateBody=SHARED.read_text(),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
    )
    (stack,) = client.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    return {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}


def test_moto_deployment_creates_every_resource(aws, shared):
    parameters = {**GENERATED, "AlarmEmail": "oncall@example.com"}
    outputs = deploy(aws, parameters)
    expected = evaluator(shared, parameters)

    (repository,) = aws["ecr"].describe_repositories(repositoryNames=[outputs["RepositoryName"]])["repositories"]
    assert repository["repositoryUri"] == outputs["RepositoryUri"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    # moto keeps ImageScanningConfiguration in CloudFormation's casing (ScanOnPush), which the ECR API's shape
    # drops; test_lifecycle_policy_keeps_what_a_rollback_needs checks the property instead.

    subscriptions = aws["sns"].list_subscriptions_by_topic(TopicArn=outputs["AlarmTopicArn"])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "oncall@example.com")]

    body = aws["cloudwatch"].get_dashboard(DashboardName=outputs["DashboardName"])["DashboardBody"]
    (properties,) = expected.resources("AWS::CloudWatch::Dashboard").values()
    assert json.loads(body) == json.loads(properties["DashboardBody"]), "moto and this test resolve the body apart"

    # moto's CloudFormation skips these three; send them to the APIs as CloudFormation would.
    assert aws["cloudwatch"].describe_alarms()["MetricAlarms"] == [], "moto now creates alarms: test them directly"
    lifecycle = expected.resources("AWS::ECR::Repository")["Repository"]["LifecyclePolicy"]["LifecyclePolicyText"]
    aws["ecr"].put_lifecycle_policy(repositoryName=outputs["RepositoryName"], lifecyclePolicyText=lifecycle)
    stored = aws["ecr"].get_lifecycle_policy(repositoryName=outputs["RepositoryName"])["lifecyclePolicyText"]
    assert json.loads(stored) == json.loads(lifecycle)

    topic = outputs["AlarmTopicArn"]
    (topic_policy,) = (
        stack_evaluator(shared, parameters, {"AlarmTopic": topic}).resources("AWS::SNS::TopicPolicy").values()
    )
    aws["sns"].set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(topic_policy["PolicyDocument"])
    )
    (statement,) = json.loads(aws["sns"].get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and statement["Resource"] == topic
    alarms = stack_evaluator(shared, parameters, {"AlarmTopic": topic}).resources("AWS::CloudWatch::Alarm")
    for name, properties in alarms.items():
        aws["cloudwatch"].put_metric_alarm(**cloudformation_alarm_call(name, properties))
    described = aws["cloudwatch"].describe_alarms()["MetricAlarms"]
    assert {a["AlarmName"] for a in described} == {f"{STACK}-{name}" for name in shared_alarm_names(shared)}
    assert all(alarm["AlarmActions"] == [topic] for alarm in described)
    # The EKS alarms moto stored watch the EKS ALB: 5xx rate, unhealthy hosts, p99 latency.
    eks = {
        metric["MetricName"]
        for alarm in described
        for metric in [q["MetricStat"]["Metric"] for q in alarm.get("Metrics", []) if "MetricStat" in q] or [alarm]
        if {"Name": "LoadBalancer", "Value": GENERATED["EksLoadBalancer"]} in metric["Dimensions"]
    }
    assert eks == {"HTTPCode_Target_5XX_Count", "RequestCount", "UnHealthyHostCount", "TargetResponseTime"}, eks


def shared_alarm_names(shared: Mapping[str, Any]) -> list[str]:
    return [name for name, r in shared["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"]


def test_moto_deployment_with_the_defaults_has_no_subscription(aws):
    outputs = deploy(aws, {})
    assert aws["sns"].list_subscriptions_by_topic(TopicArn=outputs["AlarmTopicArn"])["Subscriptions"] == []
    body = json.loads(aws["cloudwatch"].get_dashboard(DashboardName=outputs["DashboardName"])["DashboardBody"])
    assert body["widgets"]


def test_moto_rejects_a_broken_lifecycle_policy(aws):
    outputs = deploy(aws, {})
    with pytest.raises(aws["ecr"].exceptions.InvalidParameterException):
        aws["ecr"].put_lifecycle_policy(
            repositoryName=outputs["RepositoryName"],
            lifecyclePolicyText=json.dumps(
                {"rules": [{"rulePriority": 1, "description": "no selection at all", "selection": {}, "action": {}}]}
            ),
        )


# ----------------------------------------------------------------------------------- the documentation

PAGE = REPO_ROOT / "docs" / "deploy" / "shared-stack.md"


def page_table(heading: str) -> list[list[str]]:
    """The rows (cells, stripped) of the first table under ``## heading`` in the shared stack's page."""
    text = PAGE.read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def alarm_metric_count(alarm: Mapping[str, Any]) -> int:
    """Metrics CloudWatch bills an alarm for: one, or each metric a metric math alarm reads."""
    return len([q for q in alarm.get("Metrics", []) if "MetricStat" in q]) or 1


def test_page_lists_every_widget_and_alarm(shared):
    titles = {w["properties"]["title"] for w in dashboard(shared, GENERATED)["widgets"] if "title" in w["properties"]}
    documented = {row[0] for row in page_table("Dashboard widgets") if not row[0].startswith("(text)")}
    assert documented == titles
    alarms = evaluator(shared, GENERATED).resources("AWS::CloudWatch::Alarm")
    rows = {row[0].strip("`"): int(row[-1]) for row in page_table("Alarms")}
    assert rows == {name: alarm_metric_count(alarm) for name, alarm in alarms.items()}


def test_documented_cost_counts_the_templates_alarm_metrics(shared):
    text = " ".join(PAGE.read_text().split())
    alarms = evaluator(shared, GENERATED).resources("AWS::CloudWatch::Alarm")
    count = sum(alarm_metric_count(alarm) for alarm in alarms.values())
    dashboards = len(evaluator(shared).resources("AWS::CloudWatch::Dashboard"))
    assert f"--shared-dashboards {dashboards} --shared-alarm-metrics {count} " in text


def test_shared_lines_are_the_same_on_every_platform():
    from costmodel.model import PLATFORMS, ModelInputs, SharedStackConfig, platform_cost
    from costmodel.pricing import load_pricing

    pricing = load_pricing()
    inputs = ModelInputs(shared=SharedStackConfig(dashboards=1, alarm_metrics=10, ecr_gb=1.0))
    for platform in PLATFORMS:
        lines = {
            i.name: i.amount
            for i in platform_cost(platform, 25_000, inputs, pricing).items
            if i.name.startswith("Shared")
        }
        assert lines == pytest.approx(
            {"Shared stack: dashboards": 3.0, "Shared stack: alarm metrics": 1.0, "Shared stack: ECR storage": 0.1}
        )
        default = platform_cost(platform, 25_000, ModelInputs(), pricing).items
        assert not [i for i in default if i.name.startswith("Shared stack")], (
            "shared stack lines are not zero by default"
        )


def test_dashboard_picture_draws_every_widget(shared, tmp_path):
    body = dashboard_body(shared)
    assert len(body["widgets"]) == len(dashboard(shared, GENERATED)["widgets"])
    assert all("<" not in w["properties"].get("markdown", "") for w in body["widgets"]), "a placeholder widget"
    png = draw(body, tmp_path / "dashboard.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](../img/shared-dashboard.png)" in PAGE.read_text()


# ----------------------------------------------------------------------------------- the workflow


def test_workflow_pushes_to_the_shared_stacks_repository(shared):
    (image_job,) = [job for job in workflow()["jobs"].values() if "outputs" in job and "uri" in job["outputs"]]
    scripts = "\n".join(step.get("run", "") for step in image_job["steps"])
    assert "create-repository" not in scripts
    (key,) = re.findall(r"OutputKey=='(\w+)'", scripts)
    assert key in shared["Outputs"] and "RepositoryUri" in str(shared["Outputs"][key]["Value"])
    (build,) = [step for step in image_job["steps"] if "build-push-action" in step.get("uses", "")]
    assert build["with"]["tags"].startswith("${{ steps.repository.outputs.uri }}:")


# ----------------------------------------------------------------------------------- python -m ops dashboard-url


def test_ops_prints_the_dashboard_url(aws, capsys):
    outputs = deploy(aws, {})
    assert ops_main(["--region", REGION, "dashboard-url", "--stack", STACK]) == 0
    url = capsys.readouterr().out.strip()
    assert url == (
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
        f"#dashboards/dashboard/{outputs['DashboardName']}"
    )


def test_ops_dashboard_url_names_a_missing_stack(aws, capsys):
    assert ops_main(["--region", REGION, "dashboard-url", "--stack", "no-such-stack"]) == 1
    assert "no-such-stack does not exist" in capsys.readouterr().err
