"""Ranking metrics and the recommender time split on hand-computed cases."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.training.ranking_metrics import (
    catalogue_coverage,
    evaluate_recommendations,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from churnrec.training.rec_split import rec_holdout_split, split_last_weeks

RECS = {"u1": ["a", "b", "c"], "u2": ["d", "e", "f"], "u3": ["x"]}
# u4 has truth but no list (scores 0); u5 has empty truth (not counted); u3 has no truth.
TRUTH = {"u1": {"a", "c"}, "u2": {"z"}, "u4": {"a"}, "u5": set()}
U1_NDCG = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))


def test_metrics_exact_on_hand_case() -> None:
    assert precision_at_k(RECS, TRUTH, 3) == pytest.approx((2 / 3) / 3)
    assert recall_at_k(RECS, TRUTH, 3) == pytest.approx(1 / 3)
    assert ndcg_at_k(RECS, TRUTH, 3) == pytest.approx(U1_NDCG / 3)
    # u1: hits at ranks 1 and 3 -> (1/1 + 2/3) / min(3, 2)
    assert map_at_k(RECS, TRUTH, 3) == pytest.approx((5 / 6) / 3)


def test_k_cuts_the_list() -> None:
    # at k=1 only "a" counts for u1
    assert precision_at_k(RECS, TRUTH, 1) == pytest.approx(1 / 3)
    assert recall_at_k(RECS, TRUTH, 1) == pytest.approx(0.5 / 3)
    assert ndcg_at_k(RECS, TRUTH, 1) == pytest.approx(1 / 3)
    assert map_at_k(RECS, TRUTH, 1) == pytest.approx(1 / 3)


def test_perfect_list_scores_one() -> None:
    recs, truth = {"u": ["a", "b"]}, {"u": {"a", "b"}}
    assert ndcg_at_k(recs, truth, 2) == 1.0
    assert map_at_k(recs, truth, 2) == 1.0
    assert recall_at_k(recs, truth, 2) == 1.0


def test_repeated_item_counts_once() -> None:
    recs, truth = {"u": ["a", "a", "b"]}, {"u": {"a"}}
    assert precision_at_k(recs, truth, 3) == pytest.approx(1 / 3)
    assert map_at_k(recs, truth, 3) == 1.0


def test_evaluate_keys_and_coverage() -> None:
    out = evaluate_recommendations(RECS, TRUTH, k=3, n_items=10)
    assert set(out) == {
        "precision_at_3",
        "recall_at_3",
        "ndcg_at_3",
        "map_at_3",
        "coverage",
        "n_customers",
    }
    assert out["coverage"] == pytest.approx(0.7)  # a b c d e f x
    assert out["n_customers"] == 3
    assert out["ndcg_at_3"] == pytest.approx(U1_NDCG / 3)
    assert catalogue_coverage([["a", "b"], ["b", "c"]], 4, k=1) == 0.5
    assert "precision_at_10" in evaluate_recommendations(RECS, TRUTH, n_items=10)


def test_no_truth_and_bad_k_raise() -> None:
    with pytest.raises(ValueError, match="no customer has holdout items"):
        precision_at_k(RECS, {"u1": set()}, 3)
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k(RECS, TRUTH, 0)
    with pytest.raises(ValueError, match="n_items"):
        catalogue_coverage([["a"]], 0)


def _lines() -> pd.DataFrame:
    rows = [
        ("c1", "o1", "i1", "2024-03-03 23:59", 1.0, False),  # train (last minute before split)
        ("c1", "o2", "i2", "2024-03-04 00:00", 1.0, False),  # holdout (first instant)
        ("c2", "o3", "i1", "2024-02-01 10:00", 2.0, False),  # train
        ("c2", "o4", "i3", "2024-03-10 10:00", 1.0, True),  # returned: ignored
        ("c2", "o5", "i4", "2024-03-20 10:00", 1.0, False),  # holdout
        ("c3", "o6", "i1", "2024-03-31 15:00", 1.0, False),  # holdout, cold start
        ("c3", "o7", None, "2024-01-01 15:00", 1.0, False),  # no item: ignored
    ]
    df = pd.DataFrame(
        rows, columns=[C.CUSTOMER_ID, C.ORDER_ID, C.ITEM_ID, C.ORDERED_AT, C.QUANTITY, C.IS_RETURN]
    )
    df[C.ORDERED_AT] = pd.to_datetime(df[C.ORDERED_AT])
    return df


def test_split_last_weeks_global_date() -> None:
    split = rec_holdout_split(_lines(), holdout_days=28)
    assert split.split_at == pd.Timestamp("2024-03-04")
    assert str(split.train_as_of) == "2024-03-03"
    assert split.truth == {"c1": {"i2"}, "c2": {"i4"}}
    assert split.cold_start_truth == {"c3": {"i1"}}
    assert sorted(split.train_lines[C.ORDER_ID]) == ["o1", "o3"]
    train, truth = split_last_weeks(_lines(), holdout_days=28)
    assert truth == split.truth and len(train) == 2
    with pytest.raises(ValueError, match="smaller holdout_days"):
        rec_holdout_split(_lines(), holdout_days=200)


def test_repeat_explore_split_follows_each_customers_history() -> None:
    from churnrec.training.ranking_metrics import split_truth

    truth = {"a": {"x", "y"}, "b": {"z"}, "c": {"x"}}
    history = {"a": {"x"}, "c": {"x", "q"}}
    repeat, explore = split_truth(truth, history)
    assert repeat == {"a": {"x"}, "c": {"x"}}
    assert explore == {"a": {"y"}, "b": {"z"}}


def test_paired_mean_difference_interval_brackets_a_clear_gain_and_is_zero_for_a_tie() -> None:
    from churnrec.training.ranking_metrics import paired_mean_difference

    base = {str(i): (i % 7) / 7 for i in range(300)}
    better = {u: v + 0.1 for u, v in base.items()}
    diff, low, high = paired_mean_difference(better, base, n_boot=200, seed=1)
    assert diff == pytest.approx(0.1) and low == pytest.approx(0.1)
    assert high == pytest.approx(0.1)
    noisy = {u: v + (0.2 if int(u) % 2 else -0.1) for u, v in base.items()}
    diff, low, high = paired_mean_difference(noisy, base, n_boot=500, seed=1)
    assert low < diff < high and low > 0
    assert paired_mean_difference(base, base) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="paired"):
        paired_mean_difference({"a": 1.0}, {"b": 1.0})
