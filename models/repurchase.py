"""Days from the cut-off to a customer's next order: an XGBoost accelerated-failure-time model,
trained on the not-yet-returned as `[t, +inf)` instead of dropping them (that would bias every
prediction short). `ln T = mu(x) + sigma * Z`, so `P(T <= t) = F((ln t - mu) / sigma)`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal, Self

import numpy as np
import pandas as pd
import xgboost as xgb
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import expit, ndtr

from churnrec import columns as C
from churnrec.columns import Score
from churnrec.models.base import RepurchasePredictor, set_xgb_threads
from churnrec.settings import fit_threads

PROBABILITY_DAYS: dict[str, int] = {
    Score.P_ORDER_7D: 7,
    Score.P_ORDER_30D: 30,
    Score.P_ORDER_90D: 90,
}
PREDICTION_COLUMNS = (
    Score.EXPECTED_DAYS_TO_NEXT_ORDER,
    Score.P_ORDER_7D,
    Score.P_ORDER_30D,
    Score.P_ORDER_90D,
)

MIN_DAYS = 0.5  # a zero-day label has ln 0 = -inf; half a day keeps it finite and still shortest

_BOOSTER_FILE = "booster.ubj"
_CONFIG_FILE = "config.json"
_META_FILE = "model.json"

Distribution = Literal["normal", "logistic", "extreme"]


class RepurchaseModelConfig(BaseModel):
    """Hyperparameters of the AFT booster; the flat dict goes straight to `mlflow.log_params`."""

    model_config = ConfigDict(extra="forbid")

    distribution: Distribution = "normal"
    distribution_scale: float = Field(1.0, gt=0)
    num_boost_round: int = Field(300, ge=1)
    learning_rate: float = Field(0.05, gt=0, le=1)
    max_depth: int = Field(4, ge=1, le=16)
    min_child_weight: float = Field(5.0, ge=0)
    subsample: float = Field(1.0, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    seed: int = 42
    early_stopping_rounds: int | None = Field(30, ge=1)
    n_threads: int | None = Field(
        None,
        ge=1,
        description=(
            "None: fit on one thread (the AFT fit measured faster on one than on two, at 6k and "
            "at 200k rows), predict by the data's size (churnrec.settings.fit_threads)"
        ),
    )

    def xgb_params(self) -> dict[str, object]:
        return {
            "objective": "survival:aft",
            "eval_metric": "aft-nloglik",
            "aft_loss_distribution": self.distribution,
            "aft_loss_distribution_scale": self.distribution_scale,
            "learning_rate": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "lambda": self.reg_lambda,
            "tree_method": "hist",
            "seed": self.seed,
            "verbosity": 0,
            "nthread": self.n_threads or 1,  # see `n_threads`
        }


def aft_cdf(z: np.ndarray, distribution: Distribution) -> np.ndarray:
    """CDF of the AFT noise Z, exactly as XGBoost defines it (extreme = Gumbel-min, Weibull T)."""
    if distribution == "normal":
        return ndtr(z)
    if distribution == "logistic":
        return expit(z)
    if distribution == "extreme":
        return -np.expm1(-np.exp(z))
    raise ValueError(f"unknown AFT distribution {distribution!r}")


def survival_bounds(days: np.ndarray, censored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AFT label interval per row: `[t, t]` for an observed next order, `[t, +inf)` if censored."""
    t = np.maximum(np.asarray(days, dtype=float), MIN_DAYS)
    upper = np.where(np.asarray(censored, dtype=bool), np.inf, t)
    return t, upper


def _check_labels(frame: pd.DataFrame) -> None:
    missing = [c for c in (C.DAYS_TO_NEXT_ORDER, C.CENSORED) if c not in frame.columns]
    if missing:
        raise ValueError(f"repurchase training frame lacks label column(s) {missing}")
    days = frame[C.DAYS_TO_NEXT_ORDER]
    if days.isna().any():
        row = days.index[days.isna()][0]
        raise ValueError(f"{C.DAYS_TO_NEXT_ORDER} is missing in row {row!r}")
    if (days < 0).any():
        row = days.index[days < 0][0]
        raise ValueError(f"{C.DAYS_TO_NEXT_ORDER} is negative ({days[row]}) in row {row!r}")


