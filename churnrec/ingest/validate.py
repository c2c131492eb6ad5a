"""Row rules: each raw row becomes a canonical row or a quarantined one (asserted), with the
first reason in check order (docs/INPUT_RULES.md). An unreadable yes/no cell keeps its row, set
to no, and is quarantined as a cell. Vectorised over columns: no Python loop over rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnrec import columns as C
from churnrec.ingest.consent import read_consent, resolve
from churnrec.ingest.dates import as_text, implausible_dates, parse_dates
from churnrec.ingest.encoding import BAD_BYTE_MARK
from churnrec.ingest.keys import content_ids, order_line_ids, run_sql
from churnrec.ingest.mapping import kind_columns
from churnrec.ingest.numbers import parse_numbers
from churnrec.ingest.options import MAX_ID_CHARS, ReadOptions
from churnrec.ingest.readers import RawTable

NO_PRICE_WARNING = "no price column: monetary features will be left out"
REJECTED_ROW = "rejected_row"
CELL_SET_TO_NO = "cell_set_to_no"
RAW_LINE = "raw_line"  # quarantine column holding a ragged row's text
QUARANTINE_CELL_CHARS = 4096  # longer raw cells are cut in the quarantine file
QUARANTINE_META = (
    C.SOURCE_FILE,
    C.SOURCE_ROW,
    C.REASON,
    C.QUARANTINE_COLUMN,
    C.QUARANTINE_ACTION,
)

# Canonical column order of each stored table: the input columns, line_id first where the
# table has one; orders store the line total as amount and whether the line is a return.
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
    C.CUSTOMERS: kind_columns(C.CUSTOMERS),
    C.ITEMS: kind_columns(C.ITEMS),
    C.EVENTS: (C.LINE_ID, *kind_columns(C.EVENTS)),
    C.CAMPAIGNS: (C.LINE_ID, *kind_columns(C.CAMPAIGNS)),
}
TABLE_COLUMNS[C.GUEST_ORDERS] = TABLE_COLUMNS[C.ORDERS]
# The column that identifies a stored row (orders/events/campaigns: a derived line_id).
KEY_COLUMN: dict[str, str] = {
    **dict.fromkeys((C.GUEST_ORDERS, C.ORDERS, C.EVENTS, C.CAMPAIGNS), C.LINE_ID),
    C.CUSTOMERS: C.CUSTOMER_ID,
    C.ITEMS: C.ITEM_ID,
}
# Tables whose file may name one row twice: the last row wins, earlier ones are duplicate_id
# (value: the column the quarantine names).
_UNIQUE_BY = {C.CUSTOMERS: C.CUSTOMER_ID, C.ITEMS: C.ITEM_ID, C.CAMPAIGNS: C.CAMPAIGN_ID}
# Columns whose blank cell never overwrites a stored value: consent is the last value a
# customer explicitly gave (EU law), a refresh without it must not reset it.
KEEP_STORED_ON_BLANK = frozenset({C.MARKETING_CONSENT})


@dataclass
class CheckedTable:
    """The outcome of the row rules for one file."""

    kind: str
    source: str
    rows_read: int
    accepted: pd.DataFrame  # TABLE_COLUMNS[kind] (+ extra customer attributes)
    quarantine: pd.DataFrame  # QUARANTINE_META + the file's own columns, raw values as text
    rows_quarantined: int  # rejected rows; the quarantine frame also holds kept cells
    provided: frozenset[str]  # canonical columns this file gives (others keep stored values)
    warnings: list[str] = field(default_factory=list)
    # customers: ids whose no is only in quarantined rows (applied to the stored table) and
    # how many ids said both yes and no in this file (no applied); see consent.resolve
    consent_no: pd.Series = field(default_factory=lambda: pd.Series([], dtype="str"))
    consent_conflicts: int = 0
    # orders: clean lines without a customer id (guest checkouts), kept apart (GUEST_ORDERS)
    guest: pd.DataFrame | None = None

    @property
    def rows_guest(self) -> int:
        return 0 if self.guest is None else len(self.guest)

    @property
    def cells_quarantined(self) -> int:
        return len(self.quarantine) - self.rows_quarantined


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


@dataclass
class _Ctx:
    """What every rule needs: the file, its column map, the options and the shared outputs."""

    raw: RawTable
    cols: dict[str, str]
    reasons: _Reasons
    options: ReadOptions
    now: pd.Timestamp
    warnings: list[str]
    # cells replaced in kept rows: (row mask, reason, column)
    cells: list[tuple[np.ndarray, str, str]] = field(default_factory=list)

    @property
    def index(self) -> pd.Index:
        return self.raw.frame.index

    def note(self, column: str, warning: str | None) -> None:
        if warning:
            self.warnings.append(f"{self.raw.source}, column {column}: {warning}")


def id_text(values: pd.Series) -> pd.Series:
    """Ids by the one id rule (`churnrec.ids.canonical_id`: NFC, trimmed), vectorised; only
    non-ASCII ids are normalised, as pandas' normalize is a slow Python loop."""
    out = as_text(values)
    ascii_ = pc.string_is_ascii(pa.array(out, type=pa.string(), from_pandas=True))
    other = ~ascii_.fill_null(True).to_numpy(zero_copy_only=False)
    if other.any():
        out = out.copy()
        out[other] = out[other].str.normalize("NFC").str.strip()
    return out


