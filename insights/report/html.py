"""One self-contained HTML page: inline CSS, images as data URIs, no scripts, nothing fetched;
prints without splitting a chart from its takeaway."""

from __future__ import annotations

import html
from datetime import date

import pandas as pd

from churnrec.insights.report.section import Section
from churnrec.insights.report.text import is_missing, label

MAX_TABLE_ROWS = 15
TEXT_CELL = ' class="t"'  # words align left, numbers right
PERCENT_HINTS = (
    "share",
    "rate",
    "conversion",
    "retention",
    "churn_risk",
    "churned",
    "abandonment",
    "roi",
    "change",
)

CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --accent: #0072B2; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0; background: #f5f7fa; }
main { max-width: 980px; margin: 0 auto; padding: 24px 32px 48px; background: white; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; padding-top: 12px; border-top: 2px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
h4 { font-size: 14px; margin: 14px 0 6px; }
.part { margin-top: 20px; }
.sub, .intro { color: var(--muted); }
nav ol { columns: 2; padding-left: 20px; margin: 8px 0 0; }
nav a { color: var(--accent); text-decoration: none; }
figure { margin: 16px 0; break-inside: avoid; page-break-inside: avoid; }
figure img { width: 100%; height: auto; display: block; }
figcaption { margin-top: 6px; padding: 8px 12px; background: #eef6fc;
             border-left: 4px solid var(--accent); }
figcaption strong { display: block; font-size: 13px; color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 13px;
        break-inside: avoid; page-break-inside: avoid; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; }
th:first-child, td:first-child, td.t { text-align: left; }
th { background: #f0f4f8; font-weight: 600; }
.missing { color: var(--muted); font-style: italic; margin: 6px 0; }
.takeaway { padding: 8px 12px; background: #eef6fc; border-left: 4px solid var(--accent); }
.more { color: var(--muted); font-size: 12px; }
@media print {
  body { background: white; font-size: 11pt; }
  main { max-width: none; padding: 0; }
  h2 { break-before: auto; break-after: avoid; }
  nav { display: none; }
}
"""


def render_html(title: str, as_of: date, subtitle: str, sections: list[Section]) -> str:
    toc = "".join(f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in sections)
    body = "".join(_section(s, i + 1) for i, s in enumerate(sections))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} {as_of}</title><style>{CSS}</style></head><body><main>"
        f'<h1>{html.escape(title)}</h1><p class="sub">{html.escape(subtitle)}</p>'
        f"<nav><ol>{toc}</ol></nav>{body}</main></body></html>\n"
    )


def _section(section: Section, number: int) -> str:
    head = f'<section id="{section.key}"><h2>{number}. {html.escape(section.title)}</h2>'
    return head + _content(section, level=3) + "</section>"


def _content(section: Section, level: int) -> str:
    """Intro, charts, takeaways, tables and missing lines, then the parts a heading level down."""
    parts = []
    if section.intro:
        parts.append(f'<p class="intro">{html.escape(section.intro)}</p>')
    for chart in section.charts:
        parts.append(
            f'<figure><img src="{chart.data_uri}" alt="{html.escape(chart.title)}">'
            f"<figcaption><strong>{html.escape(chart.title)}</strong>"
            f"{html.escape(chart.takeaway)}</figcaption></figure>"
        )
    for note in section.notes:
        parts.append(f'<p class="takeaway">{html.escape(note)}</p>')
    for key in section.shown:
        frame = section.tables[key]
        if key in section.display_columns:
            frame = frame[section.display_columns[key]]
        if not frame.empty:
            title = html.escape(label(key).capitalize())
            parts.append(f"<h{level}>{title}</h{level}>{_table(frame)}")
    for line in section.missing:
        parts.append(f'<p class="missing">{html.escape(line)}</p>')
    for part in section.parts:
        parts.append(
            f'<div class="part" id="{html.escape(f"{section.key}-{part.key}")}">'
            f"<h{level}>{html.escape(part.title)}</h{level}>"
            f"{_content(part, level=min(level + 1, 6))}</div>"
        )
    return "".join(parts)


def _table(frame: pd.DataFrame) -> str:
    shown = frame.head(MAX_TABLE_ROWS)
    head = "".join(f"<th>{html.escape(label(c))}</th>" for c in shown.columns)
    rows = []
    for record in shown.itertuples(index=False):
        cells = "".join(
            f"<td{TEXT_CELL if isinstance(value, str) else ''}>"
            f"{html.escape(_cell(col, value, record))}</td>"
            for col, value in zip(shown.columns, record, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    more = (
        f'<p class="more">{len(frame) - MAX_TABLE_ROWS} more rows in the --json output.</p>'
        if len(frame) > MAX_TABLE_ROWS
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def _cell(column: str, value: object, record: tuple) -> str:
    if is_missing(value):
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    in_column = any(h in column for h in PERCENT_HINTS)
    in_metric = any(h in str(getattr(record, "metric", "")) for h in PERCENT_HINTS)
    if isinstance(value, int) or (
        hasattr(value, "is_integer") and float(value).is_integer() and not (in_column or in_metric)
    ):
        return f"{value:,.0f}"
    if isinstance(value, float):
        if in_column or (column in ("value", "previous") and in_metric):  # "change" is a hint
            return f"{100 * value:+.1f}%" if column == "change" else f"{100 * value:.1f}%"
        if abs(value) < 1:
            return f"{value:.3f}"
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, pd.Timestamp):
        return str(value.date())
    return label(str(value))
