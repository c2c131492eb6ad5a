"""Vectorised draws used across the simulator (no Python loops over rows)."""

from __future__ import annotations

import numpy as np


def sample_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One categorical draw per entry of `rows` from `probs[row]` ((R, K), rows sum to 1); row
    CDFs shifted by the row number make one `searchsorted` serve every draw in O(R*K) memory."""
    n_rows, n_cols = probs.shape
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    cdf[:, -1] = 1.0  # exact, so row r ends at r + 1 and never spills into row r + 1
    flat = (cdf + np.arange(n_rows)[:, None]).ravel()
    u = rng.random(len(rows))
    idx = np.searchsorted(flat, rows + u, side="right")
    return np.minimum(idx - rows * n_cols, n_cols - 1)


def segment_starts(counts: np.ndarray) -> np.ndarray:
    """Start offset of each group in a flat array laid out as `np.repeat(groups, counts)`."""
    return np.cumsum(counts) - counts


def position_in_group(counts: np.ndarray) -> np.ndarray:
    """0-based position of every element within its group, for `np.repeat(..., counts)`."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(segment_starts(counts), counts)


def time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Fractions of a day with a lunch and an evening peak (online shopping hours)."""
    hours = np.array(  # relative weight of each hour, midnight to 11 and noon to 23
        [
            [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.2, 3, 3.5, 4, 4.5],
            [5.5, 5, 4.5, 4.3, 4.5, 5, 6, 7.5, 8, 7, 4.5, 2.2],
        ]
    ).ravel()
    hour = rng.choice(24, size=n, p=hours / hours.sum())
    return (hour + rng.random(n)) / 24.0
