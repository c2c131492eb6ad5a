"""What a report section is: tables, charts with takeaways, and lines on what data is missing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Chart:
    """One embedded image with the sentence a reader should take away from it."""

    title: str
    data_uri: str  # data:image/png;base64,... (no network request when the page opens)
    takeaway: str


@dataclass
class Section:
    """A report section: `tables` go to `--json` (but `html_only`), `shown` ones also to HTML;
    `documents` are `--json` values that are not one table; `missing` says what data would
    enable the rest; `parts` are subsections, printed after the section's own content."""

    key: str
    title: str
    intro: str = ""
    charts: list[Chart] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    shown: list[str] = field(default_factory=list)
    display_columns: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    documents: dict[str, Any] = field(default_factory=dict)
    html_only: set[str] = field(default_factory=set)
    parts: list[Section] = field(default_factory=list)

    def walk(self) -> Iterator[Section]:
        """This section and every subsection below it, in reading order."""
        yield self
        for part in self.parts:
            yield from part.walk()

    def add_table(
        self,
        key: str,
        frame: pd.DataFrame,
        *,
        show: bool = True,
        columns: list[str] | None = None,
        to_json: bool = True,
    ) -> None:
        """`columns`: the ones printed in the HTML (all by default); JSON gets every column."""
        self.tables[key] = frame
        if not to_json:
            self.html_only.add(key)
        if show:
            self.shown.append(key)
        if columns is not None:
            self.display_columns[key] = [c for c in columns if c in frame.columns]

    def add_chart(self, chart: Chart | None) -> None:
        if chart is not None:
            self.charts.append(chart)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as `--json` holds it: records, dates in ISO format, NaN as null."""
    if frame.empty:
        return []
    return json.loads(frame.to_json(orient="records", date_format="iso"))
