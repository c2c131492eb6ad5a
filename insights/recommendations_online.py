"""The online read-out of recommendations: impressions joined to the events naming their
`recommendation_id` (within `window_days`, less clock skew), rates per model version and
source, and the arms compared per customer with the campaign read-out's statistics."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.insights import campaigns
from churnrec.models.base import ModelKind
from churnrec.store.recommendation_log import (
    CHALLENGER_ARM,
    CHAMPION_ARM,
    EVENTS_FILE,
    IMPRESSIONS_FILE,
    log_dir,
)
from churnrec.workspace import Workspace

DEFAULT_WINDOW_DAYS = 7
CLOCK_SKEW = timedelta(minutes=5)
ALL_SOURCES = "all"
EXPERIMENT = ModelKind.RECOMMENDER.value
# event type -> the rate it makes (views are the storefront's clicks)
RATES = {
    C.EVENT_VIEW: "click_or_view_rate",
    C.EVENT_ADD_TO_CART: "add_to_cart_rate",
    C.EVENT_PURCHASE: "purchase_rate",
}
COUNTS = {
    C.EVENT_VIEW: "clicks_or_views",
    C.EVENT_ADD_TO_CART: "add_to_carts",
    C.EVENT_PURCHASE: "purchases",
}


class ReadoutError(ValueError):
    """Nothing to read out (no impression log), or a bad option."""


@dataclass(frozen=True)
class RecsReadout:
    since: str | None
    until: str | None
    window_days: int
    answers: int
    unattributed_events: int  # events naming an answer of the period: unshown item, too late
    by_source: list[dict[str, Any]]  # one row per (model_version, source), plus source "all"
    arms: dict[str, list[str]]  # arm -> model versions it served
    ab: dict[str, Any] | None  # the campaign read-out of the arms (None: one arm only)
    ab_note: str | None = None
    mlflow_runs: dict[str, str] = field(default_factory=dict)
    ab_readout: campaigns.Readout | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """`ab` is the read-out's JSON; the object itself (for words and checks) is not."""
        out = asdict(self)
        del out["ab_readout"]
        return campaigns.jsonable(out)

    def summary_lines(self) -> list[str]:
        span = f"{self.since or 'start'} .. {self.until or 'now'}"
        head = (
            f"recommendations read-out {span}: {self.answers:,} answers, attribution window "
            f"{self.window_days} days, {self.unattributed_events:,} events not attributed"
        )
        lines = [head]
        for row in self.by_source:
            rates = ", ".join(
                f"{name.removesuffix('_rate')} {row[name]:.2%} "
                f"[{row[name + '_ci'][0]:.2%}, {row[name + '_ci'][1]:.2%}]"
                for name in RATES.values()
            )
            revenue = "" if row["revenue"] is None else f", revenue {row['revenue']:,.2f}"
            lines.append(
                f"  v{row[Score.MODEL_VERSION]} {row['source']}: {row['impressions']:,} impressions, "
                f"{rates}{revenue}"
            )
        if self.ab_readout is not None:
            lines += [
                "A/B of recommender arms (per customer):",
                *self.ab_readout.summary_lines()[1:],
            ]
        if self.ab_note:
            lines.append(f"A/B: {self.ab_note}")
        return lines


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a torn last line after a crash
    return out


