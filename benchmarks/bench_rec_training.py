"""Time and memory of the reranker's training steps on a large generated shop (no ingest, no MLflow).

    .venv/bin/python benchmarks/bench_rec_training.py [--customers 100000]

Generates the built-in shop with `--customers` customers, then runs what `train_recommender`
does before tracking: the three-way split, sources refitted at each training cut-off and at the
validation start (basket log, co-occurrence, ALS), candidate frames (at most
`max_train_customers` per cut-off), the LightGBM grid early-stopped on validation, the rule's
decay and the cart weight chosen on validation; then the sources refitted on all orders (what is
served). Prints seconds per step and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import resource
import time

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()

    from churnrec import columns as C
    from churnrec.progress import stage
    from churnrec.synthetic import ShopConfig, generate_shop
    from churnrec.training.rec_ranker import model_at
    from churnrec.training.rec_split import rec_windows
    from churnrec.training.recommender import RecommenderTrainConfig, choose_on_validation

    t0 = time.perf_counter()
    shop = generate_shop(ShopConfig(n_customers=args.customers, with_events=False))
    lines = shop.orders.assign(**{C.IS_RETURN: shop.orders[C.STATUS] == "returned"})
    gen_s = time.perf_counter() - t0
    config = RecommenderTrainConfig()
    t1 = time.perf_counter()
    win = rec_windows(lines, config.holdout_days, config.n_train_cutoffs)
    with stage("choose on validation") as s:
        chosen, _, scores, cart_weight = choose_on_validation(win, shop.items, config, s)
    choose_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    model_at(win.lines, shop.items, chosen.model_copy(update={"mode": "rule"}), win.end)
    refit_s = time.perf_counter() - t2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        pd.Series(
            {
                "customers": args.customers,
                "order lines": len(lines),
                "generate s": round(gen_s, 1),
                "split + cut-off sources + frames + LightGBM grid + validation s": round(
                    choose_s, 1
                ),
                "refit sources on all orders s": round(refit_s, 1),
                "peak RSS MiB": round(peak),
                "validation ndcg@10 (chosen)": round(scores["chosen"], 4),
                "chosen": chosen.mode,
                "cart weight": cart_weight,
            }
        ).to_string()
    )


if __name__ == "__main__":
    main()
