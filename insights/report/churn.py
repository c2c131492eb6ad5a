"""Section 7: churn risk, expected loss and reasons, the champion's metrics against its
baselines; campaign read-outs and drift as parts."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.columns import Feature, Score
from churnrec.features import segments as rfm
from churnrec.insights.report import campaign_readouts, charts, drift
from churnrec.insights.report.context import ReportContext
from churnrec.insights.report.palette import ACCENT
from churnrec.insights.report.section import Section
from churnrec.insights.report.text import label, num, pct
from churnrec.store.quality import quality_warning
from churnrec.store.registry import Tag

# Risk tiers and reasons come from the scores table (`scores.table.score_snapshot`, the serving
# config's tiers): the report's "high risk" is the export's and the API's `high` tier.
HEADLINE_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift")


def build(ctx: ReportContext) -> Section:
    section = Section(
        "churn",
        "Churn and retention",
        "Churn = no order in the model's horizon after the cut-off; probabilities from the "
        "current champion of the model store.",
    )
    scores = ctx.churn
    if scores.probability is None:
        section.missing.append(
            f"Churn risk, expected loss and reasons: {scores.reason} (run `churnrec train churn`)."
        )
        for key in ("churn_risk", "churn_by_segment", "churn_reasons", "champion_metrics"):
            section.add_table(key, pd.DataFrame(), show=False)
    else:
        p = scores.probability.to_numpy()
        tiers = scores.table[Score.RISK_TIER].to_numpy()
        section.add_table("churn_risk", _risk_distribution(p), show=False)
        section.add_chart(_risk_chart(p, tiers))
        by_segment = segment_loss(ctx, p, tiers)
        section.add_table("churn_by_segment", by_segment)
        section.add_chart(_loss_chart(ctx, by_segment))
        reasons = reason_table(scores.table)
        section.add_table("churn_reasons", reasons)
        if not reasons.empty:
            top = reasons.iloc[0]
            section.notes.append(
                f"Among {reasons.attrs['who']}, the most common push towards churn is "
                f"{label(top['feature'])} (in the top 3 reasons "
                f"of {pct(top['share'])} of them)."
            )
        metrics = champion_metrics(scores.metrics)
        section.add_table("champion_metrics", metrics)
        if not metrics.empty:
            section.notes.append(_metrics_takeaway(metrics, scores.version))
        section.notes += quality_notes(scores.tags)
    section.parts.append(campaign_readouts.build(ctx))
    section.parts.append(drift.build(ctx))
    return section


def _risk_distribution(p: np.ndarray) -> pd.DataFrame:
    edges = np.linspace(0, 1, 11)
    counts, _ = np.histogram(p, bins=edges)
    return pd.DataFrame(
        {"from": edges[:-1], "to": edges[1:], "customers": counts, "share": counts / len(p)}
    )


def _risk_chart(p: np.ndarray, tiers: np.ndarray) -> charts.Chart:
    fig, (ax,) = charts.figure(2.8)
    ax.hist(p, bins=40, range=(0, 1), color=ACCENT)
    high, medium = int((tiers == "high").sum()), int((tiers == "medium").sum())
    for tier in ("high", "medium"):
        if (tiers == tier).any():
            ax.axvline(p[tiers == tier].min(), color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("predicted probability of churn")
    ax.set_ylabel("customers")
    takeaway = (
        f"{num(high)} customers ({pct(high / len(p))}) are in the high risk tier and "
        f"{num(medium)} more in the medium tier (the serving config's tiers, as in "
        f"`churnrec score` and `/churn_scores`); the average probability is {pct(p.mean())}."
    )
    return charts.render(fig, "Churn-risk distribution", takeaway)


def segment_loss(ctx: ReportContext, p: np.ndarray, tiers: np.ndarray) -> pd.DataFrame:
    """Risk per RFM segment and expected loss = P(churn) x the next year's value at the pace of
    the last 180 days (revenue, or orders without prices)."""
    snap = ctx.snapshot
    pace = Feature.SPEND_180D if ctx.has_monetary else Feature.ORDERS_180D
    value = snap[pace].astype(float).fillna(0).to_numpy() * 365.0 / 180.0
    frame = pd.DataFrame(
        {
            "segment": snap[C.RFM_SEGMENT].to_numpy(),
            "p": p,
            "high": tiers == "high",
            "loss": p * value,
        }
    )
    out = frame.groupby("segment").agg(
        customers=("p", "size"),
        churn_risk=("p", "mean"),
        high_risk_customers=("high", "sum"),
        expected_loss=("loss", "sum"),
    )
    out["expected_loss_share"] = out[Score.EXPECTED_LOSS] / max(
        out[Score.EXPECTED_LOSS].sum(), 1e-12
    )
    order = [s for s in rfm.SEGMENTS if s in out.index]
    return out.reindex(order).rename_axis("segment").reset_index()


def _loss_chart(ctx: ReportContext, table: pd.DataFrame) -> charts.Chart:
    fig, (ax,) = charts.figure(3.2)
    ordered = table.sort_values(Score.EXPECTED_LOSS, ascending=False)
    charts.bars(
        ax,
        [label(s) for s in ordered["segment"]],
        ordered[Score.EXPECTED_LOSS],
        [ctx.palette.segment(s) for s in ordered["segment"]],
        horizontal=True,
    )
    unit = "revenue" if ctx.has_monetary else "orders"
    ax.set_xlabel(f"expected {unit} lost over the next year")
    top = ordered.iloc[0]
    takeaway = (
        f"{label(top['segment']).capitalize()} customers carry the largest expected loss: "
        f"{num(top['expected_loss'])} in {unit} ({pct(top['expected_loss_share'])} of the "
        f"total), at an average risk of {pct(top['churn_risk'])}."
    )
    return charts.render(fig, "Expected loss by segment", takeaway)


def reason_table(table: pd.DataFrame) -> pd.DataFrame:
    """How often each feature is among the top 3 pushes towards churn of the customers in the
    high or medium tier (the ones a campaign reaches), from the scores table's reasons."""
    tiered = table[table[Score.RISK_TIER].isin(("high", "medium"))]
    counts: Counter[str] = Counter()
    for reasons in tiered[Score.TOP_REASONS]:
        counts.update({r["feature"] for r in reasons if r["contribution"] > 0})
    if not counts:
        return pd.DataFrame()
    # Ties in name order: the counts come from sets, whose order follows PYTHONHASHSEED.
    ranked = sorted(counts.items(), key=lambda fc: (-fc[1], fc[0]))
    frame = pd.DataFrame(ranked, columns=["feature", "customers"])
    frame["share"] = frame["customers"] / len(tiered)
    frame.attrs["who"] = f"the {num(len(tiered))} customers in the high or medium risk tier"
    return frame


