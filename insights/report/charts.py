"""matplotlib figures as inline PNG data URIs (the report makes no network requests); the few
chart kinds the report uses, each closing its figure."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from churnrec.insights.report.palette import ACCENT
from churnrec.insights.report.section import Chart

DPI = 100
WIDTH = 9.0  # inches: 900 px, fits a laptop screen and an A4 page at print scale

plt.rcParams.update(
    {
        "font.size": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 11,
        "figure.dpi": DPI,
    }
)


def render(fig: Figure, title: str, takeaway: str) -> Chart:
    """PNG bytes of `fig` as a data URI; the figure is closed."""
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Chart(title=title, data_uri=f"data:image/png;base64,{encoded}", takeaway=takeaway)


def figure(height: float = 3.4, ncols: int = 1) -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(1, ncols, figsize=(WIDTH, height), squeeze=False)
    return fig, axes[0]


def bars(
    ax: plt.Axes,
    labels: Sequence[str],
    values: Sequence[float],
    colours: Sequence[str] | None = None,
    *,
    horizontal: bool = False,
    fmt: str = "{:,.0f}",
) -> None:
    """Bars with their values written on them."""
    colours = list(colours) if colours is not None else [ACCENT] * len(labels)
    positions = np.arange(len(labels))
    if horizontal:
        drawn = ax.barh(positions, values, color=colours)
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
    else:
        drawn = ax.bar(positions, values, color=colours)
        ax.set_xticks(positions, labels, rotation=30 if len(labels) > 5 else 0, ha="right")
    ax.bar_label(drawn, labels=[fmt.format(v) for v in values], fontsize=8, padding=2)


def heatmap(
    ax: plt.Axes,
    frame: pd.DataFrame,
    *,
    fmt: str = "{:.0%}",
    cmap: str = "Blues",
    centre: float | None = None,
) -> None:
    """A labelled heatmap of a small frame (rows x columns), values written in the cells."""
    values = frame.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if centre is not None and finite.size:
        span = max(abs(finite.max() - centre), abs(finite.min() - centre), 1e-9)
        image = ax.imshow(values, cmap=cmap, aspect="auto", vmin=centre - span, vmax=centre + span)
    else:
        image = ax.imshow(values, cmap=cmap, aspect="auto")
    ax.set_xticks(range(frame.shape[1]), [str(c) for c in frame.columns], fontsize=8)
    ax.set_yticks(range(frame.shape[0]), [str(i) for i in frame.index], fontsize=8)
    ax.spines[:].set_visible(False)
    if frame.size <= 400:
        lo, hi = image.get_clim()
        for (r, c), v in np.ndenumerate(values):
            if np.isfinite(v):
                dark = (v - lo) / (hi - lo + 1e-12) > 0.6 if centre is None else False
                ax.text(
                    c,
                    r,
                    fmt.format(v),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if dark else "black",
                )
