"""Row rules: turn one raw file into canonical rows plus quarantined rows with a reason.

Every input row ends up in exactly one of the two (asserted). A row gets the first reason that
applies, in the order the checks run below. Reasons:

- `missing_customer_id`, `missing_id` (items without item_id), `missing_event_type`
- `missing_date` (required date blank), `unparseable_date`, `future_date` (after `now`)
- `bad_number` (quantity / unit_price / amount / age / price that is not a number)
- `negative_price` (negative unit_price / amount / price on a line whose status is not a return)
- `bad_consent` (marketing_consent not one of yes/no/true/false/1/0/y/n)
- `duplicate_line` (the raw line repeats an earlier line of the same file exactly)
- `duplicate_id` (customers/items: an earlier row of the same id in the same file; last wins)

All checks are vectorised over columns; no Python loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from churnrec import columns as C
from churnrec.ingest.dates import parse_dates
from churnrec.ingest.readers import RawTable

CONSENT_TRUE = frozenset({"yes", "true", "1", "y", "t"})
CONSENT_FALSE = frozenset({"no", "false", "0", "n", "f"})
NO_PRICE_WARNING = "no price column: monetary features will be left out"
QUARANTINE_META = (C.SOURCE_FILE, C.SOURCE_ROW, C.REASON, "column")

# Canonical column order of each stored table (line_id first where the table has one).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    C.ORDERS: (
        C.LINE_ID,
        C.CUSTOMER_ID,
        C.ORDER_ID,
        C.ORDERED_AT,
        C.ITEM_ID,
        C.QUANTITY,
        C.AMOUNT,
        C.CHANNEL,
        C.STATUS,
        C.IS_RETURN,
    ),
    C.CUSTOMERS: (
        C.CUSTOMER_ID,
        C.SIGNED_UP_AT,
        C.REGION,
        C.AGE,
        C.GENDER,
        C.ACQUISITION_CHANNEL,
        C.MARKETING_CONSENT,
    ),
    C.ITEMS: (C.ITEM_ID, C.CATEGORY, C.BRAND, C.PRICE),
    C.EVENTS: (
        C.LINE_ID,
        C.CUSTOMER_ID,
        C.OCCURRED_AT,
        C.EVENT_TYPE,
        C.ITEM_ID,
        C.SESSION_ID,
        C.CHANNEL,
        C.PLATFORM,
    ),
}
# Tables merged by a content hash (line_id); the others are merged by their id.
KEY_COLUMN: dict[str, str] = {
    C.ORDERS: C.LINE_ID,
    C.EVENTS: C.LINE_ID,
    C.CUSTOMERS: C.CUSTOMER_ID,
    C.ITEMS: C.ITEM_ID,
}


@dataclass
class CheckedTable:
    """The outcome of the row rules for one file."""

    kind: str
    source: str
    rows_read: int
    accepted: pd.DataFrame  # TABLE_COLUMNS[kind]
    quarantine: pd.DataFrame  # QUARANTINE_META + the file's own columns, raw values as text
    warnings: list[str] = field(default_factory=list)


class _Reasons:
    """First reason wins: later checks only mark rows that are still clean."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, None, dtype=object)
        self.column = np.full(n, "", dtype=object)

    def flag(self, mask: pd.Series | np.ndarray, reason: str, column: str = "") -> None:
        hit = np.asarray(mask, dtype=bool) & self.clean
        self.reason[hit] = reason
        self.column[hit] = column

    @property
    def clean(self) -> np.ndarray:
        return pd.isna(self.reason)


# --- value parsers (vectorised) ---------------------------------------------------------------
def text(values: pd.Series) -> pd.Series:
    """Ids and labels as stripped text; blank -> missing. Whole floats lose their `.0`."""
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            values = values.astype("Int64")
    out = values.astype("str").str.strip()
    return out.where(values.notna() & (out != "")).astype("str")


def number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(float64 values, bad mask): bad = given but not a number."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64"), pd.Series(False, index=values.index)
    raw = text(values)
    if _uses_decimal_comma(raw):
        raw = raw.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    parsed = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad = raw.notna() & (parsed.isna() | ~np.isfinite(parsed.fillna(0.0)))
    return parsed.where(~bad), bad


# "1.234,50" / "10,5" / "-3": a column written with a decimal comma (German, French, ...).
_DECIMAL_COMMA = r"^-?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?$"


