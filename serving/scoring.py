"""Score a customer snapshot: churn probability, tier, reasons, action and next-purchase timing.

One function shared by the HTTP service (which scores the whole snapshot once at load time and
then answers from memory) and `churnrec score` (which exports the same table), so the two can
never disagree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.serving.actions import risk_tier, suggest_action

SCORE_COLUMNS = (
    C.CUSTOMER_ID,
    "churn_probability",
    "risk_tier",
    C.RFM_SEGMENT,
    C.LIFECYCLE_STAGE,
    "action",
    "action_description",
    "top_reasons",
    "expected_days_to_next_order",
    "p_order_7d",
    "p_order_30d",
    "p_order_90d",
    C.MARKETING_CONSENT,
)


def score_snapshot(
    snapshot: pd.DataFrame,
    churn_model: Any,
    repurchase_model: Any | None,
    *,
    top_k_reasons: int = 3,
) -> pd.DataFrame:
    """One row per snapshot customer with every field `/churn_scores` and `score` return.

    `top_reasons` holds a list of {"feature", "value", "contribution"} dicts: the features that
    push this customer's churn score up the most (SHAP contributions on the model margin).
    """
    if snapshot.empty:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    proba = np.asarray(churn_model.predict_proba(snapshot), dtype=float)
    reasons = churn_model.explain(snapshot, top_k=top_k_reasons)
    out = pd.DataFrame({C.CUSTOMER_ID: snapshot[C.CUSTOMER_ID].astype(str).to_numpy()})
    out["churn_probability"] = proba
    out["risk_tier"] = [risk_tier(p) for p in proba]
    out[C.RFM_SEGMENT] = _column_or(snapshot, C.RFM_SEGMENT, "unknown")
    out[C.LIFECYCLE_STAGE] = _column_or(snapshot, C.LIFECYCLE_STAGE, "unknown")
    actions = [suggest_action(s, t) for s, t in zip(out[C.RFM_SEGMENT], out["risk_tier"])]
    out["action"] = [a.code for a in actions]
    out["action_description"] = [a.description for a in actions]
    out["top_reasons"] = [
        [
            {"feature": r.feature, "value": _plain(r.value), "contribution": float(r.contribution)}
            for r in row
        ]
        for row in reasons
    ]
    if repurchase_model is not None:
        timing = repurchase_model.predict(snapshot).reset_index(drop=True)
        for col in ("expected_days_to_next_order", "p_order_7d", "p_order_30d", "p_order_90d"):
            out[col] = timing[col].to_numpy(dtype=float)
    else:
        for col in ("expected_days_to_next_order", "p_order_7d", "p_order_30d", "p_order_90d"):
            out[col] = np.nan
    consent = _column_or(snapshot, C.MARKETING_CONSENT, True)
    out[C.MARKETING_CONSENT] = pd.Series(consent).fillna(True).astype(bool).to_numpy()
    return out[list(SCORE_COLUMNS)]


def sort_by_risk(scores: pd.DataFrame) -> pd.DataFrame:
    """Highest churn probability first; ties broken by customer id for a stable export."""
    return scores.sort_values(
        ["churn_probability", C.CUSTOMER_ID], ascending=[False, True], kind="mergesort"
    ).reset_index(drop=True)


def reasons_as_text(reasons: list[dict[str, Any]]) -> str:
    """'recency_days=120 (+0.84); frequency=1 (+0.31)' for flat exports."""
    return "; ".join(
        f"{r['feature']}={_fmt(r['value'])} ({r['contribution']:+.2f})" for r in reasons
    )


def _column_or(frame: pd.DataFrame, name: str, default: Any) -> np.ndarray:
    if name in frame.columns:
        return frame[name].to_numpy()
    return np.full(len(frame), default, dtype=object)


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, NaN -> None, so the value serialises as JSON."""
    if value is None:
        return None
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
