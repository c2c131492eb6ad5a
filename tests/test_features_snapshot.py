"""Hand-computed customer snapshot, labels and interactions on a 20-line shop.

Cut-off T = 2024-06-30, so history is everything before 2024-07-01 00:00. Window starts:
30d = 2024-06-01, 90d = 2024-04-02, 180d = 2024-01-03. Expected values are worked out in the
comments next to each customer.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.features.db import connect_frames, default_as_of
from churnrec.features.interactions import build_interactions
from churnrec.features.labels import LabelWindowError, build_labels
from churnrec.features.snapshot import build_customer_snapshot

T = date(2024, 6, 30)
END = pd.Timestamp("2024-07-01")

# customer, order, ordered_at, item, quantity, amount, channel, is_return
LINES = [
    # A: 4 orders on 3 days (Jan 10, Mar 10, Jun 20 twice), one returned line, web + app.
    ("A", "o1", "2024-01-10 09:00", "i1", 1.0, 10.0, "web", False),
    ("A", "o1", "2024-01-10 09:00", "i2", 2.0, 20.0, "web", False),
    ("A", "o2", "2024-03-10 12:00", "i1", 1.0, 10.0, "app", False),
    ("A", "o3", "2024-06-20 08:00", "i3", 1.0, 30.0, "web", False),
    ("A", "o3", "2024-06-20 08:00", "i2", 1.0, 15.0, "web", True),
    ("A", "o4", "2024-06-20 18:00", "i3", 1.0, 5.0, "app", False),
    # B: one order; a later order of returns only does not count as an order.
    ("B", "o5", "2024-05-01 10:00", "i4", 1.0, 50.0, "web", False),
    ("B", "o6", "2024-06-01 10:00", "i1", 1.0, 10.0, "web", True),
    # C: one zero-amount order long ago, no item, no channel (still a customer).
    ("C", "o7", "2023-10-15 10:00", None, 1.0, 0.0, None, False),
    # D: returns only: not in the snapshot.
    ("D", "o8", "2024-02-01 10:00", "i1", 1.0, 10.0, "web", True),
    # E: monthly buyer that stopped in February.
    ("E", "o9", "2023-12-01 10:00", "i2", 1.0, 100.0, "app", False),
    ("E", "o10", "2024-01-01 10:00", "i2", 1.0, 100.0, "app", False),
    ("E", "o11", "2024-02-01 10:00", "i2", 1.0, 100.0, "app", False),
    # F: first order 30 minutes before the end of the cut-off day.
    ("F", "o14", "2024-06-30 23:30", "i3", 3.0, 40.0, "web", False),
    # --- future (after T) ---
    ("A", "o12", "2024-07-15 10:00", "i1", 1.0, 10.0, "web", False),
    ("F", "o15", "2024-07-01 00:00", "i1", 1.0, 10.0, "web", False),
    ("C", "o13", "2024-10-15 10:00", "i1", 1.0, 10.0, "web", False),
    ("G", "o16", "2024-08-01 10:00", "i9", 1.0, 99.0, "store", False),
    ("E", "o17", "2024-08-02 10:00", "i2", 1.0, 100.0, "store", True),
]

ITEMS = pd.DataFrame({C.ITEM_ID: ["i1", "i2", "i3"], C.CATEGORY: ["X", "X", "Y"]})

CUSTOMERS = pd.DataFrame(
    {
        C.CUSTOMER_ID: ["A", "B", "E", "G"],
        C.REGION: ["north", "south", None, "west"],
        C.AGE: [30.0, None, 50.0, 20.0],
        C.GENDER: ["f", None, "m", "f"],
        C.ACQUISITION_CHANNEL: ["ads", "seo", None, "ads"],
        C.MARKETING_CONSENT: pd.array([False, None, True, True], dtype="boolean"),
    }
)

EVENTS = pd.DataFrame(
    [
        ("A", "2024-06-01 10:00", "view", "s1"),
        ("A", "2024-06-01 10:01", "view", "s1"),
        ("A", "2024-06-01 10:02", "add_to_cart", "s1"),  # s1: cart, no purchase -> abandoned
        ("A", "2024-06-10 10:00", "view", "s2"),
        ("A", "2024-06-10 10:01", "add_to_cart", "s2"),
        ("A", "2024-06-10 10:02", "purchase", "s2"),
        ("A", "2024-06-25 10:00", "view", None),  # no session id: one session per day
        ("A", "2024-06-25 11:00", "view", None),
        ("A", "2024-07-02 10:00", "view", "s3"),  # future
        ("B", "2024-04-01 10:00", "view", "s9"),
        ("Z", "2024-04-01 10:00", "view", "s8"),  # visitor without orders: not a customer
    ],
    columns=[C.CUSTOMER_ID, C.OCCURRED_AT, C.EVENT_TYPE, C.SESSION_ID],
)
EVENTS[C.OCCURRED_AT] = pd.to_datetime(EVENTS[C.OCCURRED_AT])


def orders_frame(lines: list[tuple] = LINES) -> pd.DataFrame:
    frame = pd.DataFrame(
        lines,
        columns=[
            C.CUSTOMER_ID,
            C.ORDER_ID,
            C.ORDERED_AT,
            C.ITEM_ID,
            C.QUANTITY,
            C.AMOUNT,
            C.CHANNEL,
            C.IS_RETURN,
        ],
    )
    frame[C.ORDERED_AT] = pd.to_datetime(frame[C.ORDERED_AT])
    frame[C.LINE_ID] = [f"l{i}" for i in range(len(frame))]
    return frame


def history(frame: pd.DataFrame, column: str = C.ORDERED_AT) -> pd.DataFrame:
    return frame[frame[column] < END].reset_index(drop=True)


@pytest.fixture(scope="module")
def snapshot() -> pd.DataFrame:
    con = connect_frames(orders_frame(), customers=CUSTOMERS, items=ITEMS, events=EVENTS)
    return build_customer_snapshot(con, T).set_index(C.CUSTOMER_ID)


EXPECTED = {
    # column: values for customers A, B, C, E, F (NaN = null)
    "recency_days": [10, 60, 259, 150, 0],
    "frequency": [4, 1, 1, 3, 1],
    "monetary_total": [75.0, 50.0, 0.0, 300.0, 40.0],
    "monetary_avg": [18.75, 50.0, 0.0, 100.0, 40.0],
    "tenure_days": [172, 60, 259, 212, 0],
    "gap_mean_days": [81.0, np.nan, np.nan, 31.0, np.nan],  # A: gaps 60, 102
    "gap_std_days": [21.0, np.nan, np.nan, 0.0, np.nan],  # population std
    "gap_last_days": [102.0, np.nan, np.nan, 31.0, np.nan],
    "orders_30d": [2, 0, 0, 0, 1],
    "orders_90d": [2, 1, 0, 0, 1],
    "orders_180d": [4, 1, 0, 1, 1],
    "spend_30d": [35.0, 0.0, 0.0, 0.0, 40.0],
    "spend_90d": [35.0, 50.0, 0.0, 0.0, 40.0],
    "spend_180d": [75.0, 50.0, 0.0, 100.0, 40.0],
    "orders_trend": [0.0, 1.0, 0.0, -1.0, 1.0],  # (last90 - prev90) / (last90 + prev90)
    "spend_trend": [-1 / 15, 1.0, 0.0, -1.0, 1.0],  # A: (35 - 40) / 75
    "distinct_items": [3, 1, 0, 1, 1],
    "distinct_categories": [2, 0, 0, 1, 1],  # i4 has no category
    "top_category_share": [0.6, np.nan, np.nan, 1.0, 1.0],  # A: X 3 lines, Y 2 lines
    "return_rate": [1 / 6, 0.5, 0.0, 0.0, 0.0],
    "channel_share_app": [0.4, 0.0, 0.0, 1.0, 0.0],
    "channel_share_web": [0.6, 1.0, 0.0, 0.0, 1.0],
    "sessions": [3, 1, 0, 0, 0],
    "views": [5, 1, 0, 0, 0],
    "cart_adds": [2, 0, 0, 0, 0],
    "cart_abandonment_rate": [0.5, np.nan, np.nan, np.nan, np.nan],
    "days_since_last_visit": [5, 90, None, None, None],
    "r_score": [4, 3, 1, 2, 5],  # ranks by recency desc C,E,B,A,F -> 1+floor(5(r-1)/4)
    "f_score": [5, 1, 1, 4, 1],
    "m_score": [4, 3, 1, 5, 2],
    C.RFM_SEGMENT: ["important_value", "light_churn", "lost", "churn_warning", "new"],
    C.LIFECYCLE_STAGE: ["mature", "new", "lapsed", "lapsed", "new"],
    # A said no, E yes; B left it blank, C and F have no customers row: never given -> null
    C.MARKETING_CONSENT: [False, None, None, True, None],
    C.REGION: ["north", "south", None, None, None],
    C.AGE: [30.0, np.nan, np.nan, 50.0, np.nan],
}


def test_customers_are_those_with_a_kept_order_by_the_cutoff(snapshot: pd.DataFrame) -> None:
    assert list(snapshot.index) == ["A", "B", "C", "E", "F"]
    assert (snapshot[C.AS_OF] == pd.Timestamp(T)).all()
    assert snapshot.loc["A", "first_order_at"] == pd.Timestamp("2024-01-10 09:00")
    assert snapshot.loc["A", "last_order_at"] == pd.Timestamp("2024-06-20 18:00")
    assert snapshot.loc["F", "last_order_at"] == pd.Timestamp("2024-06-30 23:30")


@pytest.mark.parametrize("column", sorted(EXPECTED))
def test_feature_values(snapshot: pd.DataFrame, column: str) -> None:
    got = snapshot.loc[["A", "B", "C", "E", "F"], column].tolist()
    want = EXPECTED[column]
    for customer, g, w in zip("ABCEF", got, want, strict=True):
        if w is None or (isinstance(w, float) and np.isnan(w)):
            assert pd.isna(g), (column, customer, g)
        elif isinstance(w, float):
            assert g == pytest.approx(w, abs=1e-12), (column, customer, g, w)
        else:
            assert g == w, (column, customer, g, w)


def test_channels_come_from_history_only(snapshot: pd.DataFrame) -> None:
    channel_columns = [c for c in snapshot.columns if c.startswith("channel_share_")]
    assert channel_columns == ["channel_share_app", "channel_share_web"]  # no future "store"


def test_snapshot_is_point_in_time() -> None:
    """Anything after T (new customer, new channel, a return, events) changes nothing."""
    full = orders_frame()
    con_full = connect_frames(full, customers=CUSTOMERS, items=ITEMS, events=EVENTS)
    con_past = connect_frames(
        history(full),
        customers=CUSTOMERS,
        items=ITEMS,
        events=history(EVENTS, C.OCCURRED_AT),
    )
    pd.testing.assert_frame_equal(
        build_customer_snapshot(con_full, T),
        build_customer_snapshot(con_past, T),
        check_exact=True,
    )
    pd.testing.assert_frame_equal(
        build_interactions(con_full, T), build_interactions(con_past, T), check_exact=True
    )


def test_no_monetary_drops_money_columns_and_segments_on_r_and_f() -> None:
    frame = orders_frame()
    frame[C.AMOUNT] = np.nan
    con = connect_frames(frame)
    snap = build_customer_snapshot(con, T).set_index(C.CUSTOMER_ID)
    assert snap.attrs["has_monetary"] is False
    money = {
        "monetary_total",
        "monetary_avg",
        "spend_30d",
        "spend_90d",
        "spend_180d",
        "spend_trend",
        "m_score",
    }
    assert money.isdisjoint(snap.columns)
    assert snap["frequency"].tolist() == EXPECTED["frequency"]
    # value = f_score >= 4 without money: same segments as the hand-computed ones here.
    assert snap[C.RFM_SEGMENT].tolist() == EXPECTED[C.RFM_SEGMENT]
    # no customers table: no attribute columns, consent never given (null, i.e. no marketing)
    assert C.REGION not in snap.columns
    assert snap[C.MARKETING_CONSENT].isna().all()
    # no events table: zero counts, null rate and days
    assert snap["sessions"].tolist() == [0] * 5
    assert snap["days_since_last_visit"].isna().all()


def test_zero_amount_customers_count() -> None:
    con = connect_frames(orders_frame([LINES[8]]))  # C only: one order of amount 0
    snap = build_customer_snapshot(con, T)
    assert snap[C.CUSTOMER_ID].tolist() == ["C"]
    assert snap["monetary_total"].tolist() == [0.0]


def test_missing_optional_order_columns_use_defaults() -> None:
    """No order_id (-> customer_id|ordered_at), quantity (-> 1), is_return (-> False)."""
    frame = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["a", "a", "a"],
            C.ORDERED_AT: pd.to_datetime(
                ["2024-06-01 10:00", "2024-06-01 10:00", "2024-06-05 10:00"]
            ),
            C.ITEM_ID: ["x", "y", "x"],
        }
    )
    con = connect_frames(frame)
    snap = build_customer_snapshot(con, T)
    assert snap["frequency"].tolist() == [2]
    inter = build_interactions(con, T)
    assert inter[C.WEIGHT].tolist() == [2.0, 1.0]
    assert inter["n_orders"].tolist() == [2, 1]


def test_default_as_of_is_last_order_date() -> None:
    assert default_as_of(connect_frames(orders_frame())) == date(2024, 10, 15)


def test_interactions() -> None:
    inter = build_interactions(connect_frames(orders_frame()), T)
    got = [tuple(r) for r in inter.itertuples(index=False)]
    assert got == [
        ("A", "i1", 2.0, 2, pd.Timestamp("2024-03-10 12:00")),
        ("A", "i2", 2.0, 1, pd.Timestamp("2024-01-10 09:00")),  # returned i2 line skipped
        ("A", "i3", 2.0, 2, pd.Timestamp("2024-06-20 18:00")),
        ("B", "i4", 1.0, 1, pd.Timestamp("2024-05-01 10:00")),
        ("E", "i2", 3.0, 3, pd.Timestamp("2024-02-01 10:00")),
        ("F", "i3", 3.0, 1, pd.Timestamp("2024-06-30 23:30")),
    ]
    assert list(inter.columns) == [
        C.CUSTOMER_ID,
        C.ITEM_ID,
        C.WEIGHT,
        "n_orders",
        "last_ordered_at",
    ]


def _labels(**kwargs) -> dict[str, tuple]:
    frame = build_labels(connect_frames(orders_frame()), T, **kwargs)
    assert list(frame.columns) == [
        C.CUSTOMER_ID,
        C.AS_OF,
        "horizon_days",
        C.CHURNED,
        C.DAYS_TO_NEXT_ORDER,
        C.CENSORED,
    ]
    assert (frame[C.AS_OF] == pd.Timestamp(T)).all()
    return {
        r.customer_id: (bool(r.churned), int(r.days_to_next_order), bool(r.censored))
        for r in frame.itertuples()
    }


def test_labels_with_censoring() -> None:
    # observed_until defaults to the last order date, 2024-10-15 = T + 107 days
    assert _labels(horizon_days=90) == {
        "A": (False, 15, False),  # next order 2024-07-15
        "B": (True, 107, True),  # no order until 10-15: censored at observed_until
        "C": (True, 107, False),  # next order on day 107 > 90
        "E": (True, 107, True),  # only a return after T: not an order
        "F": (False, 1, False),  # 2024-07-01 00:00 is day 1
    }
    assert _labels(horizon_days=107)["C"] == (False, 107, False)  # (T, T+H] includes T+H


def test_labels_observed_until_censors_and_window_is_checked() -> None:
    got = _labels(horizon_days=90, observed_until=date(2024, 9, 30))
    assert got["C"] == (True, 92, True)  # the 10-15 order is not looked at
    assert got["A"] == (False, 15, False)
    with pytest.raises(LabelWindowError, match="2024-10-16"):
        build_labels(connect_frames(orders_frame()), T, horizon_days=108)


def test_snapshot_of_chosen_customers_matches_the_full_one(tmp_path) -> None:
    """Training builds snapshots for a customer sample only: each customer's own columns must
    be exactly the full snapshot's; only the quintile scores are ranked within the sample."""
    from churnrec.features.db import connect
    from churnrec.features.snapshot import snapshot_customers
    from churnrec.synthetic import ShopConfig
    from tests.generated_shop import ingested_shop

    con = connect(ingested_shop(tmp_path, ShopConfig(n_customers=600, seed=5)))
    as_of = default_as_of(con) - pd.Timedelta(days=120)
    full = build_customer_snapshot(con, as_of)
    assert snapshot_customers(con, as_of) == full[C.CUSTOMER_ID].tolist()

    rng = np.random.default_rng(0)
    chosen = sorted(rng.choice(full[C.CUSTOMER_ID], size=200, replace=False))
    part = build_customer_snapshot(con, as_of, [*chosen, "no-such-customer"])
    assert part[C.CUSTOMER_ID].tolist() == chosen  # unknown ids are simply absent
    expected = full.set_index(C.CUSTOMER_ID).loc[chosen].reset_index()
    relative = ["r_score", "f_score", "m_score", C.RFM_SEGMENT]
    pd.testing.assert_frame_equal(
        part.drop(columns=relative), expected.drop(columns=relative), check_dtype=False
    )  # a column without nulls in the part comes back as int64, not Int64
    # a uniform sample's quintiles are close to the population's, not identical
    assert (part["f_score"].to_numpy() == expected["f_score"].to_numpy()).mean() > 0.8
    pd.testing.assert_frame_equal(build_customer_snapshot(con, as_of, full[C.CUSTOMER_ID]), full)

    # customers who never used a channel still get its share column (0.0), as in the full one
    shares = [c for c in full.columns if c.startswith("channel_share_")]
    rare = min(shares, key=lambda c: (full[c] > 0).sum())
    never = sorted(full.loc[full[rare] == 0, C.CUSTOMER_ID])[:20]
    assert never
    alone = build_customer_snapshot(con, as_of, never)
    assert [c for c in alone.columns if c.startswith("channel_share_")] == shares
    assert (alone[rare] == 0).all()

    labels = build_labels(con, as_of, horizon_days=60, customers=chosen)
    everyone = build_labels(con, as_of, horizon_days=60).set_index(C.CUSTOMER_ID)
    pd.testing.assert_frame_equal(labels, everyone.loc[chosen].reset_index())
