"""Customer lifetime value, spend in the next H days: `btyd` (BG/NBD x Gamma-Gamma) or `boosted`
(Tweedie LightGBM, as spend is mostly zero, on the snapshot plus BTYD stacking features). The BTYD
fit travels inside the model, so serving computes the same features."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec.btyd_summary import SOURCE_COLUMNS, TIME_UNIT_DAYS, btyd_inputs
from churnrec.columns import Feature
from churnrec.models.base import ModelKind, ValueModel
from churnrec.models.bgnbd import BGNBD, PENALIZER_COEF, BTYDConfig, BTYDFitError
from churnrec.models.gammagamma import GammaGamma
from churnrec.settings import fit_threads

Predictor = Literal["btyd", "boosted"]
MODEL_FILE = "clv.json"
BOOSTER_FILE = "booster.txt"

# Stacking features derived from the snapshot row and the BTYD fit (same at train and serve).
BTYD_PURCHASES = "clv_btyd_expected_purchases"
BTYD_P_ALIVE = "clv_btyd_p_alive"
GG_SPEND = "clv_gg_expected_order_value"
BTYD_CLV = "clv_btyd_value"
HEURISTIC = "clv_heuristic"
STACK_FEATURES = (BTYD_PURCHASES, BTYD_P_ALIVE, GG_SPEND, BTYD_CLV, HEURISTIC)


class BoostedConfig(BaseModel):
    """Hyper-parameters of the boosted regressor (a candidate list is tried in training)."""

    model_config = ConfigDict(extra="forbid")

    tweedie_variance_power: float = Field(1.5, gt=1.0, lt=2.0)
    n_estimators: int = Field(300, ge=10)
    learning_rate: float = Field(0.03, gt=0)
    num_leaves: int = Field(15, ge=2)
    min_child_samples: int = Field(40, ge=1)
    seed: int = 7


def heuristic_clv(snapshot: pd.DataFrame) -> np.ndarray:
    """orders x AOV / (1 + recency_days / 30): past spend, discounted by how long ago it was."""
    total = snapshot[Feature.MONETARY_TOTAL].to_numpy(dtype="float64", na_value=0.0)
    recency = snapshot[Feature.RECENCY_DAYS].to_numpy(dtype="float64", na_value=np.nan)
    return total / (1.0 + np.nan_to_num(recency, nan=365.0) / 30.0)


# Penalty of the fallback BG/NBD fit: 100x pulls a runaway fit back to a finite model.
_FALLBACK_PENALIZER = 100 * PENALIZER_COEF


def fit_bgnbd_bounded(x: np.ndarray, tx: np.ndarray, age: np.ndarray) -> BGNBD:
    """BG/NBD; where the free fit fails, the optimum under a stronger penalty (in `fit_notes`):
    CLV needs *some* purchase forecast for every shop. BTYDFitError when neither has an answer."""
    config = BTYDConfig(time_unit_days=TIME_UNIT_DAYS)
    try:
        return BGNBD(config).fit(x, tx, age)
    except BTYDFitError as exc:
        stronger = config.model_copy(update={"penalizer_coef": _FALLBACK_PENALIZER})
        model = BGNBD(stronger).fit(x, tx, age)
        model.fit_notes.append(f"free fit failed ({exc}); penalizer_coef={_FALLBACK_PENALIZER:g}")
        return model


class BTYDValue:
    """BG/NBD x Gamma-Gamma fitted on one cut-off's snapshot rows."""

    def __init__(self, bgnbd: BGNBD, gg: GammaGamma) -> None:
        self.bgnbd = bgnbd
        self.gg = gg

    @classmethod
    def fit(cls, snapshot: pd.DataFrame) -> BTYDValue:
        """Both fits on the snapshot's rows; raises BTYDFitError (or its subclass
        GammaGammaFitError) with the reason when one has no answer."""
        x, tx, age = btyd_inputs(snapshot)
        ok = ~(np.isnan(x) | np.isnan(tx) | np.isnan(age))
        bgnbd = fit_bgnbd_bounded(x[ok], tx[ok], age[ok])
        m = snapshot[Feature.MONETARY_AVG].to_numpy(dtype="float64", na_value=np.nan)
        usable = ok & (x > 0) & np.isfinite(m) & (m > 0)
        gg = GammaGamma().fit(x[usable], m[usable])
        return cls(bgnbd, gg)

    def features(self, snapshot: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
        """The stacking columns for `snapshot`'s rows (same index)."""
        x, tx, age = btyd_inputs(snapshot)
        ok = ~(np.isnan(x) | np.isnan(tx) | np.isnan(age))
        purchases = np.full(len(snapshot), np.nan)
        alive = np.full(len(snapshot), np.nan)
        t = horizon_days / TIME_UNIT_DAYS
        with np.errstate(all="ignore"):
            purchases[ok] = self.bgnbd.expected_purchases(t, x[ok], tx[ok], age[ok])
            alive[ok] = self.bgnbd.p_alive(x[ok], tx[ok], age[ok])
        m = snapshot[Feature.MONETARY_AVG].to_numpy(dtype="float64", na_value=np.nan)
        repeat = np.where(ok & np.isfinite(m) & (m > 0), np.nan_to_num(x), 0.0)
        spend = self.gg.expected_spend(repeat, np.where(repeat > 0, m, 1.0))
        columns = {
            BTYD_PURCHASES: purchases,
            BTYD_P_ALIVE: alive,
            GG_SPEND: spend,
            BTYD_CLV: np.nan_to_num(purchases * spend, nan=0.0),
            HEURISTIC: heuristic_clv(snapshot),
        }
        return pd.DataFrame(columns, index=snapshot.index)

    def to_json(self) -> dict:
        return {"bgnbd": self.bgnbd.params, "gammagamma": self.gg.params}

    @classmethod
    def from_json(cls, raw: dict) -> BTYDValue:
        config = BTYDConfig(time_unit_days=TIME_UNIT_DAYS)
        return cls(
            BGNBD.from_params(raw["bgnbd"], config), GammaGamma.from_params(raw["gammagamma"])
        )


class ClvModel(ValueModel):
    """Predicted spend in the next `horizon_days` per snapshot row (>= 0)."""

    kind = ModelKind.CLV

    def __init__(
        self,
        predictor: Predictor,
        horizon_days: int,
        btyd: BTYDValue,
        feature_names: list[str] | None = None,
        config: BoostedConfig | None = None,
    ) -> None:
        self.predictor = predictor
        self.horizon_days = int(horizon_days)
        self.btyd = btyd
        self.feature_names = list(feature_names or [])
        self.config = config or BoostedConfig()
        self._booster = None

    @property
    def input_columns(self) -> list[str]:
        """Snapshot columns the model reads (the stacking features are derived)."""
        own = [f for f in self.feature_names if f not in STACK_FEATURES]
        needed = [*SOURCE_COLUMNS, Feature.MONETARY_TOTAL, Feature.MONETARY_AVG]
        return own + [c for c in needed if c not in own]

    def design(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        """Snapshot + stacking features, as float64 in `feature_names` order."""
        stack = self.btyd.features(snapshot, self.horizon_days)
        frame = pd.concat(
            [snapshot.drop(columns=list(stack.columns), errors="ignore"), stack], axis=1
        )
        missing = [f for f in self.feature_names if f not in frame.columns]
        if missing:
            raise ValueError(f"snapshot lacks CLV feature column(s) {missing}")
        return self._floats(frame)

    def _floats(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame`'s `feature_names` columns as float64 (NaN for missing values)."""
        return pd.DataFrame(
            {f: frame[f].to_numpy(dtype="float64", na_value=np.nan) for f in self.feature_names},
            index=frame.index,
        )

    def fit(self, frame: pd.DataFrame, target: np.ndarray) -> Self:
        """Fit the boosted regressor on snapshot rows (with their own stacking columns)."""
        import lightgbm as lgb

        cfg = self.config
        x = self._floats(frame)
        params = {
            "objective": "tweedie",
            "tweedie_variance_power": cfg.tweedie_variance_power,
            "learning_rate": cfg.learning_rate,
            "num_leaves": cfg.num_leaves,
            "min_child_samples": cfg.min_child_samples,
            "seed": cfg.seed,
            "deterministic": True,
            "num_threads": fit_threads(*x.shape),  # one thread on small data (settings)
            "verbose": -1,
        }
        data = lgb.Dataset(x, np.asarray(target, dtype="float64"), feature_name=self.feature_names)
        self._booster = lgb.train(params, data, num_boost_round=cfg.n_estimators)
        return self

    @property
    def is_fitted(self) -> bool:
        return self.predictor == "btyd" or self._booster is not None

    def _predict(self, snapshot: pd.DataFrame) -> np.ndarray:
        """Predicted spend in the next `horizon_days` days, one value per row."""
        if self.predictor == "btyd":
            return self.btyd.features(snapshot, self.horizon_days)[BTYD_CLV].to_numpy()
        return np.maximum(self._booster.predict(self.design(snapshot).to_numpy()), 0.0)

    def predict_stacked(self, frame: pd.DataFrame) -> np.ndarray:
        """Like `predict`, for rows that already carry their own cut-off's stacking columns
        (training rows: each cut-off has its own BTYD fit)."""
        if self.predictor == "btyd":
            return frame[BTYD_CLV].to_numpy(dtype="float64")
        if self._booster is None:
            raise RuntimeError("boosted ClvModel has no booster: fit() or load() first")
        return np.maximum(self._booster.predict(self._floats(frame).to_numpy()), 0.0)

    def _save(self, path: Path) -> None:
        payload = {
            "predictor": self.predictor,
            "horizon_days": self.horizon_days,
            "btyd": self.btyd.to_json(),
            "feature_names": self.feature_names,
            "config": self.config.model_dump(),
        }
        (path / MODEL_FILE).write_text(json.dumps(payload, indent=2) + "\n")
        if self._booster is not None:
            self._booster.save_model(str(path / BOOSTER_FILE))

    @classmethod
    def _load(cls, path: Path) -> Self:
        raw = json.loads((path / MODEL_FILE).read_text())
        model = cls(
            raw["predictor"],
            raw["horizon_days"],
            BTYDValue.from_json(raw["btyd"]),
            raw["feature_names"],
            BoostedConfig(**raw["config"]),
        )
        if (path / BOOSTER_FILE).exists():
            import lightgbm as lgb

            model._booster = lgb.Booster(model_file=str(path / BOOSTER_FILE))
        return model
