"""Model registry on S3 (moto): publish, list, fetch, MODEL_URI downloads, hash checks and botocore's retries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from moto import mock_aws

from inference import s3_model
from inference.manifest import MANIFEST_FILE, ModelLoadError, describe_files, sha256_file
from inference.s3_model import MAX_ATTEMPTS, fetch_model, forget_fetched_models, new_client, parse_s3_uri
from ops import registry
from ops.cli import main
from ops.errors import OpsError
from tests.aws_faults import RetrySleeps, fail_sends, record_retry_sleeps, s3_error

BUCKET = "sentiment-models"
PREFIX = f"s3://{BUCKET}/minilm"


@pytest.fixture
def aws(dummy_aws_credentials):
    """Dummy credentials and a moto-backed AWS for the whole test."""
    forget_fetched_models()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield
    forget_fetched_models()


@pytest.fixture
def sleeps(monkeypatch) -> RetrySleeps:
    """The waits botocore's retry handler asks for (nothing really sleeps)."""
    return record_retry_sleeps(monkeypatch)


@pytest.fixture
def s3(aws, sleeps):
    """An S3 client as every tool makes it (``new_client``: botocore's standard retry mode)."""
    return new_client("s3")


def make_model(folder: Path, version: str, accuracy: float = 0.9, created: str = "2026-11-28T00:00:00+00:00") -> Path:
    """A small fake model folder (no real ONNX needed for registry logic) with a manifest from ``describe_files``."""
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(version.encode() * 40_000)
    (folder / "tokenizer.json").write_text(json.dumps({"version": version}))
    (folder / "config.json").write_text(json.dumps({"id2label": {"0": "NEGATIVE", "1": "POSITIVE"}}))
    manifest = {
        "name": "minilm-l6-sst2-int8",
        "version": version,
        "created": created,
        "validation": {"int8_accuracy": accuracy, "fp32_accuracy": accuracy + 0.01, "label_agreement": 0.99},
        "files": describe_files(folder),
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    return folder


def test_publish_list_fetch_round_trip(s3, tmp_path):
    model = make_model(tmp_path / "v1", "20261128-aaaa1111", accuracy=0.88)
    make_model(tmp_path / "v2", "20261129-bbbb2222", accuracy=0.91, created="2026-11-29T00:00:00+00:00")

    first = registry.publish(model, PREFIX, s3)
    registry.publish(tmp_path / "v2", PREFIX + "/", s3)

    assert first.uri == f"{PREFIX}/20261128-aaaa1111"
    versions = registry.list_versions(PREFIX, s3)
    assert [v.version for v in versions] == ["20261128-aaaa1111", "20261129-bbbb2222"]
    assert [v.int8_accuracy for v in versions] == [0.88, 0.91]
    expected_size = sum(entry["bytes"] for entry in describe_files(model).values())
    assert versions[0].size_bytes == expected_size
    assert versions[0].files == 3

    fetched = registry.fetch(first.uri, tmp_path / "fetched", s3)
    assert fetched["version"] == "20261128-aaaa1111"
    for name in ("model.onnx", "tokenizer.json", "config.json", MANIFEST_FILE):
        assert sha256_file(tmp_path / "fetched" / name) == sha256_file(model / name)


def test_publish_refuses_a_folder_that_does_not_match_its_manifest(s3, tmp_path):
    model = make_model(tmp_path / "model", "20261128-aaaa1111")
    (model / "tokenizer.json").write_text("{}")
    with pytest.raises(OpsError, match=r"refusing to publish .*tokenizer\.json: sha256 .* does not match"):
        registry.publish(model, PREFIX, s3)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_publish_refuses_an_existing_version(s3, tmp_path):
    model = make_model(tmp_path / "model", "20261128-aaaa1111")
    registry.publish(model, PREFIX, s3)
    with pytest.raises(OpsError, match="already exists"):
        registry.publish(model, PREFIX, s3)


def test_fetch_refuses_a_tampered_object_and_leaves_nothing_behind(s3, tmp_path):
    location = registry.publish(make_model(tmp_path / "model", "20261128-aaaa1111"), PREFIX, s3)
    s3.put_object(Bucket=BUCKET, Key=location.key("model.onnx"), Body=b"not the published bytes")
    with pytest.raises(OpsError, match=r"model\.onnx.*sha256 .* does not match"):
        registry.fetch(location.uri, tmp_path / "out", s3)
    assert list(tmp_path.glob("out*")) == [] and list(tmp_path.glob(".out*")) == []


def test_list_marks_a_version_without_manifest_incomplete(s3, tmp_path):
    s3.put_object(Bucket=BUCKET, Key="minilm/half-uploaded/model.onnx", Body=b"x")
    (version,) = registry.list_versions(PREFIX, s3)
    assert (version.version, version.complete) == ("half-uploaded", False)


def test_fetch_model_downloads_once_and_reuses_a_verified_cache(s3, tmp_path):
    location = registry.publish(make_model(tmp_path / "model", "20261128-aaaa1111"), PREFIX, s3)
    gets = []
    s3.meta.events.register("before-call.s3.GetObject", lambda **kwargs: gets.append(1))
    cache = tmp_path / "cache"

    local = fetch_model(location.uri, cache, s3=s3)
    downloads = len(gets)
    assert downloads == 4  # the manifest and its three files
    assert fetch_model(location.uri, cache, s3=s3) == local  # same process: no S3 call at all
    forget_fetched_models()  # a new cold start with the cache still on disk
    assert fetch_model(location.uri, cache, s3=s3) == local
    assert len(gets) == downloads

    (local / "config.json").write_text("{}")  # a damaged cache is downloaded again
    forget_fetched_models()
    fetch_model(location.uri, cache, s3=s3)
    assert len(gets) == 2 * downloads
    assert sha256_file(local / "config.json") == sha256_file(tmp_path / "model" / "config.json")


def test_fetch_model_refuses_to_serve_a_model_that_fails_verification(s3, tmp_path):
    location = registry.publish(make_model(tmp_path / "model", "20261128-aaaa1111"), PREFIX, s3)
    s3.put_object(Bucket=BUCKET, Key=location.key("tokenizer.json"), Body=b"{}")
    with pytest.raises(ModelLoadError) as caught:
        fetch_model(location.uri, tmp_path / "cache", s3=s3)
    assert str(caught.value).startswith(f"cannot load model: {location.uri}/tokenizer.json: sha256 ")
    assert not (tmp_path / "cache" / BUCKET / "minilm" / "20261128-aaaa1111").exists()


def test_a_listed_file_missing_from_s3_is_named(s3, tmp_path):
    location = registry.publish(make_model(tmp_path / "model", "20261128-aaaa1111"), PREFIX, s3)
    s3.delete_object(Bucket=BUCKET, Key=location.key("tokenizer.json"))
    with pytest.raises(
        ModelLoadError, match=rf"^cannot load model: {location.uri}/tokenizer\.json: object does not exist$"
    ):
        fetch_model(location.uri, tmp_path / "cache", s3=s3)
    assert list((tmp_path / "cache" / BUCKET / "minilm").iterdir()) == []  # no partial folder left behind


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("https://example.com/model", "not an S3 URI"),
        (f"s3://{BUCKET}", "must name a version folder"),
        ("s3://Bad_Bucket/x", "not a valid S3 bucket name"),
        (f"{PREFIX}/no-such-version", "does not exist"),
        ("s3://no-such-bucket-here/minilm/v1", "bucket no-such-bucket-here does not exist"),
    ],
)
def test_fetch_model_errors_name_the_problem(s3, tmp_path, uri, reason):
    with pytest.raises(ModelLoadError, match=reason):
        fetch_model(uri, tmp_path / "cache", s3=s3)


