"""Time and memory of the reranker's training steps on a large generated shop (no ingest, no MLflow).

    nice -n 5 .venv/bin/python benchmarks/bench_rec_training.py [--customers 100000]

Generates the built-in shop with `--customers` customers, then runs what `train_recommender`
does before tracking: the three-way split, sources refitted at each training cut-off and at the
validation start (basket log, co-occurrence, ALS), candidate frames (at most
`max_train_customers` per cut-off), the LightGBM grid early-stopped on validation, the rule's
decay and the cart weight chosen on validation; then the sources refitted on all orders (what is
served). Prints wall and CPU seconds per step (the steps are timed by wrapping the functions
`choose_on_validation` calls; nothing in the job changes), the load average and the peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections import defaultdict

import pandas as pd

STEPS = {  # name in churnrec.training.recommender -> what the step is
    "model_before": "sources at each cut-off (basket log, item stats, co-occurrence, ALS)",
    "build_rank_frame": "candidate frames (features + labels)",
    "fit_reranker": "LightGBM grid",
    "hidden_item_baskets": "cart baskets",
    "evaluate_cart": "cart weight on validation",
}


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()

    from churnrec import columns as C
    from churnrec.models.recommender import Recommender
    from churnrec.progress import stage
    from churnrec.synthetic import ShopConfig, generate_shop
    from churnrec.training import recommender as job
    from churnrec.training.rec_ranker import model_before
    from churnrec.training.rec_split import rec_windows

    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def timed(name, fn):
        def wrapper(*a, **kw):
            w, c = time.perf_counter(), _cpu()
            try:
                return fn(*a, **kw)
            finally:
                spent[name][0] += time.perf_counter() - w
                spent[name][1] += _cpu() - c

        return wrapper

    for name in STEPS:
        setattr(job, name, timed(name, getattr(job, name)))
    # ranking: every `rank` call (validation candidates, holdout, cart metrics)
    Recommender.rank = timed("ranking", Recommender.rank)

    load_start = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), _cpu()
    shop = generate_shop(ShopConfig(n_customers=args.customers, with_events=False))
    # only the columns the job reads from the orders table (`load_order_lines`)
    orders = shop.orders
    lines = orders.loc[:, [C.CUSTOMER_ID, C.ORDER_ID, C.ITEM_ID, C.ORDERED_AT, C.QUANTITY]].assign(
        **{C.IS_RETURN: orders[C.STATUS] == "returned"}
    )
    items = shop.items
    del shop, orders
    gen = (time.perf_counter() - t0, _cpu() - c0)
    config = job.RecommenderTrainConfig()
    t1, c1 = time.perf_counter(), _cpu()
    win = rec_windows(lines, config.holdout_days, config.n_train_cutoffs)
    with stage("choose on validation") as s:
        chosen, _, scores, cart_weight = job.choose_on_validation(win, items, config, s)
    choose = (time.perf_counter() - t1, _cpu() - c1)
    t2, c2 = time.perf_counter(), _cpu()
    model_before(win, items, chosen.model_copy(update={"mode": "rule"}), win.end)
    refit = (time.perf_counter() - t2, _cpu() - c2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows: dict[str, object] = {
        "customers": args.customers,
        "order lines": len(lines),
        "generate shop: wall s / CPU s": f"{gen[0]:.1f} / {gen[1]:.1f}",
        "choose on validation: wall s / CPU s": f"{choose[0]:.1f} / {choose[1]:.1f}",
    }
    for name, label in [*STEPS.items(), ("ranking", "ranking (validation, holdout, cart)")]:
        rows[f"  {label}: wall s / CPU s"] = f"{spent[name][0]:.1f} / {spent[name][1]:.1f}"
    rest = [choose[i] - sum(v[i] for v in spent.values()) for i in (0, 1)]
    rows["  the rest (windows' truth, metrics): wall s / CPU s"] = f"{rest[0]:.1f} / {rest[1]:.1f}"
    rows.update(
        {
            "refit sources on all orders: wall s / CPU s": f"{refit[0]:.1f} / {refit[1]:.1f}",
            "training total (choose + refit): wall s / CPU s": (
                f"{choose[0] + refit[0]:.1f} / {choose[1] + refit[1]:.1f}"
            ),
            "load average 1 min: start / end": f"{load_start:.1f} / {os.getloadavg()[0]:.1f}",
            "peak RSS MiB": round(peak),
            "validation ndcg@10 (chosen)": round(scores["chosen"], 4),
            "validation ndcg@10 (all)": ", ".join(f"{k}={v:.4f}" for k, v in scores.items()),
            "chosen": chosen.mode,
            "cart weight": cart_weight,
        }
    )
    print(pd.Series(rows).to_string())


if __name__ == "__main__":
    main()
