"""The `demand` training job: weekly units per item for the next H weeks, judged on a later holdout.

Categories and the total are the sums of their items (bottom-up, so they always add up), with
intervals calibrated at their own level.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.features.demand import ALL_ITEMS, REVENUE, UNITS, WEEK_START, weekly_sales
from churnrec.models import demand as D
from churnrec.models.base import ModelKind
from churnrec.progress import stage
from churnrec.store.tracking import dataset_fingerprint
from churnrec.training import demand_methods as M
from churnrec.training.errors import SkippedTraining
from churnrec.training.job import (
    Candidate,
    Evaluation,
    JobSpec,
    Metric,
    choose,
    fit_candidates,
    run_job,
)
from churnrec.training.promotion import ChampionScorer
from churnrec.training.splits import CutoffPlan, NotEnoughHistoryError, TimeSplitter
from churnrec.workspace import Workspace

HEADLINE_METRIC = "demand_wape"
RULES = ("seasonal_naive", "moving_average")
MIN_HISTORY_WEEKS = 8  # weeks of history before the first forecast, at least
PRICE_WEEKS = 13  # weeks of sales an item's price is read from


class DemandTrainConfig(BaseModel):
    """What the demand job forecasts and which candidates it tries."""

    model_config = ConfigDict(extra="forbid")

    horizon_weeks: int = Field(8, ge=1, le=52, description="forecast the next H weeks")
    level: Literal["item", "category", "all"] = Field(
        "item",
        description="where the headline metric is measured: items, categories (item forecasts "
        "summed), or all (items, with categories and the total reported beside them)",
    )
    min_history_weeks: int = Field(MIN_HISTORY_WEEKS, ge=2)
    stat_max_series: int = Field(
        2_000, ge=0, description="per-series AutoETS/AutoTheta only up to this many series"
    )
    candidates: list[str] = Field(
        default_factory=lambda: ["lightgbm", "ets", "theta", "intermittent"],
        description="trained candidates tried (the two rules are always tried)",
    )
    n_estimators: int = Field(120, ge=10)
    train_weeks: int = Field(52, ge=8, description="newest weeks per series LightGBM reads")
    n_threads: int = Field(1, ge=1, description="LightGBM threads (1: fastest on a busy box)")


def methods(config: DemandTrainConfig) -> dict[str, M.Method]:
    """Name -> method: the rules first (they win ties), then the configured learners."""
    boosted = M.BoostedSettings(
        n_estimators=config.n_estimators,
        train_weeks=config.train_weeks,
        n_threads=config.n_threads,
    )
    known: dict[str, M.Method] = {
        "lightgbm": M.lightgbm_global(boosted),
        "ets": M.per_series("ets", config.stat_max_series),
        "theta": M.per_series("theta", config.stat_max_series),
        "intermittent": M.intermittent,
    }
    unknown = [c for c in config.candidates if c not in known]
    if unknown:
        raise ValueError(f"demand.candidates: unknown {unknown}; expected some of {list(known)}")
    return {
        "seasonal_naive": M.seasonal_naive,
        "moving_average": M.moving_average,
        **{name: known[name] for name in config.candidates},
    }


# --- the plan, in whole weeks -----------------------------------------------------------------
def week_plan(series: pd.DataFrame, config: DemandTrainConfig) -> CutoffPlan:
    """Cut-offs on Sundays: validation and holdout are the H weeks after each."""
    first = series[WEEK_START].min().date()
    last_sunday = series[WEEK_START].max().date() + timedelta(days=6)
    h = config.horizon_weeks
    have = series[WEEK_START].nunique()
    need = config.min_history_weeks + 3 * h
    splitter = TimeSplitter(7 * h, 1, 7 * h, 7 * config.min_history_weeks - 1)
    try:
        return splitter.plan(first, last_sunday)
    except NotEnoughHistoryError:
        raise SkippedTraining(
            f"demand: {have} full weeks of sales ({first}..{last_sunday}); forecasting "
            f"{h} weeks needs at least {need} ({config.min_history_weeks} weeks of history, then "
            f"{h} to train on, {h} for validation and {h} for the holdout): add older orders "
            "or use a smaller --horizon-weeks"
        ) from None


def _monday(cutoff: date) -> pd.Timestamp:
    """The Monday of the last week on or before the Sunday `cutoff`."""
    return pd.Timestamp(cutoff - timedelta(days=6))


def history_frame(series: pd.DataFrame, through: pd.Timestamp) -> pd.DataFrame:
    """The methods' input up to the week starting `through`: `unique_id, ds, y, price, ...`."""
    rows = series[series[WEEK_START] <= through]
    frame = pd.DataFrame(
        {
            M.ID: rows[C.ITEM_ID].to_numpy(),
            M.DS: rows[WEEK_START].to_numpy(),
            M.Y: rows[UNITS].to_numpy(),
        }
    )
    price = prices(rows)
    known = price.dropna()
    fill = float(known.median()) if len(known) else 0.0  # static features may not be NaN
    frame[M.PRICE] = frame[M.ID].map(price).astype("float64").fillna(fill)
    codes = {c: i for i, c in enumerate(sorted(series[C.CATEGORY].astype(str).unique()))}
    frame[M.CATEGORY_CODE] = rows[C.CATEGORY].astype(str).map(codes).to_numpy().astype("int64")
    return frame


