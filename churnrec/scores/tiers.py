"""Risk tiers a retention team can act on: by default (`capacity`) shares of the customers
ranked by churn probability or expected loss (`high_share` = calls the team can make / customers),
turned into thresholds so a customer scored alone gets the same tier; `probability` is fixed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from churnrec.columns import Score
from churnrec.scores.config import TierConfig

TIERS = ("low", "medium", "high")  # in increasing risk


@dataclass(frozen=True)
class TierCuts:
    """Minimum churn probability (or expected loss, see `rank_by`) of `high` and `medium`."""

    high: float
    medium: float
    method: str = "probability"
    rank_by: str = Score.CHURN_PROBABILITY

    def tier(self, probability: float) -> str:
        if probability >= self.high:
            return "high"
        if probability >= self.medium:
            return "medium"
        return "low"


def ranking_values(
    probabilities: np.ndarray, clv: np.ndarray | None, config: TierConfig
) -> tuple[np.ndarray, str]:
    """(what the tiers rank, its name): expected loss when configured and CLV is known."""
    p = np.asarray(probabilities, dtype=float)
    if config.rank_by == Score.EXPECTED_LOSS and clv is not None:
        return p * np.nan_to_num(np.asarray(clv, dtype=float), nan=0.0), Score.EXPECTED_LOSS
    return p, Score.CHURN_PROBABILITY


def expected_loss_fallback_note(config: TierConfig, clv: np.ndarray | None) -> list[str]:
    """The printed note when expected-loss tiers were asked for but no CLV exists."""
    if config.rank_by != Score.EXPECTED_LOSS or clv is not None:
        return []
    note = (
        "tiers.rank_by=expected_loss needs a clv champion and there is none: risk tiers rank "
        "by churn probability (run `churnrec train clv`)"
    )
    return [note]


def _tier_sizes(n: int, config: TierConfig) -> tuple[int, int]:
    """How many customers are `high`, and `high` or `medium`, under capacity tiers."""
    n_high = max(1, round(config.high_share * n))
    return n_high, min(n, n_high + round(config.medium_share * n))


def tier_cuts(probabilities: np.ndarray, config: TierConfig) -> TierCuts:
    """Thresholds from the config and, for `capacity`, from the snapshot's probabilities."""
    if config.method == "probability" or len(probabilities) == 0:
        return TierCuts(config.high_probability, config.medium_probability, "probability")
    ranked = np.sort(np.asarray(probabilities, dtype=float))[::-1]
    n_high, n_medium_or_high = _tier_sizes(len(ranked), config)
    high = float(ranked[n_high - 1])
    medium = float(ranked[n_medium_or_high - 1]) if n_medium_or_high > n_high else high
    return TierCuts(high=high, medium=medium, method="capacity")


def assign_tiers(
    probabilities: np.ndarray, spend: np.ndarray, config: TierConfig
) -> tuple[list[str], TierCuts]:
    """Tier per customer of a scored snapshot, and the cuts for customers scored alone. Capacity
    shares are exact: isotonic probabilities tie in large blocks, which must not push "high"
    from 10% to 40% of the shop; within a tie, more spend at stake ranks first."""
    p = np.asarray(probabilities, dtype=float)
    cuts = tier_cuts(p, config)
    if config.method == "probability" or len(p) == 0:
        return [cuts.tier(x) for x in p], cuts
    value = np.nan_to_num(np.asarray(spend, dtype=float), nan=0.0)
    order = np.lexsort((-value, -p))  # last key first: probability, then spend, descending
    n_high, n_medium_or_high = _tier_sizes(len(p), config)
    tiers = np.full(len(p), "low", dtype=object)
    tiers[order[n_high:n_medium_or_high]] = "medium"
    tiers[order[:n_high]] = "high"
    return tiers.tolist(), cuts


def tier_rank(tier: str) -> int:
    """0 for low .. 2 for high; used by `--min-risk`."""
    try:
        return TIERS.index(tier)
    except ValueError:
        raise ValueError(f"unknown risk tier {tier!r}; expected one of {TIERS}") from None
