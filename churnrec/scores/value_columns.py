"""CLV, expected loss and uplift next to the churn scores; without their champion the columns
are absent, and a workspace with only an uplift model still gets its uplift column."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.workspace import Workspace


def read_customers(ws: Workspace) -> pd.DataFrame | None:
    """`data/customers.parquet` (attributes beyond the canonical ones included), or None."""
    path = ws.data_dir / f"{C.CUSTOMERS}.parquet"
    return pd.read_parquet(path) if path.exists() else None


def uplift_scores(
    model: Any | None, snapshot: pd.DataFrame | None, customers: pd.DataFrame | None
) -> pd.DataFrame:
    """`customer_id, uplift` for every customer of the snapshot or the customers table."""
    from churnrec.models.uplift import uplift_frame

    if model is None:
        return pd.DataFrame(columns=[C.CUSTOMER_ID, Score.UPLIFT])
    frame = uplift_frame(snapshot, customers)
    return pd.DataFrame(
        {C.CUSTOMER_ID: frame[C.CUSTOMER_ID].astype(str), Score.UPLIFT: model.predict(frame)}
    )


def add_value_columns(
    snapshot: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    clv_model: Any | None,
    uplift_model: Any | None,
    customers: pd.DataFrame | None,
    clv: np.ndarray | None = None,
) -> pd.DataFrame:
    """`scores` plus `clv` and `expected_loss` (churn probability x CLV: the spend at stake if
    the customer leaves) with a clv model, and `uplift` with an uplift model. `clv`: the clv
    model's answer per snapshot row, when the caller has it already (expected-loss tiers)."""
    out = scores.copy()
    if clv_model is not None and not snapshot.empty:
        clv_by_customer = pd.Series(
            clv_model.predict(snapshot) if clv is None else clv,
            index=snapshot[C.CUSTOMER_ID].astype(str).to_numpy(),
        )
        out[Score.CLV] = (
            out[C.CUSTOMER_ID].astype(str).map(clv_by_customer).to_numpy(dtype="float64")
        )
        if Score.CHURN_PROBABILITY in out.columns:
            out[Score.EXPECTED_LOSS] = (
                out[Score.CHURN_PROBABILITY].to_numpy(dtype="float64") * out[Score.CLV]
            )
    uplift = uplift_scores(uplift_model, snapshot, customers)
    if len(uplift):
        lookup = pd.Series(uplift[Score.UPLIFT].to_numpy(), index=uplift[C.CUSTOMER_ID])
        out[Score.UPLIFT] = out[C.CUSTOMER_ID].astype(str).map(lookup).to_numpy(dtype="float64")
    return out


def value_fields(row: dict) -> dict[str, float | None]:
    """The value columns of one served row, NaN and absent as None (for the JSON response)."""
    out: dict[str, float | None] = {}
    for name in (Score.CLV, Score.EXPECTED_LOSS, Score.UPLIFT):
        value = row.get(name)
        out[name] = None if value is None or not np.isfinite(value) else float(value)
    return out
