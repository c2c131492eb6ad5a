"""Simple rules as models: when no trained model beats the best rule on validation, the rule
is registered and served in its place. Reasons are the change in churn log-odds when one input
moves from the population's median to the customer's own value."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal, Self

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.btyd_summary import SOURCE_COLUMNS, TIME_UNIT_DAYS
from churnrec.columns import Feature, Score
from churnrec.models.base import ChurnScorer, RepurchasePredictor, read_saved_json
from churnrec.models.churn import Reason, btyd_inputs, btyd_model, top_reasons

_FILE = "baseline.json"
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _reasons(
    snapshot: pd.DataFrame,
    proba,
    reference: dict[str, float],
    top_k: int,
) -> list[list[Reason]]:
    """Per row, the inputs whose own value (vs the reference) pushes churn log-odds up most."""
    base = _logit(proba(snapshot))
    names = [n for n in reference if n in snapshot.columns]
    contrib = np.zeros((len(snapshot), len(names)))
    for j, name in enumerate(names):
        moved = snapshot.copy()
        moved[name] = reference[name]
        contrib[:, j] = base - _logit(proba(moved))
    values = snapshot[names].to_numpy(dtype="float64", na_value=np.nan)
    return top_reasons(names, values, contrib, top_k)


def _write(path: Path, payload: dict) -> None:
    (path / _FILE).write_text(json.dumps(payload, indent=2))


class BTYDChurnBaseline(ChurnScorer):
    """1 - P(purchase within `horizon_days`) from a fitted BG/NBD or Pareto/NBD."""

    def __init__(self, kind: str, params: dict[str, float], horizon_days: int, reference: dict):
        self.kind = kind
        self.horizon_days = int(horizon_days)
        self.reference = {k: float(v) for k, v in reference.items()}
        self.model = btyd_model(kind, params)

    @property
    def required_columns(self) -> list[str]:
        return list(SOURCE_COLUMNS)

    input_columns = required_columns

    @classmethod
    def fit(
        cls,
        snapshot: pd.DataFrame,
        kind: str,
        horizon_days: int,
        *,
        max_customers: int | None = None,
    ) -> Self:
        """Fit on one cut-off's snapshot (history only); raises when the fit fails.
        `max_customers`: as for `BTYDModel.fit`; every row is still scored."""
        x, tx, age = btyd_inputs(snapshot)
        ok = ~(np.isnan(x) | np.isnan(tx) | np.isnan(age))
        fitted = btyd_model(kind).fit(x[ok], tx[ok], age[ok], max_customers=max_customers)
        return cls.from_fitted(snapshot, fitted, horizon_days)

    @classmethod
    def from_fitted(cls, snapshot: pd.DataFrame, fitted, horizon_days: int) -> Self:
        """The rule from a BTYD model already fitted on this snapshot's rows (no second fit)."""
        reference = {c: float(snapshot[c].astype("float64").median()) for c in SOURCE_COLUMNS}
        return cls(fitted.KIND, fitted.params, horizon_days, reference)

    def _predict(self, snapshot: pd.DataFrame) -> np.ndarray:
        x, tx, age = btyd_inputs(snapshot)
        ok = ~(np.isnan(x) | np.isnan(tx) | np.isnan(age))
        out = np.full(len(snapshot), np.nan)
        if ok.any():
            t = self.horizon_days / TIME_UNIT_DAYS
            with np.errstate(all="ignore"):
                out[ok] = 1.0 - self.model.prob_purchase_within(t, x[ok], tx[ok], age[ok])
        # A row without recency/tenure gets the typical customer's score, not a crash.
        fill = float(np.nanmean(out)) if ok.any() else 0.5
        return np.clip(np.where(np.isnan(out), fill, out), 0.0, 1.0)

    def explain(self, snapshot: pd.DataFrame, top_k: int = 3) -> list[list[Reason]]:
        return _reasons(snapshot, self.predict_proba, self.reference, top_k)

    def _save(self, path: Path) -> None:
        _write(
            path,
            {
                "kind": self.kind,
                "params": self.model.params,
                "horizon_days": self.horizon_days,
                "reference": self.reference,
            },
        )

    @classmethod
    def _load(cls, path: Path) -> Self:
        raw = read_saved_json(path, _FILE, cls)
        return cls(raw["kind"], raw["params"], raw["horizon_days"], raw["reference"])


