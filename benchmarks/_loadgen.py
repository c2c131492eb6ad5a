"""A light load generator: one blocking keep-alive HTTP client per process.

The asyncio httpx client used before spends about as much CPU per request as the server does,
in the same process as the benchmark's own data (a big heap for its garbage collector to walk),
and every pause of that process is added to all of its in-flight requests. Here each of the
`concurrency` workers is its own small process (standard library only, GC off) that sends one
request, waits for the answer, and sends the next: a closed loop, like a storefront's workers.
"""

from __future__ import annotations

import gc
import http.client
import json
import multiprocessing as mp
import random
import time
from typing import Any


def _worker(
    host: str,
    port: int,
    path: str,
    bodies: list[bytes],
    headers: dict[str, str],
    seconds: float,
    seed: int,
    start_at: float,
    out: Any,
) -> None:
    gc.disable()
    rng = random.Random(seed)
    conn = http.client.HTTPConnection(host, port, timeout=30)
    latencies: list[float] = []
    errors = 0
    for body in bodies[:5]:  # warm the connection
        conn.request("POST", path, body=body, headers=headers)
        conn.getresponse().read()
    while time.time() < start_at:
        time.sleep(0.001)
    stop_at = time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        body = bodies[rng.randrange(len(bodies))]
        t0 = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - t0)
        if response.status != 200:
            errors += 1
    conn.close()
    out.send((latencies, errors))
    out.close()


def closed_loop(
    base: str,
    path: str,
    payloads: list[dict],
    concurrency: int,
    seconds: float,
    api_key: str | None = None,
) -> tuple[list[float], int, float]:
    """(latencies in seconds, errors, elapsed seconds) of `concurrency` client processes."""
    host, port = base.removeprefix("http://").split(":")
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    bodies = [json.dumps(p).encode() for p in payloads]
    ctx = mp.get_context("spawn")  # small, clean processes: no copy of the benchmark's heap
    start_at = time.time() + 1.5  # all workers spawned and warmed before the clock starts
    pipes, procs = [], []
    for i in range(concurrency):
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_worker,
            args=(host, int(port), path, bodies, headers, seconds, i, start_at, sender),
        )
        proc.start()
        pipes.append(receiver)
        procs.append(proc)
    latencies: list[float] = []
    errors = 0
    for receiver in pipes:
        got, errs = receiver.recv()
        latencies.extend(got)
        errors += errs
    for proc in procs:
        proc.join()
    return latencies, errors, seconds
