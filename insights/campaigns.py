"""Campaign read-outs: every arm against the control (lift, 95% interval, p-value, 80%-power
MDE, sample-ratio check); outcomes the campaigns table lacks come from orders after `sent_at`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from churnrec import columns as C
from churnrec.workspace import Workspace

OUTCOMES = (C.CONVERTED, C.REVENUE, C.VISITED)
BINARY = frozenset({C.CONVERTED, C.VISITED})
ALPHA = 0.05
POWER = 0.8
SRM_ALPHA = 0.001  # the usual threshold: an SRM this unlikely means the split is broken
EXPERIMENT = "campaigns"


class CampaignError(ValueError):
    """The campaign, arm or outcome asked for is not in the data."""


@dataclass(frozen=True)
class ArmStats:
    arm: str
    customers: int
    means: dict[str, float | None]  # outcome -> rate / revenue per customer (None: unknown)


@dataclass(frozen=True)
class Lift:
    arm: str
    outcome: str
    control_mean: float
    arm_mean: float
    absolute: float
    absolute_ci: tuple[float, float]
    relative: float | None
    relative_ci: tuple[float, float] | None
    p_value: float
    mde_absolute: float  # smallest true difference detectable at 80% power with these sizes


@dataclass(frozen=True)
class Readout:
    campaign_id: str
    control: str
    arms: list[ArmStats]
    lifts: list[Lift]
    srm_p_value: float
    srm_detected: bool
    intended_split: dict[str, float]
    derived_outcomes: list[str] = field(default_factory=list)
    window_days: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def lift(self, arm: str, outcome: str) -> Lift:
        for item in self.lifts:
            if item.arm == arm and item.outcome == outcome:
                return item
        raise KeyError(f"no lift for arm {arm!r} and outcome {outcome!r}")

    def summary_lines(self) -> list[str]:
        lines = [f"campaign {self.campaign_id}: control arm {self.control!r}"]
        for a in self.arms:
            parts = [f"{a.customers:,} customers"]
            parts += [f"{o} {_fmt(o, v)}" for o in OUTCOMES if (v := a.means.get(o)) is not None]
            lines.append(f"  {a.arm}: " + ", ".join(parts))
        for x in self.lifts:
            rel = ""
            if x.relative is not None:
                low, high = x.relative_ci
                rel = f", relative {x.relative:+.1%} [{low:+.1%}, {high:+.1%}]"
            lines.append(
                f"  {x.arm} vs {self.control} {x.outcome}: {x.absolute:+.4g} "
                f"[{x.absolute_ci[0]:+.4g}, {x.absolute_ci[1]:+.4g}]{rel}, p={x.p_value:.3g}, "
                f"MDE(80%)={x.mde_absolute:.4g}"
            )
        verdict = "MISMATCH: do not trust this split" if self.srm_detected else "ok"
        lines.append(
            f"  sample ratio check vs intended split: p={self.srm_p_value:.3g} ({verdict})"
        )
        if self.derived_outcomes:
            lines.append(
                f"  derived from orders within {self.window_days} days of sending: "
                + ", ".join(self.derived_outcomes)
            )
        return lines


def _fmt(outcome: str, value: float) -> str:
    return f"{value:.2%}" if outcome in BINARY else f"{value:.2f} per customer"


def _z(q: float) -> float:
    return float(stats.norm.ppf(q))


def sample_size(
    baseline_rate: float, mde: float, *, alpha: float = ALPHA, power: float = POWER
) -> int:
    """Customers per arm to detect an absolute change `mde` of a rate `baseline_rate`
    (two-sided two-proportion z-test, pooled variance under the null)."""
    if not 0 < baseline_rate < 1:
        raise ValueError(f"--baseline-rate must be between 0 and 1, got {baseline_rate}")
    p2 = baseline_rate + mde
    if mde == 0 or not 0 < p2 < 1:
        raise ValueError(f"--mde must be non-zero and keep the rate within (0, 1), got {mde}")
    pbar = (baseline_rate + p2) / 2
    a, b = _z(1 - alpha / 2), _z(power)
    n = (
        a * math.sqrt(2 * pbar * (1 - pbar))
        + b * math.sqrt(baseline_rate * (1 - baseline_rate) + p2 * (1 - p2))
    ) ** 2 / mde**2
    return math.ceil(n)


def _lift(arm: str, outcome: str, control: np.ndarray, treated: np.ndarray) -> Lift:
    """Treated minus control: two-proportion z for rates, Welch for revenue."""
    binary = outcome in BINARY
    n0, n1 = len(control), len(treated)
    m0, m1 = float(control.mean()), float(treated.mean())
    v0 = m0 * (1 - m0) if binary else float(control.var(ddof=1))
    v1 = m1 * (1 - m1) if binary else float(treated.var(ddof=1))
    se = math.sqrt(v0 / n0 + v1 / n1)
    if binary:  # the test's own null variance: pooled rate
        pooled = (control.sum() + treated.sum()) / (n0 + n1)
        se_null = math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    else:
        se_null = se
    diff = m1 - m0
    z975 = _z(1 - ALPHA / 2)
    p = 2 * float(stats.norm.sf(abs(diff) / se_null)) if se_null > 0 else math.nan
    mde = (z975 + _z(POWER)) * math.sqrt(v0 / n0 + v0 / n1)
    rel = rel_ci = None
    if m0 > 0:
        rel, rel_ci = m1 / m0 - 1, (math.nan, math.nan)  # NaN: no treated outcome at all
        if m1 > 0:  # delta method on log(m1/m0): var = v1/(n1 m1^2) + v0/(n0 m0^2)
            se_log = math.sqrt(v1 / (n1 * m1**2) + v0 / (n0 * m0**2))
            rel_ci = tuple(math.exp(math.log(m1 / m0) + s * z975 * se_log) - 1 for s in (-1, 1))
    ci = (diff - z975 * se, diff + z975 * se)
    return Lift(arm, outcome, m0, m1, diff, ci, rel, rel_ci, p, mde)


def srm_p_value(counts: dict[str, int], intended: dict[str, float]) -> float:
    """Chi-square test of the arm sizes against the intended shares."""
    arms = list(counts)
    observed = np.array([counts[a] for a in arms], dtype=float)
    shares = np.array([intended[a] for a in arms], dtype=float)
    expected = observed.sum() * shares / shares.sum()
    return float(stats.chisquare(observed, expected).pvalue)


def readout(
    rows: pd.DataFrame,
    *,
    campaign_id: str,
    control: str | None = None,
    intended_split: dict[str, float] | None = None,
    derived: list[str] | None = None,
    window_days: int | None = None,
) -> Readout:
    """The read-out of one campaign's rows (arm + outcome columns)."""
    if rows.empty:
        raise CampaignError(f"campaign {campaign_id!r} has no rows")
    arms = sorted(rows[C.ARM].astype(str).unique())
    control = control or _guess_control(arms)
    if control not in arms:
        raise CampaignError(f"control arm {control!r} is not in campaign {campaign_id!r}: {arms}")
    intended = intended_split or {a: 1.0 for a in arms}
    unknown = sorted(set(arms) - set(intended))
    if unknown:
        raise CampaignError(f"--intended-split gives no share for arm(s) {unknown}")
    outcomes = [o for o in OUTCOMES if o in rows.columns and rows[o].notna().any()]
    by_arm = {a: g for a, g in rows.groupby(rows[C.ARM].astype(str))}
    treated = [a for a in arms if a != control]
    arm_stats = []
    for arm in [control, *treated]:
        means = {o: float(by_arm[arm][o].mean()) if o in outcomes else None for o in OUTCOMES}
        arm_stats.append(ArmStats(arm, len(by_arm[arm]), means))
    values = {(a, o): by_arm[a][o].dropna().to_numpy(dtype=float) for a in arms for o in outcomes}
    lifts = [
        _lift(arm, o, values[control, o], values[arm, o])
        for arm in treated
        for o in outcomes
        if len(values[control, o]) >= 2 and len(values[arm, o]) >= 2
    ]
    counts = {a.arm: a.customers for a in arm_stats}
    srm = srm_p_value(counts, intended) if len(counts) > 1 else 1.0
    return Readout(
        campaign_id,
        control,
        arm_stats,
        lifts,
        srm,
        srm < SRM_ALPHA,
        intended,
        list(derived or []),
        window_days,
    )


