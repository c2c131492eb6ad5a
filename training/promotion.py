"""Promotion policy: register each trained model and decide who serves (champion/challenger).

The store (`churnrec.store.registry`) reads and writes versions and aliases; this module
decides.

Policy (one registered model per kind, names `churn`, `repurchase`, `recommender`):

- Every registered version carries tags `metric`, `metric_value`, `holdout_id` and
  `higher_is_better`: what it scored, on which holdout.
- No `@champion` yet: the new version becomes champion ("first model").
- The champion was scored on another holdout, or with another metric: the scores are not
  like-for-like, so they are not compared; the newest version becomes champion
  ("holdout changed" / "metric changed"). A new holdout normally means newer data, and a
  model trained on newer data is the better default; the old champion keeps
  `@previous_champion` for an easy rollback.
- Otherwise the new version becomes champion only if it is strictly better (a NaN score never
  wins); the old champion then gets `@previous_champion` and a stale `@challenger` is
  removed (it lost to an older champion). If not better, the new version gets `@challenger`
  and the champion stays.

The decision and its reason are written as tags (`promotion_decision`, `promotion_reason`)
on the model version and on the training run, so both the registry and the run table say why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from churnrec.store.registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    TAG_DECISION,
    TAG_HIGHER_IS_BETTER,
    TAG_HOLDOUT,
    TAG_METRIC,
    TAG_REASON,
    TAG_VALUE,
    register_version,
    tracking_client,
    version_by_alias,
)
from churnrec.workspace import Workspace


@dataclass(frozen=True)
class PromotionDecision:
    name: str
    version: str
    alias: Literal["champion", "challenger"]
    promoted: bool
    reason: str
    metric: str
    value: float
    champion_value: float | None


def _better(value: float, champion_value: float, higher_is_better: bool) -> bool:
    if math.isnan(value):
        return False
    if math.isnan(champion_value):
        return True
    return value > champion_value if higher_is_better else value < champion_value


def decide(
    *,
    metric: str,
    value: float,
    holdout_id: str,
    higher_is_better: bool,
    champion_tags: dict[str, str] | None,
    champion_version: str | None,
) -> tuple[bool, str, float | None]:
    """(promote?, reason, champion's value) from the champion's recorded tags; pure, for tests."""
    if champion_tags is None:
        return True, "first model", None
    champion_metric = champion_tags.get(TAG_METRIC)
    champion_holdout = champion_tags.get(TAG_HOLDOUT)
    raw = champion_tags.get(TAG_VALUE)
    champion_value = float(raw) if raw is not None else None
    if champion_holdout != holdout_id:
        reason = (
            f"holdout changed: champion v{champion_version} was scored on holdout "
            f"{champion_holdout!r}, this version on {holdout_id!r}; not comparable, newest wins"
        )
        return True, reason, champion_value
    if champion_metric != metric or champion_value is None:
        reason = (
            f"metric changed: champion v{champion_version} was scored on {champion_metric!r}, "
            f"this version on {metric!r}; not comparable, newest wins"
        )
        return True, reason, champion_value
    promoted = _better(value, champion_value, higher_is_better)
    verb = "beats" if promoted else "does not beat"
    direction = "higher" if higher_is_better else "lower"
    reason = (
        f"{metric} {value:.6g} {verb} champion v{champion_version} {champion_value:.6g} "
        f"({direction} is better, holdout {holdout_id!r})"
    )
    return promoted, reason, champion_value


def register_and_promote(
    workspace: Workspace | str | Path,
    model_uri: str,
    *,
    name: str,
    run_id: str,
    metric: str,
    value: float,
    higher_is_better: bool = True,
    holdout_id: str,
) -> PromotionDecision:
    """Register `model_uri` as a new version of `name` and move `@champion`/`@challenger`."""
    client = tracking_client(Workspace.at(workspace))
    value = float(value)
    tags = {
        TAG_METRIC: metric,
        TAG_VALUE: repr(value),
        TAG_HOLDOUT: holdout_id,
        TAG_HIGHER_IS_BETTER: str(higher_is_better).lower(),
    }
    version = register_version(client, model_uri, name=name, run_id=run_id, tags=tags)

    champion = version_by_alias(client, name, CHAMPION)
    promoted, reason, champion_value = decide(
        metric=metric,
        value=value,
        holdout_id=holdout_id,
        higher_is_better=higher_is_better,
        champion_tags=dict(champion.tags) if champion is not None else None,
        champion_version=champion.version if champion is not None else None,
    )
    if promoted:
        if champion is not None:
            client.set_registered_model_alias(name, PREVIOUS_CHAMPION, champion.version)
        challenger = version_by_alias(client, name, CHALLENGER)
        if challenger is not None:
            client.delete_registered_model_alias(name, CHALLENGER)
        client.set_registered_model_alias(name, CHAMPION, version)
    else:
        client.set_registered_model_alias(name, CHALLENGER, version)

    alias: Literal["champion", "challenger"] = CHAMPION if promoted else CHALLENGER
    for key, tag_value in ((TAG_DECISION, alias), (TAG_REASON, reason)):
        client.set_model_version_tag(name, version, key, tag_value)
        client.set_tag(run_id, key, tag_value)
    client.set_tag(run_id, "registered_version", f"{name}/{version}")
    return PromotionDecision(
        name=name,
        version=str(version),
        alias=alias,
        promoted=promoted,
        reason=reason,
        metric=metric,
        value=value,
        champion_value=champion_value,
    )
