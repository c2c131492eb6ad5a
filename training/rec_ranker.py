"""Training frames and the LightGBM lambdarank reranker of `models.recommender`.

Only groups with a positive are kept: a group without one teaches lambdarank nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec.models.ranking.rank_features import FEATURE_NAMES, build_pairs
from churnrec.models.recommender import RankerConfig, Recommender
from churnrec.training.rec_split import RecWindows

_BLOCK = 1024


class RerankerParams(BaseModel):
    """One LightGBM setting; a list of them is tried and chosen on the validation window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_leaves: int = Field(31, ge=2, le=1024)
    learning_rate: float = Field(0.05, gt=0, le=1)
    min_child_samples: int = Field(50, ge=1)
    n_estimators: int = Field(300, ge=1, le=5000)
    early_stopping_rounds: int = Field(30, ge=1)
    feature_fraction: float = Field(0.9, gt=0, le=1)


@dataclass(frozen=True)
class RankFrame:
    features: np.ndarray  # float32 n x len(FEATURE_NAMES)
    label: np.ndarray  # int8
    group: np.ndarray  # rows per (cut-off, customer), in row order
    n_customers: int


_EMPTY = RankFrame(
    np.zeros((0, len(FEATURE_NAMES)), np.float32), np.zeros(0, np.int8), np.zeros(0, np.int64), 0
)


def sample_ids(ids: list[str], limit: int, seed: int) -> list[str]:
    """`ids` sorted, or a seeded sample of `limit` of them (sorted) when there are more."""
    ids = sorted(ids)
    if len(ids) <= limit:
        return ids
    return sorted(pd.Series(ids).sample(n=limit, random_state=seed).tolist())


def build_rank_frame(
    model: Recommender, truth: dict[str, set[str]], seed: int, limit: int
) -> RankFrame:
    """Candidate pairs of (at most `limit`) customers with truth, labelled from `truth`."""
    ids = sample_ids([c for c in truth if model.known_customer(c)], limit, seed)
    users = model.sources.log.users.to_internal(ids)
    n_items = len(model.sources.log.items)
    # truth as sorted (customer position * n_items + item index) keys: labels by one lookup
    pos = np.repeat(np.arange(len(ids)), [len(truth[c]) for c in ids])
    items = model.sources.log.items.to_internal(
        [i for c in ids for i in truth[c]] or np.zeros(0, dtype=object), strict=False
    )
    truth_keys = np.unique(pos[items >= 0].astype(np.int64) * n_items + items[items >= 0])
    frames = [_EMPTY]
    for start in range(0, len(ids), _BLOCK):
        block = users[start : start + _BLOCK]
        pairs = build_pairs(model.sources, block, model.as_of_day, settings=model.config.candidates)
        label = np.isin((pairs.user + start).astype(np.int64) * n_items + pairs.item, truth_keys)
        label = label.astype(np.int8)
        # pairs come grouped by customer (np.nonzero order); keep groups with a positive
        counts = np.bincount(pairs.user, minlength=len(block))
        positives = np.bincount(pairs.user, weights=label, minlength=len(block))
        keep_user = positives > 0
        keep = keep_user[pairs.user]
        frames.append(
            RankFrame(pairs.features[keep], label[keep], counts[keep_user], int(keep_user.sum()))
        )
    return stack(frames)


def stack(frames: list[RankFrame]) -> RankFrame:
    return RankFrame(
        np.concatenate([f.features for f in frames]),
        np.concatenate([f.label for f in frames]),
        np.concatenate([f.group for f in frames]),
        sum(f.n_customers for f in frames),
    )


def fit_reranker(train: RankFrame, valid: RankFrame, params: RerankerParams, seed: int, k: int):
    """LightGBM lambdarank, early-stopped on the validation frame's NDCG@k."""
    import lightgbm as lgb

    if train.group.size == 0:
        raise ValueError("no training customer has a positive candidate; cannot train a reranker")
    lgb_params = {
        "objective": "lambdarank",
        "metric": "ndcg",
        "eval_at": [k],
        "num_leaves": params.num_leaves,
        "learning_rate": params.learning_rate,
        "min_child_samples": params.min_child_samples,
        "feature_fraction": params.feature_fraction,
        "lambdarank_truncation_level": max(k + 10, 20),
        "num_threads": 1,
        "deterministic": True,
        "force_col_wise": True,
        "seed": seed,
        "verbosity": -1,
    }
    dtrain = lgb.Dataset(
        train.features, train.label, group=train.group, feature_name=list(FEATURE_NAMES)
    )
    callbacks = []
    valid_sets = []
    if valid.group.size:
        valid_sets = [lgb.Dataset(valid.features, valid.label, group=valid.group, reference=dtrain)]
        callbacks = [lgb.early_stopping(params.early_stopping_rounds, verbose=False)]
    return lgb.train(
        lgb_params,
        dtrain,
        num_boost_round=params.n_estimators,
        valid_sets=valid_sets,
        callbacks=callbacks,
    )


def model_before(
    win: RecWindows,
    items: pd.DataFrame | None,
    config: RankerConfig,
    cutoff: pd.Timestamp,
    booster=None,
) -> Recommender:
    """The recommender as served at `cutoff`, from the already encoded lines before it."""
    return Recommender.fit(win.log_before(cutoff), items, config, cutoff, booster)
