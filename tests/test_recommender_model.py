"""The training job's baselines (ALS alone, popularity, buy-it-again), read from the same
basket log as the measured recommender, on a two-community toy.

Toy: 8 items in category "cat_a" (a0..a7) and 8 in "cat_b" (b0..b7). 16 customers ua0..ua15
buy 4 consecutive A items, 10 customers ub0..ub9 buy 4 consecutive B items, so A items are the
globally popular ones. Each customer's next item (the 5th consecutive one) is the holdout.
"""

from __future__ import annotations

import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.models.ranking.sources import als_top_k, buy_again_top_k
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


def _lines(interactions: pd.DataFrame) -> pd.DataFrame:
    """One order per interaction count (the first item of a run is in the most orders)."""
    lines = interactions.loc[interactions.index.repeat(interactions["n_orders"])]
    nth = lines.groupby(level=0).cumcount()
    return lines.assign(
        **{
            C.ORDER_ID: lines[C.CUSTOMER_ID] + "-" + nth.astype(str),
            C.ORDERED_AT: lines["last_ordered_at"] - pd.to_timedelta(nth, unit="D"),
        }
    )


@pytest.fixture(scope="module")
def sources(toy):
    interactions, items, _ = toy
    return fit_sources(_lines(interactions), items, SMALL)[0]


def _top(sources, ids: list[str], k: int, exclude_purchased: bool = True, als: bool = True):
    factors = (sources.user_factors, sources.item_factors) if als else None
    return als_top_k(
        sources.log, sources.stats, factors, ids, k, exclude_purchased=exclude_purchased
    )


def _community(item_id: str) -> str:
    return item_id[0]


def test_als_baseline_recommends_unbought_items_of_the_community_and_beats_popularity(
    sources, toy
) -> None:
    interactions, _, truth = toy
    customers = sorted(truth)
    model = _top(sources, customers, 4)
    for cid in customers:
        bought = set(interactions.loc[interactions[C.CUSTOMER_ID] == cid, C.ITEM_ID])
        assert [_community(i) for i in model[cid]] == [cid[1]] * 4
        assert not set(model[cid]) & bought
    popular = _top(sources, customers, 4, als=False)
    m = evaluate_recommendations(model, truth, k=4, n_items=2 * N_ITEMS)
    p = evaluate_recommendations(popular, truth, k=4, n_items=2 * N_ITEMS)
    assert p["recall_at_4"] <= 16 / 26  # B customers get only A items from popularity
    assert m["ndcg_at_4"] > p["ndcg_at_4"]


def test_als_baseline_falls_back_to_popular_items_and_can_keep_bought_ones(sources) -> None:
    got = _top(sources, ["nobody", "ua0"], 16, exclude_purchased=False)
    assert set(got["nobody"][:8]) == {f"a{i}" for i in range(8)}  # A items: most popular
    assert len(got["ua0"]) == 16 and {"a0", "a1", "a2", "a3"} <= set(got["ua0"])
    assert len(_top(sources, ["ua0"], 16)["ua0"]) == 12  # 4 bought left out, rest topped up


def test_popularity_and_buy_again_on_a_hand_table() -> None:
    day = pd.Timestamp("2024-01-01")
    rows = [  # (customer, order, day offset, item)
        ("c1", "o1", 0, "i1"),
        ("c1", "o2", 5, "i1"),
        ("c1", "o3", 19, "i2"),
        ("c1", "o4", 20, "i1"),
        ("c2", "o5", 1, "i1"),
        ("c2", "o5", 1, "i3"),
        ("c2", "o6", 2, "i3"),
        ("c3", "o7", 0, "i3"),
        ("c3", "o7", 0, "i1"),
    ]
    lines = pd.DataFrame(rows, columns=[C.CUSTOMER_ID, C.ORDER_ID, "d", C.ITEM_ID])
    lines[C.ORDERED_AT] = day + pd.to_timedelta(lines.pop("d"), unit="D")
    src = fit_sources(lines, None, RankerConfig(n_model=0))[0]
    assert _top(src, ["c1", "new"], 2, als=False) == {"c1": ["i3"], "new": ["i1", "i3"]}
    assert _top(src, ["c1"], 2, exclude_purchased=False, als=False) == {"c1": ["i1", "i3"]}
    # in most orders first (c1: i1 thrice), then the more recent; a tie on both: item order
    assert buy_again_top_k(src.log, ["c1", "c2", "c3", "new"], 5) == {
        "c1": ["i1", "i2"],
        "c2": ["i3", "i1"],
        "c3": ["i1", "i3"],  # one order each, same day: item order
        "new": [],
    }
