"""The request timeout answers 504 when a handler is too slow, and a finished request leaves
nothing of itself alive (BentoML's own timer kept each request's context for the whole
timeout, which filled the heap and made long garbage-collection pauses)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref

from churnrec.serving.request_timeout import CancellingTimeoutMiddleware

REQUEST_DATA: contextvars.ContextVar[object] = contextvars.ContextVar("request_data")


class _RequestScoped:
    """Stands in for a request's tracing span: set in the context before the middleware runs."""


def _app(delay: float):
    async def app(scope, receive, send) -> None:
        await asyncio.sleep(delay)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def _call(middleware, scope) -> list[dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


def test_a_slow_handler_gets_504_and_a_fast_one_its_answer() -> None:
    scope = {"type": "http", "path": "/x", "method": "POST", "headers": []}
    slow = asyncio.run(_call(CancellingTimeoutMiddleware(_app(1.0), timeout=0.05), scope))
    assert slow[0]["status"] == 504 and b"0.05 seconds" in slow[1]["body"]
    fast = asyncio.run(_call(CancellingTimeoutMiddleware(_app(0.0), timeout=5), scope))
    assert fast[0]["status"] == 200 and fast[1]["body"] == b"ok"


def test_a_finished_request_leaves_nothing_alive_until_the_timeout() -> None:
    scope = {"type": "http", "path": "/x", "method": "POST", "headers": []}
    middleware = CancellingTimeoutMiddleware(_app(0.0), timeout=600)

    async def one_request() -> weakref.ref:
        data = _RequestScoped()
        REQUEST_DATA.set(data)
        await _call(middleware, scope)
        return weakref.ref(data)

    async def main() -> tuple[bool, int]:
        ref = await asyncio.get_running_loop().create_task(
            one_request(), context=contextvars.Context()
        )
        await asyncio.sleep(0)
        gc.collect()
        live_timers = sum(1 for h in asyncio.get_running_loop()._scheduled if not h.cancelled())
        return ref() is not None, live_timers

    still_alive, live_timers = asyncio.run(main())
    assert not still_alive, "the finished request's context is still referenced"
    assert live_timers == 0
