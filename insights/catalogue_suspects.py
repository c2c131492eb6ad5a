"""`churnrec items suspects`: order items that are likely no product (postage, fees, vouchers),
which buy-again logic would otherwise recommend. Signs: a mostly zero price, an odd code or no
category (the latter two only for items bought widely or at one price)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.files import write_csv
from churnrec.workspace import Workspace

WIDE_CUSTOMER_SHARE = 0.02  # bought by at least 2% of the customers ...
WIDE_ORDER_SHARE = 0.005  # ... or in at least 0.5% of the baskets
FLAT_MIN_LINES = 20  # "always one price" needs this many priced lines
ODD_SHAPE_SHARE = 0.01  # a code shape shared by under 1% of the item codes is odd
CATEGORY_COVERAGE = 0.9  # "nearly every item has a category"
SUSPECT_COLUMNS = (
    C.ITEM_ID,
    C.RECOMMENDABLE,
    "evidence",
    "customers",
    "customer_share",
    "orders",
    "order_share",
    "median_price",
    "distinct_prices",
    "zero_price_share",
    "has_category",
    "code_shape",
)


@dataclass(frozen=True)
class Suspects:
    table: pd.DataFrame  # SUSPECT_COLUMNS, most customers first
    n_items: int


def code_shape(code: str) -> str:
    """`85123A` -> `9A`, `POST` -> `A`, `BANK CHARGES` -> `A A`, `I00042` -> `A9`."""
    shape = re.sub(r"[^\W\d_]+", "A", str(code))
    return re.sub(r"\d+", "9", shape)


def item_evidence(lines: pd.DataFrame, items: pd.DataFrame | None) -> pd.DataFrame:
    """Per item of the order lines: reach, price and code evidence (no judgement yet)."""
    lines = lines[lines[C.ITEM_ID].notna()].copy()
    basket = C.ORDER_ID if C.ORDER_ID in lines.columns else C.ORDERED_AT
    lines["_basket"] = lines[C.CUSTOMER_ID].astype(str) + "|" + lines[basket].astype(str)
    lines["_price"] = _unit_price(lines)
    by = lines.groupby(C.ITEM_ID, sort=True)
    out = pd.DataFrame(
        {
            "customers": by[C.CUSTOMER_ID].nunique(),
            "orders": by["_basket"].nunique(),
            "median_price": by["_price"].median(),
            "distinct_prices": by["_price"].nunique(),
            "priced_lines": by["_price"].count(),
            "zero_price_share": by["_price"].agg(
                lambda p: float((p == 0).mean()) if p.notna().any() else np.nan
            ),
        }
    )
    out["customer_share"] = out["customers"] / max(lines[C.CUSTOMER_ID].nunique(), 1)
    out["order_share"] = out["orders"] / max(lines["_basket"].nunique(), 1)
    out["has_category"] = pd.NA
    if items is not None and C.CATEGORY in items.columns:
        named = set(items.loc[items[C.CATEGORY].notna(), C.ITEM_ID].astype(str))
        out["has_category"] = out.index.astype(str).isin(named)
    out["code_shape"] = [code_shape(i) for i in out.index]
    return out.rename_axis(C.ITEM_ID).reset_index()


def _unit_price(lines: pd.DataFrame) -> pd.Series:
    if C.UNIT_PRICE in lines.columns:
        return pd.to_numeric(lines[C.UNIT_PRICE], errors="coerce")
    if C.AMOUNT in lines.columns:
        amount = pd.to_numeric(lines[C.AMOUNT], errors="coerce")
        if C.QUANTITY in lines.columns:
            qty = pd.to_numeric(lines[C.QUANTITY], errors="coerce")
            return (amount / qty.where(qty != 0)).round(4)
        return amount
    return pd.Series(np.nan, index=lines.index)


def judge(evidence: pd.DataFrame) -> pd.DataFrame:
    """The suspects among `item_evidence`'s rows, with their reasons, most customers first."""
    ev = evidence
    wide = (ev["customer_share"] >= WIDE_CUSTOMER_SHARE) | (ev["order_share"] >= WIDE_ORDER_SHARE)
    flat = (ev["distinct_prices"] == 1) & (ev["priced_lines"] >= FLAT_MIN_LINES)
    shapes = ev["code_shape"].map(ev["code_shape"].value_counts(normalize=True))
    odd = shapes < ODD_SHAPE_SHARE
    has_cat = ev["has_category"].astype("boolean")
    covered = bool(has_cat.notna().all() and has_cat.mean() >= CATEGORY_COVERAGE)
    no_category = (~has_cat.fillna(True)) if covered else pd.Series(False, index=ev.index)
    reasons = {
        "zero_price": ev["zero_price_share"].fillna(0) >= 0.5,
        "odd_code": odd & (wide | flat),
        "no_category": no_category & (wide | flat),
    }
    hit = pd.concat(reasons, axis=1)
    suspects = ev[hit.any(axis=1)].copy()
    labels = hit.loc[suspects.index]
    extra = np.where(wide.loc[suspects.index], "; bought widely", "") + np.where(
        flat.loc[suspects.index], "; always one price", ""
    )
    suspects["evidence"] = [
        ", ".join(name for name in labels.columns if row[name]) + more
        for (_, row), more in zip(labels.iterrows(), extra, strict=True)
    ]
    suspects[C.RECOMMENDABLE] = False
    suspects = suspects.sort_values(["customers", C.ITEM_ID], ascending=[False, True])
    return suspects.loc[:, list(SUSPECT_COLUMNS)].reset_index(drop=True)


def find_suspects(workspace: Workspace, out: Path | None = None) -> Suspects:
    """Judge every item of the stored orders; write the editable CSV to `out` when given."""
    if not workspace.has_table(C.ORDERS):
        raise FileNotFoundError(f"no orders in {workspace.root}; run `churnrec ingest` first")
    lines = pd.read_parquet(workspace.orders_path)
    if C.IS_RETURN in lines.columns:
        lines = lines[~lines[C.IS_RETURN].fillna(False).astype(bool)]
    if C.ITEM_ID not in lines.columns or lines[C.ITEM_ID].isna().all():
        raise ValueError("the orders have no item ids, so there are no items to judge")
    items = pd.read_parquet(workspace.table_path(C.ITEMS)) if workspace.has_table(C.ITEMS) else None
    evidence = item_evidence(lines, items)
    table = judge(evidence)
    if out is not None:
        write_csv(table, out)
    return Suspects(table, len(evidence))
