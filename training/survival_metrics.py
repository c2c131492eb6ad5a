"""Censoring-aware metrics for time-to-next-order predictions: most customers have not ordered
again yet, so plain MAE would reward predicting "soon"; each metric compares only what the data
can tell apart (concordance, MAE over observed orders, P(30 days) over those followed 30 days).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CONCORDANCE = "concordance"
MAE_DAYS = "mae_days"
P30_BRIER = "p30_brier"
P30_ECE = "p30_ece"
CALIBRATION_DAYS = 30
# Points drawn in the predicted-vs-actual scatter: more only overplot the same cloud, and
# drawing ~1M markers took tens of seconds per run.
MAX_SCATTER_POINTS = 20_000


def _arrays(*arrays: object) -> list[np.ndarray]:
    out = [np.asarray(a) for a in arrays]
    n = len(out[0])
    for a in out[1:]:
        if len(a) != n:
            raise ValueError(f"metric inputs differ in length: {[len(x) for x in out]}")
    return out


def _fenwick_add(tree: np.ndarray, positions: np.ndarray) -> None:
    """Add 1 at each 1-based position (repeats allowed), vectorised over the batch."""
    idx = positions.copy()
    size = len(tree) - 1
    while idx.size:
        np.add.at(tree, idx, 1)
        idx = idx + (idx & -idx)
        idx = idx[idx <= size]


def _fenwick_prefix(tree: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Sum of counts at 1-based positions 1..p for each p (p = 0 gives 0)."""
    idx = positions.copy()
    total = np.zeros(len(idx), dtype=np.int64)
    while True:
        live = idx > 0
        if not live.any():
            return total
        total[live] += tree[idx[live]]
        idx[live] -= idx[live] & -idx[live]


def concordance_index(event_days: object, predicted_days: object, censored: object) -> float:
    """Harrell's C for predicted times: pairs where i's order was observed and j's is known later
    (or censored that day); tied predictions count one half; NaN when none is comparable. A
    Fenwick tree over prediction ranks keeps it O(n log n)."""
    t, pred, cens = _arrays(event_days, predicted_days, censored)
    t = t.astype(float)
    pred = pred.astype(float)
    event = ~cens.astype(bool)
    if np.isnan(t).any() or np.isnan(pred).any():
        raise ValueError("concordance_index got NaN times or predictions")
    # dense 1-based ranks of predictions
    uniq, rank0 = np.unique(pred, return_inverse=True)
    rank = rank0.astype(np.int64) + 1
    tree = np.zeros(len(uniq) + 1, dtype=np.int64)
    inserted = 0
    concordant = 0.0
    tied = 0.0
    comparable = 0.0
    # walk times from latest to earliest; "inserted" = everyone known to be later than time t
    order = np.argsort(-t, kind="stable")
    t_sorted = t[order]
    boundaries = np.flatnonzero(np.diff(t_sorted)) + 1
    for group in np.split(order, boundaries):
        group_censored = group[~event[group]]
        group_events = group[event[group]]
        if group_censored.size:  # censored at the same time still outlive these events
            _fenwick_add(tree, rank[group_censored])
            inserted += group_censored.size
        if group_events.size and inserted:
            r = rank[group_events]
            at_most = _fenwick_prefix(tree, r)
            below = _fenwick_prefix(tree, r - 1)
            equal = at_most - below
            above = inserted - at_most
            concordant += float(above.sum())
            tied += float(equal.sum())
            comparable += float(inserted) * group_events.size
        if group_events.size:
            _fenwick_add(tree, rank[group_events])
            inserted += group_events.size
    if comparable == 0:
        return float("nan")
    return (concordant + 0.5 * tied) / comparable


def mae_uncensored(true_days: object, pred_days: object, censored: object) -> float:
    """Mean absolute error in days over rows whose next order was observed (NaN if none)."""
    t, pred, cens = _arrays(true_days, pred_days, censored)
    observed = ~cens.astype(bool)
    if not observed.any():
        return float("nan")
    return float(np.mean(np.abs(t[observed].astype(float) - pred[observed].astype(float))))


@dataclass(frozen=True)
class WindowOutcome:
    """Rows whose `days`-day window is fully observed, and whether each ordered within it."""

    mask: np.ndarray  # over all rows
    ordered: np.ndarray  # over the masked rows


def window_outcome(
    true_days: object, censored: object, days: int = CALIBRATION_DAYS
) -> WindowOutcome:
    """Known outcome of "ordered within `days`": an observed order by then, or followed that long."""
    t, cens = _arrays(true_days, censored)
    t = t.astype(float)
    event = ~cens.astype(bool)
    ordered_within = event & (t <= days)
    mask = ordered_within | (t >= days)
    return WindowOutcome(mask=mask, ordered=ordered_within[mask])


