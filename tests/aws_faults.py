"""AWS faults for moto tests, injected where botocore's retry handler sees them.

``fail_sends`` answers an operation's first sends with a canned HTTP response from a ``before-send``
handler, the hook botocore's endpoint consults before the network (moto answers the same hook after it).
botocore then parses that response and its ``standard`` retry mode decides, as it would for a real one,
whether to wait and send again. ``record_retry_sleeps`` and ``record_waiter_sleeps`` record the waits of
the retry handler and of waiters instead of sleeping them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import botocore.endpoint
import botocore.waiter
import pytest
from botocore.awsrequest import AWSResponse


class CannedBody:
    """The raw body of a canned response (what ``AWSResponse.content`` streams)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        """The whole body in one chunk."""
        yield self._data


def s3_error(status: int, code: str) -> tuple[int, dict[str, str], bytes]:
    """An S3 (REST-XML) error response."""
    body = f"<Error><Code>{code}</Code><Message>injected {code}</Message></Error>".encode()
    return status, {"Content-Type": "application/xml"}, body


def json_error(status: int, code: str) -> tuple[int, dict[str, str], bytes]:
    """A JSON-protocol error response (Lambda, CodeDeploy, ...)."""
    body = json.dumps({"__type": code, "message": f"injected {code}"}).encode()
    return status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}, body


def fail_sends(
    client: Any,
    operation: str,
    response: tuple[int, dict[str, str], bytes],
    times: int = 1,
    when: Callable[[Any], bool] | None = None,
) -> list[str]:
    """Answer the first ``times`` sends of ``operation`` (those ``when`` accepts) with ``response``.

    Returns a log of every send ``when`` accepts, failed or not: its length is the attempt count.
    """
    sends: list[str] = []
    lock = threading.Lock()  # managed transfers send from several threads
    service = client.meta.service_model.service_id.hyphenize()

    def answer(request: Any, **kwargs: Any) -> AWSResponse | None:
        if when is not None and not when(request):
            return None
        with lock:
            sends.append(operation)
            if len(sends) > times:
                return None
        status, headers, body = response
        return AWSResponse(request.url, status, headers, CannedBody(body))

    client.meta.events.register_first(f"before-send.{service}.{operation}", answer)
    return sends


class RetrySleeps(list):
    """The waits botocore asked for, in order (nothing really sleeps)."""

    def sleep(self, seconds: float) -> None:
        """Record one wait."""
        self.append(seconds)


def record_retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> RetrySleeps:
    """Record botocore's retry waits (``botocore.endpoint`` sleeps between attempts) instead of sleeping."""
    sleeps = RetrySleeps()
    monkeypatch.setattr(botocore.endpoint, "time", sleeps)
    return sleeps


def record_waiter_sleeps(monkeypatch: pytest.MonkeyPatch) -> RetrySleeps:
    """Record the waits of botocore's waiters (``botocore.waiter`` sleeps ``Delay`` between checks) instead."""
    sleeps = RetrySleeps()
    monkeypatch.setattr(botocore.waiter, "time", sleeps)
    return sleeps
