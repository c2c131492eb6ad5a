"""Promotion policy: register each trained model and decide who serves (champion/challenger).

A challenger is promoted only when it beats the champion re-scored on its own holdout rows and
loses no guard. Decisions are tagged before any alias moves, `@champion` last.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
from mlflow.exceptions import MlflowException

from churnrec.progress import say
from churnrec.store.registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    ModelNotFoundError,
    Tag,
    aliases,
    list_versions,
    load_measured_fit,
    load_version,
    register_version,
    store_exists,
    tracking_client,
    version_by_alias,
)
from churnrec.training.bootstrap import CI_LEVEL, paired_bootstrap
from churnrec.workspace import Workspace

BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_SEED = 20


@dataclass(frozen=True)
class Guard:
    """A metric the challenger may not lose by more than `tolerance` (absolute units)."""

    metric: str
    higher_is_better: bool
    tolerance: float


# Documented tolerances: about the bootstrap noise of each metric on a few thousand rows.
CHURN_GUARDS = (Guard("brier", False, 0.005), Guard("ece", False, 0.02))
REPURCHASE_GUARDS = (Guard("mae_days", False, 2.0), Guard("concordance", True, 0.01))
RECOMMENDER_GUARDS = (Guard("ndcg_at_10", True, 0.005), Guard("coverage", True, 0.02))


@dataclass(frozen=True)
class ChampionScorer:
    """Scores any model of this kind on the challenger's holdout rows: `predict(model)` in a fixed
    row order, `metrics(predictions, rows)` over row indices (a bootstrap may repeat rows)."""

    challenger: Any
    predict: Callable[[Any], Any]
    metrics: Callable[[Any, np.ndarray], Mapping[str, float]]
    n_rows: int


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
    details: dict[str, str] = field(default_factory=dict, compare=False)


def better(value: float, other: float, higher_is_better: bool) -> bool:
    """Strictly better in the metric's direction; NaN never is, and anything beats NaN."""
    if math.isnan(value):
        return False
    if math.isnan(other):
        return True
    return value > other if higher_is_better else value < other


def decide(
    *,
    metric: str,
    value: float,
    holdout_id: str,
    higher_is_better: bool,
    champion_tags: dict[str, str] | None,
    champion_version: str | None,
) -> tuple[bool, str, float | None]:
    """(promote?, reason, champion's value) from the champion's recorded tags, when it cannot
    be re-scored: only a like-for-like record is compared."""
    if champion_tags is None:
        return True, "first model", None
    champion_metric = champion_tags.get(Tag.METRIC)
    champion_holdout = champion_tags.get(Tag.HOLDOUT)
    raw = champion_tags.get(Tag.VALUE)
    champion_value = float(raw) if raw is not None else None
    if champion_holdout != holdout_id or champion_metric != metric or champion_value is None:
        reason = (
            f"not comparable: champion v{champion_version} was scored with {champion_metric!r} on "
            f"holdout {champion_holdout!r}, this version with {metric!r} on {holdout_id!r}, and "
            f"no scorer was given to re-score it; champion kept"
        )
        return False, reason, champion_value
    promoted = better(value, champion_value, higher_is_better)
    verb = "beats" if promoted else "does not beat"
    direction = "higher" if higher_is_better else "lower"
    reason = (
        f"{metric} {value:.6g} {verb} champion v{champion_version} {champion_value:.6g} "
        f"({direction} is better, holdout {holdout_id!r})"
    )
    return promoted, reason, champion_value