def test_serving_settings_resolve_model_uri_through_the_cache(s3, tmp_path, monkeypatch):
    from inference.service import resolve_model_dir
    from inference.settings import Settings

    location = registry.publish(make_model(tmp_path / "model", "20261128-aaaa1111"), PREFIX, s3)
    settings = Settings(model_uri=location.uri, model_cache_dir=tmp_path / "cache")
    local = resolve_model_dir(settings)
    assert local == tmp_path / "cache" / BUCKET / "minilm" / "20261128-aaaa1111"
    assert json.loads((local / MANIFEST_FILE).read_text())["version"] == "20261128-aaaa1111"


def test_a_throttled_download_is_retried_after_a_jittered_backoff(s3, sleeps, tmp_path):
    location = registry.publish(make_model(tmp_path / "model", "20261128-aaaa1111"), PREFIX, s3)
    sleeps.clear()
    sends = fail_sends(s3, "GetObject", s3_error(503, "SlowDown"))
    local = fetch_model(location.uri, tmp_path / "cache", s3=s3)
    assert (local / "model.onnx").is_file()
    assert len(sends) == 5  # four objects, the first of them twice
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 1  # standard mode: a random wait below 2**0 s


def test_a_large_file_downloads_in_parallel_ranges_and_a_failed_range_is_retried(s3, sleeps, tmp_path, monkeypatch):
    model = make_model(tmp_path / "model", "20261128-aaaa1111")  # model.onnx: 680 000 bytes
    location = registry.publish(model, PREFIX, s3)
    small_parts = TransferConfig(multipart_threshold=256 * 1024, multipart_chunksize=256 * 1024)
    monkeypatch.setattr(s3_model, "download_config", lambda: small_parts)
    sleeps.clear()
    ranges: list[bytes] = []
    s3.meta.events.register(
        "before-send.s3.GetObject", lambda request, **kwargs: ranges.append(request.headers.get("Range"))
    )
    sends = fail_sends(s3, "GetObject", s3_error(500, "InternalError"), when=lambda request: "Range" in request.headers)

    local = fetch_model(location.uri, tmp_path / "cache", s3=s3)
    assert sha256_file(local / "model.onnx") == sha256_file(model / "model.onnx")
    assert sorted(set(filter(None, ranges))) == [b"bytes=0-262143", b"bytes=262144-524287", b"bytes=524288-"]
    assert len(sends) == 4  # three ranges, the first one to fail sent twice
    assert len(sleeps) == 1


