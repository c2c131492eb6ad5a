"""The `recommender` training job: a repeat-aware reranker against simple rules, served as measured.

Every choice is made on validation; the holdout asks `rank` next to the rules on the same
customers. Guest lines count in item statistics, never in a customer list, truth or metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.features.db import connect
from churnrec.features.interactions import interactions_of_lines
from churnrec.models.base import ModelKind
from churnrec.models.ranking.baskets import BasketLog
from churnrec.models.ranking.sources import als_top_k, buy_again_top_k
from churnrec.models.recommender import RULE_STRATEGY, RankerConfig, Recommender
from churnrec.progress import stage
from churnrec.store.tracking import dataset_fingerprint
from churnrec.training.errors import SkippedTraining
from churnrec.training.job import Candidate, Evaluation, JobSpec, Metric, run_job
from churnrec.training.minimum_data import MinimumData, check_orders
from churnrec.training.promotion import RECOMMENDER_GUARDS, ChampionScorer
from churnrec.training.ranking_metrics import (
    evaluate_recommendations,
    paired_mean_difference,
    per_customer_ndcg,
    ranked_lists,
    split_truth,
)
from churnrec.training.rec_cart import CART_WEIGHTS, evaluate_cart, hidden_item_baskets
from churnrec.training.rec_ranker import (
    RerankerParams,
    build_rank_frame,
    fit_reranker,
    model_before,
    sample_ids,
    stack,
)
from churnrec.training.rec_split import RecWindows, rec_windows
from churnrec.training.splits import fold_id
from churnrec.workspace import Workspace

PROMOTION_METRIC = "ndcg_at_10"
RULE_DECAYS = (0.5, 0.8, 0.95)


class RecommenderTrainConfig(BaseModel):
    """What `churnrec train recommender` does; the `recommender:` section of the config file."""

    model_config = ConfigDict(extra="forbid")

    holdout_days: int = Field(28, ge=1)
    n_train_cutoffs: int = Field(3, ge=1, le=24)
    k: int = Field(10, ge=1, le=100)
    max_eval_customers: int = Field(10_000, ge=100, description="deterministic sample above this")
    max_train_customers: int = Field(20_000, ge=10, description="per training cut-off")
    max_cart_baskets: int = Field(2_000, ge=10)
    n_bootstrap: int = Field(1000, ge=100)
    ranker: RankerConfig = Field(
        default_factory=RankerConfig, description="the served recommender (its ALS is the baseline)"
    )
    minimum_data: MinimumData = Field(
        default_factory=lambda: MinimumData(customers=20, history_days=14),
        description="checked before training (training.minimum_data)",
    )
    reranker_grid: list[RerankerParams] = Field(
        default_factory=lambda: [RerankerParams(), RerankerParams(num_leaves=15)]
    )


def load_order_lines(ws: Workspace) -> pd.DataFrame:
    """Order lines with an item id, the columns the split needs."""
    manifest = ws.read_manifest()
    orders_info = manifest.get("tables", {}).get(C.ORDERS, {})
    if not orders_info.get("has_item_ids", True):
        raise SkippedTraining("the orders have no item ids, so there is nothing to recommend")
    cols = [C.CUSTOMER_ID, C.ORDER_ID, C.ITEM_ID, C.ORDERED_AT, C.QUANTITY, C.IS_RETURN]
    lines = pd.read_parquet(ws.orders_path, columns=cols)
    lines = lines[lines[C.ITEM_ID].notna()]
    if lines.empty:
        raise SkippedTraining("no order line has an item id, so there is nothing to recommend")
    return lines


def load_guest_lines(ws: Workspace) -> pd.DataFrame | None:
    """The stored guest lines with an item id (None when the shop has none)."""
    if not ws.has_table(C.GUEST_ORDERS):
        return None
    cols = [C.ORDER_ID, C.ITEM_ID, C.ORDERED_AT, C.IS_RETURN]
    guests = pd.read_parquet(ws.table_path(C.GUEST_ORDERS), columns=cols)
    guests = guests[guests[C.ITEM_ID].notna()]
    return None if guests.empty else guests


def _history_sets(lines: pd.DataFrame, ids: list[str]) -> dict[str, set[str]]:
    mine = lines[lines[C.CUSTOMER_ID].isin(set(ids))]
    return {str(c): set(i) for c, i in mine.groupby(C.CUSTOMER_ID)[C.ITEM_ID]}


def _with_booster(model: Recommender, config: RankerConfig, booster):
    out = Recommender(config, model.sources, model.categories, model.as_of_day, booster)
    out.cart_weight = model.cart_weight
    return out


class _Scorer:
    """Metrics of one recommendation dict on a truth, with the repeat / explore split."""

    def __init__(self, truth, history, k: int, n_items: int) -> None:
        self.truth, self.k, self.n_items = truth, k, n_items
        self.repeat, self.explore = split_truth(truth, history)

    def all(self, recs: dict[str, list[str]]) -> dict[str, float]:
        k = self.k
        out = evaluate_recommendations(recs, self.truth, k, n_items=self.n_items)
        out.pop("n_customers", None)
        if self.repeat:
            out[f"repeat_ndcg_at_{k}"] = evaluate_recommendations(
                recs, self.repeat, k, n_items=self.n_items
            )[f"ndcg_at_{k}"]
        return out | self.explore_only(recs)

    def explore_only(self, recs: dict[str, list[str]], prefix: str = "") -> dict[str, float]:
        if not self.explore:
            return {}
        ex = evaluate_recommendations(recs, self.explore, self.k, n_items=self.n_items)
        return {
            f"{prefix}explore_{m}_at_{self.k}": ex[f"{m}_at_{self.k}"] for m in ("recall", "ndcg")
        }


def _figure(scores: dict[str, float]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(scores) + 1.2))
    names = list(scores)
    ax.barh(names, [scores[n] for n in names], color="#4C72B0")
    ax.set_xlabel("holdout NDCG@10")
    ax.set_title("Served recommender and baselines on the same holdout")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def choose_on_validation(
    win: RecWindows, items: pd.DataFrame | None, config: RecommenderTrainConfig, s: Any
) -> tuple[RankerConfig, Any, dict[str, float], float]:
    """(chosen ranker config, booster or None, validation NDCG@k per candidate, cart weight),
    from orders before the holdout only; `s` is the progress stage that gets the summary."""
    k, seed = config.k, config.ranker.seed
    rule_cfg = config.ranker.model_copy(update={"mode": "rule"})
    val_truth = win.truth(win.val_start)
    if not any(val_truth.values()):  # a tiny window: nothing to choose on
        raise SkippedTraining(
            f"no customer with earlier orders bought in the {config.holdout_days}-day validation "
            f"window from {win.val_start.date()}; use a larger holdout_days"
        )
    frames = []
    for cutoff in win.train_cutoffs:
        m = model_before(win, items, rule_cfg, cutoff)
        frames.append(build_rank_frame(m, win.truth(cutoff), seed, config.max_train_customers))
    train = stack(frames)
    val_model = model_before(win, items, rule_cfg, win.val_start)
    val_frame = build_rank_frame(val_model, val_truth, seed, config.max_train_customers)
    ids = sample_ids(list(val_truth), config.max_eval_customers, seed)
    truth = {c: val_truth[c] for c in ids}
    n_items = len(val_model.sources.log.items)

    def ndcg(model: Recommender) -> float:
        recs = ranked_lists(model.rank(ids, k), ids)
        return evaluate_recommendations(recs, truth, k, n_items=n_items)[f"ndcg_at_{k}"]

    scores: dict[str, float] = {}
    for decay in RULE_DECAYS:
        cfg = rule_cfg.model_copy(update={"rule_decay": decay})
        scores[f"rule({decay:g})"] = ndcg(_with_booster(val_model, cfg, None))
    best_rule = max(RULE_DECAYS, key=lambda d: scores[f"rule({d:g})"])  # first of equals
    rank_cfg = config.ranker.model_copy(update={"mode": "reranker", "rule_decay": best_rule})
    best = None
    for params in config.reranker_grid:
        booster = fit_reranker(train, val_frame, params, seed, k)
        name = f"reranker(num_leaves={params.num_leaves},lr={params.learning_rate:g})"
        scores[name] = ndcg(_with_booster(val_model, rank_cfg, booster))
        if best is None or scores[name] > best[1]:
            best = (name, scores[name], booster)
    s.note(
        f"{train.n_customers:,} training groups, {len(train.label):,} pairs; validation "
        + ", ".join(f"{n}={v:.4f}" for n, v in scores.items())
    )
    rule_score = scores[f"rule({best_rule:g})"]
    if best is None or not best[1] > rule_score:
        chosen_cfg, booster = rule_cfg.model_copy(update={"rule_decay": best_rule}), None
        scores["chosen"] = rule_score
    else:
        chosen_cfg, booster = rank_cfg, best[2]
        scores["chosen"] = best[1]
    chosen_val = _with_booster(val_model, chosen_cfg, booster)
    baskets = hidden_item_baskets(
        win.window_lines(win.val_start), val_model, config.max_cart_baskets, seed
    )
    # a tiny window (`holdout_days: 2`) may hold no basket to hide an item from: keep 0.5
    cart_scores = {
        w: evaluate_cart(chosen_val, baskets, k, cart_weight=w)[f"cart_ndcg_at_{k}"]
        for w in (CART_WEIGHTS if baskets else ())
    }
    cart_weight = max(CART_WEIGHTS, key=lambda w: (cart_scores[w], -w)) if baskets else 0.5
    return chosen_cfg, booster, scores, cart_weight


def evaluate(ws: Workspace, config: RecommenderTrainConfig) -> Evaluation:
    """Choose on validation, report on the holdout, refit sources through the newest day."""
    items = pd.read_parquet(ws.table_path(C.ITEMS)) if ws.has_table(C.ITEMS) else None
    with connect(ws) as con:
        check_orders(ModelKind.RECOMMENDER.value, config.minimum_data, con)
    with stage("recommender: time split") as s:
        lines = load_order_lines(ws)
        try:
            win = rec_windows(
                lines, config.holdout_days, config.n_train_cutoffs, load_guest_lines(ws)
            )
        except ValueError as exc:
            raise SkippedTraining(str(exc)) from exc
        guests = 0 if win.guest_lines is None else len(win.guest_lines)
        s.note(
            f"training cut-offs {', '.join(str(c.date()) for c in win.train_cutoffs)}; "
            f"validation from {win.val_start.date()}; holdout from {win.holdout_start.date()}"
            + (f"; {guests:,} guest lines (item statistics only)" if guests else "")
        )
    with stage("recommender: reranker and rule, chosen on validation") as s:
        chosen_cfg, booster, val_scores, cart_weight = choose_on_validation(win, items, config, s)
    candidates = [
        Candidate(name, None, score, is_rule=name.startswith("rule("))
        for name, score in val_scores.items()
        if name != "chosen"
    ]
    if chosen_cfg.mode == "rule":
        chosen = Candidate(RULE_STRATEGY, None, val_scores["chosen"], is_rule=True)
    else:
        name = max((c for c in candidates if not c.is_rule), key=lambda c: c.val_score).name
        chosen = Candidate(name, None, val_scores["chosen"])
    report = holdout_report(win, items, config, chosen_cfg, booster, cart_weight)
    with stage("recommender: refit sources on all orders") as s:
        final = model_before(win, items, chosen_cfg, win.end, booster)
        final.cart_weight = cart_weight
        s.note(
            f"{len(final.sources.log.users):,} customers, {len(final.sources.log.items):,} items"
        )
    last_day = (win.end - pd.Timedelta(days=1)).date()
    report["extra"][f"val_{PROMOTION_METRIC}"] = chosen.val_score
    report.update(
        chosen=chosen,
        candidates=candidates,
        served=final,
        trained_through=last_day,
        evaluated_on=f"{win.holdout_start.date()}..{last_day}",
        holdout_start=win.holdout_start.date(),
        params={
            "holdout_days": config.holdout_days,
            "split_at": win.holdout_start.date(),
            "val_start": win.val_start.date(),
            "train_cutoffs": ",".join(str(c.date()) for c in win.train_cutoffs),
            "chosen_ranker": chosen_cfg.model_dump(),
            "cart_weight": cart_weight,
            "evaluation": "served rank() with serving defaults (repeat + new); "
            "exclude_purchased judged on explore metrics",
            "served_model": "same ranker, sources refitted on all orders",
        },
        run_name=f"recommender-{win.holdout_start.date()}",
    )
    return Evaluation(**report)


def holdout_report(win, items, config, chosen_cfg, booster, cart_weight) -> dict:
    """The measured recommender (rebuilt at the holdout start) and every baseline, asked for
    the same holdout customers; paired intervals against the rules; cart-context metrics."""
    k, seed = config.k, config.ranker.seed
    with stage("recommender: holdout") as s:
        hist_lines = win.before(win.holdout_start)
        hold_truth = win.truth(win.holdout_start)
        if not hold_truth:
            raise SkippedTraining("no customer with earlier orders bought in the holdout window")
        ids = sample_ids(list(hold_truth), config.max_eval_customers, seed)
        truth = {c: hold_truth[c] for c in ids}
        hist_log = win.log_before(win.holdout_start)
        rule_cfg = chosen_cfg.model_copy(update={"mode": "rule"})
        base = Recommender.fit(hist_log, items, rule_cfg, win.holdout_start)
        base.cart_weight = cart_weight
        measured = _with_booster(base, chosen_cfg, booster)
        scorer = _Scorer(truth, _history_sets(hist_lines, ids), k, len(base.sources.log.items))
        served_recs = ranked_lists(measured.rank(ids, k), ids)
        metrics = scorer.all(served_recs)
        exclude_recs = ranked_lists(measured.rank(ids, k, exclude_purchased=True), ids)
        metrics.update(scorer.explore_only(exclude_recs, "exclude_purchased_"))
        baseline_recs = _baseline_recommendations(base, ids, k)
        baselines = {name: scorer.all(recs) for name, (recs, _) in baseline_recs.items()}
        for name, (_, explore) in baseline_recs.items():
            if explore is not None:
                baselines[name].update(scorer.explore_only(explore, "exclude_purchased_"))
        metrics.update(_paired_intervals(served_recs, baseline_recs, truth, config))
        baskets = hidden_item_baskets(
            win.window_lines(win.holdout_start), base, config.max_cart_baskets, seed
        )
        if baskets:
            metrics.update(evaluate_cart(measured, baskets, k, cart_weight=cart_weight))
            metrics["cart_weight"] = cart_weight
            for name in ("cooccurrence", "popularity"):
                baselines.setdefault(name, {}).update(
                    evaluate_cart(measured, baskets, k, baseline=name)
                )
        s.note(f"{len(ids):,} customers: ndcg@{k}={metrics[f'ndcg_at_{k}']:.4f}")
    truth_frame = pd.DataFrame(
        [(c, i) for c, its in sorted(truth.items()) for i in sorted(its)],
        columns=[C.CUSTOMER_ID, C.ITEM_ID],
    )
    scores = {"served": metrics[PROMOTION_METRIC]}
    for n, m in baselines.items():
        if PROMOTION_METRIC in m:
            scores[f"baseline: {n}"] = m[PROMOTION_METRIC]
    last_day = (win.end - pd.Timedelta(days=1)).date()
    return {
        "metrics": metrics,
        "baselines": baselines,
        "measured": measured,
        "input_example": pd.DataFrame({C.CUSTOMER_ID: ids[:3], "k": [k] * min(3, len(ids))}),
        "holdout_id": fold_id(win.holdout_start.date(), last_day, dataset_fingerprint(truth_frame)),
        "scorer": champion_scorer(
            hist_log,
            items,
            win.holdout_start,
            ids,
            truth,
            k,
            served_recs,
            len(base.sources.log.items),
        ),
        "scorer_reanchors": True,
        "baseline_predictions": {name: recs for name, (recs, _) in baseline_recs.items()},
        "extra": {"n_eval_customers": float(len(ids))},
        "datasets": [
            (interactions_of_lines(hist_lines), "recommender_train", "training"),
            (truth_frame, "recommender_holdout", "holdout"),
        ],
        "figures": {"candidates_ndcg.png": _figure(scores)},
        "selected_on": PROMOTION_METRIC,
    }


def _baseline_recommendations(base: Recommender, ids, k: int):
    """{name: (recommendations, new-items-only ones or None)} of every rule, read from `base` (the
    measured model in rule mode): its own basket log and sources, like for like."""
    src = base.sources
    factors = None if src.user_factors is None else (src.user_factors, src.item_factors)

    def top(factors, exclude_purchased: bool) -> dict[str, list[str]]:
        return als_top_k(src.log, src.stats, factors, ids, k, exclude_purchased=exclude_purchased)

    return {
        "popularity": (top(None, False), top(None, True)),  # no factors: popular items
        "buy_again": (buy_again_top_k(src.log, ids, k), None),
        "decayed_buy_again": (ranked_lists(base.rank(ids, k), ids), None),
        "als": (top(factors, False), top(factors, True)),
    }


def _paired_intervals(served_recs, baseline_recs, truth, config) -> dict[str, float]:
    """NDCG@k of the served answer minus each rule's, with paired bootstrap intervals."""
    k = config.k
    mine = per_customer_ndcg(served_recs, truth, k)
    out = {}
    for name in ("buy_again", "decayed_buy_again", "popularity"):
        theirs = per_customer_ndcg(baseline_recs[name][0], truth, k)
        diff, low, high = paired_mean_difference(
            mine, theirs, config.n_bootstrap, config.ranker.seed
        )
        out[f"ndcg_at_{k}_minus_{name}"] = diff
        out[f"ndcg_at_{k}_minus_{name}_ci_low"] = low
        out[f"ndcg_at_{k}_minus_{name}_ci_high"] = high
    return out


