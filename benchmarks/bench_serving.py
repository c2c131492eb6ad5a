"""Latency and throughput of the running service, next to its no-op endpoint (framework floor).

    .venv/bin/python benchmarks/bench_serving.py [--items 50000] [--customers 100000] [--seconds 10]

Builds (once) a trained workspace under benchmarks/_work/serving with a catalogue of `--items`
items, starts `churnrec serve` on 127.0.0.1, and for each endpoint and concurrency (1 and 8)
sends requests for `--seconds` from a light load generator (`_loadgen.py`: one blocking client
process per concurrent request, on the same 2 cores as the server, as a storefront's sidecar
would be). Set-ups: the default (1 worker, access log off), the same with BentoML's own request
timeout (what was served before `serving/request_timeout.py`), access log on, and 2 workers.
The diagnosis rows repeat the no-op endpoint with the old in-process asyncio httpx client. Each
cell also reads the server's own view (`/benchmark_stats`, benchmark-only): request time inside
the application and its garbage-collection pauses. Writes the `## Serving` section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _loadgen import closed_loop
from _report import machine_line, replace_section

KEY = "bench-key"


def build_workspace(work: Path, n_items: int, n_customers: int) -> None:
    from churnrec.features.pipeline import run_features
    from churnrec.ingest import ingest
    from churnrec.synthetic import ShopConfig, generate_shop, write_shop
    from churnrec.training.jobs import train_models
    from churnrec.workspace import Workspace

    ws = Workspace.at(work)
    if (work / "mlruns" / "mlflow.db").exists():
        return
    cfg = ShopConfig(n_customers=n_customers, n_items=n_items, seed=3)
    files = write_shop(generate_shop(cfg), work / "shop", "parquet")
    ingest(
        ws,
        files["orders"],
        customers=files["customers"],
        items=files["items"],
        events=files.get("events"),
    )
    run_features(ws)
    train_models(ws, target="all")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def measure(
    base: str, path: str, payloads: list[dict], concurrency: int, seconds: float
) -> dict:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {KEY}"}, limits=limits, timeout=30
    ) as client:

        async def worker(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < stop_at:
                body = payloads[rng.randrange(len(payloads))]
                t0 = time.perf_counter()
                r = await client.post(path, json=body)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

        for _ in range(20):  # warm-up
            await client.post(path, json=payloads[0])
        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return summary(latencies, errors, elapsed)


def summary(latencies: list[float], errors: int, elapsed: float) -> dict:
    """Percentiles (ms), throughput and errors of one cell."""
    ms = np.array(latencies) * 1000
    return {
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "rps": len(ms) / elapsed,
        "n": len(ms),
        "errors": errors,
    }


def _server(work: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(
        os.environ,
        CHURNREC_API_KEY=KEY,
        CHURNREC_WORKSPACE=str(work),
        CHURNREC_RELOAD_SECONDS="0",
        CHURNREC_BENCHMARK_ROUTES="1",  # /noop and /benchmark_stats exist only here
        **extra_env,
    )
    command = [sys.executable, "-m", "bentoml", "serve", "churnrec.serving.service:ChurnRec"]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.time() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit("server did not become ready")
        time.sleep(0.5)
    time.sleep(2.0)  # let every worker finish loading
    return server, base


def cell(
    base: str, path: str, payloads: list[dict], concurrency: int, seconds: float, client: str
) -> dict:
    """Client-side percentiles plus the server's own request times and GC pauses."""
    httpx.get(f"{base}/benchmark_stats")  # start a new window
    if client == "httpx":
        res = asyncio.run(measure(base, path, payloads, concurrency, seconds))
    else:
        res = summary(*closed_loop(base, path, payloads, concurrency, seconds, KEY))
    stats = httpx.get(f"{base}/benchmark_stats").json()
    inside = np.array(stats["request_ms"] or [0.0])
    res["server_p99"] = float(np.percentile(inside, 99))
    res["gc_max"] = max((p for _, p in stats["gc_pauses_ms"]), default=0.0)
    res["load"] = os.getloadavg()[0]
    return res


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md")
    args = parser.parse_args()

    load_at_start = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    work = ROOT / "benchmarks" / "_work" / f"serving_{args.items}_{args.customers}"
    t0 = time.perf_counter()
    build_workspace(work, args.items, args.customers)
    print(f"workspace ready in {time.perf_counter() - t0:.0f}s: {work}", flush=True)
    snapshot = pd.read_parquet(
        max((work / "data" / "features").glob("as_of=*")) / "customer_snapshot.parquet"
    )
    ids = snapshot["customer_id"].tolist()
    n_catalogue = pd.read_parquet(work / "data" / "items.parquet")["item_id"].nunique()

    from churnrec.store.registry import load_champion

    rec = load_champion(work, "recommender").model
    model_items = len(rec.sources.log.items if hasattr(rec, "sources") else rec.history.items)
    del snapshot, rec
    # The in-process httpx client (diagnosis rows) shares this heap: keep its collector quiet.
    gc.collect()
    gc.freeze()
    default = "1 worker, access log off (default)"
    before = "same, BentoML's own request timeout (before)"
    setups = [
        (default, {"CHURNREC_WORKERS": "1", "CHURNREC_ACCESS_LOG": "0"}, (1, 8)),
        (before, {"CHURNREC_BENCHMARK_BENTOML_TIMEOUT": "1"}, (8,)),
        ("1 worker, access log on", {"CHURNREC_ACCESS_LOG": "1"}, (8,)),
        ("2 workers, access log off", {"CHURNREC_WORKERS": "2"}, (8,)),
    ]
    rng = random.Random(0)
    cases = [
        ("/noop", "no-op (framework floor)", [{}]),
        (
            "/recommendations",
            "/recommendations k=10",
            [{"customer_id": rng.choice(ids), "k": 10} for _ in range(500)],
        ),
        (
            "/churn_scores",
            "/churn_scores 1 id",
            [{"customer_ids": [rng.choice(ids)]} for _ in range(500)],
        ),
        (
            "/churn_scores",
            "/churn_scores 100 ids",
            [{"customer_ids": rng.sample(ids, 100)} for _ in range(200)],
        ),
    ]
    rows = []
    for setup, extra_env, concurrencies in setups:
        server, base = _server(work, extra_env)
        try:
            plan = [(c, case, "procs") for c in concurrencies for case in cases]
            if setup in (default, before):
                plan.append((8, cases[0], "httpx"))
            for concurrency, (path, label, payloads), client in plan:
                res = cell(base, path, payloads, concurrency, args.seconds, client)
                rows.append((setup, client, label, concurrency, res))
                print(
                    f"{setup:<44} {client:<5} {label:<24} c={concurrency} p50={res['p50']:.2f} "
                    f"p99={res['p99']:.2f} server p99={res['server_p99']:.2f} "
                    f"gc max={res['gc_max']:.1f} ms {res['rps']:.0f}/s load {res['load']:.1f}",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait(timeout=30)

    floor = {
        (setup, c): r["p50"]
        for setup, client, label, c, r in rows
        if label.startswith("no-op") and client == "procs"
    }
    lines = [
        (
            f"Run {date.today()} on {machine_line()}; load average at start {load_at_start}. "
            f"Catalogue {n_catalogue:,} items ({model_items:,} of them bought and so in the model), "
            f"{len(ids):,} customers scored, {args.seconds:.0f} s per cell. Client `procs`: one "
            "blocking keep-alive client process per concurrent request (`benchmarks/_loadgen.py`); "
            '`httpx`: the asyncio client inside the benchmark process used before. "server p99" '
            "is the request time inside the application (outermost middleware to last byte), "
            '"GC max" the longest garbage-collection pause of the server in that cell (with 2 '
            "workers: of the worker that answered `/benchmark_stats`). Reproduce: "
            "`.venv/bin/python benchmarks/bench_serving.py`."
        ),
        "",
        (
            "| server | client | endpoint | concurrency | p50 ms | p95 ms | p99 ms | req/s "
            "| server p99 ms | GC max ms | p50 / no-op p50 | errors |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for setup, client, label, c, r in rows:
        ratio = r["p50"] / floor[(setup, c)] if (setup, c) in floor else float("nan")
        lines.append(
            f"| {setup} | {client} | {label} | {c} | {r['p50']:.2f} | {r['p95']:.2f} "
            f"| {r['p99']:.2f} | {r['rps']:.0f} | {r['server_p99']:.2f} | {r['gc_max']:.1f} "
            f"| {ratio:.2f}x | {r['errors']} |"
        )
    ok = lambda cond: "met" if cond else "NOT met"
    lines += [
        "",
        (
            "Targets: `/recommendations` p50 < 5 ms at concurrency 1 and within 1.5x of the "
            "no-op; p99 < 50 ms at concurrency 8; every endpoint's p99 at concurrency 8 < 25 ms."
        ),
        "",
    ]
    for setup, client, label, c, r in rows:
        if client == "procs" and c == 8:
            lines.append(
                f"- {setup}, {label}: p99 c=8 {r['p99']:.2f} ms ({ok(r['p99'] < 25)} for 25 ms)"
            )
    rec1 = next(
        r
        for s_, cl, label, c, r in rows
        if s_ == default and label.startswith("/recommendations") and c == 1
    )
    lines.append(
        f"- {default}, /recommendations c=1: p50 {rec1['p50']:.2f} ms ({ok(rec1['p50'] < 5)}), "
        f"{rec1['p50'] / floor[(default, 1)]:.2f}x the no-op "
        f"({ok(rec1['p50'] <= 1.5 * floor[(default, 1)])})."
    )
    if args.no_write:
        print("\n".join(lines))
        return
    replace_section(ROOT / "BENCHMARKS.md", "## Serving", "\n".join(lines))
    print("wrote the Serving section of BENCHMARKS.md")


if __name__ == "__main__":
    main()
