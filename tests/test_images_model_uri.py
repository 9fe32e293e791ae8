"""``MODEL_URI`` inside the container image, against a moto server on 127.0.0.1 standing in for S3.

The model is published with the project's own tool (``python -m ops publish``); the container, on the host's
network so that it reaches the server, downloads the version, verifies every hash and serves it. A tampered
object stops start-up with a message naming it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inference.settings import BUNDLED_MODEL_DIR
from tests.docker_support import (
    REPO_ROOT,
    free_port,
    image_tag,
    require_image,
    running,
    wait_for_exit,
    wait_until_ready,
)

pytestmark = pytest.mark.images

BUCKET = "sentiment-models-test"
DUMMY_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto server on a free port of 127.0.0.1, with an empty bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        boto3.client("s3", endpoint_url=endpoint, **_credentials()).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": DUMMY_AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": DUMMY_AWS["AWS_SECRET_ACCESS_KEY"],
        "region_name": DUMMY_AWS["AWS_DEFAULT_REGION"],
    }


def publish(endpoint: str, model_dir: Path, prefix: str) -> str:
    """``python -m ops publish`` the folder to ``s3://BUCKET/prefix``; the version's URI."""
    environment = {**os.environ, **DUMMY_AWS, "AWS_ENDPOINT_URL": endpoint}
    done = subprocess.run(
        [sys.executable, "-m", "ops", "publish", str(model_dir), f"s3://{BUCKET}/{prefix}"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    version = json.loads((model_dir / "manifest.json").read_text())["version"]
    return f"s3://{BUCKET}/{prefix}/{version}"


def container_flags(endpoint: str, model_uri: str, port: int) -> list[str]:
    """Host networking (to reach moto on 127.0.0.1), the S3 endpoint, dummy credentials, MODEL_URI."""
    variables = {**DUMMY_AWS, "AWS_ENDPOINT_URL": endpoint, "MODEL_URI": model_uri, "HOST": "127.0.0.1"}
    flags = ["--network", "host", "--read-only", "--tmpfs", "/tmp", "-e", f"PORT={port}"]
    for name, value in variables.items():
        flags += ["-e", f"{name}={value}"]
    return flags


@pytest.fixture(scope="module")
def image() -> str:
    return require_image(image_tag("CONTAINER_TAG"))


def test_published_model_is_downloaded_verified_and_served(image: str, s3_endpoint: str) -> None:
    model_uri = publish(s3_endpoint, BUNDLED_MODEL_DIR, "published")
    port = free_port()
    with running(image, *container_flags(s3_endpoint, model_uri, port), port=port) as container:
        health = wait_until_ready(container).json()
        answer = httpx.post(container.url + "/predict", json={"text": "A wonderful, moving film."}, timeout=30)
    manifest = json.loads((BUNDLED_MODEL_DIR / "manifest.json").read_text())
    assert health["model_version"] == manifest["version"]
    assert answer.status_code == 200 and answer.json()["sentiment"] == "POSITIVE"


def test_tampered_object_stops_start_up_naming_it(image: str, s3_endpoint: str, model_copy: Path) -> None:
    import boto3

    model_uri = publish(s3_endpoint, model_copy, "tampered")
    key = model_uri.removeprefix(f"s3://{BUCKET}/") + "/model.onnx"
    boto3.client("s3", endpoint_url=s3_endpoint, **_credentials()).put_object(
        Bucket=BUCKET, Key=key, Body=b"not the model that was published"
    )
    port = free_port()
    with running(image, *container_flags(s3_endpoint, model_uri, port), port=port) as container:
        state = wait_for_exit(container, timeout=60)
        logs = container.logs()
    assert state["ExitCode"] != 0
    assert f"s3://{BUCKET}/{key}: sha256" in logs, logs[-2000:]
    assert "Traceback" not in logs, logs[-2000:]
