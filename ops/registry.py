"""Model registry on S3: publish a verified model folder under its version, list versions, fetch one.

Layout: ``s3://bucket/prefix/<version>/manifest.json`` next to every file the manifest lists. The manifest
is uploaded last, so a version without one is an interrupted upload. Versions are immutable: publishing a
version that already exists is refused.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference.manifest import MANIFEST_FILE, ModelLoadError, verify_model_dir
from inference.s3_model import (
    SAFE_KEY_PART,
    NoProgress,
    S3Location,
    TransferProgress,
    check_file_name,
    download_model,
    error_code,
    explain_s3_error,
    parse_s3_uri,
)
from ops.errors import OpsError

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig
    from botocore.client import BaseClient

# S3's limit for one PutObject. A SHA-256 checksum of the whole object exists only for single-request
# uploads (a multipart upload's SHA-256 is per part), so every model file goes up in one request.
SINGLE_PUT_LIMIT_BYTES = 5 * 1024**3


def parse_location(uri: str) -> S3Location:
    """``parse_s3_uri`` with an ``OpsError`` for the command line."""
    try:
        return parse_s3_uri(uri)
    except ValueError as error:
        raise OpsError(f"{uri}: {error}") from None


def hex_to_base64(hex_digest: str) -> str:
    """S3 wants sha256 checksums base64-encoded; manifests hold them as hex."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def upload_config() -> TransferConfig:
    """boto3's managed upload, kept to one ``PutObject`` per file so the manifest sha256 is S3's checksum."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=SINGLE_PUT_LIMIT_BYTES)


def check_bucket(s3: BaseClient, location: S3Location) -> None:
    """Fail with a clear message when the bucket is missing or not ours to use."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=location.bucket)
    except ClientError as error:
        code = error_code(error)
        if code in ("404", "NoSuchBucket"):
            raise OpsError(f"bucket {location.bucket} does not exist") from None
        if code in ("403", "AccessDenied"):
            raise OpsError(f"access denied to bucket {location.bucket}") from None
        raise OpsError(f"bucket {location.bucket}: {explain_s3_error(error, location)}") from None


def publish(model_dir: Path, destination: str, s3: BaseClient, progress: TransferProgress | None = None) -> S3Location:
    """Verify ``model_dir`` against its manifest and upload it to ``destination/<version>/``; return that place.

    Each file is a managed ``upload_file`` carrying its manifest sha256, which S3 checks; the manifest goes
    last, so a version without one is an interrupted upload.
    """
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    progress = progress or NoProgress()
    target = parse_location(destination)
    try:
        manifest = verify_model_dir(Path(model_dir))
    except ModelLoadError as error:
        raise OpsError(f"refusing to publish {model_dir}: {error}") from None
    version = str(manifest.get("version") or "")
    if not SAFE_KEY_PART.match(version):
        raise OpsError(f"refusing to publish {model_dir}: manifest version {version!r} is not a usable S3 key part")
    try:
        names = [check_file_name(name, str(Path(model_dir) / MANIFEST_FILE)) for name in manifest["files"]]
    except ModelLoadError as error:
        raise OpsError(f"refusing to publish {model_dir}: {error}") from None
    version_location = target.child(version)
    try:
        check_bucket(s3, target)
        existing = s3.list_objects_v2(Bucket=target.bucket, Prefix=version_location.key("") + "/", MaxKeys=1)
        if existing.get("KeyCount", 0):
            raise OpsError(f"version {version} already exists at {version_location.uri}/; versions are immutable")
        total = sum(int(manifest["files"][name]["bytes"]) for name in names)
        progress.start(f"publish {version} ({len(names)} files)", total)
        config = upload_config()
        for name in names:
            s3.upload_file(
                str(Path(model_dir) / name),
                target.bucket,
                version_location.key(name),
                ExtraArgs={"ChecksumSHA256": hex_to_base64(manifest["files"][name]["sha256"])},
                Callback=progress.advance,
                Config=config,
            )
        s3.put_object(
            Bucket=target.bucket,
            Key=version_location.key(MANIFEST_FILE),
            Body=(Path(model_dir) / MANIFEST_FILE).read_bytes(),
            ContentType="application/json",
        )
    except (ClientError, BotoCoreError) as error:
        raise OpsError(f"publish to {version_location.uri} failed: {explain_s3_error(error, target)}") from None
    except Boto3Error as error:  # S3UploadFailedError: its message names the file and the S3 error
        raise OpsError(f"publish to {version_location.uri} failed: {error}") from None
    return version_location


