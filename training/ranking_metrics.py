"""Top-k ranking metrics with binary relevance, over customers with holdout items (one missing
from `recs` scores 0). precision@k divides by k; AP@k by min(k, |truth|); nDCG gains
1 / log2(rank + 1); a repeated item counts once; coverage is over the catalogue size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.training.bootstrap import paired_bootstrap


def ranked_lists(table: pd.DataFrame, ids: Sequence[str]) -> dict[str, list[str]]:
    """{customer_id: item ids, best first} of a ranking table (`Recommender.rank`), with an
    empty list for an id that got no rows: the form the metrics read."""
    out: dict[str, list[str]] = {c: [] for c in ids}
    out.update(table.groupby(C.CUSTOMER_ID, sort=False)[C.ITEM_ID].agg(list).to_dict())
    return out


def _per_user(
    recs: Mapping[str, Sequence[str]], truth: Mapping[str, set[str]], k: int
) -> dict[str, np.ndarray]:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    users = [u for u, items in truth.items() if items]
    if not users:
        raise ValueError("no customer has holdout items; ranking metrics are undefined")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    precision, recall, ndcg, ap = (np.zeros(len(users)) for _ in range(4))
    for n, user in enumerate(users):
        relevant = truth[user]
        top = list(recs.get(user, ()))[:k]
        # a repeat is never a second hit: only an item's first position counts
        hits = np.array([i in relevant and i not in top[:j] for j, i in enumerate(top)], bool)
        n_hits = int(hits.sum())
        precision[n] = n_hits / k
        recall[n] = n_hits / len(relevant)
        ideal = min(k, len(relevant))
        if n_hits:
            ranks = np.flatnonzero(hits)  # 0-based positions of hits
            ndcg[n] = discounts[ranks].sum() / discounts[:ideal].sum()
            ap[n] = (np.arange(1, n_hits + 1) / (ranks + 1)).sum() / ideal
    return {"precision": precision, "recall": recall, "ndcg": ndcg, "map": ap}


def catalogue_coverage(
    recommended_lists: Iterable[Sequence[str]], n_items: int, k: int | None = None
) -> float:
    """Share of the catalogue that appears in at least one (top-k) list."""
    if n_items < 1:
        raise ValueError(f"n_items must be positive, got {n_items}")
    shown: set[str] = set()
    for items in recommended_lists:
        shown.update(list(items) if k is None else list(items)[:k])
    return len(shown) / n_items


def evaluate_recommendations(
    recs: Mapping[str, Sequence[str]], truth: Mapping[str, set[str]], k: int = 10, *, n_items: int
) -> dict[str, float]:
    """All metrics at k as a flat dict (`precision_at_10`, ..., `coverage`, `n_customers`);
    coverage counts every list in `recs`, including customers without truth."""
    per_user = _per_user(recs, truth, k)
    out = {f"{name}_at_{k}": float(values.mean()) for name, values in per_user.items()}
    out["coverage"] = catalogue_coverage(recs.values(), n_items, k)
    out["n_customers"] = int(per_user["precision"].size)
    return out


def per_customer_ndcg(
    recs: Mapping[str, Sequence[str]], truth: Mapping[str, set[str]], k: int = 10
) -> dict[str, float]:
    """nDCG@k of each customer with non-empty truth (for paired comparisons)."""
    users = [u for u, items in truth.items() if items]
    values = _per_user(recs, truth, k)["ndcg"]
    return dict(zip(users, values.tolist()))


def paired_mean_difference(
    a: Mapping[str, float], b: Mapping[str, float], n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """(mean of a - b, 2.5% and 97.5% bootstrap quantiles), resampling the shared customers."""
    users = sorted(set(a) & set(b))
    if not users:
        raise ValueError("no customer is scored by both; a paired comparison is undefined")
    mine = np.array([a[u] for u in users])
    theirs = np.array([b[u] for u in users])
    return paired_bootstrap(
        lambda rows: float(mine[rows].mean()),
        lambda rows: float(theirs[rows].mean()),
        len(users),
        rounds=n_boot,
        seed=seed,
    )


def split_truth(
    truth: Mapping[str, set[str]], history: Mapping[str, set[str]]
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(repeat truth, explore truth): items bought before by each customer, and items new to
    them (the Next Basket Reality Check split). Customers with an empty part are left out."""
    repeat, explore = {}, {}
    for user, items in truth.items():
        before = history.get(user, set())
        if items & before:
            repeat[user] = items & before
        if items - before:
            explore[user] = items - before
    return repeat, explore
