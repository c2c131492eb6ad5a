"""How well churn scores rank and calibrate, and the baselines a churn model must beat.

Metrics (all on P(churn), churned = 1):
- `roc_auc`, `pr_auc` (average precision): ranking quality;
- `brier`, `log_loss`: calibration + sharpness of the probabilities;
- `top_decile_lift`: churn rate among the top 10% scores / overall churn rate;
- `top_decile_capture`: share of all churners found in the top 10%;
- `ece` (added by the job): expected calibration error over equal-count deciles.
The top decile is the `ceil(n / 10)` highest scores; ties are broken by row order (stable
sort), so the numbers are exact and repeatable.

Baselines: the recency rule (longer since the last order = more likely gone) and the "buy till
you die" models BG/NBD and Pareto/NBD (1 - P(at least one purchase within the horizon)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from churnrec.columns import Feature
from churnrec.training.survival_metrics import expected_calibration_error

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
    lift, capture = top_fraction_lift_capture(y, prob)
    return {
        "roc_auc": float(roc_auc_score(y, prob)),
        "pr_auc": float(average_precision_score(y, prob)),
        "brier": float(brier_score_loss(y, np.clip(prob, 0.0, 1.0))),
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
        "top_decile_lift": lift,
        "top_decile_capture": capture,
    }


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


def clv_churn_scores(
    orders: pd.DataFrame,
    holdout_cutoff: date,
    horizon_days: int,
    customers: Sequence[str],
    *,
    model: str = "bgnbd",
    time_unit_days: float = 7.0,
) -> np.ndarray:
    """1 - P(at least one purchase within `horizon_days` after the cut-off), per customer.

    The model (`bgnbd` or `paretonbd`) is fitted by maximum likelihood on the feature layer's
    BTYD summary (`features.btyd.build_btyd_summary`) of all orders up to `holdout_cutoff`
    (nothing later is read). Scores come back in
    the order of `customers`; a customer without orders by the cut-off is an error.
    """
    from churnrec.features.btyd import AGE_T, FREQUENCY, RECENCY, build_btyd_summary
    from churnrec.features.db import connect_frames

    if model == "bgnbd":
        from churnrec.models.bgnbd import BGNBD as Model
    elif model == "paretonbd":
        from churnrec.models.paretonbd import ParetoNBD as Model
    else:
        raise ValueError(f"unknown CLV baseline {model!r}; expected 'bgnbd' or 'paretonbd'")

    summary = build_btyd_summary(
        connect_frames(orders), holdout_cutoff, time_unit_days=time_unit_days
    )
    ids = pd.Index([str(c) for c in customers])
    unknown = ids.difference(summary.index)
    if len(unknown):
        raise ValueError(
            f"{len(unknown)} customers have no order on or before {holdout_cutoff} "
            f"(e.g. {list(unknown[:5])}); cannot score them with {model}"
        )
    freq, rec, age = (summary[c].to_numpy(dtype="float64") for c in (FREQUENCY, RECENCY, AGE_T))
    fitted = Model().fit(freq, rec, age)
    rows = summary.loc[ids]
    p_alive_buy = fitted.prob_purchase_within(
        horizon_days / time_unit_days,
        rows[FREQUENCY].to_numpy(dtype="float64"),
        rows[RECENCY].to_numpy(dtype="float64"),
        rows[AGE_T].to_numpy(dtype="float64"),
    )
    return 1.0 - np.asarray(p_alive_buy, dtype="float64")


def bgnbd_churn_scores(
    orders: pd.DataFrame, holdout_cutoff: date, horizon_days: int, customers: Sequence[str]
) -> np.ndarray:
    """1 - BG/NBD P(purchase within the horizon); see `clv_churn_scores`."""
    return clv_churn_scores(orders, holdout_cutoff, horizon_days, customers, model="bgnbd")


def paretonbd_churn_scores(
    orders: pd.DataFrame, holdout_cutoff: date, horizon_days: int, customers: Sequence[str]
) -> np.ndarray:
    """1 - Pareto/NBD P(purchase within the horizon); see `clv_churn_scores`."""
    return clv_churn_scores(orders, holdout_cutoff, horizon_days, customers, model="paretonbd")


def baseline_metrics(y_true, scores: np.ndarray, *, probabilities: bool) -> dict[str, float]:
    """Full metrics for probability baselines, ranking metrics for score-only rules."""
    return churn_metrics(y_true, scores) if probabilities else ranking_metrics(y_true, scores)


__all__ = [
    "METRIC_NAMES",
    "baseline_metrics",
    "bgnbd_churn_scores",
    "churn_metrics",
    "clv_churn_scores",
    "expected_calibration_error",
    "paretonbd_churn_scores",
    "ranking_metrics",
    "recency_rule_scores",
    "top_fraction_lift_capture",
]
