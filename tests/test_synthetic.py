"""The synthetic shop: deterministic, in the ingest contract, and shaped like a real shop."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from churnrec import columns as C
from churnrec.cli import app
from churnrec.synthetic import ShopConfig, ShopTables, generate_shop, write_shop
from churnrec.synthetic.sampling import position_in_group, sample_rows
from churnrec.synthetic.seasonality import Season

SMALL = ShopConfig(n_customers=400, n_items=80, seed=7)

EXPECTED_COLUMNS = {
    C.ORDERS: [
        C.ORDER_ID,
        C.CUSTOMER_ID,
        C.ORDERED_AT,
        C.ITEM_ID,
        C.QUANTITY,
        C.UNIT_PRICE,
        C.CHANNEL,
        C.STATUS,
    ],
    C.CUSTOMERS: [
        C.CUSTOMER_ID,
        C.SIGNED_UP_AT,
        C.REGION,
        C.AGE,
        C.GENDER,
        C.ACQUISITION_CHANNEL,
        C.MARKETING_CONSENT,
    ],
    C.ITEMS: [C.ITEM_ID, C.CATEGORY, C.BRAND, C.PRICE],
    C.EVENTS: [
        C.CUSTOMER_ID,
        C.OCCURRED_AT,
        C.EVENT_TYPE,
        C.ITEM_ID,
        C.SESSION_ID,
        C.CHANNEL,
        C.PLATFORM,
    ],
}


@pytest.fixture(scope="module")
def shop() -> ShopTables:
    """The default shop (5,000 customers, 2 years): big enough for statistical checks."""
    return generate_shop(ShopConfig())


@pytest.fixture(scope="module")
def orders_only(shop: ShopTables) -> pd.DataFrame:
    """One row per order (not per line)."""
    return shop.orders.drop_duplicates(C.ORDER_ID)


# --- helpers --------------------------------------------------------------------------------
def test_sample_rows_draws_only_where_a_row_has_mass() -> None:
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.5, 0.5]])
    rows = np.repeat([0, 1, 2], 2_000)
    drawn = sample_rows(np.random.default_rng(0), probs, rows)
    assert (drawn[rows == 0] == 0).all()
    assert (drawn[rows == 1] == 2).all()
    third = drawn[rows == 2]
    assert set(third) == {1, 2}
    assert 0.45 < (third == 1).mean() < 0.55


def test_position_in_group() -> None:
    assert position_in_group(np.array([2, 0, 3])).tolist() == [0, 1, 0, 1, 2]


def test_season_warp_round_trips_and_favours_december() -> None:
    season = Season.for_period(date(2025, 1, 1), 365)
    days = np.array([0.0, 10.5, 200.25, 364.9, 380.0])
    assert np.allclose(season.to_calendar(season.to_operational(days)), days)
    assert season.total == pytest.approx(365.0)
    # an operational day in mid-December passes faster on the calendar than one in October
    dec, octo = 348.0, 280.0
    assert season.to_operational(np.array([dec + 1]))[0] - season.to_operational(np.array([dec]))[
        0
    ] > 1.3 * (
        season.to_operational(np.array([octo + 1]))[0] - season.to_operational(np.array([octo]))[0]
    )


# --- config ---------------------------------------------------------------------------------
def test_config_rejects_unknown_keys_and_bad_periods() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ShopConfig(n_customer=10)
    with pytest.raises(ValidationError, match="at least 28 days after start"):
        ShopConfig(start=date(2025, 1, 1), end=date(2025, 1, 10))
    with pytest.raises(ValidationError, match="at least 2 per category"):
        ShopConfig(n_items=10, n_categories=15)


# --- determinism ----------------------------------------------------------------------------
def test_same_seed_same_tables_other_seed_other_tables() -> None:
    first, second = generate_shop(SMALL), generate_shop(SMALL)
    for kind, frame in first.as_dict().items():
        pd.testing.assert_frame_equal(frame, second.as_dict()[kind], obj=kind)
    other = generate_shop(SMALL.model_copy(update={"seed": 8}))
    assert not first.orders.equals(other.orders)
    assert not first.customers.equals(other.customers)


def test_switching_events_off_leaves_the_other_tables_alone() -> None:
    with_events = generate_shop(SMALL)
    without = generate_shop(SMALL.model_copy(update={"with_events": False}))
    assert without.events is None
    assert set(without.as_dict()) == {C.ORDERS, C.CUSTOMERS, C.ITEMS}
    pd.testing.assert_frame_equal(with_events.orders, without.orders)
    pd.testing.assert_frame_equal(with_events.customers, without.customers)


# --- contract -------------------------------------------------------------------------------
def test_columns_match_the_ingest_contract(shop: ShopTables) -> None:
    for kind, frame in shop.as_dict().items():
        assert list(frame.columns) == EXPECTED_COLUMNS[kind], kind
        allowed = set(C.REQUIRED_COLUMNS[kind]) | set(C.OPTIONAL_COLUMNS[kind])
        assert set(frame.columns) <= allowed, kind
        assert set(C.REQUIRED_COLUMNS[kind]) <= set(frame.columns), kind
        assert frame[list(C.REQUIRED_COLUMNS[kind])].notna().all().all(), kind


def test_ids_are_strings_and_referentially_sound(shop: ShopTables) -> None:
    customers, items = shop.customers, shop.items
    assert customers[C.CUSTOMER_ID].str.fullmatch(r"C\d{6}").all()
    assert items[C.ITEM_ID].str.fullmatch(r"I\d{5}").all()
    assert customers[C.CUSTOMER_ID].is_unique and items[C.ITEM_ID].is_unique
    assert customers[C.CUSTOMER_ID].iloc[122] == "C000123"
    for frame in (shop.orders, shop.events):
        assert frame[C.CUSTOMER_ID].isin(customers[C.CUSTOMER_ID]).all()
        assert frame[C.ITEM_ID].dropna().isin(items[C.ITEM_ID]).all()
    assert not shop.orders.duplicated([C.ORDER_ID, C.ITEM_ID]).any()
    assert not shop.events.duplicated().any()


def test_timestamps_stay_in_the_period_and_after_signup(shop: ShopTables) -> None:
    lo, hi = pd.Timestamp("2024-01-01"), pd.Timestamp("2026-01-01")
    signup = shop.customers.set_index(C.CUSTOMER_ID)[C.SIGNED_UP_AT]
    for frame, col in ((shop.orders, C.ORDERED_AT), (shop.events, C.OCCURRED_AT)):
        assert frame[col].between(lo, hi, inclusive="left").all()
        assert (frame[col] >= frame[C.CUSTOMER_ID].map(signup)).all()
    per_order = shop.orders.groupby(C.ORDER_ID)[[C.CUSTOMER_ID, C.ORDERED_AT, C.CHANNEL]].nunique()
    assert (per_order == 1).all().all()


# --- shape of the shop ----------------------------------------------------------------------
def test_sizes_and_baskets(shop: ShopTables, orders_only: pd.DataFrame) -> None:
    assert len(shop.customers) == 5_000 and len(shop.items) == 500
    assert shop.items[C.CATEGORY].nunique() == 15
    assert 10_000 < len(orders_only) < 40_000
    lines = shop.orders.groupby(C.ORDER_ID).size()
    assert lines.min() == 1 and lines.max() == 4
    assert (lines == 1).mean() > 0.4
    assert set(shop.orders[C.STATUS]) == {"completed", "returned"}
    assert set(shop.orders[C.CHANNEL]) == {"web", "app", "store"}
    assert (shop.orders[C.UNIT_PRICE] > 0).all() and (shop.orders[C.QUANTITY] >= 1).all()


def test_popularity_is_skewed(shop: ShopTables) -> None:
    counts = shop.orders[C.ITEM_ID].value_counts()
    top_decile = counts.iloc[: len(shop.items) // 10].sum()
    assert top_decile / len(shop.orders) > 0.4


def test_frequent_buyers_and_many_one_timers(orders_only: pd.DataFrame) -> None:
    per_customer = orders_only.groupby(C.CUSTOMER_ID).size()
    assert (per_customer >= 5).mean() > 0.15
    assert (per_customer == 1).mean() > 0.2
    assert per_customer.max() >= 20


def test_returns_and_consent_shares(shop: ShopTables) -> None:
    assert 0.03 <= (shop.orders[C.STATUS] == "returned").mean() <= 0.05
    assert 0.10 <= (~shop.customers[C.MARKETING_CONSENT]).mean() <= 0.15


def test_december_is_busier_than_october(orders_only: pd.DataFrame) -> None:
    day = orders_only[C.ORDERED_AT].dt.normalize()
    december = day.between(pd.Timestamp("2025-12-01"), pd.Timestamp("2025-12-24")).sum() / 24
    october = day.between(pd.Timestamp("2025-10-01"), pd.Timestamp("2025-10-31")).sum() / 31
    assert december > 1.25 * october


def test_buy_again_is_common_but_not_everything(shop: ShopTables) -> None:
    lines = shop.orders.sort_values(C.ORDERED_AT, kind="stable")
    repeat_share = lines.duplicated([C.CUSTOMER_ID, C.ITEM_ID]).mean()
    assert 0.1 < repeat_share < 0.5
    # repeats of the same item come at a steadier pace than memoryless (exponential, CV 1) buying
    gaps = lines.groupby([C.CUSTOMER_ID, C.ITEM_ID])[C.ORDERED_AT].diff().dt.total_seconds()
    stats = gaps.groupby([lines[C.CUSTOMER_ID], lines[C.ITEM_ID]]).agg(["mean", "std", "count"])
    stats = stats[stats["count"] >= 3]
    assert len(stats) > 100
    assert (stats["std"] / stats["mean"]).median() < 0.8


def test_funnel_narrows(shop: ShopTables, orders_only: pd.DataFrame) -> None:
    counts = shop.events[C.EVENT_TYPE].value_counts()
    assert set(counts.index) == {*C.FUNNEL_EVENTS, "payment_error", "checkout_error"}
    assert counts[C.EVENT_VIEW] > counts[C.EVENT_ADD_TO_CART] > counts[C.EVENT_CHECKOUT]
    assert counts[C.EVENT_CHECKOUT] >= counts[C.EVENT_PURCHASE]
    online_orders = (orders_only[C.CHANNEL] != "store").sum()
    assert counts[C.EVENT_PURCHASE] == online_orders


def test_sessions_follow_the_funnel_order(shop: ShopTables) -> None:
    events = shop.events
    kind, session, at = events[C.EVENT_TYPE], events[C.SESSION_ID], events[C.OCCURRED_AT]
    assert (kind.groupby(session).first() == C.EVENT_VIEW).all()  # sessions open with a view
    purchase_sessions = session[kind == C.EVENT_PURCHASE]
    assert purchase_sessions.is_unique
    last_kind = kind.groupby(session).last()
    assert (last_kind[purchase_sessions] == C.EVENT_PURCHASE).all()  # paying ends a session
    last_cart = at[kind == C.EVENT_ADD_TO_CART].groupby(session).max()
    checkout = at[kind == C.EVENT_CHECKOUT].groupby(session).min()
    both = last_cart.index.intersection(checkout.index)
    assert len(both) > 0 and (checkout[both] >= last_cart[both]).all()
    views = events[kind == C.EVENT_VIEW].groupby([C.SESSION_ID, C.ITEM_ID])[C.OCCURRED_AT].min()
    carts = events[kind == C.EVENT_ADD_TO_CART].set_index([C.SESSION_ID, C.ITEM_ID])[C.OCCURRED_AT]
    first_view = views.reindex(carts.index)
    assert (first_view <= carts).all()  # nothing is carted before it was viewed


# --- learnable churn ------------------------------------------------------------------------
def _recent_and_returning(shop: ShopTables, cut: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """Per customer with an order before `cut`: days since the last order, and whether they
    order again within 90 days."""
    orders = shop.orders
    history = orders[orders[C.ORDERED_AT] < cut]
    future = orders[
        (orders[C.ORDERED_AT] >= cut) & (orders[C.ORDERED_AT] < cut + pd.Timedelta(days=90))
    ]
    last = history.groupby(C.CUSTOMER_ID)[C.ORDERED_AT].max()
    recency = (cut - last).dt.days
    returns = pd.Series(last.index.isin(future[C.CUSTOMER_ID]), index=last.index)
    return recency, returns


def test_recent_buyers_come_back_more_than_lapsed_ones(shop: ShopTables) -> None:
    cut = pd.Timestamp("2025-10-02")
    recency, returns = _recent_and_returning(shop, cut)
    active = returns[recency <= 60].mean()
    lapsed = returns[(recency > 180) & (recency <= 365)].mean()
    assert active > 0.4
    assert lapsed < 0.2
    assert active > 3 * lapsed
    # not trivial: a good share of recent buyers still churn, and all of them were "recent"
    assert active < 0.85
    assert 0.15 < returns.mean() < 0.5


def test_engagement_fades_before_churn(shop: ShopTables) -> None:
    cut = pd.Timestamp("2025-10-02")
    recency, returns = _recent_and_returning(shop, cut)
    events = shop.events
    last_month = events[
        events[C.OCCURRED_AT].between(cut - pd.Timedelta(days=30), cut, inclusive="left")
    ]
    activity = last_month.groupby(C.CUSTOMER_ID).size().reindex(recency.index, fill_value=0)
    middling = (recency >= 30) & (recency < 120)
    assert activity[middling & returns].mean() > 1.5 * activity[middling & ~returns].mean()


# --- files and command ------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_shop_round_trips(tmp_path, fmt: str) -> None:
    tables = generate_shop(SMALL)
    paths = write_shop(tables, tmp_path / "shop", fmt)
    assert {k: p.name for k, p in paths.items()} == {
        kind: f"{kind}.{fmt}" for kind in (C.ORDERS, C.CUSTOMERS, C.ITEMS, C.EVENTS)
    }
    for kind, path in paths.items():
        back = pd.read_csv(path, dtype=str) if fmt == "csv" else pd.read_parquet(path)
        assert list(back.columns) == EXPECTED_COLUMNS[kind]
        assert len(back) == len(tables.as_dict()[kind])
    if fmt == "csv":
        orders = pd.read_csv(paths[C.ORDERS], dtype=str)
        assert orders[C.ORDERED_AT].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
        customers = pd.read_csv(paths[C.CUSTOMERS], dtype=str)
        assert customers[C.AGE].dropna().str.fullmatch(r"\d+").all()


def test_write_shop_rejects_unknown_format(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown format 'xlsx'"):
        write_shop(generate_shop(SMALL), tmp_path, "xlsx")  # type: ignore[arg-type]


def test_generate_command_writes_files_and_says_where(tmp_path) -> None:
    out = tmp_path / "myshop"
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "--customers",
            "300",
            "--items",
            "60",
            "--seed",
            "3",
            "--out",
            str(out),
            "--format",
            "parquet",
            "--no-events",
            "--end",
            "2025-06-30",
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "customers.parquet",
        "items.parquet",
        "orders.parquet",
    ]
    orders = pd.read_parquet(out / "orders.parquet")
    assert f"{out / 'orders.parquet'}  {len(orders):,} rows" in result.output
    assert "customers.parquet  300 rows" in result.output
    assert orders[C.ORDERED_AT].min() >= pd.Timestamp("2023-07-01")
    assert orders[C.ORDERED_AT].max() < pd.Timestamp("2025-07-01")


def test_generate_command_rejects_bad_dates(tmp_path) -> None:
    result = CliRunner().invoke(app, ["generate", "--end", "2025-13-01", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a date" in result.output
