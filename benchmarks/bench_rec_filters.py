"""p50 of a filtered `/recommendations` next to an unfiltered one (target: within 1.5x).

    .venv/bin/python benchmarks/bench_rec_filters.py [--customers 5000] [--asks 1000]

Builds (once) a workspace under benchmarks/_work/rec_filters_<customers> from the generated
shop, with an items table that marks 5% of the items unavailable, trains the recommender with
its default config and starts `churnrec serve` on 127.0.0.1 (1 worker, access log off). One
blocking keep-alive client (standard library, GC off) then asks, customer after customer:
the unfiltered request first (so it is computed by the model, not the answer cache; the cached
repeat is reported apart), then every filtered variant for the same customer, so load changes
on the shared machine hit all variants alike. Prints one markdown table: p50 / p95 per variant
and its ratio to the unfiltered p50.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_recommender import KEY, serve


def build_workspace(work: Path, n_customers: int) -> None:
    from churnrec import columns as C
    from churnrec.ingest import ingest
    from churnrec.synthetic import ShopConfig, generate_shop, write_shop
    from churnrec.training.recommender import train_recommender
    from churnrec.workspace import Workspace

    if (work / "mlruns" / "mlflow.db").exists():
        return
    shop = generate_shop(ShopConfig(n_customers=n_customers, with_events=False))
    rng = np.random.default_rng(0)
    hidden = rng.choice(shop.items[C.ITEM_ID], size=len(shop.items) // 20, replace=False)
    shop.items[C.AVAILABLE] = ~shop.items[C.ITEM_ID].isin(set(hidden))
    files = write_shop(shop, work / "shop", "parquet")
    ws = Workspace.at(work)
    ingest(ws, files["orders"], customers=files["customers"], items=files["items"])
    train_recommender(ws)


def variants(items: pd.DataFrame, popular: list[str]) -> dict[str, dict]:
    from churnrec import columns as C

    categories = sorted(items[C.CATEGORY].dropna().unique())
    low, high = items[C.PRICE].quantile([0.2, 0.8]).tolist()
    every = {
        "exclude_categories": categories[:2],
        "exclude_item_ids": popular[:5],
        "min_price": low,
        "max_price": high,
        "exclude_bought_within_days": 30,
    }
    return {
        "categories": {"filters": {"categories": categories[:3]}},
        "price range": {"filters": {"min_price": low, "max_price": high}},
        "exclude_bought_within_days 30": {"filters": {"exclude_bought_within_days": 30}},
        "promoted 20%": {"promoted_item_ids": popular[-20:], "promoted_share": 0.2},
        "max_per_category 2": {"max_per_category": 2},
        "all of them": {
            "filters": every,
            "promoted_item_ids": popular[-20:],
            "promoted_share": 0.2,
            "max_per_category": 2,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--asks", type=int, default=1_000, help="customers asked per variant")
    args = parser.parse_args()
    from churnrec import columns as C

    work = ROOT / "benchmarks" / "_work" / f"rec_filters_{args.customers}"
    build_workspace(work, args.customers)
    orders = pd.read_parquet(work / "data" / "orders.parquet")
    items = pd.read_parquet(work / "data" / "items.parquet")
    popular = orders[C.ITEM_ID].value_counts().index.tolist()
    ids = orders[C.CUSTOMER_ID].drop_duplicates().sample(frac=1.0, random_state=1).tolist()
    ids = ids[: args.asks]
    bodies = {"unfiltered": {}, **variants(items, popular[:200])}
    proc, base = serve(work)
    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in [*bodies, "unfiltered, cached"]}
    host, port = base.removeprefix("http://").split(":")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def ask(body: dict) -> float:
        payload = json.dumps(body).encode()
        t0 = time.perf_counter()
        conn.request("POST", "/recommendations", body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - t0
        if response.status != 200 or len(json.loads(data)["items"]) != 10:
            raise RuntimeError(f"{body}: {response.status} {data[:300]!r}")
        return elapsed

    try:
        for n in range(20):  # warm up, with customers that are not measured
            ask({"customer_id": f"warm-{n}", "k": 10})
        gc.disable()
        for cid in ids:
            for name, extra in bodies.items():
                times[name].append(ask({"customer_id": cid, "k": 10, **extra}))
            times["unfiltered, cached"].append(ask({"customer_id": cid, "k": 10}))
    finally:
        gc.enable()
        conn.close()
        proc.terminate()
        proc.wait(30)
    load_after = os.getloadavg()[0]
    base_p50 = float(np.percentile(times["unfiltered"], 50))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    print(
        f"bench_rec_filters.py, {stamp} UTC, {args.customers:,} customers, {len(items):,} items "
        f"(5% unavailable), {len(ids):,} customers asked per variant, k=10, concurrency 1; "
        f"load {load_before:.1f} -> {load_after:.1f}\n"
    )
    print("| request | p50 (ms) | p95 (ms) | p50 / unfiltered |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        ms = np.asarray(values) * 1000
        p50, p95 = np.percentile(ms, 50), np.percentile(ms, 95)
        print(f"| {name} | {p50:.2f} | {p95:.2f} | {p50 / (base_p50 * 1000):.2f}x |")


if __name__ == "__main__":
    main()
