"""How to read values: one `ReadOptions` per run, CLI flags (`--min-date`) over config keys
(`min_date`). The caps keep one bad or hostile file from exhausting the machine or storing junk;
`MAX_ID_CHARS` is the API's limit, not a setting (a longer id could never be looked up)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from churnrec.ingest.dates import DEFAULT_MIN_DATE
from churnrec.ingest.errors import IngestError
from churnrec.ingest.numbers import DECIMALS, THOUSANDS


def _thousands(value: str) -> str:
    """`' '`, `space` -> a space; `none`, `no` -> `none`; others as given."""
    if value in (" ", "' '", '" "', "space"):
        return " "
    return "none" if value.strip().lower() in ("none", "no", "") else value.strip()


MAX_ID_CHARS = 256  # the API's limit on a customer / item id
_POSITIVE = ("max_input_bytes", "max_rows", "max_cell_chars", "max_quantity", "max_amount")


@dataclass(frozen=True)
class ReadOptions:
    date_format: str | None = None
    decimal: str | None = None  # None: decided per column from its values
    thousands: str | None = None
    min_date: pd.Timestamp = DEFAULT_MIN_DATE
    negative_returns: bool = True
    allow_duplicate_lines: bool = False  # the CDNOW samples: identical lines are real
    max_input_bytes: int = 4 * 1024**3  # decompressed size of one file: a gzip bomb stops here
    max_rows: int = 100_000_000
    max_cell_chars: int = 65_536  # longer: cell_too_large
    max_quantity: float = 1_000_000.0  # |quantity| above: implausible_quantity
    max_amount: float = 1_000_000_000.0  # |amount|, |price|, |revenue| above: implausible_*
    timezone: str | None = None  # zone of offset-less date values (None: UTC)

    def overridden(self, **given: Any) -> ReadOptions:
        """These options with every given (not None) value replaced, checked."""
        values = {k: v for k, v in given.items() if v is not None}
        if "thousands" in values:
            values["thousands"] = _thousands(str(values["thousands"]))
        if "decimal" in values and values["decimal"] not in DECIMALS:
            raise IngestError(f"--decimal {values['decimal']!r}: expected one of . or ,")
        if "thousands" in values and values["thousands"] not in THOUSANDS:
            raise IngestError(f"--thousands {values['thousands']!r}: expected one of , . ' ' none")
        decimal = values.get("decimal", self.decimal)
        if decimal is not None and decimal == values.get("thousands", self.thousands):
            raise IngestError(f"--decimal and --thousands are both {decimal!r}")
        if "min_date" in values:
            try:
                values["min_date"] = pd.Timestamp(values["min_date"])
            except (ValueError, TypeError) as exc:
                raise IngestError(
                    f"--min-date {values['min_date']!r}: not a date (expected YYYY-MM-DD)"
                ) from exc
        for name in _POSITIVE:
            if name in values:
                values[name] = _positive(name, values[name], self)
        if "timezone" in values:
            values["timezone"] = _zone(str(values["timezone"]))
        return replace(self, **values)


def _positive(name: str, value: Any, like: ReadOptions) -> int | float:
    """A cap from a flag or the config: a positive number of the default's type."""
    flag = "--" + name.replace("_", "-")
    kind = type(getattr(like, name))
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = 0
    if not number > 0:
        raise IngestError(f"{flag} {value!r}: expected a positive number")
    return number


def _zone(name: str) -> str:
    """A time-zone name pandas knows (`Europe/Berlin`, `UTC`), checked now, not per value."""
    try:
        pd.Timestamp("2000-01-01").tz_localize(name)
    except Exception as exc:  # pytz / zoneinfo raise different types for an unknown zone
        raise IngestError(
            f"--timezone {name!r}: not a time zone (expected e.g. Europe/Berlin or UTC)"
        ) from exc
    return name
