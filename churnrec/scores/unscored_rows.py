"""The export's rows when no churn champion exists (e.g. a shop with one past order each).

`churnrec score` must still hand over what the other models can say (timing, CLV, uplift):
the customer facts and consent as in `scores.table.score_snapshot`, without churn columns.
"""

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