def calibration_table(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Equal-count bins of predicted probability: mean predicted vs observed rate per bin."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.argsort(p, kind="stable")
    rows = []
    for b, idx in enumerate(np.array_split(order, max(1, min(n_bins, len(p))))):
        if idx.size:
            rows.append(
                {
                    "bin": b,
                    "n": int(idx.size),
                    "mean_predicted": float(p[idx].mean()),
                    "observed_rate": float(y[idx].mean()),
                }
            )
    return pd.DataFrame(rows, columns=["bin", "n", "mean_predicted", "observed_rate"])


def expected_calibration_error(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """Count-weighted mean |predicted - observed| over equal-count (decile) bins."""
    if len(p) == 0:
        return float("nan")
    table = calibration_table(p, y, n_bins)
    gaps = (table["mean_predicted"] - table["observed_rate"]).abs()
    return float((gaps * table["n"]).sum() / table["n"].sum())


def p30_calibration(
    true_days: object, p_order_30d: object, censored: object
) -> tuple[float, float, pd.DataFrame]:
    """Brier score, ECE and decile table of P(order within 30 days) where that is known."""
    (p_all,) = _arrays(p_order_30d)
    outcome = window_outcome(true_days, censored, CALIBRATION_DAYS)
    p = p_all.astype(float)[outcome.mask]
    y = outcome.ordered.astype(float)
    if len(p) == 0:
        return float("nan"), float("nan"), calibration_table(p, y)
    brier = float(np.mean((p - y) ** 2))
    return brier, expected_calibration_error(p, y), calibration_table(p, y)


def repurchase_metrics(
    true_days: object, censored: object, pred_days: object, p_order_30d: object | None = None
) -> dict[str, float]:
    """`concordance`, `mae_days` and (when P(30d) is given) `p30_brier`, `p30_ece`."""
    metrics = {
        CONCORDANCE: concordance_index(true_days, pred_days, censored),
        MAE_DAYS: mae_uncensored(true_days, pred_days, censored),
    }
    if p_order_30d is not None:
        brier, ece, _ = p30_calibration(true_days, p_order_30d, censored)
        metrics[P30_BRIER] = brier
        metrics[P30_ECE] = ece
    return metrics


def calibration_figure(table: pd.DataFrame, title: str = "P(order within 30 days)") -> Figure:
    """Reliability plot of a `calibration_table` (matplotlib Figure, Agg backend)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label="model")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title(title)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    return fig


def predicted_vs_actual_figure(true_days: object, pred_days: object, censored: object) -> Figure:
    """Scatter of predicted vs actual days; censored rows drawn as lower bounds (hollow)."""
    from matplotlib.figure import Figure

    t, pred, cens = _arrays(true_days, pred_days, censored)
    cens = cens.astype(bool)
    n_rows = len(t)
    if n_rows > MAX_SCATTER_POINTS:  # a random sample shows the same cloud, drawn in a blink
        keep = np.sort(np.random.default_rng(0).choice(n_rows, MAX_SCATTER_POINTS, replace=False))
        t, pred, cens = t[keep], pred[keep], cens[keep]
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    t = np.maximum(t.astype(float), 0.5)
    pred = np.maximum(pred.astype(float), 0.5)
    ax.scatter(t[~cens], pred[~cens], s=6, alpha=0.4, label="next order observed")
    ax.scatter(
        t[cens],
        pred[cens],
        s=6,
        alpha=0.2,
        facecolors="none",
        edgecolors="tab:orange",
        label="censored (actual >= x)",
    )
    # Both axes logarithmic (days span 1..hundreds); the diagonal is drawn through many points
    # so it stays the true y = x line on any scale.
    lo = 0.5
    hi = float(max(np.max(t, initial=1.0), np.max(pred, initial=1.0)))
    line = np.geomspace(lo, max(hi, 1.0), 50)
    ax.plot(line, line, linestyle="--", color="grey", label="predicted = actual")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, max(hi, 1.0) * 1.2)
    ax.set_ylim(lo, max(hi, 1.0) * 1.2)
    ax.set_xlabel("actual days to next order (log)")
    ax.set_ylabel("predicted (median) days (log)")
    ax.legend(loc="upper left")
    if n_rows > len(t):
        ax.set_title(f"random {len(t):,} of {n_rows:,} rows", fontsize=9)
    return fig
