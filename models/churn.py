"""The churn model: LightGBM or XGBoost on a customer snapshot, calibrated to P(churn) on a
held-back slice. Recency is monotone and the stacked BTYD fits (which travel with the model) count
repeats from `repeat_purchase_days`, so a more recent purchase never raises P(churn)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnrec import columns as C
from churnrec.btyd_summary import SOURCE_COLUMNS, TIME_UNIT_DAYS, btyd_inputs
from churnrec.columns import Feature
from churnrec.models.base import ChurnScorer, read_saved_json, set_xgb_threads
from churnrec.settings import fit_threads

Learner = Literal["lightgbm", "xgboost"]
LEARNERS: tuple[Learner, ...] = ("lightgbm", "xgboost")
BTYDKind = Literal["bgnbd", "paretonbd"]
BTYD_KINDS: tuple[BTYDKind, ...] = ("bgnbd", "paretonbd")
BIAS = "bias"
_BTYD_OUTPUTS = ("p_alive", "p_purchase_horizon", "expected_purchases")

_META_FILE = "churn_model.json"
_CALIBRATOR_FILE = "calibrator.json"
_BOOSTER_FILES: dict[str, str] = {"lightgbm": "booster.txt", "xgboost": "booster.json"}


class ChurnModelConfig(BaseModel):
    """Hyper-parameters of the churn model; `learners` are the candidates the job compares."""

    model_config = ConfigDict(extra="forbid")

    learners: list[Learner] = Field(default_factory=lambda: list(LEARNERS), min_length=1)
    n_estimators: int = Field(400, ge=1)
    learning_rate: float = Field(0.05, gt=0, le=1)
    max_depth: int = Field(6, ge=1)
    num_leaves: int = Field(31, ge=2, description="LightGBM only")
    min_child_samples: int = Field(40, ge=1, description="LightGBM min rows per leaf")
    min_child_weight: float = Field(5.0, ge=0, description="XGBoost min hessian per leaf")
    subsample: float = Field(0.8, gt=0, le=1)
    colsample: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    early_stopping_rounds: int | None = Field(50, ge=1)
    # Platt (sigmoid) by default: a smooth map, so no block of customers shares one probability
    # (isotonic on a small slice gave 26% of a shop exactly 1.0); isotonic stays available.
    calibration: Literal["isotonic", "sigmoid"] = "sigmoid"
    validation: Literal["customers", "latest_cutoff"] = Field(
        "customers",
        description="calibration/early-stopping slice: a random share of customers, or the "
        "rows of the latest training cut-off (customers when there is only one cut-off)",
    )
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    monotone_increasing: list[str] = Field(
        default_factory=lambda: [Feature.RECENCY_DAYS],
        description="features whose increase may never lower P(churn)",
    )
    monotone_decreasing: list[str] = Field(
        default_factory=lambda: btyd_feature_names(BTYD_KINDS),
        description="features whose increase may never raise P(churn) (default: the BTYD ones)",
    )
    seed: int = 42
    n_threads: int | None = Field(
        None, ge=1, description="None: by the data's size (churnrec.settings.fit_threads)"
    )


@dataclass(frozen=True)
class Reason:
    """One feature's push on a customer's churn score (log-odds units; > 0 means towards churn)."""

    feature: str
    value: float | None
    contribution: float


def top_reasons(
    names: list[str], values: np.ndarray, contrib: np.ndarray, top_k: int
) -> list[list[Reason]]:
    """Per row, the `top_k` inputs pushing churn log-odds up most (largest first); for a
    low-risk customer the later ones may be negative (they hold the score down)."""
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :top_k]
    return [
        [
            Reason(
                names[j],
                None if np.isnan(values[i, j]) else float(values[i, j]),
                float(np.nan_to_num(contrib[i, j])),
            )
            for j in cols
        ]
        for i, cols in enumerate(order)
    ]


def btyd_feature_names(kinds: tuple[str, ...] | list[str]) -> list[str]:
    """`<kind>_p_alive`, `<kind>_p_purchase_horizon`, `<kind>_expected_purchases` per kind."""
    return [f"{kind}_{what}" for kind in kinds for what in _BTYD_OUTPUTS]


def btyd_model(kind: str, params: dict[str, float] | None = None):
    """A BG/NBD or Pareto/NBD in snapshot time units: unfitted, or with given `params`
    (imported on first use: a churn model without BTYD features never loads the optimizer)."""
    from churnrec.models.bgnbd import BGNBD, BTYDConfig
    from churnrec.models.paretonbd import ParetoNBD

    classes = {"bgnbd": BGNBD, "paretonbd": ParetoNBD}
    if kind not in classes:
        raise ValueError(f"unknown BTYD model {kind!r}; expected one of {BTYD_KINDS}")
    config = BTYDConfig(time_unit_days=TIME_UNIT_DAYS)
    return classes[kind](config) if params is None else classes[kind].from_params(params, config)


class BTYDFeatures:
    """BTYD models fitted at one cut-off, turning snapshot rows into stacking features."""

    def __init__(self, models: dict[str, object], horizon_days: int) -> None:
        self.models = dict(models)  # kind -> fitted models.bgnbd.BTYDModel
        self.horizon_days = int(horizon_days)

    @property
    def kinds(self) -> list[str]:
        return list(self.models)

    @property
    def columns(self) -> list[str]:
        return btyd_feature_names(self.kinds)

    @classmethod
    def fit(
        cls,
        snapshot: pd.DataFrame,
        kinds: list[str],
        horizon_days: int,
        *,
        max_customers: int | None = None,
    ) -> tuple[BTYDFeatures, dict[str, str]]:
        """Fit each kind on one cut-off's snapshot; a kind that fails is left out and returned
        in {kind: why}, for the caller to decide. `max_customers`: as for `BTYDModel.fit`."""
        from churnrec.models.bgnbd import BTYDFitError

        x, tx, age = btyd_inputs(snapshot)
        ok = ~(np.isnan(x) | np.isnan(tx) | np.isnan(age))
        models, failed = {}, {}
        for kind in kinds:
            model = btyd_model(kind)
            try:
                models[kind] = model.fit(x[ok], tx[ok], age[ok], max_customers=max_customers)
            except (ValueError, BTYDFitError, ArithmeticError) as exc:
                failed[kind] = str(exc)
        return cls(models, horizon_days), failed

    def transform(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        """The feature columns for `snapshot`'s rows (same index); NaN where inputs are missing."""
        x, tx, age = btyd_inputs(snapshot)
        ok = ~(np.isnan(x) | np.isnan(tx) | np.isnan(age))
        t = self.horizon_days / TIME_UNIT_DAYS
        out = pd.DataFrame(index=snapshot.index)
        for kind, model in self.models.items():
            values = np.full((3, len(snapshot)), np.nan)
            if ok.any():
                rfm = (x[ok], tx[ok], age[ok])
                with np.errstate(all="ignore"):
                    values[0, ok] = model.p_alive(*rfm)
                    values[1, ok] = model.prob_purchase_within(t, *rfm)
                    values[2, ok] = model.expected_purchases(t, *rfm)
            for name, row in zip(btyd_feature_names([kind]), values, strict=True):
                out[name] = row
        return out

    def to_json(self) -> dict:
        return {
            "horizon_days": self.horizon_days,
            "params": {kind: model.params for kind, model in self.models.items()},
        }

    @classmethod
    def from_json(cls, raw: dict) -> BTYDFeatures:
        models = {k: btyd_model(k, p) for k, p in raw["params"].items()}
        return cls(models, raw["horizon_days"])