def load_impressions(ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(answers: one row per answer, shown: one row per shown item) of the impression log."""
    records = _read_jsonl(log_dir(ws) / IMPRESSIONS_FILE)
    if not records:
        raise ReadoutError(
            f"no impressions in {log_dir(ws) / IMPRESSIONS_FILE}: `churnrec serve` logs one per "
            "/recommendations and /similar_items answer"
        )
    answers = pd.DataFrame([{k: v for k, v in r.items() if k != "items"} for r in records]).assign(
        at=lambda f: pd.to_datetime(f["at"])
    )
    shown = pd.DataFrame(
        [
            {"recommendation_id": r["recommendation_id"], **item}
            for r in records
            for item in r.get("items", [])
        ],
        columns=["recommendation_id", C.ITEM_ID, "position", "source"],
    )
    return answers, shown


def item_prices(ws: Workspace) -> pd.Series | None:
    """Price per item: the items table's `price`, else the mean `unit_price` in the orders."""
    items = ws.table_path(C.ITEMS)
    if items.exists():
        frame = pd.read_parquet(items)
        if C.PRICE in frame and frame[C.PRICE].notna().any():
            prices = frame.set_index(frame[C.ITEM_ID].astype(str))[C.PRICE].astype(float)
            return prices[~prices.index.duplicated()]
    if ws.has_table(C.ORDERS):
        orders = pd.read_parquet(ws.orders_path)
        if C.UNIT_PRICE in orders and orders[C.UNIT_PRICE].notna().any():
            return orders.groupby(orders[C.ITEM_ID].astype(str))[C.UNIT_PRICE].mean()
    return None


def recs_readout(
    workspace: Workspace | str | Path,
    *,
    since: date | None = None,
    until: datetime | None = None,
    window_days: int = DEFAULT_WINDOW_DAYS,
    log: bool = True,
) -> RecsReadout:
    """Read out the answers since `since` (and before `until`) and log the result to MLflow."""
    if window_days < 1:
        raise ReadoutError(f"--window-days must be at least 1, got {window_days}")
    ws = Workspace.at(workspace)
    answers, shown = load_impressions(ws)
    keep = pd.Series(True, index=answers.index)
    if since is not None:
        keep &= answers["at"] >= pd.Timestamp(since)
    if until is not None:
        keep &= answers["at"] < pd.Timestamp(until)
    answers = answers[keep].reset_index(drop=True)
    shown = shown[shown["recommendation_id"].isin(answers["recommendation_id"])]
    shown = shown.merge(
        answers[["recommendation_id", Score.MODEL_VERSION, "arm"]], on="recommendation_id"
    )
    events = pd.DataFrame(
        _read_jsonl(log_dir(ws) / EVENTS_FILE),
        columns=["recommendation_id", C.ITEM_ID, C.EVENT_TYPE, C.OCCURRED_AT, "customer"],
    )
    attributed = _attribute(answers, shown, events, window_days, until)
    prices = item_prices(ws)
    ab, note = _ab(answers, attributed, prices)
    result = RecsReadout(
        since=since.isoformat() if since else None,
        until=until.isoformat() if until else None,
        window_days=window_days,
        answers=len(answers),
        unattributed_events=int(
            events["recommendation_id"].isin(answers["recommendation_id"]).sum() - len(attributed)
        ),
        by_source=_by_source(shown, attributed, prices),
        arms={
            arm: sorted(map(str, group[Score.MODEL_VERSION].dropna().unique()))
            for arm, group in answers.groupby("arm")
        },
        ab=None if ab is None else campaigns.jsonable(ab.as_dict()),
        ab_note=note,
        ab_readout=ab,
    )
    if log and len(answers):
        result = replace(result, mlflow_runs=log_readout(ws, result))
    return result


def _attribute(
    answers: pd.DataFrame,
    shown: pd.DataFrame,
    events: pd.DataFrame,
    window_days: int,
    until: datetime | None,
) -> pd.DataFrame:
    """Events of a shown item within the window after its answer: one row per event."""
    if events.empty or shown.empty:
        return pd.DataFrame(columns=[*shown.columns, C.EVENT_TYPE, "customer", "at"])
    at = pd.to_datetime(events[C.OCCURRED_AT])
    events = events.assign(**{C.OCCURRED_AT: at, C.ITEM_ID: events[C.ITEM_ID].astype(str)})
    if until is not None:
        events = events[events[C.OCCURRED_AT] < pd.Timestamp(until)]
    joined = events.merge(shown, on=["recommendation_id", C.ITEM_ID]).merge(
        answers[["recommendation_id", "at", "customer"]],
        on="recommendation_id",
        suffixes=("_event", ""),
    )
    start = joined["at"] - CLOCK_SKEW
    end = joined["at"] + timedelta(days=window_days)
    inside = (joined[C.OCCURRED_AT] >= start) & (joined[C.OCCURRED_AT] <= end)
    return joined[inside].reset_index(drop=True)


def wilson(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of a rate (scipy's), (0, 0) for no trials."""
    if n == 0:
        return (0.0, 0.0)
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (float(ci.low), float(ci.high))


def _mean_ci(values: np.ndarray) -> tuple[float, float]:
    if len(values) < 2:
        return (math.nan, math.nan)
    half = float(stats.norm.ppf(0.975)) * float(values.std(ddof=1)) / math.sqrt(len(values))
    mean = float(values.mean())
    return (mean - half, mean + half)


def _by_source(
    shown: pd.DataFrame, attributed: pd.DataFrame, prices: pd.Series | None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    groups = [
        *((v, s, g) for (v, s), g in shown.groupby([Score.MODEL_VERSION, "source"], dropna=False)),
        *((v, ALL_SOURCES, g) for v, g in shown.groupby(Score.MODEL_VERSION, dropna=False)),
    ]
    keys = ["recommendation_id", C.ITEM_ID]
    for version, source, group in groups:
        impressions = group[keys].drop_duplicates()
        n = len(impressions)
        mine = attributed.merge(impressions, on=keys)
        row: dict[str, Any] = {
            Score.MODEL_VERSION: None if pd.isna(version) else str(version),
            "source": source,
            "impressions": n,
        }
        hit = {t: mine.loc[mine[C.EVENT_TYPE] == t, keys].drop_duplicates() for t in RATES}
        for event_type, rate in RATES.items():
            row[COUNTS[event_type]] = len(hit[event_type])
            row[rate] = len(hit[event_type]) / n if n else 0.0
            row[rate + "_ci"] = wilson(len(hit[event_type]), n)
        row["revenue"] = row["revenue_per_impression"] = row["revenue_per_impression_ci"] = None
        if prices is not None and n:
            value = impressions.merge(hit[C.EVENT_PURCHASE].assign(_b=1), on=keys, how="left")
            bought = value["_b"].fillna(0).to_numpy()
            per = bought * prices.reindex(value[C.ITEM_ID]).fillna(0).to_numpy(dtype=float)
            row["revenue"] = float(per.sum())
            row["revenue_per_impression"] = float(per.mean())
            row["revenue_per_impression_ci"] = _mean_ci(per)
        rows.append(row)
    return sorted(rows, key=lambda r: (str(r[Score.MODEL_VERSION]), r["source"] == ALL_SOURCES))


def customer_outcomes(
    answers: pd.DataFrame, attributed: pd.DataFrame, prices: pd.Series | None
) -> pd.DataFrame:
    """One row per customer of `/recommendations`: arm, visited, converted (and revenue)."""
    mine = answers[(answers["surface"] == "recommendations") & answers["customer"].notna()]
    customers = mine.groupby("customer")["arm"].agg(lambda a: a.iloc[0]).rename(C.ARM)
    rows = customers.to_frame()
    hits = attributed[attributed["customer"].isin(rows.index)]
    for outcome, event_type in ((C.VISITED, C.EVENT_VIEW), (C.CONVERTED, C.EVENT_PURCHASE)):
        who = set(hits.loc[hits[C.EVENT_TYPE] == event_type, "customer"])
        rows[outcome] = rows.index.isin(who).astype("float64")
    if prices is not None:
        bought = hits[hits[C.EVENT_TYPE] == C.EVENT_PURCHASE].drop_duplicates(
            ["recommendation_id", C.ITEM_ID]
        )
        value = prices.reindex(bought[C.ITEM_ID]).fillna(0).to_numpy(dtype=float)
        per = pd.Series(value, index=bought["customer"].to_numpy()).groupby(level=0).sum()
        rows[C.REVENUE] = per.reindex(rows.index).fillna(0.0)
    return rows.reset_index(names=C.CUSTOMER_ID)


def _ab(
    answers: pd.DataFrame, attributed: pd.DataFrame, prices: pd.Series | None
) -> tuple[campaigns.Readout | None, str | None]:
    """The arms compared as a campaign (control: champion), or why they cannot be."""
    rows = customer_outcomes(answers, attributed, prices)
    arms = set(rows[C.ARM]) if len(rows) else set()
    if arms != {CHAMPION_ARM, CHALLENGER_ARM}:
        return None, (
            "only the champion arm was served (no experiments.recommender.challenger_share, or "
            "no @challenger)"
            if arms <= {CHAMPION_ARM}
            else f"arms {sorted(arms)} cannot be compared"
        )
    shares = answers.loc[answers["arm"].notna(), "challenger_share"].dropna()
    share = float(shares.iloc[-1]) if len(shares) else 0.0
    if shares.nunique() > 1:
        note = f"challenger_share changed during the period ({sorted(shares.unique())})"
    else:
        note = None
    result = campaigns.readout(
        rows,
        campaign_id="recommender",
        control=CHAMPION_ARM,
        intended_split={CHAMPION_ARM: 1 - share, CHALLENGER_ARM: share},
    )
    return result, note


def log_readout(ws: Workspace, result: RecsReadout) -> dict[str, str]:
    """One run per served model version in experiment `recommender`, tagged `model_version`."""
    import mlflow

    from churnrec.store.tracking import start_run

    runs = {}
    arm_of = {v: arm for arm, versions in result.arms.items() for v in versions}
    for version in sorted(
        {r[Score.MODEL_VERSION] for r in result.by_source if r[Score.MODEL_VERSION]}
    ):
        tags = {
            Score.MODEL_VERSION: version,
            "readout": "online",
            "arm": arm_of.get(version, ""),
            "window_days": str(result.window_days),
        }
        with start_run(ws, EXPERIMENT, run_name=f"online readout v{version}", tags=tags) as run:
            metrics: dict[str, float] = {}
            for row in result.by_source:
                if row[Score.MODEL_VERSION] != version:
                    continue
                key = f"online_{campaigns._key(row['source'])}"
                metrics[f"{key}_impressions"] = row["impressions"]
                metrics.update({f"{key}_{rate}": row[rate] for rate in RATES.values()})
                if row["revenue"] is not None:
                    metrics[f"{key}_revenue"] = row["revenue"]
            for lift in (result.ab or {}).get("lifts", []):
                metrics[f"ab_{lift['outcome']}_lift"] = lift["absolute"]
            if result.ab is not None:
                metrics["ab_srm_p_value"] = result.ab["srm_p_value"]
            mlflow.log_metrics(
                {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
            )
            mlflow.log_dict(result.as_dict(), "online_readout.json")
            runs[version] = run.info.run_id
    return runs
