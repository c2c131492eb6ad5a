"""The export's rows when no churn champion exists: `churnrec score` still hands over what the
other models say (timing, CLV, uplift), with the facts and consent of `score_snapshot`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from churnrec import columns as C
from churnrec.scores.config import ServingConfig
from churnrec.scores.table import add_consent, add_timing, customer_facts


def unscored_rows(
    snapshot: pd.DataFrame | None,
    customer_ids: pd.Series,
    repurchase_model: Any | None,
    *,
    consent: pd.Series,
    config: ServingConfig,
) -> pd.DataFrame:
    """One row per snapshot customer (or per id in `customer_ids` without a snapshot);
    `consent` is the recorded consent aligned with those rows."""
    if snapshot is None:
        out = pd.DataFrame({C.CUSTOMER_ID: customer_ids.astype(str).to_numpy()})
    else:
        out = customer_facts(snapshot, None, None)
        if repurchase_model is not None:
            add_timing(out, snapshot, repurchase_model)
    add_consent(out, pd.Series(consent, dtype="boolean").reset_index(drop=True), config)
    return out
