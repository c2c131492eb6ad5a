"""The training job's baselines (ALS alone, popularity, buy-it-again) on a two-community toy.

Toy: 8 items in category "cat_a" (a0..a7) and 8 in "cat_b" (b0..b7). 16 customers ua0..ua15
buy 4 consecutive A items, 10 customers ub0..ub9 buy 4 consecutive B items, so A items are the
globally popular ones. Each customer's next item (the 5th consecutive one) is the holdout.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.models.popularity import BuyAgainRecommender, PopularityRecommender
from churnrec.models.ranking.interactions import InteractionsError
from churnrec.models.ranking.sources import als_top_k
from churnrec.models.recommender import RankerConfig, fit_sources
from churnrec.training.ranking_metrics import evaluate_recommendations

N_ITEMS = 8
SMALL = RankerConfig(als_factors=8, als_iterations=10, als_regularization=3.0)


def _toy() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, set[str]]]:
    rows, truth = [], {}
    for community, n_customers in (("a", 16), ("b", 10)):
        for j in range(n_customers):
            cid = f"u{community}{j}"
            for t in range(4):
                item = f"{community}{(j + t) % N_ITEMS}"
                # the first item of the run is ordered most often: 4, 3, 2, 1 orders
                rows.append(
                    (
                        cid,
                        item,
                        float(4 - t),
                        4 - t,
                        pd.Timestamp("2024-01-01") + pd.Timedelta(days=t),
                    )
                )
            truth[cid] = {f"{community}{(j + 4) % N_ITEMS}"}
    interactions = pd.DataFrame(
        rows, columns=[C.CUSTOMER_ID, C.ITEM_ID, C.WEIGHT, "n_orders", "last_ordered_at"]
    )
    items = pd.DataFrame(
        {
            C.ITEM_ID: [f"{c}{i}" for c in "ab" for i in range(N_ITEMS)] + ["a_new"],
            C.CATEGORY: ["cat_a"] * N_ITEMS + ["cat_b"] * N_ITEMS + ["cat_a"],
        }
    )
    return interactions, items, truth


@pytest.fixture(scope="module")
def toy() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, set[str]]]:
    return _toy()


@pytest.fixture(scope="module")
def als(toy):
    """The ALS candidate source fitted on the toy's orders (one order per interaction count)."""
    interactions, items, _ = toy
    lines = interactions.loc[interactions.index.repeat(interactions["n_orders"])]
    nth = lines.groupby(level=0).cumcount()
    lines = lines.assign(
        **{
            C.ORDER_ID: lines[C.CUSTOMER_ID] + "-" + nth.astype(str),
            C.ORDERED_AT: pd.Timestamp("2024-02-01") - pd.to_timedelta(nth, unit="D"),
        }
    )
    sources, _ = fit_sources(lines, items, SMALL)

    def top(ids: list[str], k: int, exclude_purchased: bool = True) -> dict[str, list[str]]:
        factors = (sources.user_factors, sources.item_factors)
        return als_top_k(
            sources.log, sources.stats, factors, ids, k, exclude_purchased=exclude_purchased
        )

    return top


def _community(item_id: str) -> str:
    return item_id[0]


def test_als_baseline_recommends_unbought_items_of_the_community_and_beats_popularity(
    als, toy
) -> None:
    interactions, _items, truth = toy
    customers = sorted(truth)
    model = als(customers, 4)
    for cid in customers:
        bought = set(interactions.loc[interactions[C.CUSTOMER_ID] == cid, C.ITEM_ID])
        assert [_community(i) for i in model[cid]] == [cid[1]] * 4
        assert not set(model[cid]) & bought
    popular = PopularityRecommender.fit(interactions).recommend_batch(customers, k=4)
    m = evaluate_recommendations(model, truth, k=4, n_items=2 * N_ITEMS)
    p = evaluate_recommendations(popular, truth, k=4, n_items=2 * N_ITEMS)
    assert p["recall_at_4"] <= 16 / 26  # B customers get only A items from popularity
    assert m["ndcg_at_4"] > p["ndcg_at_4"]


def test_als_baseline_falls_back_to_popular_items_and_can_keep_bought_ones(als) -> None:
    got = als(["nobody", "ua0"], 16, exclude_purchased=False)
    assert set(got["nobody"][:8]) == {f"a{i}" for i in range(8)}  # A items: most popular
    assert len(got["ua0"]) == 16 and {"a0", "a1", "a2", "a3"} <= set(got["ua0"])
    assert len(als(["ua0"], 16)["ua0"]) == 12  # the 4 bought ones left out, the rest topped up


def test_baselines() -> None:
    interactions = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["c1", "c1", "c2", "c2", "c3", "c3"],
            C.ITEM_ID: ["i1", "i2", "i1", "i3", "i1", "i3"],
            C.WEIGHT: [3.0, 1.0, 1.0, 2.0, 1.0, 1.0],
            "n_orders": [3, 1, 1, 2, 1, 1],
            "last_ordered_at": pd.to_datetime(
                ["2024-01-05", "2024-01-20", "2024-01-01", "2024-01-02", "2024-01-01", "2024-01-01"]
            ),
        }
    )
    pop = PopularityRecommender.fit(interactions)
    assert pop.recommend_batch(["c1", "new"], k=2) == {"c1": ["i3"], "new": ["i1", "i3"]}
    assert pop.recommend_batch(["c1"], k=2, exclude_purchased=False) == {"c1": ["i1", "i3"]}
    assert BuyAgainRecommender.fit(interactions).recommend_batch(["c1", "new"], k=5) == {
        "c1": ["i1", "i2"],
        "new": [],
    }
    assert BuyAgainRecommender.fit(interactions, by="recency").recommend_batch(["c1"], k=5) == {
        "c1": ["i2", "i1"]
    }


def test_bad_interactions_are_named() -> None:
    interactions, _items, _ = _toy()
    with pytest.raises(InteractionsError, match="n_orders"):
        PopularityRecommender.fit(interactions.drop(columns=["n_orders"]))
    with pytest.raises(InteractionsError, match="more than one row for customer 'ua0'"):
        PopularityRecommender.fit(pd.concat([interactions, interactions.head(1)]))
    extra = interactions.head(2).assign(weight=[np.nan, 1.0])
    with pytest.raises(InteractionsError, match="'weight' must be a finite number; row 0"):
        PopularityRecommender.fit(extra)