def champion_metrics(metrics: dict[str, float]) -> pd.DataFrame:
    """One row per headline metric: the champion's value and each baseline's on the same rows."""
    present = [m for m in HEADLINE_METRICS if m in metrics]
    prefixes = Counter(
        key[: -len(m) - 1] for key in metrics for m in present if key.endswith(f"_{m}")
    )
    baselines = sorted(p for p, n in prefixes.items() if n >= 2 and p)
    rows = [
        {"metric": m, "champion": metrics[m], **{b: metrics.get(f"{b}_{m}") for b in baselines}}
        for m in present
    ]
    return pd.DataFrame(rows)


def quality_notes(tags: dict[str, str]) -> list[str]:
    """The champion's quality band (`training.quality`), and below "fair" the warning first."""
    band = tags.get(Tag.QUALITY)
    if band is None:
        return []
    notes = [f"Quality on its holdout: {band} ({tags.get(Tag.QUALITY_REASON, '')})."]
    if warning := quality_warning("churn", tags):
        notes.insert(0, f"Warning: {warning}.")
    return notes


def _metrics_takeaway(table: pd.DataFrame, version: str | None) -> str:
    row = table.iloc[0]
    others = [c for c in table.columns if c not in ("metric", "champion")]
    against = ", ".join(f"{label(c)} {row[c]:.3f}" for c in others if pd.notna(row[c]))
    return (
        f"Champion v{version}: holdout {row['metric'].replace('_', '-').upper()} "
        f"{row['champion']:.3f}" + (f" against {against}." if against else ".")
    )
