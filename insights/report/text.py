"""Numbers and comparisons written the way a takeaway sentence needs them."""

from __future__ import annotations

import math


def is_missing(value: object) -> bool:
    """None or NaN: a number the data could not give."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def num(value: float | None, digits: int = 0) -> str:
    return "n/a" if is_missing(value) else f"{value:,.{digits}f}"


def pct(value: float | None, digits: int = 0) -> str:
    return "n/a" if is_missing(value) else f"{100 * value:.{digits}f}%"


def change(current: float | None, previous: float | None) -> float | None:
    """Relative change; None when there is nothing to compare with."""
    if is_missing(current) or is_missing(previous) or previous == 0:
        return None
    return current / previous - 1.0


def signed_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.0f}%"


def ratio(a: float, b: float) -> str:
    """'1.8x' for how many times `a` is `b`."""
    return f"{a / b:.1f}x" if b else "n/a"


def label(name: str) -> str:
    """`paid_search` -> `paid search` for prose."""
    return str(name).replace("_", " ")