def compare_on_holdout(
    *,
    metric: str,
    higher_is_better: bool,
    guards: Sequence[Guard],
    scorer: ChampionScorer,
    champion_model: Any,
    champion_version: str,
) -> tuple[bool, str, float, dict[str, str]]:
    """(promote?, reason, champion's value, tags) from scoring both on the same rows; the
    difference's interval is a paired bootstrap (challenger - champion, as computed)."""
    everything = np.arange(scorer.n_rows)
    champion_predictions = scorer.predict(champion_model)
    mine = dict(scorer.metrics(scorer.challenger, everything))
    theirs = dict(scorer.metrics(champion_predictions, everything))
    diff, low, high = paired_bootstrap(
        lambda rows: scorer.metrics(scorer.challenger, rows)[metric],
        lambda rows: scorer.metrics(champion_predictions, rows)[metric],
        scorer.n_rows,
        rounds=BOOTSTRAP_ROUNDS,
        seed=BOOTSTRAP_SEED,
    )
    wins = better(mine[metric], theirs[metric], higher_is_better)
    lost_guards = []
    guard_notes = []
    for g in guards:
        if g.metric not in mine or g.metric not in theirs:
            continue
        worse_by = (theirs[g.metric] - mine[g.metric]) * (1 if g.higher_is_better else -1)
        guard_notes.append(
            f"{g.metric} {mine[g.metric]:.4g} vs {theirs[g.metric]:.4g} (tolerance {g.tolerance:g})"
        )
        if not worse_by <= g.tolerance:  # NaN counts as lost
            lost_guards.append(f"{g.metric} worse by {worse_by:.4g} > {g.tolerance:g}")
    promoted = wins and not lost_guards
    verb = "beats" if wins else "does not beat"
    reason = (
        f"{metric} {mine[metric]:.4f} {verb} champion v{champion_version} {theirs[metric]:.4f} "
        f"on the same {scorer.n_rows} holdout rows (difference {diff:+.4f}, "
        f"{CI_LEVEL:.0%} paired bootstrap interval {low:+.4f}..{high:+.4f})"
    )
    if wins and lost_guards:
        reason += "; but guard lost: " + "; ".join(lost_guards)
    reason += "; champion kept" if not promoted else "; promoted"
    tags = {
        Tag.COMPARED_WITH: str(champion_version),
        Tag.CHAMPION_VALUE: repr(float(theirs[metric])),
        Tag.DIFF: repr(diff),
        Tag.CI_LOW: repr(low),
        Tag.CI_HIGH: repr(high),
        Tag.GUARDS: "; ".join(guard_notes) or "none",
    }
    return promoted, reason, float(theirs[metric]), tags


def _move_aliases(client: Any, name: str, wanted: dict[str, str | None]) -> None:
    """Set (or delete, for None) aliases with `@champion` last; on failure restore all."""
    before = {a: str(v) for a, v in client.get_registered_model(name).aliases.items()}
    order = sorted(wanted, key=lambda a: a == CHAMPION)
    try:
        for alias in order:
            version = wanted[alias]
            if version is None:
                if alias in before:
                    client.delete_registered_model_alias(name, alias)
            else:
                client.set_registered_model_alias(name, alias, version)
    except Exception:
        for alias in order:
            try:
                if alias in before:
                    client.set_registered_model_alias(name, alias, before[alias])
                else:
                    client.delete_registered_model_alias(name, alias)
            except (MlflowException, OSError) as exc:  # best effort; say so, do not hide it
                say(f"[churnrec] could not restore alias {name}@{alias}: {exc}")
        raise


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
    guards: Sequence[Guard] = (),
    score_champion: ChampionScorer | None = None,
    tags: Mapping[str, str] | None = None,
    holdout_start: date | None = None,
) -> PromotionDecision:
    """Register `model_uri` as a new version of `name` and move `@champion`/`@challenger`;
    without `score_champion` only a like-for-like record is compared (`decide`)."""
    ws = Workspace.at(workspace)
    client = tracking_client(ws)
    value = float(value)
    version_tags = {
        Tag.METRIC: metric,
        Tag.VALUE: repr(value),
        Tag.HOLDOUT: holdout_id,
        Tag.HIGHER_IS_BETTER: str(higher_is_better).lower(),
        **{k: str(v) for k, v in (tags or {}).items()},
    }
    version = register_version(client, model_uri, name=name, run_id=run_id, tags=version_tags)

    champion = version_by_alias(client, name, CHAMPION)
    details: dict[str, str] = {}
    if champion is None:
        promoted, reason, champion_value = True, "first model", None
    elif score_champion is not None:
        promoted, reason, champion_value, details = _rescore_champion(
            ws, name, champion, score_champion, metric, higher_is_better, guards, holdout_start
        )
    else:
        promoted, reason, champion_value = decide(
            metric=metric,
            value=value,
            holdout_id=holdout_id,
            higher_is_better=higher_is_better,
            champion_tags=dict(champion.tags),
            champion_version=str(champion.version),
        )

    alias: Literal["champion", "challenger"] = CHAMPION if promoted else CHALLENGER
    record = {Tag.DECISION: alias, Tag.REASON: reason, **details}
    for key, tag_value in record.items():  # the record first, the aliases last
        client.set_model_version_tag(name, version, key, tag_value)
        client.set_tag(run_id, key, tag_value)
    client.set_tag(run_id, "registered_version", f"{name}/{version}")
    if promoted:
        wanted: dict[str, str | None] = {CHALLENGER: None, CHAMPION: version}
        if champion is not None:
            wanted[PREVIOUS_CHAMPION] = str(champion.version)
    else:
        wanted = {CHALLENGER: version}
    _move_aliases(client, name, wanted)
    return PromotionDecision(
        name=name,
        version=str(version),
        alias=alias,
        promoted=promoted,
        reason=reason,
        metric=metric,
        value=value,
        champion_value=champion_value,
        details=details,
    )


