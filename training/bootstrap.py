"""One paired bootstrap for every "is A better than B on the same rows" question: both sides
are scored on the same draw, so the interval is of the models' difference, not the holdout's luck.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

CI_LEVEL = 0.95

RowMetric = Callable[[np.ndarray], float]  # the metric computed on the given row positions


def paired_bootstrap(
    metric_a: RowMetric,
    metric_b: RowMetric,
    n_rows: int,
    *,
    rounds: int = 1000,
    seed: int = 0,
    level: float = CI_LEVEL,
) -> tuple[float, float, float]:
    """(a - b on all rows, interval low, interval high) over `rounds` paired resamples; one on
    which a metric is undefined (ValueError) or not finite is skipped (none left: NaN)."""
    if n_rows <= 0:
        raise ValueError("no rows to compare: a paired comparison is undefined")
    everything = np.arange(n_rows)
    diff = float(metric_a(everything) - metric_b(everything))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(rounds):
        rows = rng.integers(0, n_rows, n_rows)
        try:
            value = metric_a(rows) - metric_b(rows)
        except ValueError:
            continue
        if math.isfinite(value):
            diffs.append(value)
    if not diffs:
        return diff, float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return diff, float(low), float(high)
