"""Date format detection: ISO, day-first, month-first, YYYYMMDD, time zones, explicit formats."""

from __future__ import annotations

import pandas as pd

from churnrec.ingest.dates import detect_family, parse_dates


def _parse(values, fmt=None):
    return parse_dates(pd.Series(values, dtype="str"), fmt)


def test_iso_with_and_without_time():
    got = _parse(["2024-01-05", "2024-01-06T10:30:00", "2024-01-07 08:00"])
    assert got.family == "iso"
    assert list(got.values) == [
        pd.Timestamp("2024-01-05"),
        pd.Timestamp("2024-01-06 10:30"),
        pd.Timestamp("2024-01-07 08:00"),
    ]


def test_day_first_detected_from_a_day_above_12():
    got = _parse(["01/02/2024", "31/12/2024", "05/06/2024 14:15"])
    assert got.family == "day-first"
    assert got.warning is None
    assert list(got.values) == [
        pd.Timestamp("2024-02-01"),
        pd.Timestamp("2024-12-31"),
        pd.Timestamp("2024-06-05 14:15"),
    ]


def test_month_first_detected_from_a_day_above_12():
    got = _parse(["01/02/2024", "12/31/2024"])
    assert got.family == "month-first"
    assert list(got.values) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-12-31")]


def test_ambiguous_slashes_read_day_first_with_a_warning():
    got = _parse(["01/02/2024", "03/04/2024"])
    assert got.family == "day-first"
    assert "month-first" in got.warning
    assert list(got.values) == [pd.Timestamp("2024-02-01"), pd.Timestamp("2024-04-03")]


def test_yyyymmdd():
    got = _parse(["19970101", "19971231"])
    assert list(got.values) == [pd.Timestamp("1997-01-01"), pd.Timestamp("1997-12-31")]


def test_timezone_aware_values_become_naive_utc():
    got = _parse(["2024-03-01T10:00:00+02:00", "2024-03-01T10:00:00Z"])
    assert list(got.values) == [pd.Timestamp("2024-03-01 08:00"), pd.Timestamp("2024-03-01 10:00")]
    assert got.values.dt.tz is None


def test_majority_wins_and_the_rest_is_unparseable():
    got = _parse(["31/12/2024", "30/12/2024", "not a date", None])
    assert got.family == "day-first"
    assert list(got.unparseable) == [False, False, True, False]
    assert got.values.isna().tolist() == [False, False, True, True]


def test_explicit_format_overrides_detection():
    got = _parse(["01/02/2024", "03/04/2024"], "%m/%d/%Y")
    assert list(got.values) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-03-04")]


def test_typed_timestamps_pass_through_and_integers_read_as_yyyymmdd():
    typed = pd.Series(pd.to_datetime(["2024-01-01 12:00"]).tz_localize("Europe/Berlin"))
    assert parse_dates(typed).values.tolist() == [pd.Timestamp("2024-01-01 11:00")]
    assert parse_dates(pd.Series([19970101])).values.tolist() == [pd.Timestamp("1997-01-01")]


def test_detect_family_on_empty_column_defaults_to_iso():
    assert detect_family(pd.Series([None, None], dtype="str")) == ("iso", None)