def repeated_lines(frame: pd.DataFrame) -> np.ndarray:
    """True for rows whose raw values repeat an earlier row exactly (all columns)."""
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
    positions = run_sql(table, query).column("_pos").to_numpy()
    return np.isin(np.arange(len(frame)), positions)


def _date(ctx: _Ctx, name: str, required: bool) -> pd.Series:
    if name not in ctx.cols:
        return pd.Series(pd.NaT, index=ctx.index, dtype="datetime64[us]")
    source_col = ctx.cols[name]
    parsed = parse_dates(ctx.raw.frame[source_col], ctx.options.date_format, ctx.options.timezone)
    ctx.note(source_col, parsed.warning)
    if required:
        ctx.reasons.flag(parsed.values.isna() & ~parsed.unparseable, "missing_date", source_col)
    ctx.reasons.flag(parsed.unparseable, "unparseable_date", source_col)
    for reason, mask in implausible_dates(parsed.values, ctx.now, ctx.options.min_date):
        ctx.reasons.flag(mask, reason, source_col)
    return parsed.values


def _number(ctx: _Ctx, name: str) -> pd.Series:
    if name not in ctx.cols:
        return pd.Series(np.nan, index=ctx.index)
    parsed = parse_numbers(
        ctx.raw.frame[ctx.cols[name]], ctx.options.decimal, ctx.options.thousands
    )
    ctx.note(ctx.cols[name], parsed.warning)
    ctx.reasons.flag(parsed.bad, "bad_number", ctx.cols[name])
    return parsed.values


def _implausible(ctx: _Ctx, name: str, values: pd.Series, cap: float, reason: str) -> None:
    """A quantity or money value no real order has (2^62 units): the row is quarantined."""
    ctx.reasons.flag((values.abs() > cap).fillna(False), reason, ctx.cols.get(name, ""))


def _text_col(ctx: _Ctx, name: str, lower: bool = False) -> pd.Series:
    if name not in ctx.cols:
        return pd.Series(None, index=ctx.index, dtype="str")
    values = as_text(ctx.raw.frame[ctx.cols[name]])
    return values.str.lower() if lower else values


def _id_col(ctx: _Ctx, name: str) -> pd.Series:
    """An id column by the one id rule; longer than the API's limit -> `id_too_long`."""
    if name not in ctx.cols:
        return pd.Series(None, index=ctx.index, dtype="str")
    values = id_text(ctx.raw.frame[ctx.cols[name]])
    too_long = (values.str.len() > MAX_ID_CHARS).fillna(False).to_numpy(dtype=bool)
    ctx.reasons.flag(too_long, "id_too_long", ctx.cols[name])
    return values


def _required_id(ctx: _Ctx, name: str, reason: str, lower: bool = False) -> pd.Series:
    values = _text_col(ctx, name, lower) if lower else _id_col(ctx, name)
    ctx.reasons.flag(values.isna(), reason, ctx.cols[name])
    return values


def _outcome_flag(ctx: _Ctx, name: str) -> pd.Series:
    """A 0/1 outcome column (campaigns): yes/no words read too; anything else is `bad_flag`."""
    if name not in ctx.cols:
        return pd.Series(np.nan, index=ctx.index)
    values, bad = read_consent(ctx.raw.frame[ctx.cols[name]])
    ctx.reasons.flag(bad, "bad_flag", ctx.cols[name])
    return values.astype("float64")