def _uses_decimal_comma(raw: pd.Series) -> bool:
    """True when some value has a comma and every value fits the decimal-comma pattern.

    Decided per column, so "10.5" (a dot decimal) anywhere keeps the whole column as is and
    ambiguous values like "1.234" are read the way the rest of the column is written.
    """
    given = raw.dropna()
    if given.empty or not given.str.contains(",", regex=False).any():
        return False
    return bool(given.str.match(_DECIMAL_COMMA).all())


def consent(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(nullable boolean, bad mask) from yes/no/true/false/1/0/y/n in any case."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean"), pd.Series(False, index=values.index)
    raw = text(values).str.lower()
    is_true, is_false = raw.isin(CONSENT_TRUE), raw.isin(CONSENT_FALSE)
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[is_true] = True
    out[is_false] = False
    return out, raw.notna() & ~is_true & ~is_false


def lower_text(values: pd.Series) -> pd.Series:
    return text(values).str.lower()


# --- line ids -------------------------------------------------------------------------------
_NULL = "\u2400"  # stands for a missing value inside the hashed key


def _key_expr(name: str, dtype: pa.DataType) -> str:
    col = f'"{name}"'
    text = (
        f"cast(epoch_us({col}) as varchar)"
        if pa.types.is_timestamp(dtype)
        else f"cast({col} as varchar)"
    )
    return f"coalesce({text}, '{_NULL}')"


def line_ids(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """md5 (hex) of the canonical fields of each row: stable across runs, so re-ingest is a no-op.

    Rows with identical content (allowed only when duplicates are real, as in CDNOW) get their
    occurrence number mixed in, so the n-th copy has the same id on every re-ingest. Computed
    in DuckDB: vectorised and multi-threaded.
    """
    import duckdb

    table = pa.Table.from_pandas(frame[list(columns)], preserve_index=False)
    table = table.append_column("_pos", pa.array(np.arange(len(frame), dtype=np.int64)))
    key = ", ".join(_key_expr(f.name, f.type) for f in table.schema if f.name != "_pos")
    query = f"""
        with keyed as (select _pos, concat_ws(chr(31), {key}) as _key from t),
        numbered as (select _pos, _key,
                            row_number() over (partition by _key order by _pos) - 1 as _n
                     from keyed)
        select md5(case when _n = 0 then _key else _key || chr(30) || cast(_n as varchar) end)
               as line_id
        from numbered order by _pos
    """
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        con.register("t", table)
        ids = con.sql(query).to_arrow_table().column("line_id")
    return pd.Series(ids.to_pandas(), index=frame.index, dtype="str")


def repeated_lines(frame: pd.DataFrame) -> np.ndarray:
    """True for rows whose raw values repeat an earlier row exactly (all columns)."""
    import duckdb

    table = pa.Table.from_pandas(frame, preserve_index=False)
    names = [f"c{i}" for i in range(table.num_columns)]  # the file's names may be anything
    table = table.rename_columns(names).append_column(
        "_pos", pa.array(np.arange(len(frame), dtype=np.int64))
    )
    query = f"""
        select _pos from (select _pos, row_number() over (partition by {", ".join(names)}
                                                           order by _pos) as _n from t)
        where _n > 1
    """
    with duckdb.connect() as con:
        con.execute("set enable_progress_bar = false")
        con.register("t", table)
        positions = con.sql(query).to_arrow_table().column("_pos").to_numpy()
    out = np.zeros(len(frame), dtype=bool)
    out[positions] = True
    return out


# --- the rules per table kind ---------------------------------------------------------------
def _date(
    raw: RawTable,
    cols: dict[str, str],
    name: str,
    reasons: _Reasons,
    date_format: str | None,
    now: pd.Timestamp,
    warnings: list[str],
    required: bool,
) -> pd.Series:
    if name not in cols:
        return pd.Series(pd.NaT, index=raw.frame.index, dtype="datetime64[us]")
    source_col = cols[name]
    parsed = parse_dates(raw.frame[source_col], date_format)
    if parsed.warning:
        warnings.append(f"{source_col}: {parsed.warning}")
    if required:
        reasons.flag(parsed.values.isna() & ~parsed.unparseable, "missing_date", source_col)
    reasons.flag(parsed.unparseable, "unparseable_date", source_col)
    reasons.flag(parsed.values > now, "future_date", source_col)
    return parsed.values


def _number(raw: RawTable, cols: dict[str, str], name: str, reasons: _Reasons) -> pd.Series | None:
    if name not in cols:
        return None
    values, bad = number(raw.frame[cols[name]])
    reasons.flag(bad, "bad_number", cols[name])
    return values


def _text_col(raw: RawTable, cols: dict[str, str], name: str, lower: bool = False) -> pd.Series:
    if name not in cols:
        return pd.Series(None, index=raw.frame.index, dtype="str")
    return (lower_text if lower else text)(raw.frame[cols[name]])


def _check_orders(raw, cols, reasons, date_format, now, warnings) -> pd.DataFrame:
    customer = _text_col(raw, cols, C.CUSTOMER_ID)
    reasons.flag(customer.isna(), "missing_customer_id", cols[C.CUSTOMER_ID])
    ordered_at = _date(raw, cols, C.ORDERED_AT, reasons, date_format, now, warnings, required=True)
    quantity = _number(raw, cols, C.QUANTITY, reasons)
    unit_price = _number(raw, cols, C.UNIT_PRICE, reasons)
    amount = _number(raw, cols, C.AMOUNT, reasons)
    status = _text_col(raw, cols, C.STATUS, lower=True)
    is_return = status.isin(C.RETURN_STATUSES).astype(bool)

    quantity = (
        quantity if quantity is not None else pd.Series(np.nan, index=raw.frame.index)
    ).fillna(1.0)
    line_total = pd.Series(np.nan, index=raw.frame.index, dtype="float64")
    if unit_price is not None:
        reasons.flag((unit_price < 0) & ~is_return, "negative_price", cols[C.UNIT_PRICE])
        line_total = unit_price * quantity
    if amount is not None:
        reasons.flag((amount < 0) & ~is_return, "negative_price", cols[C.AMOUNT])
        line_total = amount.fillna(line_total)
    if unit_price is None and amount is None:
        warnings.append(NO_PRICE_WARNING)

    order_id = _text_col(raw, cols, C.ORDER_ID)
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: customer,
            C.ORDER_ID: order_id,  # blanks are filled once dates are known to be valid
            C.ORDERED_AT: ordered_at,
            C.ITEM_ID: _text_col(raw, cols, C.ITEM_ID),
            C.QUANTITY: quantity.astype("float64"),
            C.AMOUNT: line_total.astype("float64"),
            C.CHANNEL: _text_col(raw, cols, C.CHANNEL),
            C.STATUS: status,
            C.IS_RETURN: is_return,
        }
    )


