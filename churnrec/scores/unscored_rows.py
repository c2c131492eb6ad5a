"""The export's rows when no churn champion exists (e.g. a shop with one past order each).

`churnrec score` must still hand over whatever the shop's models can say: next-purchase timing
from a repurchase model, CLV from a clv model, uplift from an uplift model. These rows carry
the customer facts and consent exactly like `scores.table.score_snapshot`, without the
churn columns (probability, tier, reasons, action), which only a churn model can fill.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.columns import Feature, Score
from churnrec.scores.config import ServingConfig
from churnrec.scores.consent import contactable
from churnrec.scores.table import TIMING_COLUMNS, timing_frame


def unscored_rows(
    snapshot: pd.DataFrame | None,
    customer_ids: pd.Series,
    repurchase_model: Any | None,
    *,
    consent: pd.Series,
    config: ServingConfig,
) -> pd.DataFrame:
    """One row per snapshot customer (or per id in `customer_ids` without a snapshot).

    `consent` is the recorded consent aligned with those rows (True / False / NA).
    """
    ids = snapshot[C.CUSTOMER_ID] if snapshot is not None else customer_ids
    out = pd.DataFrame({C.CUSTOMER_ID: ids.astype(str).to_numpy()})
    if snapshot is not None:
        snap = snapshot.reset_index(drop=True)
        out[C.AS_OF] = _dates(snap, C.AS_OF)
        out[Score.LAST_ORDER_DATE] = _dates(snap, Feature.LAST_ORDER_AT)
        for name, source in (
            (Score.ORDERS, Feature.FREQUENCY),
            (Score.TOTAL_SPEND, Feature.MONETARY_TOTAL),
            (C.RFM_SEGMENT, C.RFM_SEGMENT),
            (C.LIFECYCLE_STAGE, C.LIFECYCLE_STAGE),
        ):
            out[name] = snap[source].to_numpy() if source in snap.columns else None
        if repurchase_model is not None:
            timing = timing_frame(snap, repurchase_model)
            for col in TIMING_COLUMNS:
                out[col] = timing[col].to_numpy(dtype=float)
    recorded = pd.Series(consent, dtype="boolean").reset_index(drop=True)
    out[C.MARKETING_CONSENT] = recorded.astype(object).where(recorded.notna(), None).to_numpy()
    out[Score.CONTACTABLE] = contactable(recorded, unknown_allowed=config.unknown_consent_allowed)
    return out


def _dates(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    return pd.to_datetime(frame[name]).dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