def _check_orders(ctx: _Ctx) -> pd.DataFrame:
    customer = _id_col(ctx, C.CUSTOMER_ID)  # none: a guest line (check_table keeps it apart)
    ordered_at = _date(ctx, C.ORDERED_AT, required=True)
    quantity = _number(ctx, C.QUANTITY)
    unit_price = _number(ctx, C.UNIT_PRICE)
    amount = _number(ctx, C.AMOUNT)
    status = _text_col(ctx, C.STATUS, lower=True)
    said_return = status.isin(C.RETURN_STATUSES).astype(bool)

    _implausible(ctx, C.QUANTITY, quantity, ctx.options.max_quantity, "implausible_quantity")
    _implausible(ctx, C.UNIT_PRICE, unit_price, ctx.options.max_amount, "implausible_price")
    _implausible(ctx, C.AMOUNT, amount, ctx.options.max_amount, "implausible_amount")
    if not ctx.options.negative_returns:  # the shop says returns are never negative
        for name, values, reason in (
            (C.QUANTITY, quantity, "negative_quantity"),
            (C.UNIT_PRICE, unit_price, "negative_price"),
            (C.AMOUNT, amount, "negative_amount"),
        ):
            ctx.reasons.flag((values < 0) & ~said_return, reason, ctx.cols.get(name, ""))
    quantity = quantity.fillna(1.0)
    line_total = amount.fillna(unit_price * quantity)
    if C.UNIT_PRICE not in ctx.cols and C.AMOUNT not in ctx.cols:
        ctx.warnings.append(NO_PRICE_WARNING)
    frame = pd.DataFrame(
        {
            C.CUSTOMER_ID: customer,
            C.ORDER_ID: _id_col(ctx, C.ORDER_ID),
            C.ORDERED_AT: ordered_at,
            C.ITEM_ID: _id_col(ctx, C.ITEM_ID),
            C.QUANTITY: quantity.astype("float64"),
            C.AMOUNT: line_total.astype("float64"),
            C.CHANNEL: _text_col(ctx, C.CHANNEL),
            C.STATUS: status,
        }
    )
    frame[C.IS_RETURN] = is_return(frame)
    frame = _fill_order_ids(frame)
    shop_line = _id_col(ctx, C.SHOP_LINE_ID) if C.SHOP_LINE_ID in ctx.cols else None
    frame.insert(0, C.LINE_ID, order_line_ids(frame[C.ORDER_ID], frame[C.ITEM_ID], shop_line))
    return frame


def is_return(orders: pd.DataFrame) -> pd.Series:
    """A line is a return when its status says so, or its quantity or amount is negative:
    counted as a purchase it would make a customer who sent something back look active."""
    negative = (orders[C.QUANTITY].fillna(0) < 0) | (orders[C.AMOUNT].fillna(0) < 0)
    return (orders[C.STATUS].isin(C.RETURN_STATUSES) | negative).astype(bool)


GUEST_ORDER_PREFIX = "guest"


def _fill_order_ids(orders: pd.DataFrame) -> pd.DataFrame:
    """Orders without an id: one order per customer and timestamp (`customer_id|ordered_at`;
    a guest line's is `guest|ordered_at`)."""
    missing = orders[C.ORDER_ID].isna() & orders[C.ORDERED_AT].notna()
    if missing.any():
        # format each distinct timestamp once: orders repeat dates a lot, strftime is slow
        codes, uniques = pd.factorize(orders.loc[missing, C.ORDERED_AT])
        formatted = pd.Index(uniques).strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object)
        stamp = pd.Series(formatted[codes], index=orders.index[missing], dtype="str")
        who = orders.loc[missing, C.CUSTOMER_ID].fillna(GUEST_ORDER_PREFIX)
        orders.loc[missing, C.ORDER_ID] = who + "|" + stamp
    return orders


def _check_customers(ctx: _Ctx) -> pd.DataFrame:
    return pd.DataFrame(  # the checks flag rows in this order
        {
            C.CUSTOMER_ID: _required_id(ctx, C.CUSTOMER_ID, "missing_customer_id"),
            C.SIGNED_UP_AT: _date(ctx, C.SIGNED_UP_AT, required=False),
            C.REGION: _text_col(ctx, C.REGION),
            C.AGE: _number(ctx, C.AGE),
            C.GENDER: _text_col(ctx, C.GENDER),
            C.ACQUISITION_CHANNEL: _text_col(ctx, C.ACQUISITION_CHANNEL),
            C.MARKETING_CONSENT: _yes_no(ctx, C.MARKETING_CONSENT, "bad_consent"),
        }
    )


