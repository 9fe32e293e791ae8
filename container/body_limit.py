"""413 for a request body larger than the largest valid request, before the body is read whole into memory.

A pure ASGI middleware: a declared ``Content-Length`` over the limit is answered at once, without reading a
byte of the body; a body without one (chunked, streamed) is counted as it arrives and cut off as soon as it
passes the limit. The answer is the API's ``ErrorResponse`` JSON (``payload_too_large``). Starlette's own
``RequestBodyLimitMiddleware`` answers in plain text, which the contract does not allow.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inference.schemas import payload_too_large


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, or ``None`` when it is absent or not a number."""
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def answer_too_large(scope: Scope, receive: Receive, send: Send, limit: int, size: int | None) -> None:
    """Send the 413 answer."""
    error = payload_too_large(limit, size)
    await JSONResponse(error.body, status_code=error.status_code)(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse, with 413, a body over the limit set for its ``(method, path)``; other requests pass untouched."""

    def __init__(self, app: ASGIApp, limits: dict[tuple[str, str], int]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limits.get((scope.get("method", ""), scope.get("path", ""))) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        size = declared_length(scope)
        if size is not None and size > limit:
            await answer_too_large(scope, receive, send, limit, size)
            return
        received = 0
        started = answered = False

        async def counted_receive() -> Message:
            nonlocal received, answered
            message = await receive()
            if message["type"] == "http.request" and not (answered or started):
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now, then tell the app the client has gone so it stops reading; whatever it
                    # sends after that is dropped.
                    answered = True
                    await answer_too_large(scope, receive, send, limit, None)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if not answered:
                started = started or message["type"] == "http.response.start"
                await send(message)

        await self.app(scope, counted_receive, guarded_send)
