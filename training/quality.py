"""The quality band of every trained version, from the holdout only, computed here and nowhere
else. The worst of three verdicts wins: chance level and the floors (`RULES`), an inverted
served rule, and the lift over the best other baseline with its paired interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from churnrec.models.base import ModelKind
from churnrec.store.quality import BANDS, CHANCE, EXCELLENT, FAIR, GOOD, POOR, worse
from churnrec.store.registry import Tag
from churnrec.training.bootstrap import paired_bootstrap

if TYPE_CHECKING:
    from churnrec.training.job import Evaluation, JobSpec

BOOTSTRAP_ROUNDS = 100  # enough for a band; promotion runs its own, finer bootstrap
BOOTSTRAP_ROW_BUDGET = 10_000_000  # rows scored per interval: fewer rounds on huge holdouts


@dataclass(frozen=True)
class QualityRule:
    """Where a kind's headline metric stands for a random answer, and its band floors."""

    chance: float
    floors: tuple[float, float, float, float] | None = None  # excellent, good, fair, poor


RULES: dict[ModelKind, QualityRule] = {
    ModelKind.CHURN: QualityRule(0.5, (0.85, 0.75, 0.65, 0.55)),
    ModelKind.REPURCHASE: QualityRule(0.5, (0.80, 0.70, 0.60, 0.55)),
    ModelKind.CLV: QualityRule(0.0, (0.60, 0.45, 0.30, 0.10)),
    ModelKind.RECOMMENDER: QualityRule(0.0),
    ModelKind.UPLIFT: QualityRule(0.0),
}


@dataclass(frozen=True)
class Quality:
    """One version's quality band and the numbers it came from."""

    band: str
    lift: float = float("nan")  # served - best other baseline, > 0 = better (direction-adjusted)
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    reason: str = ""

    def tags(self) -> dict[str, str]:
        return {Tag.QUALITY: self.band, Tag.QUALITY_REASON: self.reason}

    def metrics(self) -> dict[str, float]:
        """`quality_*` numbers for the run (finite ones only are logged)."""
        return {
            "quality_lift": self.lift,
            "quality_lift_ci_low": self.ci_low,
            "quality_lift_ci_high": self.ci_high,
            "quality_band_rank": float(BANDS.index(self.band)),
        }


def _absolute_band(value: float, floors: tuple[float, ...] | None, sign: float) -> str:
    if floors is None:
        return EXCELLENT
    for band, floor in zip((EXCELLENT, GOOD, FAIR, POOR), floors, strict=True):
        if sign * value >= sign * floor:
            return band
    return CHANCE


def _row_metric(ev: Evaluation, key: str, predictions: Any, memo: dict):
    """`rows -> headline` of `predictions` through the kind's own holdout scorer, each resample
    scored once (both intervals draw the same resamples: same seed, so they share `memo`)."""

    def metric(rows: np.ndarray) -> float:
        digest = hash(rows.tobytes())
        if digest not in memo:
            memo[digest] = float(ev.scorer.metrics(predictions, rows)[key])
        return memo[digest]

    return metric


def _interval(
    ev: Evaluation, key: str, theirs: Any, sign: float, memo: dict
) -> tuple[float, float, float]:
    """(lift, low, high) of the served answer over `theirs` (predictions or a constant)."""
    ours = _row_metric(ev, key, ev.scorer.challenger, memo)
    other = (
        (lambda rows: float(theirs)) if np.isscalar(theirs) else _row_metric(ev, key, theirs, {})
    )
    n = ev.scorer.n_rows
    rounds = max(30, min(BOOTSTRAP_ROUNDS, BOOTSTRAP_ROW_BUDGET // n))
    diff, low, high = paired_bootstrap(ours, other, n, rounds=rounds)
    if sign < 0:
        diff, low, high = -diff, -high, -low
    return diff, low, high


def assess(spec: JobSpec, ev: Evaluation) -> Quality:
    """The band of the version `ev` describes (see the module docstring for the rules)."""
    key, sign = spec.headline.key, 1.0 if spec.headline.higher_is_better else -1.0
    rule = RULES.get(spec.kind, QualityRule(float("nan")))
    value = float(ev.metrics.get(key, float("nan")))
    if not math.isfinite(value):
        return Quality(CHANCE, reason=f"holdout {key} is undefined")
    scored = ev.scorer is not None and ev.scorer.n_rows > 1
    memo: dict[int, float] = {}  # the served answer's score per resample, shared
    own = ev.chosen.name if ev.chosen.is_rule else None
    own_value = ev.baselines.get(own or "", {}).get(key)
    if own_value is not None and sign * (own_value - value) > 1e-9:
        return Quality(
            CHANCE,
            value - own_value,
            reason=f"the served {own} rule scores {key} {value:.3f} against {own_value:.3f} "
            "for the same rule's plain scores on the same rows (inverted)",
        )
    if not math.isnan(rule.chance):
        margin, low, _ = (
            _interval(ev, key, rule.chance, sign, memo)
            if scored
            else (sign * (value - rule.chance),) * 3
        )
        if margin <= 0 or (math.isfinite(low) and low <= 0):
            spread = f"; the interval of the difference starts at {low:+.3f}" * math.isfinite(low)
            why = f"{key} {value:.3f} is not clearly above chance ({rule.chance:g}{spread})"
            return Quality(CHANCE, reason=why)
    band = _absolute_band(value, rule.floors, sign)
    others = {
        name: scores[key]
        for name, scores in ev.baselines.items()
        if name in spec.baselines and name != own and key in scores and math.isfinite(scores[key])
    }
    if not others:
        return Quality(band, reason=f"{key} {value:.3f}; no baseline to compare")
    best = max(others, key=lambda name: sign * others[name])
    predictions = ev.baseline_predictions.get(best)
    if scored and predictions is not None:
        lift, low, high = _interval(ev, key, predictions, sign, memo)
    else:
        lift, low, high = sign * (value - others[best]), float("nan"), float("nan")
    if (high if math.isfinite(high) else lift) < 0:
        cap = POOR
    elif math.isfinite(low) and low > 0:
        cap = EXCELLENT
    else:
        cap = GOOD
    interval = f" [{low:+.3f}, {high:+.3f}]" if math.isfinite(low) else " (no interval)"
    return Quality(
        worse(band, cap),
        lift,
        low,
        high,
        reason=f"{key} {value:.3f}; lift over {best} ({others[best]:.3f}) {lift:+.3f}{interval}",
    )
