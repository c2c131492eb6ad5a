"""Section 3: behaviour clusters (K-means on standardised snapshot features, k by silhouette),
each described in words."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnrec.columns import Feature
from churnrec.insights.report import charts
from churnrec.insights.report.context import ReportContext
from churnrec.insights.report.section import Section
from churnrec.insights.report.text import pct

K_RANGE = range(2, 7)
MIN_CUSTOMERS = 60
FIT_SAMPLE = 10_000  # K-means is fitted on at most this many customers, then labels everyone
SILHOUETTE_SAMPLE = 2_000
SEED = 0
# feature -> (log-scaled?, word when high, word when low)
FEATURES = {
    Feature.RECENCY_DAYS: (True, "long since last order", "recent buyers"),
    Feature.FREQUENCY: (True, "frequent buyers", "few orders"),
    Feature.MONETARY_AVG: (True, "big baskets", "small baskets"),
    Feature.TENURE_DAYS: (True, "long-standing", "new"),
    Feature.ORDERS_TREND: (False, "buying more lately", "buying less lately"),
    Feature.DISTINCT_CATEGORIES: (True, "broad range", "narrow range"),
    Feature.RETURN_RATE: (False, "many returns", "few returns"),
    Feature.SESSIONS: (True, "browse a lot", "rarely browse"),
}


def build(ctx: ReportContext) -> Section:
    section = Section(
        "clusters",
        "Behaviour clusters",
        "K-means on standardised snapshot features (log scale for counts and days); k chosen "
        f"by the silhouette score among {K_RANGE.start}..{K_RANGE.stop - 1}.",
    )
    n = len(ctx.snapshot)
    found = cluster_profiles(ctx) if n >= MIN_CUSTOMERS else None
    if found is None:
        section.missing.append(
            f"Behaviour clusters need at least {MIN_CUSTOMERS} customers with orders "
            f"(there are {n})."
            if n < MIN_CUSTOMERS
            else "Behaviour clusters: the customers are too alike on every feature to form groups."
        )
        section.add_table("clusters", pd.DataFrame(), show=False)
        return section
    profile, z, score = found
    section.add_table(
        "clusters",
        profile,
        columns=[
            "cluster",
            "customers",
            "share",
            "description",
            "revenue_share",
            "mean_recency_days",
            "mean_frequency",
            "mean_monetary_avg",
        ],
    )
    section.add_chart(_chart(profile, z, score))
    return section


def _matrix(ctx: ReportContext) -> tuple[pd.DataFrame, np.ndarray]:
    snap = ctx.snapshot
    used = [f for f in FEATURES if f in snap.columns and snap[f].notna().any()]
    if Feature.SESSIONS in used and not ctx.has_events:
        used.remove(Feature.SESSIONS)
    raw = snap[used].astype(float)
    raw = raw.fillna(raw.median())
    values = raw.to_numpy().copy()
    for j, name in enumerate(used):
        if FEATURES[name][0]:
            values[:, j] = np.log1p(np.clip(values[:, j], 0, None))
    spread = values.std(axis=0)
    keep = spread > 1e-9  # a constant column (up to rounding) says nothing about groups
    raw, values = raw.loc[:, keep], values[:, keep]
    return raw, (values - values.mean(axis=0)) / spread[keep]


def cluster_profiles(ctx: ReportContext) -> tuple[pd.DataFrame, pd.DataFrame, float] | None:
    """Profiles, centres (z-scores) and silhouette of the best k; None if nothing varies."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    raw, x = _matrix(ctx)
    if x.shape[1] == 0:
        return None
    rng = np.random.default_rng(SEED)
    fit_rows = rng.choice(len(x), min(FIT_SAMPLE, len(x)), replace=False)
    sil_rows = fit_rows[:SILHOUETTE_SAMPLE]
    best: tuple[float, int, KMeans] | None = None
    for k in K_RANGE:
        if k >= len(fit_rows):
            break
        model = KMeans(n_clusters=k, n_init=3, random_state=SEED).fit(x[fit_rows])
        labels = model.predict(x[sil_rows])
        if len(set(labels)) < 2:
            continue
        score = float(silhouette_score(x[sil_rows], labels, random_state=SEED))
        if best is None or score > best[0]:
            best = (score, k, model)
    if best is None:
        return None
    score, k, model = best
    labels = model.predict(x)
    # clusters numbered by size, largest first, so the numbering is stable across runs
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    labels = np.argsort(order)[labels]  # the inverse permutation: old label -> new number
    centres = pd.DataFrame(x, columns=raw.columns).groupby(labels).mean()
    means = raw.groupby(labels).mean()
    profile = pd.DataFrame(
        {
            "cluster": np.arange(k) + 1,
            "customers": np.bincount(labels, minlength=k),
        }
    )
    profile["share"] = profile["customers"] / len(labels)
    profile["description"] = [_describe(centres.loc[i]) for i in range(k)]
    if ctx.has_monetary:
        total = ctx.snapshot[Feature.MONETARY_TOTAL].astype(float)
        profile["revenue_share"] = total.groupby(labels).sum().to_numpy() / total.sum()
    for name in raw.columns:
        profile[f"mean_{name}"] = means[name].to_numpy()
    profile["k"] = k
    profile["silhouette"] = score
    z = centres.set_axis([f"{i + 1}: {d}" for i, d in enumerate(profile["description"])])
    return profile, z, score


def _describe(centre: pd.Series) -> str:
    """The two features furthest from the average customer, in words."""
    top = centre.abs().sort_values(ascending=False).index[:2]
    return ", ".join(FEATURES[f][1] if centre[f] > 0 else FEATURES[f][2] for f in top)


def _chart(profile: pd.DataFrame, z: pd.DataFrame, score: float) -> charts.Chart:
    fig, (ax,) = charts.figure(0.9 + 0.45 * len(z))
    labelled = z.copy()
    labelled.index = [f"{i} ({pct(s)})" for i, s in zip(z.index, profile["share"], strict=True)]
    labelled.columns = [c.replace("_", "\n") for c in z.columns]
    charts.heatmap(ax, labelled, fmt="{:+.1f}", cmap="RdBu_r", centre=0.0)
    ax.set_title("cluster centres in standard deviations from the average customer")
    biggest = profile.iloc[0]
    takeaway = (
        f"{len(profile)} clusters (silhouette {score:.2f}). The largest, "
        f"\u201c{biggest['description']}\u201d, holds {pct(biggest['share'])} of customers"
    )
    if "revenue_share" in profile:
        richest = profile.sort_values("revenue_share").iloc[-1]
        takeaway += (
            f"; \u201c{richest['description']}\u201d ({pct(richest['share'])} of customers) "
            f"brings {pct(richest['revenue_share'])} of revenue"
        )
    return charts.render(fig, "Behaviour clusters", takeaway + ".")