class RepurchaseModel(RepurchasePredictor):
    """Fitted AFT booster + its feature list + config; predicts days and P(order within t days)."""

    def __init__(
        self,
        booster: xgb.Booster,
        feature_names: list[str],
        config: RepurchaseModelConfig,
        n_trees: int,
    ) -> None:
        self.booster = booster
        self.feature_names = list(feature_names)
        self.config = config
        self.n_trees = n_trees

    @classmethod
    def fit(
        cls,
        train_frame: pd.DataFrame,
        feature_names: list[str],
        config: RepurchaseModelConfig | None = None,
        valid_frame: pd.DataFrame | None = None,
    ) -> Self:
        """Fit on rows with `days_to_next_order` and `censored`; `valid_frame` (other customers)
        enables early stopping, without it all `num_boost_round` trees are kept."""
        config = config or RepurchaseModelConfig()
        if not feature_names:
            raise ValueError("repurchase model needs at least one feature column")
        if len(train_frame) == 0:
            raise ValueError("repurchase training frame is empty")
        _check_labels(train_frame)
        dtrain = cls._dmatrix(train_frame, feature_names, labelled=True)
        # Only validation rows are scored per round (early stopping); training rows cost a pass.
        evals = []
        use_valid = (
            valid_frame is not None and len(valid_frame) > 0 and config.early_stopping_rounds
        )
        if use_valid:
            _check_labels(valid_frame)
            evals.append((cls._dmatrix(valid_frame, feature_names, labelled=True), "valid"))
        booster = xgb.train(
            config.xgb_params(),
            dtrain,
            num_boost_round=config.num_boost_round,
            evals=evals,
            early_stopping_rounds=config.early_stopping_rounds if use_valid else None,
            verbose_eval=False,
        )
        n_trees = booster.best_iteration + 1 if use_valid else config.num_boost_round
        return cls(booster, feature_names, config, n_trees)

    @staticmethod
    def _features(frame: pd.DataFrame, feature_names: list[str]) -> np.ndarray:
        missing = [c for c in feature_names if c not in frame.columns]
        if missing:
            raise ValueError(f"input lacks repurchase feature column(s) {missing}")
        try:
            return frame[feature_names].astype("float64").to_numpy()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"repurchase features must be numeric: {exc}") from exc

    @classmethod
    def _dmatrix(
        cls, frame: pd.DataFrame, feature_names: list[str], *, labelled: bool
    ) -> xgb.DMatrix:
        dmat = xgb.DMatrix(
            cls._features(frame, feature_names), feature_names=feature_names, missing=np.nan
        )
        if labelled:
            lower, upper = survival_bounds(
                frame[C.DAYS_TO_NEXT_ORDER].to_numpy(), frame[C.CENSORED].to_numpy()
            )
            dmat.set_float_info("label_lower_bound", lower)
            dmat.set_float_info("label_upper_bound", upper)
        return dmat

    def predict_mu(self, snapshot: pd.DataFrame) -> np.ndarray:
        """Location `mu = E[ln T]`-like margin per row (log-days)."""
        if len(snapshot) == 0:
            return np.empty(0)
        dmat = self._dmatrix(snapshot, self.feature_names, labelled=False)
        threads = fit_threads(dmat.num_row(), dmat.num_col(), self.config.n_threads)
        set_xgb_threads(self, self.booster, threads)
        return self.booster.predict(
            dmat, output_margin=True, iteration_range=(0, self.n_trees)
        ).astype(float)

    def p_order_within(self, snapshot: pd.DataFrame, days: float) -> np.ndarray:
        """P(next order within `days` of the cut-off) per row."""
        return self._cdf(self.predict_mu(snapshot), days)

    def _cdf(self, mu: np.ndarray, days: float) -> np.ndarray:
        z = (math.log(max(days, MIN_DAYS)) - mu) / self.config.distribution_scale
        return np.clip(aft_cdf(z, self.config.distribution), 0.0, 1.0)

    def median_days(self, snapshot: pd.DataFrame) -> np.ndarray:
        """The AFT distribution's median days to the next order, per row."""
        return self._median(self.predict_mu(snapshot))

    def _median(self, mu: np.ndarray) -> np.ndarray:
        # F(z) = 0.5 at z = 0 for the symmetric distributions, ln(ln 2) for the extreme one.
        z = math.log(math.log(2.0)) if self.config.distribution == "extreme" else 0.0
        return np.exp(mu + self.config.distribution_scale * z)

    def _predict(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        """Per row: median days to the next order and P(order within 7/30/90 days), from one
        distribution so they agree; the median, as AFT tails are heavy (a mean can be infinite)."""
        mu = self.predict_mu(snapshot)
        out = pd.DataFrame(
            {Score.EXPECTED_DAYS_TO_NEXT_ORDER: self._median(mu)}, index=snapshot.index
        )
        for column, days in PROBABILITY_DAYS.items():
            out[column] = self._cdf(mu, days)
        return out

    def _save(self, path: Path) -> None:
        """Write booster (.ubj), config and feature list into the folder `path`."""
        self.booster.save_model(path / _BOOSTER_FILE)
        (path / _CONFIG_FILE).write_text(self.config.model_dump_json(indent=2))
        meta = {"feature_names": self.feature_names, "n_trees": self.n_trees}
        (path / _META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def _load(cls, path: Path) -> Self:
        for name in (_BOOSTER_FILE, _CONFIG_FILE, _META_FILE):
            if not (path / name).exists():
                raise FileNotFoundError(f"repurchase model folder {path} lacks {name}")
        booster = xgb.Booster(model_file=path / _BOOSTER_FILE)
        config = RepurchaseModelConfig.model_validate_json((path / _CONFIG_FILE).read_text())
        meta = json.loads((path / _META_FILE).read_text())
        # Older folders' `days_scale` / `days_power` map is ignored: one distribution answers.
        return cls(booster, meta["feature_names"], config, int(meta["n_trees"]))