def _guess_control(arms: list[str]) -> str:
    """An arm whose name says control / holdout / no e-mail; otherwise ask for --control."""
    for arm in arms:
        name = arm.lower().replace("-", " ").replace("_", " ")
        if any(word in name for word in ("control", "holdout", "no e mail", "no email", "none")):
            return arm
    raise CampaignError(f"cannot tell which arm is the control among {arms}; pass --control ARM")


def parse_split(text: str | None) -> dict[str, float] | None:
    """`"treatment=0.8,control=0.2"` -> {"treatment": 0.8, "control": 0.2}."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        name, sep, share = part.rpartition("=")
        try:
            value = float(share)
        except ValueError:
            value = -1.0
        if not sep or not name.strip() or value <= 0:
            raise CampaignError(f"--intended-split part {part!r} is not ARM=SHARE with SHARE > 0")
        out[name.strip()] = value
    return out


def load_campaign_rows(ws: Workspace, campaign_id: str) -> pd.DataFrame:
    """The campaign's rows from `data/campaigns.parquet`; a clear error if absent."""
    path = ws.table_path(C.CAMPAIGNS)
    if not path.exists():
        raise CampaignError(
            f"no campaigns table at {path}; ingest one with `churnrec ingest --campaigns FILE`"
        )
    frame = pd.read_parquet(path)
    missing = [c for c in C.REQUIRED_COLUMNS[C.CAMPAIGNS] if c not in frame]
    if missing:
        raise CampaignError(f"{path} lacks column(s) {missing}")
    rows = frame[frame[C.CAMPAIGN_ID].astype(str) == str(campaign_id)].reset_index(drop=True)
    if rows.empty:
        known = sorted(frame[C.CAMPAIGN_ID].astype(str).unique())[:20]
        raise CampaignError(f"campaign {campaign_id!r} is not in {path}; known: {known}")
    return rows