def prices(rows: pd.DataFrame) -> pd.Series:
    """Per item: revenue per unit over its last `PRICE_WEEKS` weeks with sales (NaN: unknown)."""
    sold = rows[rows[UNITS] > 0]
    recent = sold.groupby(C.ITEM_ID, sort=True).tail(PRICE_WEEKS)
    sums = recent.groupby(C.ITEM_ID)[[UNITS, REVENUE]].sum(min_count=1)
    return (sums[REVENUE] / sums[UNITS]).replace([np.inf, -np.inf], np.nan)


def actuals(series: pd.DataFrame, start: pd.Timestamp, weeks: int) -> pd.DataFrame:
    """`unique_id, ds, y` of the `weeks` weeks from `start`."""
    end = start + pd.Timedelta(weeks=weeks - 1)
    rows = series[(series[WEEK_START] >= start) & (series[WEEK_START] <= end)]
    return pd.DataFrame(
        {M.ID: rows[C.ITEM_ID].to_numpy(), M.DS: rows[WEEK_START].to_numpy(), M.Y: rows[UNITS]}
    )


# --- one fit, scored -----------------------------------------------------------------------
@dataclass
class Fit:
    """A method's forecast of the H weeks after a cut-off, joined to what happened."""

    name: str
    forecast: pd.DataFrame  # unique_id, ds, yhat
    scored: pd.DataFrame  # unique_id, ds, y, yhat (forecast rows; y 0 when nothing was sold)


def fit_at(name: str, method: M.Method, history: pd.DataFrame, future: pd.DataFrame, h: int) -> Fit:
    """Fit `method` on the weeks of `history` and join its forecast to the `future` h weeks."""
    if history.empty:
        raise ValueError("no weeks of sales before the cut-off")
    forecast = method(history, h)
    if forecast[M.YHAT].isna().any():
        raise ValueError(f"{name} left {int(forecast[M.YHAT].isna().sum())} forecasts empty")
    scored = forecast.merge(future, on=[M.ID, M.DS], how="left").fillna({M.Y: 0.0})
    return Fit(name, forecast, scored)


def rollup(scored: pd.DataFrame, categories: pd.Series, level: str) -> pd.DataFrame:
    """Item rows summed to categories (or the total): bottom-up, so they add up."""
    if level == D.ITEM:
        return scored
    key = (
        scored[M.ID].map(categories).fillna("(no category)")
        if level == D.CATEGORY
        else pd.Series("total", index=scored.index)
    )
    grouped = scored.assign(**{M.ID: key.to_numpy()}).groupby([M.ID, M.DS], sort=True)
    return grouped[[M.Y, M.YHAT]].sum().reset_index()


def level_scales(history: pd.DataFrame, categories: pd.Series, level: str) -> pd.Series:
    """MASE scales per series of `level` from the history (rolled up first)."""
    return M.mase_scales(rollup(history.assign(**{M.YHAT: 0.0}), categories, level))


def conformal_for(fit: Fit, categories: pd.Series, level: str) -> M.Conformal:
    rolled = rollup(fit.scored, categories, level)
    return M.Conformal.calibrate(rolled[M.Y].to_numpy(), rolled[M.YHAT].to_numpy())