def _rescore_champion(
    ws: Workspace,
    name: str,
    champion: Any,
    scorer: ChampionScorer,
    metric: str,
    higher_is_better: bool,
    guards: Sequence[Guard],
    holdout_start: date | None,
) -> tuple[bool, str, float | None, dict[str, str]]:
    """(promote?, reason, champion's value, tags) from re-scoring the champion on the
    challenger's holdout rows with a fit of it that never saw them."""
    unseen = champion_fit_before(ws, name, champion, holdout_start)
    if unseen is None:
        reason = (
            f"champion v{champion.version} learned from outcomes in this holdout window "
            f"(trained through {champion.tags.get(Tag.TRAINED_THROUGH)}) and logged no fit "
            "that did not, so it cannot be re-scored fairly; champion kept"
        )
        return False, reason, None, {}
    try:
        loaded = unseen()
    except (ModelNotFoundError, OSError, ValueError, ImportError) as exc:
        why = f"cannot be loaded ({exc})"
    else:
        try:
            return compare_on_holdout(
                metric=metric,
                higher_is_better=higher_is_better,
                guards=guards,
                scorer=scorer,
                champion_model=loaded,
                champion_version=str(champion.version),
            )
        except (ValueError, KeyError, TypeError) as exc:
            why = f"cannot score this holdout ({exc})"
    return (
        True,
        f"champion v{champion.version} {why}; it cannot serve, so this version does",
        None,
        {},
    )


def champion_fit_before(
    ws: Workspace, name: str, champion: Any, holdout_start: date | None
) -> Callable[[], Any] | None:
    """How to load a fit of the champion that learned only from outcomes before `holdout_start`
    (served fit, else measured), so re-scoring it is fair; None if neither is early enough."""
    tags = dict(champion.tags)
    served_through = tags.get(Tag.TRAINED_THROUGH)  # absent on versions older than the tag
    if not (holdout_start and served_through) or (
        date.fromisoformat(served_through) < holdout_start
    ):
        return lambda: load_version(ws, name, str(champion.version)).model
    evaluated = tags.get(Tag.EVALUATED_ON, "")
    start = evaluated.split("..")[0]
    if start and date.fromisoformat(start) <= holdout_start and champion.run_id:
        return lambda: load_measured_fit(ws, champion.run_id)
    return None