@dataclass(frozen=True)
class _Calibrator:
    """Monotone map from raw margin to probability, stored as plain numbers (JSON)."""

    kind: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    @classmethod
    def fit(cls, kind: str, margin: np.ndarray, y: np.ndarray) -> _Calibrator:
        if kind == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(margin, y)
            return cls(
                kind, x=tuple(map(float, iso.X_thresholds_)), y=tuple(map(float, iso.y_thresholds_))
            )
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6).fit(margin.reshape(-1, 1), y)
        return cls(kind, a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        if self.kind == "isotonic":
            return np.interp(margin, np.asarray(self.x), np.asarray(self.y))
        return 1.0 / (1.0 + np.exp(-(self.a * margin + self.b)))

    def to_json(self) -> dict:
        return {"kind": self.kind, "x": list(self.x), "y": list(self.y), "a": self.a, "b": self.b}

    @classmethod
    def from_json(cls, raw: dict) -> _Calibrator:
        return cls(raw["kind"], tuple(raw["x"]), tuple(raw["y"]), raw["a"], raw["b"])


class ChurnModel(ChurnScorer):
    """Fitted booster + calibrator + the feature list it expects; `btyd`, when set, derives its
    columns from every snapshot scored (replacing any the input carries)."""

    def __init__(self) -> None:
        self.learner: Learner | None = None
        self.feature_names: list[str] = []
        self.config: ChurnModelConfig | None = None
        self.best_iteration: int = 0
        self.btyd: BTYDFeatures | None = None
        self._booster = None
        self._calibrator: _Calibrator | None = None
        # P(churn) of the calibration slice (not saved): judging on it needs no second scoring.
        self.validation_proba: np.ndarray | None = None

    @property
    def input_columns(self) -> list[str]:
        """Snapshot columns the model reads: its features, with BTYD ones replaced by sources."""
        if self.btyd is None:
            return list(self.feature_names)
        derived = set(self.btyd.columns)
        own = [f for f in self.feature_names if f not in derived]
        return own + [c for c in SOURCE_COLUMNS if c not in own]

    def fit(
        self,
        train_frame: pd.DataFrame,
        feature_names: list[str],
        config: ChurnModelConfig | None = None,
        learner: Learner = "lightgbm",
        btyd: BTYDFeatures | None = None,
        valid_frame: pd.DataFrame | None = None,
    ) -> Self:
        """Fit on labelled rows; `valid_frame` (else a `config.validation` share) calibrates and
        stops early. `btyd`'s columns must already be in `train_frame`, point-in-time per cut-off;
        `btyd` itself is kept for scoring later snapshots."""
        config = config or ChurnModelConfig()
        if learner not in LEARNERS:
            raise ValueError(f"unknown learner {learner!r}; expected one of {LEARNERS}")
        if btyd is not None:
            absent = [c for c in btyd.columns if c not in feature_names]
            if absent:
                raise ValueError(f"BTYD columns {absent} are not in feature_names")
        missing = [c for c in [*feature_names, C.CHURNED] if c not in train_frame.columns]
        if missing:
            raise ValueError(f"training frame lacks columns {missing}")
        if not feature_names:
            raise ValueError("feature_names is empty; nothing to learn from")
        y = train_frame[C.CHURNED].astype("float64").to_numpy()
        if np.isnan(y).any():
            raise ValueError(f"{int(np.isnan(y).sum())} training rows have no {C.CHURNED!r} label")
        if len(np.unique(y)) < 2:
            raise ValueError(f"training labels are all {y[0]:.0f}; need churned and retained rows")

        self.learner, self.feature_names, self.config = learner, list(feature_names), config
        self.btyd = btyd
        x = self._matrix(train_frame, strict=True, derive=False)
        if valid_frame is not None:
            x_fit, y_fit = x, y
            x_val = self._matrix(valid_frame, strict=True, derive=False)
            y_val = valid_frame[C.CHURNED].astype("float64").to_numpy()
        else:
            fit_mask = self._fit_mask(train_frame, config)
            x_fit, y_fit, x_val, y_val = x[fit_mask], y[fit_mask], x[~fit_mask], y[~fit_mask]
        if len(np.unique(y_val)) < 2 or len(np.unique(y_fit)) < 2:
            raise ValueError(
                "the validation slice or the fitting rows hold only one class; "
                "more data or another validation_fraction is needed"
            )
        fit_booster = _fit_lightgbm if learner == "lightgbm" else _fit_xgboost
        self._booster, self.best_iteration = fit_booster(x_fit, y_fit, x_val, y_val, self)
        margin_val = self._margin(x_val)
        self._calibrator = _Calibrator.fit(config.calibration, margin_val, y_val)
        self.validation_proba = self._calibrator(margin_val)
        return self

    def _fit_mask(self, frame: pd.DataFrame, config: ChurnModelConfig) -> np.ndarray:
        """True for rows the booster is fitted on; False for the calibration slice."""
        if config.validation == "latest_cutoff" and C.AS_OF in frame.columns:
            as_of = pd.to_datetime(frame[C.AS_OF])
            if as_of.nunique() >= 2:
                return (as_of < as_of.max()).to_numpy()
        # Whole customers, so that the same person is never on both sides.
        ids = (
            frame[C.CUSTOMER_ID].astype(str)
            if C.CUSTOMER_ID in frame.columns
            else frame.index.astype(str)
        )
        unique = np.sort(ids.unique())
        rng = np.random.default_rng(config.seed)
        n_val = max(1, round(config.validation_fraction * len(unique)))
        val_ids = set(rng.choice(unique, size=n_val, replace=False))
        return ~ids.isin(val_ids).to_numpy()

    @property
    def is_fitted(self) -> bool:
        return self._booster is not None and self._calibrator is not None

    def _predict(self, snapshot: pd.DataFrame, *, derive_btyd: bool = True) -> np.ndarray:
        """Calibrated P(churn within the horizon) per row; `derive_btyd=False` keeps the BTYD
        columns training frames carry from their own cut-off."""
        return self._calibrator(self._margin(self._matrix(snapshot, derive=derive_btyd)))

    def raw_margin(self, snapshot: pd.DataFrame) -> np.ndarray:
        """Uncalibrated log-odds of churn, the scale `contributions` add up to."""
        self.check_fitted()
        return self._margin(self._matrix(snapshot))

    def contributions(self, snapshot: pd.DataFrame) -> pd.DataFrame:
        """Per-row SHAP contributions to the raw margin, one column per feature plus `bias`."""
        self.check_fitted()
        x = self._matrix(snapshot)
        if self.learner == "lightgbm":
            contrib = self._booster.predict(x, pred_contrib=True, num_threads=self._threads(x))
        else:
            contrib = self._booster.predict(self._xgb_matrix(x), pred_contribs=True)
        return pd.DataFrame(
            np.asarray(contrib, dtype="float64"),
            columns=[*self.feature_names, BIAS],
            index=snapshot.index,
        )

    def explain(self, snapshot: pd.DataFrame, top_k: int = 3) -> list[list[Reason]]:
        """The `top_k` features pushing each row hardest towards churn (`top_reasons`)."""
        contrib = self.contributions(snapshot)[self.feature_names].to_numpy()
        return top_reasons(self.feature_names, self._matrix(snapshot), contrib, top_k)

    def feature_importances(self) -> pd.Series:
        """Total split gain per feature, as a share of the total, largest first."""
        self.check_fitted()
        if self.learner == "lightgbm":
            gain = np.asarray(
                self._booster.feature_importance(importance_type="gain"), dtype="float64"
            )
        else:
            scores = self._booster.get_score(importance_type="total_gain")
            gain = np.array([scores.get(f, 0.0) for f in self.feature_names], dtype="float64")
        total = gain.sum()
        share = gain / total if total > 0 else gain
        return pd.Series(share, index=self.feature_names, name="importance").sort_values(
            ascending=False, kind="stable"
        )

    def _save(self, path: Path) -> None:
        """Write booster (native format), calibrator and metadata (JSON) into folder `path`."""
        booster_file = path / _BOOSTER_FILES[self.learner]
        self._booster.save_model(str(booster_file))
        (path / _CALIBRATOR_FILE).write_text(json.dumps(self._calibrator.to_json()))
        meta = {
            "learner": self.learner,
            "feature_names": self.feature_names,
            "best_iteration": self.best_iteration,
            "config": self.config.model_dump(),
            "btyd": None if self.btyd is None else self.btyd.to_json(),
        }
        (path / _META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def _load(cls, path: Path) -> Self:
        meta = read_saved_json(path, _META_FILE, cls)
        model = cls()
        model.learner = meta["learner"]
        model.feature_names = list(meta["feature_names"])
        model.best_iteration = int(meta["best_iteration"])
        model.config = ChurnModelConfig.model_validate(meta["config"])
        if meta.get("btyd") is not None:
            model.btyd = BTYDFeatures.from_json(meta["btyd"])
        booster_file = path / _BOOSTER_FILES[model.learner]
        if model.learner == "lightgbm":
            import lightgbm as lgb

            model._booster = lgb.Booster(model_file=str(booster_file))
        else:
            import xgboost as xgb

            model._booster = xgb.Booster(model_file=str(booster_file))
        model._calibrator = _Calibrator.from_json(json.loads((path / _CALIBRATOR_FILE).read_text()))
        return model

    def _matrix(self, frame: pd.DataFrame, strict: bool = False, derive: bool = True) -> np.ndarray:
        """Feature matrix in the fitted column order, absent columns NaN; more than half absent
        is an error, not a guess. With `derive`, the BTYD columns come from the model's own fit."""
        if derive and self.btyd is not None:
            frame = pd.concat(
                [
                    frame.drop(columns=self.btyd.columns, errors="ignore"),
                    self.btyd.transform(frame),
                ],
                axis=1,
            )
        missing = [f for f in self.feature_names if f not in frame.columns]
        if missing and (strict or len(missing) * 2 > len(self.feature_names)):
            raise ValueError(
                f"input lacks {len(missing)} of the model's {len(self.feature_names)} feature "
                f"columns: {missing[:10]}{' ...' if len(missing) > 10 else ''}"
            )
        out = np.full((len(frame), len(self.feature_names)), np.nan, dtype="float64")
        for j, name in enumerate(self.feature_names):
            if name in frame.columns:
                try:
                    out[:, j] = frame[name].to_numpy(dtype="float64", na_value=np.nan)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"feature column {name!r} is not numeric: {exc}") from exc
        return out

    def _threads(self, x: np.ndarray) -> int:
        """Threads for predicting the rows of `x` (a prediction is the same on any count)."""
        return fit_threads(x.shape[0], x.shape[1], self.config.n_threads)

    def _xgb_matrix(self, x: np.ndarray):
        """`x` as a DMatrix, with the booster's threads set for its size."""
        import xgboost as xgb

        threads = self._threads(x)
        set_xgb_threads(self, self._booster, threads)
        return xgb.DMatrix(x, feature_names=self.feature_names, nthread=threads)

    def _margin(self, x: np.ndarray) -> np.ndarray:
        if self.learner == "lightgbm":
            margin = self._booster.predict(x, raw_score=True, num_threads=self._threads(x))
        else:
            margin = self._booster.predict(self._xgb_matrix(x), output_margin=True)
        return np.asarray(margin, dtype="float64")

    def _monotone(self) -> list[int]:
        up, down = set(self.config.monotone_increasing), set(self.config.monotone_decreasing)
        return [1 if f in up else -1 if f in down else 0 for f in self.feature_names]


def _fit_lightgbm(x_fit, y_fit, x_val, y_val, model: ChurnModel):
    import lightgbm as lgb

    cfg = model.config
    params = {
        "objective": "binary",
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "max_depth": cfg.max_depth,
        "min_child_samples": cfg.min_child_samples,
        "bagging_fraction": cfg.subsample,
        "bagging_freq": 1 if cfg.subsample < 1 else 0,
        "feature_fraction": cfg.colsample,
        "lambda_l2": cfg.reg_lambda,
        "monotone_constraints": model._monotone(),
        "monotone_constraints_method": "advanced",
        "seed": cfg.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": fit_threads(*x_fit.shape, cfg.n_threads),
        "verbose": -1,
    }
    train = lgb.Dataset(x_fit, y_fit, feature_name=model.feature_names, free_raw_data=True)
    valid = lgb.Dataset(x_val, y_val, reference=train)
    callbacks = []
    if cfg.early_stopping_rounds:
        callbacks.append(lgb.early_stopping(cfg.early_stopping_rounds, verbose=False))
    booster = lgb.train(
        params, train, num_boost_round=cfg.n_estimators, valid_sets=[valid], callbacks=callbacks
    )
    best = booster.best_iteration or booster.current_iteration()
    # Keep only the trees up to the best iteration, so every later use sees the same model.
    trimmed = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    return trimmed, int(best)


def _fit_xgboost(x_fit, y_fit, x_val, y_val, model: ChurnModel):
    import xgboost as xgb

    cfg = model.config
    threads = fit_threads(*x_fit.shape, cfg.n_threads)
    params = {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "eta": cfg.learning_rate,
        "max_depth": cfg.max_depth,
        "min_child_weight": cfg.min_child_weight,
        "subsample": cfg.subsample,
        "colsample_bytree": cfg.colsample,
        "lambda": cfg.reg_lambda,
        "tree_method": "hist",
        "monotone_constraints": "(" + ",".join(map(str, model._monotone())) + ")",
        "seed": cfg.seed,
        "nthread": threads,
        "verbosity": 0,
    }
    names = model.feature_names
    d_fit = xgb.DMatrix(x_fit, y_fit, feature_names=names, nthread=threads)
    d_val = xgb.DMatrix(x_val, y_val, feature_names=names, nthread=threads)
    booster = xgb.train(
        params,
        d_fit,
        num_boost_round=cfg.n_estimators,
        evals=[(d_val, "validation")],
        early_stopping_rounds=cfg.early_stopping_rounds,
        verbose_eval=False,
    )
    best = booster.best_iteration + 1 if cfg.early_stopping_rounds else booster.num_boosted_rounds()
    return booster[:best], int(best)
