"""Demand forecasting: training time at 10,000 items and holdout accuracy on real and demo shops.

    .venv/bin/python benchmarks/bench_demand.py                  # time + CDNOW + demo shop
    .venv/bin/python benchmarks/bench_demand.py --parts time --items 10000

- **time**: 10,000 generated weekly series (two years; seasonal, trending and intermittent
  items in 20 categories, with prices) through the demand job's whole procedure
  (`training.demand.evaluate_series`: every candidate on the validation weeks, the chosen one
  and both rules on the holdout, the refit, intervals at item, category and total level) for an
  8-week horizon. The target is under 2 minutes on 2 cores. Building the weekly series in
  DuckDB and logging to MLflow are not in it (the series are generated as weekly sums).
- **cdnow** / **demo**: `churnrec train demand` as shipped (CDNOW master: one series, the
  shop's total, since its lines carry no item id; the demo shop: `churnrec generate`'s 500
  items with seasonality), holdout WAPE / MASE / bias / coverage next to the seasonal naive and
  the moving average on the same weeks.

Results replace the `## Demand forecasting` section of BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import machine_line, replace_section

WORK = ROOT / "benchmarks" / "_work" / "demand"
SECTION = "## Demand forecasting"
KEYS = ("wape", "mase", "bias", "coverage_80", "coverage_95")


def generated_series(n_items: int, weeks: int = 104, seed: int = 0) -> pd.DataFrame:
    """`item_id, category, week_start, units, revenue`: yearly seasonality, trend, zeros."""
    rng = np.random.default_rng(seed)
    t = np.arange(weeks)
    level = rng.gamma(0.8, 4.0, n_items)[:, None]
    season = 1 + rng.uniform(0, 0.6, n_items)[:, None] * np.sin(
        2 * np.pi * (t[None, :] + rng.integers(0, 52, n_items)[:, None]) / 52
    )
    trend = 1 + rng.normal(0, 0.004, n_items)[:, None] * t[None, :]
    units = rng.poisson(np.clip(level * season * trend, 0, None)).astype("float64")
    price = rng.lognormal(3, 0.6, n_items)
    weeks_index = pd.date_range("2024-01-01", periods=weeks, freq="7D")
    return pd.DataFrame(
        {
            "item_id": np.repeat([f"I{i:05d}" for i in range(n_items)], weeks),
            "category": np.repeat([f"cat{i % 20:02d}" for i in range(n_items)], weeks),
            "week_start": np.tile(weeks_index, n_items),
            "units": units.ravel(),
            "revenue": (units * price[:, None]).ravel(),
        }
    )


def time_training(n_items: int) -> dict[str, object]:
    from churnrec.training import demand_methods as M
    from churnrec.training.demand import DemandTrainConfig, evaluate_series

    M.use_numba_cache(WORK / "numba")
    series = generated_series(n_items)
    load_before = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    ev = evaluate_series(series, DemandTrainConfig())
    return {
        "load": (load_before, os.getloadavg()[0]),
        "items": n_items,
        "rows": len(series),
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "chosen": ev.chosen.name,
        "candidates": {c.name: c.val_score for c in ev.candidates},
        "notes": ev.notes,
        "metrics": ev.metrics,
        "baselines": ev.baselines,
    }


def shop_run(shop: str) -> dict[str, object]:
    from churnrec.ingest import ingest
    from churnrec.ingest.samples import ingest_sample
    from churnrec.synthetic import ShopConfig, generate_shop, write_shop
    from churnrec.training.demand import DemandTrainConfig, train_demand
    from churnrec.workspace import Workspace

    root = WORK / shop
    shutil.rmtree(root, ignore_errors=True)
    ws = Workspace.at(root)
    if shop == "cdnow":
        ingest_sample(ws, "cdnow-master")
    else:
        files = write_shop(generate_shop(ShopConfig(with_events=False)), root / "shop", "csv")
        ingest(ws, files["orders"], customers=files["customers"], items=files["items"])
    started = time.perf_counter()
    result = train_demand(ws, DemandTrainConfig())
    return {"shop": shop, "wall_s": time.perf_counter() - started, "result": result}


def _row(name: str, metrics: dict[str, float], prefix: str = "") -> str:
    cells = [f"{metrics.get(f'{prefix}demand_{k}', float('nan')):.4f}" for k in KEYS]
    return f"| {name} | " + " | ".join(cells) + " |"


INTRO = """\
`benchmarks/bench_demand.py` (issue 23). The time is the demand job's whole procedure on
generated weekly series (every candidate on the validation weeks, the chosen one and both
rules on the holdout, the refit, conformal intervals at three levels); building the series in
DuckDB and the MLflow logging are left out. The accuracy tables are `churnrec train demand` as
shipped, on the holdout weeks, every answer on the same item-weeks (MASE pooled over series;
coverage = share of holdout item-weeks inside the interval). CDNOW's lines carry no item id:
one series, the shop's total, 8 holdout weeks (coverage moves in steps of 12.5%)."""


def report(timing: dict | None, shops: list[dict]) -> str:
    lines = [INTRO, "", f"Run {datetime.now():%Y-%m-%d %H:%M} UTC on {machine_line()}.", ""]
    if timing:
        lines += [
            f"**Training time, {timing['items']:,} items x 104 weeks, 8-week horizon**: "
            f"{timing['wall_s']:.1f} s wall, {timing['cpu_s']:.1f} CPU s, "
            f"{timing['peak_mib']:,.0f} MiB peak, load average {timing['load'][0]:.1f} at the "
            f"start and {timing['load'][1]:.1f} at the end (the machine is shared; target: "
            "under 2 minutes on 2 cores). "
            f"Chosen: {timing['chosen']}; validation WAPE per candidate: "
            + ", ".join(f"{k} {v:.4f}" for k, v in timing["candidates"].items())
            + ".",
            "",
        ]
        lines += [f"- {note}" for note in timing["notes"]] + [""]
    for run in shops:
        r = run["result"]
        lines += [
            (
                f"**{run['shop']}** (`churnrec train demand`, {run['wall_s']:.1f} s): chosen "
                f"{r.chosen}; holdout {r.evaluated_on}, trained through {r.trained_through}."
            ),
            "",
            "| answer | WAPE | MASE | bias | 80% coverage | 95% coverage |",
            "|---|---|---|---|---|---|",
            _row(f"served ({r.chosen})", r.metrics),
            _row("seasonal naive", r.metrics, "seasonal_naive_"),
            _row("moving average", r.metrics, "moving_average_"),
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["time", "cdnow", "demo"])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    timing = time_training(args.items) if "time" in args.parts else None
    shops = [shop_run(s) for s in ("cdnow", "demo") if s in args.parts]
    text = report(timing, shops)
    print(text)
    if not args.no_write:
        replace_section(ROOT / "BENCHMARKS.md", SECTION, text)


if __name__ == "__main__":
    main()
