"""API-key access control for the service, as a small ASGI middleware.

The key comes from `CHURNREC_API_KEY`, or from the file named by `CHURNREC_API_KEY_FILE`
(first line, surrounding whitespace ignored). Clients send `Authorization: Bearer <key>`.
Health checks (`/healthz`, `/livez`, `/readyz`) and the OpenAPI docs stay open so that
orchestrators and people can find the service. `CHURNREC_AUTH_DISABLED=1` turns the check off
for local development and says so loudly on every start.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger("churnrec.auth")

KEY_ENV = "CHURNREC_API_KEY"
KEY_FILE_ENV = "CHURNREC_API_KEY_FILE"
DISABLE_ENV = "CHURNREC_AUTH_DISABLED"
OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/", "/docs.json"})
OPEN_PREFIXES = ("/static_content/",)


class AuthConfigError(RuntimeError):
    """No API key configured and auth not explicitly disabled."""


def auth_disabled(env: Mapping[str, str] = os.environ) -> bool:
    return env.get(DISABLE_ENV, "").strip().lower() in {"1", "true", "yes"}


def resolve_api_key(env: Mapping[str, str] = os.environ) -> str | None:
    """The configured key, `None` when auth is disabled; raises if neither is set up."""
    if auth_disabled(env):
        return None
    key = env.get(KEY_ENV, "").strip()
    if not key and env.get(KEY_FILE_ENV):
        path = Path(env[KEY_FILE_ENV])
        try:
            lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        except OSError as exc:
            raise AuthConfigError(f"{KEY_FILE_ENV}={path} cannot be read: {exc}") from exc
        if not lines:
            raise AuthConfigError(f"{KEY_FILE_ENV}={path} is empty")
        key = lines[0]
    if not key:
        raise AuthConfigError(
            f"no API key: set {KEY_ENV} or {KEY_FILE_ENV}, "
            f"or {DISABLE_ENV}=1 for local development only"
        )
    return key


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ApiKeyMiddleware:
    """Rejects requests without `Authorization: Bearer <key>` with 401 before any work."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self.key = resolve_api_key()
        if self.key is None:
            logger.warning(
                "!!! churnrec: API key check DISABLED (%s is set). Anyone who can reach this "
                "port can read scores. Never run like this outside your own machine. !!!",
                DISABLE_ENV,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.key is None or _is_open(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        supplied = _bearer_token(scope)
        if supplied is not None and hmac.compare_digest(supplied.encode(), self.key.encode()):
            await self.app(scope, receive, send)
            return
        reason = "missing Authorization header" if supplied is None else "invalid API key"
        body = json.dumps(
            {"error": f"unauthorized: {reason}; send 'Authorization: Bearer <CHURNREC_API_KEY>'"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None
