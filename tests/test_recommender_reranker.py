"""The repeat-aware recommender: point-in-time features, candidates, cart, live orders, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.models.ranking.baskets import to_days
from churnrec.models.ranking.rank_features import FEATURE_NAMES, build_pairs
from churnrec.models.recommender import TABLE_COLUMNS, RankerConfig, Recommender, fit_sources
from churnrec.synthetic import ShopConfig, generate_shop
from churnrec.training.ranking_metrics import ranked_lists
from churnrec.training.rec_ranker import RerankerParams, build_rank_frame, fit_reranker
from churnrec.training.rec_split import rec_windows

T0 = pd.Timestamp("2025-01-01")


def _lines(rows: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    """(customer, order, day offset, item) -> order lines."""
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: [r[0] for r in rows],
            C.ORDER_ID: [r[1] for r in rows],
            C.ORDERED_AT: [T0 + pd.Timedelta(days=r[2]) for r in rows],
            C.ITEM_ID: [r[3] for r in rows],
        }
    )


HAND = _lines(
    [
        ("A", "o1", 0, "x"),
        ("A", "o1", 0, "y"),
        ("A", "o2", 10, "x"),
        ("A", "o3", 20, "x"),
        ("A", "o3", 20, "z"),
        ("B", "o4", 5, "y"),
        ("B", "o5", 15, "w"),
    ]
)


def test_features_count_orders_recency_and_usual_intervals() -> None:
    sources, _ = fit_sources(HAND, None, RankerConfig(n_model=0))
    now = float(to_days(pd.Series([T0 + pd.Timedelta(days=30)]))[0])
    user = sources.log.users.get("A")
    pairs = build_pairs(sources, np.array([user]), now)
    items = sources.log.items.external_ids[pairs.item].tolist()
    f = pd.DataFrame(pairs.features, columns=FEATURE_NAMES, index=items)
    assert set(f.index) >= {"x", "y", "z"}
    x, y = f.loc["x"], f.loc["y"]
    assert x["is_repeat"] == 1 and x["n_orders_with_item"] == 3
    assert x["decayed_per_order_0_5"] == pytest.approx(1 + 0.5 + 0.25)
    assert x["orders_since_last_bought"] == 0 and x["days_since_last_bought"] == 10
    assert x["usual_item_interval_days"] == 10 and x["gap_over_usual_interval"] == 1
    assert (x["in_last_1_orders"], x["in_last_3_orders"]) == (1, 3)
    assert y["orders_since_last_bought"] == 2 and y["days_since_last_bought"] == 30
    assert np.isnan(y["usual_item_interval_days"]) and y["in_last_1_orders"] == 0
    assert x["customer_n_orders"] == 3 and x["customer_basket_size"] == pytest.approx(5 / 3)
    assert x["customer_reorder_rate"] == pytest.approx((5 - 3) / 5)
    assert x["customer_days_since_last_order"] == 10 and x["customer_mean_gap_days"] == 10
    # w was only bought by B: a new item for A, found through popularity, not a repeat
    if "w" in f.index:
        assert f.loc["w", "is_repeat"] == 0 and f.loc["w", "n_orders_with_item"] == 0
    assert set(pairs.source[pairs.is_repeat]) == {"buy_again"}


def test_three_way_windows_are_ordered_and_truth_stays_in_its_window() -> None:
    rows = [(f"c{i % 5}", f"o{i}", i, f"i{i % 7}") for i in range(0, 120, 2)]
    win = rec_windows(_lines(rows), holdout_days=14, n_train_cutoffs=3)
    assert list(win.train_cutoffs) == sorted(win.train_cutoffs)
    assert win.train_cutoffs[-1] + pd.Timedelta(days=14) <= win.val_start
    assert win.val_start + pd.Timedelta(days=14) == win.holdout_start
    assert win.before(win.val_start)[C.ORDERED_AT].max() < win.val_start
    truth = win.truth(win.val_start)
    in_window = win.window_lines(win.val_start)
    assert set().union(*truth.values()) == set(in_window[C.ITEM_ID])
    with pytest.raises(ValueError, match="too short"):
        rec_windows(_lines(rows[:3]), holdout_days=14)


@pytest.fixture(scope="module")
def shop_lines() -> tuple[pd.DataFrame, pd.DataFrame]:
    shop = generate_shop(
        ShopConfig(n_customers=300, n_items=60, n_categories=4, seed=3, with_events=False)
    )
    orders = shop.orders[shop.orders[C.STATUS] != "returned"]
    return orders[[C.CUSTOMER_ID, C.ORDER_ID, C.ORDERED_AT, C.ITEM_ID]], shop.items


@pytest.fixture(scope="module")
def reranker(shop_lines) -> Recommender:
    lines, items = shop_lines
    win = rec_windows(lines, holdout_days=28, n_train_cutoffs=2)
    cfg = RankerConfig(mode="rule", als_factors=8, als_iterations=3)
    train_model = Recommender.fit(win.before(win.val_start), items, cfg, win.val_start)
    frame = build_rank_frame(train_model, win.truth(win.val_start), seed=0, limit=1000)
    booster = fit_reranker(frame, frame, RerankerParams(n_estimators=15), seed=0, k=10)
    return Recommender.fit(
        lines, items, cfg.model_copy(update={"mode": "reranker"}), win.end, booster
    )


def _bought(lines: pd.DataFrame, cid: str) -> set[str]:
    return set(lines.loc[lines[C.CUSTOMER_ID] == cid, C.ITEM_ID])


def test_one_customer_and_batch_give_the_same_list(reranker, shop_lines) -> None:
    lines, _ = shop_lines
    ids = sorted(lines[C.CUSTOMER_ID].unique())[:25] + ["nobody"]
    batch = ranked_lists(reranker.rank(ids, 10), ids)
    for cid in ids:
        recs = reranker.recommend(cid, 10)
        assert recs[C.ITEM_ID].tolist() == batch[cid]
        assert len(recs) == 10 and recs[C.ITEM_ID].nunique() == 10
        bought = _bought(lines, cid)
        assert ((recs["kind"] == "repeat") == recs[C.ITEM_ID].isin(bought)).all()
    assert set(reranker.recommend("nobody", 10)["source"]) == {"popular"}


def test_exclude_purchased_gives_only_new_items(reranker, shop_lines) -> None:
    lines, _ = shop_lines
    heavy = lines[C.CUSTOMER_ID].value_counts().index[0]
    recs = reranker.recommend(heavy, 10, exclude_purchased=True)
    assert len(recs) == 10
    assert not set(recs[C.ITEM_ID]) & _bought(lines, heavy)
    assert set(recs["kind"]) == {"new"}


def test_cart_items_are_never_returned_and_complements_are_flagged(reranker, shop_lines) -> None:
    lines, _ = shop_lines
    cid = sorted(lines[C.CUSTOMER_ID].unique())[3]
    cart = list(lines[C.ITEM_ID].value_counts().index[:2])
    recs = reranker.recommend(cid, 10, cart_item_ids=cart)
    assert len(recs) == 10 and not set(recs[C.ITEM_ID]) & set(cart)
    assert "bought_together" in set(recs["source"])
    # an unknown customer with a cart leaves the popular fallback
    stranger = reranker.recommend("nobody", 10, cart_item_ids=cart)
    assert "bought_together" in set(stranger["source"])


def test_live_purchase_is_bought_again_history_at_once(reranker, shop_lines) -> None:
    lines, _ = shop_lines
    item = str(lines[C.ITEM_ID].value_counts().index[-1])  # a rarely bought item
    day = reranker.as_of_day + 0.5
    before = reranker.recommend("walk-in", 10)
    after = reranker.recommend("walk-in", 50, live_orders=[(day, [item])])
    assert set(before["source"]) == {"popular"}
    assert item in set(after[C.ITEM_ID])  # ranked by the model now, not the fallback
    assert after[C.ITEM_ID].tolist()[:10] != before[C.ITEM_ID].tolist()
    mine = after[after[C.ITEM_ID] == item].iloc[0]
    assert (mine["kind"], mine["source"]) == ("repeat", "buy_again")


def test_category_filter_and_unknown_category(reranker, shop_lines) -> None:
    lines, items = shop_lines
    cid = min(lines[C.CUSTOMER_ID].unique())
    category = str(items[C.CATEGORY].iloc[0])
    recs = reranker.recommend(cid, 5, category=category)
    in_cat = set(items.loc[items[C.CATEGORY] == category, C.ITEM_ID])
    assert len(recs) == 5 and set(recs[C.ITEM_ID]) <= in_cat
    assert reranker.recommend(cid, 5, category="no-such-category").empty


def test_save_and_load_give_the_same_answers(reranker, shop_lines, tmp_path: Path) -> None:
    lines, _ = shop_lines
    reranker.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    ids = sorted(lines[C.CUSTOMER_ID].unique())[:20]
    pd.testing.assert_frame_equal(loaded.rank(ids, 10), reranker.rank(ids, 10))
    item = str(lines[C.ITEM_ID].iloc[0])
    pd.testing.assert_frame_equal(loaded.similar_items(item, 5), reranker.similar_items(item, 5))
    (tmp_path / "m" / "cooccurrence.npz").unlink()
    with pytest.raises(FileNotFoundError, match="cooccurrence.npz"):
        Recommender.load(tmp_path / "m")


def test_batch_table_equals_single_calls(reranker, shop_lines) -> None:
    """The export's table and `/recommendations` come from the same ranking, row for row."""
    lines, _ = shop_lines
    ids = sorted(lines[C.CUSTOMER_ID].unique())[:40] + ["nobody"]
    table = reranker.rank(ids, 7)
    assert (
        tuple(table.columns)
        == TABLE_COLUMNS
        == (C.CUSTOMER_ID, "rank", C.ITEM_ID, "score", "source", "kind")
    )
    for cid in ids:
        rows = table[table[C.CUSTOMER_ID] == cid].reset_index(drop=True)
        single = reranker.recommend(cid, 7)
        assert rows["rank"].tolist() == list(range(1, len(single) + 1))
        pd.testing.assert_frame_equal(rows, single)
    # ids are not merged: a customer asked twice (e.g. with two carts) gets two runs
    twice = reranker.rank([ids[0], ids[0]], 7)
    assert twice["rank"].tolist() == list(range(1, 8)) * 2


