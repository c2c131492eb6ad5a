"""Big shops train on samples: a customer sample per training cut-off, BTYD fits on a subsample.

Both keep what is measured intact: validation and holdout rows are never sampled, and a BTYD
model fitted on a random subsample lands on (nearly) the full fit's parameters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.features.db import connect_frames
from churnrec.models.bgnbd import BGNBD
from churnrec.training.datasets import build_training_frames, data_span, sample_customers
from churnrec.training.splits import plan_cutoffs
from tests.test_churn_training import tiny_shop_orders

CAP = 60
POPULATION_RELATIVE = {"r_score", "f_score", "m_score", C.RFM_SEGMENT}


@pytest.fixture(scope="module")
def shop():
    con = connect_frames(tiny_shop_orders(n_customers=400))
    first, last = data_span(con)
    plan = plan_cutoffs(first, last, 60, n_train_cutoffs=3, step_days=45)
    return con, plan


def test_cap_is_honoured_per_cutoff_and_only_on_training_rows(shop) -> None:
    con, plan = shop
    full = build_training_frames(con, plan)
    capped = build_training_frames(con, plan, max_customers_per_cutoff=CAP, seed=3)

    per_cutoff = full.train.groupby(C.AS_OF).size()
    assert (per_cutoff > CAP).all()  # the cap has something to do at every cut-off
    assert (capped.train.groupby(C.AS_OF).size() == CAP).all()
    assert capped.n_train_rows_before_sample == full.n_train_rows_before_sample == len(full.train)
    # every sampled row is the full frame's row (same features, same labels), except the
    # quintile scores, which are ranked within the sample (the snapshot is built for it alone)
    key = [C.CUSTOMER_ID, C.AS_OF]
    joined = capped.train.merge(full.train, on=key, how="left", suffixes=("", "_full"))
    assert list(capped.train.columns) == list(full.train.columns)
    for column in capped.train.columns.drop(key):
        if column in POPULATION_RELATIVE:
            continue
        pd.testing.assert_series_equal(
            joined[column], joined[f"{column}_full"], check_names=False, check_dtype=False
        )
    # what choices and reported metrics are made on stays whole
    pd.testing.assert_frame_equal(capped.validation, full.validation)
    pd.testing.assert_frame_equal(capped.holdout, full.holdout)


def test_cap_sample_repeats_with_its_seed_and_differs_with_another(shop) -> None:
    con, plan = shop
    a = build_training_frames(con, plan, max_customers_per_cutoff=CAP, seed=3)
    b = build_training_frames(con, plan, max_customers_per_cutoff=CAP, seed=3)
    c = build_training_frames(con, plan, max_customers_per_cutoff=CAP, seed=4)
    pd.testing.assert_frame_equal(a.train, b.train)
    assert set(a.train[C.CUSTOMER_ID]) != set(c.train[C.CUSTOMER_ID])


def test_sample_customers_leaves_small_lists_alone() -> None:
    assert sample_customers(list("abc"), None, 0) == list("abc")
    assert sample_customers(list("abc"), 3, 0) == list("abc")
    two = sample_customers(list("abc"), 2, 0)
    assert len(two) == 2 and two == sorted(two)  # order kept
    assert sample_customers(list("abcdef"), 3, 5) == sample_customers(list("abcdef"), 3, 5)


def _bgnbd_customers(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """(x, t_x, T) of n BG/NBD customers (r=0.8, alpha=5, a=0.8, b=2.5) of different ages."""
    rng = np.random.default_rng(seed)
    age = rng.integers(4, 80, n).astype(float)  # weeks since the first purchase
    lam = rng.gamma(0.8, 1 / 5.0, n)
    drop = rng.beta(0.8, 2.5, n)
    x, tx, clock = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.arange(n)
    while active.size:
        clock[active] += rng.exponential(1 / lam[active])
        bought = clock[active] <= age[active]
        x[active[bought]] += 1
        tx[active[bought]] = clock[active[bought]]
        leaves = rng.random(active.size) < drop[active]
        active = active[bought & ~leaves]
    return x, np.round(tx, 1), age


def test_subsample_fit_lands_on_the_full_fit() -> None:
    x, tx, age = _bgnbd_customers(40_000, seed=11)
    full = BGNBD().fit(x, tx, age)
    sub = BGNBD().fit(x, tx, age, max_customers=8_000, seed=1)
    assert full.n_customers == 40_000 and sub.n_customers == 8_000
    for name, value in full.params.items():
        assert sub.params[name] == pytest.approx(value, rel=0.25), name
    # what the features are made of agrees for every customer, not just on average
    horizon = 13.0
    diff = np.abs(
        sub.prob_purchase_within(horizon, x, tx, age)
        - full.prob_purchase_within(horizon, x, tx, age)
    )
    assert diff.mean() < 0.01 and diff.max() < 0.05
    assert np.abs(sub.p_alive(x, tx, age) - full.p_alive(x, tx, age)).mean() < 0.02
    # seeded: the same sample gives the same fit; a cap above the data size is the full fit
    assert BGNBD().fit(x, tx, age, max_customers=8_000, seed=1).params == sub.params
    assert BGNBD().fit(x, tx, age, max_customers=10**6).params == full.params


@pytest.mark.parametrize("cap", [None, CAP])
def test_overlapping_windows_keep_validation_customers_out_of_training(cap) -> None:
    """With label windows that overlap, validation customers must never be trained on: with a
    sample and without one (the plain snapshot path drops them after building)."""
    con = connect_frames(tiny_shop_orders(n_customers=400))
    first, last = data_span(con)
    plan = plan_cutoffs(first, last, 181, n_train_cutoffs=3, step_days=20)  # 18 months of data
    assert plan.windows == "overlapping"
    frames = build_training_frames(con, plan, max_customers_per_cutoff=cap, seed=1)
    validation = set(frames.validation[C.CUSTOMER_ID])
    assert validation and validation.isdisjoint(frames.train[C.CUSTOMER_ID])
    assert frames.n_train_rows_before_sample >= len(frames.train) > 0