def test_a_5xx_on_upload_is_retried_and_publish_succeeds(s3, sleeps, tmp_path):
    sends = fail_sends(s3, "PutObject", s3_error(500, "InternalError"))
    location = registry.publish(make_model(tmp_path / "model", "20261128-aaaa1111"), PREFIX, s3)
    assert len(sends) == 5  # three files and the manifest, the first file twice
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 1
    assert [v.version for v in registry.list_versions(PREFIX, s3)] == [location.prefix.rsplit("/", 1)[-1]]


def test_a_throttled_listing_page_is_retried(s3, sleeps):
    sends = fail_sends(s3, "ListObjectsV2", s3_error(503, "SlowDown"))
    assert registry.list_versions(PREFIX, s3) == []
    assert (len(sends), len(sleeps)) == (2, 1)


def test_listing_follows_every_page(s3):
    for number in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"minilm/v{number}/model.onnx", Body=b"x")
    pages = []
    s3.meta.events.register("before-call.s3.ListObjectsV2", lambda **kwargs: pages.append(1))
    s3.meta.events.register(  # one prefix per page, so the paginator has to follow the continuation tokens
        "provide-client-params.s3.ListObjectsV2", lambda params, **kwargs: {**params, "MaxKeys": 1}
    )
    assert [v.version for v in registry.list_versions(PREFIX, s3)] == ["v0", "v1", "v2"]
    assert len(pages) == 3


