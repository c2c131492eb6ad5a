"""`build_report`: read a workspace, build every section, write the HTML (and JSON) file."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from churnrec.files import write_text
from churnrec.insights.report import (
    channels,
    churn,
    clusters,
    cohorts,
    funnel,
    overview,
    recommendations_online,
    segments,
    stock,
)
from churnrec.insights.report.config import load_report_config
from churnrec.insights.report.context import open_context
from churnrec.insights.report.html import render_html
from churnrec.insights.report.section import Section, records
from churnrec.insights.report.spend import read_spend
from churnrec.progress import stage
from churnrec.scores.config import ServingConfig
from churnrec.workspace import Workspace

SECTIONS = (
    overview,
    segments,
    clusters,
    cohorts,
    funnel,
    channels,
    churn,
    recommendations_online,
    stock,
)
REPORT_FILE = "report.html"
TITLE = "Customer insight report"


@dataclass(frozen=True)
class ReportResult:
    out: Path
    json_path: Path | None
    as_of: date
    sections: list[Section]
    seconds: float

    def summary_lines(self) -> list[str]:
        parts = [p for s in self.sections for p in s.walk()]
        missing = sum(len(p.missing) for p in parts)
        charts = sum(len(p.charts) for p in parts)
        lines = [
            (
                f"report at {self.as_of}: {len(self.sections)} sections, {charts} charts, "
                f"{missing} parts left out for lack of data ({self.seconds:.1f}s)"
            ),
            f"written to {self.out}",
        ]
        if self.json_path is not None:
            lines.append(f"tables written to {self.json_path}")
        return lines


def build_report(
    workspace: Workspace | str | Path,
    *,
    as_of: date | None = None,
    out: Path | None = None,
    json_path: Path | None = None,
    spend_path: Path | None = None,
    config_path: Path | None = None,
    serving: ServingConfig | None = None,
) -> ReportResult:
    """Write the report of `workspace` at cut-off `as_of` (default: the last order's date);
    `serving` is the serving config whose tiers `churnrec score` and `serve` use too."""
    started = time.perf_counter()
    ws = Workspace.at(workspace)
    config = load_report_config(config_path)
    spend = read_spend(spend_path) if spend_path is not None else None  # fail before the work
    with stage("report: read workspace") as s:
        ctx = open_context(ws, as_of, config, serving=serving)
        ctx.spend = spend
        s.note(f"cut-off {ctx.as_of}, {len(ctx.snapshot):,} customers")
    built: list[Section] = []
    for module in SECTIONS:
        with stage(f"report: {module.__name__.rsplit('.', 1)[-1]}"):
            built.append(module.build(ctx))
    out = Path(out) if out is not None else ws.outputs_dir / REPORT_FILE
    subtitle = (
        f"{ws.root.name} \u00b7 cut-off {ctx.as_of} \u00b7 period = the last "
        f"{ctx.period_days} days \u00b7 every number uses data up to the cut-off only"
    )
    write_text(out, render_html(TITLE, ctx.as_of, subtitle, built))
    if json_path is not None:
        write_text(Path(json_path), json.dumps(report_json(ctx.as_of, ctx.period_days, built)))
    return ReportResult(out, json_path, ctx.as_of, built, time.perf_counter() - started)


def report_json(as_of: date, period_days: int, sections: list[Section]) -> dict[str, Any]:
    """One key per table (records) or document, plus `meta` with the cut-off and what was left
    out; a section's subsections add theirs to the section's `meta` entries."""
    doc: dict[str, Any] = {}
    for section in sections:
        for part in section.walk():
            for key, frame in part.tables.items():
                if key not in part.html_only:
                    doc[key] = records(frame)
            doc.update(part.documents)
    missing = {s.key: [m for p in s.walk() for m in p.missing] for s in sections}
    doc["meta"] = {
        "as_of": as_of.isoformat(),
        "period_days": period_days,
        "missing": {key: lines for key, lines in missing.items() if lines},
        "takeaways": {
            s.key: [t for p in s.walk() for t in [c.takeaway for c in p.charts] + p.notes]
            for s in sections
        },
    }
    return doc
