"""BentoML's request timeout, without keeping every request alive for the whole timeout.

BentoML 1.4's `TimeoutMiddleware` never cancels its timer, which kept each request's context
alive for 60 s and made the p99 tail (BENCHMARKS.md); this one cancels it when the request ends.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from starlette.responses import JSONResponse

from churnrec.serving.guards import Receive, Scope, Send


class CancellingTimeoutMiddleware:
    """Answer 504 when no response has started within `timeout` seconds."""

    def __init__(self, app: Any, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    @staticmethod
    def _time_out(waiter: asyncio.Future[Any]) -> None:
        if not waiter.done():
            waiter.set_exception(TimeoutError())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        # An empty context: the timer must not keep the request's span and variables alive.
        timer = loop.call_later(self.timeout, self._time_out, waiter, context=contextvars.Context())

        async def started(message: dict[str, Any]) -> None:
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        handler = asyncio.ensure_future(self.app(scope, receive, started))
        handler.add_done_callback(lambda _: waiter.done() or waiter.set_result(None))
        try:
            await waiter
        except TimeoutError:
            if handler.cancel():
                error = f"Not able to process the request in {self.timeout} seconds"
                await JSONResponse({"error": error}, status_code=504)(scope, receive, send)
                return
        finally:
            timer.cancel()
        await handler


def install() -> None:
    """Make BentoML build its apps with `CancellingTimeoutMiddleware`."""
    from bentoml._internal.server.http import traffic

    if not hasattr(traffic, "TimeoutMiddleware"):
        raise RuntimeError(
            "bentoml._internal.server.http.traffic.TimeoutMiddleware is gone: check "
            "churnrec/serving/request_timeout.py against this BentoML version"
        )
    traffic.TimeoutMiddleware = CancellingTimeoutMiddleware  # type: ignore[misc]
