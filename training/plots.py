"""Figures for training runs: ROC curves against baselines, calibration, feature importance.

Built on `matplotlib.figure.Figure` directly (no pyplot state, no GUI backend needed), so they
work in servers and tests; `training.tracking.log_figure` writes them to the run.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve


def roc_figure(y_true, scores: Mapping[str, np.ndarray]) -> Figure:
    """One ROC curve per named score (model and baselines) on the same axes, AUC in the legend."""
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.subplots()
    y = np.asarray(y_true, dtype="float64")
    for name, s in scores.items():
        s = np.asarray(s, dtype="float64")
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color="lightgray", linestyle="--", label="chance")
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate (churners found)",
        title="ROC on holdout",
    )
    ax.legend(loc="lower right", fontsize=8)
    return fig


def calibration_figure(y_true, p, n_bins: int = 10) -> Figure:
    """Observed churn rate per predicted-probability decile against the diagonal."""
    y = np.asarray(y_true, dtype="float64")
    p = np.asarray(p, dtype="float64")
    bins = pd.qcut(pd.Series(p).rank(method="first"), q=min(n_bins, len(p)), labels=False)
    table = (
        pd.DataFrame({"p": p, "y": y, "bin": bins})
        .groupby("bin")
        .agg(p=("p", "mean"), y=("y", "mean"))
    )
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="lightgray", linestyle="--", label="perfect")
    ax.plot(table["p"], table["y"], marker="o", label="model")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="predicted P(churn), decile mean",
        ylabel="observed churn rate",
        title="Calibration on holdout",
    )
    ax.legend(loc="upper left", fontsize=8)
    return fig


def importance_figure(importances: pd.Series, top_n: int = 20) -> Figure:
    """Horizontal bars of the `top_n` most important features (largest on top)."""
    top = importances.sort_values(ascending=False).head(top_n)[::-1]
    fig = Figure(figsize=(6, max(2.5, 0.3 * len(top) + 1)), layout="constrained")
    ax = fig.subplots()
    ax.barh([str(i) for i in top.index], top.to_numpy())
    ax.set(xlabel=str(importances.name or "importance"), title="Feature importance")
    return fig