def _fill_order_ids(accepted: pd.DataFrame) -> pd.DataFrame:
    """Orders without an id: one order per customer and timestamp (`customer_id|ordered_at`)."""
    missing = accepted[C.ORDER_ID].isna()
    if missing.any():
        # format each distinct timestamp once: orders repeat dates a lot, strftime is slow
        codes, uniques = pd.factorize(accepted.loc[missing, C.ORDERED_AT])
        formatted = pd.Index(uniques).strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object)
        stamp = pd.Series(formatted[codes], index=accepted.index[missing], dtype="str")
        accepted.loc[missing, C.ORDER_ID] = accepted.loc[missing, C.CUSTOMER_ID] + "|" + stamp
    return accepted


def _check_customers(raw, cols, reasons, date_format, now, warnings) -> pd.DataFrame:
    customer = _text_col(raw, cols, C.CUSTOMER_ID)
    reasons.flag(customer.isna(), "missing_customer_id", cols[C.CUSTOMER_ID])
    signed_up = _date(
        raw, cols, C.SIGNED_UP_AT, reasons, date_format, now, warnings, required=False
    )
    age = _number(raw, cols, C.AGE, reasons)
    consent_values = pd.Series(pd.NA, index=raw.frame.index, dtype="boolean")
    if C.MARKETING_CONSENT in cols:
        consent_values, bad = consent(raw.frame[cols[C.MARKETING_CONSENT]])
        reasons.flag(bad, "bad_consent", cols[C.MARKETING_CONSENT])
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: customer,
            C.SIGNED_UP_AT: signed_up,
            C.REGION: _text_col(raw, cols, C.REGION),
            C.AGE: age if age is not None else np.nan,
            C.GENDER: _text_col(raw, cols, C.GENDER),
            C.ACQUISITION_CHANNEL: _text_col(raw, cols, C.ACQUISITION_CHANNEL),
            C.MARKETING_CONSENT: consent_values,
        }
    )


