"""Campaign read-outs in the churn section, by `churnrec.insights.campaigns`. Point in time: only
customers sent to by the cut-off, and outcomes from orders only once their window closed."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.insights import campaigns as readouts
from churnrec.insights.report import charts
from churnrec.insights.report.context import ReportContext
from churnrec.insights.report.palette import ACCENT
from churnrec.insights.report.section import Section

KEY = "campaigns"
MAX_SHOWN = 10  # newest campaigns printed in the HTML; --json has them all
NOT_SIGNIFICANT = "#9AA5B1"
# outcome -> (column name of its per-arm mean, words for a sentence)
OUTCOME_NAMES = {
    C.CONVERTED: ("conversion_rate", "conversion"),
    C.REVENUE: ("revenue_per_customer", "revenue per customer"),
    C.VISITED: ("visit_rate", "visit rate"),
}


def build(ctx: ReportContext) -> Section:
    """The 'Campaign read-outs' subsection: one part per campaign, `campaigns` in --json."""
    section = Section(
        KEY,
        "Campaign read-outs",
        "Each arm against the campaign's control arm: the difference in outcome with its 95% "
        "confidence interval (normal approximation), as `churnrec campaign readout` computes it.",
    )
    section.documents[KEY] = []
    path = ctx.ws.table_path(C.CAMPAIGNS)
    if not path.exists():
        section.intro = ""
        section.missing.append(
            "Campaign read-outs: no campaigns table in this workspace; "
            "`churnrec ingest --campaigns FILE` adds one (customer_id, campaign_id, arm, sent_at, "
            "optional converted, revenue, visited)."
        )
        return section
    table = pd.read_parquet(path)
    absent = [c for c in C.REQUIRED_COLUMNS[C.CAMPAIGNS] if c not in table.columns]
    if absent:
        section.missing.append(f"Campaign read-outs: {path} lacks column(s) {absent}.")
        return section
    table = table.assign(**{C.CAMPAIGN_ID: table[C.CAMPAIGN_ID].astype(str)})
    newest_first = (
        table.groupby(C.CAMPAIGN_ID)[C.SENT_AT].max().sort_values(ascending=False).index.tolist()
    )
    for campaign_id in newest_first:
        rows = table[table[C.CAMPAIGN_ID] == campaign_id].reset_index(drop=True)
        part = _campaign_part(ctx, campaign_id, rows)
        if isinstance(part, str):
            section.missing.append(part)
            continue
        section.documents[KEY].append(part.documents.pop(KEY))
        if len(section.parts) < MAX_SHOWN:
            section.parts.append(part)
    hidden = len(section.documents[KEY]) - len(section.parts)
    if hidden:
        section.notes.append(f"{hidden} older campaign(s) are in the --json output only.")
    return section


def _campaign_part(ctx: ReportContext, campaign_id: str, rows: pd.DataFrame) -> Section | str:
    """The part of one campaign, or the line saying why it cannot be read out at the cut-off."""
    settings = ctx.config.campaigns
    end = ctx.end()
    sent = pd.to_datetime(rows[C.SENT_AT])
    later = int((sent >= end).sum())
    rows = rows[(sent < end).to_numpy()].reset_index(drop=True)
    if rows.empty:
        return f"Campaign {campaign_id}: sent after the cut-off {ctx.as_of}."
    rows, derived = readouts.derive_outcomes(ctx.ws, rows, settings.window_days)
    if C.REVENUE in derived and not ctx.has_monetary:  # orders without prices: no revenue
        rows = rows.drop(columns=[C.REVENUE])
        derived = [o for o in derived if o != C.REVENUE]
    window_end = pd.Timestamp(rows[C.SENT_AT].max()) + timedelta(days=settings.window_days)
    if derived and window_end >= end:
        return (
            f"Campaign {campaign_id}: {', '.join(derived)} come from orders in the "
            f"{settings.window_days} days after sending, which end after the cut-off "
            f"{ctx.as_of}; a report at {window_end.date()} or later reads it out."
        )
    try:
        result = readouts.readout(
            rows,
            campaign_id=campaign_id,
            control=settings.control.get(campaign_id),
            intended_split=settings.intended_split.get(campaign_id),
            derived=derived,
            window_days=settings.window_days,
        )
    except readouts.CampaignError as exc:
        hint = " (set campaigns.control in the report config)" if "control" in str(exc) else ""
        return f"Campaign {campaign_id}: {exc}{hint}."
    if not informative(result.lifts):
        return (
            f"Campaign {campaign_id}: no outcome to compare (no converted, revenue or visited "
            "values that differ between customers, and no orders to derive them from)."
        )
    checked_split = campaign_id in settings.intended_split
    takeaway = readout_takeaway(result)
    part = Section(campaign_id, f"Campaign {campaign_id}")
    arms = arm_table(result)
    lifts = lift_records(result.lifts)
    part.add_table("arms", arms, to_json=False)
    shown = lift_records(informative(result.lifts))
    part.add_table("lift_vs_control", _lift_display(shown), to_json=False)
    part.add_chart(_lift_chart(result, takeaway))
    part.notes.extend(_caveats(result, later, checked_split))
    part.documents[KEY] = {
        "campaign_id": campaign_id,
        "control": result.control,
        "sent_from": pd.Timestamp(rows[C.SENT_AT].min()).date().isoformat(),
        "sent_to": pd.Timestamp(rows[C.SENT_AT].max()).date().isoformat(),
        "customers": int(arms["customers"].sum()),
        "sent_after_cut_off": later,
        "derived_outcomes": list(result.derived_outcomes),
        "window_days": settings.window_days,
        "srm_p_value": readouts.jsonable(result.srm_p_value) if checked_split else None,
        "srm_detected": bool(result.srm_detected) if checked_split else None,
        "arms": readouts.jsonable(arms.to_dict("records")),
        "lifts": readouts.jsonable(lifts.to_dict("records")),
        "takeaway": takeaway,
    }
    return part


def arm_table(result: readouts.Readout) -> pd.DataFrame:
    """One row per arm (control first): customers, share and the mean of each known outcome."""
    total = sum(a.customers for a in result.arms)
    known = [o for o in readouts.OUTCOMES if any(a.means.get(o) is not None for a in result.arms)]
    return pd.DataFrame(
        [
            {
                "arm": a.arm,
                "is_control": a.arm == result.control,
                "customers": a.customers,
                "share": a.customers / total,
                **{OUTCOME_NAMES[o][0]: a.means.get(o) for o in known},
            }
            for a in result.arms
        ]
    )


def lift_records(lifts: list[readouts.Lift]) -> pd.DataFrame:
    """One row per (arm, outcome): means, lift and relative lift with 95% intervals, p, MDE."""
    return pd.DataFrame(
        [
            {
                "arm": x.arm,
                "outcome": x.outcome,
                "control_mean": x.control_mean,
                "arm_mean": x.arm_mean,
                "lift": x.absolute,
                "ci_low": x.absolute_ci[0],
                "ci_high": x.absolute_ci[1],
                "relative_lift": x.relative,
                "relative_ci_low": x.relative_ci[0] if x.relative_ci else None,
                "relative_ci_high": x.relative_ci[1] if x.relative_ci else None,
                "p_value": x.p_value,
                "mde": x.mde_absolute,
                "significant": bool(x.absolute_ci[0] > 0 or x.absolute_ci[1] < 0),
            }
            for x in lifts
        ]
    )


def readout_takeaway(result: readouts.Readout) -> str:
    """One sentence per treated arm on the campaign's first outcome, e.g. 'email_a added +2.1
    points of conversion (95% CI +1.0..+3.2) over control.'"""
    lifts = informative(result.lifts)
    outcome = next(o for o in readouts.OUTCOMES if any(x.outcome == o for x in lifts))
    return " ".join(lift_sentence(x, result.control) for x in lifts if x.outcome == outcome)


