"""`churnrec train clv|uplift`: the retention-value jobs, kept apart from `training.jobs`.

Each returns summary lines for the command: the headline metric next to its baselines, the
registry decision, and a warning when a baseline is not beaten.
"""

from __future__ import annotations

from pathlib import Path

from churnrec.training.errors import SkippedTraining
from churnrec.workspace import Workspace

CLV_DEFAULT_HORIZON_DAYS = 365


class ValueTrainingError(ValueError):
    """A fixable problem with the request (missing campaign, arm or outcome)."""


USER_ERRORS: tuple[type[BaseException], ...] = (ValueTrainingError,)


def _line(kind: str, run_id: str, metrics: dict[str, float], keys: list[str], promotion) -> str:
    parts = [f"{k}={metrics[k]:.4f}" for k in keys if k in metrics]
    promo = f" -> {kind} v{promotion.version} @{promotion.alias}" if promotion else ""
    return f"{kind:<12} run {run_id}: " + ", ".join(parts) + promo


def train_value(
    workspace: str | Path | Workspace,
    target: str,
    horizon_days: int | None = None,
    campaign: str | None = None,
    treatment: str | None = None,
    control: str | None = None,
    outcome: str = "converted",
) -> list[str]:
    """Run the `clv` or `uplift` job; return what the command prints."""
    ws = Workspace.at(workspace)
    try:
        if target == "clv":
            ws.read_manifest()  # clear error before any work if nothing was ingested
            return _train_clv(ws, horizon_days or CLV_DEFAULT_HORIZON_DAYS)
        if target == "uplift":
            return _train_uplift(ws, campaign, treatment, control, outcome)
    except SkippedTraining as exc:
        return [f"{target:<12} skipped: {exc}"]
    raise ValueTrainingError(f"unknown value model {target!r}; expected clv or uplift")


def _train_clv(ws: Workspace, horizon_days: int) -> list[str]:
    from churnrec.training.clv import ClvTrainConfig, train_clv

    result = train_clv(ws, ClvTrainConfig(horizon_days=horizon_days))
    m = result.metrics
    keys = ["clv_gini", "btyd_clv_gini", "heuristic_clv_gini", "clv_spearman", "clv_mae"]
    lines = [_line("clv", result.run_id, m, keys, result.promotion)]
    lost = [b for b in ("btyd", "heuristic") if not m["clv_gini"] > m[f"{b}_clv_gini"]]
    if lost:
        lines.append(f"WARNING: clv does not beat {', '.join(lost)} on clv_gini on this holdout")
    lines.append(f"chosen on validation customers: {result.chosen}")
    return lines


def _train_uplift(
    ws: Workspace, campaign: str | None, treatment: str | None, control: str | None, outcome: str
) -> list[str]:
    from churnrec.training.uplift import UpliftTrainConfig, train_uplift

    if not campaign or not treatment:
        raise ValueTrainingError("train uplift needs --campaign CAMPAIGN_ID and --treatment ARM")
    config = UpliftTrainConfig(
        campaign_id=campaign, treatment=treatment, control=control, outcome=outcome
    )
    result = train_uplift(ws, config)
    m = result.metrics
    keys = ["qini", "auuc", "uplift_at_10", "uplift_at_30", "ate", "risk_targeting_uplift_at_30"]
    lines = [_line("uplift", result.run_id, m, keys, result.promotion)]
    lines.append(
        f"{result.learner}-learner chosen on validation customers; risk = {result.risk_source}"
    )
    lost = [k for k in ("ate", "risk_targeting_uplift_at_30") if not m["uplift_at_30"] > m[k]]
    if lost:
        lines.append(f"WARNING: uplift_at_30 does not beat {', '.join(lost)} on held-out customers")
    return lines