SPEC = JobSpec(
    kind=ModelKind.RECOMMENDER,
    headline=Metric(PROMOTION_METRIC, higher_is_better=True),
    baselines=("popularity", "buy_again", "decayed_buy_again", "als"),
    evaluate=evaluate,
    guards=RECOMMENDER_GUARDS,
)


def train_recommender(
    workspace: Workspace | str | Path, config: RecommenderTrainConfig | None = None
):
    """Run the recommender job through the shared runner (`training.job.run_job`)."""
    return run_job(SPEC, Workspace.at(workspace), config or RecommenderTrainConfig())


def champion_scorer(
    history: pd.DataFrame | BasketLog,
    items: pd.DataFrame | None,
    at: pd.Timestamp,
    ids: list[str],
    truth: dict[str, set[str]],
    k: int,
    challenger_recs: dict[str, list[str]],
    n_items: int,
) -> ChampionScorer:
    """Scores a champion's ranker on the challenger's holdout customers, re-anchored on the
    challenger's history (its own state was refit on those purchases); a champion of another class
    cannot be, so the scorer raises and promotion says so."""
    users = [u for u in ids if truth.get(u)]

    def predict(champion) -> dict[str, list[str]]:
        if not isinstance(champion, Recommender):
            raise TypeError(f"a {type(champion).__name__} champion cannot be re-anchored")
        served = Recommender.fit(history, items, champion.config, at, champion.booster)
        served.cart_weight = champion.cart_weight
        return ranked_lists(served.rank(ids, k), ids)

    def metrics(recs: dict[str, list[str]], rows: np.ndarray) -> dict[str, float]:
        ndcg = per_customer_ndcg(recs, truth, k)
        chosen = [users[i] for i in rows]
        shown = {item for u in chosen for item in recs.get(u, [])[:k]}
        return {
            PROMOTION_METRIC: float(np.mean([ndcg.get(u, 0.0) for u in chosen])),
            "coverage": len(shown) / max(n_items, 1),
        }

    return ChampionScorer(
        challenger=challenger_recs, predict=predict, metrics=metrics, n_rows=len(users)
    )