def informative(lifts: list[readouts.Lift]) -> list[readouts.Lift]:
    """Lifts worth showing: an outcome that is the same for every customer of both arms (all 0,
    e.g. revenue when nobody bought after the send) has no interval and tells nothing."""
    return [x for x in lifts if x.absolute_ci[1] > x.absolute_ci[0] or x.absolute != 0]


def lift_sentence(lift: readouts.Lift, control: str) -> str:
    """The lift of one arm in words; the interval decides between added, lost and unclear."""
    words = OUTCOME_NAMES[lift.outcome][1]
    low, high = lift.absolute_ci
    if lift.outcome in readouts.BINARY:
        size = f"{_points(lift.absolute)} points"
        interval = f"{_points(low)}..{_points(high)}"
    else:
        size = f"{lift.absolute:+,.2f}"
        interval = f"{low:+,.2f}..{high:+,.2f}"
    ci = f"(95% CI {interval})"
    if low > 0:
        return f"{lift.arm} added {size} of {words} {ci} over {control}."
    if high < 0:
        return f"{lift.arm} lost {size.lstrip('-')} of {words} {ci} against {control}."
    return (
        f"{lift.arm} changed {words} by {size} {ci} against {control}: "
        "not distinguishable from no effect."
    )


def _points(share: float) -> str:
    return f"{100 * share:+.1f}"


