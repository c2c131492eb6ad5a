"""Drift of a new snapshot against the champion's training reference: PSI and a KS test.

The threshold is on KS's D, not its p-value: on many customers any shift is "significant".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from churnrec import columns as C
from churnrec.columns import Feature
from churnrec.files import write_json
from churnrec.workspace import Workspace

N_BINS = 10
_EPS = 1e-4  # an empty bin counts as this share, so PSI stays finite
# Identifiers and dates are not distributions to compare.
_NOT_FEATURES = {C.CUSTOMER_ID, C.AS_OF, Feature.FIRST_ORDER_AT, Feature.LAST_ORDER_AT}


class DriftThresholds(BaseModel):
    """When a shift is worth a warning (and, with `--retrain auto`, a retrain)."""

    model_config = ConfigDict(extra="forbid")

    psi: float = Field(0.25, gt=0, description="PSI at or above this flags a column")
    ks_statistic: float = Field(0.15, gt=0, le=1, description="KS D at or above this flags")
    min_rows: int = Field(50, ge=2, description="fewer rows on either side: not tested")
    auc_drop: float = Field(
        0.05, ge=0, le=1, description="champion AUC on the newest window this far below training"
    )


def psi(reference: np.ndarray, current: np.ndarray, bins: int = N_BINS) -> float:
    """PSI of `current` against `reference` over the reference's distinct quantile bins (a
    column with few values gets fewer); values outside its range fall into the outer bins."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if ref.size == 0 or cur.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1))[1:-1])
    ref_share = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1)
    cur_share = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1)
    p = np.maximum(ref_share / ref.size, _EPS)
    q = np.maximum(cur_share / cur.size, _EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic D and p-value (NaN when a side has no values)."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if ref.size == 0 or cur.size == 0:
        return float("nan"), float("nan")
    result = stats.ks_2samp(ref, cur)
    return float(result.statistic), float(result.pvalue)


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Snapshot columns that are numeric features (booleans count as 0/1)."""
    return [
        c
        for c in frame.columns
        if c not in _NOT_FEATURES
        and (pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]))
    ]


def _values(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()


def column_drift(
    reference: pd.Series, current: pd.Series, thresholds: DriftThresholds
) -> dict[str, Any]:
    """PSI, KS D and p-value of one column, and whether it crosses a threshold."""
    ref, cur = _values(reference), _values(current)
    n_ref, n_cur = int((~np.isnan(ref)).sum()), int((~np.isnan(cur)).sum())
    entry: dict[str, Any] = {"n_reference": n_ref, "n_current": n_cur}
    if min(n_ref, n_cur) < thresholds.min_rows:
        return {**entry, "psi": None, "ks_statistic": None, "ks_pvalue": None, "drift": False}
    value, (d, p) = psi(ref, cur), ks(ref, cur)
    drift = value >= thresholds.psi or d >= thresholds.ks_statistic
    return {
        **entry,
        "psi": _finite(value),
        "ks_statistic": _finite(d),
        "ks_pvalue": _finite(p),
        "drift": bool(drift),
    }


def frame_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    thresholds: DriftThresholds,
    columns: Iterable[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """`column_drift` of every numeric column the two frames share (or of `columns`)."""
    names = columns if columns is not None else numeric_columns(reference)
    return {
        name: column_drift(reference[name], current[name], thresholds)
        for name in names
        if name in reference.columns and name in current.columns
    }


def drift_result(
    *,
    reference_as_of: str | None,
    current_as_of: str,
    features: dict[str, dict[str, Any]],
    scores: dict[str, dict[str, Any]],
    thresholds: DriftThresholds,
    performance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one drift record of a refresh (the shape of `data/drift/latest.json`)."""
    drifted = sorted(k for k, v in features.items() if v["drift"])
    drifted_scores = sorted(k for k, v in scores.items() if v["drift"])
    perf_drop = bool(performance and performance.get("degraded"))
    return {
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reference_as_of": reference_as_of,
        "current_as_of": current_as_of,
        "thresholds": thresholds.model_dump(),
        "drift": bool(drifted or drifted_scores or perf_drop),
        "drifted_features": drifted,
        "drifted_scores": drifted_scores,
        "features": features,
        "scores": scores,
        "performance": performance,
    }


def mlflow_metrics(result: dict[str, Any]) -> dict[str, float]:
    """Flat metric keys for MLflow: drift_psi/<col>, drift_ks/<col>, score_psi/<name>, ..."""
    out: dict[str, float] = {
        "drift_flag": float(result["drift"]),
        "n_drifted_features": float(len(result["drifted_features"])),
    }
    for prefix, group in (("drift", result["features"]), ("score", result["scores"])):
        for name, entry in group.items():
            if entry.get("psi") is not None:
                out[f"{prefix}_psi/{name}"] = entry["psi"]
                out[f"{prefix}_ks/{name}"] = entry["ks_statistic"]
    for key, value in (result.get("performance") or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[f"champion_{key}"] = float(value)
    return out


def write_latest(ws: Workspace, result: dict[str, Any]) -> Path:
    """Write `data/drift/latest.json` atomically, 0600 in a 0700 folder: serving may read it."""
    return write_json(ws.drift_record_path, result, sort_keys=True)


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
