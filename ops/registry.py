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
from typing import IO, Any

from inference.manifest import MANIFEST_FILE, ModelLoadError, verify_model_dir
from inference.s3_model import (
    SAFE_KEY_PART,
    NoProgress,
    RetryingClient,
    S3Location,
    TransferProgress,
    call_with_retries,
    check_file_name,
    download_model,
    error_code,
    explain_s3_error,
    parse_s3_uri,
)
from ops.errors import OpsError


def parse_location(uri: str) -> S3Location:
    """``parse_s3_uri`` with an ``OpsError`` for the command line."""
    try:
        return parse_s3_uri(uri)
    except ValueError as error:
        raise OpsError(f"{uri}: {error}") from None


def hex_to_base64(hex_digest: str) -> str:
    """S3 wants sha256 checksums base64-encoded; manifests hold them as hex."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


class ProgressReader:
    """A read-only file wrapper that reports newly read bytes (re-reads after a rewind are not counted twice)."""

    def __init__(self, handle: IO[bytes], progress: TransferProgress) -> None:
        self._handle = handle
        self._progress = progress
        self.reported = 0

    def read(self, size: int = -1) -> bytes:
        """Read and report progress past the furthest point read so far."""
        data = self._handle.read(size)
        position = self._handle.tell()
        if position > self.reported:
            self._progress.advance(position - self.reported)
            self.reported = position
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        """Seek the wrapped file."""
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        """Position in the wrapped file."""
        return self._handle.tell()


def check_bucket(s3: RetryingClient, location: S3Location) -> None:
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


def publish(
    model_dir: Path, destination: str, s3: RetryingClient, progress: TransferProgress | None = None
) -> S3Location:
    """Verify ``model_dir`` against its manifest and upload it to ``destination/<version>/``; return that place."""
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
        for name in names:
            _upload_file_to(s3, target.bucket, Path(model_dir) / name, version_location.key(name), manifest, progress)
        manifest_path = Path(model_dir) / MANIFEST_FILE
        body = manifest_path.read_bytes()
        call_with_retries(
            lambda: s3.raw.put_object(
                Bucket=target.bucket, Key=version_location.key(MANIFEST_FILE), Body=body, ContentType="application/json"
            ),
            s3.policy,
            f"upload {version_location.object_uri(MANIFEST_FILE)}",
        )
    except (ClientError, BotoCoreError) as error:
        raise OpsError(f"publish to {version_location.uri} failed: {explain_s3_error(error, target)}") from None
    return version_location


def _upload_file_to(
    s3: RetryingClient, bucket: str, path: Path, key: str, manifest: dict[str, Any], progress: TransferProgress
) -> None:
    """Upload ``path`` to ``bucket``/``key`` with its manifest sha256 as the S3 checksum."""
    reported = 0
    sha256_hex = manifest["files"][path.name]["sha256"]

    def attempt() -> None:
        nonlocal reported
        progress.advance(-reported)
        with path.open("rb") as handle:
            reader = ProgressReader(handle, progress)
            try:
                s3.raw.put_object(Bucket=bucket, Key=key, Body=reader, ChecksumSHA256=hex_to_base64(sha256_hex))
            finally:
                reported = reader.reported

    call_with_retries(attempt, s3.policy, f"upload s3://{bucket}/{key}")


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


def _read_manifest_object(s3: RetryingClient, location: S3Location) -> dict[str, Any] | None:
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


def list_versions(uri: str, s3: RetryingClient) -> list[VersionSummary]:
    """Every version under ``uri``, oldest first (by the manifest's ``created``, then version)."""
    from botocore.exceptions import BotoCoreError, ClientError

    root = parse_location(uri)
    prefix = f"{root.prefix}/" if root.prefix else ""
    summaries = []
    try:
        token: str | None = None
        while True:
            page = s3.list_objects_v2(
                Bucket=root.bucket, Prefix=prefix, Delimiter="/", **({"ContinuationToken": token} if token else {})
            )
            for common in page.get("CommonPrefixes", []):
                location = S3Location(root.bucket, common["Prefix"].rstrip("/"))
                summaries.append(summarize(location, _read_manifest_object(s3, location)))
            token = page.get("NextContinuationToken")
            if not token:
                break
    except (ClientError, BotoCoreError) as error:
        raise OpsError(f"cannot list {root.uri}: {explain_s3_error(error, root)}") from None
    return sorted(summaries, key=lambda summary: (summary.created, summary.version))


def fetch(uri: str, destination: Path, s3: RetryingClient, progress: TransferProgress | None = None) -> dict[str, Any]:
    """Download the version at ``uri`` into ``destination`` (a new folder) and verify every hash."""
    source = parse_location(uri)
    if not source.prefix:
        raise OpsError(f"{uri}: name a version folder, s3://bucket/prefix/version (see the list command)")
    try:
        return download_model(source, Path(destination), s3, progress)
    except ModelLoadError as error:
        raise OpsError(f"fetch failed: {str(error).removeprefix('cannot load model: ')}") from None
