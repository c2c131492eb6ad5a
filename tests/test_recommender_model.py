"""Recommender behaviour on a two-community toy, baselines, fallbacks and the save/load contract.

Toy: 8 items in category "cat_a" (a0..a7) and 8 in "cat_b" (b0..b7). 16 customers ua0..ua15
buy 4 consecutive A items, 10 customers ub0..ub9 buy 4 consecutive B items, so A items are the
globally popular ones. Each customer's next item (the 5th consecutive one) is the holdout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.models.popularity import BuyAgainRecommender, PopularityRecommender
from churnrec.models.recommender import Recommendation, Recommender, RecommenderConfig
from churnrec.models.recommender_parts.interactions import InteractionsError
from churnrec.training.ranking_metrics import evaluate_recommendations

N_ITEMS = 8
SMALL = {"factors": 8, "iterations": 10, "regularization": 3.0}  # strong enough to generalise


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
def als(toy) -> Recommender:
    interactions, items, _ = toy
    return Recommender.fit(interactions, items, RecommenderConfig(algorithm="als", **SMALL))


def _community(item_id: str) -> str:
    return item_id[0]


def test_als_recommends_in_community_unbought_items(als: Recommender, toy) -> None:
    interactions, _, _ = toy
    for cid in ("ua0", "ua7", "ub3"):
        recs = als.recommend(cid, k=4)
        bought = set(interactions.loc[interactions[C.CUSTOMER_ID] == cid, C.ITEM_ID])
        assert [_community(r.item_id) for r in recs] == [cid[1]] * 4
        assert not {r.item_id for r in recs} & bought
        assert {r.source for r in recs} == {"model"}
        assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)


def test_als_beats_popularity_on_ndcg(als: Recommender, toy) -> None:
    interactions, items, truth = toy
    customers = sorted(truth)
    popular = PopularityRecommender.fit(interactions, items).recommend_batch(customers, k=4)
    model = als.recommend_batch(customers, k=4)
    n_items = 2 * N_ITEMS
    m = evaluate_recommendations(model, truth, k=4, n_items=n_items)
    p = evaluate_recommendations(popular, truth, k=4, n_items=n_items)
    # B customers get only A items from popularity: at most 16 of 26 customers can hit
    assert p["recall_at_4"] <= 16 / 26
    assert m["recall_at_4"] == 1.0  # the 4 unbought in-community items are exactly the top 4
    assert m["ndcg_at_4"] > p["ndcg_at_4"]
    assert m["coverage"] == 1.0


def test_batch_matches_single(als: Recommender) -> None:
    batch = als.recommend_batch(["ua3", "ub1", "nobody"], k=4)
    assert list(batch) == ["ua3", "ub1", "nobody"]
    for cid in batch:
        assert set(batch[cid]) == {r.item_id for r in als.recommend(cid, k=4)}


def test_unknown_customer_gets_flagged_popular(als: Recommender) -> None:
    recs = als.recommend("nobody", k=3)
    # every A item has 8 buyers of 26 customers; ties broken by total weight (all 20), then id
    assert recs == [Recommendation(f"a{i}", 8 / 26, "popular") for i in range(3)]
    # B buyers: b0 5, b1 6 (weight 17), b2 6 (weight 15), b3 6 (weight 13), b4 5, b5..b7 4
    in_b = als.recommend("nobody", k=2, category="cat_b")
    assert in_b == [
        Recommendation("b1", 6 / 26, "popular_in_category"),
        Recommendation("b2", 6 / 26, "popular_in_category"),
    ]


def test_category_filter_and_unknown_category(als: Recommender) -> None:
    recs = als.recommend("ua0", k=3, category="cat_b")
    assert len(recs) == 3 and all(_community(r.item_id) == "b" for r in recs)
    # only 4 unbought A items exist: a shorter list, not bought items
    assert {r.item_id for r in als.recommend("ua0", k=6, category="cat_a")} == {
        "a4",
        "a5",
        "a6",
        "a7",
    }
    assert als.recommend("ua0", k=3, category="no_such_category") == []


def test_exclude_purchased_switch(als: Recommender) -> None:
    everything = als.recommend("ua0", k=16, exclude_purchased=False)
    assert len(everything) == 16 and {r.source for r in everything} == {"model"}
    # a customer's own items are the ones the model is most sure of
    assert {r.item_id for r in everything[:4]} == {"a0", "a1", "a2", "a3"}
    assert len(als.recommend("ua0", k=16)) == 12
    assert set(als.recommend_batch(["ua0"], k=4, exclude_purchased=False)["ua0"]) == {
        "a0",
        "a1",
        "a2",
        "a3",
    }


def test_blend_with_full_buy_again_weight_ranks_by_order_count(toy) -> None:
    interactions, items, _ = toy
    rec = Recommender.fit(interactions, items, RecommenderConfig(blend_buy_again=1.0, **SMALL))
    recs = rec.recommend("ua0", k=4, exclude_purchased=False)
    assert recs == [
        Recommendation("a0", 1.0, "buy_again"),
        Recommendation("a1", 0.75, "buy_again"),
        Recommendation("a2", 0.5, "buy_again"),
        Recommendation("a3", 0.25, "buy_again"),
    ]
    assert rec.recommend_batch(["ua0"], k=2, exclude_purchased=False) == {"ua0": ["a0", "a1"]}
    in_a = rec.recommend("ua0", k=2, exclude_purchased=False, category="cat_a")
    assert in_a == [Recommendation("a0", 1.0, "buy_again"), Recommendation("a1", 0.75, "buy_again")]
    assert {
        r.source for r in rec.recommend("ua0", k=3, exclude_purchased=False, category="cat_b")
    } == {"model"}
    # excluding purchases, the blend changes nothing in the ranking
    plain = Recommender.fit(interactions, items, RecommenderConfig(**SMALL))
    assert [r.item_id for r in rec.recommend("ua0", k=4)] == [
        r.item_id for r in plain.recommend("ua0", k=4)
    ]


def test_similar_items_same_community_and_fallbacks(als: Recommender) -> None:
    similar = als.similar_items("a0", k=3)
    assert len(similar) == 3 and "a0" not in {r.item_id for r in similar}
    assert all(_community(r.item_id) == "a" and r.source == "model" for r in similar)
    # known to the items table, never bought: popular in its category
    assert [(r.item_id, r.source) for r in als.similar_items("a_new", k=2)] == [
        ("a0", "popular_in_category"),
        ("a1", "popular_in_category"),
    ]
    assert [r.source for r in als.similar_items("unheard_of", k=2)] == ["popular", "popular"]


@pytest.mark.parametrize("algorithm", ["als", "bpr"])
def test_same_seed_same_scores(toy, algorithm: str) -> None:
    interactions, items, _ = toy
    config = RecommenderConfig(algorithm=algorithm, weighting="log", **SMALL)
    one = Recommender.fit(interactions, items, config)
    two = Recommender.fit(interactions.sample(frac=1.0, random_state=3), items, config)  # row order
    np.testing.assert_array_equal(one.model.item_factors, two.model.item_factors)
    assert one.recommend("ub2", k=5) == two.recommend("ub2", k=5)


def test_save_load_gives_same_recommendations(als: Recommender, tmp_path: Path) -> None:
    als.save(tmp_path / "rec")
    loaded = Recommender.load(tmp_path / "rec")
    assert loaded.config == als.config
    for cid in ("ua0", "ub9", "nobody"):
        for kwargs in ({}, {"exclude_purchased": False}, {"category": "cat_b"}):
            assert loaded.recommend(cid, k=5, **kwargs) == als.recommend(cid, k=5, **kwargs)
    for item in ("a0", "a_new", "unheard_of"):
        assert loaded.similar_items(item, k=3) == als.similar_items(item, k=3)
    customers = ["ua1", "ub1", "nobody"]
    assert loaded.recommend_batch(customers, k=4) == als.recommend_batch(customers, k=4)


def test_bpr_fits_and_recommends(toy) -> None:
    interactions, items, _ = toy
    rec = Recommender.fit(
        interactions, items, RecommenderConfig(algorithm="bpr", learning_rate=0.05, **SMALL)
    )
    assert len(rec.recommend("ua0", k=5)) == 5


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


def test_bad_input_and_k(als: Recommender, toy) -> None:
    interactions, items, _ = toy
    for k in (0, 1001, 2.5, True):
        with pytest.raises(ValueError, match="k must be"):
            als.recommend("ua0", k=k)
    with pytest.raises(InteractionsError, match="n_orders"):
        Recommender.fit(interactions.drop(columns=["n_orders"]), items, RecommenderConfig(**SMALL))
    with pytest.raises(InteractionsError, match="more than one row for customer 'ua0'"):
        Recommender.fit(
            pd.concat([interactions, interactions.head(1)]), items, RecommenderConfig(**SMALL)
        )
    extra = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["netted", "zero"],
            C.ITEM_ID: ["a0", "a1"],
            C.WEIGHT: [-1.0, 0.0],
            "n_orders": [1, 1],
            "last_ordered_at": pd.to_datetime(["2024-01-01", "2024-01-01"]),
        }
    )
    rec = Recommender.fit(pd.concat([interactions, extra]), items, RecommenderConfig(**SMALL))
    assert {r.source for r in rec.recommend("netted", k=2)} == {"popular"}  # row dropped
    with pytest.raises(InteractionsError, match="'weight' must be a finite number; row 0"):
        Recommender.fit(extra.assign(weight=[np.nan, 1.0]), items, RecommenderConfig(**SMALL))
    with pytest.raises(ValueError, match="extra"):
        RecommenderConfig(factor=3)
