"""Where new candidate items come from, fitted on one BasketLog: implicit ALS, basket
co-occurrence and categories; their scores are reranker features too. Guest baskets count in
item statistics and co-occurrence, each as one buyer; ALS never sees them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from churnrec.models.ranking.baskets import BasketLog
from churnrec.models.ranking.blas import one_blas_thread

CONTEXT_ORDERS = 3  # latest orders whose items seed co-occurrence candidates
BM25_FLOOR = 1e-3
_SOLVE_BLOCK = 50_000  # customers per least-squares call when ALS was fitted on a sample


@dataclass(frozen=True)
class ItemStats:
    """Per item, from the log it was fitted on."""

    popularity: np.ndarray  # share of buyers (customers and guest baskets) who bought it
    repeat_rate: np.ndarray  # share of its customers who bought it in 2+ orders
    category: np.ndarray  # int category code per item (-1 = unknown)
    within_category: np.ndarray  # popularity / summed popularity of its category
    n_categories: int
    popular_order: np.ndarray  # item indices, most popular first (ties: index)


def item_stats(log: BasketLog, category: np.ndarray) -> ItemStats:
    n_items = len(log.items)
    counts = user_item_counts(log)
    buyers = np.bincount(counts.indices, minlength=n_items).astype(np.float64)
    repeaters = np.bincount(counts.indices[counts.data >= 2], minlength=n_items).astype(np.float64)
    # a guest basket is one anonymous buyer (guests cannot be told apart across baskets)
    guests = np.bincount(log.guest_item, minlength=n_items).astype(np.float64)
    popularity = (buyers + guests) / max(len(log.users) + log.n_guest_baskets, 1)
    repeat_rate = np.divide(repeaters, buyers, out=np.zeros(n_items), where=buyers > 0)
    category = np.asarray(category, dtype=np.int64)
    n_cat = int(category.max()) + 1 if category.size and category.max() >= 0 else 0
    cat_total = np.bincount(np.maximum(category, 0), weights=popularity, minlength=max(n_cat, 1))
    within = np.divide(
        popularity,
        cat_total[np.maximum(category, 0)],
        out=np.zeros(n_items),
        where=(category >= 0) & (cat_total[np.maximum(category, 0)] > 0),
    )
    order = np.lexsort((np.arange(n_items), -popularity))
    return ItemStats(popularity, repeat_rate, category, within, n_cat, order)


def cooccurrence(log: BasketLog) -> sp.csr_matrix:
    """Items x items cosine of basket co-occurrence (customers' orders and guest baskets),
    diagonal zero (float32)."""
    n_orders = log.n_orders_total + log.n_guest_baskets
    sizes = np.concatenate([np.diff(log.line_ptr), np.diff(log.guest_ptr)])
    rows = np.repeat(np.arange(n_orders), sizes)
    baskets = sp.csr_matrix(
        (
            np.ones(rows.size, dtype=np.float32),
            (rows, np.concatenate([log.line_item, log.guest_item])),
        ),
        shape=(n_orders, len(log.items)),
    )
    co = (baskets.T @ baskets).tocsr().astype(np.float32)
    diag = co.diagonal().copy()
    co.setdiag(0.0)
    co.eliminate_zeros()
    norm = np.sqrt(np.maximum(diag, 1.0)).astype(np.float32)
    co = sp.diags(1.0 / norm) @ co @ sp.diags(1.0 / norm)
    return co.tocsr().astype(np.float32)


def user_item_counts(log: BasketLog) -> sp.csr_matrix:
    """Customers x items: in how many orders each customer bought each item."""
    orders_of_user = np.repeat(np.arange(len(log.users)), np.diff(log.order_ptr))
    line_user = np.repeat(orders_of_user, np.diff(log.line_ptr))
    m = sp.csr_matrix(
        (np.ones(line_user.size, dtype=np.float32), (line_user, log.line_item)),
        shape=(len(log.users), len(log.items)),
    )
    m.sum_duplicates()
    m.sort_indices()
    return m


def bm25_confidence(user_items: sp.csr_matrix) -> sp.csr_matrix:
    """bm25 weights of the item x user matrix (as in implicit's lastfm example), so that very
    popular items and very heavy customers count less."""
    from implicit.nearest_neighbours import bm25_weight

    out = bm25_weight(user_items.T.tocsr(), K1=100.0, B=0.8).T.tocsr().astype(np.float32)
    out.sort_indices()
    # bm25 is <= 0 for a customer who bought nearly everything; a purchase is never negative.
    np.maximum(out.data, BM25_FLOOR, out=out.data)
    return out


def fit_als(
    log: BasketLog,
    factors: int,
    iterations: int,
    regularization: float,
    seed: int,
    max_customers: int | None = None,
):
    """(user_factors, item_factors) of implicit ALS on bm25-weighted order counts; above
    `max_customers`, item factors come from a sample and everyone's factors are solved against
    them (one ALS step), so the cost stops growing with the shop."""
    from implicit.cpu.als import AlternatingLeastSquares

    weights = bm25_confidence(user_item_counts(log))
    n = weights.shape[0]
    sample = None
    if max_customers is not None and n > max_customers:
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=max_customers, replace=False))
    with one_blas_thread():
        model = AlternatingLeastSquares(
            factors=factors,
            iterations=iterations,
            regularization=regularization,
            random_state=seed,
            num_threads=1,
        )
        model.fit(weights if sample is None else weights[sample], show_progress=False)
        if sample is None:
            user_factors = model.user_factors
        else:
            user_factors = np.vstack(
                [
                    model.recalculate_user(
                        np.arange(a, min(a + _SOLVE_BLOCK, n)), weights[a : a + _SOLVE_BLOCK]
                    )
                    for a in range(0, n, _SOLVE_BLOCK)
                ]
            )
    return (
        np.asarray(user_factors, dtype=np.float32),
        np.asarray(model.item_factors, dtype=np.float32),
    )


def als_top_k(
    log: BasketLog,
    stats: ItemStats,
    factors: tuple[np.ndarray, np.ndarray] | None,
    customer_ids: list[str],
    k: int,
    *,
    exclude_purchased: bool,
) -> dict[str, list[str]]:
    """ALS alone, a training baseline: each customer's k best items by factor product (their
    own items left out when `exclude_purchased`), topped up with popular items; a customer
    without factors gets popular items, and `factors=None` is the popularity baseline."""
    users = log.users.to_internal(customer_ids, strict=False)
    item_ids = log.items.external_ids.astype(str)
    bought = user_item_counts(log) if exclude_purchased else None
    out: dict[str, list[str]] = {}
    for start in range(0, len(users), _SOLVE_BLOCK // 25):
        block = users[start : start + _SOLVE_BLOCK // 25]
        scores = np.full((block.size, len(item_ids)), -np.inf, dtype=np.float32)
        known = np.flatnonzero(block >= 0)
        if factors is not None and known.size:
            scores[known] = factors[0][block[known]] @ factors[1].T
        if bought is not None and known.size:
            rows = bought[block[known]].tocoo()
            scores[known[rows.row], rows.col] = -np.inf
        width = min(k, len(item_ids))
        part = np.argpartition(-scores, width - 1, axis=1)[:, :width]
        best = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-best, axis=1, kind="stable")
        top = np.take_along_axis(part, order, axis=1)
        finite = np.isfinite(np.take_along_axis(best, order, axis=1))
        for row, user in enumerate(block.tolist()):
            picked = top[row][finite[row]].tolist()
            if len(picked) < k:  # topped up with popular items
                skip = set(picked)
                if bought is not None and user >= 0:
                    skip |= set(bought[user].indices.tolist())
                fill = (i for i in stats.popular_order.tolist() if i not in skip)
                picked += [i for _, i in zip(range(k - len(picked)), fill)]
            out[customer_ids[start + row]] = item_ids[picked].tolist()
    return out


def buy_again_top_k(log: BasketLog, customer_ids: list[str], k: int) -> dict[str, list[str]]:
    """Buy-it-again, the training job's simplest baseline: each customer's own items, in most
    orders first (ties: bought more recently, then item order); [] for a new customer."""
    n_items = len(log.items)
    orders_of_user = np.repeat(np.arange(len(log.users)), np.diff(log.order_ptr))
    sizes = np.diff(log.line_ptr)
    key = np.repeat(orders_of_user, sizes).astype(np.int64) * n_items + log.line_item
    pairs, inv = np.unique(key, return_inverse=True)
    n_orders = np.bincount(inv, minlength=pairs.size)
    last = np.full(pairs.size, -np.inf)
    np.maximum.at(last, inv, np.repeat(log.order_day, sizes))
    bounds = np.searchsorted(pairs // n_items, np.arange(len(log.users) + 1))
    item_ids = log.items.external_ids.astype(str)
    out: dict[str, list[str]] = {}
    for cid, user in zip(customer_ids, log.users.to_internal(customer_ids, strict=False).tolist()):
        if user < 0:
            out[cid] = []
            continue
        mine = slice(bounds[user], bounds[user + 1])
        items = pairs[mine] % n_items
        order = np.lexsort((items, -last[mine], -n_orders[mine]))[:k]
        out[cid] = item_ids[items[order]].tolist()
    return out
