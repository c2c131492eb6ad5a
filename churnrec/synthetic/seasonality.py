"""Seasonality as a time warp: gaps are drawn in operational time and mapped to the calendar by
the cumulative intensity, so busy days get more orders without changing how many in all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

# Monday .. Sunday
WEEKDAY_FACTORS = np.array([0.92, 0.92, 0.95, 0.98, 1.05, 1.13, 1.05])


def daily_intensity(start: date, n_days: int) -> np.ndarray:
    """Relative busyness of each day (mean 1): weekday pattern x yearly bumps and dips."""
    days = pd.date_range(start, periods=n_days, freq="D")
    doy = days.dayofyear.to_numpy().astype(float)
    weekday = WEEKDAY_FACTORS[days.dayofweek.to_numpy()]
    yearly = (
        1.0
        + 0.9 * np.exp(-0.5 * ((doy - 349) / 8.0) ** 2)  # pre-Christmas
        + 0.5 * np.exp(-0.5 * ((doy - 332) / 2.5) ** 2)  # Black Friday / Cyber Monday
        - 0.15 * np.exp(-0.5 * ((doy - 210) / 20.0) ** 2)  # summer lull
        - 0.25 * np.exp(-0.5 * ((doy - 5) / 4.0) ** 2)  # post-holiday slump
    )
    intensity = weekday * yearly
    return intensity / intensity.mean()


@dataclass(frozen=True)
class Season:
    """Maps calendar days since `start` <-> operational days; linear outside the period."""

    start: date
    cumulative: np.ndarray  # cumulative intensity at day boundaries 0..n_days
    n_days: int

    @classmethod
    def for_period(cls, start: date, n_days: int) -> Season:
        intensity = daily_intensity(start, n_days)
        return cls(start, np.concatenate([[0.0], np.cumsum(intensity)]), n_days)

    @property
    def total(self) -> float:
        return float(self.cumulative[-1])

    def to_operational(self, days: np.ndarray) -> np.ndarray:
        grid = np.arange(self.n_days + 1, dtype=float)
        out = np.interp(days, grid, self.cumulative)
        beyond = days > self.n_days
        return np.where(beyond, self.total + (days - self.n_days), out)

    def to_calendar(self, op: np.ndarray) -> np.ndarray:
        grid = np.arange(self.n_days + 1, dtype=float)
        finite = np.where(np.isfinite(op), op, self.total)
        out = np.interp(finite, self.cumulative, grid)
        out = np.where(finite > self.total, self.n_days + (finite - self.total), out)
        return np.where(np.isfinite(op), out, np.inf)

    def day_of_year(self, days: np.ndarray) -> np.ndarray:
        """Day of year (1..366) of calendar days since `start`."""
        stamps = pd.Timestamp(self.start) + pd.to_timedelta(np.floor(days), unit="D")
        return pd.DatetimeIndex(stamps).dayofyear.to_numpy()