def _check_items(ctx: _Ctx) -> pd.DataFrame:
    item = _required_id(ctx, C.ITEM_ID, "missing_id")
    price = _number(ctx, C.PRICE)
    _implausible(ctx, C.PRICE, price, ctx.options.max_amount, "implausible_price")
    ctx.reasons.flag(price < 0, "negative_price", ctx.cols.get(C.PRICE, ""))
    return pd.DataFrame(
        {
            C.ITEM_ID: item,
            C.CATEGORY: _text_col(ctx, C.CATEGORY),
            C.BRAND: _text_col(ctx, C.BRAND),
            C.PRICE: price,
            C.AVAILABLE: _yes_no(ctx, C.AVAILABLE, "bad_item_flag"),
            C.RECOMMENDABLE: _yes_no(ctx, C.RECOMMENDABLE, "bad_item_flag"),
        }
    )


def _yes_no(ctx: _Ctx, name: str, reason: str) -> pd.Series:
    """A yes/no column (consent, item flags); blank = not given (<NA>). An unreadable cell is
    stored as no, never a yes on a guess, and quarantined as `reason`."""
    values = pd.Series(pd.NA, index=ctx.index, dtype="boolean")
    if name in ctx.cols:
        values, bad = read_consent(ctx.raw.frame[ctx.cols[name]])
        values[bad] = False
        ctx.cells.append((bad.to_numpy(), reason, ctx.cols[name]))
    return values


def _check_events(ctx: _Ctx) -> pd.DataFrame:
    frame = pd.DataFrame(  # the checks flag rows in this order
        {
            C.CUSTOMER_ID: _required_id(ctx, C.CUSTOMER_ID, "missing_customer_id"),
            C.OCCURRED_AT: _date(ctx, C.OCCURRED_AT, required=True),
            C.EVENT_TYPE: _required_id(ctx, C.EVENT_TYPE, "missing_event_type", lower=True),
            C.ITEM_ID: _id_col(ctx, C.ITEM_ID),
            C.SESSION_ID: _id_col(ctx, C.SESSION_ID),
            C.CHANNEL: _text_col(ctx, C.CHANNEL),
            C.PLATFORM: _text_col(ctx, C.PLATFORM),
        }
    )
    frame.insert(0, C.LINE_ID, content_ids(frame, tuple(frame.columns)))
    return frame


def _check_campaigns(ctx: _Ctx) -> pd.DataFrame:
    customer = _required_id(ctx, C.CUSTOMER_ID, "missing_customer_id")
    campaign = _required_id(ctx, C.CAMPAIGN_ID, "missing_campaign_id")
    arm = _required_id(ctx, C.ARM, "missing_arm")
    sent_at = _date(ctx, C.SENT_AT, required=True)
    converted, visited = _outcome_flag(ctx, C.CONVERTED), _outcome_flag(ctx, C.VISITED)
    revenue = _number(ctx, C.REVENUE)
    _implausible(ctx, C.REVENUE, revenue, ctx.options.max_amount, "implausible_amount")
    frame = pd.DataFrame(
        {
            C.CUSTOMER_ID: customer,
            C.CAMPAIGN_ID: campaign,
            C.ARM: arm,
            C.SENT_AT: sent_at,
            C.CONVERTED: converted,
            C.REVENUE: revenue,
            C.VISITED: visited,
        }
    )
    # one row per customer per campaign: that pair is the key
    key = (customer.fillna("") + "\x1f" + campaign.fillna("")).to_frame("k")
    frame.insert(0, C.LINE_ID, content_ids(key, ("k",)))
    return frame


_CHECKS: dict[str, Callable[[_Ctx], pd.DataFrame]] = {
    C.ORDERS: _check_orders,
    C.CUSTOMERS: _check_customers,
    C.ITEMS: _check_items,
    C.EVENTS: _check_events,
    C.CAMPAIGNS: _check_campaigns,
}


def _provided(kind: str, cols: dict[str, str]) -> frozenset[str]:
    """Canonical columns a file gives; a refresh without a column keeps the stored values."""
    given = set(cols) | {KEY_COLUMN[kind]}
    if kind == C.ORDERS:
        given |= {C.ORDER_ID, C.IS_RETURN}
        if C.UNIT_PRICE in cols:
            given.add(C.AMOUNT)
    return frozenset(given & set(TABLE_COLUMNS[kind]))


