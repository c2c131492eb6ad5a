"""ASGI middlewares that answer before any model code runs: body size (413), media type (415),
readiness (503 with the reason, which BentoML would hide). Body size counts what is received,
so a `Content-Length` beside `Transfer-Encoding: chunked` smuggles nothing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from churnrec.models.base import ModelKind
from churnrec.serving.app_routes import SERVICES

JSON_MEDIA_TYPE = "application/json"
# The one table of which champion answers which route (routes not listed need no model); the
# served models (readiness, `/readyz`, the state's versions) are derived from it.
MODEL_ROUTES: dict[str, ModelKind] = {
    "/churn_scores": ModelKind.CHURN,
    "/next_purchase": ModelKind.REPURCHASE,
    "/recommendations": ModelKind.RECOMMENDER,
    "/similar_items": ModelKind.RECOMMENDER,
    "/demand_forecast": ModelKind.DEMAND,
}
SERVED_KINDS: tuple[ModelKind, ...] = tuple(dict.fromkeys(MODEL_ROUTES.values()))

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def send_json(
    send: Send, status: int, payload: dict[str, Any], headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps(payload).encode()
    length = (b"content-length", str(len(body)).encode())
    head = [(b"content-type", b"application/json"), *headers, length]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: App, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._reject(send)
            return
        # Read the body here whatever the headers declare (at most `limit` bytes are kept) and
        # replay it: a declared length is no promise when Transfer-Encoding is also sent.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> dict[str, Any]:  # the body once, then the client's messages
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        await send_json(
            send,
            413,
            {"error": f"request body larger than {self.limit} bytes (set CHURNREC_MAX_BODY_BYTES)"},
        )


class JsonOnlyMiddleware:
    """415 for a request body that is not declared as JSON (BentoML would parse it anyway)."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        media_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if media_type != JSON_MEDIA_TYPE:
            got = f"Content-Type {media_type!r}" if media_type else "no Content-Type"
            await send_json(
                send, 415, {"error": f"request bodies must be {JSON_MEDIA_TYPE}, got {got}"}
            )
            return
        await self.app(scope, receive, send)


class ReadinessMiddleware:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or (path != "/readyz" and path not in MODEL_ROUTES):
            await self.app(scope, receive, send)
            return
        state = SERVICES[-1].state if SERVICES else None
        if path == "/readyz":
            if state is None:
                await send_json(send, 503, {"ready": False, "reason": "models are loading"})
                return
            payload = {
                "ready": bool(state.serving),
                "serving": state.serving,
                "unavailable": state.unavailable,
            }
            await send_json(send, 200 if state.serving else 503, payload)
            return
        name = MODEL_ROUTES[path]
        if state is None:
            await send_json(send, 503, {"error": "models are still loading; poll /readyz"})
            return
        if not state.serves(name):
            reason = state.unavailable[name]
            await send_json(send, 503, {"error": f"the {name} model is not served: {reason}"})
            return
        await self.app(scope, receive, send)


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return None


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _has_body(scope: Scope) -> bool:
    """A request that declares a body: a non-zero Content-Length or any Transfer-Encoding."""
    if _header(scope, b"transfer-encoding") is not None:
        return True
    if _header(scope, b"content-length") is None:
        return False
    declared = _content_length(scope)
    return declared is None or declared > 0  # an unreadable length counts as a body
