"""What every churnrec model shares: its kind, the save/load contract, and where its class lives.

Classes are named by import path and resolved lazily, so importing this module (for example
from the serving layer or the registry) does not import xgboost, implicit or lightgbm.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from pathlib import Path
from typing import Protocol, Self, runtime_checkable


class ModelKind(StrEnum):
    """The three things churnrec trains; also the MLflow experiment and registered model names."""

    CHURN = "churn"
    REPURCHASE = "repurchase"
    RECOMMENDER = "recommender"
    CLV = "clv"
    UPLIFT = "uplift"


@runtime_checkable
class SavableModel(Protocol):
    """A fitted model that can write itself to a folder and be read back from it."""

    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path) -> Self: ...


MODEL_CLASSES: dict[ModelKind, str] = {
    ModelKind.CHURN: "churnrec.models.churn:ChurnModel",
    ModelKind.REPURCHASE: "churnrec.models.repurchase:RepurchaseModel",
    ModelKind.RECOMMENDER: "churnrec.models.recommender:Recommender",
    ModelKind.CLV: "churnrec.models.clv:ClvModel",
    ModelKind.UPLIFT: "churnrec.models.uplift:UpliftModel",
}


def class_path(cls: type) -> str:
    """`module:QualName` of a class, the form `resolve_class` reads back."""
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve_class(path: str) -> type:
    """Import `package.module:Class` (nested `Outer.Inner` allowed) and return the class."""
    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"model class path {path!r} is not of the form 'package.module:Class'")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"cannot import module {module_name!r} for model class {path!r}: {exc}"
        ) from exc
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError(
                f"module {module_name!r} has no {qualname!r} (model class {path!r})"
            ) from None
    if not isinstance(obj, type):
        raise TypeError(f"{path!r} is not a class")
    return obj


def load_model_class(kind: ModelKind | str) -> type:
    """The class that fits, saves and loads models of `kind` (imported on first use)."""
    try:
        model_kind = ModelKind(kind)
    except ValueError:
        raise ValueError(
            f"unknown model kind {kind!r}; expected one of {[k.value for k in ModelKind]}"
        ) from None
    return resolve_class(MODEL_CLASSES[model_kind])
