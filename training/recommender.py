"""The `recommender` training job: ALS and BPR against popularity and buy-it-again.

The holdout is the last `holdout_days` of orders (one global date, `training/rec_split.py`).
Every candidate is fitted on the lines before it and asked for each holdout customer's top k
*including* items they bought before, because what a customer buys next often is a repeat:
that is the only way a model, popularity and buy-it-again compete on the same truth. A second
"discovery" score asks the question of a storefront's default (`exclude_purchased=True`) on
only the items new to each customer.

The best candidate by holdout `ndcg_at_10` (ALS, BPR, or ALS/BPR blended with buy-it-again at
a few weights) is refitted on all orders so that the served model knows the newest customers
and items, then logged, registered and promoted on the holdout score.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.models.base import ModelKind
from churnrec.models.popularity import BuyAgainRecommender, PopularityRecommender
from churnrec.models.recommender import Recommender, RecommenderConfig
from churnrec.progress import stage
from churnrec.store.packaging import log_churnrec_model
from churnrec.training.errors import SkippedTraining
from churnrec.training.promotion import PromotionDecision, register_and_promote
from churnrec.training.ranking_metrics import evaluate_recommendations
from churnrec.training.rec_split import RecSplit, interactions_from_lines, rec_holdout_split
from churnrec.training.tracking import (
    dataset_fingerprint,
    log_dataset,
    log_figure,
    log_metrics_with_baselines,
    log_params,
    start_run,
)
from churnrec.workspace import Workspace

EXPERIMENT = ModelKind.RECOMMENDER.value
PROMOTION_METRIC = "ndcg_at_10"


class RecommenderTrainConfig(BaseModel):
    """What `churnrec train recommender` does; the `recommender:` section of the config file."""

    model_config = ConfigDict(extra="forbid")

    holdout_days: int = Field(28, ge=1)
    k: int = Field(10, ge=1, le=100)
    algorithms: list[str] = Field(default_factory=lambda: ["als", "bpr"])
    # 0.99 is buy-it-again first with CF filling the rest: the blend never ranks below the
    # buy-again baseline only because no weight was tried.
    blend_weights: list[float] = Field(default_factory=lambda: [0.3, 0.6, 0.9, 0.99])
    max_eval_customers: int = Field(10_000, ge=100, description="deterministic sample above this")
    model: RecommenderConfig = Field(default_factory=RecommenderConfig)


@dataclass(frozen=True)
class RecommenderTrainResult:
    run_id: str
    metrics: dict[str, float]  # chosen model's metrics plus `<baseline>_<metric>` keys
    chosen: str  # e.g. "als", "als+buy_again(0.6)"
    promotion: PromotionDecision
    split_at: date
    n_eval_customers: int
    model_uri: str


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


def _eval_customers(split: RecSplit, limit: int, seed: int) -> list[str]:
    ids = sorted(split.truth)
    if len(ids) <= limit:
        return ids
    return sorted(pd.Series(ids).sample(n=limit, random_state=seed).tolist())


def _discovery_truth(split: RecSplit, train: pd.DataFrame, ids: list[str]) -> dict[str, set[str]]:
    """Holdout items each customer had not bought before the split."""
    bought = train.groupby(C.CUSTOMER_ID)[C.ITEM_ID].agg(set)
    out = {}
    for cid in ids:
        new = split.truth[cid] - bought.get(cid, set())
        if new:
            out[cid] = new
    return out


def _candidate_figure(scores: dict[str, float]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(scores) + 1.2))
    names = list(scores)
    ax.barh(names, [scores[n] for n in names], color="#4C72B0")
    ax.set_xlabel("holdout NDCG@10")
    ax.set_title("Recommender candidates and baselines on the same holdout")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def train_recommender(
    workspace: Workspace | str | Path, config: RecommenderTrainConfig | None = None
) -> RecommenderTrainResult:
    """Fit candidates, compare with baselines on the holdout, refit the best, track, promote."""
    ws = Workspace.at(workspace)
    config = config or RecommenderTrainConfig()
    k = config.k
    items = pd.read_parquet(ws.table_path(C.ITEMS)) if ws.has_table(C.ITEMS) else None
    with stage("recommender: holdout split") as s:
        lines = load_order_lines(ws)
        split = rec_holdout_split(lines, config.holdout_days)
        train = interactions_from_lines(split.train_lines)
        ids = _eval_customers(split, config.max_eval_customers, config.model.seed)
        truth = {cid: split.truth[cid] for cid in ids}
        discovery = _discovery_truth(split, train, ids)
        n_items = int(train[C.ITEM_ID].nunique())
        s.note(
            f"split at {split.split_at.date()}: {len(train):,} train interactions, "
            f"{len(ids):,} holdout customers ({len(split.cold_start_truth):,} cold-start kept apart)"
        )

    def evaluate(recs: dict[str, list[str]], on: dict[str, set[str]] = truth) -> dict[str, float]:
        out = evaluate_recommendations(recs, on, k, n_items=n_items)
        out.pop("n_customers", None)
        return out

    with stage("recommender: baselines") as s:
        popularity = PopularityRecommender.fit(train, items)
        baselines = {
            "popularity": evaluate(popularity.recommend_batch(ids, k, exclude_purchased=False)),
            "buy_again": evaluate(BuyAgainRecommender.fit(train).recommend_batch(ids, k)),
        }
        popular_discovery = (
            evaluate(popularity.recommend_batch(ids, k, exclude_purchased=True), discovery)
            if discovery
            else {}
        )
        s.note(", ".join(f"{n} ndcg@{k}={m[f'ndcg_at_{k}']:.4f}" for n, m in baselines.items()))

    candidates: dict[str, tuple[RecommenderConfig, dict[str, float]]] = {}
    fitted: dict[str, Recommender] = {}
    for algorithm in config.algorithms:
        with stage(f"recommender: fit {algorithm}") as s:
            cfg = config.model.model_copy(update={"algorithm": algorithm, "blend_buy_again": None})
            model = Recommender.fit(train, items, cfg)
            fitted[algorithm] = model
            candidates[algorithm] = (
                cfg,
                evaluate(model.recommend_batch(ids, k, exclude_purchased=False)),
            )
            s.note(f"ndcg@{k}={candidates[algorithm][1][f'ndcg_at_{k}']:.4f}")
    best_cf = max(config.algorithms, key=lambda a: candidates[a][1][PROMOTION_METRIC])
    with stage(f"recommender: blend {best_cf} with buy-it-again") as s:
        base = fitted[best_cf]
        for w in config.blend_weights:
            cfg = base.config.model_copy(update={"blend_buy_again": w})
            blended = Recommender(cfg, base.model, base.history, base.popularity)
            recs = {
                cid: [r.item_id for r in blended.recommend(cid, k=k, exclude_purchased=False)]
                for cid in ids
            }
            candidates[f"{best_cf}+buy_again({w:g})"] = (cfg, evaluate(recs))
        s.note(
            ", ".join(
                f"{n}={m[PROMOTION_METRIC]:.4f}" for n, (_, m) in candidates.items() if "+" in n
            )
        )
    chosen = max(candidates, key=lambda n: (candidates[n][1][PROMOTION_METRIC], -len(n)))
    chosen_config, metrics = candidates[chosen]
    discovery_metrics = (
        evaluate(fitted[best_cf].recommend_batch(ids, k, exclude_purchased=True), discovery)
        if discovery
        else {}
    )

    with stage("recommender: refit on all orders") as s:
        all_interactions = interactions_from_lines(lines)
        final = Recommender.fit(all_interactions, items, chosen_config)
        s.note(f"{chosen}: {len(all_interactions):,} interactions")

    with stage("recommender: track in MLflow") as s:
        truth_frame = pd.DataFrame(
            [(c, i) for c, its in sorted(truth.items()) for i in sorted(its)],
            columns=[C.CUSTOMER_ID, C.ITEM_ID],
        )
        with start_run(ws, EXPERIMENT, run_name=f"recommender-{split.split_at.date()}") as run:
            run_id = run.info.run_id
            log_params(
                {
                    "holdout_days": config.holdout_days,
                    "split_at": split.split_at.date(),
                    "k": k,
                    "chosen": chosen,
                    "n_eval_customers": len(ids),
                    "n_cold_start_customers": len(split.cold_start_truth),
                    "evaluation": "top-k including previously bought items, binary relevance",
                    "served_model": "refit on all orders with the chosen config",
                    "model": chosen_config.model_dump(),
                }
            )
            log_dataset(train, name="recommender_train", context="training", source=ws.orders_path)
            log_dataset(
                truth_frame, name="recommender_holdout", context="holdout", source=ws.orders_path
            )
            candidate_metrics = {
                f"{name.replace('+', '_').replace('(', '_').replace(')', '')}_{key}": value
                for name, (_, m) in candidates.items()
                for key, value in m.items()
            }
            discovery_logged = {f"discovery_{key}": v for key, v in discovery_metrics.items()}
            discovery_logged.update(
                {f"popularity_discovery_{key}": v for key, v in popular_discovery.items()}
            )
            log_metrics_with_baselines(
                {**metrics, **candidate_metrics, **discovery_logged}, baselines=baselines
            )
            scores = {name: m[PROMOTION_METRIC] for name, (_, m) in candidates.items()}
            scores.update({f"baseline: {n}": m[PROMOTION_METRIC] for n, m in baselines.items()})
            log_figure(_candidate_figure(scores), "candidates_ndcg.png")
            example = pd.DataFrame({C.CUSTOMER_ID: ids[:3], "k": [k] * min(3, len(ids))})
            model_uri = log_churnrec_model(final, ModelKind.RECOMMENDER, input_example=example)
        promotion = register_and_promote(
            ws,
            model_uri,
            name=ModelKind.RECOMMENDER.value,
            run_id=run_id,
            metric=PROMOTION_METRIC,
            value=metrics[PROMOTION_METRIC],
            higher_is_better=True,
            holdout_id=f"{split.split_at.date()}+{config.holdout_days}d#{dataset_fingerprint(truth_frame)}",
        )
        s.note(f"run {run_id}, {promotion.name} v{promotion.version} @{promotion.alias}")
    all_metrics = dict(metrics)
    for name, values in baselines.items():
        all_metrics.update({f"{name}_{key}": v for key, v in values.items()})
    return RecommenderTrainResult(
        run_id=run_id,
        metrics=all_metrics,
        chosen=chosen,
        promotion=promotion,
        split_at=split.split_at.date(),
        n_eval_customers=len(ids),
        model_uri=model_uri,
    )