def _check_items(raw, cols, reasons, date_format, now, warnings) -> pd.DataFrame:
    item = _text_col(raw, cols, C.ITEM_ID)
    reasons.flag(item.isna(), "missing_id", cols[C.ITEM_ID])
    price = _number(raw, cols, C.PRICE, reasons)
    if price is not None:
        reasons.flag(price < 0, "negative_price", cols[C.PRICE])
    return pd.DataFrame(
        {
            C.ITEM_ID: item,
            C.CATEGORY: _text_col(raw, cols, C.CATEGORY),
            C.BRAND: _text_col(raw, cols, C.BRAND),
            C.PRICE: price if price is not None else np.nan,
        }
    )


def _check_events(raw, cols, reasons, date_format, now, warnings) -> pd.DataFrame:
    customer = _text_col(raw, cols, C.CUSTOMER_ID)
    reasons.flag(customer.isna(), "missing_customer_id", cols[C.CUSTOMER_ID])
    occurred_at = _date(
        raw, cols, C.OCCURRED_AT, reasons, date_format, now, warnings, required=True
    )
    event_type = _text_col(raw, cols, C.EVENT_TYPE, lower=True)
    reasons.flag(event_type.isna(), "missing_event_type", cols[C.EVENT_TYPE])
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: customer,
            C.OCCURRED_AT: occurred_at,
            C.EVENT_TYPE: event_type,
            C.ITEM_ID: _text_col(raw, cols, C.ITEM_ID),
            C.SESSION_ID: _text_col(raw, cols, C.SESSION_ID),
            C.CHANNEL: _text_col(raw, cols, C.CHANNEL),
            C.PLATFORM: _text_col(raw, cols, C.PLATFORM),
        }
    )


_CHECKS = {
    C.ORDERS: _check_orders,
    C.CUSTOMERS: _check_customers,
    C.ITEMS: _check_items,
    C.EVENTS: _check_events,
}


def _quarantine_frame(raw: RawTable, reasons: _Reasons, bad: np.ndarray) -> pd.DataFrame:
    rows = raw.frame.loc[bad].astype("str").where(raw.frame.loc[bad].notna(), "")
    meta = pd.DataFrame(
        {
            C.SOURCE_FILE: raw.source,
            C.SOURCE_ROW: np.flatnonzero(bad) + 1,
            C.REASON: reasons.reason[bad],
            "column": reasons.column[bad],
        },
        index=rows.index,
    )
    return pd.concat([meta, rows], axis=1).reset_index(drop=True)


def check_table(
    raw: RawTable,
    cols: dict[str, str],
    *,
    now: pd.Timestamp,
    date_format: str | None = None,
    allow_duplicate_lines: bool = False,
) -> CheckedTable:
    """Apply the row rules of `raw.kind`; `cols` maps canonical -> the file's column names."""
    frame = raw.frame.reset_index(drop=True)
    raw = RawTable(raw.kind, raw.source, frame, list(raw.warnings))
    warnings = raw.warnings
    reasons = _Reasons(len(frame))
    canonical = _CHECKS[raw.kind](raw, cols, reasons, date_format, now, warnings)
    if not allow_duplicate_lines:
        reasons.flag(repeated_lines(frame), "duplicate_line")
    key = KEY_COLUMN[raw.kind]
    if key != C.LINE_ID:
        id_col = canonical[key].where(reasons.clean)
        repeated = id_col.notna() & id_col.duplicated(keep="last")
        reasons.flag(repeated.to_numpy(), "duplicate_id", cols[key])

    ok = reasons.clean
    accepted = canonical.loc[ok].reset_index(drop=True)
    if raw.kind == C.ORDERS:
        accepted = _fill_order_ids(accepted)
    if KEY_COLUMN[raw.kind] == C.LINE_ID:
        content = tuple(c for c in TABLE_COLUMNS[raw.kind] if c != C.LINE_ID)
        accepted.insert(0, C.LINE_ID, line_ids(accepted, content))
    quarantine = _quarantine_frame(raw, reasons, ~ok)
    assert len(accepted) + len(quarantine) == len(frame), "every row is accepted or quarantined"
    return CheckedTable(
        raw.kind,
        raw.source,
        len(frame),
        accepted[list(TABLE_COLUMNS[raw.kind])],
        quarantine,
        warnings,
    )