class RecencyChurnBaseline(ChurnScorer):
    """P(churn) = sigmoid(a * recency_days + b), the Platt map fitted on validation rows."""

    def __init__(self, a: float, b: float, reference: float) -> None:
        self.a, self.b, self.reference = float(a), float(b), float(reference)

    @property
    def required_columns(self) -> list[str]:
        return [Feature.RECENCY_DAYS]

    input_columns = required_columns

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> Self:
        """Platt fit of `churned` on `recency_days` over labelled (validation) rows."""
        from sklearn.linear_model import LogisticRegression

        x = frame[Feature.RECENCY_DAYS].to_numpy(dtype="float64", na_value=np.nan)
        y = frame[C.CHURNED].astype("float64").to_numpy()
        ok = ~np.isnan(x)
        lr = LogisticRegression(C=1e6).fit(x[ok].reshape(-1, 1), y[ok])
        return cls(float(lr.coef_[0, 0]), float(lr.intercept_[0]), float(np.median(x[ok])))

    def _predict(self, snapshot: pd.DataFrame) -> np.ndarray:
        x = snapshot[Feature.RECENCY_DAYS].to_numpy(dtype="float64", na_value=np.nan)
        x = np.where(np.isnan(x), self.reference, x)
        return 1.0 / (1.0 + np.exp(-(self.a * x + self.b)))

    def explain(self, snapshot: pd.DataFrame, top_k: int = 3) -> list[list[Reason]]:
        return _reasons(snapshot, self.predict_proba, {Feature.RECENCY_DAYS: self.reference}, top_k)

    def _save(self, path: Path) -> None:
        _write(path, {"a": self.a, "b": self.b, "reference": self.reference})

    @classmethod
    def _load(cls, path: Path) -> Self:
        raw = read_saved_json(path, _FILE, cls)
        return cls(raw["a"], raw["b"], raw["reference"])


GapRule = Literal["median_gap", "gap_remaining"]


class MedianGapRepurchase(RepurchasePredictor):
    """Days to next order from each customer's median past gap (`median_gap`), or max(gap -
    recency_days, 1) (`gap_remaining`); others get the population median. P(order within t
    days) = 1 - 2^(-t / days), an exponential."""

    unknown_ids = "population"

    def __init__(self, gaps: dict[str, float], population_days: float, rule: GapRule) -> None:
        self.gaps = {str(k): float(v) for k, v in gaps.items()}
        self.population_days = float(population_days)
        self.rule: GapRule = rule

    def expected_days(self, snapshot: pd.DataFrame) -> np.ndarray:
        ids = snapshot[C.CUSTOMER_ID].astype(str)
        days = ids.map(self.gaps).fillna(self.population_days).to_numpy(dtype="float64")
        if self.rule == "gap_remaining":
            recency = snapshot[Feature.RECENCY_DAYS].to_numpy(dtype="float64", na_value=0.0)
            days = np.maximum(days - recency, 1.0)
        return np.maximum(days, 1.0)

    def _predict(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        from churnrec.models.repurchase import PROBABILITY_DAYS

        days = self.expected_days(snapshot)
        out = pd.DataFrame({Score.EXPECTED_DAYS_TO_NEXT_ORDER: days}, index=snapshot.index)
        for column, horizon in PROBABILITY_DAYS.items():
            out[column] = -np.expm1(-math.log(2.0) * horizon / days)
        return out

    def _save(self, path: Path) -> None:
        _write(
            path, {"gaps": self.gaps, "population_days": self.population_days, "rule": self.rule}
        )

    @classmethod
    def _load(cls, path: Path) -> Self:
        raw = read_saved_json(path, _FILE, cls)
        return cls(raw["gaps"], raw["population_days"], raw["rule"])