def _tag_decision(client: Any, name: str, version: str, decision: str, reason: str) -> None:
    client.set_model_version_tag(name, version, Tag.DECISION, decision)
    client.set_model_version_tag(name, version, Tag.REASON, reason)


def _record_manual(client: Any, name: str, version: str, reason: str) -> None:
    _tag_decision(client, name, version, CHAMPION, reason)
    client.set_registered_model_tag(
        name, Tag.LAST_ACTION, json.dumps({"version": version, "reason": reason})
    )


def _by_hand(workspace: Workspace | str | Path, name: str, version: str) -> tuple[Any, str, Any]:
    """(client, the version as the registry spells it, the champion); raises if it is unknown."""
    client = tracking_client(Workspace.at(workspace))
    version = str(client.get_model_version(name, str(version)).version)
    return client, version, version_by_alias(client, name, CHAMPION)


def promote_version(workspace: Workspace | str | Path, name: str, version: str) -> str:
    """Make `version` the champion by hand; the old one becomes `@previous_champion`."""
    client, version, champion = _by_hand(workspace, name, version)
    if champion is not None and str(champion.version) == version:
        return f"{name} v{version} is already the champion"
    old = None if champion is None else str(champion.version)
    reason = f"promoted by hand (churnrec models promote), replacing v{old}"
    _record_manual(client, name, version, reason)
    wanted: dict[str, str | None] = {CHAMPION: version}
    if old is not None:
        wanted[PREVIOUS_CHAMPION] = old
    challenger = version_by_alias(client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == version:
        wanted[CHALLENGER] = None
    _move_aliases(client, name, wanted)
    return f"{name} v{version} @champion ({reason})"


class PromotionRefused(ValueError):
    """A hand-made alias move that would not make sense (says why)."""


def set_challenger(workspace: Workspace | str | Path, name: str, version: str) -> str:
    """Give `version` the `@challenger` alias by hand (what an online A/B serves to its share)."""
    client, version, champion = _by_hand(workspace, name, version)
    if champion is not None and str(champion.version) == version:
        raise PromotionRefused(
            f"{name} v{version} is the champion; a challenger must be another version"
        )
    reason = "made challenger by hand (churnrec models promote --alias)"
    _tag_decision(client, name, version, CHALLENGER, reason)
    _move_aliases(client, name, {CHALLENGER: version})
    return f"{name} v{version} @challenger"


class OnlineEvidenceError(PromotionRefused):
    """The online read-out does not justify promoting the challenger; says why."""


def online_verdict(ab: Mapping[str, Any] | None, outcome: str, note: str | None = None) -> str:
    """Why the read-out's challenger arm may replace the champion; raises when it may not: a
    sample-ratio mismatch, or a lift whose 95% interval does not lie above zero."""
    if ab is None:
        raise OnlineEvidenceError(f"the read-out has no A/B to judge: {note or 'one arm only'}")
    if ab.get("srm_detected"):
        raise OnlineEvidenceError(
            f"the arm sizes do not match the intended split (sample-ratio p = "
            f"{ab['srm_p_value']:.2g}): the assignment may be broken; not promoting"
        )
    lift = next(
        (x for x in ab.get("lifts", []) if x["arm"] == CHALLENGER and x["outcome"] == outcome),
        None,
    )
    if lift is None:
        raise OnlineEvidenceError(f"the read-out has no {outcome} lift of the challenger arm")
    low, high = lift["absolute_ci"]
    text = f"{outcome} lift {lift['absolute']:+.4g} (95% CI {low:+.4g}..{high:+.4g})"
    if low is None or high is None or not low > 0:
        worse = high is not None and high < 0
        why = "the challenger is worse" if worse else "the interval does not exclude zero"
        raise OnlineEvidenceError(f"{text}: {why}; keeping the champion")
    return f"online A/B: {text}"


def promote_challenger_online(
    workspace: Workspace | str | Path,
    name: str,
    ab: Mapping[str, Any] | None,
    *,
    outcome: str,
    challenger_versions: Sequence[str],
    note: str | None = None,
) -> str:
    """Promote `@challenger` when the online read-out (`online_verdict`) supports it."""
    client = tracking_client(Workspace.at(workspace))
    challenger = version_by_alias(client, name, CHALLENGER)
    if challenger is None:
        raise OnlineEvidenceError(f"{name!r} has no @challenger to promote")
    version = str(challenger.version)
    if list(challenger_versions) != [version]:
        raise OnlineEvidenceError(
            f"the read-out's challenger arm served version(s) {list(challenger_versions)}, not "
            f"only the current @challenger v{version}: use --since the day it became challenger"
        )
    reason = online_verdict(ab, outcome, note)
    message = promote_version(workspace, name, version)
    client.set_model_version_tag(name, version, Tag.REASON, reason)
    return f"{message}; {reason}"


def rollback(workspace: Workspace | str | Path, name: str) -> str:
    """Move `@champion` back to `@previous_champion` (the two swap, so it can be undone)."""
    client = tracking_client(Workspace.at(workspace))
    previous = version_by_alias(client, name, PREVIOUS_CHAMPION)
    if previous is None:
        raise ModelNotFoundError(f"{name!r} has no previous_champion to roll back to")
    champion = version_by_alias(client, name, CHAMPION)
    target = str(previous.version)
    old = None if champion is None else str(champion.version)
    reason = f"rolled back by hand (churnrec models rollback) from v{old}"
    _record_manual(client, name, target, reason)
    wanted: dict[str, str | None] = {CHAMPION: target, PREVIOUS_CHAMPION: old}
    _move_aliases(client, name, wanted)
    return f"{name} v{target} @champion ({reason})"


def undo_versions_of_step(workspace: Workspace | str | Path, step_run_id: str) -> list[str]:
    """Undo the versions a killed refresh step registered: a champion gives way to the one it
    replaced, a challenger loses the alias, each is tagged; one line per version, for the report."""
    ws = Workspace.at(workspace)
    client = tracking_client(ws)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, filter_string=f"tags.`{Tag.STEP}` = '{step_run_id}'")
    lines = []
    for run in runs:
        for version in client.search_model_versions(f"run_id = '{run.info.run_id}'"):
            name, number = version.name, str(version.version)
            current = aliases(ws, name)
            reason = "its refresh step was killed before it finished; undone"
            _tag_decision(client, name, number, "rolled_back", reason)
            note = f"{name} v{number}: registered by a killed refresh step; tagged rolled_back"
            if current.get(CHALLENGER) == number:
                client.delete_registered_model_alias(name, CHALLENGER)
            if current.get(CHAMPION) == number:
                before = current.get(PREVIOUS_CHAMPION)
                wanted: dict[str, str | None] = {CHAMPION: before, PREVIOUS_CHAMPION: None}
                if before is None:  # it was the first model: nothing to go back to
                    wanted = {CHAMPION: None}
                _move_aliases(client, name, wanted)
                note += f"; @champion back to v{before}" if before else "; @champion removed"
            lines.append(note)
    if lines:
        say("[churnrec] " + "; ".join(lines))
    return lines


def close_undecided_versions(workspace: Workspace | str | Path, names: Sequence[str]) -> list[str]:
    """Tag versions left without a decision (training killed between register and decide), so
    that an unserved version does not look like a pending candidate; their `name/version`."""
    ws = Workspace.at(workspace)
    if not store_exists(ws):
        return []
    client = tracking_client(ws)
    closed = []
    for name in names:
        aliased = set(aliases(ws, name).values())  # none for an unknown model
        for version in list_versions(ws, name):
            if Tag.DECISION in version.tags or str(version.version) in aliased:
                continue
            reason = "training ended before a promotion decision"
            _tag_decision(client, name, version.version, "none", reason)
            closed.append(f"{name}/{version.version}")
    if closed:
        say(f"[churnrec] tagged {len(closed)} undecided model version(s): {', '.join(closed)}")
    return closed
