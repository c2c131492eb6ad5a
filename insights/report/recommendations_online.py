"""The 'Recommendations online' section: `churnrec recs readout`'s numbers for answers and
events before the cut-off, in words."""

from __future__ import annotations

import pandas as pd

from churnrec.columns import Score
from churnrec.insights import recommendations_online as online
from churnrec.insights.report import campaign_readouts
from churnrec.insights.report.context import ReportContext
from churnrec.insights.report.section import Section

KEY = "recommendations_online"


def build(ctx: ReportContext) -> Section:
    """Per (model version, source) rates with 95% intervals; the arms' lifts when an A/B ran."""
    section = Section(
        KEY,
        "Recommendations online",
        "What the served recommendations led to: per model version and source, shown items "
        f"(impressions) and the share viewed, added to a cart or bought within "
        f"{online.DEFAULT_WINDOW_DAYS} days through the answer's recommendation_id, with 95% "
        "intervals, as `churnrec recs readout` computes it.",
    )
    try:
        result = online.recs_readout(ctx.ws, until=ctx.end().to_pydatetime(), log=False)
        problem = "" if result.answers else f"no answer was served before the cut-off {ctx.as_of}"
    except online.ReadoutError as exc:
        problem = str(exc)
    if problem:
        section.intro = ""
        section.missing.append(f"Recommendations online: {problem}.")
        return section
    table = pd.DataFrame(result.by_source)
    section.add_table(
        KEY,
        table,
        columns=[
            Score.MODEL_VERSION,
            "source",
            "impressions",
            *online.RATES.values(),
            "revenue",
        ],
    )
    section.documents[f"{KEY}_ab"] = result.ab
    if (ab := result.ab_readout) is not None:
        if campaign_readouts.informative(ab.lifts):
            section.notes.append(campaign_readouts.readout_takeaway(ab))
        if ab.srm_detected:
            section.notes.append(
                f"The arm sizes do not match challenger_share (sample-ratio p = "
                f"{ab.srm_p_value:.2g}): the assignment may be broken; do not trust the A/B."
            )
    if result.ab_note:
        section.notes.append(f"A/B: {result.ab_note}.")
    return section
