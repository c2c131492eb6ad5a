"""Uplift metrics on hand-checkable rankings."""

from __future__ import annotations

import numpy as np
import pytest

from churnrec.training.uplift_metrics import ate, qini_coefficient, uplift_at, uplift_metrics


def _campaign():
    # 4 persuadables (treated convert, control do not) and 4 with no effect (nobody converts)
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0], dtype=float)
    t = np.array([1, 0, 1, 0, 1, 0, 1, 0], dtype=bool)
    good = np.array([8, 7, 6, 5, 4, 3, 2, 1], dtype=float)  # persuadables first
    return y, t, good


def test_uplift_at_k_and_ate() -> None:
    y, t, good = _campaign()
    assert ate(y, t) == pytest.approx(0.5)
    assert uplift_at(y, t, good, 0.5) == pytest.approx(1.0)
    assert uplift_at(y, t, -good, 0.5) == pytest.approx(0.0)


def test_qini_is_positive_for_a_good_ranking_negative_for_a_bad_one() -> None:
    y, t, good = _campaign()
    assert qini_coefficient(y, t, good) > 0 > qini_coefficient(y, t, -good)
    rng = np.random.default_rng(0)
    y = (rng.random(20000) < 0.2).astype(float)
    t = rng.random(20000) < 0.5
    assert abs(qini_coefficient(y, t, rng.random(20000))) < 0.005
    assert set(uplift_metrics(y, t, rng.random(20000))) == {
        "qini",
        "auuc",
        "uplift_at_10",
        "uplift_at_30",
        "ate",
    }
