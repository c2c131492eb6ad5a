"""BG/NBD and Pareto/NBD baselines: hand-computed cases, published CDNOW numbers, simulation."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.special import gammaln

from churnrec.columns import CUSTOMER_ID, ORDERED_AT
from churnrec.features.btyd import build_btyd_summary, build_holdout_purchases
from churnrec.features.db import connect_frames
from churnrec.models.bgnbd import (
    BGNBD,
    FIT_SECONDS,
    BTYDConfig,
    BTYDFitError,
    BTYDModel,
    NotFittedError,
)
from churnrec.models.paretonbd import ParetoNBD

CDNOW_SAMPLE = Path(__file__).resolve().parents[1] / "churnrec/samples/cdnow/CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)
HOLDOUT_END = date(1998, 6, 30)


# --- hand-computed likelihoods ------------------------------------------------------------------
ONES_BG = {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0}
ONES_PNBD = {"r": 1.0, "alpha": 1.0, "s": 1.0, "beta": 1.0}


def test_bgnbd_hand_computed_case() -> None:
    # r=alpha=a=b=1. x=0, T=1: L = 1/(1+1) = 1/2.
    # x=1, t_x=1, T=2: alive term B(1,2)/B(1,1) * 1/3^2 = 1/18, gone term B(2,1)/B(1,1) * 1/2^2
    # = 1/8, so L = 13/72, P(alive) = (1/18)/(13/72) = 4/13, and
    # P(buy within t=1) = 4/13 * (1 - (3/4)^2) = 7/52.
    model = BGNBD.from_params(ONES_BG)
    ll = model.individual_log_likelihood([0, 1], [0, 1], [1, 2])
    np.testing.assert_allclose(ll, np.log([1 / 2, 13 / 72]), rtol=1e-12)
    np.testing.assert_allclose(model.p_alive([0, 1], [0, 1], [1, 2]), [1.0, 4 / 13], rtol=1e-12)
    np.testing.assert_allclose(model.prob_purchase_within(1.0, [1], [1], [2]), [7 / 52], rtol=1e-12)


def test_bgnbd_never_repeated_customer_is_alive() -> None:
    model = BGNBD.from_params({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    assert model.p_alive([0, 0], [0, 0], [5.0, 50.0]).tolist() == [1.0, 1.0]


def test_paretonbd_hand_computed_case() -> None:
    # r=alpha=s=beta=1, x=0, T=1: alive term 1/2 * 1/2 = 1/4; left term
    # integral_0^1 (1+tau)^-3 dtau = 3/8; L = 5/8 and P(alive) = 2/5.
    model = ParetoNBD.from_params(ONES_PNBD)
    np.testing.assert_allclose(
        model.individual_log_likelihood([0], [0], [1]), [np.log(5 / 8)], rtol=1e-12
    )
    np.testing.assert_allclose(model.p_alive([0], [0], [1]), [2 / 5], rtol=1e-12)


@pytest.mark.parametrize(
    "params",
    [
        {"r": 0.55, "alpha": 10.6, "s": 0.61, "beta": 11.7},  # alpha < beta
        {"r": 0.8, "alpha": 30.0, "s": 1.3, "beta": 2.0},  # alpha > beta
        {"r": 2.0, "alpha": 1.0, "s": 0.4, "beta": 40.0},  # alpha << beta
    ],
)
@pytest.mark.parametrize(
    ("x", "tx", "T", "t"),
    [(0, 0.0, 20.0, 10.0), (3, 12.5, 30.0, 26.0), (25, 29.0, 39.0, 5.0), (300, 100.0, 150.0, 10.0)],
)
def test_paretonbd_matches_numerical_integration(
    params: dict[str, float], x: int, tx: float, T: float, t: float
) -> None:
    r, alpha, s, beta = params.values()
    model = ParetoNBD.from_params(params)
    # Both terms carry Gamma(r+x)/Gamma(r) alpha^r (alpha+T)^-(r+x); integrate the rest.
    scale = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)
    alive = (beta / (beta + T)) ** s

    def left_density(tau: float) -> float:
        return ((alpha + T) / (alpha + tau)) ** (r + x) * s * beta**s * (beta + tau) ** -(s + 1)

    left = quad(left_density, tx, T, limit=200)[0]
    got = model.individual_log_likelihood([x], [tx], [T])
    np.testing.assert_allclose(got, [scale + np.log(alive + left)], rtol=1e-9)
    p_alive = alive / (alive + left)
    np.testing.assert_allclose(model.p_alive([x], [tx], [T]), [p_alive], rtol=1e-8)

    # First purchase at u in (0, t], averaged over the alive posterior.
    n, A, B = r + x, alpha + T, beta + T

    def first_purchase_density(u: float) -> float:
        return n / A * (A / (A + u)) ** (n + 1) * (B / (B + u)) ** s

    within = quad(first_purchase_density, 0.0, t, limit=200)[0]
    got = model.prob_purchase_within(t, [x], [tx], [T])
    np.testing.assert_allclose(got, [p_alive * within], rtol=1e-8)


# --- behaviour ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model",
    [
        BGNBD.from_params({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
        ParetoNBD.from_params({"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),
    ],
    ids=["bgnbd", "paretonbd"],
)
def test_more_recent_last_purchase_means_more_likely_to_buy(model: BGNBD | ParetoNBD) -> None:
    recency = np.linspace(1.0, 30.0, 12)
    ones = np.ones_like(recency)
    prob = model.prob_purchase_within(10.0, 3 * ones, recency, 30 * ones)
    alive = model.p_alive(3 * ones, recency, 30 * ones)
    assert np.all(np.diff(prob) > 0) and np.all(np.diff(alive) > 0)
    assert np.all((prob > 0) & (prob < 1))
    expected = model.expected_purchases(10.0, 3 * ones, recency, 30 * ones)
    assert np.all(np.diff(expected) > 0) and np.all(expected > prob)  # E[N] >= P(N >= 1)


def _simulate_bgnbd(
    params: dict[str, float], n: int, T: float, t: float, seed: int
) -> tuple[np.ndarray, ...]:
    """(x, t_x, purchases in (T, T+t]) of n simulated customers whose first purchase is at 0."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    drop = rng.beta(params["a"], params["b"], n)
    x, tx, future, clock = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.arange(n)
    while active.size:
        clock[active] += rng.exponential(1 / lam[active])
        in_cal = clock[active] <= T
        in_hold = ~in_cal & (clock[active] <= T + t)
        x[active[in_cal]] += 1
        tx[active[in_cal]] = clock[active[in_cal]]
        future[active[in_hold]] += 1
        leaves = rng.random(active.size) < drop[active]
        active = active[(in_cal | in_hold) & ~leaves]
    return x, tx, future


