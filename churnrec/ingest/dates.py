"""Read date columns whatever way a shop wrote them: per column, the `FAMILIES` entry that reads
the most sampled values wins (day-first on a tie, with a warning); 9-10 / 12-13 digits are epoch
s / ms. Zone-aware values become naive UTC; offset-less ones are read in `timezone` if given."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

SAMPLE_SIZE = 20_000
ISO = "ISO8601"
DEFAULT_MIN_DATE = pd.Timestamp("1990-01-01")
EPOCH_FAMILIES: dict[str, tuple[str, str]] = {  # family -> (pattern, unit)
    "epoch-seconds": (r"^\d{9,10}$", "s"),
    "epoch-milliseconds": (r"^\d{12,13}$", "ms"),
}


def _family(order: tuple[str, str, str]) -> tuple[str, ...]:
    """The formats of one day/month/year order: every separator, year width and time of day."""
    return tuple(
        sep.join(year if p == "Y" else f"%{p}" for p in order) + time
        for sep in ("/", "-", ".")
        for year in ("%Y", "%y")
        for time in ("", " %H:%M:%S", " %H:%M", " %I:%M %p", " %I:%M:%S %p")
    )


FAMILIES: dict[str, tuple[str, ...]] = {
    "iso": (ISO,),
    "yyyymmdd": ("%Y%m%d",),
    "day-first": _family(("d", "m", "Y")),
    "month-first": _family(("m", "d", "Y")),
}


@dataclass
class ParsedDates:
    values: pd.Series  # datetime64[us], naive; NaT where missing or unparseable
    unparseable: pd.Series  # bool: a value was given but could not be read
    family: str  # which rule read the column ("given", "typed", or a FAMILIES key)
    warning: str | None = None


def _parse_formats(text: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    """Try formats in turn on the values still unread; each pass is vectorised. Tz-aware results
    become naive UTC, naive ones stay as written."""
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    todo = text.notna()
    for fmt in formats:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, utc=True, errors="coerce")
        out.loc[parsed.index] = parsed.dt.tz_localize(None).astype("datetime64[us]")
        todo &= out.isna()
    return out


def detect_family(text: pd.Series) -> tuple[str, str | None]:
    """The candidate family that reads the most of the (distinct, non-null) values."""
    sample = pd.Series(text.dropna().unique()[:SAMPLE_SIZE], dtype="str")
    if sample.empty:
        return "iso", None
    for family, (pattern, _unit) in EPOCH_FAMILIES.items():
        if sample.str.match(pattern).mean() > 0.5:
            return family, None
    counts = {
        name: int(_parse_formats(sample, fmts).notna().sum()) for name, fmts in FAMILIES.items()
    }
    best = max(FAMILIES, key=lambda name: counts[name])  # max keeps the first on ties
    warning = None
    if best == "day-first" and counts["month-first"] == counts["day-first"]:
        warning = (
            f"day-first and month-first each read {counts['day-first']:,} of the sampled values; "
            "chose day-first; pass --date-format %m/%d/%Y if the file is month-first"
        )
    return best, warning


# a time of day followed by `Z` or a UTC offset (+02:00, -0500, +02): the value is zone-aware
_OFFSET = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


def _in_zone(parsed: pd.Series, local: pd.Series, timezone: str) -> pd.Series:
    """`parsed` with the `local` values read as wall-clock time in `timezone`, as naive UTC;
    DST gaps and repeats still give every value one instant (standard time, moved forward)."""
    if not local.any():
        return parsed
    values = parsed[local]
    utc = values.dt.tz_localize(
        timezone, ambiguous=np.zeros(len(values), dtype=bool), nonexistent="shift_forward"
    )
    out = parsed.copy()
    out[local] = utc.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    return out


def _zones(
    text: pd.Series, parsed: pd.Series, timezone: str | None
) -> tuple[pd.Series, str | None]:
    """Apply `timezone` to offset-less values, or warn when a column mixes both kinds."""
    given = parsed.notna()
    # Arrow's RE2 directly: pandas' str.contains takes ~20x as long on millions of values
    found = pc.match_substring_regex(pa.array(text, type=pa.string(), from_pandas=True), _OFFSET)
    aware = pd.Series(found.fill_null(False).to_numpy(zero_copy_only=False), index=text.index)
    aware &= given
    naive = given & ~aware
    if timezone is not None:
        return _in_zone(parsed, naive, timezone), None
    if aware.any() and naive.any():
        return parsed, (
            f"{int(aware.sum()):,} values have a UTC offset and {int(naive.sum()):,} have none: "
            "all were converted to UTC, those without an offset read as UTC; pass --timezone "
            "ZONE (e.g. Europe/Berlin) if they are local time"
        )
    return parsed, None


def as_text(values: pd.Series) -> pd.Series:
    """Raw values as stripped text; blank -> missing. Whole floats lose their `.0`
    (19970101.0 -> 19970101)."""
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            values = values.astype("Int64")
    out = values.astype("str").str.strip()
    return out.where(values.notna() & (out != "")).astype("str")


def parse_dates(
    values: pd.Series, date_format: str | None = None, timezone: str | None = None
) -> ParsedDates:
    """Parse one column of raw date values (text, numbers or timestamps); `timezone` is the zone
    of values written without an offset."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        parsed = values
        aware = getattr(values.dt, "tz", None) is not None
        if aware:
            parsed = values.dt.tz_convert("UTC").dt.tz_localize(None)
        parsed = parsed.astype("datetime64[us]")
        if timezone is not None and not aware:
            parsed = _in_zone(parsed, parsed.notna(), timezone)
        return ParsedDates(parsed, pd.Series(False, index=values.index), "typed")
    text = as_text(values)
    if date_format:
        parsed = _parse_formats(text, (date_format,))
        family, warning = "given", None
    else:
        family, warning = detect_family(text)
        if family in EPOCH_FAMILIES:
            pattern, unit = EPOCH_FAMILIES[family]
            numbers = pd.to_numeric(text.where(text.str.match(pattern).fillna(False).astype(bool)))
            parsed = pd.to_datetime(numbers, unit=unit, errors="coerce").astype("datetime64[us]")
        else:
            parsed = _parse_formats(text, FAMILIES[family])
    unparseable = text.notna() & parsed.isna()
    if family not in EPOCH_FAMILIES:  # epoch values are UTC by definition
        parsed, zone_warning = _zones(text, parsed, timezone)
        warning = "; ".join(w for w in (warning, zone_warning) if w) or None
    return ParsedDates(parsed, unparseable, family, warning)


def implausible_dates(
    values: pd.Series | pd.Timestamp, now: pd.Timestamp, min_date: pd.Timestamp = DEFAULT_MIN_DATE
) -> list[tuple[str, pd.Series | bool]]:
    """The plausibility rule as (reason, mask), in the order the row checks apply them: one
    rule for a column (`validate.py`) and for one value (`POST /events`)."""
    return [("implausible_date", values < min_date), ("future_date", values > now)]


def to_naive_utc(moment: object) -> pd.Timestamp:
    """`now` for the future-date rule: aware -> UTC naive, naive unchanged."""
    ts = pd.Timestamp(moment)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts
