"""Benchmark: guest checkouts in the recommender's item sources (issue 23, guest sales).

    .venv/bin/python benchmarks/bench_guest_lines.py 5000      # customers of the generated shop

A generated shop with a random quarter of its orders turned into guest checkouts (no customer
id). The recommender (rule mode, at the holdout start) is fitted twice on the same customer
lines: with the guest lines dropped (what churnrec did before) and with them as guest baskets
(item popularity and co-occurrence only). Printed per fit: fit time, customers and holdout
customers (must be equal: guests never become customers), explore recall@10 of popularity
and of the rule, and cart co-occurrence NDCG@10 on hidden-item baskets.
"""

import argparse
import time

import numpy as np

from churnrec import columns as C
from churnrec.models.ranking.sources import als_top_k
from churnrec.models.recommender import RankerConfig
from churnrec.synthetic import ShopConfig, generate_shop
from churnrec.training.ranking_metrics import evaluate_recommendations, ranked_lists
from churnrec.training.rec_cart import evaluate_cart, hidden_item_baskets
from churnrec.training.rec_ranker import model_before
from churnrec.training.rec_split import rec_windows

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("customers", type=int, nargs="?", default=5000, help="generated customers")
n = parser.parse_args().customers
shop = generate_shop(ShopConfig(n_customers=n, seed=7, with_events=False))
o = shop.orders[shop.orders[C.STATUS] != "returned"][
    [C.CUSTOMER_ID, C.ORDER_ID, C.ORDERED_AT, C.ITEM_ID]
]
rng = np.random.default_rng(0)
orders = o[C.ORDER_ID].unique()
guest_orders = set(rng.choice(orders, size=len(orders) // 4, replace=False))
is_guest = o[C.ORDER_ID].isin(guest_orders)
cust, guests = o[~is_guest], o[is_guest].assign(**{C.CUSTOMER_ID: None})
print(
    f"{n} customers: {len(cust):,} customer lines, {len(guests):,} guest lines ({is_guest.mean():.0%})"
)
cfg = RankerConfig(mode="rule")
for name, g in (("before (guests dropped)", None), ("now (guest baskets)", guests)):
    win = rec_windows(cust, 28, 2, guests=g)
    t = time.perf_counter()
    m = model_before(win, shop.items, cfg, win.holdout_start)
    fit_s = time.perf_counter() - t
    truth = win.truth(win.holdout_start)
    ids = sorted(truth)
    n_items = len(m.sources.log.items)
    pop = als_top_k(m.sources.log, m.sources.stats, None, ids, 10, exclude_purchased=True)
    served = ranked_lists(m.rank(ids, 10, exclude_purchased=True), ids)
    hist = win.before(win.holdout_start)
    bought = {
        c: set(i) for c, i in hist[hist[C.CUSTOMER_ID].isin(ids)].groupby(C.CUSTOMER_ID)[C.ITEM_ID]
    }
    explore = {c: its - bought.get(c, set()) for c, its in truth.items()}
    explore = {c: v for c, v in explore.items() if v}
    baskets = hidden_item_baskets(win.window_lines(win.holdout_start), m, 2000, 0)
    cart = evaluate_cart(m, baskets, 10, baseline="cooccurrence")
    print(
        f"{name}: fit {fit_s:.2f}s; {len(m.sources.log.users):,} customers, {len(ids):,} holdout customers, "
        f"{m.sources.log.n_guest_baskets:,} guest baskets; explore recall@10 popularity "
        f"{evaluate_recommendations(pop, explore, 10, n_items=n_items)['recall_at_10']:.4f}, rule(new only) {evaluate_recommendations(served, explore, 10, n_items=n_items)['recall_at_10']:.4f}; "
        f"cart co-occurrence ndcg@10 {cart['cart_ndcg_at_10']:.4f} ({len(baskets)} baskets)"
    )