def test_grid_ranks_and_top_k_match_a_global_sort() -> None:
    from churnrec.models.ranking.rank_features import _Slots
    from churnrec.models.recommender import _top_k_per_user

    rng = np.random.default_rng(0)
    user = np.sort(rng.integers(0, 30, 600))
    user = user[user != 7]  # a customer without candidates
    score = rng.integers(0, 5, user.size).astype(float)  # many ties
    score[rng.random(user.size) < 0.1] = np.nan
    reference = np.lexsort((np.arange(user.size), -np.nan_to_num(score, nan=-np.inf), user))
    ranked = user[reference]
    expected = np.empty(user.size)
    expected[reference] = np.arange(user.size) - np.searchsorted(ranked, ranked) + 1
    assert np.array_equal(_Slots(user, 30).rank_desc(score), expected)
    for k in (1, 3, 50):
        ranked_user = user[reference]
        first = np.r_[True, ranked_user[1:] != ranked_user[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(user.size), 0))
        expected = reference[(np.arange(user.size) - start) < k]
        assert np.array_equal(_top_k_per_user(user, score, k, 30), expected)


def test_basket_log_matches_a_pandas_grouping(shop_lines) -> None:
    """Orders = distinct (customer, order id) sorted by (customer, first line's day, order id);
    items distinct and ascending within an order."""
    from churnrec.models.ranking.baskets import BasketLog

    lines, _ = shop_lines
    log = BasketLog.from_lines(lines)
    frame = lines.assign(day=to_days(lines[C.ORDERED_AT]), key=lines[C.ORDER_ID].astype(str))
    orders = (
        frame.groupby([C.CUSTOMER_ID, "key"])["day"]
        .min()
        .reset_index()
        .sort_values([C.CUSTOMER_ID, "day", "key"], kind="stable")
        .reset_index(drop=True)
    )
    assert log.users.to_list() == sorted(frame[C.CUSTOMER_ID].unique())
    assert np.array_equal(log.order_day, orders["day"].to_numpy())
    for o in rng_orders(len(orders)):
        row = orders.iloc[o]
        mine = frame[(frame[C.CUSTOMER_ID] == row[C.CUSTOMER_ID]) & (frame["key"] == row["key"])]
        items = log.items.external_ids[
            log.line_item[log.line_ptr[o] : log.line_ptr[o + 1]]
        ].tolist()
        assert items == sorted(set(mine[C.ITEM_ID]))
        assert (
            log.users.to_list()[np.searchsorted(log.order_ptr, o, side="right") - 1]
            == row[C.CUSTOMER_ID]
        )


