"""Shared fixtures: the bundled model, a tiny model built by the project's own pipeline, and paths."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from inference.settings import BUNDLED_MODEL_DIR, get_settings


@pytest.fixture(autouse=True)
def _fresh_settings():
    """Every test reads the environment it sets up, not a cached copy from an earlier test."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def bundled_model_dir() -> Path:
    """The model folder the project ships."""
    assert BUNDLED_MODEL_DIR.is_dir(), f"bundled model missing at {BUNDLED_MODEL_DIR}"
    return BUNDLED_MODEL_DIR


@pytest.fixture(scope="session")
def bundled_model(bundled_model_dir):
    """The bundled model, loaded once for the whole run."""
    from inference.model import SentimentModel

    return SentimentModel.load(bundled_model_dir)


@pytest.fixture
def model_copy(bundled_model_dir, tmp_path) -> Path:
    """A writable copy of the bundled model folder, to break in a test."""
    target = tmp_path / "model"
    shutil.copytree(bundled_model_dir, target)
    return target


@pytest.fixture
def dummy_aws_credentials(monkeypatch) -> None:
    """Dummy credentials and region, so no test can reach a real AWS account."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


HANDLER_MODULES = {"powertools": "functions.handler", "mangum": "functions.mangum_handler"}


@pytest.fixture(scope="session")
def lambda_model_dir() -> Path:
    """The model the handlers load: ``MODEL_DIR`` where set, otherwise the bundled model."""
    model_dir = Path(os.environ.get("MODEL_DIR") or BUNDLED_MODEL_DIR)
    assert model_dir.is_dir(), f"model folder missing at {model_dir} (the bundled model, or MODEL_DIR)"
    return model_dir


@pytest.fixture(scope="session")
def handlers(lambda_model_dir: Path) -> dict[str, ModuleType]:
    """Both Lambda handler modules, imported (init: model load) once with tracing off."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
        patch.setenv("MODEL_DIR", str(lambda_model_dir))
        patch.delenv("MODEL_URI", raising=False)
        return {name: importlib.import_module(module) for name, module in HANDLER_MODULES.items()}
