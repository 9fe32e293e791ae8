"""Published models on S3: URIs, retries with backoff, and verified downloads into a local folder.

A published model version is an S3 "folder" ``s3://bucket/prefix/version/`` holding ``manifest.json`` and
every file the manifest lists. ``fetch_model`` is what the serving path calls when ``MODEL_URI`` is set;
the ``ops`` tools reuse the same URI parsing, retry and download code.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from inference.manifest import MANIFEST_FILE, ModelLoadError, read_manifest, verify_model_dir

LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
SAFE_KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
DOWNLOAD_CHUNK_BYTES = 1 << 20

# Error codes AWS services use for throttling and transient server-side trouble (any HTTP 5xx retries too).
RETRYABLE_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "BandwidthLimitExceeded",
        "PriorRequestNotComplete",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceException",
    }
)


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


def http_status(error: BaseException) -> int:
    """The HTTP status of a botocore ``ClientError`` (0 when unknown)."""
    response = getattr(error, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_retryable(error: BaseException) -> bool:
    """Throttling, HTTP 5xx and 429, and dropped connections are worth retrying; anything else is not."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ResponseStreamingError

    if isinstance(error, ClientError):
        status = http_status(error)
        return error_code(error) in RETRYABLE_ERROR_CODES or status >= 500 or status == 429
    return isinstance(error, ConnectionError | HTTPClientError | ResponseStreamingError)


@dataclass(frozen=True)
class RetryPolicy:
    """How often to retry a failed AWS call and how long to wait: exponential backoff, capped.

    The n-th retry waits ``min(max_delay_s, base_delay_s * 2**(n-1))`` seconds. ``sleep`` is injectable
    so tests can record the waits instead of waiting.
    """

    attempts: int = 5
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts}")

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based)."""
        return min(self.max_delay_s, self.base_delay_s * 2 ** (retry_number - 1))


def call_with_retries(operation: Callable[[], T], policy: RetryPolicy, description: str) -> T:
    """Run ``operation``; retry it with backoff while it fails with a retryable error, up to ``policy.attempts``."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return operation()
        except Exception as error:
            if attempt == policy.attempts or not is_retryable(error):
                raise
            wait = policy.delay(attempt)
            LOGGER.warning("%s failed (%s); retry %d in %.2f s", description, error_code(error) or error, attempt, wait)
            policy.sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")


class RetryingClient:
    """A boto3 client whose API calls retry throttling and 5xx errors with ``policy``.

    Everything else (``meta``, ``exceptions``, paginators) is the wrapped client's own. ``raw`` is the client.
    """

    def __init__(self, client: Any, policy: RetryPolicy | None = None) -> None:
        self.raw = client
        self.policy = policy or RetryPolicy()
        self._operations = set(client.meta.method_to_api_mapping)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.raw, name)
        if name not in self._operations:
            return attribute
        service = self.raw.meta.service_model.service_name

        def call(*args: Any, **kwargs: Any) -> Any:
            return call_with_retries(lambda: attribute(*args, **kwargs), self.policy, f"{service} {name}")

        return call


def new_client(service: str, region: str | None = None, policy: RetryPolicy | None = None) -> RetryingClient:
    """A boto3 client with botocore's own retries off, so ``policy`` is the one retry layer."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=10, read_timeout=60)
    return RetryingClient(boto3.client(service, region_name=region, config=config), policy)


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


def _download_object(s3: RetryingClient, location: S3Location, name: str, target: Path, progress: TransferProgress):
    """Stream one object to ``target``; a failed attempt is retried from the start of the object."""
    written = 0

    def attempt() -> None:
        nonlocal written
        progress.advance(-written)
        written = 0
        response = s3.raw.get_object(Bucket=location.bucket, Key=location.key(name))
        with target.open("wb") as handle:
            for chunk in response["Body"].iter_chunks(DOWNLOAD_CHUNK_BYTES):
                handle.write(chunk)
                written += len(chunk)
                progress.advance(len(chunk))

    call_with_retries(attempt, s3.policy, f"download {location.object_uri(name)}")


def _listed_bytes(entry: Any) -> int:
    """The size a manifest entry gives (0 when it gives none: it only drives the progress bar)."""
    size = entry.get("bytes") if isinstance(entry, dict) else None
    return size if isinstance(size, int) and size >= 0 else 0


def download_model(
    source: S3Location, destination: Path, s3: RetryingClient, progress: TransferProgress | None = None
) -> dict[str, Any]:
    """Download a published model version into ``destination`` (which must not exist) and verify every hash.

    Files land in a temporary sibling folder that is renamed into place only after ``verify_model_dir``
    passes, so ``destination`` is either complete and verified or absent. Raises ``ModelLoadError`` naming
    the S3 object and the reason.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    progress = progress or NoProgress()
    destination = Path(destination)
    if destination.exists():
        raise ModelLoadError(destination, "already exists; choose a new folder")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=destination.parent))
    current = MANIFEST_FILE
    try:
        _download_object(s3, source, MANIFEST_FILE, staging / MANIFEST_FILE, NoProgress())
        try:
            manifest = read_manifest(staging)
        except ModelLoadError as error:
            raise ModelLoadError(source.object_uri(MANIFEST_FILE), error.reason) from None
        names = [check_file_name(name, source.object_uri(MANIFEST_FILE)) for name in manifest["files"]]
        total = sum(_listed_bytes(manifest["files"][name]) for name in names)
        progress.start(f"{source.uri} ({len(names)} files)", total)
        for current in names:
            _download_object(s3, source, current, staging / current, progress)
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
    except (ClientError, BotoCoreError) as error:
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
    model_uri: str, cache_dir: Path | str, s3: RetryingClient | None = None, progress: TransferProgress | None = None
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
