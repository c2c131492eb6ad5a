"""Logistic regression on recency, repeat days and tenure (learner `logistic`): on small or
cohort-shaped data (CDNOW) the trees over-fit and lose to rules, this keeps what rules know and
weighs it from data. Reasons are exact: coefficient x (value - training mean), in log-odds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd

from churnrec import columns as C
from churnrec.columns import Feature
from churnrec.models.base import ChurnScorer, read_saved_json
from churnrec.models.churn import Reason, top_reasons

INPUTS = (Feature.RECENCY_DAYS, Feature.REPEAT_PURCHASE_DAYS, Feature.TENURE_DAYS)
_FILE = "logistic_churn.json"


def _design(frame: pd.DataFrame, means: np.ndarray | None = None) -> np.ndarray:
    missing = [c for c in INPUTS if c not in frame.columns]
    if missing:
        raise ValueError(f"input lacks {missing}, needed by the logistic churn model")
    x = np.column_stack([frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in INPUTS])
    x[:, 1] = np.log1p(np.maximum(x[:, 1], 0))
    if means is not None:  # missing values count as typical
        x = np.where(np.isnan(x), means, x)
    return x


class LogisticChurnModel(ChurnScorer):
    """Standardised logistic regression on `INPUTS` with a Platt map to P(churn)."""

    learner = "logistic"

    def __init__(self, coef, intercept, means, scales, platt=(1.0, 0.0)) -> None:
        self.coef = np.asarray(coef, dtype="float64")
        self.intercept = float(intercept)
        self.means = np.asarray(means, dtype="float64")
        self.scales = np.asarray(scales, dtype="float64")
        self.platt = (float(platt[0]), float(platt[1]))

    @property
    def feature_names(self) -> list[str]:
        return list(INPUTS)

    input_columns = feature_names

    @classmethod
    def fit(cls, train: pd.DataFrame, valid: pd.DataFrame, seed: int = 42) -> Self:
        from sklearn.linear_model import LogisticRegression

        x = _design(train)
        ok = ~np.isnan(x).any(axis=1)
        means, scales = x[ok].mean(axis=0), x[ok].std(axis=0)
        scales = np.where(scales > 0, scales, 1.0)
        y = train[C.CHURNED].astype("float64").to_numpy()
        lr = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
        lr.fit((x[ok] - means) / scales, y[ok])
        model = cls(lr.coef_[0], lr.intercept_[0], means, scales)
        margin = model.raw_margin(valid).reshape(-1, 1)
        platt = LogisticRegression(C=1e6).fit(margin, valid[C.CHURNED].astype("float64"))
        model.platt = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        return model

    def raw_margin(self, snapshot: pd.DataFrame) -> np.ndarray:
        z = (_design(snapshot, self.means) - self.means) / self.scales
        return z @ self.coef + self.intercept

    def _predict(self, snapshot: pd.DataFrame) -> np.ndarray:
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-(a * self.raw_margin(snapshot) + b)))

    def feature_importances(self) -> pd.Series:
        share = np.abs(self.coef) / max(np.abs(self.coef).sum(), 1e-12)
        return pd.Series(share, index=list(INPUTS), name="importance").sort_values(ascending=False)

    def explain(self, snapshot: pd.DataFrame, top_k: int = 3) -> list[list[Reason]]:
        raw = _design(snapshot)
        filled = np.where(np.isnan(raw), self.means, raw)
        contrib = self.platt[0] * (filled - self.means) / self.scales * self.coef
        values = snapshot[list(INPUTS)].to_numpy(dtype="float64", na_value=np.nan)
        return top_reasons(list(INPUTS), values, contrib, top_k)

    def _save(self, path: Path) -> None:
        payload = {
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "means": self.means.tolist(),
            "scales": self.scales.tolist(),
            "platt": list(self.platt),
        }
        (path / _FILE).write_text(json.dumps(payload, indent=2))

    @classmethod
    def _load(cls, path: Path) -> Self:
        raw = read_saved_json(path, _FILE, cls)
        return cls(raw["coef"], raw["intercept"], raw["means"], raw["scales"], raw["platt"])
