"""The demand forecasting methods, their split-conformal intervals and their metrics.

Every method maps the weekly history to `unique_id, ds, yhat`; conformal residuals are scaled
by sqrt(forecast + 1) because the spread of counts grows with their level.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ID, DS, Y, YHAT = "unique_id", "ds", "y", "yhat"
PRICE, CATEGORY_CODE = "price", "category_code"
SEASON = 52  # weeks in a year
MA_WEEKS = 4
MIN_MODEL_WEEKS = 8  # shorter series get the moving average from the per-series methods
INTERMITTENT_ZERO_SHARE = 0.5  # a series with at least this share of zero weeks is intermittent
# Under this many series the global model has too few to learn across; on CDNOW's one series
# (the shop's total) it learned the early, higher weeks' level and over-forecast the holdout.
MIN_GLOBAL_SERIES = 20
LEVELS = (80, 95)
FREQ = "W-MON"
Method = Callable[[pd.DataFrame, int], pd.DataFrame]


def use_numba_cache(folder: Path) -> None:
    """Keep numba's compiled code under the workspace (first statsforecast call takes tens of
    seconds); must run before statsforecast or mlforecast is imported."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(folder))


def _future(history: pd.DataFrame, h: int) -> pd.DataFrame:
    """`unique_id, ds, step` for the `h` weeks after each series' last week."""
    last = history.groupby(ID, sort=True)[DS].max()
    ids = np.repeat(last.index.to_numpy(), h)
    steps = np.tile(np.arange(1, h + 1), len(last))
    ds = np.repeat(last.to_numpy(), h) + pd.to_timedelta(7 * steps, unit="D")
    return pd.DataFrame({ID: ids, DS: ds, "step": steps})


def seasonal_naive(history: pd.DataFrame, h: int) -> pd.DataFrame:
    """Same week last year where the series has it, else the series' last week."""
    future = _future(history, h)
    by_week = history.set_index([ID, DS])[Y]
    year_ago = pd.MultiIndex.from_arrays([future[ID], future[DS] - pd.Timedelta(weeks=SEASON)])
    last_year = by_week.reindex(year_ago).to_numpy()
    last = history.groupby(ID, sort=True)[Y].last()
    first = history.groupby(ID, sort=True)[DS].min()
    has_year = (future[DS] - pd.Timedelta(weeks=SEASON)).to_numpy() >= first.reindex(
        future[ID]
    ).to_numpy()
    fallback = last.reindex(future[ID]).to_numpy()
    yhat = np.where(has_year & ~np.isnan(last_year), last_year, fallback)
    return future.assign(**{YHAT: yhat})[[ID, DS, YHAT]]


def moving_average(history: pd.DataFrame, h: int) -> pd.DataFrame:
    """The mean of each series' last `MA_WEEKS` weeks, flat over the horizon."""
    future = _future(history, h)
    mean = history.groupby(ID, sort=False).tail(MA_WEEKS).groupby(ID, sort=True)[Y].mean()
    return future.assign(**{YHAT: mean.reindex(future[ID]).to_numpy()})[[ID, DS, YHAT]]


def intermittent_ids(history: pd.DataFrame) -> set[str]:
    """Series with at least `INTERMITTENT_ZERO_SHARE` zero weeks."""
    share = (history[Y] == 0).groupby(history[ID]).mean()
    return set(share.index[share >= INTERMITTENT_ZERO_SHARE])


def _statsforecast(model, history: pd.DataFrame, h: int) -> pd.DataFrame:
    from statsforecast import StatsForecast

    if history.empty:
        return pd.DataFrame({ID: [], DS: [], YHAT: []})
    sf = StatsForecast(models=[model], freq=FREQ, n_jobs=1)
    out = sf.forecast(df=history[[ID, DS, Y]], h=h)
    out = out.rename(columns={out.columns[-1]: YHAT})
    return out[[ID, DS, YHAT]]