# --- the job ---------------------------------------------------------------------------------
def evaluate(ws: Workspace, config: DemandTrainConfig) -> Evaluation:
    """Choose on the validation weeks, measure on the holdout weeks, refit on every week."""
    from churnrec.features.db import connect

    M.use_numba_cache(ws.root / ".cache" / "numba")
    with stage("demand: weekly series"), connect(ws) as con:
        series = weekly_sales(con)
    return evaluate_series(series, config)


def evaluate_series(series: pd.DataFrame, config: DemandTrainConfig) -> Evaluation:
    """`evaluate` from the weekly series (`weekly_sales`): what the benchmark times."""
    with stage("demand: plan") as s:
        if series.empty:
            raise SkippedTraining("demand: no order lines with a date: no sales to forecast")
        plan = week_plan(series, config)
        s.note(
            f"{series[C.ITEM_ID].nunique():,} series x {series[WEEK_START].nunique()} weeks; "
            f"{plan.describe()}"
        )
    h = config.horizon_weeks
    categories = series.drop_duplicates(C.ITEM_ID).set_index(C.ITEM_ID)[C.CATEGORY]
    level = D.CATEGORY if config.level == "category" else D.ITEM
    table = methods(config)
    validation: dict[str, Fit] = {}

    @functools.cache  # the methods' input and actual weeks, built once for every candidate
    def window(cutoff: date) -> tuple[pd.DataFrame, pd.DataFrame]:
        monday = _monday(cutoff)
        return history_frame(series, monday), actuals(series, monday + pd.Timedelta(weeks=1), h)

    def fit_on(name: str, cutoff: date) -> Fit:
        return fit_at(name, table[name], *window(cutoff), h)

    def make(name: str) -> Candidate:
        fit = fit_on(name, plan.validation_cutoff)
        validation[name] = fit
        rolled = rollup(fit.scored, categories, level)
        wape = float(np.abs(rolled[M.Y] - rolled[M.YHAT]).sum() / max(rolled[M.Y].sum(), 1e-12))
        return Candidate(name, None, wape, is_rule=name in RULES)

    candidates, dropped = fit_candidates("demand", {n: lambda n=n: make(n) for n in table})
    chosen = choose(candidates, SPEC.headline)
    holdout: dict[str, Fit] = {}
    for name in dict.fromkeys([chosen.name, *RULES]):
        if name in validation:
            with stage(f"demand: {name} through {plan.holdout_cutoff}, scored on the holdout"):
                holdout[name] = fit_on(name, plan.holdout_cutoff)
    with stage(f"demand: {chosen.name} refit through {plan.observed_until}"):
        served_fit = fit_on(chosen.name, plan.observed_until)
    measured_fit = holdout[chosen.name]
    history, _ = window(plan.holdout_cutoff)
    report = HoldoutReport(series, categories, plan, config, history)
    metrics, baselines, extra = report.metrics(chosen.name, validation, holdout)
    measured = report.model(measured_fit, validation[chosen.name], plan.holdout_cutoff)
    served = report.model(served_fit, measured_fit, plan.observed_until)
    for c in candidates:
        c.model = c.name
    holdout_rows = rollup(measured_fit.scored, categories, D.ITEM)
    fingerprint = dataset_fingerprint(holdout_rows[[M.ID, M.DS, M.Y]])
    notes = [
        (
            f"weekly units for the next {h} weeks; chosen on validation: {chosen.name}; "
            f"holdout 80% interval coverage {metrics['demand_coverage_80']:.1%}, "
            f"95% {metrics['demand_coverage_95']:.1%}"
        )
    ]
    notes += [f"candidate {name} left out: {why}" for name, why in dropped.items()]
    return Evaluation(
        chosen=chosen,
        metrics=metrics,
        baselines=baselines,
        served=served,
        measured=measured,
        input_example=pd.DataFrame({C.ITEM_ID: [str(served.items[C.ITEM_ID].iloc[0])]}),
        holdout_id=plan.fold_id("holdout", fingerprint),
        **plan.evaluation_dates(),
        candidates=candidates,
        extra=extra,
        params={**plan.ids(), "horizon_weeks_used": h, "level_used": config.level},
        scorer=report.scorer(measured_fit),
        run_name=f"demand {plan.holdout_cutoff} h{h}w",
        notes=notes,
    )


