"""Latency and throughput of the running service, next to its no-op endpoint (framework floor).

    .venv/bin/python benchmarks/bench_serving.py [--items 50000] [--customers 100000] [--seconds 10]

Builds (once) a trained workspace under benchmarks/_work/serving with a catalogue of `--items`
items, starts `churnrec serve` on 127.0.0.1, and for each endpoint and concurrency (1 and 8)
sends requests for `--seconds` from an asyncio client in this process (on the same 2 cores as
the server, as a storefront's sidecar would be). It does so for three server set-ups: the
default (1 worker, access log on), access log off, and 2 workers with access log off. Writes the
`## Serving` section of BENCHMARKS.md.
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
    ms = np.array(latencies) * 1000
    return {
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "rps": len(ms) / elapsed,
        "n": len(ms),
        "errors": errors,
    }


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
    del snapshot
    # The client holds the snapshot ids and MLflow's imports; keep its own garbage collector
    # from pausing mid-measurement (that would show up as server latency).
    gc.collect()
    gc.freeze()
    setups = [
        ("1 worker, access log on", {"CHURNREC_WORKERS": "1", "CHURNREC_ACCESS_LOG": "1"}),
        (
            "1 worker, access log off (default)",
            {"CHURNREC_WORKERS": "1", "CHURNREC_ACCESS_LOG": "0"},
        ),
        ("2 workers, access log off", {"CHURNREC_WORKERS": "2", "CHURNREC_ACCESS_LOG": "0"}),
    ]
    rng = random.Random(0)
    cases = [
        ("/noop", "no-op (framework floor)", [{}]),  # needs CHURNREC_BENCHMARK_ROUTES=1
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
    for setup, extra_env in setups:
        port = free_port()
        env = dict(
            os.environ,
            CHURNREC_API_KEY=KEY,
            CHURNREC_WORKSPACE=str(work),
            CHURNREC_RELOAD_SECONDS="0",
            CHURNREC_BENCHMARK_ROUTES="1",  # /noop, the framework floor, exists only here
            **extra_env,
        )
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bentoml",
                "serve",
                "churnrec.serving.service:ChurnRec",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 300
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("server did not become ready")
                time.sleep(0.5)
            time.sleep(2.0)  # let every worker finish loading
            for concurrency in (1, 8):
                for path, label, payloads in cases:
                    res = asyncio.run(measure(base, path, payloads, concurrency, args.seconds))
                    rows.append((setup, label, concurrency, res))
                    print(
                        f"{setup:<36} {label:<26} c={concurrency}  p50={res['p50']:.2f}ms p95={res['p95']:.2f}ms "
                        f"p99={res['p99']:.2f}ms  {res['rps']:.0f} req/s  errors={res['errors']}",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)

    floor = {(setup, c): r["p50"] for setup, label, c, r in rows if label.startswith("no-op")}
    lines = [
        (
            f"Run {date.today()} on {machine_line()}; load average at start {load_at_start}. Catalogue "
            f"{n_catalogue:,} items ({model_items:,} of them bought and so in the model), {len(ids):,} customers "
            f"scored. Load from an asyncio httpx client in one process on the same 2 cores, "
            f"{args.seconds:.0f} s per cell. Reproduce: `.venv/bin/python benchmarks/bench_serving.py`."
        ),
        "",
        "| server | endpoint | concurrency | p50 ms | p95 ms | p99 ms | req/s | p50 / no-op p50 | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for setup, label, c, r in rows:
        lines.append(
            f"| {setup} | {label} | {c} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | {r['rps']:.0f} | "
            f"{r['p50'] / floor[(setup, c)]:.2f}x | {r['errors']} |"
        )
    lines += [
        "",
        (
            "Targets for `/recommendations`: p50 < 5 ms at concurrency 1, p99 < 50 ms at concurrency 8, "
            "p50 within 1.5x of the no-op endpoint."
        ),
        "",
    ]
    for setup, _ in setups:
        rec1 = next(
            r
            for s_, label, c, r in rows
            if s_ == setup and label.startswith("/recommendations") and c == 1
        )
        rec8 = next(
            r
            for s_, label, c, r in rows
            if s_ == setup and label.startswith("/recommendations") and c == 8
        )
        ok = lambda cond: "met" if cond else "NOT met"
        lines.append(
            f"- {setup}: p50 c=1 {rec1['p50']:.2f} ms ({ok(rec1['p50'] < 5)}); p99 c=8 {rec8['p99']:.2f} ms "
            f"({ok(rec8['p99'] < 50)}); vs no-op {rec1['p50'] / floor[(setup, 1)]:.2f}x at c=1 "
            f"({ok(rec1['p50'] <= 1.5 * floor[(setup, 1)])}), {rec8['p50'] / floor[(setup, 8)]:.2f}x at c=8 "
            f"({ok(rec8['p50'] <= 1.5 * floor[(setup, 8)])})."
        )
    if args.no_write:
        print("\n".join(lines))
        return
    replace_section(ROOT / "BENCHMARKS.md", "## Serving", "\n".join(lines))
    print("wrote the Serving section of BENCHMARKS.md")


if __name__ == "__main__":
    main()
