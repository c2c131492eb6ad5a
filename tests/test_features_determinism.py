"""The snapshot does not depend on row order or on how DuckDB's threads split the work.

Float sums and streaming statistics (STDDEV_POP) change in the last bits with the order in
which rows arrive; money is summed as DECIMAL and gap statistics as integers so that they
cannot. Each build here gets the same lines in a different order, on two threads, and the
frames must be identical. Also: the self-contained query (no temporary table) gives the same
frame, and `fetch_frame` gives exactly `.df()`'s dtypes.
"""

from __future__ import annotations

import math
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from churnrec import columns as C
from churnrec.features import sql
from churnrec.features.db import connect_frames
from churnrec.features.fetch import fetch_frame
from churnrec.features.snapshot import build_customer_snapshot, channel_column

T = date(2024, 6, 30)
N_LINES = 300_000  # > 2 DuckDB scan partitions of a pandas frame, so both threads get rows


def _lines(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_orders = N_LINES // 3
    order_customer = (2_000 * rng.random(n_orders) ** 2).astype(int)
    order_time = np.datetime64("2023-01-01") + rng.integers(0, 600 * 86_400, n_orders).astype(
        "timedelta64[s]"
    )
    idx = rng.integers(0, n_orders, N_LINES)
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: [f"c{c}" for c in order_customer[idx]],
            C.ORDER_ID: [f"o{i}" for i in idx],
            C.ORDERED_AT: order_time[idx].astype("datetime64[us]"),
            C.ITEM_ID: [f"i{i}" for i in rng.integers(0, 300, N_LINES)],
            C.AMOUNT: np.round(rng.gamma(2.0, 17.3, N_LINES), 2),
            C.CHANNEL: rng.choice(np.array(["web", "app", "Store"], dtype=object), N_LINES),
            C.IS_RETURN: rng.random(N_LINES) < 0.05,
        }
    )


ITEMS = pd.DataFrame(
    {
        C.ITEM_ID: [f"i{i}" for i in range(250)],  # i250..i299 have no catalog row
        C.CATEGORY: [None if i % 17 == 0 else f"cat{i % 12}" for i in range(250)],
    }
)


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    return _lines()


def test_same_frame_whatever_the_row_order_on_two_threads(lines: pd.DataFrame) -> None:
    frames = []
    for seed in (0, 1, 2):
        shuffled = lines.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        con = connect_frames(shuffled, items=ITEMS, threads=2)
        frames.append(build_customer_snapshot(con, T))
    assert frames[0]["gap_std_days"].notna().sum() > 1_000  # the statistic is exercised
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other, check_exact=True)


def _exact_gap_stats(lines: pd.DataFrame) -> pd.DataFrame:
    """Gap mean and population std per customer from exact integer sums (Python ints)."""
    end = pd.Timestamp(T) + pd.Timedelta(days=1)
    kept = lines[(lines[C.ORDERED_AT] < end) & ~lines[C.IS_RETURN]]
    orders = kept.groupby([C.CUSTOMER_ID, C.ORDER_ID])[C.ORDERED_AT].min().dt.normalize()
    rows = {}
    for customer, days in orders.groupby(level=0):
        gaps = np.diff(np.unique(days.to_numpy())).astype("timedelta64[D]").astype(int).tolist()
        if gaps:
            n, s1, s2 = len(gaps), sum(gaps), sum(g * g for g in gaps)
            rows[customer] = (s1 / n, math.sqrt((n * s2 - s1 * s1) / (n * n)))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "std"])


def test_gap_statistics_are_exactly_rounded(lines: pd.DataFrame) -> None:
    """Integer sums, one division, one sqrt: the correctly rounded value, bit for bit.

    (STDDEV_POP's running update is off by an ulp for some customers, differently per run.)
    """
    snap = build_customer_snapshot(connect_frames(lines, items=ITEMS, threads=2), T)
    snap = snap.set_index(C.CUSTOMER_ID)
    want = _exact_gap_stats(lines)
    got = snap.loc[snap["gap_mean_days"].notna()]
    assert sorted(got.index) == sorted(want.index)
    assert (got["gap_mean_days"] == want.loc[got.index, "mean"]).all()
    assert (got["gap_std_days"] == want.loc[got.index, "std"]).all()


def test_self_contained_query_gives_the_same_frame(lines: pd.DataFrame) -> None:
    con = connect_frames(lines, items=ITEMS, threads=2)
    via_table = build_customer_snapshot(con, T)
    params = sql.cutoff_params(T)
    channels = con.execute(sql.channels_sql(), {"end": params["end"]}).fetchall()
    query = sql.snapshot_sql(
        {channel_column(raw): [raw] for (raw,) in channels},
        has_monetary=True,
        with_customer_attributes=False,
    )
    inline = fetch_frame(con, query, sql.bind(query, params))
    pd.testing.assert_frame_equal(via_table, inline, check_exact=True)
    assert list(via_table.columns[-2:]) == [C.RFM_SEGMENT, C.LIFECYCLE_STAGE]


_EDGE_QUERY = """SELECT * FROM (VALUES
    (1::BIGINT, 1::INTEGER, TRUE, 1.5::DOUBLE, DATE '2024-01-01', TIMESTAMP '2024-01-01 10:00',
     'a', 7::HUGEINT, 1.25::DECIMAL(18, 4), NULL::VARCHAR, NULL::BIGINT, NULL::DATE),
    (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) t(b, i, bo, d, dt, ts, s, h, dec, s_null, b_null, dt_null)"""


@pytest.mark.parametrize(
    "where",
    ["", "WHERE b IS NOT NULL", "WHERE b IS NULL", "WHERE false"],
    ids=["some-nulls", "no-nulls", "all-nulls", "no-rows"],
)
def test_fetch_frame_has_the_dtypes_of_df(where: str) -> None:
    con = duckdb.connect()
    query = f"{_EDGE_QUERY} {where}"
    expected = con.execute(query).df()
    got = fetch_frame(con, query)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
