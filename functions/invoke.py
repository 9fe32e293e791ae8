"""``python -m functions.invoke EVENT.json [--handler powertools|mangum]``: run a real Lambda handler on one
API Gateway HTTP API event, without Docker or AWS, and print the Lambda response as JSON on stdout.

The handler's logs and EMF metrics go to stderr, so stdout is the response alone (``| jq`` works). The model
comes from ``MODEL_DIR`` as in Lambda (default: the bundled model). Tracing is off outside Lambda.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from functions.apigw import LocalLambdaContext

HANDLERS = {
    "powertools": "functions.handler",
    "mangum": "functions.mangum_handler",
}


class InvokeError(Exception):
    """A problem with the command's input, reported as one line."""


def read_event(path: Path) -> dict[str, Any]:
    """The event file's JSON object; ``InvokeError`` naming the file and the problem otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvokeError(f"cannot read event file {path}: {error.strerror or error}") from None
    try:
        event = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvokeError(f"event file {path} is not valid JSON: {error}") from None
    if not isinstance(event, dict) or event.get("version") != "2.0" or "requestContext" not in event:
        raise InvokeError(f"event file {path} is not an API Gateway HTTP API (payload v2.0) event")
    return event


def invoke(event: dict[str, Any], handler: str = "powertools") -> dict[str, Any]:
    """Import the handler module (its init loads the model) and run it on ``event``; logs go to stderr."""
    from inference.manifest import ModelLoadError

    with contextlib.redirect_stdout(sys.stderr):
        try:
            module = importlib.import_module(HANDLERS[handler])
        except ModelLoadError as error:
            raise InvokeError(str(error)) from None
        return module.lambda_handler(event, LocalLambdaContext())


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, invoke, print the response."""
    parser = argparse.ArgumentParser(prog="python -m functions.invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("event", type=Path, help="API Gateway HTTP API v2 event, e.g. events/predict.json")
    parser.add_argument("--handler", choices=sorted(HANDLERS), default="powertools", help="entry point to run")
    args = parser.parse_args(argv)
    try:
        response = invoke(read_event(args.event), args.handler)
    except InvokeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(response, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
