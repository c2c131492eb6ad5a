"""Benchmark-only probe (`CHURNREC_BENCHMARK_ROUTES=1`): request times and GC pauses in the server,
so a benchmark can tell a tail made inside the application from one made outside it.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter
from typing import Any

from churnrec.serving.guards import App, Receive, Scope, Send, send_json

STATS_PATH = "/benchmark_stats"


class _Samples:
    """Request durations and GC pauses (seconds), appended from any thread, read in one swap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[float] = []
        self.gc_pauses: list[tuple[int, float]] = []  # (generation, seconds)
        self._gc_started = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pauses.append((int(info["generation"]), time.perf_counter() - self._gc_started))

    def take(self) -> dict[str, Any]:
        with self._lock:
            requests, self.requests = self.requests, []
            pauses, self.gc_pauses = self.gc_pauses, []
        return {
            "gc_tracked": {
                "frozen": gc.get_freeze_count(),
                **{f"generation_{g}": len(gc.get_objects(generation=g)) for g in range(3)},
            },
            "gen2_types": Counter(
                type(o).__name__ for o in gc.get_objects(generation=2)
            ).most_common(12),
            "request_ms": [round(s * 1000, 4) for s in requests],
            "gc_pauses_ms": [[g, round(s * 1000, 4)] for g, s in pauses],
        }


SAMPLES = _Samples()


class LatencyProbeMiddleware:
    """Outermost of ours: times every HTTP request; answers `GET /benchmark_stats` itself."""

    def __init__(self, app: App) -> None:
        self.app = app
        if SAMPLES.on_gc not in gc.callbacks:
            gc.callbacks.append(SAMPLES.on_gc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == STATS_PATH:
            await send_json(send, 200, SAMPLES.take())
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            SAMPLES.requests.append(time.perf_counter() - started)
