"""Uplift, the change in a customer's outcome if contacted: LightGBM meta-learners, `t` (one
outcome model per arm) or `x` (Kuenzel et al. 2019: effect models on the T-learner's imputed
effects, blended by the treated share e: tau = e tau0 + (1 - e) tau1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.columns import Feature
from churnrec.models.base import ModelKind, ValueModel
from churnrec.settings import fit_threads

Learner = Literal["t", "x"]
MODEL_FILE = "uplift.json"
# What `_save` writes and `_load` passes back to the constructor, in the file's order.
_SAVED = (
    "learner",
    "outcome",
    "config",
    "numeric",
    "levels",
    "treated_share",
    "campaign_id",
    "treatment",
    "control",
)
MAX_LEVELS = 20  # text attributes with more distinct values than this are left out
# Snapshot / customer columns that are ids, times, labels or contact permissions, not behaviour.
NON_FEATURES = frozenset(
    {
        C.CUSTOMER_ID,
        C.AS_OF,
        C.MARKETING_CONSENT,
        C.SIGNED_UP_AT,
        Feature.FIRST_ORDER_AT,
        Feature.LAST_ORDER_AT,
        C.CAMPAIGN_ID,
        C.ARM,
        C.SENT_AT,
        C.CONVERTED,
        C.REVENUE,
        C.VISITED,
    }
)


class UpliftConfig(BaseModel):
    """LightGBM settings shared by every sub-model (small, regularised: effects are small)."""

    model_config = ConfigDict(extra="forbid")

    n_estimators: int = Field(150, ge=10)
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(15, ge=2)
    min_child_samples: int = Field(100, ge=1)
    seed: int = 7


def uplift_frame(snapshot: pd.DataFrame | None, customers: pd.DataFrame | None) -> pd.DataFrame:
    """One row per customer of either table: snapshot columns (NaN for an attribute-only
    customer) + customer attributes the snapshot lacks."""
    parts = [f for f in (snapshot, customers) if f is not None and not f.empty]
    if not parts:
        return pd.DataFrame({C.CUSTOMER_ID: pd.Series(dtype="string")})
    frames = [f.assign(**{C.CUSTOMER_ID: f[C.CUSTOMER_ID].astype(str)}) for f in parts]
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    snap, attrs = frames
    attrs = attrs.drop_duplicates(C.CUSTOMER_ID, keep="last")
    extra = [c for c in attrs.columns if c == C.CUSTOMER_ID or c not in snap.columns]
    return snap.merge(attrs[extra], on=C.CUSTOMER_ID, how="outer").reset_index(drop=True)


def feature_spec(frame: pd.DataFrame) -> tuple[list[str], dict[str, list[str]]]:
    """(numeric columns, {text column: levels}) a model reads from frames like `frame`."""
    numeric, levels = [], {}
    for name in frame.columns:
        if name in NON_FEATURES:
            continue
        dtype = frame[name].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            continue
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            numeric.append(str(name))
        else:
            values = sorted(frame[name].dropna().astype(str).unique())
            if 1 < len(values) <= MAX_LEVELS:
                levels[str(name)] = values
    return numeric, levels


def design_matrix(
    frame: pd.DataFrame, numeric: list[str], levels: dict[str, list[str]]
) -> tuple[np.ndarray, list[str]]:
    """Float matrix: numeric columns as is (NaN when absent), text columns one-hot."""
    cols = [
        frame[name].to_numpy(dtype="float64", na_value=np.nan)
        if name in frame.columns
        else np.full(len(frame), np.nan)
        for name in numeric
    ]
    names = list(numeric)
    for name, values in levels.items():
        text = (
            frame[name].astype(str).to_numpy()
            if name in frame.columns
            else np.full(len(frame), "", dtype=object)
        )
        for level in values:
            cols.append((text == level).astype("float64"))
            names.append(f"{name}={level}")
    matrix = np.column_stack(cols) if cols else np.zeros((len(frame), 0))
    return matrix, names


class UpliftModel(ValueModel):
    """Fitted meta-learner; `predict(frame)` gives the uplift per row."""

    kind = ModelKind.UPLIFT

    def __init__(
        self,
        learner: Learner = "t",
        outcome: str = C.CONVERTED,
        config: UpliftConfig | None = None,
        numeric: list[str] | None = None,
        levels: dict[str, list[str]] | None = None,
        treated_share: float = 0.5,
        campaign_id: str = "",
        treatment: str = "",
        control: str = "",
    ) -> None:
        self.learner = learner
        self.outcome = outcome
        self.config = config or UpliftConfig()
        self.numeric = list(numeric or [])
        self.levels = dict(levels or {})
        self.treated_share = float(treated_share)
        self.campaign_id, self.treatment, self.control = campaign_id, treatment, control
        self._boosters: dict[str, object] = {}

    @property
    def binary(self) -> bool:
        return self.outcome != C.REVENUE

    @property
    def input_columns(self) -> list[str]:
        return [*self.numeric, *self.levels]

    def _train(self, kind: str, x: np.ndarray, y: np.ndarray):
        import lightgbm as lgb

        cfg = self.config
        objective = {"outcome": "binary" if self.binary else "tweedie", "effect": "regression"}
        params = {
            "objective": objective[kind],
            "learning_rate": cfg.learning_rate,
            "num_leaves": cfg.num_leaves,
            "min_child_samples": cfg.min_child_samples,
            "seed": cfg.seed,
            "deterministic": True,
            "num_threads": fit_threads(*x.shape),  # one thread on small data
            "verbose": -1,
        }
        data = lgb.Dataset(x, y.astype("float64"), free_raw_data=True)
        return lgb.train(params, data, num_boost_round=cfg.n_estimators)

    def fit(self, frame: pd.DataFrame, treated: np.ndarray, y: np.ndarray) -> Self:
        """Fit on rows of one campaign: `treated` 1/0 per row, `y` the observed outcome."""
        t = np.asarray(treated, dtype=bool)
        y = np.asarray(y, dtype="float64")
        if t.all() or not t.any():
            raise ValueError("uplift needs both treated and control customers")
        if not self.numeric and not self.levels:
            self.numeric, self.levels = feature_spec(frame)
        x, _ = design_matrix(frame, self.numeric, self.levels)
        self.treated_share = float(t.mean())
        self._boosters = {
            "mu1": self._train("outcome", x[t], y[t]),
            "mu0": self._train("outcome", x[~t], y[~t]),
        }
        if self.learner == "x":
            mu0, mu1 = self._boosters["mu0"].predict(x), self._boosters["mu1"].predict(x)
            self._boosters["tau1"] = self._train("effect", x[t], y[t] - mu0[t])
            self._boosters["tau0"] = self._train("effect", x[~t], mu1[~t] - y[~t])
        return self

    @property
    def is_fitted(self) -> bool:
        return bool(self._boosters)

    def _predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted outcome if treated minus if not, one value per row."""
        x, _ = design_matrix(frame, self.numeric, self.levels)
        boosters = self._boosters
        if self.learner == "x":
            e = self.treated_share
            return e * boosters["tau0"].predict(x) + (1 - e) * boosters["tau1"].predict(x)
        return boosters["mu1"].predict(x) - boosters["mu0"].predict(x)

    def _save(self, path: Path) -> None:
        payload = {name: getattr(self, name) for name in _SAVED} | {
            "config": self.config.model_dump(),
            "boosters": sorted(self._boosters),
        }
        (path / MODEL_FILE).write_text(json.dumps(payload, indent=2) + "\n")
        for name, booster in self._boosters.items():
            booster.save_model(str(path / f"{name}.txt"))

    @classmethod
    def _load(cls, path: Path) -> Self:
        import lightgbm as lgb

        raw = json.loads((path / MODEL_FILE).read_text())
        model = cls(
            **{name: raw[name] for name in _SAVED} | {"config": UpliftConfig(**raw["config"])}
        )
        model._boosters = {
            n: lgb.Booster(model_file=str(path / f"{n}.txt")) for n in raw["boosters"]
        }
        return model
