"""Marketing consent as the shop recorded it, read from the customers table: the snapshot's
column cannot tell "unknown" from "yes". Contactable only with recorded consent (or unknown
consent under `consent_default: allow`); any row saying no means no."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.scores.value_columns import read_customers
from churnrec.workspace import Workspace


def read_consent(ws: Workspace, customers: pd.DataFrame | None = None) -> pd.Series:
    """`customer_id -> True / False / <NA>` from `data/customers.parquet` (empty if absent), or
    from `customers` when the caller has already read that table."""
    frame = read_customers(ws) if customers is None else customers
    if frame is None or C.MARKETING_CONSENT not in frame.columns:
        return pd.Series(dtype="boolean")
    return consent_by_customer(frame)


def consent_by_customer(customers: pd.DataFrame) -> pd.Series:
    """One value per customer: False if any row says False, else True if any says True."""
    values = customers[C.MARKETING_CONSENT].astype("boolean")
    ids = customers[C.CUSTOMER_ID].astype(str)
    any_no = values.eq(False).fillna(False).groupby(ids).any()
    any_yes = values.eq(True).fillna(False).groupby(ids).any()
    out = pd.Series(pd.NA, index=any_no.index, dtype="boolean")
    out[any_yes] = True
    out[any_no] = False
    return out


def lookup(consent: pd.Series, customer_ids: pd.Series | list[str]) -> pd.Series:
    """Recorded consent per id (NA when the customers table has no answer)."""
    ids = pd.Index(pd.Series(customer_ids, dtype=str))
    return pd.Series(consent.reindex(ids).to_numpy(), dtype="boolean")


def contactable(recorded: pd.Series, *, unknown_allowed: bool) -> np.ndarray:
    """True where marketing may reach the customer: consent yes, or unknown if allowed."""
    return recorded.fillna(unknown_allowed).astype(bool).to_numpy()
