"""The repeat-aware recommender on the built-in shop: holdout quality, training, export, serving.

    .venv/bin/python benchmarks/bench_recommender.py [--customers 5000] [--seconds 5]

Builds (once) a workspace under benchmarks/_work/recommender_<customers> from the built-in
shop (default `ShopConfig`, i.e. `churnrec demo`'s shop) with small churn / repurchase models
(serving needs them), then:

1. trains the recommender (`train_recommender`), timing it, and reads its holdout metrics;
2. exports top-10 for every customer (`export_recommendations`), customers per second;
3. starts `churnrec serve` and measures the no-op endpoint, `/recommendations` (default request,
   cached after the first answer per customer; with a cart, never cached) and `/events`, at
   concurrency 1 and 8, `--seconds` per cell, from client processes on the same machine; `/events`
   with both sync policies (`always`, the default, and `interval`).

Writes the `## Recommender` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _report import machine_line, replace_section
from bench_serving import KEY, cell, free_port

FAST = """\
churn:
  n_train_cutoffs: 2
  model: {n_estimators: 60, early_stopping_rounds: 20}
repurchase:
  n_train_cutoffs: 2
  model: {num_boost_round: 60, early_stopping_rounds: 20}
"""


def build_workspace(work: Path, n_customers: int) -> None:
    from churnrec.features.pipeline import run_features
    from churnrec.ingest import ingest
    from churnrec.synthetic import ShopConfig, generate_shop, write_shop
    from churnrec.training.jobs import train_models
    from churnrec.workspace import Workspace

    ws = Workspace.at(work)
    if (work / "mlruns" / "mlflow.db").exists():
        return
    files = write_shop(generate_shop(ShopConfig(n_customers=n_customers)), work / "shop", "parquet")
    ingest(ws, files["orders"], customers=files["customers"], items=files["items"])
    run_features(ws)
    (work / "fast.yaml").write_text(FAST)
    train_models(ws, target="churn", config_path=work / "fast.yaml")
    train_models(ws, target="repurchase", config_path=work / "fast.yaml")


def serve(work: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURNREC_")}
    env.update({"CHURNREC_API_KEY": KEY, "CHURNREC_ACCESS_LOG": "0", **(extra_env or {})})
    env["CHURNREC_BENCHMARK_ROUTES"] = "1"  # /noop, the framework floor, exists only here
    proc = subprocess.Popen(
        [sys.executable, "-m", "churnrec.cli", "serve", "--workspace", str(work)]
        + ["--port", str(port), "--reload-seconds", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server not ready")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    work = ROOT / "benchmarks" / "_work" / f"recommender_{args.customers}"
    build_workspace(work, args.customers)

    from churnrec.serving.recommend_export import export_recommendations
    from churnrec.training.recommender import train_recommender
    from churnrec.workspace import Workspace

    ws = Workspace.at(work)
    t0 = time.perf_counter()
    result = train_recommender(ws)
    train_s = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    m = result.metrics
    cpu0, wall0, load_export = sum(os.times()[:2]), time.perf_counter(), os.getloadavg()[0]
    export = export_recommendations(ws, out=work / "recs.parquet", k=10)
    export_wall = time.perf_counter() - wall0  # with the model load and the file write
    export_cpu = sum(os.times()[:2]) - cpu0
    export_rate = export.customers / export.seconds
    export_verdict = "met" if export_rate >= 10_000 else "not met"

    proc, base = serve(work)
    try:
        orders = pd.read_parquet(work / "data" / "orders.parquet")
        ids = sorted(orders["customer_id"].unique())
        items = orders["item_id"].value_counts().index[:50].tolist()
        plain = [{"customer_id": c, "k": 10} for c in ids]
        carts = [
            {"customer_id": c, "k": 10, "cart_item_ids": [items[i % 50]]} for i, c in enumerate(ids)
        ]
        events = [
            {"customer_id": f"bench-{i}", "item_id": items[i % 50], "event_type": "add_to_cart"}
            for i in range(2000)
        ]
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}) as c:
            for body in plain:  # fill the answer cache once
                c.post("/recommendations", json=body)
        cells = [
            ("no-op (framework floor)", "/noop", [{}]),
            ("/recommendations default (cached)", "/recommendations", plain),
            ("/recommendations with cart (computed)", "/recommendations", carts),
            ("/events add_to_cart (sync always, default)", "/events", events),
        ]
        rows = []
        for concurrency in (1, 8):
            floor = None
            for name, path, payloads in cells:
                r = cell(base, path, payloads, concurrency, args.seconds, "procs")
                floor = floor or r["p50"]
                rows.append((name, concurrency, r, r["p50"] / floor))
                print(name, concurrency, {k: round(v, 2) for k, v in r.items()}, flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # /events answered before the fsync: its own server (the policy is read at start).
    proc, base = serve(work, {"CHURNREC_EVENTS_SYNC": "interval"})
    try:
        floors = {c: r["p50"] for n, c, r, _ in rows if n.startswith("no-op")}
        for concurrency in (1, 8):
            r = cell(base, "/events", events, concurrency, args.seconds, "procs")
            name = "/events add_to_cart (sync interval: flushed within 200 ms)"
            rows.append((name, concurrency, r, r["p50"] / floors[concurrency]))
            print(name, concurrency, {k: round(v, 2) for k, v in r.items()}, flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    table = "\n".join(
        f"| {n} | {c} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | {r['rps']:.0f} "
        f"| {r['server_p99']:.2f} | {r['gc_max']:.1f} | {ratio:.2f}x | {r['errors']} |"
        for n, c, r, ratio in rows
    )
    body = f"""Run {date.today()} on {machine_line()}; load average at start {load} (the machine is
shared with other jobs). Built-in shop (`ShopConfig(n_customers={args.customers})`, the demo's
shop): {len(ids):,} customers with orders. Reproduce: `.venv/bin/python
benchmarks/bench_recommender.py --customers {args.customers}`.