def derive_outcomes(
    ws: Workspace, rows: pd.DataFrame, window_days: int
) -> tuple[pd.DataFrame, list[str]]:
    """Fill `converted` / `revenue` absent (all null) in `rows` from orders in the window after
    each customer's `sent_at`; return the rows and which outcomes were derived."""
    from churnrec.features.db import connect

    need = [o for o in (C.CONVERTED, C.REVENUE) if o not in rows or rows[o].isna().all()]
    if not need or not ws.has_table(C.ORDERS):
        return rows, []
    con = connect(ws)
    con.register("_sent", rows[[C.CUSTOMER_ID, C.SENT_AT]].drop_duplicates())
    window = con.execute(
        f"""SELECT s.{C.CUSTOMER_ID}, s.{C.SENT_AT}, COUNT(o.{C.ORDERED_AT}) AS n,
                   COALESCE(SUM(o.{C.AMOUNT}), 0) AS _rev
            FROM _sent s LEFT JOIN {C.ORDERS} o
              ON o.{C.CUSTOMER_ID} = s.{C.CUSTOMER_ID}
             AND o.{C.ORDERED_AT} > s.{C.SENT_AT}
             AND o.{C.ORDERED_AT} <= s.{C.SENT_AT} + to_days(?)
             AND NOT COALESCE(o.{C.IS_RETURN}, FALSE)
            GROUP BY 1, 2""",
        [window_days],
    ).df()
    out = rows.drop(columns=need, errors="ignore").merge(
        window, on=[C.CUSTOMER_ID, C.SENT_AT], how="left", validate="many_to_one"
    )
    if C.CONVERTED in need:
        out[C.CONVERTED] = (out["n"].fillna(0) > 0).astype("float64")
    if C.REVENUE in need:
        out[C.REVENUE] = out["_rev"].fillna(0.0).astype("float64")
    return out.drop(columns=["n", "_rev"]), need


def campaign_readout(
    workspace: Workspace | str | Path,
    campaign_id: str,
    *,
    control: str | None = None,
    window_days: int = 14,
    intended_split: dict[str, float] | None = None,
    log: bool = True,
) -> Readout:
    """Read out one campaign of the workspace (and log it to MLflow experiment `campaigns`)."""
    ws = Workspace.at(workspace)
    rows = load_campaign_rows(ws, campaign_id)
    rows, derived = derive_outcomes(ws, rows, window_days)
    result = readout(
        rows,
        campaign_id=str(campaign_id),
        control=control,
        intended_split=intended_split,
        derived=derived,
        window_days=window_days,
    )
    if log:
        log_readout(ws, result)
    return result


def lift_figure(result: Readout):
    """Absolute lift with its 95% interval, one panel per outcome."""
    from matplotlib.figure import Figure

    outcomes = sorted({x.outcome for x in result.lifts}, key=OUTCOMES.index)
    fig = Figure(figsize=(4.0 * max(1, len(outcomes)), 3.2), layout="constrained")
    axes = fig.subplots(1, max(1, len(outcomes)), squeeze=False)[0]
    for ax, outcome in zip(axes, outcomes, strict=False):
        items = [x for x in result.lifts if x.outcome == outcome]
        ys = np.arange(len(items))
        for y, x in zip(ys, items, strict=True):
            ax.errorbar(
                x.absolute,
                y,
                xerr=[[x.absolute - x.absolute_ci[0]], [x.absolute_ci[1] - x.absolute]],
                fmt="o",
                capsize=4,
            )
        ax.axvline(0, color="gray", lw=1)
        ax.set_yticks(ys, [x.arm for x in items])
        ax.set_title(f"{outcome}: lift vs {result.control}")
    return fig


def log_readout(ws: Workspace, result: Readout) -> str:
    """One run in experiment `campaigns` with the lifts as metrics, JSON and the lift plot."""
    import mlflow

    from churnrec.store.tracking import start_run

    with start_run(ws, EXPERIMENT, run_name=f"readout {result.campaign_id}") as run:
        mlflow.set_tags({"campaign_id": result.campaign_id, "control": result.control})
        metrics = {"srm_p_value": result.srm_p_value}
        for a in result.arms:
            key = _key(a.arm)
            metrics[f"{key}_customers"] = a.customers
            metrics.update({f"{key}_{o}": v for o, v in a.means.items() if v is not None})
        for x in result.lifts:
            key = f"{_key(x.arm)}_{x.outcome}"
            metrics.update({f"{key}_lift": x.absolute, f"{key}_p_value": x.p_value})
        mlflow.log_metrics(
            {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
        )
        mlflow.log_dict(jsonable(result.as_dict()), "readout.json")
        fig = lift_figure(result)
        mlflow.log_figure(fig, "lift.png")
        return run.info.run_id


def _key(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")


def jsonable(value: Any) -> Any:
    """Plain JSON values: tuples as lists, NaN as None (JSON has none), numpy scalars unboxed."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