def rng_orders(n: int) -> list[int]:
    return sorted(set(np.random.default_rng(1).integers(0, n, 40).tolist()) | {0, n - 1})


def test_als_fitted_on_a_sample_still_trains_and_serves(shop_lines) -> None:
    """Above `als_max_customers`, item factors come from a sample and every customer's own
    factors are solved against them: all customers get ALS candidates, and a reranker trains."""
    lines, items = shop_lines
    win = rec_windows(lines, holdout_days=28, n_train_cutoffs=2)
    sampled = RankerConfig(mode="rule", als_factors=8, als_iterations=3, als_max_customers=100)
    m = Recommender.fit(win.before(win.val_start), items, sampled, win.val_start)
    assert len(m.sources.log.users) > 100  # so the sample is smaller than the shop
    uf, itf = m.sources.user_factors, m.sources.item_factors
    assert uf.shape == (len(m.sources.log.users), 8) and itf.shape[1] == 8
    assert np.isfinite(uf).all() and (np.abs(uf).sum(axis=1) > 0).all()
    frame = build_rank_frame(m, win.truth(win.val_start), seed=0, limit=1000)
    booster = fit_reranker(frame, frame, RerankerParams(n_estimators=10), seed=0, k=10)
    served = Recommender.fit(
        lines, items, sampled.model_copy(update={"mode": "reranker"}), win.end, booster
    )
    cid = min(lines[C.CUSTOMER_ID].unique())
    recs = served.recommend(cid, 10)
    assert len(recs) == 10
    assert "model" in set(served.rank([cid], 40)["source"])


