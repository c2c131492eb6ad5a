"""The CLV metrics on hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pytest

from churnrec.training.clv_metrics import clv_metrics, normalized_gini, top_decile_share


def test_gini_is_one_for_the_perfect_order_zero_for_none_negative_reversed() -> None:
    rng = np.random.default_rng(0)
    y = rng.gamma(0.3, 50, size=500) * (rng.random(500) < 0.3)
    assert normalized_gini(y, y) == pytest.approx(1.0)
    assert normalized_gini(y, np.ones_like(y)) == pytest.approx(0.0, abs=1e-12)
    assert normalized_gini(y, -y) < -0.9
    assert 0 < normalized_gini(y, y + rng.normal(0, 20, 500)) < 1


def test_gini_matches_a_hand_computed_lorenz_area() -> None:
    # ordered by prediction: spends 3, 0, 1 -> cumulative shares 3/4, 3/4, 1
    y = np.array([0.0, 1.0, 3.0])
    p = np.array([2.0, 1.0, 3.0])
    area_model = (0.75 / 2 + (0.75 + 0.75) / 2 + (0.75 + 1) / 2) / 3
    area_best = (0.75 / 2 + (0.75 + 1) / 2 + (1 + 1) / 2) / 3
    assert normalized_gini(y, p) == pytest.approx((2 * area_model - 1) / (2 * area_best - 1))


def test_top_decile_share_and_keys() -> None:
    y = np.r_[np.full(10, 10.0), np.zeros(90)]
    p = np.r_[np.full(10, 5.0), np.zeros(90)]
    assert top_decile_share(y, p) == pytest.approx(1.0)
    assert top_decile_share(y, -p) == pytest.approx(0.0)
    assert set(clv_metrics(y, p)) == {"gini", "spearman", "mae", "top_decile_share"}
