"""The MLflow pyfunc wrapper around a churnrec model folder (the artifact "model", unchanged),
for `mlflow models serve` and batch scoring; churnrec's own serving uses `.model` itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from churnrec.models.base import MODEL_CLASSES, ModelKind, resolve_class

MODEL_ARTIFACT = "model"  # key of the model folder in `artifacts=` and in `context.artifacts`


class ChurnrecPyfunc(mlflow.pyfunc.PythonModel):
    """Pickled with only `kind` and an optional class path (None for the production classes, so
    moving one only edits MODEL_CLASSES); the model is the artifact."""

    def __init__(self, kind: ModelKind | str, model_class: str | None = None) -> None:
        self.kind = ModelKind(kind)
        self.model_class = model_class
        self.model: Any = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        cls = resolve_class(self.model_class or MODEL_CLASSES[self.kind])
        self.model = cls.load(Path(context.artifacts[MODEL_ARTIFACT]))

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        if self.model is None:
            raise RuntimeError("ChurnrecPyfunc.predict called before load_context loaded the model")
        return self.model.answer(model_input)