def test_throttling_that_does_not_stop_gives_up_after_the_configured_attempts(s3, sleeps, tmp_path):
    location = registry.publish(make_model(tmp_path / "model", "20261128-aaaa1111"), PREFIX, s3)
    sleeps.clear()
    sends = fail_sends(s3, "GetObject", s3_error(503, "SlowDown"), times=MAX_ATTEMPTS)
    with pytest.raises(ModelLoadError, match=r"manifest\.json: SlowDown: injected SlowDown"):
        fetch_model(location.uri, tmp_path / "cache", s3=s3)
    assert (len(sends), len(sleeps)) == (MAX_ATTEMPTS, MAX_ATTEMPTS - 1)


def test_errors_that_are_not_transient_are_not_retried(s3, sleeps, tmp_path):
    location = registry.publish(make_model(tmp_path / "model", "20261128-aaaa1111"), PREFIX, s3)
    sleeps.clear()
    sends = fail_sends(s3, "GetObject", s3_error(403, "AccessDenied"))
    with pytest.raises(ModelLoadError, match=r"manifest\.json: access denied"):
        fetch_model(location.uri, tmp_path / "cache", s3=s3)
    assert (len(sends), sleeps) == (1, [])


def test_parse_s3_uri_rejects_dot_segments():
    assert parse_s3_uri(f"{PREFIX}//v1/").key("manifest.json") == "minilm/v1/manifest.json"
    with pytest.raises(ValueError, match=r"'\.\.' are not allowed in the key"):
        parse_s3_uri(f"{PREFIX}/../other")


def test_cli_publish_list_fetch(aws, tmp_path, capsys):
    model = make_model(tmp_path / "model", "20261128-aaaa1111", accuracy=0.875)
    assert main(["publish", str(model), PREFIX]) == 0
    assert f"MODEL_URI={PREFIX}/20261128-aaaa1111" in capsys.readouterr().out

    assert main(["list", PREFIX, "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["version"], listed["int8_accuracy"]) == ("20261128-aaaa1111", 0.875)
    assert main(["list", PREFIX]) == 0
    table = capsys.readouterr().out
    assert "20261128-aaaa1111" in table and "87.50%" in table

    assert main(["fetch", f"{PREFIX}/20261128-aaaa1111", str(tmp_path / "copy")]) == 0
    assert "3 files verified" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["list", "s3://no-such-bucket-here/minilm"], "error: cannot list s3://no-such-bucket-here/minilm: bucket"),
        (["list", "/local/path"], "error: /local/path: not an S3 URI (expected s3://bucket/prefix)"),
        (
            ["fetch", f"{PREFIX}/missing", "out"],
            f"error: fetch failed: {PREFIX}/missing/manifest.json: object does not exist",
        ),
    ],
)
def test_cli_errors_are_one_line_without_traceback(aws, capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.startswith(message)
    assert error.count("\n") == 1 and "Traceback" not in error


def test_cli_publish_to_a_missing_bucket_and_a_bad_folder(aws, tmp_path, capsys):
    model = make_model(tmp_path / "model", "20261128-aaaa1111")
    assert main(["publish", str(model), "s3://no-such-bucket-here/minilm"]) == 1
    assert capsys.readouterr().err == "error: bucket no-such-bucket-here does not exist\n"
    shutil.rmtree(model)
    assert main(["publish", str(model), PREFIX]) == 1
    assert "model folder does not exist" in capsys.readouterr().err


def test_the_service_refuses_to_start_on_a_bad_model_uri(tmp_path):
    import subprocess
    import sys

    from inference.settings import REPO_ROOT

    env = {"PATH": "/usr/bin:/bin", "MODEL_URI": "https://example.com/model", "MODEL_CACHE_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "container"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert result.stderr == (
        "error: cannot load model: https://example.com/model: MODEL_URI: not an S3 URI (expected s3://bucket/prefix)\n"
    )