def _lift_display(lifts: pd.DataFrame) -> pd.DataFrame:
    """The lift table as a reader wants it: points for rates, intervals as 'low..high'."""
    rows = []
    for r in lifts.itertuples(index=False):
        binary = r.outcome in readouts.BINARY
        fmt = _points if binary else (lambda v: f"{v:+,.2f}")
        level = (lambda v: f"{100 * v:.1f}%") if binary else (lambda v: f"{v:,.2f}")
        relative = (
            ""
            if r.relative_lift is None or pd.isna(r.relative_lift)
            else f"{100 * r.relative_lift:+.0f}% ({100 * r.relative_ci_low:+.0f}%.."
            f"{100 * r.relative_ci_high:+.0f}%)"
        )
        rows.append(
            {
                "arm": r.arm,
                "outcome": OUTCOME_NAMES[r.outcome][1],
                "control": level(r.control_mean),
                "treated": level(r.arm_mean),
                "lift (95% CI)": f"{fmt(r.lift)}{' pts' if binary else ''} "
                f"({fmt(r.ci_low)}..{fmt(r.ci_high)})",
                "relative lift": relative,
                "p-value": f"{r.p_value:.3g}",
            }
        )
    return pd.DataFrame(rows)


def _lift_chart(result: readouts.Readout, takeaway: str) -> charts.Chart:
    """Per outcome a panel: each arm's lift over control as a dot with its 95% interval."""
    lifts = informative(result.lifts)
    outcomes = [o for o in readouts.OUTCOMES if any(x.outcome == o for x in lifts)]
    arms = list(dict.fromkeys(x.arm for x in lifts))
    fig, axes = charts.figure(0.9 + 0.45 * len(arms), ncols=len(outcomes))
    for ax, outcome in zip(axes, outcomes, strict=True):
        scale = 100.0 if outcome in readouts.BINARY else 1.0
        for y, arm in enumerate(arms):
            lift = next((x for x in lifts if x.arm == arm and x.outcome == outcome), None)
            if lift is None:
                continue
            low, high = (scale * v for v in lift.absolute_ci)
            colour = ACCENT if low > 0 or high < 0 else NOT_SIGNIFICANT
            ax.errorbar(
                scale * lift.absolute,
                y,
                xerr=[[scale * lift.absolute - low], [high - scale * lift.absolute]],
                fmt="o",
                capsize=4,
                color=colour,
            )
        ax.axvline(0, color="black", linewidth=1)
        ax.set_yticks(np.arange(len(arms)), arms)
        ax.set_ylim(-0.6, len(arms) - 0.4)
        ax.invert_yaxis()
        unit = "points" if outcome in readouts.BINARY else "per customer"
        ax.set_xlabel(f"{OUTCOME_NAMES[outcome][1]}: lift over {result.control} ({unit})")
    return charts.render(fig, f"Campaign {result.campaign_id}: lift over control", takeaway)


def _caveats(result: readouts.Readout, later: int, checked_split: bool) -> list[str]:
    """What a reader must know before trusting the numbers."""
    notes = []
    kept = {x.outcome for x in informative(result.lifts)}
    flat = [o for o in dict.fromkeys(x.outcome for x in result.lifts) if o not in kept]
    if flat:
        names = ", ".join(OUTCOME_NAMES[o][1] for o in flat)
        notes.append(f"Not compared: {names} is the same for every customer of every arm.")
    if checked_split and result.srm_detected:
        notes.append(
            f"The arm sizes do not match the intended split (sample-ratio p = "
            f"{result.srm_p_value:.2g}): the assignment may be broken; do not trust this read-out."
        )
    if result.derived_outcomes:
        notes.append(
            f"{', '.join(result.derived_outcomes).capitalize()} derived from kept orders in the "
            f"{result.window_days} days after each customer's send date."
        )
    if later:
        notes.append(f"{later:,} customers sent to after the cut-off are left out.")
    return notes