def _extra_columns(raw: RawTable, cols: dict[str, str]) -> dict[str, pd.Series]:
    """Customer columns churnrec has no name for (e.g. `newbie`, `zip_code`), kept as given:
    numbers when every value is one, else text."""
    used = set(cols.values())
    reserved = set(TABLE_COLUMNS[C.CUSTOMERS]) | set(QUARANTINE_META)
    extras: dict[str, pd.Series] = {}
    for name in raw.frame.columns:
        if name in used or str(name) in reserved or str(name).startswith("_"):
            continue
        values = as_text(raw.frame[name])
        parsed = parse_numbers(raw.frame[name])
        numeric = values.notna().any() and not parsed.bad.any()
        extras[str(name)] = parsed.values if numeric else values
    return extras


def _shown(col: pd.Series) -> pd.Series:
    """Raw text as the quarantine file shows it: bad bytes as U+FFFD, NUL as U+2400, cut."""
    col = col.str.replace(BAD_BYTE_MARK, "\ufffd", regex=False)
    col = col.str.replace("\x00", "\u2400", regex=False)
    long = col.str.len() > QUARANTINE_CELL_CHARS
    if long.any():
        cut = col[long].str.slice(0, QUARANTINE_CELL_CHARS)
        col = col.mask(long, cut + "...[cut: " + col[long].str.len().astype("str") + " chars]")
    return col


def _raw_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Raw values for the quarantine file (see `_shown`)."""
    return frame.astype("str").where(frame.notna(), "").apply(_shown)


def _quarantine_rows(
    raw: RawTable, rows: object, reason: object, column: object, action: str, values: pd.DataFrame
) -> pd.DataFrame:
    """Quarantine rows: QUARANTINE_META, then `values` (raw text)."""
    meta = dict(zip(QUARANTINE_META, (raw.source, rows, reason, column, action), strict=True))
    return pd.concat([pd.DataFrame(meta), values.reset_index(drop=True)], axis=1)


def _quarantine_frame(
    raw: RawTable, reasons: _Reasons, bad: np.ndarray, cells: list[tuple[np.ndarray, str, str]]
) -> pd.DataFrame:
    def of(mask: np.ndarray, reason: object, column: object, action: str) -> pd.DataFrame:
        values = _raw_text(raw.frame.loc[mask])
        return _quarantine_rows(raw, raw.rows()[mask], reason, column, action, values)

    parts = [of(bad, reasons.reason[bad], reasons.column[bad], REJECTED_ROW)]
    if raw.ragged:
        rows, lines = zip(*raw.ragged, strict=True)
        line_text = pd.DataFrame({RAW_LINE: _shown(pd.Series(lines, dtype="str"))})
        parts.append(_quarantine_rows(raw, rows, "ragged_row", "", REJECTED_ROW, line_text))
    for mask, reason, column in cells:
        if (mask & ~bad).any():  # a cell of a rejected row is in its row already
            parts.append(of(mask & ~bad, reason, column, CELL_SET_TO_NO))
    out = pd.concat(parts, ignore_index=True)
    if len(parts) > 1:
        out = out.sort_values(C.SOURCE_ROW, kind="stable").reset_index(drop=True)
    return out


def _mask(found: pa.Array) -> np.ndarray:
    """An Arrow boolean result as a numpy mask (missing -> False)."""
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def _arrow_text(values: pd.Series) -> pa.Array:
    """Text as an Arrow string array: Arrow's kernels are many times faster than pandas' here."""
    return pa.array(values.astype("str"), type=pa.string(), from_pandas=True)


def check_table(
    raw: RawTable,
    cols: dict[str, str],
    *,
    now: pd.Timestamp,
    options: ReadOptions,
) -> CheckedTable:
    """Apply the row rules of `raw.kind`; `cols` maps canonical -> the file's column names."""
    frame = raw.frame.reset_index(drop=True)
    raw = replace(raw, frame=frame, warnings=list(raw.warnings))
    reasons = _Reasons(len(frame))
    text_columns = [
        (str(name), _arrow_text(values))
        for name, values in frame.items()
        if pd.api.types.is_string_dtype(values.dtype) or values.dtype == object
    ]
    # cells no real shop data has: over the cap, NUL bytes
    for name, cells in text_columns:
        too_large = pc.greater(pc.utf8_length(cells), options.max_cell_chars)
        reasons.flag(_mask(too_large), "cell_too_large", name)
        reasons.flag(_mask(pc.match_substring(cells, "\x00")), "nul_byte", name)
    if raw.bad_bytes:
        for name, cells in text_columns:
            reasons.flag(_mask(pc.match_substring(cells, BAD_BYTE_MARK)), "bad_encoding", name)
    ctx = _Ctx(raw, cols, reasons, options, now, raw.warnings)
    canonical = _CHECKS[raw.kind](ctx)
    if not options.allow_duplicate_lines:
        reasons.flag(repeated_lines(frame), "duplicate_line")
    if raw.kind in _UNIQUE_BY:
        id_col = canonical[KEY_COLUMN[raw.kind]].where(reasons.clean)
        repeated = id_col.notna() & id_col.duplicated(keep="last")
        reasons.flag(repeated.to_numpy(), "duplicate_id", cols[_UNIQUE_BY[raw.kind]])
    consent_no, conflicts = pd.Series([], dtype="str"), 0
    if raw.kind == C.CUSTOMERS and C.MARKETING_CONSENT in cols:
        consent_no, conflicts = _resolve_consent(ctx, canonical)

    extras = _extra_columns(raw, cols) if raw.kind == C.CUSTOMERS else {}
    ok = reasons.clean
    guest = None
    if raw.kind == C.ORDERS:  # clean lines without a customer: demand, not customers
        is_guest = ok & canonical[C.CUSTOMER_ID].isna().to_numpy()
        guest = canonical.loc[is_guest, list(TABLE_COLUMNS[raw.kind])].reset_index(drop=True)
        ok = ok & ~is_guest
    accepted = canonical.loc[ok, list(TABLE_COLUMNS[raw.kind])].reset_index(drop=True)
    for name, values in extras.items():
        accepted[name] = values.loc[ok].reset_index(drop=True)
    rejected = ~reasons.clean
    quarantine = _quarantine_frame(raw, reasons, rejected, ctx.cells)
    rows_quarantined = int(rejected.sum()) + len(raw.ragged)
    rows_read = len(frame) + len(raw.ragged)
    n_guest = 0 if guest is None else len(guest)
    assert len(accepted) + n_guest + rows_quarantined == rows_read, (
        "every row is accepted, a guest line or quarantined"
    )
    bad_rows = int((reasons.reason == "bad_encoding").sum())
    if bad_rows:
        ctx.warnings.append(
            f"{bad_rows:,} rows hold bytes that are not UTF-8: quarantined as bad_encoding "
            "(the rest of the file is UTF-8)"
        )
    return CheckedTable(
        raw.kind,
        raw.source,
        rows_read,
        accepted,
        quarantine,
        rows_quarantined,
        _provided(raw.kind, cols) | frozenset(extras),
        ctx.warnings,
        consent_no,
        conflicts,
        guest,
    )


