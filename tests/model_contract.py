"""The shared model contract: one tiny shop, and per model class how to fit it and ask it.

`tests/test_model_contract.py` runs the same checks over every `ModelCase` here (in the style of
RecTools' `tests/models/utils.py`): save/load and refit give the same answers, a customer (or
item) never seen in training gets a defined answer, relabelling ids changes nothing, and an
unfitted model refuses to answer. A case only says how its class is fitted and asked; the
checks are written once, so a new model class gets them by adding one case.

Answers are plain, comparable values keyed by the shop's own ids: a float Series indexed by
`customer_id` for snapshot models, `{customer_id: [(item_id, source), ...]}` for recommenders.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.features.db import connect_frames
from churnrec.features.interactions import build_interactions
from churnrec.features.labels import build_labels
from churnrec.features.snapshot import build_customer_snapshot
from churnrec.synthetic import ShopConfig, generate_shop

SHOP = ShopConfig(
    n_customers=400,
    n_items=40,
    n_categories=4,
    seed=11,
    with_events=False,
    start=date(2024, 1, 1),
    end=date(2024, 12, 31),
)
TRAIN_AT = date(2024, 6, 1)  # training cut-off (labels observed until VALID_AT)
VALID_AT = date(2024, 9, 1)  # validation cut-off (labels observed until SCORE_AT)
SCORE_AT = date(2024, 12, 31)  # what the models are asked about (history up to here)
HORIZON_DAYS = 90
NEW_CUSTOMER = "never-seen-customer"  # first order on SCORE_AT: in no training table
NEW_ITEM = "never-seen-item"
K = 5


def relabel(external_id: str) -> str:
    """Another string for the same id; reversing also reverses how ids sort."""
    return "x" + external_id[::-1]


def relabel_keep_order(external_id: str) -> str:
    """Another string for the same id that sorts like the original (a prefix)."""
    return "x" + external_id


def keep_label(external_id: str) -> str:
    return external_id


@dataclass(frozen=True)
class Shop:
    """Everything the cases fit on and score, built through the real feature pipeline."""

    label: Callable[[str], str]  # original id -> id in these tables
    train: pd.DataFrame  # snapshot at TRAIN_AT + labels (history up to TRAIN_AT only)
    valid: pd.DataFrame  # snapshot at VALID_AT + labels
    score: pd.DataFrame  # snapshot at SCORE_AT; includes NEW_CUSTOMER
    lines: pd.DataFrame  # non-returned order lines before VALID_AT (recommender history)
    interactions: pd.DataFrame  # build_interactions the day before VALID_AT
    items: pd.DataFrame
    campaign: pd.DataFrame  # per customer of `valid`: treated (bool) and outcome (float)
    con: Any  # DuckDB views over these tables (rules that read the history themselves)

    def unlabel(self, external_id: str) -> str:
        """The original id of one of this shop's ids."""
        return _inverse(self.label)[external_id]


@cache
def _inverse(label: Callable[[str], str]) -> dict[str, str]:
    base = _raw_tables()
    ids = [*base[0][C.CUSTOMER_ID], *base[0][C.ITEM_ID].dropna(), NEW_CUSTOMER, NEW_ITEM]
    return {label(str(i)): str(i) for i in ids}


@cache
def _raw_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The synthetic shop's orders (with a line total and a brand-new customer), customers, items."""
    shop = generate_shop(SHOP)
    orders = shop.orders.assign(**{C.AMOUNT: shop.orders["quantity"] * shop.orders["unit_price"]})
    first_item = str(shop.items[C.ITEM_ID].iloc[0])
    newcomer = orders.iloc[[0]].assign(
        **{
            C.CUSTOMER_ID: NEW_CUSTOMER,
            C.ORDER_ID: "never-seen-order",
            C.ORDERED_AT: pd.Timestamp(SCORE_AT) + pd.Timedelta(hours=10),
            C.ITEM_ID: first_item,
            C.STATUS: "delivered",
        }
    )
    orders = pd.concat([orders, newcomer], ignore_index=True)
    return orders, shop.customers, shop.items


def _relabelled(frame: pd.DataFrame, label: Callable[[str], str]) -> pd.DataFrame:
    out = frame.copy()
    for col in (C.CUSTOMER_ID, C.ITEM_ID):
        if col in out.columns:
            out[col] = out[col].map(lambda v: v if pd.isna(v) else label(str(v)))
    return out


def _labelled(con, as_of: date, observed_until: date) -> pd.DataFrame:
    snapshot = build_customer_snapshot(con, as_of)
    labels = build_labels(con, as_of, HORIZON_DAYS, observed_until=observed_until)
    cols = [C.CUSTOMER_ID, C.CHURNED, C.DAYS_TO_NEXT_ORDER, C.CENSORED]
    return snapshot.merge(labels[cols], on=C.CUSTOMER_ID, validate="one_to_one")