def _split(history: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(smooth, intermittent, short): series under `MIN_MODEL_WEEKS` weeks are short."""
    length = history.groupby(ID)[DS].transform("size")
    short = (length < MIN_MODEL_WEEKS).to_numpy()
    sparse = history[ID].isin(intermittent_ids(history)).to_numpy() & ~short
    return history[~sparse & ~short], history[sparse], history[short]


def _combined(smooth: pd.DataFrame, sparse: pd.DataFrame, short: pd.DataFrame, h: int):
    """`smooth`'s forecast, IMAPA for the intermittent series, the moving average for short ones."""
    from statsforecast.models import IMAPA

    parts = [smooth, _statsforecast(IMAPA(), sparse, h), moving_average(short, h)]
    return pd.concat([p for p in parts if len(p)], ignore_index=True)


def intermittent(history: pd.DataFrame, h: int) -> pd.DataFrame:
    """IMAPA for intermittent series, the moving average for the others."""
    smooth, sparse, short = _split(history)
    return _combined(moving_average(smooth, h), sparse, short, h)


def per_series(kind: str, max_series: int) -> Method:
    """AutoETS or AutoTheta per smooth series; intermittent and short ones as `_combined` does."""

    def method(history: pd.DataFrame, h: int) -> pd.DataFrame:
        from statsforecast.models import AutoETS, AutoTheta

        smooth, sparse, short = _split(history)
        n = smooth[ID].nunique()
        if n > max_series:
            raise ValueError(
                f"{n:,} smooth series is more than demand.stat_max_series={max_series:,} "
                f"per-series {kind} fits (milliseconds each); raise it to try them"
            )
        model = AutoETS(season_length=1) if kind == "ets" else AutoTheta(season_length=1)
        out = _combined(_statsforecast(model, smooth, h), sparse, short, h)
        out[YHAT] = out[YHAT].clip(lower=0.0)
        return out

    return method


@dataclass(frozen=True)
class BoostedSettings:
    """The global LightGBM model's size (kept small: 10,000 series train in seconds)."""

    n_estimators: int = 120
    learning_rate: float = 0.08
    num_leaves: int = 31
    min_child_samples: int = 20
    train_weeks: int = 52  # rows per series the model learns from (the newest)
    # one thread: on the shared 2-core machine two threads were 5x slower per tree under load
    # (BENCHMARKS.md, "Training threads" and "Demand forecasting")
    n_threads: int = 1
    seed: int = 7


def _week_of_year(dates: pd.DatetimeIndex) -> np.ndarray:
    return pd.DatetimeIndex(dates).isocalendar().week.to_numpy(dtype="int64")


def lightgbm_global(settings: BoostedSettings) -> Method:
    """One LightGBM model over every series: lags, rolling means, calendar, price, category."""

    def method(history: pd.DataFrame, h: int) -> pd.DataFrame:
        import lightgbm as lgb
        from mlforecast import MLForecast
        from mlforecast.lag_transforms import RollingMean

        n_series = history[ID].nunique()
        if n_series < MIN_GLOBAL_SERIES:
            raise ValueError(
                f"a global model learns across series: {n_series} is under {MIN_GLOBAL_SERIES} "
                "(the per-series candidates cover this shop)"
            )
        span = history[DS].nunique()
        lags = [1, 2, 3, 4, 8] + ([SEASON] if span >= 2 * SEASON else [])
        model = lgb.LGBMRegressor(
            objective="tweedie",
            n_estimators=settings.n_estimators,
            learning_rate=settings.learning_rate,
            num_leaves=settings.num_leaves,
            min_child_samples=settings.min_child_samples,
            subsample=0.8,
            subsample_freq=1,
            random_state=settings.seed,
            n_jobs=settings.n_threads,
            verbose=-1,
        )
        fcst = MLForecast(
            models={"lgb": model},
            freq=FREQ,
            lags=lags,
            lag_transforms={1: [RollingMean(4), RollingMean(12)]},
            date_features=["month", _week_of_year],
            num_threads=1,
        )
        newest = history.groupby(ID, sort=False).tail(settings.train_weeks + max(lags))
        frame = newest[[ID, DS, Y, PRICE, CATEGORY_CODE]]
        with warnings.catch_warnings():  # NaN lags of young series are what LightGBM expects
            warnings.filterwarnings("ignore", message="Found null values", category=UserWarning)
            fcst.fit(frame, static_features=[PRICE, CATEGORY_CODE], dropna=False)
            out = fcst.predict(h).rename(columns={"lgb": YHAT})
        out[YHAT] = out[YHAT].clip(lower=0.0)
        return out[[ID, DS, YHAT]]

    return method


# --- intervals -----------------------------------------------------------------------------
def _scale(yhat: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(yhat, 0.0, None) + 1.0)


@dataclass(frozen=True)
class Conformal:
    """Quantiles of scaled residuals on a calibration window: `lo/hi = yhat + q * scale`."""

    quantiles: dict[str, float]  # "lo80", "hi80", "lo95", "hi95"

    @classmethod
    def calibrate(cls, y: np.ndarray, yhat: np.ndarray) -> Conformal:
        r = (np.asarray(y, float) - np.asarray(yhat, float)) / _scale(np.asarray(yhat, float))
        if len(r) == 0:
            raise ValueError("no calibration weeks for the forecast intervals")
        out = {}
        for level in LEVELS:
            tail = (100 - level) / 200
            out[f"lo{level}"] = float(np.quantile(r, tail))
            out[f"hi{level}"] = float(np.quantile(r, 1 - tail))
        return cls(out)

    def bounds(self, yhat: np.ndarray) -> dict[str, np.ndarray]:
        yhat = np.asarray(yhat, float)
        s = _scale(yhat)
        return {k: np.clip(yhat + q * s, 0.0, None) for k, q in self.quantiles.items()}


# --- metrics -------------------------------------------------------------------------------
def mase_scales(history: pd.DataFrame) -> pd.Series:
    """Per series: mean |y_t - y_{t-m}| in the history (m = 52 with two years, else 1)."""

    ordered = history.sort_values([ID, DS], kind="stable")
    grouped = ordered.groupby(ID, sort=True)[Y]
    length = grouped.transform("size")
    lag = np.where(length > 2 * SEASON, SEASON, 1)
    diff1 = (ordered[Y] - grouped.shift(1)).abs()
    diff52 = (ordered[Y] - grouped.shift(SEASON)).abs()
    diffs = pd.Series(np.where(lag == SEASON, diff52, diff1), index=ordered.index)
    return diffs.groupby(ordered[ID], sort=True).mean()  # NaN for a one-week series


def forecast_metrics(
    y: np.ndarray,
    yhat: np.ndarray,
    bounds: dict[str, np.ndarray],
    scale_per_row: np.ndarray,
) -> dict[str, float]:
    """WAPE, pooled MASE, bias (share of actual units) and 80%/95% interval coverage."""
    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    total = float(np.sum(y))
    abs_err = float(np.sum(np.abs(y - yhat)))
    scale = np.nan_to_num(np.asarray(scale_per_row, float), nan=0.0)
    out = {
        "wape": abs_err / total if total > 0 else float("nan"),
        "mase": abs_err / float(np.sum(scale)) if np.sum(scale) > 0 else float("nan"),
        "bias": float(np.sum(yhat - y)) / total if total > 0 else float("nan"),
    }
    for level in LEVELS:
        inside = (y >= bounds[f"lo{level}"] - 1e-9) & (y <= bounds[f"hi{level}"] + 1e-9)
        out[f"coverage_{level}"] = float(np.mean(inside)) if len(y) else float("nan")
    return out
