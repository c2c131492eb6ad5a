"""How to read values: one set of choices per ingest run, from CLI flags over the config file.

Each choice has a flag and a config key of the same name (`--min-date` / `min_date`):
`date_format`, `decimal` (`.` or `,`), `thousands` (`,`, `.`, ` ` or `none`), `min_date`
(dates before it are implausible, default 1990-01-01) and `negative_returns` (default true:
a negative quantity or amount is a return; false: the shop's returns are never negative, so
a negative value is an error and the row is quarantined).
"""

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


@dataclass(frozen=True)
class ReadOptions:
    date_format: str | None = None
    decimal: str | None = None  # None: decided per column from its values
    thousands: str | None = None
    min_date: pd.Timestamp = DEFAULT_MIN_DATE
    negative_returns: bool = True
    allow_duplicate_lines: bool = False  # the CDNOW samples: identical lines are real

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
        return replace(self, **values)