Holdout (last 28 days; chosen on the 28 days before; {int(m["n_eval_customers"]):,} customers),
served model `{result.chosen}`:

| | served | buy-it-again | decayed buy-it-again | popularity | ALS |
|---|---|---|---|---|---|
| NDCG@10 | {m["ndcg_at_10"]:.4f} | {m["buy_again_ndcg_at_10"]:.4f} | {m["decayed_buy_again_ndcg_at_10"]:.4f} | {m["popularity_ndcg_at_10"]:.4f} | {m["als_ndcg_at_10"]:.4f} |
| repeat NDCG@10 | {m.get("repeat_ndcg_at_10", float("nan")):.4f} | {m.get("buy_again_repeat_ndcg_at_10", float("nan")):.4f} | {m.get("decayed_buy_again_repeat_ndcg_at_10", float("nan")):.4f} | {m.get("popularity_repeat_ndcg_at_10", float("nan")):.4f} | {m.get("als_repeat_ndcg_at_10", float("nan")):.4f} |
| explore recall@10 | {m.get("explore_recall_at_10", float("nan")):.4f} | {m.get("buy_again_explore_recall_at_10", float("nan")):.4f} | {m.get("decayed_buy_again_explore_recall_at_10", float("nan")):.4f} | {m.get("popularity_explore_recall_at_10", float("nan")):.4f} | {m.get("als_explore_recall_at_10", float("nan")):.4f} |

- served / buy-it-again = {m["ndcg_at_10"] / m["buy_again_ndcg_at_10"]:.2f}x (target 1.05x), paired
  bootstrap 95% interval of the difference [{m["ndcg_at_10_minus_buy_again_ci_low"]:+.4f},
  {m["ndcg_at_10_minus_buy_again_ci_high"]:+.4f}]; served / popularity =
  {m["ndcg_at_10"] / m["popularity_ndcg_at_10"]:.2f}x (target 2x); validation NDCG@10
  {m["val_ndcg_at_10"]:.4f}.
- `exclude_purchased: true` (new items only) explore recall@10
  {m.get("exclude_purchased_explore_recall_at_10", float("nan")):.4f} vs popularity
  {m.get("popularity_exclude_purchased_explore_recall_at_10", float("nan")):.4f} and ALS
  {m.get("als_exclude_purchased_explore_recall_at_10", float("nan")):.4f}.
- Cart (one item of each holdout basket hidden): NDCG@10 {m.get("cart_ndcg_at_10", float("nan")):.4f}
  vs co-occurrence {m.get("cooccurrence_cart_ndcg_at_10", float("nan")):.4f} and popularity
  {m.get("popularity_cart_ndcg_at_10", float("nan")):.4f}.
- Training the recommender job (3 cut-offs + validation + holdout + refit + MLflow logging):
  {train_s:.0f} s, peak RSS of the process {peak_mib:,.0f} MiB.
- Batch export of top-10 for {export.customers:,} customers: ranking {export.seconds:.2f} s =
  {export_rate:,.0f} customers/s (target 10,000/s: {export_verdict} in this run); with the model
  load and the file write {export_wall:.2f} s wall, {export_cpu:.2f} CPU s; load average
  {load_export:.1f}.

Serving (1 worker, access log off, `--seconds {args.seconds:g}` per cell; load from one blocking
client process per concurrent request, `benchmarks/_loadgen.py`; "server p99" is the time inside
the application, "GC max" the server's longest garbage-collection pause in the cell; see
`## Serving`):

| endpoint | concurrency | p50 ms | p95 ms | p99 ms | req/s | server p99 ms | GC max ms | p50 / no-op p50 | errors |
|---|---|---|---|---|---|---|---|---|---|
{table}
"""
    print(body)
    if not args.no_write:
        replace_section(ROOT / "BENCHMARKS.md", "## Recommender", body + _kept_notes())


KEPT_FROM = "Batch export at scale ("  # notes from the scale benchmarks, kept across reruns


def _kept_notes() -> str:
    """The section's hand-written scale notes (export and training at scale), carried over."""
    text = (ROOT / "BENCHMARKS.md").read_text()
    start = text.find(KEPT_FROM, text.find("## Recommender\n"))
    if start < 0:
        return ""
    end = text.find("\n## ", start)
    return "\n" + text[start : end if end > 0 else len(text)].rstrip() + "\n"


if __name__ == "__main__":
    main()