@dataclass(frozen=True)
class VersionSummary:
    """One published version as ``list`` shows it; the numbers come from its manifest."""

    version: str
    uri: str
    name: str
    created: str
    int8_accuracy: float | None
    fp32_accuracy: float | None
    label_agreement: float | None
    files: int
    size_bytes: int
    complete: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def summarize(location: S3Location, manifest: dict[str, Any] | None) -> VersionSummary:
    """A ``VersionSummary`` from a manifest (``None``: the version has no manifest yet)."""
    version = location.prefix.rsplit("/", 1)[-1]
    if manifest is None:
        return VersionSummary(version, location.uri, "", "", None, None, None, 0, 0, complete=False)
    validation = manifest.get("validation") or {}
    files = manifest.get("files") or {}

    def number(key: str) -> float | None:
        value = validation.get(key)
        return float(value) if isinstance(value, int | float) else None

    return VersionSummary(
        version=str(manifest.get("version", version)),
        uri=location.uri,
        name=str(manifest.get("name", "")),
        created=str(manifest.get("created", "")),
        int8_accuracy=number("int8_accuracy"),
        fp32_accuracy=number("fp32_accuracy"),
        label_agreement=number("label_agreement"),
        files=len(files),
        size_bytes=sum(int(entry.get("bytes") or 0) for entry in files.values()),
        complete=True,
    )


def _read_manifest_object(s3: BaseClient, location: S3Location) -> dict[str, Any] | None:
    """The parsed manifest of a version, or ``None`` when it has none."""
    from botocore.exceptions import ClientError

    try:
        body = s3.get_object(Bucket=location.bucket, Key=location.key(MANIFEST_FILE))["Body"].read()
    except ClientError as error:
        if error_code(error) == "NoSuchKey":
            return None
        raise
    try:
        manifest = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise OpsError(f"{location.object_uri(MANIFEST_FILE)} is not valid JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise OpsError(f"{location.object_uri(MANIFEST_FILE)} is not a JSON object")
    return manifest


def list_versions(uri: str, s3: BaseClient) -> list[VersionSummary]:
    """Every version under ``uri``, oldest first (by the manifest's ``created``, then version)."""
    from botocore.exceptions import BotoCoreError, ClientError

    root = parse_location(uri)
    prefix = f"{root.prefix}/" if root.prefix else ""
    summaries = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=root.bucket, Prefix=prefix, Delimiter="/")
        for page in pages:
            for common in page.get("CommonPrefixes", []):
                location = S3Location(root.bucket, common["Prefix"].rstrip("/"))
                summaries.append(summarize(location, _read_manifest_object(s3, location)))
    except (ClientError, BotoCoreError) as error:
        raise OpsError(f"cannot list {root.uri}: {explain_s3_error(error, root)}") from None
    return sorted(summaries, key=lambda summary: (summary.created, summary.version))


def fetch(uri: str, destination: Path, s3: BaseClient, progress: TransferProgress | None = None) -> dict[str, Any]:
    """Download the version at ``uri`` into ``destination`` (a new folder) and verify every hash."""
    source = parse_location(uri)
    if not source.prefix:
        raise OpsError(f"{uri}: name a version folder, s3://bucket/prefix/version (see the list command)")
    try:
        return download_model(source, Path(destination), s3, progress)
    except ModelLoadError as error:
        raise OpsError(f"fetch failed: {str(error).removeprefix('cannot load model: ')}") from None