@dataclass
class HoldoutReport:
    """Holdout metrics per level, the servable models and the champion scorer of one run."""

    series: pd.DataFrame
    categories: pd.Series
    plan: CutoffPlan
    config: DemandTrainConfig
    history: pd.DataFrame  # the weeks the measured fit learned from (MASE scales)

    @property
    def level(self) -> str:
        return D.CATEGORY if self.config.level == "category" else D.ITEM

    def _scored(
        self, name: str, val: dict[str, Fit], hold: dict[str, Fit], level: str, prefix: str
    ):
        rolled = rollup(hold[name].scored, self.categories, level)
        yhat = rolled[M.YHAT].to_numpy()
        bounds = conformal_for(val[name], self.categories, level).bounds(yhat)
        scales = level_scales(self.history, self.categories, level)
        scale = rolled[M.ID].map(scales).to_numpy(dtype="float64")
        metrics = M.forecast_metrics(rolled[M.Y].to_numpy(), yhat, bounds, scale)
        return {f"{prefix}{k}": v for k, v in metrics.items()}

    def metrics(self, chosen: str, val: dict[str, Fit], hold: dict[str, Fit]):
        """Headline-level metrics of the chosen fit, every rule's on the same rows, and the
        other levels' (`demand_category_*`, `demand_total_*`) as extras."""
        main = self._scored(chosen, val, hold, self.level, "demand_")
        baselines = {
            rule: self._scored(rule, val, hold, self.level, "demand_")
            for rule in RULES
            if rule in hold
        }
        extra: dict[str, float] = {
            "n_series": float(self.series[C.ITEM_ID].nunique()),
            "n_weeks": float(self.series[WEEK_START].nunique()),
            "horizon_weeks": float(self.config.horizon_weeks),
            "n_holdout_rows": float(len(hold[chosen].scored)),
        }
        naive = baselines.get("seasonal_naive", {})
        for name in ("wape", "mase"):  # under 1: better than the same week last year
            if naive.get(f"demand_{name}"):
                extra[f"demand_{name}_vs_seasonal_naive"] = (
                    main[f"demand_{name}"] / naive[f"demand_{name}"]
                )
        for level in (D.ITEM, D.CATEGORY, "total"):
            if level == self.level:
                continue
            extra.update(self._scored(chosen, val, hold, level, f"demand_{level}_"))
            if "seasonal_naive" in hold:
                prefix = f"seasonal_naive_demand_{level}_"
                extra.update(self._scored("seasonal_naive", val, hold, level, prefix))
        return main, baselines, extra

    def model(self, fit: Fit, calibration: Fit, cutoff: date) -> D.DemandModel:
        """The servable table of `fit` with intervals calibrated on `calibration`'s weeks."""
        through = _monday(cutoff)
        past = self.series[self.series[WEEK_START] <= through]
        items = item_table(past)
        price = items.set_index(C.ITEM_ID)["price"]
        parts = []
        for level in (D.ITEM, D.CATEGORY, "total"):
            rolled = rollup(fit.forecast.assign(**{M.Y: 0.0}), self.categories, level)
            conformal = conformal_for(calibration, self.categories, level)
            bounds = conformal.bounds(rolled[M.YHAT].to_numpy())
            part = pd.DataFrame(
                {
                    D.LEVEL: level,
                    D.KEY: rolled[M.ID].astype(str).to_numpy(),
                    D.WEEK_START: pd.to_datetime(rolled[M.DS]).to_numpy(),
                    D.UNITS: rolled[M.YHAT].to_numpy(),
                    **{b: bounds[b.removeprefix("units_")] for b in D.BOUNDS},
                }
            )
            part[D.STEP] = ((part[D.WEEK_START] - through).dt.days // 7).astype("int64")
            if level == D.ITEM:
                part[D.REVENUE] = part[D.UNITS] * part[D.KEY].map(price).to_numpy(dtype=float)
                item_part = part
            else:  # revenue adds up like units
                keys = (
                    item_part[D.KEY].map(self.categories)
                    if level == D.CATEGORY
                    else pd.Series("total", index=item_part.index)
                )
                by_week = item_part.groupby([keys, item_part[D.WEEK_START]])[D.REVENUE]
                idx = pd.MultiIndex.from_arrays([part[D.KEY], part[D.WEEK_START]])
                part[D.REVENUE] = by_week.sum(min_count=1).reindex(idx).to_numpy()
            parts.append(part)
        forecasts = pd.concat(parts, ignore_index=True)
        forecasts[D.METHOD] = fit.name
        meta = {
            "method": fit.name,
            "trained_through": str(cutoff),
            "first_week": str((through + pd.Timedelta(weeks=1)).date()),
            "horizon_weeks": self.config.horizon_weeks,
            "single_series": bool((items[C.ITEM_ID] == ALL_ITEMS).all()),
        }
        return D.DemandModel(forecasts, items, meta)

    def scorer(self, measured: Fit) -> ChampionScorer:
        """Scores any demand model's forecast on these holdout item-weeks. A champion trained
        earlier is scored, with the challenger, on the item-weeks it forecast (`predict` records
        them first); with no overlap it cannot be scored here."""
        rows = measured.scored[[M.ID, M.DS, M.Y]].reset_index(drop=True)
        scales = level_scales(self.history, self.categories, D.ITEM)
        y = rows[M.Y].to_numpy()
        scale = rows[M.ID].map(scales).fillna(0.0).to_numpy()
        frame = pd.DataFrame({C.ITEM_ID: rows[M.ID].astype(str), WEEK_START: rows[M.DS]})
        covered = np.ones(len(rows), dtype=bool)

        def predict(model) -> np.ndarray:
            pred = np.asarray(model.predict(frame), dtype="float64")
            covered[:] = ~np.isnan(pred)
            if not covered.any():
                raise ValueError(f"its forecast covers none of the {len(pred)} holdout item-weeks")
            return np.nan_to_num(pred, nan=0.0)

        def metrics(pred: np.ndarray, idx: np.ndarray) -> dict[str, float]:
            idx = np.asarray(idx)[covered[np.asarray(idx)]]
            p = np.asarray(pred)[idx]
            err = np.abs(y[idx] - p).sum()
            return {
                "demand_wape": float(err / max(y[idx].sum(), 1e-12)),
                "demand_mase": float(err / max(scale[idx].sum(), 1e-12)),
            }

        return ChampionScorer(
            challenger=measured.scored[M.YHAT].to_numpy(),
            predict=predict,
            metrics=metrics,
            n_rows=len(rows),
        )


def item_table(past: pd.DataFrame) -> pd.DataFrame:
    """Per item: category, weeks since first sale, share of its category's recent units, price."""
    last = past[WEEK_START].max()
    recent = past[past[WEEK_START] > last - pd.Timedelta(weeks=D.COLD_WEEKS)]
    item_units = recent.groupby(C.ITEM_ID)[UNITS].sum()
    cat_units = recent.groupby(C.CATEGORY)[UNITS].sum()
    first = past.drop_duplicates(C.ITEM_ID).set_index(C.ITEM_ID)
    out = pd.DataFrame(
        {
            C.ITEM_ID: first.index.astype(str),
            C.CATEGORY: first[C.CATEGORY].astype(str).to_numpy(),
        }
    )
    # weeks since its first sale (the series is dense from there): under 8 is a cold item
    out["history_weeks"] = out[C.ITEM_ID].map(past.groupby(C.ITEM_ID).size()).fillna(0)
    out["history_weeks"] = out["history_weeks"].astype("int64")
    out["recent_units"] = out[C.ITEM_ID].map(item_units).fillna(0.0) / D.COLD_WEEKS
    share = out[C.ITEM_ID].map(item_units).fillna(0.0) / out[C.CATEGORY].map(cat_units)
    out["recent_share"] = share.replace([np.inf, -np.inf], np.nan).fillna(0.0)
    out["price"] = out[C.ITEM_ID].map(prices(past)).astype("float64")
    return out


SPEC = JobSpec(
    kind=ModelKind.DEMAND,
    headline=Metric(HEADLINE_METRIC, higher_is_better=False),
    baselines=RULES,
    evaluate=evaluate,
)


def train_demand(workspace: Workspace | str | Path, config: DemandTrainConfig | None = None):
    """Run the demand job through the shared runner (`training.job.run_job`)."""
    return run_job(SPEC, Workspace.at(workspace), config or DemandTrainConfig())
