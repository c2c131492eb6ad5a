"""Batch export speed of the repeat-aware recommender on a generated shop of any size.

    nice -n 5 .venv/bin/python benchmarks/bench_rec_export.py [--customers 100000] [--k 10]

Generates the built-in shop with `--customers` customers and builds a served-like reranker
without MLflow: a LightGBM booster trained (grid's first setting, early-stopped) on the
validation cut-off's candidates of at most `--train-customers` customers, the sources refitted
on all orders, saved to a temporary folder. Then times what `churnrec recommend` does after
`load_champion`: load the model folder, rank every customer (`rank_customers`: blocks on
`--jobs` threads, default every core), write Parquet.
Prints customers per second of wall and of CPU time, excluding and including the load, the load
average and the peak RSS; `--repeat` ranking runs, the best one reported.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--train-customers", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None, help="ranking threads (default: all)")
    args = parser.parse_args()

    from churnrec import columns as C
    from churnrec.models.recommender import Recommender
    from churnrec.serving.recommend_export import rank_customers
    from churnrec.synthetic import ShopConfig, generate_shop
    from churnrec.training.rec_ranker import build_rank_frame, fit_reranker, model_before
    from churnrec.training.rec_split import rec_windows
    from churnrec.training.recommender import RecommenderTrainConfig

    shop = generate_shop(ShopConfig(n_customers=args.customers, with_events=False))
    lines = shop.orders.assign(**{C.IS_RETURN: shop.orders[C.STATUS] == "returned"})
    config = RecommenderTrainConfig()
    win = rec_windows(lines, config.holdout_days, config.n_train_cutoffs)
    rule = config.ranker.model_copy(update={"mode": "rule"})
    cutoff = win.train_cutoffs[-1]
    train = build_rank_frame(
        model_before(win, shop.items, rule, cutoff), win.truth(cutoff), 0, args.train_customers
    )
    valid = build_rank_frame(
        model_before(win, shop.items, rule, win.val_start),
        win.truth(win.val_start),
        0,
        args.train_customers,
    )
    booster = fit_reranker(train, valid, config.reranker_grid[0], 0, config.k)
    served = model_before(
        win, shop.items, config.ranker.model_copy(update={"mode": "reranker"}), win.end, booster
    )
    with tempfile.TemporaryDirectory() as tmp:
        served.save(Path(tmp) / "model")
        del served, shop, lines, win
        load_avg = os.getloadavg()[0]
        w0, c0 = time.perf_counter(), _cpu()
        model = Recommender.load(Path(tmp) / "model")
        load_s = (time.perf_counter() - w0, _cpu() - c0)
        ids = model.sources.log.users.to_list()
        best = (float("inf"), float("inf"))
        for _ in range(args.repeat):
            w1, c1 = time.perf_counter(), _cpu()
            table, threads = rank_customers(model, ids, args.k, jobs=args.jobs)
            table.to_parquet(Path(tmp) / "recs.parquet", index=False)
            best = min(best, (time.perf_counter() - w1, _cpu() - c1))
    n = len(ids)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        pd.Series(
            {
                "customers": n,
                "candidate trees": booster.num_trees(),
                "ranking threads": threads,
                "rows written": len(table),
                "model load: wall s / CPU s": f"{load_s[0]:.2f} / {load_s[1]:.2f}",
                "rank + write (best of runs): wall s / CPU s": f"{best[0]:.2f} / {best[1]:.2f}",
                "customers/s excl. load: wall / CPU": f"{n / best[0]:,.0f} / {n / best[1]:,.0f}",
                "customers/s incl. load: wall / CPU": (
                    f"{n / (best[0] + load_s[0]):,.0f} / {n / (best[1] + load_s[1]):,.0f}"
                ),
                "load average 1 min: start / end": f"{load_avg:.1f} / {os.getloadavg()[0]:.1f}",
                "peak RSS MiB": round(peak),
            }
        ).to_string()
    )


if __name__ == "__main__":
    main()
