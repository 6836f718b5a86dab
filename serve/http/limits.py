"""A cap on request bodies, checked before anything parses them.

A body announced larger than the cap (Content-Length) is answered 413 at once, unread; one sent
without a length (chunked) is read up to the cap and answered 413 when it goes over, so a client
cannot make the server hold an unbounded body in memory.
"""

from __future__ import annotations

import json


class BodyLimit:
    """Pure ASGI middleware (works under any ASGI server, before routing and parsing)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                announced = int(length)
            except ValueError:
                return await _answer(send, 400, "Content-Length is not a number")
            if announced > self.max_bytes:
                return await _answer(send, 413, self._too_large(announced))
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await _answer(send, 413, self._too_large(size, at_least=True))
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: a disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    def _too_large(self, size: int, at_least: bool = False) -> str:
        return (f"request body of {'at least ' if at_least else ''}{size} bytes; the limit is {self.max_bytes} "
                "bytes (send a long clip as several pushes to a session)")


async def _answer(send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
