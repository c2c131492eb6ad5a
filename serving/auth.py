"""API-key access control (`Authorization: Bearer <key>`) as a small ASGI middleware.

Health checks and docs stay open. Failures are logged (never the token) and counted per address
per worker: past the limit an address gets 429 for a minute, so keys cannot be guessed.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections import deque

from churnrec.serving.guards import App, Receive, Scope, Send, send_json
from churnrec.serving.settings import ServiceSettings

logger = logging.getLogger("churnrec.auth")

OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/", "/docs.json", "/docs.js"})
OPEN_PREFIXES = ("/static_content/",)


class FailureLimiter:
    """Per-client failed authentications in a sliding minute, in this worker's memory only
    (a restart forgets); blocks the noisy clients."""

    MAX_CLIENTS = 10_000  # forget idle clients beyond this many (bounded memory)

    def __init__(self, limit: int, window: float = 60.0, block: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self.block = block
        self._failures: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def retry_after(self, client: str, now: float) -> int | None:
        """Seconds the client must still wait, or None when it may try."""
        until = self._blocked_until.get(client)
        if until is None:
            return None
        if now >= until:
            del self._blocked_until[client]
            return None
        return max(1, math.ceil(until - now))

    def failed(self, client: str, now: float) -> bool:
        """Count one failure; True when this one blocks the client."""
        if self.limit <= 0:
            return False
        if len(self._failures) >= self.MAX_CLIENTS and client not in self._failures:
            self._forget_idle(now)
        times = self._failures.setdefault(client, deque())
        times.append(now)
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.limit:
            return False
        del self._failures[client]
        self._blocked_until[client] = now + self.block
        return True

    def _forget_idle(self, now: float) -> None:
        for client in [c for c, t in self._failures.items() if not t or t[-1] <= now - self.window]:
            del self._failures[client]
        for client in [c for c, until in self._blocked_until.items() if until <= now]:
            del self._blocked_until[client]
        if len(self._failures) >= self.MAX_CLIENTS:  # all recent: drop the oldest half
            for client in list(self._failures)[: self.MAX_CLIENTS // 2]:
                del self._failures[client]


class ApiKeyMiddleware:
    """Rejects requests without `Authorization: Bearer <key>` with 401 before any work."""

    def __init__(self, app: App, settings: ServiceSettings) -> None:
        self.app = app
        self.key = settings.bearer_key()
        self.limiter = FailureLimiter(settings.auth_failures_per_minute)
        for line in settings.warnings():
            logger.warning("churnrec: WARNING: %s", line)
        if self.key is None:
            logger.warning(
                "!!! churnrec: API key check DISABLED (CHURNREC_AUTH_DISABLED is set). Anyone "
                "who can reach this port can read scores. Never run like this outside your own "
                "machine. !!!"
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        is_open = path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)
        if scope["type"] != "http" or self.key is None or is_open:
            await self.app(scope, receive, send)
            return
        peer = scope.get("client")
        client = str(peer[0]) if peer else "unknown"
        now = time.monotonic()
        wait = self.limiter.retry_after(client, now)
        if wait is not None:  # blocked: the key is not even looked at (no guessing meanwhile)
            error = f"too many failed authentications from this address; retry in {wait} s"
            await send_json(send, 429, {"error": error}, ((b"retry-after", str(wait).encode()),))
            return
        supplied = _bearer_token(scope)
        if supplied is not None and hmac.compare_digest(supplied.encode(), self.key.encode()):
            await self.app(scope, receive, send)
            return
        reason = "missing Authorization header" if supplied is None else "invalid API key"
        # the path is the client's text: control characters escaped (no forged log lines), cut
        route = path.encode("unicode_escape").decode("ascii")[:200]
        logger.warning("churnrec: failed authentication on %s from %s: %s", route, client, reason)
        if self.limiter.failed(client, now):
            logger.warning(
                "churnrec: %s blocked for %.0f s after %d failed authentications in a minute "
                "(429 until then; CHURNREC_AUTH_FAILURES_PER_MINUTE)",
                client,
                self.limiter.block,
                self.limiter.limit,
            )
        error = f"unauthorized: {reason}; send 'Authorization: Bearer <CHURNREC_API_KEY>'"
        await send_json(send, 401, {"error": error}, ((b"www-authenticate", b"Bearer"),))


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None
