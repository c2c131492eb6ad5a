"""Ranking metrics on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from churnrec.training.ranking_metrics import catalogue_coverage, evaluate_recommendations

RECS = {"u1": ["a", "b", "c"], "u2": ["d", "e", "f"], "u3": ["x"]}
# u4 has truth but no list (scores 0); u5 has empty truth (not counted); u3 has no truth.
TRUTH = {"u1": {"a", "c"}, "u2": {"z"}, "u4": {"a"}, "u5": set()}
U1_NDCG = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))


def _metric(name: str, recs, truth, k: int) -> float:
    return evaluate_recommendations(recs, truth, k, n_items=100)[f"{name}_at_{k}"]


def test_metrics_exact_on_hand_case() -> None:
    assert _metric("precision", RECS, TRUTH, 3) == pytest.approx((2 / 3) / 3)
    assert _metric("recall", RECS, TRUTH, 3) == pytest.approx(1 / 3)
    assert _metric("ndcg", RECS, TRUTH, 3) == pytest.approx(U1_NDCG / 3)
    # u1: hits at ranks 1 and 3 -> (1/1 + 2/3) / min(3, 2)
    assert _metric("map", RECS, TRUTH, 3) == pytest.approx((5 / 6) / 3)


def test_k_cuts_the_list() -> None:
    # at k=1 only "a" counts for u1
    assert _metric("precision", RECS, TRUTH, 1) == pytest.approx(1 / 3)
    assert _metric("recall", RECS, TRUTH, 1) == pytest.approx(0.5 / 3)
    assert _metric("ndcg", RECS, TRUTH, 1) == pytest.approx(1 / 3)
    assert _metric("map", RECS, TRUTH, 1) == pytest.approx(1 / 3)


def test_perfect_list_scores_one() -> None:
    recs, truth = {"u": ["a", "b"]}, {"u": {"a", "b"}}
    assert _metric("ndcg", recs, truth, 2) == 1.0
    assert _metric("map", recs, truth, 2) == 1.0
    assert _metric("recall", recs, truth, 2) == 1.0


def test_repeated_item_counts_once() -> None:
    recs, truth = {"u": ["a", "a", "b"]}, {"u": {"a"}}
    assert _metric("precision", recs, truth, 3) == pytest.approx(1 / 3)
    assert _metric("map", recs, truth, 3) == 1.0


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
        _metric("precision", RECS, {"u1": set()}, 3)
    with pytest.raises(ValueError, match="k must be"):
        _metric("ndcg", RECS, TRUTH, 0)
    with pytest.raises(ValueError, match="n_items"):
        catalogue_coverage([["a"]], 0)


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
