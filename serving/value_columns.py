"""CLV, expected loss and uplift next to the churn scores, when those models exist.

Kept apart from `serving.scoring` so that a workspace without a `clv` or `uplift` champion
scores exactly as before (the columns are simply absent), and so that a workspace with only an
uplift model (e.g. one past order per customer) still gets its uplift column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.workspace import Workspace

CLV = "clv"
EXPECTED_LOSS = "expected_loss"
UPLIFT = "uplift"


def _champion(ws: Workspace, name: str):
    from churnrec.store.registry import ModelNotFoundError, load_champion

    try:
        return load_champion(ws, name).model
    except ModelNotFoundError:
        return None


def read_customers(ws: Workspace) -> pd.DataFrame | None:
    """`data/customers.parquet` (attributes beyond the canonical ones included), or None."""
    path = ws.data_dir / f"{C.CUSTOMERS}.parquet"
    return pd.read_parquet(path) if path.exists() else None


def uplift_scores(ws: Workspace, snapshot: pd.DataFrame | None, model=None) -> pd.DataFrame:
    """`customer_id, uplift` for every customer of the snapshot or the customers table."""
    from churnrec.models.uplift import uplift_frame

    model = model if model is not None else _champion(ws, "uplift")
    if model is None:
        return pd.DataFrame(columns=[C.CUSTOMER_ID, UPLIFT])
    frame = uplift_frame(snapshot, read_customers(ws))
    return pd.DataFrame(
        {C.CUSTOMER_ID: frame[C.CUSTOMER_ID].astype(str), UPLIFT: model.predict(frame)}
    )


def clv_predictions(ws: Workspace, snapshot: pd.DataFrame | None) -> np.ndarray | None:
    """CLV per snapshot row from the clv champion (for expected-loss tiers), or None."""
    if snapshot is None or snapshot.empty:
        return None
    model = _champion(ws, "clv")
    return None if model is None else np.asarray(model.predict(snapshot), dtype="float64")


def add_value_columns(
    ws: Workspace | str | Path, snapshot: pd.DataFrame, scores: pd.DataFrame
) -> pd.DataFrame:
    """`scores` plus `clv` and `expected_loss` (clv champion) and `uplift` (uplift champion).

    `expected_loss` = churn probability x CLV: the spend at stake if the customer leaves.
    """
    ws = Workspace.at(ws)
    out = scores.copy()
    clv_model = _champion(ws, "clv")
    if clv_model is not None and not snapshot.empty:
        clv = pd.Series(
            clv_model.predict(snapshot), index=snapshot[C.CUSTOMER_ID].astype(str).to_numpy()
        )
        out[CLV] = out[C.CUSTOMER_ID].astype(str).map(clv).to_numpy(dtype="float64")
        if "churn_probability" in out.columns:
            out[EXPECTED_LOSS] = out["churn_probability"].to_numpy(dtype="float64") * out[CLV]
    uplift = uplift_scores(ws, snapshot)
    if len(uplift):
        lookup = pd.Series(uplift[UPLIFT].to_numpy(), index=uplift[C.CUSTOMER_ID])
        out[UPLIFT] = out[C.CUSTOMER_ID].astype(str).map(lookup).to_numpy(dtype="float64")
    return out


def value_fields(row: dict) -> dict[str, float | None]:
    """The value columns of one served row, NaN and absent as None (for the JSON response)."""
    out: dict[str, float | None] = {}
    for name in (CLV, EXPECTED_LOSS, UPLIFT):
        value = row.get(name)
        out[name] = None if value is None or not np.isfinite(value) else float(value)
    return out
