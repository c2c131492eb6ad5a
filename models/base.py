"""What every model shares: its kind, one checked contract (public `predict` / `answer` / `save`
/ `load` call the subclass's `_predict` ...; `answer` is one row per input row, so callers never
switch on the kind) and its class by import path, resolved lazily so no learner is imported."""

from __future__ import annotations

import json
import pkgutil
import threading
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import pandas as pd

from churnrec import columns as C
from churnrec.columns import Score


class ModelKind(StrEnum):
    """Every kind of model churnrec trains; also the MLflow experiment and registered names."""

    CHURN = "churn"
    REPURCHASE = "repurchase"
    RECOMMENDER = "recommender"
    CLV = "clv"
    UPLIFT = "uplift"
    DEMAND = "demand"


CUSTOMER_ID = C.CUSTOMER_ID
RECOMMENDED_ITEM_IDS = "item_ids"
K = "k"
DEFAULT_K = 10

# How a model answers an id it never saw: from the row's features like any other, with a
# population value (e.g. the median gap), or with popular items (recommenders).
UnknownIds = Literal["features", "population", "popular"]


class NotFittedError(RuntimeError):
    """A model asked, saved or explained before it was fitted or loaded."""


class RetiredModelError(ValueError):
    """A saved model of a class churnrec no longer has: it cannot be served; retrain the kind."""


class MissingColumnsError(ValueError):
    """The input lacks columns the model must read."""


_XGB_THREADS_LOCK = threading.Lock()


def set_xgb_threads(owner: object, booster: Any, threads: int) -> None:
    """Set an XGBoost booster's `nthread` only when it changes, under a lock: `set_param` must
    not run twice at once."""
    with _XGB_THREADS_LOCK:
        if getattr(owner, "_xgb_threads", None) != threads:
            booster.set_param({"nthread": threads})
            owner._xgb_threads = threads


def read_saved_json(folder: Path, name: str, cls: type) -> dict:
    """The JSON file `name` of a saved model folder; a missing one says what the folder is not."""
    file = folder / name
    if not file.exists():
        raise FileNotFoundError(f"{file} not found; {folder} is not a saved {cls.__name__}")
    return json.loads(file.read_text())


