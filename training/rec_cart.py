"""Cart context ("frequently bought together") measured on held-out baskets: one known item
hidden (seeded), the rest the cart; `rank` with `carts` vs co-occurrence and popularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.models.recommender import RANK, Recommender
from churnrec.training.ranking_metrics import evaluate_recommendations

CART_WEIGHTS = (0.25, 0.5, 0.75, 1.0)
_BLOCK = 512


@dataclass(frozen=True)
class HiddenItemBasket:
    customer_id: str
    cart: np.ndarray  # item indices left in the cart
    hidden: str  # the item id to find


def hidden_item_baskets(
    window_lines: pd.DataFrame, model: Recommender, limit: int, seed: int
) -> list[HiddenItemBasket]:
    log = model.sources.log
    frame = window_lines.assign(
        _u=log.users.to_internal(window_lines[C.CUSTOMER_ID].astype(str), strict=False),
        _i=log.items.to_internal(window_lines[C.ITEM_ID].astype(str), strict=False),
    )
    frame = frame[(frame["_u"] >= 0) & (frame["_i"] >= 0)]
    key = C.ORDER_ID if C.ORDER_ID in frame.columns else C.ORDERED_AT
    rng = np.random.default_rng(seed)
    out = []
    for (_, customer), basket in frame.groupby([key, C.CUSTOMER_ID], sort=True):
        items = np.unique(basket["_i"].to_numpy())
        if items.size < 2:
            continue
        hide = int(rng.integers(items.size))
        out.append(
            HiddenItemBasket(
                str(customer),
                np.delete(items, hide),
                str(log.items.external_ids[items[hide]]),
            )
        )
    if len(out) > limit:
        keep = np.sort(rng.choice(len(out), size=limit, replace=False))
        out = [out[i] for i in keep]
    return out


def evaluate_cart(
    model: Recommender,
    baskets: list[HiddenItemBasket],
    k: int,
    *,
    cart_weight: float | None = None,
    baseline: str | None = None,
) -> dict[str, float]:
    """`cart_ndcg_at_k` / `cart_recall_at_k` of the served path or of a baseline: `cooccurrence`
    (with the cart, topped up with popular items) or `popularity` (popular items not in cart)."""
    recs: dict[str, list[str]] = {}
    truth = {str(n): {b.hidden} for n, b in enumerate(baskets)}
    item_ids = model.sources.log.items.external_ids.astype(str)
    if baseline is None:
        for start in range(0, len(baskets), _BLOCK):
            chunk = baskets[start : start + _BLOCK]
            table = model.rank(
                [b.customer_id for b in chunk],
                k,
                carts=[item_ids[b.cart] for b in chunk],
                cart_weight=cart_weight,
            )
            # one run per basket, in order (never empty: the hidden item is always a candidate)
            run = np.cumsum(table[RANK].to_numpy() == 1) - 1
            for n, items in table.groupby(run, sort=True)[C.ITEM_ID]:
                recs[str(start + int(n))] = items.tolist()
    elif baseline in ("cooccurrence", "popularity"):
        pop = model.sources.stats.popular_order
        for n, b in enumerate(baskets):
            picked = np.zeros(0, dtype=np.int64)
            if baseline == "cooccurrence":
                score = np.asarray(model.sources.cooc[b.cart].sum(axis=0)).ravel()
                score[b.cart] = -np.inf
                order = np.lexsort((np.arange(score.size), -score))[:k]
                picked = order[score[order] > 0]
            skip = set(b.cart.tolist()) | set(picked.tolist())
            fill = [i for i in pop[: k + len(skip)] if i not in skip][: k - picked.size]
            recs[str(n)] = [item_ids[i] for i in [*picked.tolist(), *fill]]
    else:
        raise ValueError(f"unknown cart baseline {baseline!r}")
    m = evaluate_recommendations(recs, truth, k, n_items=max(len(item_ids), 1))
    return {f"cart_ndcg_at_{k}": m[f"ndcg_at_{k}"], f"cart_recall_at_{k}": m[f"recall_at_{k}"]}
