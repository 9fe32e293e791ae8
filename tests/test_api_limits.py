"""The OpenAPI document states every limit the server enforces, and the server keeps to it, on every surface.

A generated-schema round trip: each limit is read from the document (``/openapi.json``): ``minLength``,
``maxLength`` and the not-blank ``pattern`` of a text, ``minItems`` and ``maxItems`` of a batch, the byte limit
in the 413 answer's description. Requests at each boundary (N and N+1 characters, 0/1 and MAX/MAX+1 texts,
texts that are whitespace under Python's rule, under ECMA-262's, under both or neither; N and N+1 bytes) go to
each surface: the FastAPI service (with small limits and with the defaults) and both Lambda handlers. A request
the document allows (checked with ``jsonschema``, and the pattern with node's ECMA-262 engine too) gets 200;
one it forbids gets the documented error. Also here: the body-size middleware's cut-off, and the issue's
acceptance check for content types.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from container.app import create_app
from container.body_limit import BodyLimitMiddleware
from functions.apigw import LocalLambdaContext, http_api_event, response_json
from inference.schemas import NOT_BLANK, WHITESPACE_CLASS
from inference.settings import Settings
from tests.test_lambda_contract import CASES

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

ERROR_STATUSES = {400, 413, 415, 422, 429}
JSON = {"content-type": "application/json"}

# Characters only Python calls whitespace, only ECMA-262 does, both, and neither (U+200B, U+180E, U+2060 are
# format characters, not whitespace, in both).
PYTHON_ONLY = ["\u001c", "\u001d", "\u001e", "\u001f", "\u0085"]
ECMA_ONLY = ["\ufeff"]
BOTH = [" ", "\t", "\n", "\u000b", "\u00a0", "\u1680", "\u2003", "\u2028", "\u2029", "\u202f", "\u3000"]
NEITHER = ["\u200b", "\u180e", "\u2060", "a", "é", "😀"]


@dataclass
class Surface:
    """One way to send a request, and the OpenAPI document of the app it runs."""

    name: str
    document: dict[str, Any]
    send: Callable[[str, bytes, dict[str, str]], tuple[int, Any]]


def lambda_sender(module: Any) -> Callable[[str, bytes, dict[str, str]], tuple[int, Any]]:
    def send(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        response = module.lambda_handler(http_api_event("POST", path, body.decode(), headers), LocalLambdaContext())
        return response["statusCode"], response_json(response)

    return send


def client_sender(client: TestClient) -> Callable[[str, bytes, dict[str, str]], tuple[int, Any]]:
    def send(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        response = client.post(path, content=body, headers=headers)
        return response.status_code, response.json()

    return send


@pytest.fixture(scope="module")
def small_client(bundled_model_dir) -> Iterator[TestClient]:
    settings = Settings(model_dir=bundled_model_dir, max_text_chars=12, max_batch_size=3)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def default_client(bundled_model_dir) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=bundled_model_dir))) as client:
        yield client


@pytest.fixture(params=["container-small-limits", "container-defaults", "powertools", "mangum"])
def surface(request, handlers) -> Surface:
    """Each surface, with the document it serves (the Lambda handlers': the FastAPI app on their settings)."""
    if request.param.startswith("container"):
        client = request.getfixturevalue("small_client" if request.param.endswith("small-limits") else "default_client")
        return Surface(request.param, client.get("/openapi.json").json(), client_sender(client))
    module = handlers[request.param]
    if request.param == "mangum":
        # The Mangum handler serves the document itself.
        event = http_api_event("GET", "/openapi.json")
        document = response_json(module.lambda_handler(event, LocalLambdaContext()))
    else:
        document = create_app(module.settings).openapi()
    return Surface(request.param, document, lambda_sender(module))


def request_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    """The request body's schema for ``POST path``, with its ``$ref`` resolved."""
    ref = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def error_schema(document: dict[str, Any]) -> dict[str, Any]:
    return document["components"]["schemas"]["ErrorResponse"]


def check_answer(surface: Surface, path: str, payload: Any) -> None:
    """The surface answers 200 when the document allows ``payload``, the documented 422 when it does not."""
    schema = request_schema(surface.document, path)
    allowed = Draft202012Validator(schema).is_valid(payload)
    status, answer = surface.send(path, json.dumps(payload).encode(), JSON)
    assert status == (200 if allowed else 422), (surface.name, payload, answer)
    if not allowed:
        assert answer["error"] == "validation_error"
        documented = {"$ref": "#/components/schemas/ErrorResponse", "components": surface.document["components"]}
        Draft202012Validator(documented).validate(answer)


def text_constraints(document: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The constraints on ``text`` (in /predict) and on ``texts`` (in /predict/batch)."""
    text = request_schema(document, "/predict")["properties"]["text"]
    texts = request_schema(document, "/predict/batch")["properties"]["texts"]
    return text, texts


def test_document_states_every_limit(surface: Surface, handlers):
    text, texts = text_constraints(surface.document)
    settings = {
        "container-small-limits": Settings(max_text_chars=12, max_batch_size=3),
        "container-defaults": Settings(),
    }.get(surface.name) or handlers[surface.name].settings
    assert (text["minLength"], text["maxLength"]) == (1, settings.max_text_chars)
    constraints = ("type", "minLength", "maxLength", "pattern")
    assert {key: texts["items"][key] for key in constraints} == {key: text[key] for key in constraints}
    assert (texts["minItems"], texts["maxItems"]) == (1, settings.max_batch_size)
    assert text["pattern"] == NOT_BLANK.pattern


def test_text_length_boundaries(surface: Surface):
    text, _ = text_constraints(surface.document)
    for length in (text["minLength"] - 1, text["minLength"], text["maxLength"], text["maxLength"] + 1):
        check_answer(surface, "/predict", {"text": "a" * length})
        check_answer(surface, "/predict/batch", {"texts": ["ok", "a" * length]})


def test_batch_size_boundaries(surface: Surface):
    _, texts = text_constraints(surface.document)
    for count in (texts["minItems"] - 1, texts["minItems"], texts["maxItems"], texts["maxItems"] + 1):
        check_answer(surface, "/predict/batch", {"texts": ["fine"] * count})


@pytest.mark.parametrize(
    "characters", [PYTHON_ONLY, ECMA_ONLY, BOTH, NEITHER], ids=["python", "ecma", "both", "neither"]
)
def test_whitespace_under_each_rule(surface: Surface, characters: list[str]):
    for character in characters:
        check_answer(surface, "/predict", {"text": character * 3})
        check_answer(surface, "/predict", {"text": f"{character} ok {character}"})


def test_whitespace_rule_is_the_union_of_python_and_ecma():
    """The pattern's class is exactly what Python's ``str.isspace`` or ECMA-262's ``\\s`` call whitespace."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (an ECMA-262 engine) is not installed")
    script = (
        "const a=[];for(let c=0;c<0x110000;c++){if(c>=0xD800&&c<=0xDFFF)continue;"
        "if(/^\\s$/u.test(String.fromCodePoint(c)))a.push(c)}console.log(JSON.stringify(a))"
    )
    ecma = set(json.loads(subprocess.run([node, "-e", script], capture_output=True, check=True, timeout=60).stdout))
    python = {c for c in range(0x110000) if chr(c).isspace()}
    blank = {c for c in range(0x110000) if not (0xD800 <= c <= 0xDFFF) and NOT_BLANK.search(chr(c)) is None}
    assert blank == ecma | python
    assert ecma - python == {0xFEFF} and python - ecma == {0x1C, 0x1D, 0x1E, 0x1F, 0x85}
    assert WHITESPACE_CLASS in NOT_BLANK.pattern


def test_an_ecma_engine_reads_the_document_pattern_as_the_server_does(surface: Surface):
    """node's RegExp (ECMA-262, as JSON Schema means ``pattern``) on the document's pattern agrees with the server."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (an ECMA-262 engine) is not installed")
    pattern = text_constraints(surface.document)[0]["pattern"]
    texts = [c * 2 for c in PYTHON_ONLY + ECMA_ONLY + BOTH + NEITHER]
    script = (
        "const [p, t] = JSON.parse(process.argv[1]);console.log(JSON.stringify(t.map(s => new RegExp(p, 'u').test(s))))"
    )
    run = subprocess.run(
        [node, "-e", script, json.dumps([pattern, texts])], capture_output=True, check=True, timeout=60
    )
    for text, matches in zip(texts, json.loads(run.stdout), strict=True):
        status, _ = surface.send("/predict", json.dumps({"text": text}).encode(), JSON)
        assert status == (200 if matches else 422), (surface.name, text)


def body_limit(document: dict[str, Any], path: str) -> int:
    """The byte limit the document's 413 answer states for ``POST path``."""
    description = document["paths"][path]["post"]["responses"]["413"]["description"]
    return int(description.split("over ", 1)[1].split(" bytes", 1)[0])


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_body_size_boundary(surface: Surface, path: str):
    limit = body_limit(surface.document, path)
    payload = {"text": "fine"} if path == "/predict" else {"texts": ["fine"]}
    text = json.dumps(payload)
    at_limit = (text + " " * (limit - len(text))).encode()
    status, answer = surface.send(path, at_limit, JSON)
    assert status == 200, answer
    status, answer = surface.send(path, at_limit + b" ", JSON)
    assert status == 413 and answer["error"] == "payload_too_large", answer
    assert f"has {limit + 1} bytes; the limit is {limit} bytes" in answer["detail"][0]["message"]


def test_document_lists_every_error_status_with_the_error_body(surface: Surface):
    for path in ("/predict", "/predict/batch"):
        responses = surface.document["paths"][path]["post"]["responses"]
        assert {int(status) for status in responses} >= ERROR_STATUSES
        for status in ERROR_STATUSES:
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    kinds = set(error_schema(surface.document)["properties"]["error"]["enum"])
    assert {"invalid_json", "validation_error", "payload_too_large", "unsupported_media_type", "overloaded"} <= kinds


def test_every_error_the_contract_table_answers_is_documented(default_client):
    """Each status the shared table expects from a body route is in that route's documented responses."""
    document = default_client.get("/openapi.json").json()
    for case in CASES:
        if case.method == "POST" and "post" in document["paths"].get(case.path, {}) and case.status != 200:
            assert str(case.status) in document["paths"][case.path]["post"]["responses"], case.name


def test_acceptance_form_content_type_is_415_and_none_is_200(default_client):
    """``curl -d '{"text":"fine"}'`` sends a form content type: 415 naming the header; without one: 200."""
    body = b'{"text":"fine"}'
    refused = default_client.post(
        "/predict", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert refused.status_code == 415
    assert refused.json()["error"] == "unsupported_media_type"
    assert "Content-Type: application/json" in refused.json()["detail"][0]["message"]
    accepted = default_client.post("/predict", content=body)
    assert "content-type" not in accepted.request.headers
    assert accepted.status_code == 200 and accepted.json()["text"] == "fine"


# The body-size middleware, driven as plain ASGI: how much of a body it reads before it answers.


class Recorder:
    """An ASGI app that reads the whole body and answers 200, recording what it received."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.called = False

    async def __call__(self, scope, receive, send) -> None:
        self.called = True
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def run_asgi(app, headers: list[tuple[bytes, bytes]], chunks: list[bytes], path: str = "/predict"):
    """Run ``app`` on one POST whose body arrives in ``chunks``; returns (messages sent, chunks read)."""
    import asyncio

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive():
        nonlocal read
        read += 1
        if read > len(chunks):
            raise AssertionError("read past the end of the body")
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message):
        sent.append(message)

    # A loop of its own, not asyncio.run: that leaves the thread without a current loop, which Mangum then needs.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(app(scope, receive, send))
    finally:
        loop.close()
    return sent, read


def answer_of(sent: list[dict[str, Any]]) -> tuple[int, Any]:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    return starts[0]["status"], json.loads(
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    )


def test_declared_length_over_the_limit_is_refused_unread():
    inner = Recorder()
    app = BodyLimitMiddleware(inner, {("POST", "/predict"): 1000})
    sent, read = run_asgi(app, [(b"content-length", b"1001")], [b"x" * 1001])
    status, body = answer_of(sent)
    assert (status, body["error"], read, inner.called) == (413, "payload_too_large", 0, False)
    assert "has 1001 bytes; the limit is 1000 bytes" in body["detail"][0]["message"]


def test_streamed_body_is_cut_off_once_it_passes_the_limit():
    inner = Recorder()
    app = BodyLimitMiddleware(inner, {("POST", "/predict"): 1000})
    sent, read = run_asgi(app, [(b"transfer-encoding", b"chunked")], [b"x" * 100] * 1000)
    status, body = answer_of(sent)
    assert status == 413 and "passed the limit of 1000 bytes" in body["detail"][0]["message"]
    assert read == 11  # 1,100 bytes read of 100,000; the app's own answer after that is dropped
    assert inner.messages[-1] == {"type": "http.disconnect"}


def test_body_within_the_limit_and_other_routes_pass_untouched():
    for path, chunks in (("/predict", [b"x" * 500, b"x" * 500]), ("/health", [b"x" * 5000])):
        inner = Recorder()
        sent, read = run_asgi(BodyLimitMiddleware(inner, {("POST", "/predict"): 1000}), [], chunks, path)
        assert sent[0]["status"] == 200 and read == len(chunks)
        assert b"".join(m["body"] for m in inner.messages) == b"".join(chunks)


def test_server_cuts_off_a_chunked_upload(bundled_model_dir, tmp_path):
    """Through a real uvicorn on 127.0.0.1: a chunked body past the limit gets 413 while the client is still sending.

    The client (h11 over a socket) sends 1,000-byte chunks and looks for an answer after each; the limit is
    3,456 bytes, so the answer must come long before the 200 chunks it is prepared to send.
    """
    import select
    import socket
    import time

    import h11

    from inference.settings import REPO_ROOT

    script = tmp_path / "serve.py"
    script.write_text(
        "import sys, uvicorn\n"
        "from container.app import create_app\n"
        "from inference.settings import Settings\n"
        f"app = create_app(Settings(model_dir={str(bundled_model_dir)!r}, max_text_chars=100, max_batch_size=2))\n"
        "uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[1]), log_level='warning')\n"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(script), str(port)], cwd=REPO_ROOT)
    try:
        for _ in range(600):
            if server.poll() is not None:
                pytest.fail(f"server exited with {server.returncode}")
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("server did not start listening")
        client = h11.Connection(our_role=h11.CLIENT)
        headers = [("host", "127.0.0.1"), ("content-type", "application/json"), ("transfer-encoding", "chunked")]
        connection.sendall(client.send(h11.Request(method="POST", target="/predict/batch", headers=headers)))
        chunks_sent, response = 0, None
        with connection:
            while chunks_sent < 200 and response is None:
                connection.sendall(client.send(h11.Data(data=b" " * 1000)))
                chunks_sent += 1
                if select.select([connection], [], [], 0.2)[0]:
                    client.receive_data(connection.recv(65536))
                    event = client.next_event()
                    response = event if isinstance(event, h11.Response) else None
            body = b""
            while response is not None and not isinstance(event, h11.EndOfMessage):
                event = client.next_event()
                if event is h11.NEED_DATA:
                    client.receive_data(connection.recv(65536))
                elif isinstance(event, h11.Data):
                    body += event.data
        assert response is not None and response.status_code == 413, chunks_sent
        assert json.loads(body)["error"] == "payload_too_large"
        assert chunks_sent < 200
    finally:
        server.terminate()
        server.wait(timeout=30)
