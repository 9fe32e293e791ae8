"""Published models on S3: URIs, the AWS client settings every tool shares, and verified downloads.

A published model version is an S3 "folder" ``s3://bucket/prefix/version/`` holding ``manifest.json`` and
every file the manifest lists. ``fetch_model`` is what the serving path calls when ``MODEL_URI`` is set;
the ``ops`` tools reuse the same URI parsing, clients and download code.

Retries are botocore's ``standard`` mode (exponential backoff with jitter, a client-side retry quota), set
once in ``client_config``; model files move with boto3's managed transfers (``download_file``: parallel
ranged GETs, a broken stream resumed).

boto3 is imported only inside the functions that talk to AWS, so serving from ``MODEL_DIR`` never loads it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from inference.manifest import MANIFEST_FILE, ModelLoadError, read_manifest, verify_model_dir

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig
    from botocore.client import BaseClient
    from botocore.config import Config

LOGGER = logging.getLogger(__name__)

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
SAFE_KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")

# Every AWS call of the project: botocore's standard retry mode, the first attempt and up to four retries.
RETRY_MODE = "standard"
MAX_ATTEMPTS = 5
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix (no leading or trailing slash)."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        """``s3://bucket/prefix``."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, *parts: str) -> str:
        """The key of ``parts`` below this prefix."""
        return "/".join(part for part in (self.prefix, *parts) if part)

    def child(self, name: str) -> S3Location:
        """The location one level below this one."""
        return S3Location(self.bucket, self.key(name))

    def object_uri(self, name: str) -> str:
        """``s3://bucket/prefix/name``."""
        return f"s3://{self.bucket}/{self.key(name)}"