def _simulate_paretonbd(
    params: dict[str, float], n: int, T: float, t: float, seed: int
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    life = rng.exponential(1 / rng.gamma(params["s"], 1 / params["beta"], n))
    seen = np.minimum(life, T)
    x = rng.poisson(lam * seen).astype(float)
    tx = np.where(x > 0, seen * rng.random(n) ** (1 / np.maximum(x, 1)), 0.0)  # max of x uniforms
    future = rng.poisson(lam * np.clip(np.minimum(life, T + t) - T, 0, None)).astype(float)
    return x, tx, future


@pytest.mark.parametrize(
    ("model", "simulate", "params"),
    [
        (BGNBD, _simulate_bgnbd, {"r": 0.8, "alpha": 5.0, "a": 0.8, "b": 2.5}),
        (ParetoNBD, _simulate_paretonbd, {"r": 0.8, "alpha": 5.0, "s": 0.7, "beta": 12.0}),
    ],
    ids=["bgnbd", "paretonbd"],
)
def test_predictions_match_monte_carlo(
    model: type[BTYDModel],
    simulate: Callable[..., tuple[np.ndarray, ...]],
    params: dict[str, float],
) -> None:
    """Within any set of histories, the mean predicted probability is the observed rate."""
    T, t, n = 30.0, 20.0, 200_000
    x, tx, future = simulate(params, n, T, t, seed=7)
    fitted = model.from_params(params)
    prob = fitted.prob_purchase_within(t, x, tx, np.full(n, T))
    expected = fitted.expected_purchases(t, x, tx, np.full(n, T))
    late = tx > T / 2
    cells = {
        "x=0 (one exact history)": x == 0,
        "x=1 early": (x == 1) & ~late,
        "x=1 late": (x == 1) & late,
        "x=2..4 early": (x >= 2) & (x <= 4) & ~late,
        "x=2..4 late": (x >= 2) & (x <= 4) & late,
        "x>=5": x >= 5,
    }
    for name, cell in cells.items():
        assert cell.sum() > 2000, name
        rate = (future[cell] > 0).mean()
        se = np.sqrt(rate * (1 - rate) / cell.sum())
        assert abs(prob[cell].mean() - rate) < 4 * se + 1e-3, (name, prob[cell].mean(), rate)
    mean_se = future.std() / np.sqrt(n)
    assert abs(expected.mean() - future.mean()) < 4 * mean_se, (expected.mean(), future.mean())


# --- CDNOW: the published numbers ---------------------------------------------------------------
@pytest.fixture(scope="module")
def cdnow_orders() -> pd.DataFrame:
    raw = pd.read_csv(CDNOW_SAMPLE, sep=r"\s+", header=None, dtype={0: str, 1: str, 2: str})
    return pd.DataFrame({CUSTOMER_ID: raw[1], ORDERED_AT: pd.to_datetime(raw[2], format="%Y%m%d")})


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_orders: pd.DataFrame) -> pd.DataFrame:
    return build_btyd_summary(connect_frames(cdnow_orders), CALIBRATION_END)