def test_windows_log_at_a_cutoff_is_the_log_of_the_lines_before_it(shop_lines) -> None:
    from churnrec.models.ranking.baskets import BasketLog

    lines, _ = shop_lines
    win = rec_windows(lines, holdout_days=28, n_train_cutoffs=2)
    for cutoff in [*win.train_cutoffs, win.val_start, win.end]:
        expected = BasketLog.from_lines(win.before(cutoff))
        got = win.log_before(cutoff)
        assert got.users.to_list() == expected.users.to_list()
        assert got.items.to_list() == expected.items.to_list()
        for field in ("order_ptr", "order_day", "line_ptr", "line_item"):
            assert np.array_equal(getattr(got, field), getattr(expected, field)), field


def test_versions_saved_before_the_move_load_or_say_retrain(reranker, tmp_path: Path) -> None:
    """Versions registered as `models.reranker:RepeatAwareRecommender` load with the one class;
    a folder of the ALS-only class that is gone says to retrain, not a missing-file error."""
    from churnrec.models.base import resolve_class

    assert resolve_class("churnrec.models.reranker:RepeatAwareRecommender") is Recommender
    reranker.save(tmp_path / "m")
    old = resolve_class("churnrec.models.reranker:RepeatAwareRecommender").load(tmp_path / "m")
    pd.testing.assert_frame_equal(old.rank(["nobody"], 5), reranker.rank(["nobody"], 5))
    legacy = tmp_path / "als"
    legacy.mkdir()
    for name in ("config.json", "id_index.json", "factors.npz", "interactions.parquet"):
        (legacy / name).write_bytes(b"{}")
    with pytest.raises(ValueError, match=r"ALS-only .* retrain the recommender"):
        Recommender.load(legacy)
