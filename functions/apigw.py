"""API Gateway HTTP API (payload format 2.0) events and a Lambda context, to run the handlers without AWS.

Used by ``python -m functions.invoke``, the cold-start benchmark and the tests; the sample events in
``events/`` have this shape too.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

API_ID = "sentimentapi"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
FUNCTION_NAME = "sentiment-api-SentimentFunction"


def http_api_event(
    method: str,
    path: str,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    request_id: str | None = None,
    query: str = "",
    source_ip: str = "203.0.113.7",
    route_key: str | None = None,
) -> dict[str, Any]:
    """An HTTP API v2 event, as API Gateway sends it for ``method path?query`` with ``body``.

    Text bodies are sent as they are; ``bytes`` are base64-encoded with
    ``isBase64Encoded`` set, as API Gateway does for binary payloads. Header names are lower-cased, as
    HTTP API delivers them (repeated headers arrive joined with commas); cookies and repeated query
    parameters are split out as API Gateway does. The one builder of these events in the project: the
    local invoker, the tests and the load test's Lambda front all use it.
    """
    method = method.upper()
    request_id = request_id or uuid.uuid4().hex[:16]
    now = time.time()
    is_binary = isinstance(body, bytes)
    encoded_body = base64.b64encode(body).decode("ascii") if isinstance(body, bytes) else body
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    all_headers = {
        "accept": "*/*",
        "host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **lowered,
    }
    if body is not None:
        all_headers["content-length"] = str(len(body.encode("utf-8") if isinstance(body, str) else body))
    route_key = route_key or f"{method} {path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": all_headers["host"],
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": all_headers["user-agent"],
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_binary,
    }
    if "cookie" in all_headers:
        event["cookies"] = [part.strip() for part in all_headers["cookie"].split(";") if part.strip()]
    if query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    if encoded_body is not None:
        event["body"] = encoded_body
    return event


def json_event(method: str, path: str, payload: Any) -> dict[str, Any]:
    """An HTTP API v2 event carrying ``payload`` as a JSON body with ``content-type: application/json``."""
    return http_api_event(method, path, json.dumps(payload), {"content-type": "application/json"})


@dataclass
class LocalLambdaContext:
    """The attributes of the Lambda runtime's context object that Powertools and Mangum read."""

    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 2048
    timeout_s: float = 30.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        """The function's ARN, as the runtime reports it."""
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


def response_json(response: dict[str, Any]) -> Any:
    """The JSON body of a handler's response, base64-decoded where the response says it is encoded."""
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    return json.loads(body)


def response_header(response: dict[str, Any], name: str) -> str | None:
    """A response header's value, whatever the case of its name; ``None`` when absent."""
    lowered = {key.lower(): value for key, value in (response.get("headers") or {}).items()}
    value = lowered.get(name.lower())
    if value is None:
        values = {key.lower(): v for key, v in (response.get("multiValueHeaders") or {}).items()}.get(name.lower())
        value = ",".join(values) if values else None
    return value
