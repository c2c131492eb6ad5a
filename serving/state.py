"""What the service serves: the champions of the registry and the scores of one snapshot.

A `ServingState` is immutable: a reload builds a new one and swaps one reference, so no request
sees half a reload. Readiness is per model; `unavailable` says why a model is missing.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.models.base import ModelKind
from churnrec.progress import say
from churnrec.scores.champions import SCORING_KINDS, Champions, load_champions
from churnrec.scores.config import ServingConfig
from churnrec.scores.snapshots import model_facts, newest_order_date
from churnrec.scores.table import TIMING_COLUMNS
from churnrec.scores.tiers import TierCuts, ranking_values, tier_cuts
from churnrec.scores.workspace_scores import score_workspace
from churnrec.serving.drift_status import read_drift
from churnrec.serving.guards import SERVED_KINDS
from churnrec.serving.watch import InputFingerprint, input_fingerprint
from churnrec.store.registry import CHALLENGER, ModelNotFoundError, load_alias
from churnrec.workspace import Workspace

MODEL_NAMES = tuple(str(kind) for kind in SERVED_KINDS)  # from the one routes table


@dataclass(frozen=True)
class ServedVersions:
    """Which registry versions and which snapshot are being served."""

    churn: str | None
    repurchase: str | None
    recommender: str | None
    demand: str | None
    snapshot: str | None  # snapshot folder name, e.g. "as_of=2025-12-31"
    recommender_challenger: str | None = None  # served to the A/B's challenger arm

    def as_dict(self) -> dict[str, str | None]:
        versions = asdict(self)
        if self.recommender_challenger is None:
            del versions["recommender_challenger"]
        return versions


@dataclass(frozen=True)
class ServingState:
    versions: ServedVersions
    snapshot_as_of: str | None
    # Scores as plain Python lists per column plus a position per customer id: a request reads
    # a few list items instead of a pandas row lookup (about 50x faster per id).
    columns: dict[str, list[Any]]
    position: dict[str, int]
    recommender: Any | None
    fallback_churn_probability: float
    fallback_timing: dict[str, float]
    loaded_at: float = field(default_factory=time.time)
    model_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    fingerprint: InputFingerprint | None = None
    tier_cuts: TierCuts = field(default_factory=lambda: TierCuts(0.7, 0.4))
    consent: dict[str, bool | None] = field(default_factory=dict)
    unknown_consent_allowed: bool = False
    unavailable: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    newest_order_date: str | None = None
    drift: dict[str, Any] | None = None  # summary of data/drift/latest.json
    fallback_rank_value: float | None = None  # what an unknown id is tiered on (None: p)
    challenger: Any | None = None  # recommender@challenger while the online A/B runs
    challenger_share: float = 0.0  # share of customers it serves (serving config)
    demand: Any | None = None  # the demand champion (`models.demand.DemandModel`)

    @property
    def n_customers(self) -> int:
        return len(self.position)

    @property
    def serving(self) -> list[str]:
        return [name for name in MODEL_NAMES if name not in self.unavailable]

    def serves(self, name: str) -> bool:
        return name not in self.unavailable

    def row(self, customer_id: str) -> dict[str, Any] | None:
        """One scored customer as a dict (see scores.table.SCORE_COLUMNS), or None."""
        i = self.position.get(customer_id)
        if i is None:
            return None
        return {name: values[i] for name, values in self.columns.items()}


def load_state(
    ws: Workspace, config: ServingConfig | None = None, as_of: dt.date | None = None
) -> ServingState:
    """Load whichever champions exist and score the snapshot; never raises for a missing one."""
    config = config or ServingConfig()
    started = time.perf_counter()
    fingerprint = input_fingerprint(ws, as_of)
    champions = load_champions(ws, dict.fromkeys((*SCORING_KINDS, *SERVED_KINDS)))
    scored = score_workspace(ws, config, as_of=as_of, champions=champions)
    unavailable = {k: v for k, v in champions.missing.items() if k in MODEL_NAMES}
    if scored.snapshot_problem:  # churn and timing both score the snapshot: say every reason
        for name in ("churn", "repurchase"):
            unavailable[name] = "; ".join(
                filter(None, (unavailable.get(name), scored.snapshot_problem))
            )
    scores = scored.scores if scored.snapshot is not None else pd.DataFrame()
    if Score.CHURN_PROBABILITY not in scores and ModelKind.REPURCHASE not in champions:
        scores = pd.DataFrame()
    ranked, rank_by = (
        ranking_values(scores[Score.CHURN_PROBABILITY].to_numpy(), scored.clv, config.tiers)
        if Score.CHURN_PROBABILITY in scores
        else (pd.Series(dtype=float).to_numpy(), Score.CHURN_PROBABILITY)
    )
    cuts = replace(tier_cuts(ranked, config.tiers), rank_by=rank_by)
    new_customers = (
        scores[scores[C.LIFECYCLE_STAGE] == "new"] if C.LIFECYCLE_STAGE in scores else scores
    )
    prior_rows = new_customers if len(new_customers) else scores
    details = {name: model_facts(ws, found) for name, found in champions.loaded.items()}
    newest = newest_order_date(ws)
    drift, drift_lines = read_drift(ws)
    challenger, challenger_version, challenger_lines = _challenger(ws, config, champions)
    warnings = [*scored.warnings, *drift_lines, *challenger_lines]
    served = champions.versions()
    versions = ServedVersions(
        **{n: None if n in unavailable else served.get(n) for n in MODEL_NAMES},
        snapshot=scored.snapshot_dir.name if scored.snapshot_dir is not None else None,
        recommender_challenger=challenger_version,
    )
    say(
        f"[churnrec] serving state loaded in {time.perf_counter() - started:.1f}s: "
        f"{len(scores):,} customers scored, versions {versions.as_dict()}"
    )
    for line in warnings:
        say(f"[churnrec] WARNING: {line}")
    recorded = scored.recorded_consent
    return ServingState(
        versions=versions,
        snapshot_as_of=scored.snapshot_as_of.isoformat() if scored.snapshot_as_of else None,
        columns={name: scores[name].tolist() for name in scores.columns},
        position={cid: i for i, cid in enumerate(scores[C.CUSTOMER_ID].tolist())}
        if C.CUSTOMER_ID in scores
        else {},
        recommender=champions.model(ModelKind.RECOMMENDER),
        fallback_churn_probability=_mean(prior_rows, Score.CHURN_PROBABILITY),
        fallback_rank_value=_mean(
            prior_rows, rank_by if rank_by in prior_rows else Score.CHURN_PROBABILITY
        ),
        fallback_timing={c: _mean(prior_rows, c) for c in TIMING_COLUMNS},
        model_details=details,
        fingerprint=fingerprint,
        tier_cuts=cuts,
        consent={str(k): (None if pd.isna(v) else bool(v)) for k, v in recorded.items()},
        unknown_consent_allowed=config.unknown_consent_allowed,
        unavailable=unavailable,
        warnings=tuple(warnings),
        newest_order_date=newest.isoformat() if newest else None,
        drift=drift,
        challenger=challenger,
        challenger_share=config.experiments.recommender.challenger_share if challenger else 0.0,
        demand=champions.model(ModelKind.DEMAND),
    )


def _challenger(
    ws: Workspace, config: ServingConfig, champions: Champions
) -> tuple[Any | None, str | None, list[str]]:
    """recommender@challenger when the serving config gives it a share (else nothing)."""
    share = config.experiments.recommender.challenger_share
    if share <= 0 or ModelKind.RECOMMENDER not in champions:
        return None, None, []
    try:
        found = load_alias(ws, ModelKind.RECOMMENDER, CHALLENGER)
    except ModelNotFoundError:
        line = (
            f"experiments.recommender.challenger_share is {share} but the recommender has no "
            "@challenger (`churnrec models promote recommender VERSION --alias challenger`): "
            "every customer gets the champion"
        )
        return None, None, [line]
    return found.model, found.version, []


def _mean(frame: pd.DataFrame, column: str) -> float:
    if column not in frame or frame.empty:
        return float("nan")
    return float(frame[column].mean())
