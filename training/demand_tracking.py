"""How the served demand forecast did on the weeks since it was trained (`demand_served_*`,
logged by refresh's drift step), so a forecast that went wrong after its holdout is seen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.models import demand as D
from churnrec.workspace import Workspace


def served_forecast_error(ws: Workspace) -> dict[str, Any] | None:
    """The demand champion's error on the weeks since it was trained; None when there is no
    champion or no forecast week has fully happened yet."""
    from churnrec.features.db import connect
    from churnrec.features.demand import UNITS, WEEK_START, weekly_sales
    from churnrec.store.registry import ModelNotFoundError, load_champion

    try:
        loaded = load_champion(ws, "demand")
    except ModelNotFoundError:
        return None
    model = loaded.model
    with connect(ws) as con:
        actual = weekly_sales(con)
    forecast = model.level_forecast(D.ITEM)
    happened = forecast[forecast[D.WEEK_START] <= actual[WEEK_START].max()]
    if happened.empty:
        return None
    sold = actual.set_index([C.ITEM_ID, WEEK_START])[UNITS]
    keys = pd.MultiIndex.from_arrays([happened[D.KEY], happened[D.WEEK_START]])
    y = sold.reindex(keys).fillna(0.0).to_numpy()
    yhat = happened[D.UNITS].to_numpy()
    inside = (y >= happened["units_lo80"].to_numpy() - 1e-9) & (
        y <= happened["units_hi80"].to_numpy() + 1e-9
    )
    total = float(y.sum())
    return {
        "version": loaded.version,
        "weeks": int(happened[D.WEEK_START].nunique()),
        "first_week": str(happened[D.WEEK_START].min().date()),
        "last_week": str(happened[D.WEEK_START].max().date()),
        "wape": float(np.abs(y - yhat).sum() / total) if total > 0 else None,
        "bias": float((yhat - y).sum() / total) if total > 0 else None,
        "coverage_80": float(inside.mean()),
        "holdout_wape": loaded.metrics.get("demand_wape"),
    }


def mlflow_metrics(error: dict[str, Any]) -> dict[str, float]:
    """`demand_served_<wape|bias|coverage_80|weeks>` for the refresh run."""
    keys = ("wape", "bias", "coverage_80", "weeks")
    return {f"demand_served_{k}": float(error[k]) for k in keys if error[k] is not None}


def summary_line(error: dict[str, Any]) -> str:
    holdout = error.get("holdout_wape")
    also = f" (its holdout WAPE {holdout:.3f})" if holdout is not None else ""
    if error["wape"] is None:
        return f"demand v{error['version']}: nothing sold in the weeks since; no WAPE"
    return (
        f"demand v{error['version']} on the {error['weeks']} week(s) since "
        f"(weeks starting {error['first_week']}..{error['last_week']}): WAPE {error['wape']:.3f}{also}, "
        f"bias {error['bias']:+.3f}, 80% interval coverage {error['coverage_80']:.1%}"
    )
