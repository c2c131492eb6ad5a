"""Read number columns whatever separators a shop used. `1,299` is ambiguous, so the majority
of values that prove a decimal mark decide it per column; values that do not fit are bad numbers,
never read 1000x off. When no value proves either: the English way, with a warning."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnrec.ingest.dates import as_text

DECIMALS = (".", ",")
THOUSANDS = (",", ".", " ", "none")
_SPACES = r"[ \u00a0\u202f'\u2019]"
_SIGN = r"[+-]?"


def _proves(dec: str) -> str:
    """Regex for values that can only be read with `dec` as the decimal mark."""
    d, t = re.escape(dec), re.escape("," if dec == "." else ".")
    return (
        rf"^{_SIGN}(?:"
        rf"\d{{1,3}}(?:{t}\d{{3}})+{d}\d+"  # 1,299.00
        rf"|\d{{1,3}}(?:{t}\d{{3}}){{2,}}"  # 1,299,000
        rf"|\d*{d}(?:\d{{1,2}}|\d{{4,}})"  # 12.5  12.50  .5  1.2999
        rf"|0{d}\d+"  # 0.125
        rf"|\d{{4,}}{d}\d+"  # 1234.567
        rf")$"
    )


_PROVES = {dec: re.compile(_proves(dec)) for dec in DECIMALS}
_AMBIGUOUS = re.compile(rf"^{_SIGN}[1-9]\d{{0,2}}[.,]\d{{3}}$")


@dataclass
class ParsedNumbers:
    values: pd.Series  # float64, NaN where missing or bad
    bad: pd.Series  # bool: a value was given but is not a number in the column's convention
    warning: str | None = None


def _fits(dec: str, thousands: str) -> re.Pattern[str]:
    d = re.escape(dec)
    grouped = "" if thousands in ("none", " ") else rf"\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|"
    return re.compile(rf"^{_SIGN}(?:(?:{grouped}\d+)(?:{d}\d*)?|{d}\d+)$")


def _choose(
    given: pd.Series, decimal: str | None, thousands: str | None
) -> tuple[str, str, str | None]:
    """(decimal, thousands, warning) for one column's stripped, space-free values."""
    if decimal is None and thousands in (",", "."):
        decimal = "." if thousands == "," else ","
    if decimal is not None:
        return decimal, thousands or ("," if decimal == "." else "."), None
    counts = {dec: int(given.str.match(_PROVES[dec]).sum()) for dec in DECIMALS}
    if thousands in (" ", "none"):  # no mark groups thousands: `1,299` can only be a decimal
        ambiguous = given[given.str.match(_AMBIGUOUS)]
        counts["."] += int(ambiguous.str.contains(".", regex=False).sum())
        counts[","] += int(ambiguous.str.contains(",", regex=False).sum())
        return ("," if counts[","] > counts["."] else "."), thousands, None
    if counts["."] or counts[","]:
        dec = "," if counts[","] > counts["."] else "."
        warning = None
        if counts["."] and counts[","]:
            warning = (
                f"mixed number formats: {counts['.']:,} values use '.' and {counts[',']:,} use ',' "
                f"as the decimal mark; read '{dec}' as the decimal mark, the others are "
                "quarantined as bad_number"
            )
        return dec, "," if dec == "." else ".", warning
    if given.str.match(_AMBIGUOUS).any():
        example = given[given.str.match(_AMBIGUOUS)].iloc[0]
        warning = (
            f"ambiguous numbers: every value like {example!r} could use ',' or '.' as thousands "
            "separator; read ',' as thousands and '.' as decimal mark. Pass --decimal , "
            "(or --thousands .) if the file means a decimal comma"
        )
        return ".", ",", warning
    return ".", ",", None


def parse_numbers(
    values: pd.Series, decimal: str | None = None, thousands: str | None = None
) -> ParsedNumbers:
    """Parse one column of raw values; `decimal` / `thousands` override the detection."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return ParsedNumbers(values.astype("float64"), pd.Series(False, index=values.index))
    text = as_text(values)
    if thousands != "none":  # only values with a space-like mark: lookarounds are slow
        spaced = text.str.contains(_SPACES, regex=True).fillna(False).astype(bool)
        if spaced.any():
            grouped = text[spaced].str.replace(rf"(?<=\d){_SPACES}(?=\d)", "", regex=True)
            text = text.where(~spaced, grouped)
    given = text.dropna()
    dec, thou, warning = _choose(given, decimal, thousands)
    fits = text.str.match(_fits(dec, thou)).fillna(False).astype(bool)
    normal = text.where(fits)
    if thou in (",", "."):
        normal = normal.str.replace(thou, "", regex=False)
    normal = normal.str.replace(dec, ".", regex=False)
    if dec == ".":  # 1e5, inf and the like: whatever Python reads, if finite
        normal = normal.where(fits, text)
    parsed = pd.to_numeric(normal, errors="coerce").astype("float64")
    bad = text.notna() & (parsed.isna() | ~np.isfinite(parsed.fillna(0.0)))
    return ParsedNumbers(parsed.where(~bad), bad.astype(bool), warning)
