"""The API contract's limits and messages, and the settings object."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from inference.schemas import BatchPredictRequest, PredictRequest, validation_error_body
from inference.settings import REPO_ROOT, Settings, environment_variable_names


def messages(model, payload) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    return [item["message"] for item in validation_error_body(caught.value)["detail"]]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"text": ""}, "text must not be empty or whitespace only"),
        ({"text": " \n\t "}, "text must not be empty or whitespace only"),
        ({"text": "a" * 20_001}, "text has 20001 characters; the limit is 20000"),
        ({"text": 42}, "Input should be a valid string"),
        ({}, "Field required"),
        ({"text": "fine", "extra": 1}, "Extra inputs are not permitted"),
    ],
)
def test_predict_request_limits(payload, expected):
    assert messages(PredictRequest, payload) == [expected]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"texts": []}, "texts must hold at least one text"),
        ({"texts": ["a"] * 65}, "texts holds 65 texts; the limit is 64"),
        ({"texts": ["good", "  "]}, "texts[1]: text must not be empty or whitespace only"),
        ({"texts": "one text"}, "Input should be a valid list"),
    ],
)
def test_batch_request_limits(payload, expected):
    assert messages(BatchPredictRequest, payload) == [expected]


def test_limits_at_the_boundary_are_accepted():
    assert PredictRequest.model_validate({"text": "a" * 20_000})
    assert len(BatchPredictRequest.model_validate({"texts": ["a"] * 64}).texts) == 64


def test_limits_follow_the_environment(monkeypatch):
    monkeypatch.setenv("MAX_TEXT_CHARS", "10")
    monkeypatch.setenv("MAX_BATCH_SIZE", "2")
    assert messages(PredictRequest, {"text": "a" * 11}) == ["text has 11 characters; the limit is 10"]
    assert messages(BatchPredictRequest, {"texts": ["a"] * 3}) == ["texts holds 3 texts; the limit is 2"]


def test_settings_convert_types_and_report_bad_values():
    settings = Settings.from_env({"PORT": "9000", "MICRO_BATCH_WAIT_MS": "1.5", "MODEL_DIR": "/opt/ml/model"})
    assert settings.port == 9000
    assert settings.micro_batch_wait_ms == 1.5
    assert str(settings.model_dir) == "/opt/ml/model"
    with pytest.raises(ValueError, match="PORT='eighty'"):
        Settings.from_env({"PORT": "eighty"})


def test_docs_document_every_setting():
    section = (REPO_ROOT / "docs" / "settings.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.MULTILINE))
    assert documented == set(environment_variable_names())