def test_cdnow_calibration_summary(cdnow_orders: pd.DataFrame, cdnow_summary: pd.DataFrame) -> None:
    assert len(cdnow_summary) == 2357
    assert cdnow_summary["frequency"].sum() == 2457
    assert cdnow_summary.loc["0001", "T"] == pytest.approx(272 / 7)  # first bought 1997-01-01
    holdout = build_holdout_purchases(connect_frames(cdnow_orders), CALIBRATION_END, HOLDOUT_END)
    assert holdout.sum() == 1882


def test_cdnow_bgnbd_reproduces_published_fit(cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    model = BGNBD().fit(s["frequency"], s["recency"], s["T"])
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert model.params[name] == pytest.approx(value, abs=2e-3), name
    assert model.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    holdout = model.expected_purchases(39.0, s["frequency"], s["recency"], s["T"]).sum()
    assert holdout == pytest.approx(1653, rel=0.01)


def test_cdnow_paretonbd_reproduces_published_fit(cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    model = ParetoNBD().fit(s["frequency"], s["recency"], s["T"])
    published = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    for name, value in published.items():
        assert model.params[name] == pytest.approx(value, abs=2e-3), name
    assert model.log_likelihood == pytest.approx(-9595.0, abs=0.05)


# --- errors -------------------------------------------------------------------------------------
def test_fit_and_predict_errors(cdnow_summary: pd.DataFrame) -> None:
    s = cdnow_summary
    with pytest.raises(ValueError, match="no customers"):
        BGNBD().fit([], [], [])
    with pytest.raises(BTYDFitError, match="none of the 3 customers"):
        ParetoNBD().fit([0, 0, 0], [0, 0, 0], [5, 6, 7])
    with pytest.raises(BTYDFitError, match="did not converge"):
        BGNBD(BTYDConfig(max_iter=2)).fit(s["frequency"], s["recency"], s["T"])
    with pytest.raises(ValueError, match=r"row 1 .*recency is not within \[0, T\]"):
        BGNBD.from_params(ONES_BG).p_alive([1, 2], [1.0, 9.0], [5.0, 8.0])
    with pytest.raises(NotFittedError):
        BGNBD().p_alive([0], [0], [1])


# --- one failure policy, bounded time -------------------------------------------------------------
DEGENERATE = {
    "everyone repeats identically": ([3] * 50, [10.0] * 50, [20.0] * 50),
    "repeat buyers bought last at T": ([2] * 30 + [0] * 30, [15.0] * 30 + [0.0] * 30, [15.0] * 60),
    "one repeat buyer": ([1] + [0] * 99, [5.0] + [0.0] * 99, [10.0] * 100),
    "one customer": ([4], [6.0], [8.0]),
    "hundreds of repeats each": (list(range(200, 300)), [51.0] * 100, [52.0] * 100),
    "nobody repeats": ([0] * 40, [0.0] * 40, [9.0] * 40),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("model", [BGNBD, ParetoNBD], ids=["bgnbd", "paretonbd"])
@pytest.mark.parametrize("case", DEGENERATE)
def test_a_degenerate_summary_gives_finite_params_or_the_typed_error(
    model: type[BTYDModel], case: str
) -> None:
    """Never a hang, an escaped numpy/scipy warning or another error: parameters or a reason."""
    x, tx, T = DEGENERATE[case]
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            fitted = model().fit(x, tx, T)
        except BTYDFitError as exc:
            assert str(exc) and "\n" not in str(exc)
        else:
            assert all(np.isfinite(v) and v > 0 for v in fitted.params.values()), fitted.params
            with np.errstate(all="ignore"):
                alive = fitted.p_alive(x, tx, T)
            assert np.all((alive >= 0) & (alive <= 1))
    assert time.perf_counter() - started < FIT_SECONDS


def _ridge_summary(n: int = 600, seed: int = 2) -> tuple[np.ndarray, ...]:
    """Pareto/NBD customers who all share one dropout rate (0.02 a week), first purchase at 0,
    purchase times rounded up to whole days.

    Without dropout heterogeneity the likelihood keeps rising, ever more slowly, as s and
    beta grow at a fixed s / beta: the unpenalised search walks that ridge while each step
    gets dearer (about 30 s here before the penalty; 25+ minutes on a generated shop).
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(1.0, 1 / 8.0, n) * 7
    T = np.round(rng.uniform(20, 52, n) * 7) / 7
    life = rng.exponential(1 / 0.02, n)
    x, tx = np.zeros(n), np.zeros(n)
    for i in range(n):
        end, t, days = min(life[i], T[i]), rng.exponential(1 / lam[i]), set()
        while t < end:
            days.add(np.ceil(t * 7) / 7)
            t += rng.exponential(1 / lam[i])
        x[i], tx[i] = len(days), min(max(days, default=0.0), T[i])
    return x, tx, T


@pytest.mark.timeout(120)
def test_a_flat_ridge_fits_in_seconds_with_the_default_penalty() -> None:
    x, tx, T = _ridge_summary()
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted = ParetoNBD().fit(x, tx, T)
    assert time.perf_counter() - started < 10.0
    assert all(np.isfinite(v) and 0 < v < 1e4 for v in fitted.params.values()), fitted.params
    # the penalty costs next to nothing in likelihood against a much longer free search
    free = ParetoNBD(BTYDConfig(penalizer_coef=0.0, max_seconds=5.0))
    try:
        free.fit(x, tx, T)
    except BTYDFitError:
        return
    assert fitted.log_likelihood >= free.log_likelihood - 0.002 * len(x)


@pytest.mark.timeout(120)
def test_a_fit_at_the_time_cap_returns_within_the_cap_and_says_so() -> None:
    """A cap far shorter than the search needs (unpenalised, from the start point): the fit
    ends at the cap with its best point (where the likelihood is flat) or its reason."""
    x, tx, T = _ridge_summary()
    model = ParetoNBD(BTYDConfig(penalizer_coef=0.0, max_seconds=0.02))
    started = time.perf_counter()
    try:
        model.fit(x, tx, T)
    except BTYDFitError as exc:
        assert "0.02 s time cap" in str(exc)
    else:
        assert any("0.02 s time cap" in note for note in model.fit_notes), model.fit_notes
        assert all(np.isfinite(v) and v > 0 for v in model.params.values())
    assert time.perf_counter() - started < 1.0