class ChurnrecModel:
    """The contract of every servable churnrec model; see the module docstring."""

    kind: ClassVar[ModelKind]
    unknown_ids: ClassVar[UnknownIds] = "features"

    @property
    def is_fitted(self) -> bool:
        """Whether the model can answer (subclasses built only by a fit are always fitted)."""
        return True

    @property
    def required_columns(self) -> list[str]:
        """Input columns without which the model cannot answer at all."""
        return []

    def check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted; call fit() or {type(self).__name__}.load()"
            )

    def check_columns(self, frame: pd.DataFrame) -> None:
        missing = [c for c in self.required_columns if c not in frame.columns]
        if missing:
            raise MissingColumnsError(
                f"{type(self).__name__} needs input column(s) {missing}; got {list(frame.columns)}"
            )

    def predict(self, frame: pd.DataFrame, **options: Any) -> Any:
        """The model's prediction for every row of `frame` (checked first)."""
        self.check_fitted()
        self.check_columns(frame)
        return self._predict(frame, **options)

    def answer(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One answer row per input row: what the MLflow pyfunc and batch scoring return."""
        self.check_fitted()
        self.check_columns(frame)
        return self._answer(frame).reset_index(drop=True)

    def save(self, path: str | Path) -> None:
        """Write the fitted model into the folder `path` (created if missing)."""
        self.check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save(path)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model `save` wrote."""
        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"no saved {cls.__name__} at {path}")
        return cls._load(path)

    def _predict(self, frame: pd.DataFrame, **options: Any) -> Any:
        raise NotImplementedError

    def _answer(self, frame: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def _save(self, path: Path) -> None:
        raise NotImplementedError

    @classmethod
    def _load(cls, path: Path) -> Self:
        raise NotImplementedError


class ChurnScorer(ChurnrecModel):
    """A churn model: `predict` (= `predict_proba`) gives P(churn within the horizon)."""

    kind = ModelKind.CHURN

    def predict_proba(self, frame: pd.DataFrame, **options: Any) -> Any:
        return self.predict(frame, **options)

    def _answer(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({Score.CHURN_PROBABILITY: self._predict(frame)}, index=frame.index)
        if CUSTOMER_ID in frame.columns:
            out.insert(0, CUSTOMER_ID, frame[CUSTOMER_ID].to_numpy())
        return out


class RepurchasePredictor(ChurnrecModel):
    """A time-to-next-order model: `predict` gives a frame of days and P(order within N days)."""

    kind = ModelKind.REPURCHASE

    def _answer(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self._predict(frame))


class ValueModel(ChurnrecModel):
    """A per-customer value (CLV spend, uplift): `predict` gives one number per row."""

    def _answer(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({self.kind.value: self._predict(frame)})


class RecommenderModel(ChurnrecModel):
    """A recommender: `recommend(customer_id, k)` gives one customer's ranked rows; `answer`
    gives `item_ids` per `customer_id` (and optional `k`) row."""

    kind = ModelKind.RECOMMENDER
    unknown_ids = "popular"

    @property
    def required_columns(self) -> list[str]:
        return [CUSTOMER_ID]

    def recommend(self, customer_id: str, k: int = DEFAULT_K, **options: Any) -> pd.DataFrame:
        self.check_fitted()
        return self._recommend(customer_id, k, **options)

    def _recommend(self, customer_id: str, k: int, **options: Any) -> pd.DataFrame:
        raise NotImplementedError

    def _answer(self, frame: pd.DataFrame) -> pd.DataFrame:
        ks = frame[K] if K in frame.columns else pd.Series(DEFAULT_K, index=frame.index)
        item_ids = [
            self._recommend(str(customer_id), int(k))[C.ITEM_ID].tolist()
            for customer_id, k in zip(frame[CUSTOMER_ID], ks, strict=True)
        ]
        return pd.DataFrame(
            {CUSTOMER_ID: frame[CUSTOMER_ID].astype(str).to_numpy(), RECOMMENDED_ITEM_IDS: item_ids}
        )


MODEL_CLASSES: dict[ModelKind, str] = {
    ModelKind.CHURN: "churnrec.models.churn:ChurnModel",
    ModelKind.REPURCHASE: "churnrec.models.repurchase:RepurchaseModel",
    ModelKind.RECOMMENDER: "churnrec.models.recommender:Recommender",
    ModelKind.CLV: "churnrec.models.clv:ClvModel",
    ModelKind.UPLIFT: "churnrec.models.uplift:UpliftModel",
    ModelKind.DEMAND: "churnrec.models.demand:DemandModel",
}


# Classes that moved: versions registered under the old path load with the new class.
MOVED_CLASSES: dict[str, str] = {
    "churnrec.models.reranker:RepeatAwareRecommender": MODEL_CLASSES[ModelKind.RECOMMENDER],
}


def class_path(cls: type) -> str:
    """`module:QualName` of a class, the form `resolve_class` reads back."""
    return f"{cls.__module__}:{cls.__qualname__}"


# Classes a saved model may name that churnrec no longer has, and what to do instead.
RETIRED_CLASSES: dict[str, str] = {
    "churnrec.models.baseline_models:RuleDaysRepurchase": (
        "this repurchase version mixed a rule's days with a model's probabilities, which could "
        "contradict each other, and was removed; retrain it: `churnrec train repurchase`"
    ),
}


def resolve_class(path: str) -> type:
    """Import `package.module:Class` (nested `Outer.Inner` allowed) and return the class."""
    if path in RETIRED_CLASSES:
        raise RetiredModelError(f"{path}: {RETIRED_CLASSES[path]}")
    path = MOVED_CLASSES.get(path, path)
    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"model class path {path!r} is not of the form 'package.module:Class'")
    try:
        obj = pkgutil.resolve_name(path)
    except ImportError as exc:
        raise ImportError(
            f"cannot import module {module_name!r} for model class {path!r}: {exc}"
        ) from exc
    except AttributeError:
        raise ImportError(
            f"module {module_name!r} has no {qualname!r} (model class {path!r})"
        ) from None
    if not isinstance(obj, type):
        raise TypeError(f"{path!r} is not a class")
    return obj
