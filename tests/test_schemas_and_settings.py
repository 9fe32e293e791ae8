"""The API contract's limits and messages, and the settings object: bounds, one-line errors, CPU count, docs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from inference import schemas
from inference.schemas import build_request_models, request_models, validation_error_body
from inference.settings import (
    REPO_ROOT,
    Settings,
    SettingsError,
    available_cpus,
    cgroup_cpu_limit,
    environment_variable_names,
    get_settings,
    pin_process,
    quota_cpu_set,
)

DEFAULTS = build_request_models(20_000, 64)


def messages(model, payload) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    return [(item["field"], item["message"]) for item in validation_error_body(caught.value)["detail"]]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"text": ""}, "text must not be empty or whitespace only"),
        ({"text": " \n\t "}, "text must not be empty or whitespace only"),
        ({"text": "\u001d\u0085"}, "text must not be empty or whitespace only"),
        ({"text": "\ufeff"}, "text must not be empty or whitespace only"),
        ({"text": "a" * 20_001}, "text has 20001 characters; the limit is 20000"),
        ({"text": 42}, "Input should be a valid string"),
        ({}, "Field required"),
        ({"text": "fine", "extra": 1}, "Extra inputs are not permitted"),
    ],
)
def test_predict_request_limits(payload, expected):
    assert [message for _, message in messages(DEFAULTS.predict, payload)] == [expected]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"texts": []}, ("texts", "texts must hold at least one text")),
        ({"texts": ["a"] * 65}, ("texts", "texts holds 65 texts; the limit is 64")),
        ({"texts": ["good", "  "]}, ("texts.1", "text must not be empty or whitespace only")),
        ({"texts": ["good", "a" * 20_001]}, ("texts.1", "text has 20001 characters; the limit is 20000")),
        ({"texts": "one text"}, ("texts", "Input should be a valid list")),
    ],
)
def test_batch_request_limits(payload, expected):
    assert messages(DEFAULTS.batch, payload) == [expected]


def test_limits_at_the_boundary_are_accepted():
    assert DEFAULTS.predict.model_validate({"text": "a" * 20_000})
    assert len(DEFAULTS.batch.model_validate({"texts": ["a"] * 64}).texts) == 64


def test_limits_follow_the_environment(monkeypatch):
    monkeypatch.setenv("MAX_TEXT_CHARS", "10")
    monkeypatch.setenv("MAX_BATCH_SIZE", "2")
    models = request_models(Settings())
    assert messages(models.predict, {"text": "a" * 11}) == [("text", "text has 11 characters; the limit is 10")]
    assert messages(models.batch, {"texts": ["a"] * 3}) == [("texts", "texts holds 3 texts; the limit is 2")]
    # The module-level names are the models of the process's settings.
    assert schemas.PredictRequest is models.predict and schemas.BatchPredictRequest is models.batch
    schema = models.batch.model_json_schema()["properties"]["texts"]
    assert (schema["minItems"], schema["maxItems"], schema["items"]["maxLength"]) == (1, 2, 10)


def test_largest_body_is_derived_from_the_limits():
    models = build_request_models(10, 3)
    escaped = '"' + "\\ud83d\\ude00" * 10 + '"'  # the longest encoding of the longest text
    assert models.max_body_bytes(models.predict) >= len('{"text": ' + escaped + "}")
    assert models.max_body_bytes(models.batch) >= len('{"texts": [' + ", ".join([escaped] * 3) + "]}")
    assert models.max_body_bytes(models.batch) > models.max_body_bytes(models.predict)


def test_settings_convert_types_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("MICRO_BATCH_WAIT_MS", "1.5")
    monkeypatch.setenv("MODEL_DIR", "/opt/ml/model")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    monkeypatch.setenv("MAX_BATCH_SIZE", "")  # empty counts as unset
    settings = get_settings()
    assert settings.port == 9000
    assert settings.micro_batch_wait_ms == 1.5
    assert str(settings.model_dir) == "/opt/ml/model"
    assert settings.log_level == "WARNING"
    assert settings.max_batch_size == 64


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("WEB_CONCURRENCY", "0", "greater than or equal to 1"),
        ("WEB_CONCURRENCY", "1000", "less than or equal to 256"),
        ("MAX_BATCH_SIZE", "-1", "greater than or equal to 1"),
        ("MAX_TEXT_CHARS", "0", "greater than or equal to 1"),
        ("MAX_TEXT_CHARS", "lots", "valid integer"),
        ("INFERENCE_THREADS", "0", "greater than or equal to 1"),
        ("MICRO_BATCH_MAX_SIZE", "1.5", "valid integer"),
        ("MICRO_BATCH_WAIT_MS", "-1", "greater than or equal to 0"),
        ("MICRO_BATCH_WAIT_MS", "nan", "finite number"),
        ("PORT", "eighty", "valid integer"),
        ("PORT", "70000", "less than or equal to 65535"),
        ("LOG_LEVEL", "loud", "one of CRITICAL, ERROR, WARNING, INFO, DEBUG"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_value_and_rule(monkeypatch, name, value, rule):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        get_settings()
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"invalid setting {name}={value!r}: ")
    assert rule in line


def test_several_bad_settings_share_the_line(monkeypatch):
    monkeypatch.setenv("PORT", "-1")
    monkeypatch.setenv("WEB_CONCURRENCY", "0")
    with pytest.raises(SettingsError) as caught:
        Settings()
    line = str(caught.value)
    assert "\n" not in line and "PORT='-1'" in line and "WEB_CONCURRENCY='0'" in line


def test_server_refuses_to_start_on_a_bad_setting():
    env = {**os.environ, "WEB_CONCURRENCY": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "container"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        == "error: invalid setting WEB_CONCURRENCY='0': Input should be greater than or equal to 1"
    )


def write_cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "limit"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "100000 100000\n"}, 1.0),
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "50000 100000\n"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
        ({}, None),
    ],
    ids=["v2-max", "v2-one", "v2-one-and-a-half", "v2-half", "v1-unlimited", "v1-two", "none"],
)
def test_cgroup_cpu_limit(tmp_path, files, limit):
    assert cgroup_cpu_limit(write_cgroup(tmp_path, files)) == limit


@pytest.mark.parametrize(
    ("affinity", "quota", "cpus"),
    [(8, None, 8), (8, "150000 100000", 1), (8, "50000 100000", 1), (8, "400000 100000", 4), (2, "400000 100000", 2)],
)
def test_available_cpus_is_affinity_bounded_by_the_quota(monkeypatch, tmp_path, affinity, quota, cpus):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(affinity)))
    root = write_cgroup(tmp_path, {"cpu.max": f"{quota or 'max 100000'}\n"})
    assert available_cpus(root) == cpus


@pytest.mark.parametrize(
    ("affinity", "quota", "pinned"),
    [
        ({0, 1}, "100000 100000", {0}),
        ({2, 5, 7, 9}, "150000 100000", {2, 5}),
        ({4, 6}, "50000 100000", {4}),
        ({0, 1}, "200000 100000", None),  # the quota pays for every CPU it may use: nothing to pin
        ({0, 1}, "max 100000", None),  # no quota
        ({3}, "100000 100000", None),  # already one CPU
    ],
)
def test_quota_cpu_set_takes_the_lowest_cpus_the_quota_pays_for(monkeypatch, tmp_path, affinity, quota, pinned):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(affinity))
    root = write_cgroup(tmp_path, {"cpu.max": f"{quota}\n"})
    assert quota_cpu_set(root) == pinned


def test_web_concurrency_defaults_to_the_cpus_available(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert Settings().web_concurrency == available_cpus()
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert Settings().web_concurrency == 3


def settings_table() -> dict[str, list[str]]:
    """docs/settings.md's table: variable name to its cells."""
    rows = re.findall(r"^\| `([A-Z_]+)` \|(.*)\|$", (REPO_ROOT / "docs" / "settings.md").read_text(), re.MULTILINE)
    return {name: [cell.strip() for cell in cells.split("|")] for name, cells in rows}


def test_docs_document_every_setting():
    assert set(settings_table()) == set(environment_variable_names())


def test_docs_state_each_numeric_bound():
    """The "allowed" column says ``low to high`` with the field's own bounds wherever the field has them."""
    table = settings_table()
    for name, field in Settings.model_fields.items():
        bounds = {type(item).__name__: item for item in field.metadata}
        if "Ge" in bounds and "Le" in bounds:
            allowed = table[name.upper()][1]
            low, high = (f"{float(bound):.12g}" for bound in (bounds["Ge"].ge, bounds["Le"].le))
            assert allowed == f"{low} to {high}", (name, allowed)


def test_pin_process_sets_every_threads_affinity(monkeypatch, tmp_path):
    for task in ("101", "102", "107"):
        (tmp_path / task).mkdir()
    calls: dict[int, set[int]] = {}
    monkeypatch.setattr(os, "sched_setaffinity", lambda tid, cpus: calls.__setitem__(tid, cpus))
    pin_process({3}, tmp_path)
    assert calls == {101: {3}, 102: {3}, 107: {3}}
