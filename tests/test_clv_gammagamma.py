"""Gamma-Gamma on the CDNOW 1/10 sample reproduces the published fit (Fader and Hardie 2013)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.ingest.samples import sample_path
from churnrec.models.bgnbd import BTYDFitError
from churnrec.models.gammagamma import GammaGamma, GammaGammaFitError


def _repeat_spend() -> tuple[np.ndarray, np.ndarray]:
    """Per customer: repeat purchase days and their average value, calibration to 1997-09-30."""
    raw = pd.read_csv(sample_path("cdnow"), sep=r"\s+", header=None, dtype=str)
    lines = pd.DataFrame(
        {
            C.CUSTOMER_ID: raw[0],
            "day": pd.to_datetime(raw[raw.columns[-3]], format="%Y%m%d"),
            C.AMOUNT: raw[raw.columns[-1]].astype(float),
        }
    )
    lines = lines[lines["day"] <= "1997-09-30"]
    days = lines.groupby([C.CUSTOMER_ID, "day"], sort=True)[C.AMOUNT].sum().reset_index()
    repeats = days[days.groupby(C.CUSTOMER_ID).cumcount() > 0]
    per = repeats.groupby(C.CUSTOMER_ID)[C.AMOUNT].agg(["size", "mean"])
    return per["size"].to_numpy(float), per["mean"].to_numpy(float)


def test_cdnow_sample_fit_matches_published_parameters() -> None:
    x, m = _repeat_spend()
    assert len(x) == 946
    params = GammaGamma().fit(x, m).params
    assert params["p"] == pytest.approx(6.25, abs=0.02)
    assert params["q"] == pytest.approx(3.74, abs=0.02)
    assert params["v"] == pytest.approx(15.44, abs=0.05)


def test_expected_spend_shrinks_towards_population_mean() -> None:
    gg = GammaGamma.from_params({"p": 6.25, "q": 3.74, "v": 15.44})
    population = 6.25 * 15.44 / 2.74
    one, many, new = gg.expected_spend([1, 50, 0], [100.0, 100.0, np.nan])
    assert new == pytest.approx(population)
    assert population < one < many < 100.0


def test_too_few_repeat_buyers_is_a_clear_error() -> None:
    with pytest.raises(GammaGammaFitError, match="at least 3"):
        GammaGamma().fit([0, 1, 0], [np.nan, 10.0, np.nan])
    with pytest.raises(ValueError, match="row 1"):
        GammaGamma().fit([1, 2], [10.0, -5.0])


def test_a_precision_loss_stop_at_a_finite_optimum_is_accepted() -> None:
    """30 repeat buyers whose spends share one scale (no heterogeneity across customers): the
    free likelihood rises towards q, v -> infinity and BFGS ends with "precision loss". That
    used to fail the fit (and skip the whole CLV job); the penalised optimum is finite."""
    rng = np.random.default_rng(3)
    x = rng.integers(1, 6, 30).astype(float)
    m = np.array([rng.gamma(4.0, 5.0, int(k)).mean() for k in x])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gg = GammaGamma().fit(x, m)
    assert all(np.isfinite(v) and v > 0 for v in gg.params.values()), gg.params
    population = gg.expected_spend([0], [np.nan])[0]
    assert population == pytest.approx(m.mean(), rel=0.15)  # spend ~ gamma(4, 5): mean 20
    assert gg.fit_notes  # why the penalised optimum was kept


def test_every_btyd_fit_failure_is_one_typed_error() -> None:
    assert issubclass(GammaGammaFitError, BTYDFitError)
    with pytest.raises(BTYDFitError, match="at least 3"):
        GammaGamma().fit([0, 1, 0], [np.nan, 10.0, np.nan])
