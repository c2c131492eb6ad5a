"""How well predicted spend ranks and sizes actual spend (Wang, Liu and Miao 2019).

Ties count as a random order within the tie, so a constant prediction scores a Gini of 0.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

GINI, SPEARMAN, MAE, TOP_DECILE_SHARE = "gini", "spearman", "mae", "top_decile_share"


def _lorenz_area(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Area under the cumulative share of actual spend vs share of customers, by predicted desc."""
    groups = (
        pd.DataFrame({"p": predicted, "y": actual})
        .groupby("p", sort=True)
        .agg(y=("y", "sum"), n=("y", "size"))
        .iloc[::-1]
    )
    total = actual.sum()
    share_y = groups["y"].to_numpy() / total
    share_n = groups["n"].to_numpy() / len(actual)
    after = np.cumsum(share_y)
    before = after - share_y
    return float(np.sum(share_n * (before + after) / 2.0))


def normalized_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Gini of the predicted ordering / Gini of the perfect ordering; NaN when no one spent."""
    y = np.asarray(actual, dtype="float64")
    p = np.asarray(predicted, dtype="float64")
    if y.shape != p.shape or y.size < 2:
        raise ValueError(f"actual and predicted need the same length >= 2, got {y.size}, {p.size}")
    if not np.isfinite(p).all():
        raise ValueError("predicted spend holds NaN or infinite values")
    if y.sum() <= 0:
        return math.nan
    model = 2.0 * _lorenz_area(y, p) - 1.0
    best = 2.0 * _lorenz_area(y, y) - 1.0
    return model / best if best > 0 else math.nan


def top_decile_share(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Share of all actual spend made by the predicted top 10% (ceil) of customers."""
    y = np.asarray(actual, dtype="float64")
    if y.sum() <= 0:
        return math.nan
    k = max(1, math.ceil(0.1 * y.size))
    top = np.argsort(-np.asarray(predicted, dtype="float64"), kind="stable")[:k]
    return float(y[top].sum() / y.sum())


def clv_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """gini, spearman, mae, top_decile_share (unprefixed; callers add `clv_` / `btyd_clv_`)."""
    y = np.asarray(actual, dtype="float64")
    p = np.asarray(predicted, dtype="float64")
    rho = spearmanr(y, p).statistic if np.ptp(p) > 0 and np.ptp(y) > 0 else math.nan
    return {
        GINI: normalized_gini(y, p),
        SPEARMAN: float(rho),
        MAE: float(np.mean(np.abs(y - p))),
        TOP_DECILE_SHARE: top_decile_share(y, p),
    }
