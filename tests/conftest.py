"""Shared fixtures: the bundled model, a tiny model built by the project's own pipeline, and paths."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from inference.settings import BUNDLED_MODEL_DIR, REPO_ROOT, get_settings

SHARED_DIR = REPO_ROOT.parent / "shared"
SST2_DEV = SHARED_DIR / "data" / "sst2" / "dev.tsv"


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
