"""Figures for training runs, on `matplotlib.figure.Figure` directly (no pyplot state, no GUI
backend), so they work in servers and tests."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

# A curve drawn in a 5-inch figure cannot show more than a few thousand distinct points;
# passing millions (one per holdout customer) only makes drawing and saving slow.
MAX_CURVE_POINTS = 2000


def thin_curve(x: np.ndarray, y: np.ndarray, max_points: int = MAX_CURVE_POINTS):
    """At most `max_points` evenly spaced points of a curve, its first and last point kept."""
    if len(x) <= max_points:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, max_points).round().astype(np.int64))
    return x[keep], y[keep]


def _curves_figure(curves: dict[str, tuple], diagonal: str, **labels: str) -> Figure:
    """Named (x, y) curves, thinned, over a grey 0-1 diagonal; legend lower right."""
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.subplots()
    for name, (x, y) in curves.items():
        ax.plot(*thin_curve(x, y), label=name)
    ax.plot([0, 1], [0, 1], color="lightgray", linestyle="--", label=diagonal)
    ax.set(**labels)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def roc_figure(y_true, scores: Mapping[str, np.ndarray]) -> Figure:
    """One ROC curve per named score (model and baselines) on the same axes, AUC in the legend."""
    y = np.asarray(y_true, dtype="float64")
    curves = {}
    for name, s in scores.items():
        s = np.asarray(s, dtype="float64")
        curves[f"{name} (AUC {roc_auc_score(y, s):.3f})"] = roc_curve(y, s)[:2]
    return _curves_figure(
        curves,
        "chance",
        xlabel="false positive rate",
        ylabel="true positive rate (churners found)",
        title="ROC on holdout",
    )


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


# --- size bounds: readable at 100% zoom on a laptop screen --------------------------------------
SAVE_DPI = 100  # matplotlib's default figure dpi, which mlflow.log_figure saves at
MAX_WIDTH_PX = 1600
MAX_HEIGHT_PX = 1200
MAX_GROUPED_METRICS = 16  # more rows than this is a table, not a chart (the JSON has them all)


def lift_figure(y_true, scores: Mapping[str, np.ndarray]) -> Figure:
    """Cumulative gain: share of churners found when contacting the top x% by each score."""
    y = np.asarray(y_true, dtype="float64")
    share = np.arange(1, len(y) + 1) / len(y)
    curves = {}
    for name, s in scores.items():
        order = np.argsort(-np.asarray(s, dtype="float64"), kind="stable")
        curves[name] = (share, np.cumsum(y[order]) / max(y.sum(), 1.0))
    return _curves_figure(
        curves,
        "random",
        xlabel="share of customers contacted (highest score first)",
        ylabel="share of churners found",
        title="Cumulative gain on holdout",
    )


def candidates_figure(
    val_scores: Mapping[str, float], chosen: str, metric: str = "ROC-AUC"
) -> Figure:
    """Every candidate's validation score (trained models and rules); the chosen one highlighted."""
    names = list(val_scores)
    values = [val_scores[n] for n in names]
    fig = Figure(figsize=(6, max(2.5, 0.4 * len(names) + 1.2)), layout="constrained")
    ax = fig.subplots()
    colors = ["tab:blue" if n == chosen else "tab:gray" for n in names]
    bars = ax.barh(names[::-1], values[::-1], color=colors[::-1])
    ax.bar_label(bars, fmt="%.4f", fontsize=8)
    low = min(values) if values else 0.0
    ax.set_xlim(max(0.0, low - 0.05), max(values, default=1.0) + 0.03)
    ax.set(xlabel=f"validation {metric}", title=f"Candidates on validation (chosen: {chosen})")
    return fig


def grouped_metrics_figure(table: Mapping[str, Mapping[str, float | None]]) -> Figure:
    """Model vs baselines as one grouped horizontal bar chart, one row per metric; bars are
    relative to the row's largest value (units differ), raw numbers printed on them."""
    metrics = list(table)[:MAX_GROUPED_METRICS]
    sources: list[str] = []
    for m in metrics:
        sources += [s for s, v in table[m].items() if v is not None and s not in sources]
    n_src = max(len(sources), 1)
    height = min(MAX_HEIGHT_PX / SAVE_DPI, 1.2 + len(metrics) * (0.22 * n_src + 0.25))
    fig = Figure(figsize=(8, max(2.5, height)), layout="constrained")
    ax = fig.subplots()
    bar_h = 0.8 / n_src
    palette = ["tab:blue", "tab:gray", "tab:orange", "tab:green", "tab:purple", "tab:brown"]
    for j, source in enumerate(sources):
        ys, widths, labels = [], [], []
        for i, m in enumerate(metrics):
            v = table[m].get(source)
            if v is None:
                continue
            top = max(abs(x) for x in table[m].values() if x is not None) or 1.0
            ys.append(len(metrics) - 1 - i + 0.4 - (j + 0.5) * bar_h)
            widths.append(abs(v) / top)
            labels.append(f"{v:.3g}")
        bars = ax.barh(ys, widths, height=bar_h, label=source, color=palette[j % len(palette)])
        ax.bar_label(bars, labels=labels, fontsize=7, padding=2)
    ax.set_yticks(range(len(metrics)), metrics[::-1])
    ax.set_xlim(0, 1.25)
    ax.set(
        xlabel="relative to the row's largest value (raw value printed)", title="Model vs baselines"
    )
    ax.legend(loc="lower right", fontsize=8)
    return fig


def figure_size_px(fig: Figure, dpi: float = SAVE_DPI) -> tuple[int, int]:
    """Width and height in pixels when saved at `dpi`."""
    w, h = fig.get_size_inches()
    return round(w * dpi), round(h * dpi)