@cache
def build_shop(label: Callable[[str], str] = keep_label) -> Shop:
    """The tiny shop with every id passed through `label` before any feature is computed."""
    raw_orders, raw_customers, raw_items = _raw_tables()
    orders = _relabelled(raw_orders, label)
    customers = _relabelled(raw_customers, label)
    items = _relabelled(raw_items, label)
    con = connect_frames(orders, customers, items)
    valid = _labelled(con, VALID_AT, SCORE_AT)
    history = orders[
        (orders[C.ORDERED_AT] < pd.Timestamp(VALID_AT)) & (orders[C.STATUS] != "returned")
    ]
    # A campaign keyed by the original customer: the same person is treated under any label.
    original = valid[C.CUSTOMER_ID].map(_inverse(label))
    rng_value = original.map(_campaign_draw)
    treated = rng_value < 0.5
    outcome = (valid["frequency"] * np.where(treated, 1.5, 1.0) + 10 * rng_value).astype("float64")
    return Shop(
        label=label,
        train=_labelled(con, TRAIN_AT, VALID_AT),
        valid=valid,
        score=build_customer_snapshot(con, SCORE_AT),
        lines=history[[C.CUSTOMER_ID, C.ORDER_ID, C.ORDERED_AT, C.ITEM_ID]].reset_index(drop=True),
        interactions=build_interactions(con, VALID_AT - timedelta(days=1)),
        items=items,
        campaign=pd.DataFrame(
            {C.CUSTOMER_ID: valid[C.CUSTOMER_ID], "treated": treated, "outcome": outcome}
        ),
        con=con,
    )


def _campaign_draw(original_id: str) -> float:
    """A fixed pseudo-random number per original customer id (not per row position)."""
    digest = sum((i + 1) * ord(ch) for i, ch in enumerate(original_id))
    return (digest * 2654435761 % 2**32) / 2**32


# --- answers --------------------------------------------------------------------------------
def by_customer(shop: Shop, values: Any) -> pd.Series:
    """Per-row values of `shop.score` as a float Series keyed by the original customer id."""
    ids = shop.score[C.CUSTOMER_ID].map(shop.unlabel)
    return pd.Series(np.asarray(values, dtype="float64"), index=ids.to_numpy()).sort_index()


def frame_by_customer(shop: Shop, frame: pd.DataFrame) -> pd.Series:
    """A prediction frame flattened to one Series (column/customer), keyed by original ids."""
    parts = [by_customer(shop, frame[col]).add_prefix(f"{col}/") for col in frame.columns]
    return pd.concat(parts).sort_index()


def ranked(shop: Shop, lists: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
    """Recommendation lists with customer and item ids mapped back to the original ids."""
    return {
        shop.unlabel(cid): [(shop.unlabel(item), source) for item, source in row]
        for cid, row in lists.items()
    }


def asked_customers(shop: Shop, n: int = 40) -> list[str]:
    """A fixed set of customers with history (the same people under any label)."""
    known = sorted(_inverse(shop.label)[c] for c in shop.lines[C.CUSTOMER_ID].unique())
    return [shop.label(c) for c in known[:n]]


# --- the case table ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelCase:
    """How one model class is fitted on a `Shop`, asked, and what it does for the unknown.

    `unknown` checks the model's answer for `NEW_CUSTOMER` (and `NEW_ITEM` for recommenders)
    and raises AssertionError when it is not a defined answer. `unfitted` builds an instance
    that was never fitted and returns the calls that must refuse; `unfitted_skip` says why the
    class cannot exist unfitted instead. `relabel_with` is the relabelling the case must be
    blind to: `relabel` (reversed ids, so also a new sort order) unless `relabel_note` says why
    the class only promises it for an order-keeping relabelling (`relabel_keep_order`).
    """

    name: str
    fit: Callable[..., Any]  # fit(shop) -> a fitted model
    answer: Callable[[Any, Shop], Any]
    unknown: Callable[[Any, Shop], None]
    cls: type | None = None  # the class whose `load` reads `save`'s folder (None: no save/load)
    unfitted: Callable[[Shop, Path], list[Callable[[], Any]]] | None = None
    unfitted_skip: str = ""
    relabel_with: Callable[[str], str] = relabel
    relabel_note: str = ""
    instance_fit: bool = False  # `fit(shop, model)` fits an existing instance again


def assert_finite(values: Any, what: str) -> None:
    arr = np.asarray(values, dtype="float64")
    assert arr.size > 0, f"{what}: no answer"
    assert np.isfinite(arr).all(), f"{what}: not finite: {arr}"


def assert_new_customer_answered(answer: pd.Series, what: str) -> float:
    """The brand-new customer is in the answer with a finite value; returns it."""
    assert NEW_CUSTOMER in answer.index, f"{what}: no answer for a customer never seen"
    value = float(answer.loc[NEW_CUSTOMER]) if np.ndim(answer.loc[NEW_CUSTOMER]) == 0 else None
    assert value is not None and math.isfinite(value), f"{what}: {value!r} for a new customer"
    return value
