"""The deploy role (infra/deploy-role.yaml), offline.

- cfn-lint (with its informational IAM rules) is clean on it, and fails on a policy with an unknown action;
- its policy is least privilege by cfn-lint's own IAM reference data: every action exists, ``"*"`` only for
  actions with no resource-level permission, every ARN of a resource type its actions act on;
- it trusts one repository's workflow, on main and in the environment the deploy job uses.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from inference.settings import REPO_ROOT
from tests.test_consistency import workflow
from tests.test_sam_template import offline_aws  # noqa: F401 (a fixture)
from tests.test_shared_stack import lint, load_template, stack_evaluator

DEPLOY_ROLE = REPO_ROOT / "infra" / "deploy-role.yaml"


@pytest.mark.usefixtures("offline_aws")
def test_cfn_lint_is_clean_with_its_iam_rules():
    result = lint(DEPLOY_ROLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.usefixtures("offline_aws")
def test_cfn_lint_rejects_an_unknown_iam_action(tmp_path):
    broken = tmp_path / "deploy-role.yaml"
    broken.write_text(DEPLOY_ROLE.read_text().replace("eks:DescribeCluster", "eks:DescribeClusters"))
    result = lint(broken)
    assert result.returncode != 0 and "W3037" in result.stdout, result.stdout


def iam_data() -> dict[str, Any]:
    """cfn-lint's IAM reference: per service prefix, each action's resource types and each type's ARN formats."""
    from cfnlint.data import AdditionalSpecs
    from cfnlint.helpers import load_resource

    return load_resource(AdditionalSpecs, "Policies.json")


def policy_statements() -> list[dict[str, Any]]:
    template = load_template(DEPLOY_ROLE)
    overrides = {"GitHubRepository": "example/sentiment"}
    resolve = stack_evaluator(template, overrides, {}).resolve
    (policy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    return resolve(policy["Properties"]["PolicyDocument"])["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def arn_pattern(arn_format: str) -> re.Pattern[str]:
    """An IAM data ARN format (``arn:${Partition}:ecr:${Region}:${Account}:repository/.*``) as a regex."""
    pattern = re.sub(r"\$\{[^}]+\}", "[^:]+", arn_format.replace("*", ".*"))
    return re.compile(pattern.replace("[^:]+", "(?:[^:]+)").replace(".*.*", ".*"))


# Grants AWS documents that the IAM reference data has no resource type for: (action, ARN prefix, why).
DOCUMENTED_EXTRA_RESOURCES = (
    (
        "cloudformation:CreateChangeSet",
        "arn:aws:cloudformation:us-east-1:aws:transform/",
        "a change set that uses the SAM transform needs it on the transform (AWS::Serverless-2016-10-31)",
    ),
)


def test_deploy_policy_is_least_privilege_by_the_iam_reference():
    data = iam_data()
    problems = []
    for statement in policy_statements():
        sid = statement.get("Sid", "?")
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        resources = as_list(statement["Resource"])
        for action in as_list(statement["Action"]):
            prefix, name = action.split(":")
            assert "*" not in name, f"{sid}: wildcard action {action}"
            types = data[prefix]["Actions"][name.lower()].get("Resources", [])
            if resources == ["*"]:
                if types:
                    problems.append(f'{sid}: {action} supports resources {types} but is granted on "*"')
                continue
            formats = [f for t in types for f in data[prefix]["Resources"][t.lower()]["ARNFormats"]]
            for resource in resources:
                documented = any(action == a and resource.startswith(p) for a, p, _ in DOCUMENTED_EXTRA_RESOURCES)
                if not documented and not any(arn_pattern(f).fullmatch(resource) for f in formats):
                    problems.append(f"{sid}: {action} acts on {types}, not on {resource}")
    assert not problems, "\n".join(problems)


def test_deploy_role_trusts_only_this_repository_on_main_and_prod():
    template = load_template(DEPLOY_ROLE)
    resolve = stack_evaluator(template, {"GitHubRepository": "example/sentiment"}, {}).resolve
    (role,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    (trust,) = resolve(role["Properties"]["AssumeRolePolicyDocument"])["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"]["StringEquals"] == {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
    subjects = trust["Condition"]["StringLike"]["token.actions.githubusercontent.com:sub"]
    assert sorted(subjects) == ["repo:example/sentiment:environment:prod", "repo:example/sentiment:ref:refs/heads/main"]
    deploy_job = next(job for job in workflow()["jobs"].values() if "matrix" in job.get("strategy", {}))
    assert deploy_job["environment"] == "prod"


def test_deploy_role_reads_the_shared_stack_the_workflow_names():
    parameters = load_template(DEPLOY_ROLE)["Parameters"]
    env = workflow()["env"]
    assert env["SHARED_STACK"] == parameters["SharedStackName"]["Default"]
    assert env["SAM_STACK"] == parameters["SamStackName"]["Default"]
    assert env["EKS_CLUSTER"] == parameters["EksClusterName"]["Default"]
    assert env["IMAGE_NAME"] == parameters["RepositoryName"]["Default"]
    workspace = yaml.safe_load((REPO_ROOT / "copilot" / ".workspace").read_text())
    service = yaml.safe_load((REPO_ROOT / "copilot" / "api" / "manifest.yml").read_text())
    assert parameters["CopilotApp"]["Default"] == workspace["application"]
    assert parameters["CopilotService"]["Default"] == service["name"]
    assert (REPO_ROOT / "copilot" / "environments" / parameters["CopilotEnv"]["Default"]).is_dir()
