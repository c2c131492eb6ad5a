"""How well churn scores rank and calibrate, and the recency rule a churn model must beat.

The top decile is the `ceil(n / 10)` highest scores, ties broken by row order (exact, repeatable).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from churnrec.columns import Feature

METRIC_NAMES = ("roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift", "top_decile_capture")
_EPS = 1e-15


def _checked(
    y_true: Sequence[float] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype="float64")
    p = np.asarray(scores, dtype="float64")
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and scores {p.shape} must be 1-d and of equal length")
    if len(y) == 0:
        raise ValueError("no rows to evaluate")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0/1 (1 = churned)")
    if np.isnan(p).any():
        raise ValueError(f"{int(np.isnan(p).sum())} scores are NaN")
    if len(np.unique(y)) < 2:
        raise ValueError(
            f"all {len(y)} labels are {int(y[0])}; ROC-AUC needs churned and retained rows"
        )
    return y, p


def top_fraction_lift_capture(y_true, scores, fraction: float = 0.1) -> tuple[float, float]:
    """(lift, capture) of the `ceil(fraction * n)` highest scores."""
    y, p = _checked(y_true, scores)
    k = max(1, math.ceil(fraction * len(y)))
    top = np.argsort(-p, kind="stable")[:k]
    hits = y[top].sum()
    lift = (hits / k) / y.mean()
    capture = hits / y.sum()
    return float(lift), float(capture)


def churn_metrics(y_true, p) -> dict[str, float]:
    """The six churn metrics of `METRIC_NAMES` for probabilities `p` of churn."""
    y, prob = _checked(y_true, p)
    clipped = np.clip(prob, _EPS, 1 - _EPS)
    metrics = {
        **ranking_metrics(y, prob),
        "brier": float(brier_score_loss(y, np.clip(prob, 0.0, 1.0))),
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
    }
    return {name: metrics[name] for name in METRIC_NAMES}


def ranking_metrics(y_true, scores) -> dict[str, float]:
    """Metrics that only need an ordering (for baselines that are scores, not probabilities)."""
    y, s = _checked(y_true, scores)
    lift, capture = top_fraction_lift_capture(y, s)
    return {
        "roc_auc": float(roc_auc_score(y, s)),
        "pr_auc": float(average_precision_score(y, s)),
        "top_decile_lift": lift,
        "top_decile_capture": capture,
    }


# --- baselines ----------------------------------------------------------------------------
def recency_rule_scores(snapshot: pd.DataFrame) -> np.ndarray:
    """Days since the last order as a churn score: the longer, the more likely gone."""
    if Feature.RECENCY_DAYS not in snapshot.columns:
        raise ValueError(
            f"snapshot lacks {Feature.RECENCY_DAYS!r}; columns are {list(snapshot.columns)}"
        )
    return snapshot[Feature.RECENCY_DAYS].to_numpy(dtype="float64", na_value=np.nan)


def baseline_metrics(y_true, scores: np.ndarray, *, probabilities: bool) -> dict[str, float]:
    """Full metrics for probability baselines, ranking metrics for score-only rules."""
    return churn_metrics(y_true, scores) if probabilities else ranking_metrics(y_true, scores)
