"""Drift since the champion's training, from the record `churnrec refresh` writes
(`data/drift/latest.json`); the report computes no drift itself and skips a record checked
after its cut-off."""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

import pandas as pd

from churnrec.insights.report import charts
from churnrec.insights.report.context import ReportContext
from churnrec.insights.report.palette import ACCENT
from churnrec.insights.report.section import Section, records
from churnrec.insights.report.text import num

KEY = "drift"
CHARTED = 12  # columns in the PSI chart (the largest shifts)
STEADY = "#9AA5B1"
COLUMNS = ("psi", "ks_statistic", "ks_pvalue", "n_reference", "n_current", "drift")


def build(ctx: ReportContext) -> Section:
    """The 'Drift since training' subsection; `drift` in --json (null without a record)."""
    section = Section(KEY, "Drift since the champion's training")
    section.documents[KEY] = None
    path = ctx.ws.drift_record_path
    if not path.exists():
        section.missing.append(
            "Drift: no drift check in this workspace yet; `churnrec refresh` computes it "
            "(PSI and KS per feature and score, the champion's AUC on the newest window)."
        )
        return section
    try:
        record = json.loads(path.read_text())
        checked = date.fromisoformat(str(record["current_as_of"])[:10])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        section.missing.append(
            f"Drift: {path} cannot be read ({exc}); `churnrec refresh` rewrites it."
        )
        return section
    if checked > ctx.as_of:
        section.missing.append(
            f"Drift: the latest check is of the snapshot at {checked}, after this report's "
            f"cut-off {ctx.as_of}; it is shown in a report at that cut-off or later."
        )
        return section
    table = drift_table(record)
    performance = record.get("performance") or None
    takeaway = drift_takeaway(record, table)
    section.intro = (
        f"Snapshot at {checked} against the champion's training snapshot at "
        f"{record.get('reference_as_of') or 'unknown'} (checked {record.get('checked_at', '?')}"
        f"{', champion v' + str(record['champion_version']) if record.get('champion_version') else ''})"
        "; a column is flagged at PSI or KS statistic over the refresh thresholds."
    )
    section.add_table(
        "drifted_columns", table, columns=["column", "kind", *COLUMNS[:2], "drift"], to_json=False
    )
    section.add_chart(_psi_chart(table, record, takeaway))
    if performance is not None:
        section.add_table("champion_auc", _performance_table(performance), to_json=False)
    if not len(section.charts):
        section.notes.append(takeaway)
    as_recorded = ("checked_at", "reference_as_of", "current_as_of", "champion_version")
    section.documents[KEY] = {
        **{key: record.get(key) for key in as_recorded},
        "drift": bool(record.get("drift")),
        "thresholds": record.get("thresholds") or {},
        **{key: list(record.get(key) or []) for key in ("drifted_features", "drifted_scores")},
        "columns": records(table),
        "performance": performance,
        "takeaway": takeaway,
    }
    if ctx.as_of != checked:
        section.notes.append(
            f"The check is of the snapshot at {checked}, {(ctx.as_of - checked).days} days "
            f"before this report's cut-off; `churnrec refresh` brings it up to date."
        )
    return section


def drift_table(record: dict[str, Any]) -> pd.DataFrame:
    """One row per checked feature and score: flagged ones first, then by PSI."""
    rows = [
        {"column": name, "kind": kind, **{c: entry.get(c) for c in COLUMNS}}
        for kind, group in (("score", record.get("scores")), ("feature", record.get("features")))
        for name, entry in (group or {}).items()
    ]
    frame = pd.DataFrame(rows, columns=["column", "kind", *COLUMNS])
    frame["drift"] = frame["drift"].fillna(False).astype(bool)
    frame["psi"] = pd.to_numeric(frame["psi"], errors="coerce")
    frame["ks_statistic"] = pd.to_numeric(frame["ks_statistic"], errors="coerce")
    return frame.sort_values(
        ["drift", "psi", "column"], ascending=[False, False, True], na_position="last"
    ).reset_index(drop=True)


def drift_takeaway(record: dict[str, Any], table: pd.DataFrame) -> str:
    """Which columns moved (with their numbers) and whether the champion still ranks as well."""
    features, scores = table[table["kind"] == "feature"], table[table["kind"] == "score"]
    flagged = table[table["drift"]]
    if flagged.empty:
        moved = f"None of the {len(features)} features and {len(scores)} scores drifted"
    else:
        named = ", ".join(
            f"{r.column} (PSI {_fmt(r.psi)}, KS {_fmt(r.ks_statistic)})"
            for r in flagged.head(5).itertuples()
        )
        more = f" and {len(flagged) - 5} more" if len(flagged) > 5 else ""
        moved = (
            f"{int((flagged['kind'] == 'feature').sum())} of {len(features)} features and "
            f"{int((flagged['kind'] == 'score').sum())} of {len(scores)} scores drifted: "
            f"{named}{more}"
        )
    return f"{moved}. {performance_sentence(record)}"


def performance_sentence(record: dict[str, Any]) -> str:
    perf = record.get("performance") or None
    if perf is None or perf.get("roc_auc") is None:
        return (
            "The champion's AUC could not be checked: the newest fully observed window has "
            "only one outcome (or none yet)."
        )
    auc, trained = perf["roc_auc"], perf.get("training_roc_auc")
    window = (
        f"on the newest fully observed window (cut-off {perf.get('as_of')}, "
        f"{num(perf.get('n'))} customers, {perf.get('horizon_days')}-day horizon)"
    )
    if trained is None:
        return f"The champion's AUC {window} is {auc:.3f}; its training AUC is not recorded."
    tolerance = (record.get("thresholds") or {}).get("auc_drop")
    allowed = f"the {tolerance:g} tolerance" if tolerance is not None else "the tolerance"
    verdict = (
        f"more than {allowed} below training: retrain "
        "(`churnrec refresh --retrain always` or `churnrec train churn`)."
        if perf.get("degraded")
        else f"within {allowed}."
    )
    return (
        f"The champion's AUC {window} is {auc:.3f} against {trained:.3f} in training "
        f"({auc - trained:+.3f}), {verdict}"
    )


def _performance_table(perf: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "metric": "roc_auc",
                "newest_window": perf.get("roc_auc"),
                "training": perf.get("training_roc_auc"),
                "window_cut_off": str(perf.get("as_of")),
                "horizon_days": perf.get("horizon_days"),
                "customers": perf.get("n"),
                "degraded": bool(perf.get("degraded")),
            }
        ]
    )


def _psi_chart(table: pd.DataFrame, record: dict[str, Any], takeaway: str) -> charts.Chart | None:
    """PSI of the columns that moved most, flagged ones coloured, the threshold dashed."""
    shown = table.dropna(subset=["psi"]).sort_values("psi", ascending=False).head(CHARTED)
    if shown.empty:
        return None
    fig, (ax,) = charts.figure(0.8 + 0.3 * len(shown))
    charts.bars(
        ax,
        [
            f"{c} ({k})" if k == "score" else c
            for c, k in zip(shown["column"], shown["kind"], strict=True)
        ],
        shown["psi"].tolist(),
        [ACCENT if d else STEADY for d in shown["drift"]],
        horizontal=True,
        fmt="{:.2f}",
    )
    threshold = (record.get("thresholds") or {}).get("psi")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("population stability index (PSI) against the training snapshot")
    return charts.render(fig, "Drift since the champion's training", takeaway)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}"