def _resolve_consent(ctx: _Ctx, canonical: pd.DataFrame) -> tuple[pd.Series, int]:
    """Give each customer's rows the consent decided from all its rows (consent.resolve);
    returns the ids whose no is only in quarantined rows and the count of ids with both. Rows
    whose id is unusable (missing, too long, bad bytes) match no customer and do not count."""
    ids = canonical[C.CUSTOMER_ID]
    usable = ids.notna() & (ids.str.len() <= MAX_ID_CHARS).fillna(False)
    usable &= ~_mask(pc.match_substring(_arrow_text(ids), BAD_BYTE_MARK))
    ids = ids.where(usable)
    resolved = resolve(ids, canonical[C.MARKETING_CONSENT])
    decided = pd.Series(ids.map(resolved.by_id), index=ids.index, dtype="boolean")
    canonical[C.MARKETING_CONSENT] = decided.where(usable, canonical[C.MARKETING_CONSENT])
    column = ctx.cols[C.MARKETING_CONSENT]
    if resolved.conflicts:
        ctx.note(
            column,
            f"{resolved.conflicts:,} customer id(s) said both yes and no in this file: no applied",
        )
    said_no = pd.Series(resolved.by_id.index[resolved.by_id.eq(False).fillna(False).to_numpy()])
    accepted = _arrow_text(ids[ctx.reasons.clean].dropna())
    kept = _mask(pc.is_in(_arrow_text(said_no), value_set=accepted))
    only_rejected = said_no[~kept].astype("str").reset_index(drop=True)
    if len(only_rejected):
        ctx.note(
            column,
            f"{len(only_rejected):,} customer id(s) said no only in quarantined rows: "
            "no applied to the stored customer",
        )
    return only_rejected, resolved.conflicts