def parse_s3_uri(uri: str) -> S3Location:
    """``s3://bucket/some/prefix/`` as an ``S3Location``; ``ValueError`` naming the problem (not the URI) otherwise."""
    if not uri.startswith("s3://"):
        raise ValueError("not an S3 URI (expected s3://bucket/prefix)")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not BUCKET_NAME.match(bucket):
        raise ValueError(f"{bucket!r} is not a valid S3 bucket name")
    parts = [part for part in prefix.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise ValueError("'.' and '..' are not allowed in the key")
    return S3Location(bucket, "/".join(parts))


def check_file_name(name: str, where: str) -> str:
    """A manifest file name that is safe to use as a local file name and an S3 key part."""
    if not SAFE_KEY_PART.match(name):
        raise ModelLoadError(where, f"lists the file name {name!r}, which is not a plain file name")
    return name


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (empty for anything else)."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def client_config() -> Config:
    """The botocore configuration of every client: ``standard`` retries and bounded timeouts."""
    from botocore.config import Config

    return Config(
        retries={"mode": RETRY_MODE, "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )


def new_client(service: str, region: str | None = None) -> BaseClient:
    """A boto3 client for ``service`` with ``client_config`` (every AWS client of the project is made here)."""
    import boto3

    return boto3.client(service, region_name=region, config=client_config())


def download_config() -> TransferConfig:
    """boto3's managed download: files above 8 MiB as parallel 8 MiB ranged GETs, a broken stream resumed."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig()


class TransferProgress(Protocol):
    """Receives byte counts while files move; the ``ops`` tools show them as a progress bar."""

    def start(self, description: str, total_bytes: int) -> None:
        """A transfer of ``total_bytes`` begins."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more moved (negative when a failed attempt's bytes are discarded)."""


class NoProgress:
    """Progress that goes nowhere (the serving path logs instead)."""

    def start(self, description: str, total_bytes: int) -> None:
        """Ignore the start."""

    def advance(self, nbytes: int) -> None:
        """Ignore the bytes."""


def explain_s3_error(error: BaseException, location: S3Location) -> str:
    """A one-line reason for an S3 failure; the caller names the object it concerns."""
    error = getattr(error, "last_exception", None) or error  # boto3's RetriesExceededError wraps the cause
    code = error_code(error)
    if code == "NoSuchBucket":
        return f"bucket {location.bucket} does not exist"
    if code in ("NoSuchKey", "404"):
        return "object does not exist"
    if code in ("AccessDenied", "403", "AllAccessDisabled"):
        return "access denied"
    if code:
        message = getattr(error, "response", {}).get("Error", {}).get("Message", "")
        return f"{code}: {message}".rstrip(": ")
    return str(error)


def _listed_bytes(entry: Any) -> int:
    """The size a manifest entry gives (0 when it gives none: it only drives the progress bar)."""
    size = entry.get("bytes") if isinstance(entry, dict) else None
    return size if isinstance(size, int) and size >= 0 else 0


def download_model(
    source: S3Location, destination: Path, s3: BaseClient, progress: TransferProgress | None = None
) -> dict[str, Any]:
    """Download a published model version into ``destination`` (which must not exist) and verify every hash.

    The manifest is one ``GetObject`` (its error codes tell a missing bucket from a missing version); every
    file it lists is a managed ``download_file``. Files land in a temporary sibling folder that is renamed
    into place only after ``verify_model_dir`` passes, so ``destination`` is either complete and verified or
    absent. Raises ``ModelLoadError`` naming the S3 object and the reason.
    """
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    progress = progress or NoProgress()
    destination = Path(destination)
    if destination.exists():
        raise ModelLoadError(destination, "already exists; choose a new folder")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=destination.parent))
    current = MANIFEST_FILE
    try:
        body = s3.get_object(Bucket=source.bucket, Key=source.key(MANIFEST_FILE))["Body"].read()
        (staging / MANIFEST_FILE).write_bytes(body)
        try:
            manifest = read_manifest(staging)
        except ModelLoadError as error:
            raise ModelLoadError(source.object_uri(MANIFEST_FILE), error.reason) from None
        names = [check_file_name(name, source.object_uri(MANIFEST_FILE)) for name in manifest["files"]]
        total = sum(_listed_bytes(manifest["files"][name]) for name in names)
        progress.start(f"{source.uri} ({len(names)} files)", total)
        config = download_config()
        for current in names:
            s3.download_file(
                source.bucket, source.key(current), str(staging / current), Callback=progress.advance, Config=config
            )
        try:
            manifest = verify_model_dir(staging)
        except ModelLoadError as error:
            raise ModelLoadError(source.object_uri(error.path.name), error.reason) from None
        try:
            staging.rename(destination)
        except OSError:
            if not destination.is_dir():  # another process did not win a race: the rename really failed
                raise
            manifest = verify_model_dir(destination)
        return manifest
    except (ClientError, BotoCoreError, Boto3Error) as error:
        raise ModelLoadError(source.object_uri(current), explain_s3_error(error, source)) from None
    except OSError as error:  # a full or read-only disk under the cache folder
        raise ModelLoadError(destination, f"cannot write the download ({error})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def cache_path(cache_dir: Path, source: S3Location) -> Path:
    """Where a published version is cached: ``cache_dir/bucket/prefix...``."""
    return Path(cache_dir, source.bucket, *source.prefix.split("/"))


_FETCHED: dict[tuple[str, str], Path] = {}
_FETCH_LOCK = threading.Lock()


def fetch_model(
    model_uri: str, cache_dir: Path | str, s3: BaseClient | None = None, progress: TransferProgress | None = None
) -> Path:
    """The local, verified copy of the model version at ``model_uri`` (``s3://bucket/prefix/version``).

    Downloads at most once per process: a cached copy under ``cache_dir`` that passes ``verify_model_dir``
    is reused; one that fails is deleted and downloaded again. Raises ``ModelLoadError`` on any failure.
    """
    try:
        source = parse_s3_uri(model_uri)
    except ValueError as error:
        raise ModelLoadError(model_uri, f"MODEL_URI: {error}") from None
    if not source.prefix:
        raise ModelLoadError(model_uri, "MODEL_URI must name a version folder: s3://bucket/prefix/version")
    memo_key = (source.uri, os.fspath(cache_dir))
    with _FETCH_LOCK:
        if memo_key in _FETCHED:
            return _FETCHED[memo_key]
        local = cache_path(Path(cache_dir), source)
        if local.is_dir():
            try:
                verify_model_dir(local)
                LOGGER.info("using cached %s at %s", source.uri, local)
            except ModelLoadError as error:
                LOGGER.warning("cached copy of %s fails verification (%s); downloading again", source.uri, error)
                shutil.rmtree(local)
        if not local.is_dir():
            started = time.perf_counter()
            try:
                client = s3 or new_client("s3")
            except Exception as error:  # botocore raises several unrelated types for a bad local AWS setup
                raise ModelLoadError(model_uri, f"cannot create an S3 client ({error})") from None
            download_model(source, local, client, progress)
            LOGGER.info("downloaded %s to %s in %.2f s", source.uri, local, time.perf_counter() - started)
        _FETCHED[memo_key] = local
        return local


def forget_fetched_models() -> None:
    """Clear the once-per-process memo (tests use it to simulate a new cold start)."""
    with _FETCH_LOCK:
        _FETCHED.clear()
