"""How well a ranking finds the customers a campaign moves, on held-out randomised customers:
uplift at k, the Qini curve q(i) = Y_t(i) - Y_c(i) N_t(i) / N_c(i) (`qini`: its area above
random targeting) and `auuc` (the mean of the uplift curve).
"""

from __future__ import annotations

import math

import numpy as np


def _ordered(y, treated, score):
    y = np.asarray(y, dtype="float64")
    t = np.asarray(treated, dtype=bool)
    s = np.asarray(score, dtype="float64")
    if not (y.shape == t.shape == s.shape):
        raise ValueError(f"y, treated and score differ in length: {y.shape}, {t.shape}, {s.shape}")
    order = np.argsort(-s, kind="stable")
    return y[order], t[order]


def ate(y, treated) -> float:
    """Treated minus control mean outcome (the effect of contacting everyone, or at random)."""
    y = np.asarray(y, dtype="float64")
    t = np.asarray(treated, dtype=bool)
    if t.all() or not t.any():
        return math.nan
    return float(y[t].mean() - y[~t].mean())


def uplift_at(y, treated, score, share: float) -> float:
    """Treated minus control mean outcome among the top `share` by score."""
    ys, ts = _ordered(y, treated, score)
    k = max(2, math.ceil(share * len(ys)))
    return ate(ys[:k], ts[:k])


def _curves(y, treated, score):
    ys, ts = _ordered(y, treated, score)
    n_t = np.cumsum(ts)
    n_c = np.cumsum(~ts)
    y_t = np.cumsum(np.where(ts, ys, 0.0))
    y_c = np.cumsum(np.where(ts, 0.0, ys))
    with np.errstate(divide="ignore", invalid="ignore"):
        qini = y_t - np.where(n_c > 0, y_c * n_t / n_c, 0.0)
        rate_t = np.where(n_t > 0, y_t / n_t, 0.0)
        rate_c = np.where(n_c > 0, y_c / n_c, 0.0)
    i = np.arange(1, len(ys) + 1)
    uplift = (rate_t - rate_c) * i / len(ys)
    return qini, uplift


def qini_coefficient(y, treated, score) -> float:
    """Area between the Qini curve and the random line (shares of N on both axes)."""
    qini, _ = _curves(y, treated, score)
    n = len(qini)
    random = qini[-1] * np.arange(1, n + 1) / n
    return float(np.mean(qini - random) / n)


def auuc(y, treated, score) -> float:
    """Mean of the uplift curve: incremental outcome per held-out customer, averaged over depth."""
    _, uplift = _curves(y, treated, score)
    return float(np.mean(uplift))


def uplift_metrics(y, treated, score) -> dict[str, float]:
    """qini, auuc, uplift_at_10, uplift_at_30 of a ranking, and the random-targeting ate."""
    return {
        "qini": qini_coefficient(y, treated, score),
        "auuc": auuc(y, treated, score),
        "uplift_at_10": uplift_at(y, treated, score, 0.10),
        "uplift_at_30": uplift_at(y, treated, score, 0.30),
        "ate": ate(y, treated),
    }


CALIBRATION_SHARES = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


def holdout_calibration(
    y, treated, score, *, rounds: int = 200, seed: int = 0, level: float = 0.95
) -> dict[str, list[float] | int]:
    """Per top share by `score`: the `observed` uplift, its bootstrap interval and the mean
    `predicted`. Target lists multiply by `observed`: they never promise more than the holdout."""
    ys, ts = _ordered(y, treated, score)
    s = np.sort(np.asarray(score, dtype="float64"))[::-1]
    rng = np.random.default_rng(seed)
    out: dict[str, list[float] | int] = {
        "shares": list(CALIBRATION_SHARES),
        "observed": [],
        "low": [],
        "high": [],
        "predicted": [],
        "n_holdout": len(ys),
    }
    tail = (1 - level) / 2 * 100
    for share in CALIBRATION_SHARES:
        k = max(2, math.ceil(share * len(ys)))
        top_y, top_t = ys[:k], ts[:k]
        draws = [ate(top_y[i], top_t[i]) for i in (rng.integers(0, k, k) for _ in range(rounds))]
        finite = [d for d in draws if math.isfinite(d)]
        low, high = np.percentile(finite, [tail, 100 - tail]) if finite else (math.nan,) * 2
        out["observed"].append(ate(top_y, top_t))
        out["low"].append(float(low))
        out["high"].append(float(high))
        out["predicted"].append(float(s[:k].mean()))
    return out
