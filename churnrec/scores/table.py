"""Score a customer snapshot: churn probability, tier, reasons, action and next-purchase timing.

One function for the HTTP service and `churnrec score`, so the two can never disagree; consent
comes from the customers table and vetoes every marketing action."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.columns import Feature, Score
from churnrec.scores.actions import permitted, suggest_action
from churnrec.scores.config import ServingConfig
from churnrec.scores.consent import contactable
from churnrec.scores.reasons import reason_in_words
from churnrec.scores.tiers import assign_tiers, ranking_values

TIMING_COLUMNS = (
    Score.EXPECTED_DAYS_TO_NEXT_ORDER,
    Score.P_ORDER_7D,
    Score.P_ORDER_30D,
    Score.P_ORDER_90D,
)
# Who the customer is and how at risk: in the same order in the scores table and the export.
FACT_COLUMNS = (
    Score.LAST_ORDER_DATE,
    Score.ORDERS,
    Score.TOTAL_SPEND,
    C.RFM_SEGMENT,
    C.LIFECYCLE_STAGE,
    Score.CHURN_PROBABILITY,
    Score.RISK_TIER,
)
SCORE_COLUMNS = (
    C.CUSTOMER_ID,
    C.AS_OF,
    *FACT_COLUMNS,
    Score.ACTION,
    Score.ACTION_DESCRIPTION,
    Score.REASONS,
    Score.TOP_REASONS,
    *TIMING_COLUMNS,
    C.MARKETING_CONSENT,
    Score.CONTACTABLE,
)


def score_snapshot(
    snapshot: pd.DataFrame,
    churn_model: Any,
    repurchase_model: Any | None,
    *,
    consent: pd.Series | None = None,
    config: ServingConfig | None = None,
    top_k_reasons: int = 3,
    clv: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per snapshot customer with every field `/churn_scores` and `score` return.
    `consent` and `clv` are aligned with the rows; no consent means nothing is recorded, so
    nobody is contactable unless the config allows unknown consent."""
    config = config or ServingConfig()
    if snapshot.empty:
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    snapshot = snapshot.reset_index(drop=True)
    proba = np.asarray(churn_model.predict_proba(snapshot), dtype=float)
    explained = churn_model.explain(snapshot, top_k=top_k_reasons)
    out = customer_facts(snapshot)
    out[Score.CHURN_PROBABILITY] = proba
    ranked, _ = ranking_values(proba, clv, config.tiers)
    out[Score.RISK_TIER], _ = assign_tiers(
        ranked, pd.to_numeric(out[Score.TOTAL_SPEND], errors="coerce").to_numpy(), config.tiers
    )
    recorded = (
        pd.Series(pd.NA, index=range(len(snapshot)), dtype="boolean")
        if consent is None
        else pd.Series(consent, dtype="boolean").reset_index(drop=True)
    )
    may_contact = add_consent(out, recorded, config)
    at_risk = proba >= config.tiers.at_risk_probability
    actions = [
        permitted(suggest_action(s, t, risk), ok)
        for s, t, risk, ok in zip(
            out[C.RFM_SEGMENT], out[Score.RISK_TIER], at_risk, may_contact, strict=True
        )
    ]
    out[Score.ACTION] = [a.code for a in actions]
    out[Score.ACTION_DESCRIPTION] = [a.description for a in actions]
    rows = snapshot.to_dict("records")
    out[Score.TOP_REASONS] = [
        [
            {"feature": r.feature, "value": _plain(r.value), "contribution": float(r.contribution)}
            for r in row
        ]
        for row in explained
    ]
    # Reasons say why a customer may leave: none for a low-tier customer below the at-risk
    # probability, and only the features that push the score up.
    explains = at_risk | (out[Score.RISK_TIER] != "low").to_numpy()
    out[Score.REASONS] = [
        [reason_in_words(r.feature, _plain(r.value), rows[i]) for r in row if r.contribution > 0]
        if explains[i]
        else []
        for i, row in enumerate(explained)
    ]
    add_timing(out, snapshot, repurchase_model)
    return out[list(SCORE_COLUMNS)]


def unscored_rows(
    snapshot: pd.DataFrame | None,
    customer_ids: pd.Series,
    repurchase_model: Any | None,
    *,
    consent: pd.Series,
    config: ServingConfig,
) -> pd.DataFrame:
    """The rows without a churn champion: what the other models say (timing, CLV, uplift) still
    reaches `churnrec score`. One per snapshot customer (or per id in `customer_ids` without a
    snapshot); `consent` is the recorded consent aligned with those rows."""
    if snapshot is None:
        out = pd.DataFrame({C.CUSTOMER_ID: customer_ids.astype(str).to_numpy()})
    else:
        out = customer_facts(snapshot, None, None)
        if repurchase_model is not None:
            add_timing(out, snapshot, repurchase_model)
    add_consent(out, pd.Series(consent, dtype="boolean").reset_index(drop=True), config)
    return out


def customer_facts(
    snapshot: pd.DataFrame, number: Any = np.nan, text: Any = "unknown"
) -> pd.DataFrame:
    """Who each snapshot row is; `number` / `text` stand in for a column the snapshot lacks."""
    out = pd.DataFrame({C.CUSTOMER_ID: snapshot[C.CUSTOMER_ID].astype(str).to_numpy()})
    out[C.AS_OF] = _dates(snapshot, C.AS_OF)
    out[Score.LAST_ORDER_DATE] = _dates(snapshot, Feature.LAST_ORDER_AT)
    out[Score.ORDERS] = _column_or(snapshot, Feature.FREQUENCY, number)
    out[Score.TOTAL_SPEND] = _column_or(snapshot, Feature.MONETARY_TOTAL, number)
    out[C.RFM_SEGMENT] = _column_or(snapshot, C.RFM_SEGMENT, text)
    out[C.LIFECYCLE_STAGE] = _column_or(snapshot, C.LIFECYCLE_STAGE, text)
    return out


def add_consent(out: pd.DataFrame, recorded: pd.Series, config: ServingConfig) -> np.ndarray:
    """Recorded consent (None: unknown) and who marketing may reach, as columns of `out`."""
    out[C.MARKETING_CONSENT] = recorded.astype(object).where(recorded.notna(), None).to_numpy()
    out[Score.CONTACTABLE] = contactable(recorded, unknown_allowed=config.unknown_consent_allowed)
    return out[Score.CONTACTABLE].to_numpy()


def add_timing(out: pd.DataFrame, snapshot: pd.DataFrame, repurchase_model: Any | None) -> None:
    """Next-purchase estimates per snapshot row, added to `out` (NaN without a repurchase model)."""
    if repurchase_model is None:
        for col in TIMING_COLUMNS:
            out[col] = np.full(len(snapshot), np.nan)
        return
    timing = repurchase_model.predict(snapshot.reset_index(drop=True))
    for col in TIMING_COLUMNS:
        out[col] = timing[col].to_numpy(dtype=float)


def _dates(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    return pd.to_datetime(frame[name]).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)


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
